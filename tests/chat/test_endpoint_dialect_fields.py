"""Per-endpoint `headers`, `query` and `extra_body`: what the endpoints file accepts and refuses (each refusal names
the file, the endpoint and the field, and never quotes a secret), and what a real loopback server receives from the
chat client on every request."""

from __future__ import annotations

import asyncio
import threading

import pytest

from modelmatch.chat.endpoints import EndpointsFileError, load_endpoints
from modelmatch.chat.openai_client import astream_chat, request_body, stream_chat
from modelmatch.chat.types import ChatMessage, ChatRequest
from tests.openai_server import Script, ScriptedServer, answer_script

CANARY = "sk-canary-hdr-9d2e4b7a1c3f5e8d"
REQUEST = ChatRequest(messages=(ChatMessage("user", "Say hello"),), max_tokens=64, thinking=False)

GOOD = '''
[[endpoint]]
name = "Gateway"
kind = "openai"
model = "qwen3-8b"
base_url = "{base_url}"
thinking = "qwen3-enable-thinking"
first_byte_timeout_s = 5
stall_timeout_s = 5
query = {{ "api-version" = "2024-10-21" }}
extra_body = {{ enable_thinking = false, chat_template_kwargs = {{ enable_thinking = true, custom = 1 }}, provider = {{ order = ["a", "b"] }} }}

[endpoint.headers]
"HTTP-Referer" = "https://modelmatch.example"
"X-Title" = "ModelMatch"
"X-Gateway-Key" = {{ env = "MM_GATEWAY_KEY" }}
'''


def write(tmp_path, text: str):
    path = tmp_path / "endpoints.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_headers_query_and_extra_body_are_loaded(tmp_path):
    (ep,), _ = load_endpoints(write(tmp_path, GOOD.format(base_url="http://127.0.0.1:9/v1")))
    assert ep.headers == (("HTTP-Referer", "https://modelmatch.example"), ("X-Title", "ModelMatch"))
    assert ep.header_envs == (("X-Gateway-Key", "MM_GATEWAY_KEY"),)
    assert ep.query == (("api-version", "2024-10-21"),)
    assert ep.extra_body["provider"] == {"order": ["a", "b"]}
    hash(ep)  # still usable as a cache key


def test_extra_body_sits_under_the_requests_own_fields():
    from modelmatch.chat.endpoints import Endpoint
    ep = Endpoint(name="E", kind="openai", model="m", base_url="http://127.0.0.1:9/v1",
                  thinking="qwen3-enable-thinking",
                  extra_body_json='{"chat_template_kwargs": {"enable_thinking": true, "custom": 1}, "top_k": 20}')
    body = request_body(ep, REQUEST)
    # The visitor's switch (off) beats the operator's default (on); the operator's other keys are kept.
    assert body["chat_template_kwargs"] == {"enable_thinking": False, "custom": 1}
    assert body["top_k"] == 20 and body["model"] == "m" and body["stream"] is True


ENTRY = 'name = "Bad one"\nkind = "openai"\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\n'


