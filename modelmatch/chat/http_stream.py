"""A small HTTP/1.1 streaming client (asyncio + h11) built for measuring, not for convenience.

Why not a general HTTP library: every read is stamped with the moment its bytes arrived (timing is the product):
on Linux, with the clock time.perf_counter, when they reached the kernel (kernel_stamps), else when the event loop
handed them over; bytes read together carry the stamp of the newest. Redirects are never followed (an endpoint
must not send our key elsewhere), and there are separate limits for connecting, the first byte, a stall
mid-stream, and the total size.

What a deployment needs besides: connections kept alive between requests to the same host (reused only after
their response was read to the end), and the HTTP_PROXY / HTTPS_PROXY / NO_PROXY variables (plain HTTP through the
proxy in absolute form, HTTPS through a CONNECT tunnel with TLS verified against the real host).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import re
import socket
import ssl
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable, Mapping
from urllib.parse import unquote, urlparse

import h11

from modelmatch.chat import kernel_stamps
from modelmatch.chat.types import ChatBackendError

READ_SIZE = kernel_stamps.MAX_READ_BYTES  # the most one stamped read takes; h11's event limit is sized by it
ERROR_BODY_LIMIT = 65536
# A 2xx chunked body is decoded by ChunkedDecoder instead of h11 (the head is always h11's). False restores h11 for
# the body too: bench/client_accuracy.py races the two.
CHUNKED_FAST_PATH = True


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
    """The connection's bytes, each read stamped in data_received: with the kernel's receive stamp where the socket
    keeps one (kernel_stamps; the clock is then time.perf_counter), else the moment the event loop hands them over,
    before any task runs. (Stamping after a StreamReader wakes the reading task adds every other ready task's turn to
    the arrival time: at 500 concurrent streams that was tens of milliseconds; the loop's own backlog, which the
    kernel's stamp leaves out, was still 0.1-0.6 ms at the median gap; bench/client_accuracy.py measures both.)"""

    HIGH_WATER = 1 << 20  # bytes buffered unread before reading from the socket pauses

    def __init__(self, clock: Callable[[], float], sock: kernel_stamps.ArrivalStampedSocket | None = None):
        self._clock = clock
        self._sock = sock
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
        # The transport read `data` from the socket in this same call: the socket's stamp is these bytes'.
        at = self._sock.arrival_s if self._sock is not None else None
        self._reads.append((self._clock() if at is None else at, data))
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


class ChunkedError(ChatBackendError):
    """A body that breaks HTTP/1.1 chunked framing (RFC 9112 section 7.1)."""


class ChunkedDecoder:
    """Incremental decoder of a chunked body: feed() each read's bytes, get back the body bytes they complete.

    Why not h11 for the body: h11 yields one event per chunk through a pure-Python reader (a quarter of the event
    loop's time at 500 streams, where every token is its own chunk). This one returns the payload of a whole read at
    once (one bytes object, usually a single slice), so the consumer sees one (stamp, bytes) per read, as the
    read's stamp demands anyway. Strict where h11 is: hex sizes only (no sign, no 0x), CRLF after each chunk, size
    lines and trailer lines of bounded length; chunk extensions and trailer fields are read and dropped."""

    MAX_LINE = 4096  # a size line or a trailer line; h11 bounds them too
    MAX_TRAILER = 65536

    __slots__ = ("_pending", "_left", "_state", "_trailer_bytes", "done", "leftover")

    _SIZE, _DATA, _CRLF, _TRAILER = 0, 1, 2, 3
    _HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")

    def __init__(self) -> None:
        self._pending = b""  # an incomplete size line, chunk end or trailer line from the last read
        self._left = 0  # body bytes still to come in the current chunk
        self._state = self._SIZE
        self._trailer_bytes = 0
        self.done = False  # the last chunk and the trailer section were read
        self.leftover = b""  # bytes after the end of the body (a well-behaved server sends none)

    def feed(self, data: bytes) -> bytes:
        if self.done:
            self.leftover += data
            return b""
        if self._pending:
            data = self._pending + data
            self._pending = b""
        pieces: list[bytes] = []
        pos, end = 0, len(data)
        while pos < end:
            state = self._state
            if state == self._DATA:
                take = min(self._left, end - pos)
                pieces.append(data[pos:pos + take] if take < end or pos else data)
                pos += take
                self._left -= take
                if not self._left:
                    self._state = self._CRLF
            elif state == self._CRLF:
                if end - pos < 2:
                    self._pending = data[pos:]
                    break
                if data[pos:pos + 2] != b"\r\n":
                    raise ChunkedError("a chunk did not end in CRLF")
                pos += 2
                self._state = self._SIZE
            else:
                line_end = data.find(b"\r\n", pos)
                if line_end < 0:
                    if end - pos > self.MAX_LINE:
                        raise ChunkedError("a chunk-size or trailer line is too long")
                    self._pending = data[pos:]
                    break
                if line_end - pos > self.MAX_LINE:
                    raise ChunkedError("a chunk-size or trailer line is too long")
                line = data[pos:line_end]
                pos = line_end + 2
                if state == self._TRAILER:
                    if not line:
                        self.done = True
                        self.leftover = data[pos:]
                        break
                    self._trailer_bytes += len(line) + 2
                    if self._trailer_bytes > self.MAX_TRAILER:
                        raise ChunkedError("the trailer section is too long")
                    continue
                size_text = line.split(b";", 1)[0].strip(b" \t")
                if not self._HEX.fullmatch(size_text):
                    raise ChunkedError("a chunk size is not a hexadecimal number")
                size = int(size_text, 16)
                if size:
                    self._left = size
                    self._state = self._DATA
                else:
                    self._state = self._TRAILER
        if not pieces:
            return b""
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


# ---------------------------------------------------------------------------------------------------------------
# Proxies from the environment, as curl and Python's urllib read them.

@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy from HTTP_PROXY / HTTPS_PROXY. `authorization` (from credentials in the proxy URL) goes only
    to the proxy, as Proxy-Authorization, and is left out of repr so it never reaches a message or a log."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """host:port for messages (never the credentials)."""
        return f"{_bracketed(self.host)}:{self.port}"


class ProxyConfigError(ChatBackendError):
    """A proxy variable this client cannot use; the message names the variable, never its value."""


def _env(environ: Mapping[str, str], name: str) -> str | None:
    # The lower-case name wins, as in curl and urllib. Under CGI (REQUEST_METHOD set) an upper-case HTTP_PROXY can
    # come from a request's "Proxy:" header ("httpoxy"), so it is ignored there, as urllib does.
    value = environ.get(name.lower())
    if value is None and not (name == "HTTP_PROXY" and "REQUEST_METHOD" in environ):
        value = environ.get(name)
    return value.strip() if value and value.strip() else None


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _parse_proxy(value: str, variable: str) -> Proxy:
    parsed = urlparse(value if "://" in value else f"http://{value}")
    if parsed.scheme != "http":
        raise ProxyConfigError(f"{variable} names a {parsed.scheme}:// proxy; this client speaks to HTTP proxies "
                               "only (http://host:port)")
    try:
        port = parsed.port or 80  # the URL's own default, as httpx and requests read a proxy URL
    except ValueError:
        raise ProxyConfigError(f"{variable} has a port that is not a number from 1 to 65535") from None
    if not parsed.hostname:
        raise ProxyConfigError(f"{variable} names no proxy host")
    authorization = None
    if parsed.username is not None:
        pair = f"{unquote(parsed.username)}:{unquote(parsed.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    return Proxy(parsed.hostname, port, authorization)


def _no_proxy_entry_matches(entry: str, host: str, port: int) -> bool:
    entry_port: int | None = None
    if entry.startswith("["):  # [v6] or [v6]:port
        inside, _, rest = entry[1:].partition("]")
        entry = inside
        if rest.startswith(":") and rest[1:].isdigit():
            entry_port = int(rest[1:])
    elif entry.count(":") == 1:  # host:port (a bare IPv6 literal has several colons)
        name, _, text = entry.partition(":")
        if text.isdigit():
            entry, entry_port = name, int(text)
    if entry_port is not None and entry_port != port:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        try:
            return address in ipaddress.ip_network(entry, strict=False)  # an address or a CIDR block
        except ValueError:
            return False
    entry = entry.removeprefix("*").removeprefix(".").rstrip(".")
    return bool(entry) and (host == entry or host.endswith("." + entry))


def bypasses_proxy(host: str, port: int, no_proxy: str | None) -> bool:
    """Whether NO_PROXY sends `host` (a name or an IP literal, without brackets) direct: `*`; a host name, which
    also covers its subdomains (`example.com`, `.example.com` and `*.example.com` alike); an IP address or a CIDR
    block, IPv6 with or without brackets; any of them with `:port` to bypass that port only."""
    if not no_proxy:
        return False
    host = host.lower().rstrip(".")
    for raw in re.split(r"[,\s]+", no_proxy.lower()):
        if raw == "*":
            return True
        if raw and _no_proxy_entry_matches(raw, host, port):
            return True
    return False


def proxy_for(scheme: str, host: str, port: int, environ: Mapping[str, str] | None = None) -> Proxy | None:
    """The proxy a request to scheme://host:port goes through: HTTPS_PROXY for https, HTTP_PROXY for http, None
    when the variable is unset or NO_PROXY names the host. Raises ProxyConfigError for a proxy it cannot use."""
    environ = os.environ if environ is None else environ
    variable = "HTTPS_PROXY" if scheme == "https" else "HTTP_PROXY"
    value = _env(environ, variable)
    if value is None or bypasses_proxy(host, port, _env(environ, "NO_PROXY")):
        return None
    return _parse_proxy(value, variable)


# ---------------------------------------------------------------------------------------------------------------
# Connections, kept open between requests to the same host.

def _fresh_h11() -> h11.Connection:
    return h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=READ_SIZE * 4)


class _Connection:
    """One TCP (and TLS) connection and its h11 state machine."""

    def __init__(self, key: tuple, transport: asyncio.Transport, reads: _StampedReads):
        self.key, self.transport, self.reads = key, transport, reads
        self.h11 = _fresh_h11()
        self.reused = False
        self.pooled = False  # parked in the pool (or handed back to it): not to be closed by the request
        self.idle_since = 0.0

    def idle_and_open(self) -> bool:
        """Nothing arrived since the last response ended and the server has not closed it."""
        reads = self.reads
        return not (self.transport.is_closing() or reads._eof or reads._reads)

    def close(self) -> None:
        self.transport.close()


class ConnectionPool:
    """Idle connections of one event loop, by (scheme, host, port, proxy). A connection comes back only once its
    response was read to the end (h11 says both sides are DONE); one that has seen bytes or an end of stream since,
    or idled longer than keepalive_expiry_s, is closed instead of reused. `opened` counts connections set up."""

    def __init__(self, max_idle_per_host: int = 8, keepalive_expiry_s: float = 5.0):
        # 5 s: httpx's default keep-alive expiry, and the idle timeout of uvicorn, the server under vLLM and SGLang.
        self.max_idle_per_host = max_idle_per_host
        self.keepalive_expiry_s = keepalive_expiry_s
        self._idle: dict[tuple, deque[_Connection]] = {}
        self.opened = 0

    def take(self, key: tuple) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to have been closed by the server
            conn.pooled = False
            if conn.idle_and_open() and now - conn.idle_since < self.keepalive_expiry_s:
                conn.reused = True
                return conn
            conn.close()
        return None

    def put(self, conn: _Connection) -> None:
        """Park a connection whose response was read to the end (h11 says DONE on both sides, or the chunked fast
        path ended the body and handed it a fresh h11 state); close any other."""
        state = conn.h11
        if state.our_state is h11.DONE and state.their_state is h11.DONE:
            state.start_next_cycle()
        if state.our_state is not h11.IDLE or state.their_state is not h11.IDLE or not conn.idle_and_open():
            conn.close()
            return
        conn.pooled = True
        conn.idle_since = time.monotonic()
        idle = self._idle.setdefault(conn.key, deque())
        idle.append(conn)
        while len(idle) > self.max_idle_per_host:
            idle.popleft().close()

    def close(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()


_POOLS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ConnectionPool]" = weakref.WeakKeyDictionary()


def loop_pool() -> ConnectionPool:
    """The running event loop's pool (transports belong to one loop). Its idle connections are closed when
    asyncio.run finishes the loop: the pool parks an async generator there, which asyncio.run closes at the end."""
    loop = asyncio.get_running_loop()
    pool = _POOLS.get(loop)
    if pool is None:
        pool = _POOLS[loop] = ConnectionPool()

        async def closer() -> AsyncIterator[None]:
            try:
                yield
            finally:
                pool.close()

        parked = closer()

        async def park() -> None:
            await parked.__anext__()  # started, so loop.shutdown_asyncgens() will aclose() it

        loop.create_task(park())
        pool._parked = parked  # type: ignore[attr-defined]  # keep it alive as long as the pool
    return pool


async def _open_connection(key: tuple, scheme: str, host: str, port: int, proxy: Proxy | None,
                           limits: Limits, clock: Callable[[], float], pool: ConnectionPool) -> _Connection:
    loop = asyncio.get_running_loop()
    tls = ssl.create_default_context() if scheme == "https" else None
    where = f"the proxy {proxy.label}" if proxy else f"{host}:{port}"

    async def connect() -> _Connection:
        to_host, to_port = (host, port) if proxy is None else (proxy.host, proxy.port)
        stamped = clock is time.perf_counter and kernel_stamps.SUPPORTED  # else the name is resolved once, by asyncio
        sock = await _stamping_socket(loop, to_host, to_port) if stamped else None
        where_to = {"sock": sock} if sock is not None else {"host": to_host, "port": to_port}
        try:
            if proxy is None:
                transport, reads = await loop.create_connection(lambda: _StampedReads(clock, sock), ssl=tls,
                                                                server_hostname=host if tls else None, **where_to)
                return _Connection(key, transport, reads)
            transport, reads = await loop.create_connection(lambda: _StampedReads(clock, sock), **where_to)
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        conn = _Connection(key, transport, reads)
        if tls is None:
            return conn  # plain HTTP goes to the proxy in absolute form
        try:
            await _tunnel(conn, host, port, proxy)
            # TLS inside the tunnel, verified against the real host (never the proxy).
            tls_transport = await loop.start_tls(transport, reads, tls, server_hostname=host)
        except BaseException:
            transport.close()
            raise
        reads.transport = tls_transport  # start_tls hands the protocol a new transport without telling it
        conn.transport = tls_transport
        return conn

    try:
        conn = await asyncio.wait_for(connect(), timeout=limits.connect_timeout_s)
    except asyncio.TimeoutError as exc:
        raise ChatBackendError(f"could not connect to {where} within {limits.connect_timeout_s:g} s") from exc
    except ssl.SSLError as exc:
        raise ChatBackendError(f"TLS with {host} failed: {exc.reason or exc}") from exc
    except OSError as exc:
        raise ChatBackendError(f"could not connect to {where}: {exc.strerror or exc}") from exc
    conn.transport.set_write_buffer_limits(high=0)  # pause_writing while any byte is not yet in the kernel
    pool.opened += 1
    return conn


async def _stamping_socket(loop: asyncio.AbstractEventLoop, host: str, port: int
                          ) -> kernel_stamps.ArrivalStampedSocket | None:
    """A socket connected to host:port that keeps the kernel's receive stamps, trying each address the name resolves
    to in turn as asyncio's create_connection does; None where the kernel keeps no stamps (the connection is then
    opened the usual way and stamped by the clock)."""
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"{host} resolved to no address")
    errors: list[OSError] = []
    for family, kind, proto, _, address in infos:
        sock = kernel_stamps.ArrivalStampedSocket(family, kind, proto)
        try:
            if not kernel_stamps.enable(sock):
                sock.close()
                return None
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
            return sock
        except OSError as exc:
            sock.close()
            errors.append(exc)
        except BaseException:
            sock.close()
            raise
    if len({str(exc) for exc in errors}) == 1:
        raise errors[0]
    raise OSError(f"Multiple exceptions: {', '.join(str(exc) for exc in errors)}")


async def _tunnel(conn: _Connection, host: str, port: int, proxy: Proxy) -> None:
    """CONNECT host:port through the proxy; returns once the proxy answered 2xx."""
    authority = f"{_bracketed(host)}:{port}"
    headers = [("Host", authority)]
    if proxy.authorization:
        headers.append(("Proxy-Authorization", proxy.authorization))
    tunnel = h11.Connection(our_role=h11.CLIENT)
    conn.transport.write(tunnel.send(h11.Request(method="CONNECT", target=authority, headers=headers))
                         + tunnel.send(h11.EndOfMessage()))
    received = 0
    while True:
        event = tunnel.next_event()
        if event is h11.NEED_DATA:
            got = await conn.reads.read(3600.0)  # bounded by the caller's connect timeout
            if got is None or not got[1]:
                raise ChatBackendError(f"the proxy {proxy.label} closed the connection during CONNECT")
            received += len(got[1])
            if received > ERROR_BODY_LIMIT:
                raise ChatBackendError(f"the proxy {proxy.label} sent an over-long answer to CONNECT")
            tunnel.receive_data(got[1])
            continue
        if isinstance(event, h11.Response):
            if not 200 <= event.status_code < 300:
                hint = " (proxy authentication required or refused)" if event.status_code == 407 else ""
                raise ChatBackendError(f"the proxy {proxy.label} refused the tunnel to {authority}: HTTP "
                                      f"{event.status_code}{hint}")
            if tunnel.trailing_data[0] or conn.reads._reads:
                raise ChatBackendError(f"the proxy {proxy.label} sent bytes before the TLS handshake")
            return
        if isinstance(event, h11.InformationalResponse):
            continue
        raise ChatBackendError(f"the proxy {proxy.label} answered CONNECT unexpectedly")


# ---------------------------------------------------------------------------------------------------------------
# One request.

DRAIN_S = 0.5  # after a complete reply: how long to wait for the rest of the HTTP response to keep the connection


async def finish_stream(stream: AsyncIterator[tuple[float, bytes]], drain_s: float = 0.0,
                        response: Mapping[str, object] | None = None) -> None:
    """Close a post_stream. With drain_s > 0 (the caller saw the reply complete, e.g. SSE [DONE]) the rest of the
    HTTP response is read first, for up to drain_s, so that its connection goes back to the pool; a response that
    does not end in time, or drain_s = 0 (an error, a consumer that stopped early), closes the connection. No
    drain when `response` (post_stream's) says the server will close the connection anyway: waiting would only
    cost the event loop a task per request."""
    if drain_s > 0 and (response is None or response.get("keep_alive", True)):
        async def rest() -> None:
            async for _ in stream:
                pass
        try:
            await asyncio.wait_for(rest(), drain_s)
        except (asyncio.TimeoutError, ChatBackendError):
            pass
    await stream.aclose()  # type: ignore[attr-defined]


def _no_progress(host: str, limits: Limits, first: bool, timeout_s: float, past_deadline: bool) -> ChatBackendError:
    """Why a read brought nothing in time (both body paths): the whole reply's limit, or the first byte's / the
    stall's."""
    if past_deadline:
        return ChatBackendError(f"the reply from {host} took longer than {limits.max_duration_s:g} s "
                                "(max_duration_s); stopped reading")
    what = "no first byte" if first else "the stream stalled: no data"
    return ChatBackendError(f"{what} from {host} within {timeout_s:g} s")


def _too_large(limits: Limits) -> ChatBackendError:
    return ChatBackendError(f"response larger than {limits.max_response_bytes:,} bytes; stopped reading "
                            "(max_response_bytes)")


class _StaleConnection(Exception):
    """A reused connection ended before any byte of the answer: the server closed it while it was idle."""


async def post_stream(url: str, headers: dict[str, str], body: bytes, limits: Limits,
                      clock: Callable[[], float], on_sent: Callable[[float], None] | None = None, *,
                      pool: ConnectionPool | None = None, environ: Mapping[str, str] | None = None,
                      response: dict[str, object] | None = None) -> AsyncIterator[tuple[float, bytes]]:
    """POST body to url and yield (clock reading, body bytes) as they arrive. Raises ChatBackendError (or its
    HttpError subclass for non-2xx answers, with up to 64 KB of the body) on any failure. Close it with
    finish_stream (or aclose()).

    `on_sent`, if given, is called once, when the answer starts arriving, with the clock reading at which the whole
    request was in the kernel's hands (the connection set up by then): the "request sent" instant the measurement
    harness times from. Connections are kept alive in `pool` (the running loop's unless given); HTTP_PROXY,
    HTTPS_PROXY and NO_PROXY are read from `environ` (os.environ unless given) for each request. `response`, if
    given, gets "keep_alive": False when the answer's head says the server will close the connection.

    One generator, no layers: every body chunk passes through here on its way to the stamps' consumer, and each
    extra async layer costs the event loop time per chunk at hundreds of concurrent streams."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ChatBackendError(f"not an http(s) URL: {parsed.scheme}://{parsed.hostname}")
    scheme, host = parsed.scheme, parsed.hostname
    port = parsed.port or (443 if scheme == "https" else 80)
    target = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    host_header = _bracketed(host) if parsed.port is None else f"{_bracketed(host)}:{parsed.port}"
    proxy = proxy_for(scheme, host, port, environ)
    fields = [("Host", host_header), ("Content-Length", str(len(body))), *headers.items()]
    if proxy is not None and scheme == "http":
        target = f"http://{host_header}{target}"  # absolute form: the proxy forwards it
        if proxy.authorization:
            fields.append(("Proxy-Authorization", proxy.authorization))
    try:
        request = h11.Request(method="POST", target=target, headers=fields)
    except h11.LocalProtocolError:
        # h11's message quotes the refused header whole, and that header may be the key: never pass it on.
        names = ", ".join(name for name, value in headers.items() if not _sendable_header_value(value))
        raise ChatBackendError(f"the request was not sent: the {names or 'a'} header holds a character HTTP does "
                               "not allow (a line break, a carriage return or a space at its end: check the API "
                               "key's variable)") from None
    pool = pool or loop_pool()
    key = (scheme, host, port, proxy.label if proxy else None, proxy.authorization if proxy else None)
    conn = pool.take(key) or await _open_connection(key, scheme, host, port, proxy, limits, clock, pool)
    try:
        while True:
            try:
                h = conn.h11
                stream = conn.reads
                received = 0
                try:
                    payload = h.send(request) + h.send(h11.Data(data=body)) + h.send(h11.EndOfMessage())
                    sent_at = clock()  # write() hands the bytes to the kernel at once unless the socket is full
                    conn.transport.write(payload)
                    if conn.transport.get_write_buffer_size():
                        await stream.sent()
                        sent_at = clock()
                    deadline = sent_at + limits.max_duration_s
                    # Every limit is wall-clock from an instant, never from the last read: a server dripping
                    # header bytes, 1xx responses or chunk extensions (bytes that carry no body) used to restart it
                    # with every byte and hold the column until max_duration_s. progress_at = the request, then the
                    # last body byte.
                    progress_at = sent_at
                    first = True
                    status: int | None = None
                    error_body = bytearray()
                    location_host: str | None = None
                    now = sent_at
                    while True:
                        event = h.next_event()
                        if event is h11.NEED_DATA:
                            # Servers send headers at once and the body after prefill: "first byte" = first body
                            # byte.
                            timeout = limits.first_byte_timeout_s if first else limits.stall_timeout_s
                            at = clock()
                            left_s = min(deadline - at, progress_at + timeout - at)
                            got = await stream.read(left_s) if left_s > 0 else None
                            if got is None:
                                raise _no_progress(host, limits, first, timeout, clock() >= deadline)
                            now, raw = got
                            if not raw and not received and conn.reused:
                                raise _StaleConnection()
                            received += len(raw)
                            if received > limits.max_response_bytes:
                                raise _too_large(limits)
                            h.receive_data(raw)
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
                        if isinstance(event, h11.Response):
                            if on_sent is not None:
                                on_sent(sent_at)
                                on_sent = None
                            status = event.status_code
                            keep_alive = event.http_version == b"1.1" and not any(
                                name == b"connection" and b"close" in value.lower() for name, value in event.headers)
                            if response is not None and not keep_alive:
                                response["keep_alive"] = False
                            if 300 <= status < 400:
                                location = dict((k.lower(), v) for k, v in event.headers).get(b"location", b"")
                                location_host = urlparse(location.decode("latin-1")).hostname or None
                            if (200 <= status < 300 and CHUNKED_FAST_PATH
                                    and any(name == b"transfer-encoding" for name, _ in event.headers)):
                                break  # h11 read and checked the head; the body goes through ChunkedDecoder
                            continue
                        if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                            if isinstance(event, h11.EndOfMessage):
                                pool.put(conn)  # or closes it, when the server said Connection: close
                            if status is not None and status >= 300:
                                raise HttpError(status, bytes(error_body), location_host)
                            return
                    # The chunked body of a 2xx answer (h11 accepts no transfer coding but chunked). Same limits
                    # as above; one (stamp, bytes) per read that carried body bytes.
                    decoder = ChunkedDecoder()
                    raw = h.trailing_data[0]  # what came in the head's read after the head: stamped `now`
                    while True:
                        if raw:
                            payload = decoder.feed(raw)
                            if payload:
                                first = False
                                progress_at = now
                                yield now, payload
                            if decoder.done:
                                break
                        timeout = limits.first_byte_timeout_s if first else limits.stall_timeout_s
                        at = clock()
                        left_s = min(deadline - at, progress_at + timeout - at)
                        got = await stream.read(left_s) if left_s > 0 else None
                        if got is None:
                            raise _no_progress(host, limits, first, timeout, clock() >= deadline)
                        now, raw = got
                        if not raw:
                            raise ChatBackendError(f"the connection to {host} broke mid-response (it closed before "
                                                   "the end of the chunked body)")
                        received += len(raw)
                        if received > limits.max_response_bytes:
                            raise _too_large(limits)
                    if keep_alive and not decoder.leftover:
                        conn.h11 = _fresh_h11()  # the exchange ended cleanly: the next request starts anew
                        pool.put(conn)
                    return
                except ChunkedError as exc:
                    raise ChatBackendError(f"the connection to {host} broke mid-response ({exc})") from exc
                except h11.RemoteProtocolError as exc:
                    if not received and conn.reused:
                        raise _StaleConnection() from exc
                    raise ChatBackendError(f"the connection to {host} broke mid-response ({exc})") from exc
                except (ConnectionError, OSError) as exc:
                    if not received and conn.reused:
                        raise _StaleConnection() from exc
                    raise ChatBackendError(f"the connection to {host} failed: {exc}") from exc
            except _StaleConnection:
                # A kept-alive connection the server had closed while idle (nothing of the answer arrived): once
                # more, on a new connection, which cannot be stale.
                conn.close()
                conn = await _open_connection(key, scheme, host, port, proxy, limits, clock, pool)
    finally:
        if not conn.pooled:
            conn.close()


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
        if b"\r" not in data:
            return self._feed_lf(data)
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

    def _feed_lf(self, data: bytes) -> list[str]:
        """feed() for bytes without a CR (what servers send: lines end in LF), split in C rather than by the
        regular expression line by line: the same lines, a third of the time per event."""
        lines = data.split(b"\n")
        if len(lines) == 1:  # no line ends yet: keep the piece, join the line's pieces once, when it ends
            if data:
                self._partial.append(data)
            return []
        if self._partial:
            self._partial.append(lines[0])
            lines[0] = b"".join(self._partial)
            self._partial = []
        tail = lines.pop()  # after the last LF: the start of a line not yet ended (b"" when the read ended one)
        events: list[str] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        if tail:
            self._partial.append(tail)
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
