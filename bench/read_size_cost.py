"""What one small read costs by the size of the buffer asked for: why the measuring client's stamped socket reads at
most 64 KiB (modelmatch.chat.kernel_stamps.MAX_READ_BYTES) where asyncio's transport asks for 256 KiB.

A TCP loopback pair; each sample sends one token-sized chunk (120 bytes) and reads it back with recvmsg and the
kernel's stamp, as the client does, asking for SIZE bytes. Sizes interleaved in rounds; prints the median per read
and its ratio to the 64 KiB read.

    python -m bench.read_size_cost [--reads 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from modelmatch.chat import kernel_stamps  # noqa: E402

SIZES = (4096, 16384, 65536, 131072, 262144)
CHUNK = b"x" * 120


def per_read_us(sender: socket.socket, reader: socket.socket, size: int, reads: int) -> float:
    started = time.perf_counter()
    for _ in range(reads):
        sender.send(CHUNK)
        _, ancillary, _, _ = reader.recvmsg(size, kernel_stamps.ANCILLARY_BYTES)
        kernel_stamps.stamp_of(ancillary)
    return (time.perf_counter() - started) / reads * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=20000, help="reads per sample (default 20000)")
    parser.add_argument("--rounds", type=int, default=5, help="samples per size, interleaved (default 5)")
    args = parser.parse_args(argv)
    listener = socket.create_server(("127.0.0.1", 0))
    reader = socket.create_connection(listener.getsockname())
    sender, _ = listener.accept()
    stamped = kernel_stamps.enable(reader)
    samples: dict[int, list[float]] = {size: [] for size in SIZES}
    try:
        for _ in range(args.rounds):
            for size in SIZES:
                samples[size].append(per_read_us(sender, reader, size, args.reads))
    finally:
        for sock in (sender, reader, listener):
            sock.close()
    base = statistics.median(samples[kernel_stamps.MAX_READ_BYTES])
    print(f"send + recvmsg of a {len(CHUNK)}-byte chunk, kernel stamps {'on' if stamped else 'unavailable'}; "
          f"{args.rounds} interleaved rounds of {args.reads} reads; medians")
    for size in SIZES:
        value = statistics.median(samples[size])
        print(f"{size // 1024:5d} KiB asked  {value:7.2f} us a read  {value / base:5.2f}x the 64 KiB read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
