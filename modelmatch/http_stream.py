"""A small HTTP/1.1 streaming client (asyncio + h11) built for measuring, not for convenience.

Why not a general HTTP library: every read is stamped with the clock the moment bytes arrive (timing is the
product), redirects are never followed (an endpoint must not send our key elsewhere), and there are separate
limits for connecting, the first byte, a stall mid-stream, and the total size.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import AsyncIterator, Callable
from urllib.parse import urlparse

import h11

from modelmatch.chat_types import ChatBackendError

READ_SIZE = 65536
ERROR_BODY_LIMIT = 65536


@dataclass(frozen=True)
class Limits:
    connect_timeout_s: float = 10.0
    first_byte_timeout_s: float = 120.0
    stall_timeout_s: float = 60.0
    max_response_bytes: int = 20_000_000


class HttpError(ChatBackendError):
    """A non-2xx answer, with up to 64 KB of its body and, for redirects, the host it pointed to."""

    def __init__(self, status: int, body: bytes, location_host: str | None = None):
        super().__init__(f"HTTP {status}")
        self.status, self.body, self.location_host = status, body, location_host


async def post_stream(url: str, headers: dict[str, str], body: bytes, limits: Limits,
                      clock: Callable[[], float]) -> AsyncIterator[tuple[float, bytes]]:
    """POST body to url and yield (clock reading, body bytes) as they arrive. Raises ChatBackendError (or its
    HttpError subclass for non-2xx answers, with up to 64 KB of the body) on any failure."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ChatBackendError(f"not an http(s) URL: {parsed.scheme}://{parsed.hostname}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    target = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    tls = ssl.create_default_context() if parsed.scheme == "https" else None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parsed.hostname, port, ssl=tls,
                                    server_hostname=parsed.hostname if tls else None),
            timeout=limits.connect_timeout_s)
    except asyncio.TimeoutError as exc:
        raise ChatBackendError(f"could not connect to {parsed.hostname}:{port} within "
                               f"{limits.connect_timeout_s:g} s") from exc
    except OSError as exc:
        raise ChatBackendError(f"could not connect to {parsed.hostname}:{port}: {exc.strerror or exc}") from exc

    conn = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=READ_SIZE * 4)
    host_header = parsed.hostname if parsed.port is None else f"{parsed.hostname}:{parsed.port}"
    request = h11.Request(method="POST", target=target, headers=[
        ("Host", host_header), ("Content-Length", str(len(body))), ("Connection", "close"),
        *headers.items()])
    try:
        writer.write(conn.send(request) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
        await writer.drain()
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
                try:
                    raw = await asyncio.wait_for(reader.read(READ_SIZE), timeout=timeout)
                except asyncio.TimeoutError as exc:
                    what = "no first byte" if first else "the stream stalled: no data"
                    raise ChatBackendError(f"{what} from {parsed.hostname} within {timeout:g} s") from exc
                now = clock()
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
                first = False
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
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), timeout=2)
        except (asyncio.TimeoutError, OSError, ssl.SSLError):
            pass


class SSEParser:
    """Server-sent events: returns each complete event's data field. Events are decoded only once complete, so a
    multi-byte character split across reads decodes correctly; invalid UTF-8 becomes U+FFFD and is counted."""

    def __init__(self) -> None:
        self._buffer = b""
        self.invalid_utf8 = 0

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data.replace(b"\r\n", b"\n")
        events = []
        while b"\n\n" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\n\n", 1)
            text = raw.decode("utf-8", errors="replace")
            if "\ufffd" in text and "\ufffd".encode() not in raw:
                self.invalid_utf8 += 1
            lines = [line[5:].lstrip(" ") if line.startswith("data:") else None for line in text.split("\n")]
            data_lines = [line for line in lines if line is not None]
            if data_lines:
                events.append("\n".join(data_lines))
        return events

    @property
    def pending(self) -> bytes:
        return self._buffer
