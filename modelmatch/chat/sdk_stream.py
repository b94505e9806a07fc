"""The playground's and the evals' HTTP: the official `openai` SDK (async), kept to the guarantees the product makes.

`post_stream` has the contract of `http_stream.post_stream` (the measurement harness's timing client): it yields
(clock reading, body bytes) as they arrive and raises ChatBackendError, or HttpError for a non-2xx answer, so both
feed the same SSE parser and the same event code in `openai_client`. The SDK builds and sends the request; the raw
bytes come from its streaming response. From the SDK (and its HTTP library) come proxies (HTTP_PROXY, HTTPS_PROXY,
NO_PROXY), TLS trust (SSL_CERT_FILE and the OS store), keep-alive and gzip. Kept here on top of it:

- no redirects followed (the SDK's default follows them, with the key);
- the first-byte, stall and total limits as wall-clock bounds (the library's read timeout restarts on every byte,
  so a server dripping headers, 1xx answers or chunk extensions would hold a column for ever), and the size cap;
- exactly the headers we mean to send: the SDK also reads OPENAI_API_KEY, OPENAI_ORG_ID, OPENAI_PROJECT_ID and
  OPENAI_CUSTOM_HEADERS from the environment, which must never reach an operator's third-party endpoint;
- no SDK retries (they also retry 5xx and broken connections, and know nothing of the total limit): only a bounded
  wait for Retry-After on 429/503, before any byte of a reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import email.utils
import functools
import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, AsyncIterator, Callable, Iterable
from urllib.parse import parse_qsl, urlparse

from modelmatch.chat.endpoints import Endpoint, chat_request_target
from modelmatch.chat.http_stream import HttpError
from modelmatch.chat.types import ChatBackendError

if TYPE_CHECKING:  # the SDK takes half a second to import: only pages that can stream start it (start_warm_up)
    import ssl

    import httpx2
    from openai import AsyncOpenAI

ERROR_BODY_LIMIT = 65536  # bytes of an error answer kept for its message
RETRY_AFTER_STATUSES = frozenset({429, 503})
MAX_RETRY_AFTER_WAITS = 2  # Retry-After answers honoured per request, each within the total time limit
DRAIN_S = 0.25  # after [DONE], how long the rest of the body may take to arrive so the connection can be reused
DRAIN_BYTES = 65536
POOL_SIZE = 32  # clients (endpoint + credentials) kept per event loop; the least recently used is closed beyond it
NO_KEY = "no-key"  # the SDK insists on a key; the request hook removes this placeholder's header
# The SDK's own bookkeeping headers (platform, retry count, how it wants the reply handed back): no secrets in them.
SDK_HEADERS = frozenset({"x-stainless-lang", "x-stainless-package-version", "x-stainless-os", "x-stainless-arch",
                         "x-stainless-runtime", "x-stainless-runtime-version", "x-stainless-async",
                         "x-stainless-retry-count", "x-stainless-read-timeout", "x-stainless-raw-response"})
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
PROTOCOL_HEADERS = frozenset({"host", "content-length", "content-type", "accept", "accept-encoding", "user-agent",
                              "connection"})


@dataclass
class _Attempt:
    """One request's progress, read by the hooks the HTTP library calls on our task (through a context variable)."""

    clock: Callable[[], float]
    on_sent: Callable[[float], None] | None
    first_byte_timeout_s: float
    total_at: float  # loop time
    limit: asyncio.Timeout | None = None
    sent_at: float | None = None  # loop time at which the whole request was in the kernel's hands
    opened_connection: bool = False  # this attempt set up its own connection (else it went on a kept-alive one)

    async def trace(self, name: str, info: dict) -> None:
        if name.startswith(("connection.connect_tcp.", "connection.connect_unix_socket.")):
            self.opened_connection = True
        if name.endswith("send_request_body.complete") and self.sent_at is None:
            self.sent_at = asyncio.get_running_loop().time()
            if self.limit is not None:  # from now on the first byte has first_byte_timeout_s
                self.limit.reschedule(min(self.total_at, self.sent_at + self.first_byte_timeout_s))
            if self.on_sent is not None:
                self.on_sent(self.clock())


_ATTEMPT: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar("sdk_attempt", default=None)


def _fingerprint(endpoint: Endpoint, api_key: str | None, headers: dict[str, str]) -> str:
    """Which credentials a pooled client carries, without holding them in a dictionary key."""
    digest = hashlib.sha256(repr((api_key, sorted(headers.items()))).encode())
    return f"{endpoint.name}|{endpoint.base_url}|{digest.hexdigest()}"


