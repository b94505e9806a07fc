"""The timing client's chunked-body decoder (the per-chunk path without h11): the same body whatever way reads split
the bytes, strict framing, the end of the body found, and on real loopback servers the same bytes and stamps as the
h11 body path, with the connection kept alive after it."""

from __future__ import annotations

import asyncio
import time

import pytest

from modelmatch.chat import http_stream
from modelmatch.chat.http_stream import ChunkedDecoder, ChunkedError, ConnectionPool, Limits, post_stream
from tests.net_servers import KeepAliveServer, reply_bytes

WIRE = (b"5\r\nhello\r\n"
        b"1;name=value\r\n \r\n"  # a chunk extension, dropped
        b"A\r\n0123456789\r\n"
        b"000b\r\nleading0s!!\r\n"  # hex with leading zeros
        b"0\r\nX-Trailer: yes\r\n\r\n")
BODY = b"hello 0123456789leading0s!!"


def decode(pieces: list[bytes]) -> tuple[bytes, ChunkedDecoder]:
    decoder = ChunkedDecoder()
    out = b"".join(decoder.feed(piece) for piece in pieces)
    return out, decoder


def test_whole_body_in_one_read():
    out, decoder = decode([WIRE])
    assert out == BODY and decoder.done and decoder.leftover == b""


@pytest.mark.parametrize("cut", range(1, len(WIRE)))
def test_any_split_into_two_reads_gives_the_same_body(cut):
    out, decoder = decode([WIRE[:cut], WIRE[cut:]])
    assert out == BODY and decoder.done


def test_one_byte_per_read():
    out, decoder = decode([WIRE[i:i + 1] for i in range(len(WIRE))])
    assert out == BODY and decoder.done


def test_not_done_before_the_trailer_section_ends():
    _, decoder = decode([WIRE[:-2]])
    assert not decoder.done
    assert decoder.feed(b"\r\n") == b"" and decoder.done


def test_bytes_after_the_end_are_kept_apart():
    out, decoder = decode([WIRE + b"HTTP/1.1 200 OK\r\n"])
    assert out == BODY and decoder.leftover == b"HTTP/1.1 200 OK\r\n"


def test_a_read_holding_exactly_one_chunk_returns_its_payload():
    decoder = ChunkedDecoder()
    assert decoder.feed(b"3\r\n") == b""
    assert decoder.feed(b"abc") == b"abc"
    assert decoder.feed(b"\r\n") == b""


@pytest.mark.parametrize("bad", [b"-5\r\nhello\r\n", b"0x5\r\nhello\r\n", b"+5\r\nhello\r\n", b"g\r\n",
                                 b"\r\n", b"5\r\nhelloXX", b"5_0\r\n"])
def test_bad_framing_is_refused(bad):
    with pytest.raises(ChunkedError):
        ChunkedDecoder().feed(bad)


def test_an_endless_size_line_is_refused():
    decoder = ChunkedDecoder()
    decoder.feed(b"5" + b";" * 4000)
    with pytest.raises(ChunkedError):
        decoder.feed(b";" * 200)


def test_an_endless_trailer_section_is_refused():
    decoder = ChunkedDecoder()
    decoder.feed(b"0\r\n")
    with pytest.raises(ChunkedError):
        for _ in range(100):
            decoder.feed(b"X-Pad: " + b"a" * 1000 + b"\r\n")


# ---- on loopback: the same bytes and stamps as h11's body path, and the connection kept ---------------------------

def _fetch_twice(server: KeepAliveServer) -> tuple[list[list[tuple[float, bytes]]], int]:
    limits = Limits(connect_timeout_s=5, first_byte_timeout_s=5, stall_timeout_s=5)
    stamps = iter(range(10_000))

    def clock() -> float:  # a counting clock: each reading is distinct and ordered, so stamps can be compared
        return float(next(stamps))

    async def run():
        pool = ConnectionPool()
        url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
        results = []
        for _ in range(2):
            stream = post_stream(url, {}, b"{}", limits, clock, pool=pool)
            results.append([item async for item in stream])
        return results, pool.opened

    return asyncio.run(run())


@pytest.mark.parametrize("fast", [True, False])
def test_both_body_paths_give_the_reply_and_keep_the_connection(monkeypatch, fast):
    monkeypatch.setattr(http_stream, "CHUNKED_FAST_PATH", fast)
    with KeepAliveServer() as server:
        results, opened = _fetch_twice(server)
    for reads in results:
        assert b"".join(data for _, data in reads) == reply_bytes(["Hello", " world"])
        assert all(data for _, data in reads)  # no empty body pieces reach the consumer
        assert [at for at, _ in reads] == sorted(at for at, _ in reads)
    assert opened == 1 and server.connections == 1


def test_the_fast_path_stamps_each_payload_with_its_read(monkeypatch):
    """The payload of a read is yielded with that read's clock reading (taken in data_received), not a later one."""
    seen: list[float] = []
    real = http_stream._StampedReads.data_received

    def spy(self, data):
        real(self, data)
        seen.append(self._reads[-1][0])

    monkeypatch.setattr(http_stream._StampedReads, "data_received", spy)
    with KeepAliveServer() as server:
        results, _ = _fetch_twice(server)
    assert results[0] and all(at in seen for at, _ in results[0] + results[1])


@pytest.mark.parametrize("tail", [b"5\r\nhel", b"5\r\nhelloXX0\r\n\r\n"])
def test_a_body_cut_short_or_misframed_is_an_error_not_a_short_reply(tail):
    limits = Limits(connect_timeout_s=5, first_byte_timeout_s=5, stall_timeout_s=5)

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(2)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + tail)
        await writer.drain()
        writer.close()

    async def run():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            got = b""
            with pytest.raises(http_stream.ChatBackendError, match="broke mid-response"):
                async for _, data in post_stream(f"http://127.0.0.1:{port}/v1", {}, b"{}", limits,
                                                 time.perf_counter, pool=ConnectionPool()):
                    got += data
            return got
        finally:
            server.close()

    assert asyncio.run(run()) in (b"", b"hel")


# ---- the SSE parser's LF-only path (servers' usual line ends) agrees with its general path ------------------------

SSE = (b'data: {"a": 1}\n\n: keep-alive comment\n\ndata: line one\ndata: line two\n\nevent: x\ndata\n\n'
       b'data: caf\xc3\xa9\n\ndata: [DONE]\n\n')


@pytest.mark.parametrize("cut", range(0, len(SSE) + 1, 3))
def test_sse_lf_path_splits_like_the_crlf_path(cut):
    from modelmatch.chat.http_stream import SSEParser

    lf, crlf = SSEParser(), SSEParser()
    wire = SSE.replace(b"\n", b"\r\n")
    crlf_cut = cut + SSE[:cut].count(b"\n")  # the same place in the CRLF wire
    got_lf = lf.feed(SSE[:cut]) + lf.feed(SSE[cut:])
    got_crlf = crlf.feed(wire[:crlf_cut]) + crlf.feed(wire[crlf_cut:])
    assert got_lf == got_crlf == ['{"a": 1}', "line one\nline two", "", "café", "[DONE]"]
