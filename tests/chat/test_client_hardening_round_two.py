"""Second hardening round, chat client and key findings, against a real loopback server: keys with a trailing line
break, redaction before truncation (and of transformed forms), malformed JSON shapes, odd token counts, emoji sent
as two surrogate escapes, and an IPv6 Host header."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote

import pytest

from modelmatch.chat.endpoints import ApiKeyError, Endpoint, EndpointsFileError, load_endpoints, redact, resolve_api_key
from modelmatch.chat.openai_client import token_count
from tests.openai_server import DONE, Script, ScriptedServer, answer_script, delta, sse
from tests.chat.test_openai_client import collect, endpoint, only_error, text_of

CANARY = "sk-canary-roundtwo-5e4d3c2b1a09f8e7"


def json_error(status: int, message: str) -> Script:
    return Script(status=status, headers={"Content-Type": "application/json"},
                  steps=[(0, json.dumps({"error": {"message": message}}).encode())])


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r", " ", "\t"])
def test_api_key_with_trailing_newline_never_reaches_a_message(ending, caplog):
    """The HTTP library refused the header and put the whole of it, key included, into its error: written to the
    app log and to `ingest measure` output, and the column ended empty and silent."""
    caplog.set_level(logging.DEBUG)
    with ScriptedServer(answer_script(["hi"])) as server:
        events = collect(endpoint(server), CANARY + ending)
        assert server.received == []  # nothing was sent with a broken header
    message = only_error(events)
    assert "header holds a character HTTP does not allow" in message and "Authorization" in message
    everything = message + caplog.text + repr(events)
    assert CANARY[:12] not in everything


@pytest.mark.parametrize("ending, words", [("\n", "line break"), ("\r", "carriage return"), (" ", "a space")])
def test_api_key_with_trailing_newline_is_refused_at_load_naming_the_variable(tmp_path, monkeypatch, ending, words):
    path = tmp_path / "endpoints.toml"
    path.write_text('[[endpoint]]\nname = "K"\nkind = "openai"\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\n'
                    'api_key_env = "MM_ROUND_TWO_KEY"\n')
    monkeypatch.setenv("MM_ROUND_TWO_KEY", CANARY + ending)
    with pytest.raises(EndpointsFileError) as refused:
        load_endpoints(path)
    assert "MM_ROUND_TWO_KEY" in str(refused.value) and words in str(refused.value)
    assert CANARY[:12] not in str(refused.value) and "'K'" in str(refused.value)
    with pytest.raises(ApiKeyError) as at_use:  # and when the key changes after the file was loaded
        resolve_api_key(Endpoint(name="K", kind="openai", model="m", base_url="http://127.0.0.1:9/v1",
                                 api_key_env="MM_ROUND_TWO_KEY"))
    assert "MM_ROUND_TWO_KEY" in str(at_use.value) and CANARY[:12] not in str(at_use.value)
    monkeypatch.setenv("MM_ROUND_TWO_KEY", CANARY)
    assert load_endpoints(path)[0][0].name == "K"


def test_redaction_runs_after_truncation_no_more_key_at_the_cut():
    """The server's message was cut to 300 characters and then redacted: a key straddling the cut survived as all
    but its last characters."""
    echoed = "x" * (300 - len(CANARY) + 3) + CANARY + " tail"
    with ScriptedServer(json_error(400, echoed)) as server:
        message = only_error(collect(endpoint(server), CANARY))
    assert "HTTP 400" in message and CANARY[:10] not in message


@pytest.mark.parametrize("form", [
    lambda k: quote(k, safe=""), lambda k: base64.b64encode(k.encode()).decode(),
    lambda k: base64.b64encode(f"Authorization: Bearer {k}".encode()).decode(),
    lambda k: base64.b64encode(f"ab:{k}".encode()).decode(), lambda k: repr(k + "\n"),
])
def test_redaction_runs_after_truncation_and_covers_transformed_forms(form):
    shown = form(CANARY)
    with ScriptedServer(json_error(401, f"bad key {shown} sent")) as server:
        message = only_error(collect(endpoint(server), CANARY))
    assert "[redacted]" in message and CANARY[:10] not in message
    inner = base64.b64encode(CANARY.encode()).decode()[4:20]
    assert inner not in message


def test_redaction_covers_a_key_split_across_chunks_once_joined():
    joined = "".join(["answer: sk-canary-round", "two-5e4d3c2b1a09f8e7 end"])
    assert CANARY not in redact(joined, [CANARY]) and "[redacted]" in redact(joined, [CANARY])


@pytest.mark.parametrize("payload, what", [
    ({"choices": 5}, "'choices' is not a list"),
    ({"choices": [{"delta": "hello"}]}, "'delta' is not an object"),
    ({"choices": [None]}, "a choice is not an object"),
    ({"choices": [{"delta": {"content": 5}}]}, "'content' is not a string"),
    ({"choices": [{"delta": {"content": ["a"]}}]}, "'content' is not a string"),
])
def test_valid_json_of_the_wrong_shape_is_one_clear_error_and_keeps_what_arrived(payload, what):
    script = Script(steps=[(0, delta("kept ")), (0, sse(payload)), (0, delta("never")), (0, DONE)])
    with ScriptedServer(script) as server:
        events = collect(endpoint(server))
    assert text_of(events, "content") == "kept "
    assert events[-1].kind == "error" and what in events[-1].text and "malformed event" in events[-1].text
    assert not any(e.kind == "done" for e in events)  # never saved as complete


def test_valid_json_of_the_wrong_shape_deep_nesting_is_one_clear_error():
    script = Script(steps=[(0, delta("kept ")), (0, b"data: " + b"[" * 100_000 + b"]" * 100_000 + b"\n\n"),
                           (0, DONE)])
    with ScriptedServer(script) as server:
        events = collect(endpoint(server))
    assert text_of(events, "content") == "kept " and events[-1].kind == "error"
    assert "malformed event" in events[-1].text


@pytest.mark.parametrize("raw, expected", [
    ('"12"', None), ("1e400", None), (str(10 ** 30), None), ("-3", None), ("true", None), ("12.0", 12), ("12", 12),
    ("NaN", None), ("Infinity", None),
])
def test_odd_token_counts_are_no_count_not_a_wedged_session(raw, expected):
    body = ('{"id": "x", "choices": [], "usage": {"prompt_tokens": %s, "completion_tokens": %s}}' % (raw, raw))
    script = Script(steps=[(0, delta("hi")), (0, f"data: {body}\n\n".encode()), (0, DONE)])
    with ScriptedServer(script) as server:
        events = collect(endpoint(server))
    usage_event = next(e for e in events if e.kind == "usage")
    assert usage_event.usage.output_tokens == expected and usage_event.usage.input_tokens == expected
    assert events[-1].kind == "done"
    assert token_count(float("inf")) is None and token_count(True) is None


def test_emoji_sent_as_two_json_surrogate_escapes_keeps_the_text_encodable():
    script = Script(steps=[(0, b'data: {"choices": [{"delta": {"content": "smile \\ud83d"}}]}\n\n'),
                           (0, b'data: {"choices": [{"delta": {"content": "\\ude00 ok"}}]}\n\n'),
                           (0, b'data: {"choices": [{"delta": {"content": " pair \\ud83d\\ude00"}}]}\n\n'), (0, DONE)])
    with ScriptedServer(script) as server:
        events = collect(endpoint(server))
    text = text_of(events, "content")
    text.encode("utf-8")  # raised UnicodeEncodeError on every rerun of the page
    assert text.startswith("smile ") and text.endswith(" pair \U0001F600") and events[-1].kind == "done"


def test_ipv6_host_header_keeps_its_brackets():
    """An endpoint at http://[::1]:PORT sent "Host: ::1:PORT", which a server cannot parse."""
    import socket
    import threading

    try:
        listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        listener.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    listener.listen(1)
    port = listener.getsockname()[1]
    seen: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            seen.append(data)
            body = delta("six") + DONE
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        events = collect(Endpoint(name="v6", kind="openai", model="m", base_url=f"http://[::1]:{port}/v1",
                                  first_byte_timeout_s=5, stall_timeout_s=5))
    finally:
        thread.join(10)
        listener.close()
    host = next(line for line in seen[0].split(b"\r\n") if line.lower().startswith(b"host:"))
    assert host == f"Host: [::1]:{port}".encode() and text_of(events, "content") == "six"


