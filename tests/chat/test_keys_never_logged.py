"""Keys never reach a log record, even with every logger at DEBUG: the SDK's, the HTTP library's (httpx2 logs each
request's URL at INFO) and its connection layer's (httpcore2 logs each step at DEBUG, response headers included).
The project itself never turns those loggers on."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re

import pytest

from modelmatch.chat.endpoints import parse_endpoints
from modelmatch.chat.openai_client import astream_chat
from modelmatch.chat.types import ChatMessage, ChatRequest
from tests.conftest import REPO_ROOT
from tests.openai_server import Script, ScriptedServer, answer_script

KEY = "sk-canary-logged-3e1f0a9b8c7d6e5f4a3b"
REQUEST = ChatRequest(messages=(ChatMessage("user", "hi"),), max_tokens=16)
HTTP_LOGGERS = ("openai", "httpx2", "httpcore2")


def endpoint(server: ScriptedServer, azure: bool):
    entry = {"name": "e", "kind": "openai", "model": "m", "api_key_env": "UNUSED_KEY_VARIABLE",
             "first_byte_timeout_s": 5, "stall_timeout_s": 5}
    if azure:
        entry |= {"api": "azure", "base_url": "https://res.openai.azure.com", "deployment": "d",
                  "api_version": "2024-10-21"}
    else:
        entry |= {"base_url": "https://api.example.com/v1"}
    (parsed,) = parse_endpoints({"endpoint": [entry]}, "endpoints.toml")
    return dataclasses.replace(parsed, base_url=server.origin if azure else server.base_url)


async def _collect(ep, transport: str) -> list:
    return [event async for event in astream_chat(ep, KEY, REQUEST, transport=transport)]


@pytest.mark.parametrize("transport", ["sdk", "timing"])
@pytest.mark.parametrize("azure", [False, True], ids=["bearer", "azure-api-key"])
@pytest.mark.parametrize("script", [
    answer_script(["Hi"]),
    Script(status=401, headers={"Content-Type": "application/json"}, steps=[(0, b'{"error": "bad key"}')]),
    Script(status=302, headers={"Location": "https://elsewhere.example/v1/chat/completions"}, steps=[(0, b"")]),
], ids=["answer", "401", "redirect"])
def test_no_log_record_holds_the_key_with_every_logger_at_debug(caplog, transport, azure, script):
    caplog.set_level(logging.DEBUG)
    for name in HTTP_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    with ScriptedServer(script) as server:
        events = asyncio.run(_collect(endpoint(server, azure), transport))
        (got,) = server.received
    assert got.headers.get("api-key" if azure else "Authorization", "").endswith(KEY)  # the key was sent
    assert events[-1].kind in ("done", "error") and KEY not in events[-1].text
    if transport == "sdk":  # the loggers were on: otherwise this test would prove nothing
        assert {record.name.split(".")[0] for record in caplog.records} >= {"httpx2", "httpcore2"}
    logged = "\n".join(f"{record.name} {record.getMessage()}" for record in caplog.records)
    assert KEY not in logged and KEY[-12:] not in logged


# Ways a program turns library debug logging on: logging.basicConfig (root handler), a level set on the HTTP
# libraries' loggers, the SDK's OPENAI_LOG switch, or httpx's trace/debug environment switches.
TURNS_ON = re.compile(r"basicConfig\(|getLogger\(\s*[\"'](?:openai|httpx2?|httpcore2?)|OPENAI_LOG|HTTPX_LOG_LEVEL")


def test_the_project_never_turns_on_http_library_logging():
    sources = [*REPO_ROOT.glob("modelmatch/**/*.py"), *REPO_ROOT.glob("pages/**/*.py"), REPO_ROOT / "app.py",
               *REPO_ROOT.glob("ingest/**/*.py"), *REPO_ROOT.glob("bench/**/*.py"), REPO_ROOT / ".streamlit/config.toml"]
    found = [f"{path.relative_to(REPO_ROOT)}: {line.strip()}" for path in sources
             for line in path.read_text().splitlines() if TURNS_ON.search(line)]
    assert found == []
