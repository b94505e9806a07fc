"""bench.truth_server's arrival stamp: when the request reached the server's kernel, not when its loop read it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time

import pytest

from bench import truth_server
from bench.client_accuracy import fetch_truth, start_server
from modelmatch.chat import kernel_stamps

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kernel receive stamps are Linux's")


def _request(rid: int, tokens: int = 2) -> bytes:
    body = json.dumps({"max_tokens": tokens, "messages": [{"role": "user", "content": f"rid:{rid} hi"}]}).encode()
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


def _read_all(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    data = b""
    while piece := sock.recv(65536):
        data += piece
    return data


@linux_only
def test_true_ttft_counts_the_time_the_server_took_to_read_the_request_regression() -> None:
    # The server used to stamp arrival when its one Python loop had read the request: under load that is
    # milliseconds after the bytes came in, and the true TTFT left that delay out. Stop the server, send, resume.
    proc, port = start_server(5.0, 1.0)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                sent = time.perf_counter()
                client.sendall(_request(7))
                time.sleep(0.2)
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            reply = _read_all(client)
        assert reply.startswith(b"HTTP/1.1 200 OK") and reply.count(b"data: ") >= 3
        record = fetch_truth(port)[7]
        assert record["arrival_source"] == "kernel"
        assert 0 <= record["arrived"] - sent < 0.05  # in the kernel at once, the server stopped or not
        assert record["read_at"] - sent >= 0.19  # the loop read it only after it was let go on
        assert record["first"] - record["arrived"] >= 0.19  # so the true TTFT holds the server's delay
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@linux_only
def test_a_request_in_two_pieces_is_stamped_when_its_last_bytes_arrived() -> None:
    async def go() -> tuple[bytes, bytes, float, float | None, float]:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        assert kernel_stamps.enable(listener)
        listener.listen()
        client = socket.create_connection(listener.getsockname())
        server_side, _ = listener.accept()
        server_side.setblocking(False)
        request = _request(3)
        client.sendall(request[:40])
        reading = asyncio.ensure_future(truth_server.read_request(server_side))
        await asyncio.sleep(0.05)
        assert not reading.done()  # the head is not complete: still waiting
        last_sent = time.perf_counter()
        client.sendall(request[40:])
        head, body, read_at, kernel_at = await reading
        for s in (client, server_side, listener):
            s.close()
        return head, body, read_at, kernel_at, last_sent

    head, body, read_at, kernel_at, last_sent = asyncio.run(go())
    assert head.startswith(b"POST /v1/chat/completions") and head.endswith(b"\r\n\r\n")
    assert json.loads(body)["messages"][0]["content"] == "rid:3 hi"
    assert kernel_at is not None and 0 <= kernel_at - last_sent < 0.02
    assert read_at >= kernel_at
