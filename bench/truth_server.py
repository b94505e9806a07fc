"""A ground-truth streaming server: OpenAI-compatible chat completions whose timing is known exactly.

Each request gets `max_tokens` content chunks (one token each), the first `--ttft-ms` after the request arrived and
the rest `--gap-ms` apart, then a usage chunk and [DONE]. The server stamps, with time.perf_counter (CLOCK_MONOTONIC,
the same clock in every process on the machine), when each request arrived and when its first chunk, last chunk and
[DONE] were handed to the kernel (and every token chunk, for the true inter-token gaps); GET /truth returns those stamps as JSON, keyed by the `rid:N` tag the client puts
in the prompt. The true TTFT is first-chunk minus arrival as the server did it (its own scheduling slip is reported
separately), so a client's error is measured against what really happened, not against the plan.

Loopback only: it binds 127.0.0.1.

    python -m bench.truth_server --ttft-ms 50 --gap-ms 20 --port 0 --ready-file /tmp/truth.port
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import sys
import time
from pathlib import Path

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


class TruthServer:
    def __init__(self, ttft_ms: float, gap_ms: float):
        self.ttft_s, self.gap_s = ttft_ms / 1000, gap_ms / 1000
        self.records: dict[int, dict] = {}
        self.tasks: set[asyncio.Task] = set()
        self.untagged = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length) if length else b""
            arrived = time.perf_counter()
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
            await self.stream(body, arrived, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def stream(self, body: bytes, arrived: float, writer: asyncio.StreamWriter) -> None:
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
        record = {"arrived": arrived, "tokens": tokens, "ttft_nominal_s": self.ttft_s, "gap_nominal_s": self.gap_s,
                  "sent_at": sent_at}
        for i in range(tokens):
            delay = arrived + self.ttft_s + i * self.gap_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(TOKEN_CHUNK)
            now = time.perf_counter()
            if i == 0:
                record["first"] = now
            record["last"] = now
            sent_at.append(now)
        usage = {"prompt_tokens": 8, "completion_tokens": tokens, "total_tokens": 8 + tokens}
        writer.write(_sse({"id": "t", "object": "chat.completion.chunk", "choices": [], "usage": usage}) + DONE)
        record["done"] = time.perf_counter()
        self.records[rid] = record
        await writer.drain()


async def serve(args: argparse.Namespace) -> None:
    truth = TruthServer(args.ttft_ms, args.gap_ms)
    server = await asyncio.start_server(truth.handle, "127.0.0.1", args.port, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    if args.ready_file:
        Path(args.ready_file).write_text(str(port))
    print(f"truth server on http://127.0.0.1:{port}/v1 (TTFT {args.ttft_ms:g} ms, gap {args.gap_ms:g} ms)",
          file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


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
