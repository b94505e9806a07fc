"""The ready provider entries in endpoints.example.toml: each loads, and each, pointed at a loopback server in place
of its real URL, sends its provider's dialect (path, key header, attribution headers, thinking fields)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from modelmatch.chat.endpoints import load_endpoints, resolve_api_key
from modelmatch.chat.openai_client import astream_chat
from modelmatch.chat.types import ChatMessage, ChatRequest
from tests.conftest import REPO_ROOT
from tests.openai_server import ScriptedServer, answer_script

KEY = "sk-provider-entry-test-0123456789"


def example() -> dict:
    endpoints, _ = load_endpoints(REPO_ROOT / "endpoints.example.toml")
    return {e.name: e for e in endpoints}


# name -> (base URL, model, key variable, what the body must hold, headers that must be sent)
ENTRIES = {
    "DeepSeek V4 Flash (official API)": ("https://api.deepseek.com", "deepseek-v4-flash", "DEEPSEEK_API_KEY",
                                         {"thinking": {"type": "enabled"}}, {}),
    "DeepSeek V4 Pro thinking (official API)": ("https://api.deepseek.com", "deepseek-v4-pro", "DEEPSEEK_API_KEY",
                                                {"thinking": {"type": "enabled"}}, {}),
    "Qwen Plus thinking (Model Studio)": ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "qwen-plus",
                                         "DASHSCOPE_API_KEY", {"enable_thinking": True}, {}),
    "DeepSeek V4 Flash (OpenRouter)": ("https://openrouter.ai/api/v1", "deepseek/deepseek-v4-flash",
                                       "OPENROUTER_API_KEY", {},
                                       {"http-referer": "https://modelmatch.example.org",
                                        "x-openrouter-title": "ModelMatch"}),
    "DeepSeek-R1-Distill-Qwen-7B (vLLM)": ("http://127.0.0.1:8001/v1", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
                                           None, {}, {}),
    "Qwen3-8B (SGLang)": ("http://127.0.0.1:30000/v1", "Qwen/Qwen3-8B", None,
                          {"chat_template_kwargs": {"enable_thinking": True}}, {}),
    "Qwen3-8B (Ollama)": ("http://127.0.0.1:11434/v1", "qwen3:8b", None, {}, {}),
    "Qwen3-8B (LM Studio)": ("http://127.0.0.1:1234/v1", "qwen/qwen3-8b", None, {}, {}),
}


@pytest.mark.parametrize("name", ENTRIES)
def test_the_example_file_has_the_ready_entry(name):
    base_url, model, key_env, _, headers = ENTRIES[name]
    ep = example()[name]
    assert (ep.kind, ep.base_url, ep.model, ep.api_key_env) == ("openai", base_url, model, key_env)
    assert {k.lower(): v for k, v in ep.headers} == headers


@pytest.mark.parametrize("name", ENTRIES)
def test_the_entry_speaks_its_dialect_to_a_loopback_server(name, monkeypatch):
    _, model, key_env, body_holds, headers = ENTRIES[name]
    if key_env:
        monkeypatch.setenv(key_env, KEY)
    request = ChatRequest(messages=(ChatMessage("user", "Say hello"),), max_tokens=64, thinking=True)
    with ScriptedServer(answer_script(["Hello"], reasoning=["hm"])) as server:
        ep = dataclasses.replace(example()[name], base_url=server.base_url)
        key = resolve_api_key(ep)

        async def run():
            return [e async for e in astream_chat(ep, key, request)]
        events = asyncio.run(run())
        (got,) = server.received
    assert events[-1].kind == "done", events[-1].text
    assert got.path == "/v1/chat/completions" and got.body["model"] == model and got.body["stream"] is True
    for field, value in body_holds.items():
        assert got.body[field] == value
    sent = {k.lower(): v for k, v in got.headers.items()}
    assert sent.get("authorization") == (f"Bearer {KEY}" if key_env else None)
    for header, value in headers.items():
        assert sent[header] == value