class ClientPool:
    """SDK clients (each with its HTTP connection pool) for one event loop, one per endpoint and credentials, so
    sequential requests reuse a kept-alive connection. An HTTP client is bound to the loop it first ran on."""

    def __init__(self) -> None:
        self._clients: OrderedDict[tuple[Endpoint, str], AsyncOpenAI] = OrderedDict()
        self._trust: dict[TrustKey, ssl.SSLContext] = {}  # TLS trust shared by this pool's clients

    async def client(self, endpoint: Endpoint, api_key: str | None, headers: dict[str, str]) -> "AsyncOpenAI":
        key = (endpoint, _fingerprint(endpoint, api_key, headers))
        found = self._clients.get(key)
        if found is not None:
            self._clients.move_to_end(key)
            return found
        for (old_endpoint, old_print), old in list(self._clients.items()):
            if old_endpoint.name == endpoint.name:  # the key or a header secret changed: the old one is done
                del self._clients[(old_endpoint, old_print)]
                await old.close()
        while len(self._clients) >= POOL_SIZE:
            _, oldest = self._clients.popitem(last=False)
            await oldest.close()
        # Off the loop: importing the SDK (once, or waiting for the warm-up's import) and loading the CA store (once
        # per pool) take long enough to hold up every other stream on the loop.
        made = await asyncio.to_thread(make_client, endpoint, api_key, headers, self._trust)
        self._clients[key] = made
        return made

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            await client.close()


_POOL: contextvars.ContextVar[ClientPool | None] = contextvars.ContextVar("sdk_client_pool", default=None)


@contextlib.asynccontextmanager
async def pooled_clients() -> AsyncIterator[ClientPool]:
    """Streams started inside this block (and the tasks it starts) share kept-alive clients, all closed at its
    end. Outside any such block each stream has a client of its own, closed with the stream."""
    pool = ClientPool()
    token = _POOL.set(pool)
    try:
        yield pool
    finally:
        _POOL.reset(token)
        await pool.aclose()


@contextlib.contextmanager
def using_pool(pool: ClientPool):
    """Streams started inside this block use `pool` (owned, and closed, by the caller)."""
    token = _POOL.set(pool)
    try:
        yield pool
    finally:
        _POOL.reset(token)


_WARM_LOCK = threading.Lock()
_warm_thread: threading.Thread | None = None


def start_warm_up(endpoints: Iterable[Endpoint]) -> bool:
    """Start importing the SDK on a background daemon thread, once per process, when one of `endpoints` would
    stream through it (kind "openai"); True when a warm-up runs or ran. The first request otherwise paid the import
    and the CA store's loading (0.4-1.6 s) on top of its TTFT; a page calls this once it is drawn, long before its
    user can press Send. Nothing secret is built: no client, no key, no connection; only the trust store."""
    global _warm_thread
    if not any(endpoint.kind == "openai" for endpoint in endpoints):
        return False
    with _WARM_LOCK:
        if _warm_thread is None:
            _warm_thread = threading.Thread(target=_import_sdk, name="openai-sdk-import", daemon=True)
            _warm_thread.start()
    return True


# What a first request imports: the SDK and its client module, then what its first `chat.completions` call loads
# lazily (the chat resources, the stream helpers, the JSON parser, the async backend of the HTTP library).
WARM_MODULES = ("httpx2", "openai", "openai._client", "openai.resources.chat.chat",
                "openai.resources.chat.completions", "openai.lib.streaming.chat", "jiter", "anyio._backends._asyncio")


def _import_sdk() -> None:
    import importlib

    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001  a broken install is reported by the stream that needs it, not here
            pass
    try:
        _build_spare_trust()
    except Exception:  # noqa: BLE001  an unreadable SSL_CERT_FILE is reported by the stream that needs it
        pass


def wait_for_warm_up() -> None:
    """Block until a started warm-up import has finished, so a stream never imports the SDK a second time beside
    it (the import system would serialise the two anyway; this makes the wait explicit and cheap to reason about)."""
    thread = _warm_thread
    if thread is not None and thread is not threading.current_thread():
        thread.join()


_TRUST_LOCK = threading.Lock()
TrustKey = tuple[str | None, str | None]
_SPARE_TRUST: dict[TrustKey, "ssl.SSLContext"] = {}  # built by the warm-up, handed to the first pool that needs it


def _trust_key() -> TrustKey:
    return os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None


def _build_trust() -> "ssl.SSLContext":
    import httpx2

    return httpx2.create_ssl_context(verify=True, trust_env=True)


def _build_spare_trust() -> None:
    key = _trust_key()
    if key not in _SPARE_TRUST:
        context = _build_trust()
        with _TRUST_LOCK:
            _SPARE_TRUST.setdefault(key, context)


