"""When received bytes reached this machine's kernel, not when a Python loop got round to reading them.

Linux stamps each received packet (SO_TIMESTAMPNS, socket(7)) and hands the stamp back with recvmsg. A reader that
stamps bytes when its event loop reads them adds the loop's backlog to every arrival: at hundreds of concurrent
streams on two cores that backlog is milliseconds, and it lands unevenly on inter-token gaps and on TTFT. The
kernel's stamp does not move with the loop.

Stamps are in CLOCK_REALTIME; they are moved onto the time.perf_counter scale by the two clocks' difference read at
once, at each read (a stamp is at most the loop's backlog old, so a wall-clock step between the packet and the read
is the only error). Off Linux, or where the kernel gives no stamp, there is none and callers use their own clock.
"""

from __future__ import annotations

import socket
import struct
import sys
import time

# Python's socket module does not name it; the control message recvmsg returns has the same number.
SO_TIMESTAMPNS = 35
SUPPORTED = sys.platform.startswith("linux")  # where the kernel stamps received bytes and says so to recvmsg
_STAMP = struct.Struct("qq")  # struct timespec: seconds, nanoseconds
ANCILLARY_BYTES = socket.CMSG_SPACE(_STAMP.size)


def enable(sock: socket.socket) -> bool:
    """Ask the kernel to stamp the bytes this socket receives (on a listening socket: every socket it accepts, from
    the first byte). False where it cannot."""
    if not SUPPORTED:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def stamp_of(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    """The kernel's receive time of the bytes a recvmsg returned, on the time.perf_counter scale, or None. For TCP it
    is the stamp of the newest packet the read took bytes from."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _STAMP.size:
            seconds, nanoseconds = _STAMP.unpack_from(data)
            wall_minus_monotonic_ns = time.time_ns() - time.perf_counter_ns()
            return (seconds * 1_000_000_000 + nanoseconds - wall_minus_monotonic_ns) / 1e9
    return None


# asyncio's socket transport asks for 256 KiB a read. A buffer that size is past glibc's mmap threshold, so every
# read mapped and unmapped it: 2.7x the time of a small read at 64 KiB (bench/read_size_cost.py), and a measuring
# client at 500 streams makes some 25,000 reads a second.
MAX_READ_BYTES = 65536


class ArrivalStampedSocket(socket.socket):
    """A socket whose recv / recv_into also keep the kernel's stamp of what they returned (`arrival_s`, on the
    time.perf_counter scale; None when the read carried none). asyncio's transports read through these two methods
    and hand the bytes to their protocol in the same call, so a protocol's data_received can read the stamp of the
    bytes it was just given. recv reads at most MAX_READ_BYTES (the rest waits for the next read)."""

    arrival_s: float | None = None

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data, ancillary, _, _ = self.recvmsg(min(bufsize, MAX_READ_BYTES), ANCILLARY_BYTES, flags)
        self.arrival_s = stamp_of(ancillary) if ancillary else None
        return data

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:  # TLS transports read this way
        with memoryview(buffer) as whole:  # released at once: a bytearray with a live view cannot be resized
            count, ancillary, _, _ = self.recvmsg_into([whole[:nbytes] if nbytes else whole], ANCILLARY_BYTES, flags)
        self.arrival_s = stamp_of(ancillary) if ancillary else None
        return count
