"""Server-sent events cut and spelled every way the specification allows, read by the parser alone and by the
chat client from a real loopback server writing those exact bytes. The playground and evals (the openai SDK) and
`ingest measure` (the timing client) feed the same parser, and the matrix runs through both clients."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from modelmatch.chat.endpoints import Endpoint
from modelmatch.chat.http_stream import Limits, SSEParser, post_stream
from modelmatch.chat.openai_client import astream_chat
from modelmatch.chat.types import ChatMessage, ChatRequest
from tests.openai_server import Script, ScriptedServer

REQUEST = ChatRequest(messages=(ChatMessage("user", "Say hello"),), max_tokens=64)
WORDS = ["Héllo", " wörld ☃", " 你好"]  # multi-byte characters, to be split mid-character


def chunk_json(content: str) -> str:
    return json.dumps({"id": "x", "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": {"content": content}}]}, ensure_ascii=False)


USAGE_JSON = json.dumps({"id": "x", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 3,
                                                             "total_tokens": 6}})


def stream_bytes(eol: str = "\n", bom: bool = False, comments: bool = False, multiline: bool = False) -> bytes:
    """One whole reply, its lines ended by `eol`."""
    lines: list[str] = []
    if comments:
        lines += [": ping - keep-alive", ""]
    for word in WORDS:
        payload = chunk_json(word)
        if multiline:
            # JSON allows a line feed between tokens, so one event's data may span several data lines.
            head, tail = payload.split('"choices"')
            lines += [f"data: {head}", f'data: "choices"{tail}']
        else:
            lines.append(f"data: {payload}")
        if comments:
            lines.append(":comment inside an event")
        lines.append("")
    lines += [f"data: {USAGE_JSON}", "", "data: [DONE]", "", ""]
    text = eol.join(lines)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


def split_after_each_cr(data: bytes) -> list[bytes]:
    """Reads cut right after every CR, so each CRLF arrives as CR at one read's end and LF at the next's start."""
    parts, start = [], 0
    for i, byte in enumerate(data):
        if byte == 0x0D:
            parts.append(data[start:i + 1])
            start = i + 1
    parts.append(data[start:])
    return [p for p in parts if p]


def split_inside_multibyte(data: bytes) -> list[bytes]:
    """Reads cut inside every multi-byte UTF-8 character (after its lead byte)."""
    parts, start = [], 0
    for i, byte in enumerate(data):
        if byte >= 0xC0 and i + 1 > start:
            parts.append(data[start:i + 1])
            start = i + 1
    parts.append(data[start:])
    return [p for p in parts if p]


def one_byte(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


# name -> the reads a server's bytes arrive in
MATRIX = {
    "lf": [stream_bytes()],
    "crlf_in_one_read": [stream_bytes("\r\n")],
    "crlf_split_across_reads": split_after_each_cr(stream_bytes("\r\n")),
    "one_byte_reads_lf": one_byte(stream_bytes()),
    "one_byte_reads_crlf": one_byte(stream_bytes("\r\n")),
    "cr_only": [stream_bytes("\r")],
    "cr_only_one_byte_reads": one_byte(stream_bytes("\r")),
    "bom_at_start": [stream_bytes(bom=True)],
    "bom_split_across_reads": [b"\xef", b"\xbb", b"\xbf" + stream_bytes()],
    "comment_lines": [stream_bytes(comments=True)],
    "multi_line_data": [stream_bytes(multiline=True)],
    "multi_line_data_crlf_split": split_after_each_cr(stream_bytes("\r\n", multiline=True)),
    "utf8_split_across_reads": split_inside_multibyte(stream_bytes()),
    "everything_at_once": one_byte(stream_bytes("\r\n", bom=True, comments=True, multiline=True)),
}


def expected_events() -> list[str]:
    return [chunk_json(w) for w in WORDS] + [USAGE_JSON, "[DONE]"]


@pytest.mark.parametrize("reads", MATRIX.values(), ids=MATRIX.keys())
def test_parser_finds_every_event_however_the_bytes_are_cut(reads):
    parser = SSEParser()
    events = [event for read in reads for event in parser.feed(read)]
    assert [json.loads(e) if e != "[DONE]" else e for e in events] == \
        [json.loads(e) if e != "[DONE]" else e for e in expected_events()]
    assert parser.invalid_utf8 == 0


def test_crlf_split_across_reads_loses_no_reply_regression():
    """The bug: CRLF was normalised one read at a time, so a read ending in CR and the next starting with LF never
    made a blank line, no event was ever found, and the whole reply was lost."""
    parser = SSEParser()
    # The bare CR already ends the blank line, so the event is out at once...
    assert parser.feed(b'data: {"a": 1}\r\n\r') == ['{"a": 1}']
    # ...and the LF that completes its CRLF is not read as a second line end that would merge or split events.
    assert parser.feed(b'\ndata: {"b": 2}\r\n\r') == ['{"b": 2}']
    assert parser.feed(b'\ndata: {"c": 3}\r\n\r\n') == ['{"c": 3}']


def test_a_bare_cr_ends_a_line_and_the_next_lf_is_a_line_of_its_own_unless_it_follows_at_once():
    parser = SSEParser()
    # CR then CR: two line ends, so the second is a blank line and dispatches.
    assert parser.feed(b"data: x\r\r") == ["x"]
    # LF, LF after CR within one read: CRLF is one line end, the second LF the blank line.
    assert parser.feed(b"data: y\r\n\n") == ["y"]


def test_data_field_rules_follow_the_specification():
    parser = SSEParser()
    assert parser.feed(b"data:no-space\n\n") == ["no-space"]
    assert parser.feed(b"data:  two spaces\n\n") == [" two spaces"]  # only one leading space is dropped
    assert parser.feed(b"data\n\n") == [""]  # a field name alone is that field with an empty value
    assert parser.feed(b"event: ping\nid: 7\nretry: 10\n\n") == []  # no data: no event
    # A BOM only counts at the stream's start: later, it is part of the field name, which is then not "data".
    assert parser.feed(b"\xef\xbb\xbfdata: later bom\n\n") == []


def test_invalid_utf8_is_counted_once_per_event_even_across_data_lines():
    parser = SSEParser()
    assert parser.feed(b"data: \xff\ndata: \xfe\n\ndata: \xef\xbf\xbd\n\n") == ["\ufffd\n\ufffd", "\ufffd"]
    assert parser.invalid_utf8 == 1  # the literal U+FFFD in the second event is not an error


def test_a_long_event_fed_one_byte_at_a_time_is_read_in_linear_time():
    """Each partial line is joined once, when it ends: re-joining the buffer on every byte would be quadratic."""
    def seconds(n: int) -> float:
        data = b"data: " + b"x" * n + b"\n\n"
        parser = SSEParser()
        started = time.perf_counter()
        for i in range(len(data)):
            parser.feed(data[i:i + 1])
        return time.perf_counter() - started
    seconds(2_000)  # warm up
    small, large = min(seconds(20_000) for _ in range(3)), min(seconds(80_000) for _ in range(3))
    assert large / small < 10, f"x{large / small:.1f} for four times the bytes"


def endpoint(server: ScriptedServer) -> Endpoint:
    return Endpoint(name="sse", kind="openai", model="m", base_url=server.base_url, connect_timeout_s=5,
                    first_byte_timeout_s=10, stall_timeout_s=10)


def steps_of(reads: list[bytes]) -> list[tuple[float, bytes]]:
    # A short pause between writes, so each arrives as a read of its own.
    return [(0.002, read) for read in reads]


LOOPBACK = ["crlf_split_across_reads", "one_byte_reads_crlf", "cr_only", "bom_at_start", "comment_lines",
            "multi_line_data", "utf8_split_across_reads", "everything_at_once"]


@pytest.mark.parametrize("name", LOOPBACK)
def test_chat_client_reads_the_whole_reply_from_a_loopback_server(name):
    with ScriptedServer(Script(steps=steps_of(MATRIX[name]))) as server:
        async def run():
            return [e async for e in astream_chat(endpoint(server), None, REQUEST)]
        events = asyncio.run(run())
    assert [e.kind for e in events if e.kind in ("error", "done")] == ["done"], [e.text for e in events]
    assert "".join(e.text for e in events if e.kind == "content") == "".join(WORDS)
    usage = [e.usage for e in events if e.kind == "usage"]
    assert usage and usage[0].output_tokens == 3


def test_loopback_reads_really_end_in_cr_and_start_with_lf_then_the_client_still_finishes():
    """The regression through a real socket: the client's reads do split CRLF (checked, so the test cannot pass by
    the kernel merging writes), and the reply still ends in `done` with every word."""
    reads = MATRIX["crlf_split_across_reads"]
    with ScriptedServer(Script(steps=[(0.02, r) for r in reads])) as server:
        async def raw():
            got = []
            async for _, chunk in post_stream(f"{server.base_url}/chat/completions", {"Content-Type": "application/json"},
                                              b"{}", Limits(5, 10, 10, 1_000_000, 60), time.perf_counter):
                got.append(chunk)
            return got
        got = asyncio.run(raw())
        assert any(a.endswith(b"\r") and b.startswith(b"\n") for a, b in zip(got, got[1:]))

        async def run():
            return [e async for e in astream_chat(endpoint(server), None, REQUEST)]
        events = asyncio.run(run())
    assert events[-1].kind == "done"
    assert "".join(e.text for e in events if e.kind == "content") == "".join(WORDS)


@pytest.mark.parametrize("transport", ["sdk", "timing"])
@pytest.mark.parametrize("name", LOOPBACK)
def test_both_clients_read_the_whole_reply_from_a_loopback_server(name, transport):
    """The playground and the evals read through the openai SDK, `ingest measure` through the timing client: the
    matrix holds for both."""
    with ScriptedServer(Script(steps=steps_of(MATRIX[name]))) as server:
        async def run():
            return [e async for e in astream_chat(endpoint(server), None, REQUEST, transport=transport)]
        events = asyncio.run(run())
    assert [e.kind for e in events if e.kind in ("error", "done")] == ["done"], [e.text for e in events]
    assert "".join(e.text for e in events if e.kind == "content") == "".join(WORDS)
    usage = [e.usage for e in events if e.kind == "usage"]
    assert usage and usage[0].output_tokens == 3
