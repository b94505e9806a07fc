"""The OpenAI-compatible streaming client against a real loopback server: answers, reasoning, every failure mode,
and a canary key that must appear nowhere but the Authorization header sent to its own endpoint."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from modelmatch.chat.types import ChatMessage, ChatRequest
from modelmatch.chat.endpoints import Endpoint
from modelmatch.chat.openai_client import astream_chat, request_body, stream_chat
from modelmatch.chat.timing import RequestTimer
from tests.openai_server import DONE, Script, ScriptedServer, answer_script, delta, sse, usage

CANARY = "sk-canary-7f3a9c1e5b2d4f6a8c0e"
REQUEST = ChatRequest(messages=(ChatMessage("user", "Say hello"),), max_tokens=64)


def endpoint(server: ScriptedServer, **overrides) -> Endpoint:
    values = dict(name="test", kind="openai", model="test-model", base_url=server.base_url, first_byte_timeout_s=5,
                  stall_timeout_s=5, connect_timeout_s=5)
    values.update(overrides)
    return Endpoint(**values)


def collect(ep: Endpoint, key: str | None = None, request: ChatRequest = REQUEST):
    async def run():
        return [e async for e in astream_chat(ep, key, request)]
    return asyncio.run(run())


def text_of(events, kind):
    return "".join(e.text for e in events if e.kind == kind)


def test_answer_reasoning_and_usage_arrive_in_order():
    with ScriptedServer(answer_script(["Hel", "lo"], reasoning=["Let me ", "think."])) as server:
        events = collect(endpoint(server))
    assert [e.kind for e in events] == ["reasoning", "reasoning", "content", "content", "usage", "done"]
    assert text_of(events, "reasoning") == "Let me think." and text_of(events, "content") == "Hello"
    usage_event = next(e for e in events if e.kind == "usage")
    assert (usage_event.usage.input_tokens, usage_event.usage.output_tokens, usage_event.usage.reasoning_tokens) == (7, 4, 2)
    assert all(a.at_s <= b.at_s for a, b in zip(events, events[1:]))


def test_request_asks_for_usage_and_passes_thinking_switch():
    with ScriptedServer() as server:
        collect(endpoint(server, thinking="qwen3-enable-thinking"),
                request=ChatRequest(messages=REQUEST.messages, thinking=False, max_tokens=10_000))
        body = server.received[0].body
    assert server.received[0].path == "/v1/chat/completions"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["max_tokens"] == 2048  # capped by the endpoint's max_tokens_cap


def test_reasoning_field_named_reasoning_is_read_too():
    script = Script(steps=[(0, delta(reasoning="hmm", field_name="reasoning")), (0, delta(content="ok")), (0, DONE)])
    with ScriptedServer(script) as server:
        events = collect(endpoint(server))
    assert text_of(events, "reasoning") == "hmm" and text_of(events, "content") == "ok"


def test_think_tags_split_across_chunks_are_separated():
    pieces = ["<thi", "nk>step one", " step two</th", "ink>The answer", " is 4."]
    script = Script(steps=[(0, delta(content=p)) for p in pieces] + [(0, DONE)])
    with ScriptedServer(script) as server:
        events = collect(endpoint(server))
    assert text_of(events, "reasoning") == "step one step two"
    assert text_of(events, "content") == "The answer is 4."


def test_exact_output_length_uses_vllm_extensions():
    ep = Endpoint(name="m", kind="openai", model="m", base_url="http://127.0.0.1:1/v1")
    body = request_body(ep, ChatRequest(messages=REQUEST.messages, max_tokens=128, exact_output_tokens=True))
    assert body["ignore_eos"] is True and body["min_tokens"] == 128


def test_measured_timing_reflects_the_servers_delays():
    with ScriptedServer(answer_script(["a", "b", "c", "d"], first_s=0.2, gap_s=0.05)) as server:
        timer = RequestTimer(0.0)
        import time
        start = time.perf_counter()
        timer = RequestTimer(start)
        for event in collect(endpoint(server)):
            timer.observe(event)
    m = timer.result()
    assert m.ok and m.output_tokens == 4 and m.token_source == "server-usage"
    assert 200 <= m.ttft_ms < 1000
    assert len(m.itl_ms) == 3 and all(45 <= gap < 500 for gap in m.itl_ms)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def only_error(events) -> str:
    errors = [e for e in events if e.kind == "error"]
    assert len(errors) == 1 and events[-1].kind == "error"
    return errors[0].text


def test_connection_refused():
    ep = Endpoint(name="down", kind="openai", model="m", base_url=f"http://127.0.0.1:{free_port()}/v1")
    assert "could not connect" in only_error(collect(ep, CANARY))


def test_no_first_byte_times_out():
    with ScriptedServer(Script(steps=[(1.5, DONE)])) as server:
        message = only_error(collect(endpoint(server, first_byte_timeout_s=0.3)))
    assert "no first byte" in message and "0.3 s" in message


def test_stall_mid_stream_keeps_what_arrived():
    script = Script(steps=[(0, delta(content="partial")), (1.5, delta(content=" never")), (0, DONE)])
    with ScriptedServer(script) as server:
        events = collect(endpoint(server, stall_timeout_s=0.3))
    assert text_of(events, "content") == "partial"
    assert "stalled" in only_error(events) and "kept" in only_error(events)


def test_a_reply_that_never_stalls_is_still_ended_by_max_duration():
    # A complete (empty) event every 0.2 s keeps the stall limit happy forever; only the total limit ends it.
    keepalive = [(0.2, sse({"id": "x", "object": "chat.completion.chunk", "choices": []}))] * 200
    script = Script(steps=[(0, delta(content="partial")), *keepalive, (0, DONE)])
    with ScriptedServer(script) as server:
        started = time.perf_counter()
        events = collect(endpoint(server, stall_timeout_s=1, max_duration_s=1.5))
        elapsed_s = time.perf_counter() - started
    assert text_of(events, "content") == "partial"
    assert "longer than 1.5 s (max_duration_s)" in only_error(events)
    assert elapsed_s < 5


@pytest.mark.parametrize(("status", "expected"), [(401, "API key"), (429, "rate limited"), (500, "server failed")])
def test_http_errors_are_explained_without_the_key(status, expected):
    body = sse({"error": {"message": f"bad thing; you sent {CANARY}"}}).replace(b"data: ", b"")
    with ScriptedServer(Script(status=status, headers={"Content-Type": "application/json"}, steps=[(0, body)])) as s:
        message = only_error(collect(endpoint(s, api_key_env="X"), CANARY))
    assert f"HTTP {status}" in message and expected in message
    assert CANARY not in message and "[redacted]" in message


def test_error_event_inside_a_200_stream():
    script = Script(steps=[(0, delta(content="Hi")), (0, sse({"error": {"message": "model overloaded"}})), (0, DONE)])
    with ScriptedServer(script) as server:
        events = collect(endpoint(server))
    assert text_of(events, "content") == "Hi" and "model overloaded" in only_error(events)


def test_malformed_sse_event():
    with ScriptedServer(Script(steps=[(0, delta(content="ok")), (0, b"data: {not json\n\n"), (0, DONE)])) as server:
        events = collect(endpoint(server))
    assert "malformed event" in only_error(events) and text_of(events, "content") == "ok"


def test_stream_without_done_is_reported_and_kept():
    with ScriptedServer(Script(steps=[(0, delta(content="cut"))])) as server:
        events = collect(endpoint(server))
    assert text_of(events, "content") == "cut" and "without [DONE]" in only_error(events)


def test_connection_broken_mid_chunk():
    with ScriptedServer(Script(steps=[(0, delta(content="a"))], end_abruptly=True)) as server:
        events = collect(endpoint(server))
    assert text_of(events, "content") == "a"
    assert "broke mid-response" in only_error(events) or "without [DONE]" in only_error(events)


def test_usage_only_stream_is_an_empty_answer_not_an_error():
    with ScriptedServer(Script(steps=[(0, usage(5, 0)), (0, DONE)])) as server:
        events = collect(endpoint(server))
    assert [e.kind for e in events] == ["usage", "done"]


def test_invalid_utf8_split_across_chunks():
    head, tail = b'data: {"choices": [{"index": 0, "delta": {"content": "', b'"}}]}\n\n'
    snowman = "☃".encode()  # three bytes, split 2 + 1 across two writes
    steps = [(0, head + snowman[:2]), (0.05, snowman[2:] + tail),
             (0, delta(content="x").replace(b'"x"', b'"\xff"')), (0, DONE)]
    with ScriptedServer(Script(steps=steps)) as server:
        events = collect(endpoint(server))
    assert text_of(events, "content") == "☃\ufffd"
    assert events[-1].kind == "done" and events[-1].detail == {"invalid_utf8_events": 1}


def test_oversized_response_is_cut_off():
    script = Script(steps=[(0, delta(content="x" * 50_000)) for _ in range(10)] + [(0, DONE)])
    with ScriptedServer(script) as server:
        message = only_error(collect(endpoint(server, max_response_bytes=100_000)))
    assert "larger than 100,000 bytes" in message


def test_redirect_to_another_host_is_not_followed_and_gets_no_key():
    with ScriptedServer() as other:
        redirect = Script(status=307, headers={"Location": f"{other.base_url}/chat/completions"}, steps=[])
        with ScriptedServer(redirect) as server:
            message = only_error(collect(endpoint(server, api_key_env="X"), CANARY))
        assert other.received == []
    assert "redirect" in message and "not followed" in message


def test_canary_key_only_in_the_authorization_header_of_its_own_endpoint():
    with ScriptedServer(answer_script(["fine"])) as server:
        events = collect(endpoint(server, api_key_env="X"), CANARY)
        received = server.received[0]
    assert received.headers["Authorization"] == f"Bearer {CANARY}"
    others = {k: v for k, v in received.headers.items() if k != "Authorization"}
    assert CANARY not in repr(others) and CANARY not in repr(received.body)
    assert all(CANARY not in repr(e) for e in events)


def test_stream_chat_in_a_thread_stops_on_cancel_and_leaves_no_thread():
    script = Script(steps=[(0, delta(content="a"))] + [(0.2, delta(content="b")) for _ in range(30)] + [(0, DONE)])
    before = threading.active_count()
    with ScriptedServer(script) as server:
        cancel = threading.Event()
        seen = []
        for event in stream_chat(endpoint(server), None, REQUEST, cancel):
            seen.append(event)
            if event.kind == "content" and len(seen) == 2:
                cancel.set()
        assert seen[-1].kind == "error" and "stopped by the user" in seen[-1].text
    assert text_of(seen, "content").startswith("a")
    assert threading.active_count() <= before + 1  # the server thread is being torn down at most
