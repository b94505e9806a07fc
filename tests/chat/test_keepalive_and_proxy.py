"""The measurement client's connections: kept alive between sequential requests to one host (and only after a
response was read to the end), sent through HTTP_PROXY / HTTPS_PROXY unless NO_PROXY names the host, with TLS
checked against the real host through a tunnel and proxy credentials going to the proxy alone. Real loopback
servers, a logging proxy, and certificates from a throwaway authority."""

from __future__ import annotations

import asyncio
import base64
import time

import pytest

from modelmatch.chat.endpoints import Endpoint
from modelmatch.chat.http_stream import (ConnectionPool, Limits, ProxyConfigError, bypasses_proxy, post_stream,
                                         proxy_for)
from modelmatch.chat.openai_client import astream_chat
from modelmatch.chat.types import ChatMessage, ChatRequest
from tests.net_servers import KeepAliveServer, LoggingProxy, make_authority, openssl_available, reply_bytes

REQUEST = ChatRequest(messages=(ChatMessage("user", "hi"),), max_tokens=8)
PROXY_PASSWORD = "pr0xy-s3cret:with@odd/chars"
PROXY_USER = "measure"
API_KEY = "sk-proxytest-4f1e2d3c4b5a69788796"


def endpoint(base_url: str, **extra) -> Endpoint:
    return Endpoint(name="t", kind="openai", model="m", base_url=base_url, first_byte_timeout_s=5,
                    stall_timeout_s=5, connect_timeout_s=5, **extra)


async def collect(ep: Endpoint, api_key: str | None = None) -> list:
    # This file is about the timing client (the measurement harness's); the SDK path has its own transport tests.
    return [event async for event in astream_chat(ep, api_key, REQUEST, transport="timing")]


def answer(events) -> str:
    assert events[-1].kind == "done", events[-1].text
    return "".join(e.text for e in events if e.kind == "content")


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# ---- keep-alive -------------------------------------------------------------------------------------------------

def test_twenty_sequential_requests_share_one_connection(no_proxy_env):
    with KeepAliveServer() as server:
        async def run():
            return [answer(await collect(endpoint(f"http://127.0.0.1:{server.port}/v1"))) for _ in range(20)]

        answers = asyncio.run(run())
    assert answers == ["Hello world"] * 20
    assert len(server.requests) == 20
    assert server.connections == 1


def test_idle_connections_close_when_the_event_loop_ends(no_proxy_env):
    """The pool belongs to one event loop; asyncio.run's end closes the connections it kept."""
    with KeepAliveServer() as server:
        async def run():
            return answer(await collect(endpoint(f"http://127.0.0.1:{server.port}/v1")))

        assert asyncio.run(run()) == "Hello world"
        # The client hung up: well before the server's own 10 s socket timeout would have ended the connection.
        assert server.closed.wait(timeout=5)
    assert server.connections == 1


def test_a_response_not_read_to_the_end_is_never_reused(no_proxy_env):
    """A consumer that stops early leaves bytes unread on the connection: the next request must not read them."""
    limits = Limits(connect_timeout_s=5, first_byte_timeout_s=5, stall_timeout_s=5)

    async def run(server):
        pool = ConnectionPool()
        url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
        stream = post_stream(url, {}, b"{}", limits, time.perf_counter, pool=pool)
        async for _ in stream:
            break  # the first read only; the response's end may be unread
        await stream.aclose()  # no drain: closed
        whole = b""
        second = post_stream(url, {}, b"{}", limits, time.perf_counter, pool=pool)
        async for _, data in second:
            whole += data
        await second.aclose()
        return pool.opened, whole

    with KeepAliveServer() as server:
        opened, whole = asyncio.run(run(server))
    assert opened == 2 and server.connections == 2
    assert whole == reply_bytes(["Hello", " world"])


@pytest.mark.parametrize("how", ["close_after", "drop_idle"])
def test_a_connection_the_server_closes_is_replaced_and_every_request_is_sent_once(no_proxy_env, how):
    """`Connection: close` is obeyed; a server that closes an idle kept-alive connection without saying so (the race
    every pool meets) costs one retry on a new connection, never a lost or doubled request."""
    with KeepAliveServer() as server:
        setattr(server, how, True)

        async def run():
            return [answer(await collect(endpoint(f"http://127.0.0.1:{server.port}/v1"))) for _ in range(5)]

        answers = asyncio.run(run())
    assert answers == ["Hello world"] * 5
    assert len(server.requests) == 5
    assert server.connections == 5


