"""A real HTTP server on 127.0.0.1 (random port) that serves the recorded responses in this folder.

Each route can misbehave the ways real servers do: answer slowly (timeouts), answer 500, send a Content-Length and
then close the connection early (a truncated body), or redirect (to the same or to another host).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    truncate_to: int | None = None  # send only this many bytes of the body, then close
    location: str | None = None  # redirect target (status should be 301/302/307)


class LoopbackServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0]
                server.requests.append((path, {k.lower(): v for k, v in self.headers.items()}))
                route = server.routes.get(path)
                if route is None:
                    body = b'{"error": {"message": "Not Found", "code": 404}}'
                    self.send_response(404)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if route.delay_s:
                    time.sleep(route.delay_s)
                self.send_response(route.status)
                if route.location:
                    self.send_header("Location", route.location)
                self.send_header("Content-Type", route.headers.get("Content-Type", "application/json"))
                for key, value in route.headers.items():
                    if key.lower() != "content-type":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(route.body)))
                if route.truncate_to is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                try:
                    self.wfile.write(route.body if route.truncate_to is None else route.body[: route.truncate_to])
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                if route.truncate_to is not None:
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def serve(self, path: str, fixture: str | None = None, body: bytes | None = None, **options) -> Route:
        data = body if body is not None else (FIXTURES / fixture).read_bytes() if fixture else b""
        route = Route(body=data, **options)
        self.routes[path] = route
        return route

    def paths_requested(self) -> list[str]:
        return [p for p, _ in self.requests]

    def start(self) -> "LoopbackServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def loopback():
    server = LoopbackServer().start()
    try:
        yield server
    finally:
        server.stop()
