"""Each provider dialect of endpoints.example.toml against its streaming shape as the vendor documents or writes
it (tests/chat/transcripts/*.sse: a header naming the official source and where in it, whether the example is
complete or partial, then the stream's bytes), replayed byte for byte by a loopback server, whole and cut into
small writes, through the public streaming entry point. Checked: the answer text, the reasoning split, the usage,
and that the stream ends complete."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from modelmatch.chat.endpoints import Endpoint
from modelmatch.chat.openai_client import astream_chat
from modelmatch.chat.types import ChatMessage, ChatRequest
from tests.openai_server import Script, ScriptedServer

TRANSCRIPTS = Path(__file__).parent / "transcripts"
REQUEST = ChatRequest(messages=(ChatMessage("user", "hi"),), max_tokens=64)
AZURE_KEY = "azure-key-0123456789abcdef0123456789ab"


@dataclass(frozen=True)
class Expected:
    reasoning: str
    content: str
    usage: tuple[int, int] | None  # (input tokens, output tokens) from the stream's usage chunk


EXPECTED = {
    "vllm_reasoning_parser.sse": Expected("2 plus 2 is 4.", "4 (\u56db).", (14, 9)),
    "sglang_reasoning_parser.sse": Expected("The user greets me. Reply briefly.", "Hello! How can I help?", None),
    "ollama_openai_compat.sse": Expected("The user says hi. Greet back.", "Hi there! What can I do for you?", (11, 16)),
    "azure_openai.sse": Expected("", "Hello from Azure.", (9, 4)),
    "deepseek_thinking.sse": Expected("Compare the tenths: 8 > 1.", "9.8 is greater.", None),
    "alibaba_model_studio_thinking.sse": Expected("The user asks who I am. Introduce myself.",
                                                  "I am Qwen, a large language model.", None),
    "openrouter.sse": Expected("", "Streaming through OpenRouter.", None),
    "lmstudio_openai_compat.sse": Expected("Short greeting requested.", "Hello from LM Studio.", None),
}


def transcript(name: str) -> tuple[str, bytes]:
    """(header text, stream bytes): the header is the '# ' lines up to '# ---'."""
    raw = (TRANSCRIPTS / name).read_bytes()
    header, marker, body = raw.partition(b"# ---\n")
    assert marker, f"{name} has no '# ---' line ending its header"
    return header.decode(), body


def test_every_transcript_is_checked_and_names_its_official_source():
    assert sorted(p.name for p in TRANSCRIPTS.glob("*.sse")) == sorted(EXPECTED)
    for name in EXPECTED:
        header, body = transcript(name)
        assert "Source (official" in header and "https://" in header, name
        assert all(line.startswith("#") for line in header.splitlines()), name
        assert body.endswith(b"data: [DONE]\n\n"), name


def pieces(body: bytes, size: int | None) -> list[tuple[float, bytes]]:
    if size is None:
        return [(0.0, body)]
    return [(0.0, body[i:i + size]) for i in range(0, len(body), size)]


def endpoint_for(name: str, server: ScriptedServer) -> Endpoint:
    base = Endpoint(name=name.removesuffix(".sse")[:60], kind="openai", model="m", base_url=server.base_url,
                    first_byte_timeout_s=5, stall_timeout_s=5)
    if name == "azure_openai.sse":
        return replace(base, base_url=server.origin, api="azure", deployment="gpt-4o-mini", api_version="2024-10-21")
    return base


# Whole, and cut into 7-byte writes, for every transcript; 1-byte writes for one per framing style (SSE comments,
# compact chunks with usage), which keeps the run short.
CASES = ([(name, None) for name in sorted(EXPECTED)] + [(name, 7) for name in sorted(EXPECTED)]
         + [("ollama_openai_compat.sse", 1), ("openrouter.sse", 1)])


@pytest.mark.parametrize("transport", ["sdk", "timing"])
@pytest.mark.parametrize("name, split", CASES, ids=[f"{n.removesuffix('.sse')}-{s or 'whole'}" for n, s in CASES])
def test_transcript_replays_into_the_right_events(name, split, transport):
    _, body = transcript(name)
    expected = EXPECTED[name]
    with ScriptedServer(Script(steps=pieces(body, split))) as server:
        ep = endpoint_for(name, server)
        key = AZURE_KEY if ep.api == "azure" else None

        async def run():
            return [event async for event in astream_chat(ep, key, REQUEST, transport=transport)]

        events = asyncio.run(run())
    assert events[-1].kind == "done", events[-1].text
    text_kinds = [e.kind for e in events if e.kind in ("reasoning", "content")]
    assert text_kinds == sorted(text_kinds, key=lambda kind: kind != "reasoning")  # all reasoning, then the answer
    assert "".join(e.text for e in events if e.kind == "reasoning") == expected.reasoning
    assert "".join(e.text for e in events if e.kind == "content") == expected.content
    usage = [e.usage for e in events if e.kind == "usage"]
    if expected.usage is None:
        assert usage == []
    else:
        assert [(u.input_tokens, u.output_tokens) for u in usage] == [expected.usage]
    if ep.api == "azure":
        received = server.received[0]
        assert received.path == "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
        assert received.headers["api-key"] == AZURE_KEY and "Authorization" not in received.headers