# ---- NO_PROXY ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("host, port, no_proxy, bypass", [
    ("api.example.com", 443, "*", True),
    ("api.example.com", 443, "example.com", True),
    ("api.example.com", 443, ".example.com", True),
    ("api.example.com", 443, "*.example.com", True),
    ("example.com", 443, ".example.com", True),
    ("notexample.com", 443, "example.com", False),
    ("api.example.com", 443, "other.org, example.com", True),
    ("API.Example.COM", 443, "example.com", True),
    ("api.example.com", 443, "example.com:443", True),
    ("api.example.com", 8443, "example.com:443", False),
    ("10.1.2.3", 80, "10.0.0.0/8", True),
    ("10.1.2.3", 80, "10.1.2.3", True),
    ("10.1.2.4", 80, "10.1.2.3", False),
    ("::1", 80, "[::1]", True),
    ("::1", 80, "::1", True),
    ("::1", 8000, "[::1]:8000", True),
    ("::1", 8001, "[::1]:8000", False),
    ("fd00::5", 80, "fd00::/8", True),
    ("127.0.0.1", 80, "localhost", False),
    ("api.example.com", 443, "", False),
])
def test_no_proxy_entries(host, port, no_proxy, bypass):
    assert bypasses_proxy(host, port, no_proxy) is bypass


def test_proxy_variables_are_read_as_curl_and_urllib_read_them():
    env = {"HTTPS_PROXY": "http://big:3128", "https_proxy": "http://small:3128", "HTTP_PROXY": "proxy.corp:8080"}
    assert proxy_for("https", "x.org", 443, env).host == "small"  # the lower-case name wins
    plain = proxy_for("http", "x.org", 80, env)
    assert (plain.host, plain.port, plain.authorization) == ("proxy.corp", 8080, None)  # no scheme: http://
    assert proxy_for("http", "x.org", 80, {**env, "REQUEST_METHOD": "GET"}) is None  # httpoxy: CGI ignores it
    assert proxy_for("https", "x.org", 443, {**env, "NO_PROXY": "x.org"}) is None
    with pytest.raises(ProxyConfigError) as refused:
        proxy_for("https", "x.org", 443, {"HTTPS_PROXY": "socks5://user:hunter2@socks:1080"})
    assert "HTTPS_PROXY" in str(refused.value) and "hunter2" not in str(refused.value)


def test_proxy_credentials_never_show_in_repr():
    proxy = proxy_for("https", "x.org", 443, {"HTTPS_PROXY": f"http://{PROXY_USER}:pw-secret-1@p:1"})
    assert "pw-secret-1" not in repr(proxy) and "pw-secret-1" not in proxy.label
    assert proxy.authorization == "Basic " + base64.b64encode(f"{PROXY_USER}:pw-secret-1".encode()).decode()


# ---- HTTP through the proxy -------------------------------------------------------------------------------------

def quoted_proxy_url(proxy: LoggingProxy) -> str:
    from urllib.parse import quote

    host = proxy.url.removeprefix("http://")
    return f"http://{PROXY_USER}:{quote(PROXY_PASSWORD, safe='')}@{host}"