@pytest.mark.parametrize("extra, field, reason", [
    ('[endpoint.headers]\nAuthorization = "Bearer ' + CANARY + '"\n', "headers.Authorization", "cannot be overridden"),
    ('[endpoint.headers]\nHost = "evil.example"\n', "headers.Host", "cannot be overridden"),
    ('[endpoint.headers]\n"Content-Length" = "5"\n', "headers.Content-Length", "cannot be overridden"),
    ('[endpoint.headers]\n"X-Api-Key" = "' + CANARY + '"\n', "headers.X-Api-Key", "keys never go in this file"),
    ('[endpoint.headers]\n"X-Custom" = "' + CANARY + '"\n', "headers.X-Custom", "keys never go in this file"),
    ('[endpoint.headers]\n"X-Custom" = "Bearer ' + CANARY + '"\n', "headers.X-Custom", "keys never go in this file"),
    ('[endpoint.headers]\n"X-Key" = { env = "lower_case" }\n', "headers.X-Key", "env ="),
    ('[endpoint.headers]\n"X-Key" = { secret = "bad name!" }\n', "headers.X-Key", "secret ="),
    ('[endpoint.headers]\n"X-Key" = { value = "x" }\n', "headers.X-Key", "env ="),
    ('[endpoint.headers]\n"X-Key" = {}\n', "headers.X-Key", "env ="),
    ('[endpoint.headers]\n"Bad Name" = "v"\n', "headers.Bad Name", "not a valid HTTP header name"),
    ('[endpoint.headers]\n"X-Line" = "a\\nb"\n', "headers.X-Line", "printable ASCII"),
    ('[endpoint.headers]\n"X-Num" = 5\n', "headers.X-Num", "must be a string"),
    ('headers = "X-Title: a"\n', "'headers' must be a table", ""),
    ('[endpoint.query]\n"api-version" = 2024\n', "query.api-version", "must be a string"),
    ('[endpoint.query]\napi_key = "' + CANARY + '"\n', "query.api_key", "keys never go in a URL"),
    ('query = "a=b"\n', "'query' must be a table", ""),
    ('extra_body = "x"\n', "'extra_body' must be a table", ""),
    ('[endpoint.extra_body]\nmodel = "other"\n', "extra_body.model", "cannot override"),
    ('[endpoint.extra_body]\nmessages = []\n', "extra_body.messages", "cannot override"),
    ('[endpoint.extra_body]\nstream = false\n', "extra_body.stream", "cannot override"),
    ('[endpoint.extra_body]\nwhen = 2025-01-01T00:00:00Z\n', "extra_body", "JSON"),
])
def test_bad_fields_are_refused_naming_file_endpoint_and_field(tmp_path, extra, field, reason):
    path = write(tmp_path, "[[endpoint]]\n" + ENTRY + extra)
    with pytest.raises(EndpointsFileError) as refused:
        load_endpoints(path)
    message = str(refused.value)
    assert str(path) in message and "'Bad one'" in message and field in message and reason in message
    assert CANARY not in message and CANARY[3:15] not in message


def test_local_kind_takes_no_http_fields(tmp_path):
    path = write(tmp_path, '[[endpoint]]\nname = "L"\nkind = "transformers"\nmodel = "org/m"\n'
                           '[endpoint.headers]\n"X-Title" = "a"\n')
    with pytest.raises(EndpointsFileError, match="only apply to kind 'openai'"):
        load_endpoints(path)


def test_a_header_secret_that_cannot_be_sent_is_refused_at_load_without_its_value(tmp_path, monkeypatch):
    monkeypatch.setenv("MM_GATEWAY_KEY", CANARY + "\n")
    with pytest.raises(EndpointsFileError) as refused:
        load_endpoints(write(tmp_path, GOOD.format(base_url="http://127.0.0.1:9/v1")))
    assert "MM_GATEWAY_KEY" in str(refused.value) and "line break" in str(refused.value)
    assert CANARY not in str(refused.value)


def test_every_request_carries_the_headers_query_and_extra_body(tmp_path, monkeypatch):
    monkeypatch.setenv("MM_GATEWAY_KEY", CANARY)
    with ScriptedServer(answer_script(["Hi"])) as server:
        (ep,), _ = load_endpoints(write(tmp_path, GOOD.format(base_url=server.base_url)))
        for _ in range(2):  # the playground's path: stream_chat in a thread
            events = list(stream_chat(ep, "sk-main-key-0000000000", REQUEST, threading.Event()))
            assert events[-1].kind == "done"
        received = list(server.received)
    assert len(received) == 2
    for got in received:
        headers = {k.lower(): v for k, v in got.headers.items()}
        assert got.path == "/v1/chat/completions?api-version=2024-10-21"
        assert headers["http-referer"] == "https://modelmatch.example" and headers["x-title"] == "ModelMatch"
        assert headers["x-gateway-key"] == CANARY
        assert headers["authorization"] == "Bearer sk-main-key-0000000000"
        assert headers["content-type"] == "application/json"
        assert got.body["enable_thinking"] is False and got.body["provider"] == {"order": ["a", "b"]}
        assert got.body["chat_template_kwargs"] == {"enable_thinking": False, "custom": 1}
        assert got.body["model"] == "qwen3-8b" and got.body["stream"] is True


def test_a_header_secret_echoed_back_is_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("MM_GATEWAY_KEY", CANARY)
    echo = Script(status=400, headers={"Content-Type": "application/json"},
                  steps=[(0, ('{"error": {"message": "bad header X-Gateway-Key: ' + CANARY + '"}}').encode())])
    with ScriptedServer(echo) as server:
        (ep,), _ = load_endpoints(write(tmp_path, GOOD.format(base_url=server.base_url)))

        async def run():
            return [e async for e in astream_chat(ep, None, REQUEST)]
        events = asyncio.run(run())
    assert events[-1].kind == "error" and "HTTP 400" in events[-1].text
    assert CANARY not in events[-1].text and "[redacted]" in events[-1].text


