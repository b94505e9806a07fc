"""The playground's and the evals' client on the official openai SDK, against real loopback servers: what the SDK
brings (proxies, TLS trust from SSL_CERT_FILE, keep-alive, gzip, Retry-After) and what the adapter keeps (no
environment credentials sent, error bodies read only in part, no retry once a reply has started)."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import ssl
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modelmatch.chat.endpoints import Endpoint
from modelmatch.chat.openai_client import astream_chat
from modelmatch.chat.playground import ColumnRun
from modelmatch.chat.sdk_stream import pooled_clients, retry_after_s
from modelmatch.chat.types import ChatMessage, ChatRequest
from tests.net_servers import CertAuthority, LoggingProxy, make_authority, openssl_available
from tests.chat.test_openai_client import CANARY, collect, endpoint, only_error, text_of
from tests.openai_server import DONE, Flood, Script, ScriptedServer, answer_script, delta, usage

REQUEST = ChatRequest(messages=(ChatMessage("user", "Say hello"),), max_tokens=64)
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                   "no_proxy")


def play(ep: Endpoint, key: str | None = None):
    """One playground column, as the page runs it (its own thread, the shared streaming loop)."""
    run = ColumnRun(ep, key, REQUEST).start()
    assert run.join(30)
    return run.snapshot()


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_playground_request_goes_through_http_proxy_regression(no_proxy_env):
    """The hand-written client ignored HTTP_PROXY: behind a corporate proxy the playground could reach nothing."""
    with ScriptedServer(answer_script(["through", " the proxy"])) as server, LoggingProxy() as proxy:
        no_proxy_env.setenv("HTTP_PROXY", proxy.url)
        snap = play(endpoint(server, api_key_env="X"), CANARY)
        assert snap.answer == "through the proxy" and not snap.error
        assert [(m, t) for m, t, _ in proxy.requests] == [("POST", f"{server.origin}/v1/chat/completions")]
        assert server.received[0].headers["Authorization"] == f"Bearer {CANARY}"


def test_no_proxy_bypasses_the_proxy_regression(no_proxy_env):
    with ScriptedServer(answer_script(["direct"])) as server, LoggingProxy() as proxy:
        no_proxy_env.setenv("HTTP_PROXY", proxy.url)
        no_proxy_env.setenv("HTTPS_PROXY", proxy.url)
        no_proxy_env.setenv("NO_PROXY", "127.0.0.1")
        snap = play(endpoint(server))
        assert snap.answer == "direct" and proxy.requests == [] and len(server.received) == 1


@pytest.fixture
def authority(tmp_path) -> CertAuthority:
    """A throwaway certificate authority and a server certificate for 127.0.0.1, made per test (the shared helper;
    no certificate or key is kept in the repository)."""
    if not openssl_available():
        pytest.skip("the openssl command makes the test certificates")
    return make_authority(tmp_path)


def tls_server(script: Script, authority: CertAuthority) -> tuple[ScriptedServer, str]:
    server = ScriptedServer(script)
    server.httpd.socket = authority.server_context.wrap_socket(server.httpd.socket, server_side=True)
    return server, f"https://127.0.0.1:{server.httpd.server_address[1]}/v1"


def test_playground_request_goes_through_https_proxy_and_trusts_ssl_cert_file_regression(no_proxy_env, authority):
    """An https endpoint is reached through HTTPS_PROXY's CONNECT tunnel, verified against SSL_CERT_FILE; the
    proxy sees the target and never the key."""
    server, base_url = tls_server(answer_script(["secure"]), authority)
    with server, LoggingProxy() as proxy:
        no_proxy_env.setenv("HTTPS_PROXY", proxy.url)
        no_proxy_env.setenv("SSL_CERT_FILE", str(authority.ca_file))
        snap = play(Endpoint(name="tls", kind="openai", model="m", base_url=base_url, api_key_env="X",
                             connect_timeout_s=5, first_byte_timeout_s=5, stall_timeout_s=5), CANARY)
        assert snap.answer == "secure" and not snap.error
        port = server.httpd.server_address[1]
        assert [(m, t) for m, t, _ in proxy.requests] == [("CONNECT", f"127.0.0.1:{port}")]
        assert proxy.tunnelled and CANARY.encode() not in bytes(proxy.tunnelled)
        assert server.received[0].headers["Authorization"] == f"Bearer {CANARY}"


def test_tls_is_verified_an_untrusted_certificate_is_refused(no_proxy_env, authority):
    server, base_url = tls_server(answer_script(["never"]), authority)
    with server:
        events = collect(Endpoint(name="tls", kind="openai", model="m", base_url=base_url, connect_timeout_s=5,
                                  first_byte_timeout_s=5, stall_timeout_s=5), CANARY)
        assert server.received == []
    message = only_error(events)
    assert "could not connect" in message and CANARY not in message


class KeepAliveServer:
    """Answers every request on a connection kept open (Content-Length, no close), and records the client's port
    for each request: one port for two requests means one TCP connection."""

    def __init__(self, body: bytes, drop_reused: bool = False, reset: bool = False, drop_new: bool = False) -> None:
        self.ports: list[int] = []
        self.dropped = 0  # requests that were closed without an answer
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if (drop_reused and getattr(self, "served", False)) or drop_new:
                    # The idle-close race made certain: the connection was kept, and the server closes it as the
                    # next request arrives, without a word (`reset`: with a reset, as a close does when the
                    # request is still unread in the kernel's buffer).
                    outer.dropped += 1
                    self.close_connection = True
                    if reset:
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.connection.close()
                    return
                self.served = True
                outer.ports.append(self.client_address[1])
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "KeepAliveServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def keep_alive_endpoint(server: KeepAliveServer) -> Endpoint:
    return Endpoint(name="keep", kind="openai", model="m", base_url=server.base_url, connect_timeout_s=5,
                    first_byte_timeout_s=5, stall_timeout_s=5)


def test_two_sequential_playground_requests_use_one_tcp_connection_regression(no_proxy_env):
    """The hand-written client opened a new TCP (and TLS) connection for every request."""
    with KeepAliveServer(delta("same") + usage(3, 1) + DONE) as server:
        ep = keep_alive_endpoint(server)
        first, second = play(ep), play(ep)
    assert first.answer == second.answer == "same" and not first.error and not second.error
    assert len(server.ports) == 2 and len(set(server.ports)) == 1, server.ports


def test_a_kept_connection_the_server_closed_is_replaced_and_the_request_sent_again(no_proxy_env):
    """Regression (a CI run): a server closed a kept-alive connection without `Connection: close`, the SDK sent the
    next request on it, and the reply was 'the connection broke mid-response' instead of the server's answer. Nothing
    of an answer had come, so the request goes once more on a new connection, as the timing client does."""
    with KeepAliveServer(delta("again") + DONE, drop_reused=True) as server:
        ep = keep_alive_endpoint(server)
        first, second = play(ep), play(ep)
    assert first.answer == second.answer == "again" and not first.error and not second.error
    assert server.dropped == 1 and len(server.ports) == 2 and len(set(server.ports)) == 2, server.ports


def test_a_kept_connection_reset_before_any_answer_is_replaced_regression(no_proxy_env):
    """Regression (a CI run): the loopback server closed each kept-alive connection after its answer; when the next
    request was already in its buffer the close went out as a reset, the SDK read 'Connection reset by peer', and
    the eval counted a retry the server never caused. Nothing of an answer had come on a kept connection: the
    request goes once more on a new one, as the timing client does."""
    with KeepAliveServer(delta("again") + DONE, drop_reused=True, reset=True) as server:
        ep = keep_alive_endpoint(server)
        first, second = play(ep), play(ep)
    assert first.answer == second.answer == "again" and not first.error and not second.error
    assert server.dropped == 1 and len(server.ports) == 2 and len(set(server.ports)) == 2, server.ports


def test_a_new_connection_reset_before_any_answer_is_reported_not_sent_again(no_proxy_env):
    """Only a kept-alive connection can be stale: a server that resets a connection set up for this very request
    may have read it, so the request is not sent a second time and the user reads what happened."""
    with KeepAliveServer(delta("never") + DONE, drop_new=True, reset=True) as server:
        ep = keep_alive_endpoint(server)
        message = play(ep).error
    assert server.dropped == 1 and not server.ports
    assert "broke" in message or "reset" in message.lower(), message


def test_an_eval_run_reuses_one_connection_per_endpoint(no_proxy_env):
    with KeepAliveServer(delta("x") + DONE) as server:
        ep = keep_alive_endpoint(server)

        async def two() -> list[list]:
            async with pooled_clients():
                return [[e async for e in astream_chat(ep, None, REQUEST)] for _ in range(2)]
        replies = asyncio.run(two())
    assert [r[-1].kind for r in replies] == ["done", "done"]
    assert len(server.ports) == 2 and len(set(server.ports)) == 1, server.ports


def gzip_steps(payloads: list[bytes]) -> list[tuple[float, bytes]]:
    """A gzip stream flushed after each event, each flush written on its own, as a compressing gateway sends it."""
    packer = zlib.compressobj(wbits=31)
    steps = [(0.01, packer.compress(p) + packer.flush(zlib.Z_SYNC_FLUSH)) for p in payloads]
    steps.append((0.0, packer.flush()))
    return steps


def test_gzip_encoded_stream_is_decoded_regression():
    """A gateway that gzipped the stream lost the whole reply."""
    script = Script(headers={"Content-Type": "text/event-stream", "Content-Encoding": "gzip"},
                    steps=gzip_steps([delta("zip"), delta("ped"), usage(2, 2), DONE]))
    with ScriptedServer(script) as server:
        events = collect(endpoint(server))
        assert "gzip" in server.received[0].headers.get("Accept-Encoding", "")
    assert text_of(events, "content") == "zipped" and events[-1].kind == "done"


def test_a_gzip_bomb_is_stopped_at_the_size_cap():
    bomb = gzip.compress(b"data: " + b"0" * 5_000_000 + b"\n\n")  # a few kilobytes on the wire
    script = Script(headers={"Content-Type": "text/event-stream", "Content-Encoding": "gzip"}, steps=[(0, bomb)])
    with ScriptedServer(script) as server:
        message = only_error(collect(endpoint(server, max_response_bytes=100_000)))
    assert "larger than 100,000 bytes" in message


class Sequence:
    """Scripts served in turn, one per request, with the time each request arrived."""

    def __init__(self, *scripts: Script) -> None:
        self.scripts, self.arrived = list(scripts), []

    def __call__(self, body: dict) -> Script:
        self.arrived.append(time.monotonic())
        return self.scripts[min(len(self.arrived), len(self.scripts)) - 1]


def rate_limited(retry_after: str) -> Script:
    return Script(status=429, headers={"Content-Type": "application/json", "Retry-After": retry_after},
                  steps=[(0, json.dumps({"error": {"message": "slow down"}}).encode())])


def test_retry_after_on_429_is_honoured_before_the_stream_starts():
    served = Sequence(rate_limited("1"), answer_script(["after", " waiting"]))
    with ScriptedServer(served) as server:
        events = collect(endpoint(server))
        assert len(server.received) == 2
    assert text_of(events, "content") == "after waiting" and events[-1].kind == "done"
    assert served.arrived[1] - served.arrived[0] >= 0.9  # it waited as told, not at once


def test_retry_after_past_the_total_time_limit_is_not_waited_for():
    served = Sequence(rate_limited("3600"), answer_script(["never"]))
    with ScriptedServer(served) as server:
        started = time.monotonic()
        message = only_error(collect(endpoint(server, max_duration_s=5)))
        took_s = time.monotonic() - started
        assert len(server.received) == 1
    assert "HTTP 429" in message and "rate limited" in message and took_s < 4


def test_no_retry_once_a_reply_has_started():
    with ScriptedServer(Sequence(Script(steps=[(0, delta("half"))], end_abruptly=True), answer_script(["x"]))) as s:
        events = collect(endpoint(s))
        assert len(s.received) == 1
    assert text_of(events, "content") == "half" and events[-1].kind == "error"


def test_retry_after_reads_seconds_and_http_dates():
    import datetime as dt

    now = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    assert retry_after_s("7", now) == 7.0
    assert retry_after_s("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_s("soon", now) is None and retry_after_s(None, now) is None


def test_sdk_environment_credentials_never_reach_an_endpoint_regression(monkeypatch):
    """The SDK reads OPENAI_API_KEY, OPENAI_ORG_ID, OPENAI_PROJECT_ID and OPENAI_CUSTOM_HEADERS by itself: the
    operator's OpenAI key must not go to a third-party endpoint that has no key, nor to one with its own."""
    env_key = "sk-environment-canary-0a1b2c3d4e5f"
    monkeypatch.setenv("OPENAI_API_KEY", env_key)
    monkeypatch.setenv("OPENAI_ADMIN_KEY", env_key + "-admin")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-canary")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-canary")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", f"X-Custom: {env_key}\nAuthorization: Bearer {env_key}")
    with ScriptedServer() as server:
        collect(endpoint(server))
        collect(endpoint(server, api_key_env="X"), CANARY)
        unkeyed, keyed = server.received
    assert "Authorization" not in unkeyed.headers and keyed.headers["Authorization"] == f"Bearer {CANARY}"
    for received in (unkeyed, keyed):
        sent = repr(received.headers) + repr(received.body)
        assert "canary-0a1b" not in sent and "org-canary" not in sent and "proj-canary" not in sent


