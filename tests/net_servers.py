"""Loopback servers for the clients' connection tests: an OpenAI-style server that keeps connections alive and
counts them, a logging HTTP proxy (absolute-form forwarding and CONNECT tunnels), and the one throwaway certificate
authority for TLS that every test uses (both clients), made with the openssl command line: the cryptography package
is not among the locked dependencies."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

DONE = b"data: [DONE]\n\n"


def reply_bytes(words: list[str]) -> bytes:
    body = b"".join(b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": w}}]}).encode() + b"\n\n"
                    for w in words)
    usage = {"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": len(words),
                                      "total_tokens": 2 + len(words)}}
    return body + b"data: " + json.dumps(usage).encode() + b"\n\n" + DONE


class KeepAliveServer:
    """HTTP/1.1 with keep-alive (BaseHTTPRequestHandler serves requests on a connection until it closes). Counts the
    TCP connections it accepted and records each request's path and headers. `close_after` = True answers with
    `Connection: close`; `drop_idle` = True closes each connection right after its response, without saying so."""

    def __init__(self, words: list[str] | None = None, tls: ssl.SSLContext | None = None):
        self.words = words or ["Hello", " world"]
        self.connections = 0
        self.closed = threading.Event()  # set when a connection ended (the client or the server closed it)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.close_after = False
        self.drop_idle = False
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10  # seconds per socket operation, the TLS handshake included: a test never hangs on one

            def setup(self) -> None:
                with server._lock:
                    server.connections += 1
                super().setup()

            def log_message(self, *args) -> None:
                pass

            def finish(self) -> None:
                super().finish()
                server.closed.set()

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with server._lock:
                    server.requests.append((self.path, dict(self.headers.items())))
                body = reply_bytes(server.words)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                if server.close_after:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
                self.wfile.flush()
                if server.close_after or server.drop_idle:
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            # The handshake happens in each connection's own thread (on its first read), not in accept(), where a
            # client that gave up half-way would block the whole server.
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def __enter__(self) -> "KeepAliveServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@dataclass
class ProxyLog:
    method: str
    target: str
    headers: dict[str, str]


@dataclass
class LoggingProxy:
    """An HTTP proxy on loopback that logs the first request line and headers of every connection, then forwards:
    CONNECT opens a tunnel (or is refused with `refuse_status`); an absolute-form request is sent on to its host in
    origin form, without Proxy-Authorization, and the bytes are relayed both ways from then on."""

    refuse_status: int | None = None
    log: list[ProxyLog] = field(default_factory=list)
    tunnelled: bytearray = field(default_factory=bytearray)  # what clients sent through CONNECT tunnels

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        """(method, target, headers) of each logged request."""
        return [(entry.method, entry.target, entry.headers) for entry in self.log]

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self._stopping = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> "LoggingProxy":
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc) -> None:
        self._stopping = True
        self._sock.close()
        for sock in list(self._open):
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            self._open.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            data = client.recv(65536)
            if not data:
                client.close()
                return
            head += data
        head, rest = head.split(b"\r\n\r\n", 1)
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ")
        headers = dict(line.split(": ", 1) for line in header_lines)
        self.log.append(ProxyLog(method, target, headers))
        if self.refuse_status is not None:
            client.sendall(f"HTTP/1.1 {self.refuse_status} Refused\r\nContent-Length: 0\r\n\r\n".encode())
            client.close()
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)))
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            first = rest
        else:
            parts = urlsplit(target)
            upstream = socket.create_connection((parts.hostname, parts.port or 80))
            kept = [f"{k}: {v}" for k, v in headers.items() if k.lower() != "proxy-authorization"]
            origin = parts.path + (f"?{parts.query}" if parts.query else "")
            first = "\r\n".join([f"{method} {origin} {version}", *kept, "", ""]).encode("latin-1") + rest
        self._open.append(upstream)
        seen = self.tunnelled if method == "CONNECT" else None  # the bytes a proxy could read in a tunnel
        if first:
            upstream.sendall(first)
            if seen is not None:
                seen.extend(first)
        threading.Thread(target=_relay, args=(upstream, client), daemon=True).start()
        _relay(client, upstream, seen)


def _relay(source: socket.socket, sink: socket.socket, seen: bytearray | None = None) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
            if seen is not None:
                seen.extend(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@dataclass
class CertAuthority:
    ca_file: Path
    server_context: ssl.SSLContext


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def make_authority(folder: Path, server_names: tuple[str, ...] = ("DNS:localhost", "IP:127.0.0.1")) -> CertAuthority:
    """A certificate authority and a server certificate for `server_names`, valid for two days, written to folder
    (keys are made per test run and never stored in the repository)."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ModelMatch test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=test server")
    (folder / "ext.cnf").write_text(f"subjectAltName={','.join(server_names)}\n"
                                    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                                    "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return CertAuthority(folder / "ca.pem", context)