def test_http_goes_through_http_proxy_in_absolute_form(no_proxy_env):
    with KeepAliveServer() as server, LoggingProxy() as proxy:
        no_proxy_env.setenv("HTTP_PROXY", quoted_proxy_url(proxy))
        events = asyncio.run(collect(endpoint(f"http://127.0.0.1:{server.port}/v1"), API_KEY))
    assert answer(events) == "Hello world"
    assert [(entry.method, entry.target) for entry in proxy.log] == [
        ("POST", f"http://127.0.0.1:{server.port}/v1/chat/completions")]
    expected = "Basic " + base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
    assert proxy.log[0].headers["Proxy-Authorization"] == expected
    assert proxy.log[0].headers["Host"] == f"127.0.0.1:{server.port}"
    assert "Proxy-Authorization" not in server.requests[0][1]  # the proxy keeps it; the server gets the key only
    assert server.requests[0][1]["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "*", "127.0.0.0/8", "127.0.0.1:{port}", "other.org,127.0.0.1"])
def test_no_proxy_sends_the_request_direct(no_proxy_env, no_proxy):
    with KeepAliveServer() as server, LoggingProxy() as proxy:
        no_proxy_env.setenv("HTTP_PROXY", proxy.url)
        no_proxy_env.setenv("NO_PROXY", no_proxy.format(port=server.port))
        events = asyncio.run(collect(endpoint(f"http://127.0.0.1:{server.port}/v1")))
    assert answer(events) == "Hello world"
    assert proxy.log == [] and len(server.requests) == 1


def test_an_unreachable_proxy_is_named_without_its_credentials(no_proxy_env):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    no_proxy_env.setenv("HTTP_PROXY", f"http://{PROXY_USER}:pw-unreachable-77@127.0.0.1:{port}")
    events = asyncio.run(collect(endpoint("http://127.0.0.1:9/v1")))
    assert events[-1].kind == "error"
    assert f"proxy 127.0.0.1:{port}" in events[-1].text and "pw-unreachable-77" not in events[-1].text


# ---- HTTPS through a CONNECT tunnel -----------------------------------------------------------------------------

needs_openssl = pytest.mark.skipif(not openssl_available(), reason="the openssl command makes the test certificates")


@needs_openssl
def test_https_goes_through_a_connect_tunnel_with_tls_to_the_real_host(no_proxy_env, tmp_path):
    authority = make_authority(tmp_path)
    no_proxy_env.setenv("SSL_CERT_FILE", str(authority.ca_file))
    with KeepAliveServer(tls=authority.server_context) as server, LoggingProxy() as proxy:
        no_proxy_env.setenv("HTTPS_PROXY", quoted_proxy_url(proxy))

        async def run():
            ep = endpoint(f"https://localhost:{server.port}/v1")
            return [answer(await collect(ep, API_KEY)) for _ in range(3)]

        answers = asyncio.run(run())
    assert answers == ["Hello world"] * 3
    # One tunnel, kept alive for all three requests; the proxy saw CONNECT and its credentials, nothing else.
    assert [(entry.method, entry.target) for entry in proxy.log] == [("CONNECT", f"localhost:{server.port}")]
    assert proxy.log[0].headers["Proxy-Authorization"].startswith("Basic ")
    assert server.connections == 1 and len(server.requests) == 3
    assert all("Proxy-Authorization" not in headers for _, headers in server.requests)
    assert server.requests[0][1]["Authorization"] == f"Bearer {API_KEY}"


@needs_openssl
def test_the_tunnel_checks_the_certificate_against_the_real_host(no_proxy_env, tmp_path):
    authority = make_authority(tmp_path, server_names=("DNS:elsewhere.example",))
    no_proxy_env.setenv("SSL_CERT_FILE", str(authority.ca_file))
    with KeepAliveServer(tls=authority.server_context) as server, LoggingProxy() as proxy:
        no_proxy_env.setenv("HTTPS_PROXY", proxy.url)
        events = asyncio.run(collect(endpoint(f"https://localhost:{server.port}/v1"), API_KEY))
    assert events[-1].kind == "error" and "TLS with localhost failed" in events[-1].text
    assert server.requests == []  # the key was never sent


@needs_openssl
def test_https_no_proxy_bypasses_the_tunnel(no_proxy_env, tmp_path):
    authority = make_authority(tmp_path)
    no_proxy_env.setenv("SSL_CERT_FILE", str(authority.ca_file))
    with KeepAliveServer(tls=authority.server_context) as server, LoggingProxy() as proxy:
        no_proxy_env.setenv("HTTPS_PROXY", proxy.url)
        no_proxy_env.setenv("NO_PROXY", "localhost")
        events = asyncio.run(collect(endpoint(f"https://localhost:{server.port}/v1")))
    assert answer(events) == "Hello world" and proxy.log == []


def test_a_refused_tunnel_says_so_without_the_credentials(no_proxy_env):
    with LoggingProxy(refuse_status=407) as proxy:
        no_proxy_env.setenv("HTTPS_PROXY", quoted_proxy_url(proxy))
        events = asyncio.run(collect(endpoint("https://api.example.invalid/v1"), API_KEY))
    assert events[-1].kind == "error"
    text = events[-1].text
    assert "407" in text and "refused the tunnel to api.example.invalid:443" in text
    assert PROXY_PASSWORD not in text and "pr0xy-s3cret" not in text and API_KEY not in text
    assert [entry.method for entry in proxy.log] == ["CONNECT"]
    assert "Authorization" not in proxy.log[0].headers  # the API key never goes to the proxy


# ---- the end of a stream is stamped when its bytes arrive -------------------------------------------------------

def test_the_done_event_is_stamped_at_the_read_that_delivered_it(no_proxy_env):
    """The clock only moves when the consumer moves it: after the usage event it jumps 100 s. [DONE] arrived in the
    same read as the usage chunk, so the done event must carry that read's stamp, not the time the consumer got to
    it (the old client stamped the end after parsing)."""
    from tests.openai_server import DONE, Script, ScriptedServer, delta, usage

    now = [1000.0]
    script = Script(steps=[(0, delta(content="a")), (0.05, usage(1, 1) + DONE)])

    async def run(server):
        events = []
        async for event in astream_chat(endpoint(server.base_url), None, REQUEST, clock=lambda: now[0],
                                       transport="timing"):
            events.append(event)
            if event.kind == "usage":
                now[0] += 100.0
        return events

    with ScriptedServer(script) as server:
        events = asyncio.run(run(server))
    by_kind = {e.kind: e for e in events}
    assert by_kind["done"].at_s == by_kind["usage"].at_s == 1000.0