def test_an_error_body_is_read_only_in_part():
    """The SDK reads a whole error body before raising; a hostile endpoint's 50 MB error must not be held."""
    script = Script(status=500, headers={"Content-Type": "text/plain"}, steps=Flood(b"x" * 65536, 50_000_000))
    with ScriptedServer(script) as server:
        message = only_error(collect(endpoint(server)))
        deadline = time.monotonic() + 10
        while not server.cut_short and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.cut_short and server.cut_short[0] < 400  # the client hung up long before 50 MB
    assert "HTTP 500" in message


@pytest.mark.parametrize("transport", ["sdk", "timing"])
def test_both_clients_refuse_a_redirect_and_name_it(transport):
    with ScriptedServer() as other:
        redirect = Script(status=302, headers={"Location": f"{other.base_url}/chat/completions"}, steps=[])
        with ScriptedServer(redirect) as server:
            async def run():
                return [e async for e in astream_chat(endpoint(server, api_key_env="X"), CANARY, REQUEST,
                                                      transport=transport)]
            message = only_error(asyncio.run(run()))
        assert other.received == []
    assert "redirect (HTTP 302) to 127.0.0.1" in message and "not followed" in message


def test_an_unusable_proxy_setting_is_an_error_event_not_an_exception_regression(no_proxy_env):
    """A proxy URL the HTTP library cannot speak (here ftp://) raised ValueError out of the stream when the client
    was built; now the column ends with an error naming the variable, never the URL (it may hold a password)."""
    with ScriptedServer(answer_script(["never"])) as server:
        no_proxy_env.setenv("HTTPS_PROXY", "ftp://someone:proxy-pass-7c1d@127.0.0.1:21")
        no_proxy_env.setenv("HTTP_PROXY", "ftp://someone:proxy-pass-7c1d@127.0.0.1:21")
        message = only_error(collect(endpoint(server), CANARY))
        assert server.received == []
    assert "proxy settings in the environment (HTTP_PROXY, HTTPS_PROXY) cannot be used" in message
    assert "proxy-pass-7c1d" not in message and "someone" not in message and CANARY not in message
