"""A real loopback HTTP server speaking the OpenAI streaming protocol, scripted per test.

Each request is recorded (path, headers, JSON body). The reply comes from a script: status, headers, and a list of
(delay_s, bytes) steps written with chunked transfer encoding, optionally ending abruptly.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Script:
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/event-stream"})
    steps: list[tuple[float, bytes]] = field(default_factory=list)
    end_abruptly: bool = False  # close without the terminating chunk


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict


def sse(payload: dict | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


def delta(content: str | None = None, reasoning: str | None = None, field_name: str = "reasoning_content") -> bytes:
    d: dict = {}
    if reasoning is not None:
        d[field_name] = reasoning
    if content is not None:
        d["content"] = content
    return sse({"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d}]})


def usage(prompt: int, completion: int, reasoning: int | None = None) -> bytes:
    u: dict = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if reasoning is not None:
        u["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return sse({"id": "x", "object": "chat.completion.chunk", "choices": [], "usage": u})


DONE = b"data: [DONE]\n\n"


def answer_script(words: list[str], gap_s: float = 0.0, first_s: float = 0.0, prompt_tokens: int = 7,
                  reasoning: list[str] | None = None) -> Script:
    steps = []
    for i, r in enumerate(reasoning or []):
        steps.append((first_s if i == 0 else gap_s, delta(reasoning=r)))
    for i, w in enumerate(words):
        steps.append((first_s if i == 0 and not reasoning else gap_s, delta(content=w)))
    steps.append((0.0, usage(prompt_tokens, len(words) + len(reasoning or []), len(reasoning or []) or None)))
    steps.append((0.0, DONE))
    return Script(steps=steps)


def drip(data: bytes, gap_s: float = 1.0) -> list[tuple[float, bytes]]:
    """Steps writing `data` one byte at a time, `gap_s` apart: a server that never goes quiet for long, yet says
    next to nothing."""
    return [(gap_s, data[i:i + 1]) for i in range(len(data))]


class Flood:
    """Steps writing `piece` again and again until `total_bytes` are out, made as they are written (a 50 MB reply
    never sits in memory). Iterable any number of times, so one Script serves every request."""

    def __init__(self, piece: bytes, total_bytes: int):
        self.piece, self.total_bytes = piece, total_bytes

    def __iter__(self):
        for _ in range(max(1, self.total_bytes // len(self.piece))):
            yield 0.0, self.piece


class ScriptedServer:
    def __init__(self, script: Script | Callable[[dict], Script] | None = None):
        self.script = script or answer_script(["Hello", " world"])
        self.received: list[Received] = []
        self.cut_short: list[int] = []  # for each reply the client hung up on: how many steps had been written
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode("latin-1")}
                with server._lock:
                    server.received.append(Received(self.path, dict(self.headers.items()), body))
                script = server.script(body) if callable(server.script) else server.script
                self.send_response(script.status)
                for key, value in script.headers.items():
                    self.send_header(key, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                written = 0
                try:
                    for delay, data in script.steps:
                        if delay:
                            time.sleep(delay)
                        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                        self.wfile.flush()
                        written += 1
                    if not script.end_abruptly:
                        self.wfile.write(b"0\r\n\r\n")
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    with server._lock:
                        server.cut_short.append(written)
                self.close_connection = True

            do_GET = do_POST  # noqa: N815 (images in model output are fetched with GET)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "ScriptedServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def write_endpoints(path, servers: dict[str, "ScriptedServer"], keyed: str | None = None, key_env: str = "MM_TEST_KEY",
                    extra_lines: tuple[str, ...] = ()) -> None:
    """An operator's endpoints.toml naming each loopback server; `keyed` reads its key from `key_env`."""
    lines = []
    for name, server in servers.items():
        lines += ["[[endpoint]]", f'name = "{name}"', 'kind = "openai"', f'base_url = "{server.base_url}"',
                  f'model = "{name.lower()}"', *extra_lines]
        if name == keyed:
            lines.append(f'api_key_env = "{key_env}"')
        lines.append("")
    path.write_text("\n".join(lines))
