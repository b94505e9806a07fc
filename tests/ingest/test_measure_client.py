"""The two client changes made for measurement accuracy (see bench/client_accuracy.py for the figures):
arrival times are stamped when the bytes reach the event loop, not when the consumer gets round to reading them;
and the harness times from the moment the request was handed to the kernel (on_sent), keeping connection setup
apart as connect_ms. Both belong to the timing client the harness reads through (transport="timing"); the
playground's SDK path stamps when the consumer reads."""

from __future__ import annotations

import asyncio
import time

import pytest

from modelmatch.chat.types import ChatMessage, ChatRequest
from modelmatch.chat.endpoints import Endpoint
from modelmatch.chat.openai_client import astream_chat
from tests.openai_server import DONE, Script, ScriptedServer, delta, usage

REQUEST = ChatRequest(messages=(ChatMessage("user", "hi"),), max_tokens=8)


def endpoint(server: ScriptedServer) -> Endpoint:
    return Endpoint(name="t", kind="openai", model="m", base_url=server.base_url, first_byte_timeout_s=5,
                    stall_timeout_s=5)


def test_arrival_is_stamped_when_bytes_arrive_not_when_the_consumer_reads():
    script = Script(steps=[(0.05, delta(content="a")), (0.05, delta(content="b")), (0.05, delta(content="c")),
                           (0, usage(3, 3)), (0, DONE)])

    async def consume():
        events = []
        async for event in astream_chat(endpoint(server), None, REQUEST, transport="timing"):
            events.append(event)
            if event.kind == "content" and event.text == "a":
                await asyncio.sleep(0.4)  # a busy consumer: b and c arrive meanwhile
        return events

    with ScriptedServer(script) as server:
        events = asyncio.run(consume())
    content = [e for e in events if e.kind == "content"]
    gaps_ms = [(b.at_s - a.at_s) * 1000 for a, b in zip(content, content[1:])]
    # With stamps taken at read time the first gap would be ~400 ms and the second ~0.
    assert all(30 <= gap <= 150 for gap in gaps_ms), gaps_ms


def test_on_sent_marks_the_send_between_the_start_and_the_first_token():
    sent: list[float] = []
    script = Script(steps=[(0.1, delta(content="x")), (0, usage(1, 1)), (0, DONE)])

    async def run():
        start = time.perf_counter()
        events = [e async for e in astream_chat(endpoint(server), None, REQUEST, on_sent=sent.append,
                                                transport="timing")]
        return start, events

    with ScriptedServer(script) as server:
        start, events = asyncio.run(run())
    first = next(e for e in events if e.kind == "content")
    assert len(sent) == 1 and start <= sent[0] <= first.at_s
    assert (first.at_s - sent[0]) * 1000 == pytest.approx(100, abs=60)


def test_a_refused_connection_never_calls_on_sent():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sent: list[float] = []
    ep = Endpoint(name="down", kind="openai", model="m", base_url=f"http://127.0.0.1:{port}/v1")

    async def run():
        return [e async for e in astream_chat(ep, None, REQUEST, on_sent=sent.append)]

    events = asyncio.run(run())
    assert sent == [] and events[-1].kind == "error" and "could not connect" in events[-1].text
