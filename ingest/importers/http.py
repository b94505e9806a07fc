"""The importers' one way onto the network: GET a fixed URL with a timeout, a size limit, and no redirect to
another host.

Every failure is a FetchError whose message says what went wrong, with which URL, and what to do; nothing here
writes anything, so a failed fetch leaves data/ exactly as it was. Credentials (a Hugging Face token) travel only
in request headers to the configured host and never appear in a message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import ipaddress
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

USER_AGENT = "ModelMatch-ingest/1 (+https://github.com/modelmatch; data importer)"
MAX_REDIRECTS = 3
CHUNK_BYTES = 64 * 1024
LOOPBACK_NAMES = {"localhost"}


class FetchError(Exception):
    """A download failed; the message is meant for the maintainer running the command."""


@dataclass(frozen=True)
class Response:
    url: str  # the URL that answered (after same-host redirects)
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    retrieved_at: Any = None  # datetime (UTC) when the response finished

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class FetchLimits:
    timeout_s: float
    max_bytes: int
    extra_headers: dict[str, str] = field(default_factory=dict)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, setting_env: str) -> None:
    """Refuse a configured URL that is not https (plain http only to loopback, where tests run their server)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise FetchError(f"{setting_env}={url!r} is not an http(s) URL with a host")
    if parsed.scheme == "http" and not is_loopback(parsed.hostname):
        raise FetchError(f"{setting_env}={url!r} uses plain http to a non-loopback host; use https")
    if parsed.username or parsed.password:
        raise FetchError(f"{setting_env} must not carry a user name or password in the URL")


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = urllib.parse.urlsplit(url)
    port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme)
    return parsed.scheme, (parsed.hostname or "").lower(), port


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same scheme, host and port (the design's rule: no redirect to another host)."""

    def __init__(self, first_url: str):
        self.first_origin = _origin(first_url)
        self.count = 0

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        target = urllib.parse.urljoin(req.full_url, newurl)
        if _origin(target) != self.first_origin:
            raise FetchError(f"{req.full_url} redirected (HTTP {code}) to another host: {_redact(target)}; "
                             "importers follow redirects only within the same host, so nothing was fetched")
        self.count += 1
        if self.count > MAX_REDIRECTS:
            raise FetchError(f"{req.full_url} redirected more than {MAX_REDIRECTS} times; nothing was fetched")
        return super().redirect_request(req, fp, code, msg, headers, target)


class _Watchdog:
    """Shuts every connection of one fetch down at its deadline. The socket timeout restarts with every byte, so a
    server dripping a header byte a second (or a body byte per read) held an importer for minutes against a limit
    of seconds; a shut-down socket ends any blocked read at once."""

    def __init__(self, deadline: float):
        import threading

        self.sockets: list[socket.socket] = []
        self.fired = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self.sockets.append(sock)
            if self.fired:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def handlers(self) -> list[urllib.request.BaseHandler]:
        watchdog = self

        class Plain(http.client.HTTPConnection):
            def connect(self):
                super().connect()
                watchdog.track(self.sock)

        class Tls(http.client.HTTPSConnection):
            def connect(self):
                super().connect()
                watchdog.track(self.sock)

        class PlainHandler(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(Plain, req)

        class TlsHandler(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(Tls, req, context=self._context)  # default context: certificates verified

        return [PlainHandler(), TlsHandler()]

    def __enter__(self) -> "_Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


def _redact(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc.rsplit("@", 1)[-1], parsed.path, "", ""))


def _read_limited(resp, url: str, limits: FetchLimits, deadline: float) -> bytes:
    declared = resp.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
        raise FetchError(f"{url} announces {int(declared):,} bytes, more than the {limits.max_bytes:,}-byte limit "
                         "(MODELMATCH_FETCH_MAX_BYTES); nothing was read")
    chunks: list[bytes] = []
    total = 0
    while True:
        if time.monotonic() > deadline:
            raise FetchError(f"{url} did not finish within {limits.timeout_s:g} s "
                             f"({total:,} bytes received); try again later")
        try:
            chunk = resp.read(CHUNK_BYTES)
        except http.client.IncompleteRead as exc:
            got = total + len(exc.partial)
            raise FetchError(f"{url} sent a truncated response: {got:,} of {declared} bytes arrived before the "
                             "connection closed; nothing was written, try again") from None
        if not chunk:
            break
        total += len(chunk)
        if total > limits.max_bytes:
            raise FetchError(f"{url} sent more than the {limits.max_bytes:,}-byte limit "
                             "(MODELMATCH_FETCH_MAX_BYTES); nothing was written")
        chunks.append(chunk)
    body = b"".join(chunks)
    if declared is not None and declared.isdigit() and len(body) < int(declared):
        raise FetchError(f"{url} sent a truncated response: {len(body):,} of {int(declared):,} bytes; "
                         "nothing was written, try again")
    return body


def get(url: str, limits: FetchLimits, accept: str = "application/json",
        clock: Callable[[], Any] | None = None) -> Response:
    """GET url; raises FetchError for any network problem, non-2xx status, oversize or truncated body."""
    started = time.monotonic()
    deadline = started + limits.timeout_s
    redirects = _SameHostRedirects(url)
    watchdog = _Watchdog(deadline)
    opener = urllib.request.build_opener(redirects, *watchdog.handlers())
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": accept,
                                                   "Accept-Encoding": "identity", **limits.extra_headers})
    try:
        try:
            with watchdog, opener.open(request, timeout=limits.timeout_s) as resp:
                body = _read_limited(resp, url, limits, deadline)
                status, final_url = resp.status, resp.geturl()
                headers = {k.lower(): v for k, v in resp.headers.items()}
        except Exception:
            if watchdog.fired:  # whatever the shut-down socket made the library raise (a "truncated body" too)
                raise FetchError(f"{url} timed out after {limits.timeout_s:g} s (MODELMATCH_FETCH_TIMEOUT_S, "
                                 "counted from the request); nothing was written, try again later") from None
            raise
    except urllib.error.HTTPError as exc:
        raise FetchError(_http_error_message(url, exc)) from None
    except (socket.timeout, TimeoutError):
        raise FetchError(f"{url} timed out after {limits.timeout_s:g} s (MODELMATCH_FETCH_TIMEOUT_S); "
                         "nothing was written, try again later") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise FetchError(f"{url} timed out after {limits.timeout_s:g} s (MODELMATCH_FETCH_TIMEOUT_S); "
                             "nothing was written, try again later") from None
        raise FetchError(f"cannot reach {url}: {reason}; nothing was written (no network?)") from None
    except http.client.IncompleteRead as exc:
        raise FetchError(f"{url} sent a truncated response ({len(exc.partial):,} bytes arrived); "
                         "nothing was written, try again") from None
    except (http.client.HTTPException, ConnectionError, OSError) as exc:
        raise FetchError(f"{url} failed mid-response: {exc.__class__.__name__}: {exc}; nothing was written") from None
    now = clock() if clock else dt.datetime.now(dt.timezone.utc)
    return Response(final_url, status, headers, body, time.monotonic() - started, now)


