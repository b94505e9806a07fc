"""Reads stamped when their bytes reached the kernel (kernel_stamps), not when a busy event loop read them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import threading
import time
from typing import Iterator

import pytest

from modelmatch.chat import http_stream, kernel_stamps
from modelmatch.chat.http_stream import ConnectionPool, Limits, finish_stream, post_stream
from modelmatch.chat.types import ChatBackendError

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kernel receive stamps are Linux's")
LIMITS = Limits(connect_timeout_s=5, first_byte_timeout_s=5, stall_timeout_s=5)


@contextlib.contextmanager
def stamped_pair() -> Iterator[tuple[kernel_stamps.ArrivalStampedSocket, socket.socket]]:
    """A stamping client socket connected over loopback, and the server's side of it; all closed after."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = kernel_stamps.ArrivalStampedSocket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        assert kernel_stamps.enable(client)
        client.connect(listener.getsockname())
        server_side, _ = listener.accept()
        with server_side:
            yield client, server_side
    finally:
        client.close()
        listener.close()


@pytest.fixture
def stamping_on():
    """Linux turns receive stamping on from a work queue when the first socket asks for it (and off when the last one
    closes), so the first packets after that may come unstamped, and the code falls back to its clock. A test that
    needs every read stamped holds a stamping socket open until a probe comes back stamped."""
    with stamped_pair() as (probe, sender):
        for _ in range(200):
            sender.sendall(b"?")
            probe.recv(16)
            if probe.arrival_s is not None:
                break
            time.sleep(0.005)
        assert probe.arrival_s is not None, "the kernel never stamped a probe"
        yield


def test_a_wall_clock_stamp_is_moved_onto_the_perf_counter_scale() -> None:
    assert kernel_stamps.stamp_of([]) is None
    assert kernel_stamps.stamp_of([(socket.SOL_SOCKET, kernel_stamps.SO_TIMESTAMPNS + 1, b"\0" * 16)]) is None
    now_ns = time.time_ns()
    stamp = kernel_stamps.stamp_of([(socket.SOL_SOCKET, kernel_stamps.SO_TIMESTAMPNS,
                                     kernel_stamps._STAMP.pack(now_ns // 10**9, now_ns % 10**9))])
    assert stamp is not None and abs(stamp - time.perf_counter()) < 0.01


@linux_only
@pytest.mark.parametrize("read", ["recv", "recv_into"])
def test_a_read_keeps_when_its_bytes_arrived_not_when_it_ran(read: str, stamping_on) -> None:
    with stamped_pair() as (client, server_side):
        sent_at = time.perf_counter()
        server_side.sendall(b"hello")
        time.sleep(0.2)  # the reader is busy elsewhere
        read_at = time.perf_counter()
        if read == "recv":
            data = client.recv(100)
        else:
            buffer = bytearray(100)
            data = bytes(buffer[:client.recv_into(buffer, 50)])
    assert data == b"hello"
    assert client.arrival_s is not None
    assert sent_at <= client.arrival_s < sent_at + 0.05 < read_at


def _serve_two_chunks(listener: socket.socket, second_sent_at: list[float], gap_s: float) -> None:
    """One chunked answer: the first chunk at once, the second gap_s later (its send time kept), then the end."""
    conn, _ = listener.accept()
    with conn:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nfirst\r\n")
        time.sleep(gap_s)
        second_sent_at.append(time.perf_counter())
        conn.sendall(b"6\r\nsecond\r\n")
        # The end only after the client's loop is free again: bytes read together carry the stamp of the newest.
        time.sleep(0.5)
        conn.sendall(b"0\r\n\r\n")


def _stream_with_a_busy_loop(clock, busy_s: float) -> tuple[list[tuple[float, bytes]], float]:
    """The stamped reads of one request whose event loop is blocked for busy_s right after the first chunk (the
    second arrives meanwhile), and the server's send time of the second chunk."""
    listener = socket.create_server(("127.0.0.1", 0))
    second_sent_at: list[float] = []
    server = threading.Thread(target=_serve_two_chunks, args=(listener, second_sent_at, 0.05), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1/chat/completions"

    async def go() -> list[tuple[float, bytes]]:
        reads = []
        stream = post_stream(url, {}, b"{}", LIMITS, clock, pool=ConnectionPool())
        try:
            async for at, data in stream:
                reads.append((at, data))
                if len(reads) == 1:
                    time.sleep(busy_s)  # what hundreds of other streams do to a shared loop
        finally:
            await finish_stream(stream)
        return reads

    try:
        reads = asyncio.run(go())
    finally:
        server.join(timeout=10)
        listener.close()
    return reads, second_sent_at[0]


@linux_only
def test_stamps_late_by_the_loop_backlog(stamping_on) -> None:
    """Regression: a chunk that arrived while the loop was busy was stamped when the loop got to it (here 0.3 s
    late); it is stamped when it reached the kernel."""
    reads, second_sent_at = _stream_with_a_busy_loop(time.perf_counter, busy_s=0.3)
    assert [data for _, data in reads] == [b"first", b"second"]
    second_at = reads[1][0]
    assert second_sent_at <= second_at < second_sent_at + 0.05


def test_a_scripted_clock_still_stamps_every_read() -> None:
    """Kernel stamps are on the perf_counter scale: with any other clock (tests' scripted ones) the clock stamps."""
    ticks = iter(range(1000, 100000))
    reads, _ = _stream_with_a_busy_loop(lambda: float(next(ticks)), busy_s=0.0)
    assert [data for _, data in reads] == [b"first", b"second"]
    assert all(at >= 1000 and at == int(at) for at, _ in reads)


@linux_only
def test_each_address_is_tried_until_one_connects(monkeypatch) -> None:
    refused = socket.create_server(("127.0.0.1", 0))
    refused_address = refused.getsockname()
    refused.close()  # nothing listens there now
    listener = socket.create_server(("127.0.0.1", 0))
    good_address = listener.getsockname()

    async def two_addresses(self, host, port, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", refused_address),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", good_address)]

    async def go() -> socket.socket | None:
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(type(loop), "getaddrinfo", two_addresses)
        return await http_stream._stamping_socket(loop, "service.example", 80)

    try:
        sock = asyncio.run(go())
        assert isinstance(sock, kernel_stamps.ArrivalStampedSocket)
        assert sock.getpeername() == good_address
        sock.close()
    finally:
        listener.close()


def test_an_address_that_refuses_is_a_clear_error() -> None:
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()

    async def go() -> None:
        stream = post_stream(f"http://127.0.0.1:{port}/v1/chat/completions", {}, b"{}", LIMITS, time.perf_counter,
                             pool=ConnectionPool())
        async for _ in stream:
            pass

    with pytest.raises(ChatBackendError, match=f"could not connect to 127.0.0.1:{port}"):
        asyncio.run(go())


@linux_only
def test_a_read_takes_at_most_64_kib_and_leaves_the_rest_for_the_next(stamping_on) -> None:
    """asyncio asks for 256 KiB a read; a buffer that size is mapped and unmapped on every read, so the stamped socket
    reads at most MAX_READ_BYTES. Nothing is lost: the rest comes with the next read, stamped too."""
    payload = bytes(range(256)) * 1024  # 256 KiB
    with stamped_pair() as (client, server_side):
        server_side.sendall(payload)
        server_side.close()
        time.sleep(0.1)
        pieces = []
        while True:
            piece = client.recv(256 * 1024)
            if not piece:
                break
            assert len(piece) <= kernel_stamps.MAX_READ_BYTES and client.arrival_s is not None
            pieces.append(piece)
    assert b"".join(pieces) == payload and len(pieces) >= 4
