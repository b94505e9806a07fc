"""A small HTTP/1.1 streaming client (asyncio + h11) built for measuring, not for convenience.

Why not a general HTTP library: every read is stamped with the clock the moment bytes arrive (timing is the
product), redirects are never followed (an endpoint must not send our key elsewhere), and there are separate
limits for connecting, the first byte, a stall mid-stream, and the total size.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from dataclasses import dataclass
from typing import AsyncIterator, Callable
from urllib.parse import urlparse

import h11

from modelmatch.chat.types import ChatBackendError

READ_SIZE = 65536
ERROR_BODY_LIMIT = 65536


@dataclass(frozen=True)
class Limits:
    connect_timeout_s: float = 10.0
    first_byte_timeout_s: float = 120.0
    stall_timeout_s: float = 60.0
    max_response_bytes: int = 20_000_000
    max_duration_s: float = 900.0  # the whole reply, however steadily it arrives


class HttpError(ChatBackendError):
    """A non-2xx answer, with up to 64 KB of its body and, for redirects, the host it pointed to."""

    def __init__(self, status: int, body: bytes, location_host: str | None = None):
        super().__init__(f"HTTP {status}")
        self.status, self.body, self.location_host = status, body, location_host


class _StampedReads(asyncio.Protocol):
    """The connection's bytes, each read stamped in data_received: the moment the event loop hands them over, before
    any task runs. (Stamping after a StreamReader wakes the reading task adds every other ready task's turn to the
    arrival time: at 500 concurrent streams that was tens of milliseconds; bench/client_accuracy.py measures it.)"""

    HIGH_WATER = 1 << 20  # bytes buffered unread before reading from the socket pauses

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._reads: deque[tuple[float, bytes]] = deque()
        self._buffered = 0
        self._paused = False
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future | None = None
        self._drained: asyncio.Future | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._reads.append((self._clock(), data))
        self._buffered += len(data)
        if self._buffered > self.HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._error = exc
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def sent(self) -> None:
        """Wait until every written byte is in the kernel's hands."""
        if self._drained is not None:
            await self._drained
        if self._error is not None:
            raise ConnectionError(str(self._error))

    async def read(self, timeout_s: float) -> tuple[float, bytes] | None:
        """The next (clock reading, bytes) as it arrived; (now, b"") at the end of the stream; None on timeout."""
        if not self._reads and not self._eof:
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            timer = loop.call_later(timeout_s, self._wake)  # cheaper than asyncio.wait_for on every read
            try:
                await self._waiter
            finally:
                timer.cancel()
                self._waiter = None
        if self._reads:
            at, data = self._reads.popleft()
            self._buffered -= len(data)
            if self._paused and self._buffered < self.HIGH_WATER // 2 and self.transport is not None:
                self._paused = False
                self.transport.resume_reading()
            return at, data
        if self._eof:
            if self._error is not None:
                raise ConnectionError(str(self._error))
            return self._clock(), b""
        return None