def _http_error_message(url: str, exc: urllib.error.HTTPError) -> str:
    hint = {
        401: "the server wants credentials (a gated repository needs MODELMATCH_HF_TOKEN)",
        403: "access refused (a gated repository: accept its license on the website and set MODELMATCH_HF_TOKEN)",
        404: "not found: check the id or URL (renamed or removed?)",
        429: "rate limited: wait a few minutes and try again",
    }.get(exc.code, "the server failed: try again later" if exc.code >= 500 else "the request was refused")
    try:
        snippet = exc.read(300).decode("utf-8", "replace").strip().replace("\n", " ")
    except Exception:  # noqa: BLE001 - the body of an error is a courtesy
        snippet = ""
    detail = f" Server said: {snippet[:200]!r}." if snippet else ""
    return f"{url} answered HTTP {exc.code} {exc.reason}: {hint}.{detail} So nothing was written."


def parse_json(response: Response, what: str) -> Any:
    """Decode a JSON body; a body cut short or not JSON at all is a clear FetchError naming where it broke."""
    try:
        text = response.body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FetchError(f"{what} from {response.url} is not UTF-8 text (byte {exc.start}); nothing was written") \
            from None
    if not text.strip():
        raise FetchError(f"{what} from {response.url} is empty; nothing was written")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        ending = "the body ends early (truncated?)" if exc.pos >= len(text.rstrip()) - 1 else "it is not valid JSON"
        raise FetchError(f"{what} from {response.url} cannot be read: {ending}: {exc.msg} at line {exc.lineno} "
                         f"column {exc.colno} (of {len(response.body):,} bytes); nothing was written") from None
