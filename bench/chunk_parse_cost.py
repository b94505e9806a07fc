"""CPU cost of the timing client's per-chunk path: h11's body reader against http_stream.ChunkedDecoder, and the
SSE parser after either, on the bytes bench.truth_server sends (one token per chunk, each chunk its own read, as
at low load; and eight chunks per read, as when a busy loop lets the kernel coalesce them). Pure CPU, no network:
the ratio is what the loop saves per chunk whatever else runs on the machine.

    python -m bench.chunk_parse_cost                 # 200,000 chunks per case
    python -m bench.chunk_parse_cost --chunks 50000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import h11  # noqa: E402

from bench.truth_server import HEADERS, TOKEN_CHUNK  # noqa: E402
from modelmatch.chat.http_stream import ChunkedDecoder, SSEParser  # noqa: E402


def _h11_after_head() -> h11.Connection:
    conn = h11.Connection(our_role=h11.CLIENT)
    conn.send(h11.Request(method="POST", target="/", headers=[("Host", "x"), ("Content-Length", "0")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(HEADERS.replace(b"Connection: close\r\n", b""))
    assert isinstance(conn.next_event(), h11.Response)
    return conn


def h11_body(reads: list[bytes]) -> int:
    conn, out = _h11_after_head(), 0
    for raw in reads:
        conn.receive_data(raw)
        while (event := conn.next_event()) is not h11.NEED_DATA:
            out += len(event.data)
    return out


def decoder_body(reads: list[bytes]) -> int:
    decoder, out = ChunkedDecoder(), 0
    for raw in reads:
        out += len(decoder.feed(raw))
    return out


def h11_body_sse(reads: list[bytes]) -> int:
    conn, sse, events = _h11_after_head(), SSEParser(), 0
    for raw in reads:
        conn.receive_data(raw)
        while (event := conn.next_event()) is not h11.NEED_DATA:
            events += len(sse.feed(bytes(event.data)))  # post_stream's h11 path yields bytes(event.data)
    return events


def decoder_body_sse(reads: list[bytes]) -> int:
    decoder, sse, events = ChunkedDecoder(), SSEParser(), 0
    for raw in reads:
        events += len(sse.feed(decoder.feed(raw)))
    return events


def best_of(fn, reads: list[bytes], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(reads)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chunk_parse_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5, help="best of (default 5)")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(f"{args.chunks:,} token chunks of {len(TOKEN_CHUNK)} bytes; best of {args.repeats}; load average "
          f"{load[0]:.2f} on {os.cpu_count()} cores\n")
    print(f"{'chunks per read':>15} | {'path':>18} | {'us per chunk':>12} | {'vs h11':>7}")
    print("-" * 62)
    for per_read in (1, 8):
        reads = [TOKEN_CHUNK * per_read] * (args.chunks // per_read)
        for pair in ((h11_body, decoder_body), (h11_body_sse, decoder_body_sse)):
            base = None
            for fn in pair:
                seconds = best_of(fn, reads, args.repeats)
                base = base or seconds
                print(f"{per_read:>15} | {fn.__name__:>18} | {seconds / args.chunks * 1e6:>12.2f} | "
                      f"{seconds / base:>6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