def trust_context(cache: dict[TrustKey, "ssl.SSLContext"]) -> "ssl.SSLContext":
    """The TLS context a client verifies servers with: the HTTP library's own default (SSL_CERT_FILE, else
    SSL_CERT_DIR, else the system store), one per client pool (`cache`, one event loop) and per those two settings.
    Loading the CA store took 20-80 ms for every client (per endpoint and key, and per proxy route). It holds trust
    anchors only, no client certificate: sharing it shares nothing secret. Not shared across pools: the HTTP
    library re-sets a context's ALPN list on every connection, which another thread's connection setup could read
    mid-change; a pool's connections all run on its loop's one thread. A CA added to the system store is seen by
    clients of a new pool, or after a restart."""
    key = _trust_key()
    context = cache.get(key)
    if context is None:
        with _TRUST_LOCK:
            context = _SPARE_TRUST.pop(key, None)  # the warm-up's, to exactly one pool
        cache[key] = context = context or _build_trust()
    return context


def make_client(endpoint: Endpoint, api_key: str | None, headers: dict[str, str],
                trust_cache: dict[TrustKey, "ssl.SSLContext"] | None = None) -> "AsyncOpenAI":
    wait_for_warm_up()
    import httpx2
    from openai import AsyncOpenAI

    # The same address and key header as the timing client (Azure: a deployment path, api-version and `api-key`).
    url, addressed = chat_request_target(endpoint, api_key, headers)
    path, _, query = url.partition("?")
    base_url = path.removesuffix("/chat/completions")
    sent_headers = {**addressed, "Accept": "text/event-stream", "Content-Type": "application/json"}
    allowed = PROTOCOL_HEADERS | SDK_HEADERS | {name.lower() for name in sent_headers}

    async def exact_headers(request: "httpx2.Request") -> None:
        # The last word on what leaves: our headers, the key in its own header or none, the protocol's, the SDK's.
        for name in {name.lower() for name in request.headers}:
            if name not in allowed:
                del request.headers[name]
        for name, value in sent_headers.items():  # as the operator spelled them (the SDK lower-cases names)
            request.headers.pop(name, None)
            request.headers[name] = value
        if "authorization" not in {name.lower() for name in sent_headers}:
            request.headers.pop("authorization", None)  # the SDK's placeholder key, or a key that goes in api-key
        attempt = _ATTEMPT.get()
        if attempt is not None:
            request.extensions = {**request.extensions, "trace": attempt.trace}

    async def capped_error_body(response: "httpx2.Response") -> None:
        # The SDK reads an error answer's whole body before raising: a hostile endpoint could send gigabytes.
        if not response.is_success:
            response.stream = _capped_stream_class()(response.stream, ERROR_BODY_LIMIT)

    try:
        trust = trust_context({} if trust_cache is None else trust_cache)
    except OSError as unreadable:  # ssl.SSLError is an OSError too
        # An operator's SSL_CERT_FILE or SSL_CERT_DIR that cannot be read: said as such, instead of an exception
        # escaping the stream (the variable is named, its value, a path on the server, is not shown).
        setting = "SSL_CERT_FILE" if os.environ.get("SSL_CERT_FILE") else "SSL_CERT_DIR"
        reason = unreadable.strerror or type(unreadable).__name__
        raise ChatBackendError(f"the TLS trust store could not be loaded from {setting} ({reason}); the operator "
                               "fixes or unsets it") from None
    try:
        http_client = httpx2.AsyncClient(
            follow_redirects=False, trust_env=True, verify=trust,
            # The connect limit is the library's; every other limit is a wall-clock bound kept by post_stream.
            timeout=httpx2.Timeout(connect=endpoint.connect_timeout_s, read=None, write=None,
                                   pool=endpoint.connect_timeout_s),
            event_hooks={"request": [exact_headers], "response": [capped_error_body]})
    except (ImportError, ValueError) as refused:
        # The proxy variables are read here: a SOCKS proxy without its optional package, or a scheme the library
        # does not speak, raised out of the stream. Said without the URL, which may carry the proxy's password.
        named = ", ".join(name for name in PROXY_VARIABLES if os.environ.get(name)) or "the proxy variables"
        why = ("a SOCKS proxy needs the optional socksio package, which is not installed"
               if isinstance(refused, ImportError) else "a proxy URL whose scheme is not http, https, socks5 or "
               "socks5h")
        raise ChatBackendError(f"the proxy settings in the environment ({named}) cannot be used: {why}; the "
                               "operator fixes them") from None
    return AsyncOpenAI(api_key=api_key or NO_KEY, organization=None, project=None, base_url=base_url,
                       max_retries=0, default_headers=sent_headers, default_query=dict(parse_qsl(query)) or None,
                       http_client=http_client)


