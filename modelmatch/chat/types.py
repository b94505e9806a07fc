"""Types every chat backend shares: what is asked, and the events a stream yields.

Backends (OpenAI-compatible HTTP, local transformers) turn a ChatRequest into an iterator of StreamEvents; the
timing module and the playground only ever see these events, so both backends are measured the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant"]
EventKind = Literal["reasoning", "content", "usage", "queued", "error", "done"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[ChatMessage, ...]
    max_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.95
    thinking: bool | None = None  # None: the endpoint's default; True/False where the model can switch
    # Measurement runs ask the server for an exact output length (vLLM's ignore_eos / min_tokens).
    exact_output_tokens: bool = False


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    source: Literal["server-usage", "tokenizer"] = "server-usage"


@dataclass(frozen=True)
class StreamEvent:
    """One thing that happened on a stream, stamped by the backend with the clock reading when it arrived."""

    kind: EventKind
    at_s: float  # clock reading (time.perf_counter unless a test scripts the clock)
    text: str = ""  # reasoning or content text for those kinds; the message for errors
    usage: Usage | None = None
    queue_position: int | None = None  # for "queued": requests ahead of this one on a local model
    detail: dict = field(default_factory=dict)


class ChatBackendError(Exception):
    """A failure the user should read: connection refused, timeout, HTTP status, malformed stream. The message
    never contains an API key (backends redact before raising)."""