def test_a_header_secret_missing_from_the_environment_fails_before_sending(tmp_path, monkeypatch):
    monkeypatch.delenv("MM_GATEWAY_KEY", raising=False)
    with ScriptedServer(answer_script(["Hi"])) as server:
        (ep,), _ = load_endpoints(write(tmp_path, GOOD.format(base_url=server.base_url)))

        async def run():
            return [e async for e in astream_chat(ep, None, REQUEST)]
        events = asyncio.run(run())
        assert server.received == []
    assert [e.kind for e in events] == ["error"]
    assert "X-Gateway-Key" in events[0].text and "MM_GATEWAY_KEY" in events[0].text and "not set" in events[0].text


def test_a_header_secret_echoed_in_the_reply_never_reaches_the_playground_column(tmp_path, monkeypatch):
    from modelmatch.chat.playground import ColumnRun
    from tests.openai_server import DONE, delta

    monkeypatch.setenv("MM_GATEWAY_KEY", CANARY)
    half = len(CANARY) // 2
    script = Script(steps=[(0, delta("key: " + CANARY[:half])), (0, delta(CANARY[half:] + " ok")), (0, DONE)])
    with ScriptedServer(script) as server:
        (ep,), _ = load_endpoints(write(tmp_path, GOOD.format(base_url=server.base_url)))
        run = ColumnRun(ep, None, REQUEST).start()
        assert run.join(30)
    snap = run.snapshot()
    assert snap.answer == "key: [redacted] ok" and CANARY[:8] not in repr(snap)


SECRET_HEADER = GOOD.replace('"X-Gateway-Key" = {{ env = "MM_GATEWAY_KEY" }}',
                             '"X-Gateway-Key" = {{ env = "MM_GATEWAY_KEY", secret = "gateway_key" }}')


def test_a_header_secret_comes_from_the_environment_first_then_from_streamlit_secrets(tmp_path, monkeypatch):
    monkeypatch.delenv("MM_GATEWAY_KEY", raising=False)
    with ScriptedServer(answer_script(["Hi"])) as server:
        (ep,), _ = load_endpoints(write(tmp_path, SECRET_HEADER.format(base_url=server.base_url)))
        assert ep.header_envs == (("X-Gateway-Key", "MM_GATEWAY_KEY"),)
        assert ep.header_secret_names == (("X-Gateway-Key", "gateway_key"),)
        events = list(stream_chat(ep, None, REQUEST, threading.Event(), secrets={"gateway_key": CANARY}))
        monkeypatch.setenv("MM_GATEWAY_KEY", "from-the-environment-1234")
        list(stream_chat(ep, None, REQUEST, threading.Event(), secrets={"gateway_key": CANARY}))
        sent = [r.headers["X-Gateway-Key"] for r in server.received]
    assert events[-1].kind == "done" and sent == [CANARY, "from-the-environment-1234"]


def test_a_header_secret_in_neither_place_names_both(tmp_path, monkeypatch):
    monkeypatch.delenv("MM_GATEWAY_KEY", raising=False)
    with ScriptedServer(answer_script(["Hi"])) as server:
        (ep,), _ = load_endpoints(write(tmp_path, SECRET_HEADER.format(base_url=server.base_url)))
        events = list(stream_chat(ep, None, REQUEST, threading.Event(), secrets={}))
        assert server.received == []
    assert events[-1].kind == "error"
    assert "MM_GATEWAY_KEY" in events[-1].text and "gateway_key" in events[-1].text and "not set" in events[-1].text


def test_a_streamlit_secret_header_echoed_back_is_redacted_in_the_column(tmp_path, monkeypatch):
    from modelmatch.chat.endpoints import header_secret_snapshot
    from modelmatch.chat.playground import ColumnRun
    from tests.openai_server import DONE, delta

    monkeypatch.delenv("MM_GATEWAY_KEY", raising=False)
    script = Script(steps=[(0, delta("echo " + CANARY)), (0, DONE)])
    with ScriptedServer(script) as server:
        (ep,), _ = load_endpoints(write(tmp_path, SECRET_HEADER.format(base_url=server.base_url)))
        picked = header_secret_snapshot([ep], {"gateway_key": CANARY, "unrelated": "not-copied"})
        assert picked == {"gateway_key": CANARY}
        run = ColumnRun(ep, None, REQUEST, secrets=picked).start()
        assert run.join(30)
        assert server.received[0].headers["X-Gateway-Key"] == CANARY
    assert run.snapshot().answer == "echo [redacted]"