@functools.cache
def _capped_stream_class():
    import httpx2

    class CappedStream(httpx2.AsyncByteStream):
        """A response body stream cut after `limit` bytes."""

        def __init__(self, inner: "httpx2.AsyncByteStream", limit: int):
            self._inner, self._limit = inner, limit

        async def __aiter__(self):
            left = self._limit
            async for chunk in self._inner:
                if left <= 0:
                    break
                yield chunk[:left]
                left -= len(chunk)

        async def aclose(self) -> None:
            await self._inner.aclose()

    return CappedStream


def retry_after_s(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Retry-After as seconds to wait: a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - (now or dt.datetime.now(dt.timezone.utc))).total_seconds())


@dataclass
class _Reply:
    manager: object  # the SDK's response context manager, exited when the stream ends
    response: "httpx2.Response"
    chunks: AsyncIterator[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.chunks = self.response.aiter_bytes()


async def post_stream(endpoint: Endpoint, api_key: str | None, headers: dict[str, str], body: dict,
                      clock: Callable[[], float],
                      on_sent: Callable[[float], None] | None = None) -> AsyncIterator[tuple[float, bytes]]:
    """POST the chat completions request through the SDK and yield (clock reading, body bytes) as they arrive.

    `headers`: the endpoint's own (resolved) headers; `body`: the whole JSON request. `on_sent(clock reading)` is
    called once the request is in the kernel's hands."""
    loop = asyncio.get_running_loop()
    pool = _POOL.get()
    own_pool = ClientPool() if pool is None else None
    client = await (pool or own_pool).client(endpoint, api_key, headers)
    import httpx2  # imported by make_client already
    import openai

    host = urlparse(endpoint.base_url or "").hostname or "?"
    started = loop.time()
    total_at = started + endpoint.max_duration_s
    params = {k: v for k, v in body.items() if k not in ("model", "messages", "stream")}
    reply: _Reply | None = None
    complete = False
    try:
        waits = 0
        resent = False
        while True:
            attempt = _Attempt(clock, on_sent, endpoint.first_byte_timeout_s, total_at)
            token = _ATTEMPT.set(attempt)
            manager = client.chat.completions.with_streaming_response.create(
                model=body["model"], messages=body["messages"], stream=True, extra_body=params)
            try:
                # Until the request is sent: connecting (the library's connect limit) and the first byte.
                async with asyncio.timeout_at(min(total_at, loop.time() + endpoint.connect_timeout_s
                                                  + endpoint.first_byte_timeout_s)) as limit:
                    attempt.limit = limit
                    api_response = await manager.__aenter__()
                reply = _Reply(manager, api_response.http_response)
                break
            except TimeoutError:
                raise _timeout_error(endpoint, host, attempt, loop.time(), total_at, first=True) from None
            except openai.APIStatusError as status:
                error = _http_error(status.response)
                wait_s = retry_after_s(status.response.headers.get("retry-after"))
                if (error.status in RETRY_AFTER_STATUSES and wait_s is not None and waits < MAX_RETRY_AFTER_WAITS
                        and loop.time() + wait_s < total_at):
                    waits += 1  # the server said when; nothing of a reply has arrived, so asking again is safe
                    await asyncio.sleep(wait_s)
                    continue
                raise error from None
            except openai.APIConnectionError as failed:
                if (not resent and not attempt.opened_connection and _closed_without_answer(failed)
                        and loop.time() < total_at):
                    # A kept-alive connection the server closed while it sat idle (the race every pool meets, and a
                    # server that closes without saying `Connection: close`): nothing of an answer came, so the
                    # request is sent once more, on a new connection, as the timing client does. The close reads
                    # as a clean end or, when the request was already in the server's buffer, as a reset.
                    resent = True
                    continue
                raise _connection_error(endpoint, host, failed) from None
            except openai.OpenAIError as refused:  # the SDK's own checks: named, its text left out (it may quote)
                raise ChatBackendError(f"the request to {host} failed in the openai SDK "
                                       f"({type(refused).__name__})") from None
            finally:
                _ATTEMPT.reset(token)
        progress_at = attempt.sent_at or loop.time()
        first = True
        received = 0
        while True:
            timeout_s = endpoint.first_byte_timeout_s if first else endpoint.stall_timeout_s
            try:
                async with asyncio.timeout_at(min(total_at, progress_at + timeout_s)):
                    data = await anext(reply.chunks)
            except StopAsyncIteration:
                complete = True
                return
            except TimeoutError:
                raise _timeout_error(endpoint, host, attempt, loop.time(), total_at, first) from None
            except httpx2.DecodingError as bad:
                raise ChatBackendError(f"the reply from {host} could not be decoded ({type(bad).__name__}: "
                                       "its Content-Encoding does not match its bytes)") from None
            except httpx2.TransportError as broken:
                raise ChatBackendError(f"the connection to {host} broke mid-response "
                                       f"({type(broken).__name__}: {broken})") from None
            now = clock()
            # Decoded bytes and bytes on the wire both count: a gzip bomb is as large as what it unpacks to.
            received += len(data)
            if max(received, reply.response.num_bytes_downloaded) > endpoint.max_response_bytes:
                raise ChatBackendError(f"response larger than {endpoint.max_response_bytes:,} bytes; stopped "
                                       "reading (max_response_bytes)")
            if not data:
                continue
            first = False
            progress_at = loop.time()
            yield now, data
    except GeneratorExit:
        # The reader stopped (normally at [DONE]): read the body's end if it comes at once, so the connection goes
        # back to the pool instead of being closed. A server idling after [DONE] costs at most DRAIN_S.
        if reply is not None and not complete:
            complete = await _drain(reply)
        raise
    finally:
        if reply is not None:
            if not complete:
                await reply.response.aclose()  # the connection is not reusable: close it, never return it
            await reply.manager.__aexit__(None, None, None)
        if own_pool is not None:
            await own_pool.aclose()


async def _drain(reply: _Reply) -> bool:
    left = DRAIN_BYTES
    try:
        async with asyncio.timeout(DRAIN_S):
            async for data in reply.chunks:
                left -= len(data)
                if left < 0:
                    return False
        return True
    except Exception:  # a timeout or a broken connection: the connection is simply not reused
        return False


def _http_error(response: "httpx2.Response") -> HttpError:
    location_host = None
    if 300 <= response.status_code < 400:
        location_host = urlparse(response.headers.get("location", "")).hostname or None
    try:
        body = response.content[:ERROR_BODY_LIMIT]
    except Exception:  # never read (the SDK failed before): no detail
        body = b""
    return HttpError(response.status_code, body, location_host)


def _timeout_error(endpoint: Endpoint, host: str, attempt: _Attempt, now: float, total_at: float,
                   first: bool) -> ChatBackendError:
    if now >= total_at:
        return ChatBackendError(f"the reply from {host} took longer than {endpoint.max_duration_s:g} s "
                                "(max_duration_s); stopped reading")
    if first and attempt.sent_at is None:
        return ChatBackendError(f"could not send the request to {host} within "
                                f"{endpoint.connect_timeout_s + endpoint.first_byte_timeout_s:g} s (connecting and "
                                "sending took the connect and first-byte limits)")
    if first:
        return ChatBackendError(f"no first byte from {host} within {endpoint.first_byte_timeout_s:g} s")
    return ChatBackendError(f"the stream stalled: no data from {host} within {endpoint.stall_timeout_s:g} s")


def _closed_without_answer(failed: Exception) -> bool:
    """The server ended the connection before any byte of a response: httpcore's 'Server disconnected without
    sending a response', or the connection reset (or its write refused) while the request went out or the head was
    awaited. The SDK raises a connection error only before a response head, so nothing of an answer came."""
    import httpx2

    cause = failed.__cause__
    if isinstance(cause, httpx2.RemoteProtocolError):
        return "without sending a response" in str(cause)
    return isinstance(cause, httpx2.ReadError | httpx2.WriteError)


def _connection_error(endpoint: Endpoint, host: str, failed: Exception) -> ChatBackendError:
    import httpx2

    cause = failed.__cause__
    port = urlparse(endpoint.base_url or "").port
    where = f"{host}:{port}" if port else host
    if isinstance(cause, httpx2.ConnectTimeout | httpx2.PoolTimeout):
        return ChatBackendError(f"could not connect to {where} within {endpoint.connect_timeout_s:g} s")
    if isinstance(cause, httpx2.ConnectError):
        return ChatBackendError(f"could not connect to {where}: {_reason(cause)}")
    if isinstance(cause, httpx2.ProxyError):
        return ChatBackendError(f"the proxy refused the connection to {where}: {_reason(cause)}")
    return ChatBackendError(f"the connection to {host} broke mid-response ({type(cause or failed).__name__}: "
                            f"{_reason(cause or failed)})")


def _reason(error: BaseException) -> str:
    """The operating system's words where there are some (\"Connection refused\"), else the error's own."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    return str(error) or type(error).__name__
