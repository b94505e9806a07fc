"""A ground-truth streaming server: OpenAI-compatible chat completions whose timing is known exactly.

Each request gets `max_tokens` content chunks (one token each), the first `--ttft-ms` after the server read the
request and the rest `--gap-ms` apart, then a usage chunk and [DONE]. The server stamps, with time.perf_counter
(CLOCK_MONOTONIC, the same clock in every process on the machine), when each request arrived and when its first
chunk, last chunk and [DONE] were handed to the kernel (as write() is called: the earliest any client could see
them), and every token chunk, for the true inter-token gaps. GET /truth returns those stamps as JSON, keyed by the
`rid:N` tag the client puts in the prompt. The true TTFT is first-chunk minus arrival as the server did it (its own
delay and scheduling slip are reported separately), so a client's error is measured against what really happened,
not against the plan.

Arrival is when the request's last bytes reached the server's kernel (Linux's receive timestamps, SO_TIMESTAMPNS),
not when the server's one Python loop got round to reading them: under hundreds of streams that loop reads a request
milliseconds late, and a truth that started there would leave the server's own delay out of the true TTFT (a client
that stamps its start late would then look closer to it). `read_at` is when the loop read it; `arrival_source` says
which clock gave `arrived` ("kernel", or "read" where the kernel gives no timestamp).

Loopback only: it binds 127.0.0.1.

    python -m bench.truth_server --ttft-ms 50 --gap-ms 20 --port 0 --ready-file /tmp/truth.port
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import socket
import sys
import time
from pathlib import Path

from modelmatch.chat import kernel_stamps

RID_RE = re.compile(rb"rid:(\d+)")
HEADERS = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _sse(payload: dict | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return _chunk(f"data: {text}\n\n".encode())


TOKEN_CHUNK = _sse({"id": "t", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": " x"}}]})
DONE = _sse("[DONE]") + b"0\r\n\r\n"

MAX_REQUEST_BYTES = 1 << 20


async def read_request(sock: socket.socket) -> tuple[bytes, bytes, float, float | None]:
    """Head, body, when the loop read the request's last bytes and when the kernel received them (or None)."""
    loop = asyncio.get_running_loop()
    data = b""
    while True:
        try:
            piece, ancillary, _, _ = sock.recvmsg(kernel_stamps.MAX_READ_BYTES, kernel_stamps.ANCILLARY_BYTES)
        except BlockingIOError:
            readable = loop.create_future()
            loop.add_reader(sock.fileno(), lambda: readable.done() or readable.set_result(None))
            try:
                await readable
            finally:
                loop.remove_reader(sock.fileno())
            continue
        read_at = time.perf_counter()
        if not piece:
            raise ConnectionError("the client closed before its request was complete")
        data += piece
        if len(data) > MAX_REQUEST_BYTES:
            raise ConnectionError("request too large")
        end = data.find(b"\r\n\r\n")
        if end < 0:
            continue
        head = data[:end + 4]
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if len(data) - len(head) >= length:
            return head, data[len(head):len(head) + length], read_at, kernel_stamps.stamp_of(ancillary)


