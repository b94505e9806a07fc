"""Streaming chat completions from any OpenAI-compatible server (vLLM, SGLang, TGI, Ollama, DeepSeek API, Alibaba
Model Studio compatible mode, OpenRouter), as StreamEvents with arrival times.

Reasoning arrives in `reasoning_content` (DeepSeek, vLLM's reasoning parsers) or `reasoning` (OpenRouter, newer
vLLM), or inside the text as <think>...</think> for servers without a parser. Token counts come from the final
usage chunk (`stream_options.include_usage`).

Two clients carry the bytes, and everything above the bytes (the request body, the SSE parser, the limits on
events, reasoning, usage, error messages) is this module's, shared by both: the official `openai` SDK
(`sdk_stream`: proxies, TLS trust, keep-alive, gzip, Retry-After) for the playground and the evals, and the timing
client (`http_stream`: each read stamped as it arrives) for the measurement harness.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import AsyncIterator, Callable, Iterator, Literal, Mapping
from urllib.parse import urlencode

from modelmatch.chat.types import ChatBackendError, ChatRequest, StreamEvent, Usage
from modelmatch.chat.endpoints import ApiKeyError, Endpoint, redact, resolve_headers
from modelmatch.chat import sdk_stream
from modelmatch.chat.http_stream import HttpError, Limits, SSEParser, post_stream
from modelmatch.chat.reasoning import ThinkSplitter

Clock = Callable[[], float]
# "sdk": the official openai SDK (playground, evals); "timing": the h11 client built for timing (measurements).
Transport = Literal["sdk", "timing"]


def request_body(endpoint: Endpoint, request: ChatRequest) -> dict:
    body: dict = {
        "model": endpoint.model,
        "messages": [m.as_dict() for m in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": min(request.max_tokens, endpoint.max_tokens_cap),
        "temperature": request.temperature,
        "top_p": request.top_p,
    }
    if request.thinking is not None:
        if endpoint.thinking == "qwen3-enable-thinking":
            # vLLM and SGLang pass chat_template_kwargs to Qwen3's template.
            body["chat_template_kwargs"] = {"enable_thinking": request.thinking}
        elif endpoint.thinking == "deepseek-v31-template":
            # DeepSeek-V3.1's template reads `thinking` (vLLM's deepseek_v3 reasoning parser too).
            body["chat_template_kwargs"] = {"thinking": request.thinking}
        elif endpoint.thinking == "deepseek-thinking":
            body["thinking"] = {"type": "enabled" if request.thinking else "disabled"}
    if request.exact_output_tokens:
        # vLLM's sampling extensions: generate exactly max_tokens, for measurements.
        body["ignore_eos"] = True
        body["min_tokens"] = body["max_tokens"]
    return _merged(endpoint.extra_body, body) if endpoint.extra_body_json else body


def _merged(extra: dict, own: dict) -> dict:
    """The endpoint's extra_body under the request's own fields: tables merge key by key, and where both set the
    same value the request's wins (the thinking switch a visitor picked beats the operator's default)."""
    merged = dict(extra)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _excerpt(text: object, chars: int, api_key: str | None | list[str | None]) -> str:
    """Server text for a message: redacted first, then cut (cut first, a key straddling the cut would survive
    as all but its last characters)."""
    return redact(str(text), api_key if isinstance(api_key, list) else [api_key])[:chars]


def _error_message(endpoint: Endpoint, error: HttpError, api_key: str | None | list[str | None] = None) -> str:
    if 300 <= error.status < 400:
        where = f" to {error.location_host}" if error.location_host else ""
        return (f"{endpoint.name} answered with a redirect (HTTP {error.status}){where}; redirects are not followed, "
                "so configure the endpoint's final URL")
    detail = ""
    try:
        payload = json.loads(error.body.decode("utf-8", errors="replace"))
        err = payload.get("error", payload) if isinstance(payload, dict) else payload
        detail = err.get("message") if isinstance(err, dict) else str(err)
    except (ValueError, AttributeError):
        detail = error.body.decode("utf-8", errors="replace").strip()
    hint = {401: "the API key is missing or wrong", 403: "the key is not allowed to use this model",
            404: "the URL or model name is wrong", 429: "rate limited or out of quota: wait and retry",
            500: "the server failed", 502: "bad gateway", 503: "the server is overloaded or starting"}.get(error.status, "")
    text = f"{endpoint.name}: HTTP {error.status}" + (f" ({hint})" if hint else "")
    if detail:
        text += f": {_excerpt(detail, 300, api_key)}"
    return text


def _sendable_header_value(value: str) -> bool:
    return value == value.strip() and all(0x20 <= ord(ch) <= 0x7E for ch in value)


async def astream_chat(endpoint: Endpoint, api_key: str | None, request: ChatRequest,
                       clock: Clock = time.perf_counter,
                       on_sent: Callable[[float], None] | None = None,
                       secrets: Mapping[str, object] | None = None,
                       transport: Transport = "sdk") -> AsyncIterator[StreamEvent]:
    """Yield the stream's events; failures end the stream with one `error` event (never an exception).

    `on_sent(clock reading)` is called once the request is in the kernel's hands (the measurement harness times
    TTFT from that instant, so connection setup and the client's own scheduling stay out of it). `secrets`: where
    header values named by `{ secret = ... }` are looked up after the environment (Streamlit secrets, as a dict).
    `transport`: which client carries the bytes (see the module's docstring)."""
    try:
        extra_headers, header_secrets = resolve_headers(endpoint, secrets)
    except ApiKeyError as missing:
        yield StreamEvent("error", clock(), f"{endpoint.name}: {missing}")
        return
    # The endpoint's own headers first: the file cannot name the ones below (validated when it is loaded).
    headers = {**extra_headers, "Content-Type": "application/json", "Accept": "text/event-stream"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    secrets = [api_key, *header_secrets]
    unsendable = [name for name, value in headers.items() if not _sendable_header_value(value)]
    if unsendable:
        # An HTTP library's message quotes the refused header whole, and that header may be the key: never send it.
        yield StreamEvent("error", clock(), f"the request was not sent: the {', '.join(unsendable)} header holds a "
                                            "character HTTP does not allow (a line break, a carriage return or a "
                                            "space at its end: check the API key's variable)")
        return
    body = request_body(endpoint, request)
    if transport == "timing":
        limits = Limits(endpoint.connect_timeout_s, endpoint.first_byte_timeout_s, endpoint.stall_timeout_s,
                        endpoint.max_response_bytes, endpoint.max_duration_s)
        url = f"{endpoint.base_url}/chat/completions"
        if endpoint.query:
            url += "?" + urlencode(endpoint.query)
        stream = post_stream(url, headers, json.dumps(body).encode(), limits, clock, on_sent)
    else:
        stream = sdk_stream.post_stream(endpoint, api_key, extra_headers, body, clock, on_sent)
    parser = SSEParser()
    splitter = ThinkSplitter(endpoint.starts_in_thinking) if endpoint.think_tags else None
    saw_done = False
    last_at = started_at = clock()
    last_event_at: float | None = None
    try:
        async for at, chunk in stream:
            last_at = at
            complete = parser.feed(chunk)
            if complete:
                last_event_at = at
            else:
                _check_progress(endpoint, started_at, last_event_at, at)
            for data in complete:
                if data.strip() == "[DONE]":
                    saw_done = True
                    continue
                try:
                    payload = json.loads(data)
                except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
                    raise ChatBackendError(f"{endpoint.name} sent a malformed event (not JSON): "
                                           f"{_excerpt(repr(data), 80, secrets)}")
                if not isinstance(payload, dict):
                    raise ChatBackendError(f"{endpoint.name} sent a malformed event: "
                                           f"{_excerpt(repr(data), 80, secrets)}")
                if "error" in payload:
                    err = payload["error"]
                    message = err.get("message", str(err)) if isinstance(err, dict) else str(err)
                    raise ChatBackendError(f"{endpoint.name} reported an error mid-stream: "
                                           f"{_excerpt(message, 300, secrets)}")
                if splitter is not None and _server_sent_reasoning(payload):
                    # The server runs a reasoning parser, so its content is all answer: a template that opens
                    # <think> itself (starts_in_thinking) must not turn that answer into reasoning.
                    for event in _flush(splitter, at):
                        yield event
                    splitter = None
                try:
                    chunk_events = _events_from_chunk(payload, at, splitter)
                except MalformedEvent as shape:
                    raise ChatBackendError(f"{endpoint.name} sent a malformed event ({shape}): "
                                           f"{_excerpt(repr(data), 80, secrets)}") from None
                for event in chunk_events:
                    yield event
            if saw_done:
                break  # the reply is complete: a server idling after [DONE] must not turn it into a stall error
    except HttpError as exc:
        yield StreamEvent("error", clock(), redact(_error_message(endpoint, exc, secrets), secrets))
        return
    except ChatBackendError as exc:
        for event in _flush(splitter, last_at):
            yield event
        yield StreamEvent("error", clock(), redact(str(exc), secrets) + _kept_note(parser))
        return
    finally:
        await stream.aclose()  # closes the connection now, also when the loop ended at [DONE]
    for event in _flush(splitter, last_at):
        yield event
    if not saw_done:
        yield StreamEvent("error", clock(), f"{endpoint.name} closed the stream without [DONE]; "
                                            "the reply may be cut short (what arrived is kept)")
        return
    detail = {"invalid_utf8_events": parser.invalid_utf8} if parser.invalid_utf8 else {}
    yield StreamEvent("done", clock(), detail=detail)


def _check_progress(endpoint: Endpoint, started_at: float, last_event_at: float | None, now: float) -> None:
    """The byte-level limits restart on every read, so a server dripping a byte a second would hold a column for
    as long as it liked (until max_response_bytes, days away). Only complete events count as progress: the first
    within first_byte_timeout_s, then one at least every stall_timeout_s."""
    if last_event_at is None:
        limit, since, what = endpoint.first_byte_timeout_s, started_at, "no complete event"
    else:
        limit, since, what = endpoint.stall_timeout_s, last_event_at, "the stream stalled: no complete event"
    if now - since > limit:
        raise ChatBackendError(f"{what} from {endpoint.name} within {limit:g} s (bytes kept trickling in without "
                               "completing one)")


def _kept_note(parser: SSEParser) -> str:
    return " (what arrived before is kept)"


def _flush(splitter: ThinkSplitter | None, at: float) -> list[StreamEvent]:
    if splitter is None:
        return []
    return [StreamEvent(kind, at, text) for kind, text in splitter.finish()]


class MalformedEvent(ValueError):
    """Valid JSON of a shape no OpenAI-compatible server sends; the message says which part."""


MAX_TOKEN_COUNT = 10 ** 12  # more tokens than any reply has: a count above it is not a count


def token_count(value: object) -> int | None:
    """A usage count as an int, or None for anything else a server might send (a string, a bool, a negative or
    huge number, infinity, NaN): an odd count must not break the page that formats it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_TOKEN_COUNT:
        return value
    return None


def clean_text(text: str) -> str:
    """Text as UTF-8 can carry it: a surrogate pair sent as two JSON escapes becomes its character, a lone
    surrogate becomes U+FFFD (left in, it made every later encode of the page's text raise)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _events_from_chunk(payload: dict, at: float, splitter: ThinkSplitter | None) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    choices = payload.get("choices")
    if choices is not None and not isinstance(choices, list):
        raise MalformedEvent("'choices' is not a list")
    for choice in choices or []:
        if not isinstance(choice, dict):
            raise MalformedEvent("a choice is not an object")
        delta = choice.get("delta")
        if delta is None:
            continue
        if not isinstance(delta, dict):
            raise MalformedEvent("'delta' is not an object")
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning is not None and not isinstance(reasoning, str):
            raise MalformedEvent("the reasoning is not a string")
        if reasoning:
            events.append(StreamEvent("reasoning", at, clean_text(reasoning)))
        content = delta.get("content")
        if content is not None and not isinstance(content, str):
            raise MalformedEvent("'content' is not a string")
        if content:
            content = clean_text(content)
            if splitter is None:
                events.append(StreamEvent("content", at, content))
            else:
                events.extend(StreamEvent(kind, at, text) for kind, text in splitter.feed(content))
    usage = payload.get("usage")
    if isinstance(usage, dict):
        details = usage.get("completion_tokens_details")
        reasoning_tokens = details.get("reasoning_tokens") if isinstance(details, dict) else None
        if reasoning_tokens is None:  # SGLang reports it at the top level of usage
            reasoning_tokens = usage.get("reasoning_tokens")
        events.append(StreamEvent("usage", at, usage=Usage(
            input_tokens=token_count(usage.get("prompt_tokens")),
            output_tokens=token_count(usage.get("completion_tokens")),
            reasoning_tokens=token_count(reasoning_tokens))))
    return events


def _server_sent_reasoning(payload: dict) -> bool:
    choices = payload.get("choices")
    for choice in choices if isinstance(choices, list) else []:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and any(isinstance(delta.get(k), str) and delta.get(k)
                                           for k in ("reasoning_content", "reasoning")):
            return True
    return False


def stream_chat(endpoint: Endpoint, api_key: str | None, request: ChatRequest, cancel: threading.Event,
                clock: Clock = time.perf_counter, poll_s: float = 0.05,
                secrets: Mapping[str, object] | None = None, transport: Transport = "sdk") -> Iterator[StreamEvent]:
    """Synchronous form for a worker thread: runs the stream on the process's shared streaming loop (where the
    SDK's connections stay alive between requests), stops when cancel is set. (`transport` other than the SDK is
    for bench/playground_ttft.py, which compares the clients on the playground's path.)"""
    from modelmatch.chat.stream_loop import SHARED

    events: list[StreamEvent] = []
    ready = threading.Condition()
    finished = threading.Event()

    async def pump() -> None:
        async for event in astream_chat(endpoint, api_key, request, clock, secrets=secrets, transport=transport):
            with ready:
                events.append(event)
                ready.notify()

    async def main() -> None:
        task = asyncio.create_task(pump())
        while not task.done():
            if cancel.is_set():
                task.cancel()
                with ready:
                    events.append(StreamEvent("error", clock(), "stopped by the user (what arrived is kept)"))
                    ready.notify()
                break
            # Woken by the stream's end or after poll_s, whichever is first: no poll delay on a finished stream.
            await asyncio.wait([task], timeout=poll_s)
        try:
            await task
        except asyncio.CancelledError:
            pass

    def ended(_future) -> None:
        finished.set()
        with ready:
            ready.notify()

    future = SHARED.submit(main)
    future.add_done_callback(ended)
    sent = 0
    while True:
        with ready:
            while sent >= len(events) and not finished.is_set():
                ready.wait(timeout=poll_s)
            batch = events[sent:]
            sent = len(events)
        yield from batch
        if finished.is_set() and sent >= len(events):
            break
    future.result()  # a failure of the pump itself surfaces here, as it did from the worker thread
    SHARED.join_if_idle()