async def post_stream(url: str, headers: dict[str, str], body: bytes, limits: Limits,
                      clock: Callable[[], float],
                      on_sent: Callable[[float], None] | None = None) -> AsyncIterator[tuple[float, bytes]]:
    """POST body to url and yield (clock reading, body bytes) as they arrive. Raises ChatBackendError (or its
    HttpError subclass for non-2xx answers, with up to 64 KB of the body) on any failure.

    `on_sent`, if given, is called with the clock reading at which the whole request was in the kernel's hands (the
    connection is set up by then): the "request sent" instant the measurement harness times from."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ChatBackendError(f"not an http(s) URL: {parsed.scheme}://{parsed.hostname}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    target = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    tls = ssl.create_default_context() if parsed.scheme == "https" else None
    loop = asyncio.get_running_loop()
    try:
        transport, stream = await asyncio.wait_for(
            loop.create_connection(lambda: _StampedReads(clock), parsed.hostname, port, ssl=tls,
                                   server_hostname=parsed.hostname if tls else None),
            timeout=limits.connect_timeout_s)
    except asyncio.TimeoutError as exc:
        raise ChatBackendError(f"could not connect to {parsed.hostname}:{port} within "
                               f"{limits.connect_timeout_s:g} s") from exc
    except OSError as exc:
        raise ChatBackendError(f"could not connect to {parsed.hostname}:{port}: {exc.strerror or exc}") from exc

    conn = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=READ_SIZE * 4)
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname  # IPv6 literals keep brackets
    host_header = host if parsed.port is None else f"{host}:{parsed.port}"
    try:
        request = h11.Request(method="POST", target=target, headers=[
            ("Host", host_header), ("Content-Length", str(len(body))), ("Connection", "close"),
            *headers.items()])
    except h11.LocalProtocolError:
        transport.close()
        # h11's message quotes the refused header whole, and that header may be the key: never pass it on.
        names = ", ".join(name for name, value in headers.items() if not _sendable_header_value(value))
        raise ChatBackendError(f"the request was not sent: the {names or 'a'} header holds a character HTTP does "
                               "not allow (a line break, a carriage return or a space at its end: check the API "
                               "key's variable)") from None
    try:
        transport.set_write_buffer_limits(high=0)  # pause_writing while any byte is not yet in the kernel
        payload = conn.send(request) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
        sent_at = clock()  # write() hands the bytes to the kernel at once unless the socket is full
        transport.write(payload)
        if transport.get_write_buffer_size():
            await stream.sent()
            sent_at = clock()
        if on_sent is not None:
            on_sent(sent_at)
        deadline = sent_at + limits.max_duration_s
        # Every limit is wall-clock from an instant, never from the last read: a server dripping header bytes, 1xx
        # responses or chunk extensions (bytes that carry no body) used to restart it with every byte and hold the
        # column until max_duration_s. progress_at = the request, then the last body byte.
        progress_at = sent_at
        received = 0
        first = True
        status: int | None = None
        error_body = bytearray()
        location_host: str | None = None
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                # Servers send headers at once and the body after prefill: "first byte" means first body byte.
                timeout = limits.first_byte_timeout_s if first else limits.stall_timeout_s
                at = clock()
                left_s = min(deadline - at, progress_at + timeout - at)
                got = await stream.read(left_s) if left_s > 0 else None
                if got is None and clock() >= deadline:
                    raise ChatBackendError(f"the reply from {parsed.hostname} took longer than "
                                           f"{limits.max_duration_s:g} s (max_duration_s); stopped reading")
                if got is None:
                    what = "no first byte" if first else "the stream stalled: no data"
                    raise ChatBackendError(f"{what} from {parsed.hostname} within {timeout:g} s")
                now, raw = got
                received += len(raw)
                if received > limits.max_response_bytes:
                    raise ChatBackendError(f"response larger than {limits.max_response_bytes:,} bytes; stopped "
                                           "reading (max_response_bytes)")
                conn.receive_data(raw)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                if 300 <= status < 400:
                    location = dict((k.lower(), v) for k, v in event.headers).get(b"location", b"")
                    location_host = urlparse(location.decode("latin-1")).hostname or None
                continue
            if isinstance(event, h11.Data):
                if status is not None and status >= 300:
                    if len(error_body) < ERROR_BODY_LIMIT:
                        error_body.extend(event.data[: ERROR_BODY_LIMIT - len(error_body)])
                    continue
                if not event.data:
                    continue  # an empty chunk (or one made of extensions only) is no progress
                first = False
                progress_at = now
                yield now, bytes(event.data)
                continue
            if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                if status is not None and status >= 300:
                    raise HttpError(status, bytes(error_body), location_host)
                return
    except h11.RemoteProtocolError as exc:
        raise ChatBackendError(f"the connection to {parsed.hostname} broke mid-response ({exc})") from exc
    except (ConnectionError, OSError) as exc:
        raise ChatBackendError(f"the connection to {parsed.hostname} failed: {exc}") from exc
    finally:
        transport.close()


def _sendable_header_value(value: str) -> bool:
    return value == value.strip() and all(0x20 <= ord(ch) <= 0x7E for ch in value)


class SSEParser:
    """Server-sent events as the WHATWG specification reads them: returns each complete event's data field.

    Lines end in CRLF, LF or a bare CR, wherever the reads happen to split them (a read ending in CR followed by one
    starting with LF is one line end, not two: sse-starlette, behind llama-cpp-python's server and others, sends
    CRLF, and TCP may cut anywhere). A byte-order mark at the start of the stream is dropped, lines starting with
    ':' are comments, several data lines join with LF, and a field name alone is a field with an empty value.
    Lines are decoded only once complete, so a multi-byte character split across reads decodes correctly; invalid
    UTF-8 becomes U+FFFD and is counted once per event."""

    _LINE_END = re.compile(rb"\r\n|\r|\n")
    _BOM = b"\xef\xbb\xbf"

    def __init__(self) -> None:
        self._partial: list[bytes] = []  # the current line's pieces so far (joined once, when the line ends)
        self._skip_lf = False  # the last line ended in a bare CR: an LF starting the next read belongs to it
        self._at_start = True  # still within the stream's first three bytes, where a BOM may sit
        self._data: list[str] = []  # data lines of the event being read
        self._has_data = False
        self._event_invalid = False
        self.invalid_utf8 = 0

    def feed(self, data: bytes) -> list[str]:
        if self._at_start:
            head = b"".join(self._partial) + data
            if len(head) < len(self._BOM) and self._BOM.startswith(head):
                self._partial = [head]  # too short to tell yet
                return []
            self._at_start = False
            self._partial = []
            data = head.removeprefix(self._BOM)
        if self._skip_lf and data:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        events: list[str] = []
        start = 0
        for end in self._LINE_END.finditer(data):
            piece = data[start:end.start()]
            if self._partial:
                self._partial.append(piece)
                line = b"".join(self._partial)
                self._partial = []
            else:
                line = piece
            start = end.end()
            if end.group() == b"\r" and start == len(data):
                self._skip_lf = True  # the LF of a CRLF may be the next read's first byte
            event = self._line(line)
            if event is not None:
                events.append(event)
        if start < len(data):
            self._partial.append(data[start:])
        return events

    def _line(self, raw: bytes) -> str | None:
        if not raw:  # a blank line ends the event
            if not self._has_data:
                self._event_invalid = False
                return None
            text = "\n".join(self._data)
            if self._event_invalid:
                self.invalid_utf8 += 1
            self._data, self._has_data, self._event_invalid = [], False, False
            return text
        if raw[:1] == b":":
            return None  # a comment (servers send them as keep-alives)
        name, colon, value = raw.partition(b":")
        if name != b"data":
            return None  # id, event, retry and unknown fields carry nothing the chat client uses
        if value[:1] == b" " and colon:
            value = value[1:]
        text = value.decode("utf-8", errors="replace")
        if "\ufffd" in text and "\ufffd".encode() not in value:
            self._event_invalid = True
        self._data.append(text)
        self._has_data = True
        return None

    @property
    def pending(self) -> bytes:
        """Bytes of an event not yet complete (its finished lines already parsed, plus the line being read)."""
        return b"".join(self._partial)