def test_redaction_runs_after_truncation_playground_column_never_shows_an_echoed_key():
    from modelmatch.chat.types import ChatMessage, ChatRequest
    from modelmatch.chat.playground import ColumnRun

    half = len(CANARY) // 2
    script = Script(steps=[(0, delta("key: " + CANARY[:half])), (0, delta(CANARY[half:] + " ok")), (0, DONE)])
    with ScriptedServer(script) as server:
        run = ColumnRun(endpoint(server), CANARY, ChatRequest(messages=(ChatMessage("user", "hi"),))).start()
        assert run.join(30)
    snap = run.snapshot()
    assert snap.answer == "key: [redacted] ok" and CANARY[:8] not in repr(snap)


class DripServer:
    """A raw loopback HTTP server that sends `head` at once and then `drip` one piece every `every_s` seconds until
    the client hangs up (or `idle_s` of silence after `head` when drip is empty)."""

    def __init__(self, head: bytes, drip: bytes = b"", every_s: float = 0.2, idle_s: float = 30.0):
        import socket
        import threading

        self.head, self.drip, self.every_s, self.idle_s = head, drip, every_s, idle_s
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self) -> None:
        import time

        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            try:
                conn.sendall(self.head)
                started = time.monotonic()
                while not self.stop.is_set() and time.monotonic() - started < self.idle_s:
                    if self.drip:
                        conn.sendall(self.drip)
                    self.stop.wait(self.every_s)
            except OSError:
                return  # the client hung up: what the test wants

    def __enter__(self) -> "DripServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(10)

    def endpoint(self) -> Endpoint:
        return Endpoint(name="drip", kind="openai", model="m", base_url=f"http://127.0.0.1:{self.port}/v1",
                        connect_timeout_s=5, first_byte_timeout_s=1.5, stall_timeout_s=1.5, max_duration_s=60)


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@pytest.mark.parametrize("head, drip", [
    (b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a"),  # headers dripped a byte at a time
    (b"", b"HTTP/1.1 100 Continue\r\n\r\n"),  # endless informational responses
    (CHUNKED_HEAD + _chunk(delta("hi")) + b"5;ext=", b"x"),  # a chunk extension that never ends
    (CHUNKED_HEAD + _chunk(delta("hi")), _chunk(b"\n")),  # body bytes that never complete an event
])
def test_dripping_headers_1xx_and_chunk_extensions_hold_a_column_no_longer_than_its_timeouts(head, drip):
    import time

    with DripServer(head, drip) as server:
        started = time.monotonic()
        events = collect(server.endpoint())
        took_s = time.monotonic() - started
    assert events[-1].kind == "error" and took_s < 5, (took_s, events[-1].text)


def test_a_complete_answer_is_not_an_error_when_the_server_idles_after_done():
    import time

    with DripServer(CHUNKED_HEAD + _chunk(delta("all here")) + _chunk(DONE), idle_s=30) as server:
        started = time.monotonic()
        events = collect(server.endpoint())
        took_s = time.monotonic() - started
    assert text_of(events, "content") == "all here" and events[-1].kind == "done" and took_s < 1.5


@pytest.mark.parametrize("head, drip", [
    (b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a"),  # headers dripped a byte at a time
    (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n", b"{"),  # slow body
])
def test_dripping_headers_hold_an_importer_no_longer_than_its_timeout(head, drip):
    import time

    from ingest.importers import http as importer_http

    with DripServer(head, drip, every_s=0.2) as server:
        started = time.monotonic()
        with pytest.raises(importer_http.FetchError, match="timed out after 1.5 s"):
            importer_http.get(f"http://127.0.0.1:{server.port}/prices.json", importer_http.FetchLimits(1.5, 10 ** 6))
        took_s = time.monotonic() - started
    assert took_s < 4, took_s