class TruthServer:
    def __init__(self, ttft_ms: float, gap_ms: float):
        self.ttft_s, self.gap_s = ttft_ms / 1000, gap_ms / 1000
        self.records: dict[int, dict] = {}
        self.tasks: set[asyncio.Task] = set()
        self.untagged = 0

    async def handle(self, sock: socket.socket) -> None:
        writer: asyncio.StreamWriter | None = None
        try:
            sock.setblocking(False)
            head, body, read_at, kernel_at = await read_request(sock)
            # The request is read: from here the stream API writes the answer on the same socket.
            _, writer = await asyncio.open_connection(sock=sock)
            if head.startswith(b"GET /truth"):
                data = json.dumps(self.records).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                             b"Connection: close\r\n\r\n%s" % (len(data), data))
                await writer.drain()
                return
            if head.startswith(b"GET /v1/models"):  # peer benchmark clients check the server is up with it
                data = b'{"object":"list","data":[{"id":"truth","object":"model","owned_by":"truth"}]}'
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                             b"Connection: close\r\n\r\n%s" % (len(data), data))
                await writer.drain()
                return
            if head.startswith(b"GET "):  # any other GET (SGLang's client asks /get_server_info after a run)
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
                return
            if head.startswith(b"POST /reset"):
                self.records.clear()
                self.untagged = 0
                writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                await writer.drain()
                return
            await self.stream(body, read_at, kernel_at, writer)
        except (ConnectionError, ValueError):
            pass
        finally:
            if writer is not None:
                writer.close()
            else:
                sock.close()

    async def stream(self, body: bytes, read_at: float, kernel_at: float | None,
                     writer: asyncio.StreamWriter) -> None:
        request = json.loads(body)
        # max_completion_tokens: what vLLM's benchmark client sends on the chat endpoint
        tokens = max(1, int(request.get("max_tokens") or request.get("max_completion_tokens") or 16))
        match = RID_RE.search(body)
        if match:
            rid = int(match.group(1))
        else:  # a peer client's prompt carries no tag: numbered by arrival, -1, -2, ..., every request kept
            self.untagged += 1
            rid = -self.untagged
        writer.write(HEADERS)  # headers at once, body after "prefill", as inference servers do
        sent_at: list[float] = []  # each token chunk handed to the kernel: the true inter-token gaps
        # The truth starts at the kernel's arrival, but the plan still runs from the read: planned from the kernel's
        # stamps, a burst of 500 requests had their tokens fall due at the same instants (a read spreads them by
        # the loop's delay), and every client, peers included, fell further behind (ad hoc, three rounds at 500
        # streams). The load the clients see stays what it was; the read delay shows as slip.
        arrived = read_at if kernel_at is None else kernel_at
        record = {"arrived": arrived, "read_at": read_at, "arrival_source": "read" if kernel_at is None else "kernel",
                  "tokens": tokens, "ttft_nominal_s": self.ttft_s, "gap_nominal_s": self.gap_s, "sent_at": sent_at}
        for i in range(tokens):
            delay = read_at + self.ttft_s + i * self.gap_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            # Stamped as write() is called: on loopback the bytes reach the client's kernel inside that call, so a
            # stamp taken after it came later than a kernel-stamping client's (errors of -0.03 to -0.09 ms at one
            # stream). The truth is the earliest instant any client could see the bytes.
            now = time.perf_counter()
            writer.write(TOKEN_CHUNK)
            if i == 0:
                record["first"] = now
            record["last"] = now
            sent_at.append(now)
        usage = {"prompt_tokens": 8, "completion_tokens": tokens, "total_tokens": 8 + tokens}
        record["done"] = time.perf_counter()
        writer.write(_sse({"id": "t", "object": "chat.completion.chunk", "choices": [], "usage": usage}) + DONE)
        self.records[rid] = record
        await writer.drain()


async def serve(args: argparse.Namespace) -> None:
    truth = TruthServer(args.ttft_ms, args.gap_ms)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    # Set on the listening socket, every accepted socket has it from the start, so bytes that arrive before the
    # loop even accepts the connection are stamped too.
    stamps = kernel_stamps.enable(listener)
    listener.listen(4096)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    if args.ready_file:
        Path(args.ready_file).write_text(str(port))
    print(f"truth server on http://127.0.0.1:{port}/v1 (TTFT {args.ttft_ms:g} ms, gap {args.gap_ms:g} ms; arrival "
          f"from {'the kernel' if stamps else 'the loop'})", file=sys.stderr, flush=True)
    loop = asyncio.get_running_loop()
    with listener:
        while True:
            sock, _ = await loop.sock_accept(listener)
            task = asyncio.create_task(truth.handle(sock))
            truth.tasks.add(task)
            task.add_done_callback(truth.tasks.discard)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.truth_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--gap-ms", type=float, default=20.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", default=None, help="write the port here once listening")
    args = parser.parse_args(argv)
    gc.disable()  # the server's own pauses would show up as slip; it lives for one benchmark
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
