"""The tested vLLM configuration: our client and the measurement harness against a loopback server that replays
vLLM's own streaming shape, byte for byte, for a reasoning model served with `--reasoning-parser`.

Transcribed from vLLM's source (github.com/vllm-project/vllm), main at commit
9aaf83ef502fc37bc647f6e474314d48ba36cd1c (2026-05-19, PR #43119):
- vllm/entrypoints/openai/chat_completion/serving.py, `chat_completion_stream_generator` (lines 397-1001): the
  first chunk per choice is `DeltaMessage(role=role, content="")` with `logprobs=None, finish_reason=None`
  (l. 515-551); every chunk is `chunk.model_dump_json(exclude_unset=True)` (l. 550, 937), so fields passed
  explicitly as None are written as null and the rest are left out; the last token's chunk carries
  `finish_reason` and `stop_reason` (l. 892-907); with `stream_options.include_usage` a final chunk has
  `choices: []` and `usage`, dumped with `exclude_unset=True, exclude_none=True` (l. 940-965); an exception
  mid-stream is written as `data: {"error": {...}}` and the stream still ends with `data: [DONE]` (l. 993-1001).
- vllm/entrypoints/openai/chat_completion/protocol.py: `ChatCompletionResponseStreamChoice` (l. 118: index,
  delta, logprobs, finish_reason, stop_reason, token_ids), `ChatCompletionStreamResponse` (l. 128: id, object,
  created, model, choices, usage, system_fingerprint, prompt_token_ids, prompt_text), `ChatCompletionRequest`
  (l. 173-300: max_tokens, stream_options, ignore_eos, min_tokens, chat_template_kwargs).
- vllm/entrypoints/openai/engine/protocol.py: `DeltaMessage` (l. 267: role, content, reasoning, tool_calls),
  `UsageInfo` (l. 105: prompt_tokens, total_tokens, completion_tokens; no completion_tokens_details, so vLLM's
  chat completions never report reasoning tokens), `ErrorInfo` / `ErrorResponse` (l. 59-67).
- vllm/entrypoints/utils.py: `should_include_usage` (l. 243; `--enable-force-include-usage` turns on usage and
  continuous usage for every request) and `create_error_response` (l. 309).
- vllm/reasoning/deepseek_r1_reasoning_parser.py and basic_parsers.py (l. 98-155): the lone `</think>` token
  yields no chunk; a delta holding the end of the thinking is `DeltaMessage(reasoning=..., content=None)`; the
  end-of-sequence token after the answer is `DeltaMessage(content="")`. vllm/reasoning/qwen3_reasoning_parser.py:
  with thinking on, the end-of-sequence delta is empty (`delta: {}`); with `chat_template_kwargs:
  {"enable_thinking": false}` the template closes the thinking in the prompt and every delta is content.
- vllm/entrypoints/openai/server_utils.py, `AuthenticationMiddleware` (l. 41-88): `--api-key` is checked against
  `Authorization: Bearer <key>` only; a miss is HTTP 401 with `{"error":"Unauthorized"}`.

The reasoning field's name changed twice: `reasoning_content` only (PR #12473, 2025-01-29, until PR #27752);
both `reasoning` and a deprecated copy `reasoning_content` in every delta, null when empty (PR #27752, commit
d9ab1ad9d1be96885f4387a33a3a82233c009ce9, 2025-11-08); `reasoning` only (PR #33402, commit
c5113f60f2ca39334cdbe1657d5a8fd512767e04, 2026-01-30; in the v0.16.0 release branch). All three are replayed here.
The bytes are pydantic's compact JSON (raw UTF-8, keys in class field order); `PINNED` holds lines rendered from
those classes, and the chunk helper is checked against them.
"""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import pytest

from ingest.__main__ import main as ingest_main
from modelmatch.chat.types import ChatMessage, ChatRequest
from modelmatch.chat.endpoints import Endpoint, load_endpoints
from modelmatch.chat.openai_client import astream_chat, request_body
from modelmatch.chat.timing import RequestTimer
from tests.openai_server import Script, ScriptedServer

SERVED = "deepseek-r1-distill-qwen-32b"  # vllm serve ... --served-model-name deepseek-r1-distill-qwen-32b
CHUNK_ID = "chatcmpl-9f1c2e7a5b3d4c6e"  # "chatcmpl-" + random_uuid(): 16 hex digits
CREATED = 1747650000
DONE = b"data: [DONE]\n\n"
ERAS = ("reasoning_content", "both", "reasoning")  # before #27752, #27752..#33402, since #33402
CANARY = "sk-canary-vllm-4e1f0a9c7d2b"
QUESTION = (ChatMessage("user", "What is 2 + 2? Answer in English and Chinese."),)

# The fields of vLLM's ChatCompletionRequest our client may send (chat_completion/protocol.py l. 173-300). Any other
# top-level key is logged by vLLM as "present in the request but ignored" and has no effect.
VLLM_REQUEST_FIELDS = {"messages", "model", "max_tokens", "stream", "stream_options", "temperature", "top_p",
                       "chat_template_kwargs", "ignore_eos", "min_tokens"}


def sse(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def vllm_chunk(delta: dict, era: str = "reasoning", *, first: bool = False, finish: str | None = None,
               usage: dict | None = None, model: str = SERVED) -> bytes:
    """One chunk as vLLM writes it. `delta` lists the fields the server set (role, content, reasoning; None is an
    explicit null); `era` picks the reasoning field's spelling."""
    d: dict = {k: delta[k] for k in ("role", "content") if k in delta}
    if era == "reasoning_content":
        if "reasoning" in delta:
            d["reasoning_content"] = delta["reasoning"]
    else:
        if "reasoning" in delta:
            d["reasoning"] = delta["reasoning"]
        if era == "both":  # the validator copies reasoning into reasoning_content on every DeltaMessage
            d["reasoning_content"] = delta.get("reasoning")
    choice: dict = {"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}
    if finish is not None:
        choice["stop_reason"] = None  # None for an end-of-sequence token; the stop string/id otherwise
    if not first:
        choice["token_ids"] = None
    chunk: dict = {"id": CHUNK_ID, "object": "chat.completion.chunk", "created": CREATED, "model": model,
                   "choices": [choice]}
    if usage is not None:  # continuous usage stats (--enable-force-include-usage)
        chunk["usage"] = usage
    if first:
        chunk["prompt_token_ids"] = None
        if era == "reasoning":
            chunk["prompt_text"] = None
    return sse(chunk)


def vllm_usage(prompt: int, completion: int, model: str = SERVED) -> bytes:
    return sse({"id": CHUNK_ID, "object": "chat.completion.chunk", "created": CREATED, "model": model,
                "choices": [], "usage": {"prompt_tokens": prompt, "total_tokens": prompt + completion,
                                         "completion_tokens": completion}})


_HEAD = b'data: {"id":"chatcmpl-9f1c2e7a5b3d4c6e","object":"chat.completion.chunk","created":1747650000,' \
        b'"model":"deepseek-r1-distill-qwen-32b","choices":'
PINNED = [
    (vllm_chunk({"role": "assistant", "content": ""}, "reasoning_content", first=True),
     _HEAD + b'[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],'
             b'"prompt_token_ids":null}\n\n'),
    (vllm_chunk({"role": "assistant", "content": ""}, "both", first=True),
     _HEAD + b'[{"index":0,"delta":{"role":"assistant","content":"","reasoning_content":null},"logprobs":null,'
             b'"finish_reason":null}],"prompt_token_ids":null}\n\n'),
    (vllm_chunk({"role": "assistant", "content": ""}, "reasoning", first=True),
     _HEAD + b'[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],'
             b'"prompt_token_ids":null,"prompt_text":null}\n\n'),
    (vllm_chunk({"content": None, "reasoning": " Done."}, "reasoning_content"),
     _HEAD + b'[{"index":0,"delta":{"content":null,"reasoning_content":" Done."},"logprobs":null,'
             b'"finish_reason":null,"token_ids":null}]}\n\n'),
    (vllm_chunk({"content": None, "reasoning": " Done."}, "both"),
     _HEAD + b'[{"index":0,"delta":{"content":null,"reasoning":" Done.","reasoning_content":" Done."},'
             b'"logprobs":null,"finish_reason":null,"token_ids":null}]}\n\n'),
    (vllm_chunk({"content": " (\u56db)."}, "both"),
     _HEAD + '[{"index":0,"delta":{"content":" (四).","reasoning_content":null},"logprobs":null,'
             '"finish_reason":null,"token_ids":null}]}\n\n'.encode()),
    (vllm_chunk({"content": ""}, "reasoning", finish="stop"),
     _HEAD + b'[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"stop","stop_reason":null,'
             b'"token_ids":null}]}\n\n'),
    (vllm_chunk({"content": "4"}, "reasoning", usage={"prompt_tokens": 14, "total_tokens": 23,
                                                      "completion_tokens": 9}),
     _HEAD + b'[{"index":0,"delta":{"content":"4"},"logprobs":null,"finish_reason":null,"token_ids":null}],'
             b'"usage":{"prompt_tokens":14,"total_tokens":23,"completion_tokens":9}}\n\n'),
    (vllm_usage(14, 57),
     _HEAD + b'[],"usage":{"prompt_tokens":14,"total_tokens":71,"completion_tokens":57}}\n\n'),
]

R1_REASONING = ["Okay, ", "the user asks for 2 + 2.", " In Chinese: \u56db."]
R1_REASONING_END = " Done."  # the delta that also held </think>: reasoning set, content an explicit null
R1_ANSWER = ["\n\n", "**4**", " (\u56db)."]
R1_PROMPT_TOKENS, R1_COMPLETION_TOKENS = 14, 57


def r1_stream(era: str, *, think_s: float = 0.0, answer_s: float = 0.0) -> Script:
    """DeepSeek-R1-Distill with --reasoning-parser deepseek_r1: its template ends the prompt with "<think>\\n", so
    the reply starts mid-thought and only </think> is generated (and swallowed by the parser)."""
    steps = [(0.0, vllm_chunk({"role": "assistant", "content": ""}, era, first=True))]
    steps += [(think_s if i == 0 else 0.0, vllm_chunk({"reasoning": r}, era)) for i, r in enumerate(R1_REASONING)]
    steps.append((0.0, vllm_chunk({"content": None, "reasoning": R1_REASONING_END}, era)))
    steps += [(answer_s if i == 0 else 0.0, vllm_chunk({"content": a}, era)) for i, a in enumerate(R1_ANSWER)]
    steps += [(0.0, vllm_chunk({"content": ""}, era, finish="stop")),
              (0.0, vllm_usage(R1_PROMPT_TOKENS, R1_COMPLETION_TOKENS)), (0.0, DONE)]
    return Script(steps=steps)


def endpoint(server: ScriptedServer, **overrides) -> Endpoint:
    values = dict(name="DeepSeek-R1-Distill-Qwen-32B (vLLM)", kind="openai", model=SERVED,
                  model_id="deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", base_url=server.base_url, thinking="always",
                  max_tokens_cap=8192, connect_timeout_s=5, first_byte_timeout_s=5, stall_timeout_s=5)
    values.update(overrides)
    return Endpoint(**values)


def collect(ep: Endpoint, key: str | None = None, request: ChatRequest | None = None):
    request = request or ChatRequest(messages=QUESTION, max_tokens=1024, temperature=0.6, top_p=0.95)

    async def run():
        return [e async for e in astream_chat(ep, key, request)]
    return asyncio.run(run())


def text_of(events, kind: str) -> str:
    return "".join(e.text for e in events if e.kind == kind)


def test_the_chunk_helper_writes_exactly_the_bytes_vllm_writes():
    for made, pinned in PINNED:
        assert made == pinned


@pytest.mark.parametrize("era", ERAS)
def test_r1_stream_splits_reasoning_from_answer_and_reads_the_usage(era):
    with ScriptedServer(r1_stream(era, think_s=0.02, answer_s=0.1)) as server:
        events = collect(endpoint(server))
    kinds = [e.kind for e in events]
    assert kinds == ["reasoning"] * 4 + ["content"] * 3 + ["usage", "done"]
    assert text_of(events, "reasoning") == "".join(R1_REASONING) + R1_REASONING_END
    assert text_of(events, "content") == "".join(R1_ANSWER)
    usage = next(e.usage for e in events if e.kind == "usage")
    # vLLM's UsageInfo has no completion_tokens_details: the completion count includes the thinking
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens) == (14, 57, None)
    timer = RequestTimer(events[0].at_s - 0.02)
    for event in events:
        timer.observe(event)
    metrics = timer.result()
    assert metrics.ok and metrics.token_source == "server-usage" and metrics.output_tokens == 57
    assert metrics.ttfat_ms - metrics.ttft_ms >= 50  # the answer came 100 ms after the thinking began


@pytest.mark.parametrize("era", ERAS)
def test_regression_starts_in_thinking_does_not_turn_a_parsed_answer_into_reasoning(era):
    """An operator copying the local distill's settings (starts_in_thinking = true) onto a vLLM endpoint with a
    reasoning parser used to see the whole answer filed under reasoning: the parser already removed </think>."""
    with ScriptedServer(r1_stream(era)) as server:
        events = collect(endpoint(server, starts_in_thinking=True, think_tags=True))
    assert text_of(events, "reasoning") == "".join(R1_REASONING) + R1_REASONING_END
    assert text_of(events, "content") == "".join(R1_ANSWER)


def test_without_a_reasoning_parser_the_think_tags_in_the_text_are_still_split():
    """The same model served without --reasoning-parser: everything arrives as content, </think> included."""
    pieces = ["Okay, 2 + 2", " is 4.</thi", "nk>\n\n**4**"]
    steps = [(0.0, vllm_chunk({"role": "assistant", "content": ""}, first=True))]
    steps += [(0.0, vllm_chunk({"content": p})) for p in pieces]
    steps += [(0.0, vllm_chunk({"content": ""}, finish="stop")), (0.0, vllm_usage(14, 9)), (0.0, DONE)]
    with ScriptedServer(Script(steps=steps)) as server:
        events = collect(endpoint(server, starts_in_thinking=True))
    assert text_of(events, "reasoning") == "Okay, 2 + 2 is 4."
    assert text_of(events, "content") == "\n\n**4**"


def test_request_body_is_what_vllm_accepts():
    with ScriptedServer(r1_stream("reasoning")) as server:
        collect(endpoint(server), request=ChatRequest(messages=QUESTION, max_tokens=100_000, temperature=0.6,
                                                      top_p=0.95))
        received = server.received[0]
    body = received.body
    assert received.path == "/v1/chat/completions"
    assert set(body) <= VLLM_REQUEST_FIELDS, set(body) - VLLM_REQUEST_FIELDS
    assert body["model"] == SERVED  # the --served-model-name, not the Hugging Face id
    assert body["messages"] == [{"role": "user", "content": QUESTION[0].content}]
    # stream_options is only valid with stream=True (ChatCompletionRequest.validate_stream_options); vLLM sends no
    # usage chunk unless include_usage is true (StreamOptions.include_usage defaults to False since PR #36379)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 8192  # capped by the endpoint; vLLM still honours max_tokens (deprecated alias)
    assert (body["temperature"], body["top_p"]) == (0.6, 0.95)
    assert "chat_template_kwargs" not in body and "ignore_eos" not in body  # thinking = "always": nothing to switch


def qwen3_server_script(body: dict) -> Script:
    """Qwen3 with --reasoning-parser qwen3, answering as the request's chat_template_kwargs ask."""
    model = body.get("model", "")
    thinking = (body.get("chat_template_kwargs") or {}).get("enable_thinking", True)
    steps = [(0.0, vllm_chunk({"role": "assistant", "content": ""}, first=True, model=model))]
    if thinking:
        steps += [(0.0, vllm_chunk({"reasoning": r}, model=model)) for r in ("The user greets me.", " Reply.")]
        steps += [(0.0, vllm_chunk({"content": c}, model=model)) for c in ("\n\n", "Hello!")]
        steps.append((0.0, vllm_chunk({}, finish="stop", model=model)))  # Qwen3's parser: no delta for <|im_end|>
        usage = (11, 12)
    else:  # the template put "<think>\n\n</think>\n\n" in the prompt: all content
        steps += [(0.0, vllm_chunk({"content": c}, model=model)) for c in ("Hello", "!")]
        steps.append((0.0, vllm_chunk({"content": ""}, finish="stop", model=model)))
        usage = (15, 3)
    return Script(steps=steps + [(0.0, vllm_usage(*usage, model=model)), (0.0, DONE)])


@pytest.mark.parametrize(("thinking", "sent", "reasoning"), [
    (False, {"enable_thinking": False}, ""),
    (True, {"enable_thinking": True}, "The user greets me. Reply."),
    (None, None, "The user greets me. Reply."),  # the endpoint's default: Qwen3's template thinks
])
def test_qwen3_thinking_switch_goes_in_chat_template_kwargs(thinking, sent, reasoning):
    with ScriptedServer(qwen3_server_script) as server:
        ep = endpoint(server, name="Qwen3-32B (vLLM)", model="qwen3-32b", model_id="Qwen/Qwen3-32B",
                      thinking="qwen3-enable-thinking")
        events = collect(ep, request=ChatRequest(messages=(ChatMessage("user", "Hi"),), max_tokens=256,
                                                 thinking=thinking))
        body = server.received[0].body
    assert body.get("chat_template_kwargs") == sent
    assert set(body) <= VLLM_REQUEST_FIELDS
    assert text_of(events, "reasoning") == reasoning
    assert text_of(events, "content") == ("\n\nHello!" if reasoning else "Hello!")
    assert events[-1].kind == "done"


@pytest.mark.parametrize("thinking", [True, False])
def test_deepseek_v31_thinking_switch_goes_in_chat_template_kwargs_not_the_api_field(thinking):
    # vLLM logs and ignores an unknown top-level "thinking"; DeepSeek-V3.1's template reads chat_template_kwargs.
    with ScriptedServer(Script(steps=[(0.0, vllm_chunk({"content": "Hi"}, finish="stop")), (0.0, DONE)])) as server:
        ep = endpoint(server, name="DeepSeek-V3.1 (vLLM)", model="deepseek-v31", thinking="deepseek-v31-template")
        collect(ep, request=ChatRequest(messages=(ChatMessage("user", "Hi"),), max_tokens=64, thinking=thinking))
        body = server.received[0].body
    assert body["chat_template_kwargs"] == {"thinking": thinking} and "thinking" not in body
    assert set(body) <= VLLM_REQUEST_FIELDS


def test_force_include_usage_puts_running_usage_on_every_chunk_and_the_last_one_counts():
    running = lambda done: {"prompt_tokens": 14, "total_tokens": 14 + done, "completion_tokens": done}  # noqa: E731
    steps = [(0.0, vllm_chunk({"role": "assistant", "content": ""}, first=True, usage=running(0))),
             (0.0, vllm_chunk({"reasoning": "Sum."}, usage=running(2))),
             (0.0, vllm_chunk({"content": "4"}, usage=running(4))),
             (0.0, vllm_chunk({"content": ""}, finish="stop", usage=running(5))),
             (0.0, vllm_usage(14, 5)), (0.0, DONE)]
    with ScriptedServer(Script(steps=steps)) as server:
        events = collect(endpoint(server))
    timer = RequestTimer(events[0].at_s)
    for event in events:
        timer.observe(event)
    metrics = timer.result()
    assert (metrics.input_tokens, metrics.output_tokens) == (14, 5)
    assert text_of(events, "reasoning") == "Sum." and text_of(events, "content") == "4"


@pytest.mark.parametrize("error", [
    # GenerationError since PR #22099 (2025-08-07): ErrorResponse{error: ErrorInfo}, written with json.dumps
    b'data: {"error": {"message": "Internal server error", "type": "InternalServerError", "param": null, '
    b'"code": 500}}\n\n',
    # before PR #22099 the inner object was the flat ErrorResponse
    b'data: {"error": {"object": "error", "message": "Internal server error", "type": "InternalServerError", '
    b'"param": null, "code": 500}}\n\n',
])
def test_an_error_mid_stream_ends_the_reply_and_keeps_what_arrived(error):
    steps = [(0.0, vllm_chunk({"role": "assistant", "content": ""}, first=True)),
             (0.0, vllm_chunk({"reasoning": "Thinking"})), (0.0, vllm_chunk({"content": "Partial"})),
             (0.0, error), (0.0, DONE)]
    with ScriptedServer(Script(steps=steps)) as server:
        events = collect(endpoint(server))
    errors = [e for e in events if e.kind == "error"]
    assert len(errors) == 1 and events[-1].kind == "error"
    assert "Internal server error" in errors[0].text and "kept" in errors[0].text
    assert text_of(events, "reasoning") == "Thinking" and text_of(events, "content") == "Partial"


def vllm_accepts(headers: dict[str, str], api_key: str) -> bool:
    """AuthenticationMiddleware.verify_token (server_utils.py): scheme 'bearer' (any case), then the exact key."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, param = value.partition(" ")
    return scheme.lower() == "bearer" and param == api_key


def test_the_key_goes_only_in_the_bearer_header_that_vllm_checks():
    with ScriptedServer(r1_stream("reasoning")) as server:
        events = collect(endpoint(server, api_key_env="VLLM_R1_KEY"), CANARY)
        received = server.received[0]
    assert vllm_accepts(received.headers, CANARY) and not vllm_accepts(received.headers, CANARY + "x")
    others = {k: v for k, v in received.headers.items() if k.lower() != "authorization"}
    assert CANARY not in repr(others) and CANARY not in received.path and CANARY not in json.dumps(received.body)
    assert all(CANARY not in repr(e) for e in events)
    assert text_of(events, "content") == "".join(R1_ANSWER)


def test_vllms_401_for_a_wrong_key_is_explained_without_the_key():
    unauthorized = Script(status=401, headers={"Content-Type": "application/json"},
                          steps=[(0.0, b'{"error":"Unauthorized"}')])
    with ScriptedServer(unauthorized) as server:
        events = collect(endpoint(server, api_key_env="VLLM_R1_KEY"), CANARY)
    assert [e.kind for e in events] == ["error"]
    assert "HTTP 401" in events[0].text and "API key" in events[0].text and "Unauthorized" in events[0].text
    assert CANARY not in events[0].text


def sglang_chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
    """SGLang's ChatCompletionStreamResponse.model_dump_json() (python/sglang/srt/entrypoints/openai/protocol.py):
    every field written, `reasoning_content` in the delta, `matched_stop` in the choice."""
    full = {"role": None, "content": None, "reasoning_content": None, "tool_calls": None, **delta}
    choices = [] if usage is not None else [{"index": 0, "delta": full, "logprobs": None, "finish_reason": finish,
                                             "matched_stop": None}]
    return sse({"id": "5d0a5e3c9b2f4c1e8a7d6b5c4a3f2e1d", "object": "chat.completion.chunk", "created": CREATED,
                "model": "deepseek-r1", "choices": choices, "usage": usage})


def test_sglang_reports_reasoning_tokens_at_the_top_of_usage_and_they_are_read():
    usage = {"prompt_tokens": 14, "total_tokens": 54, "completion_tokens": 40, "prompt_tokens_details": None,
             "reasoning_tokens": 25}
    steps = [(0.0, sglang_chunk({"role": "assistant", "content": ""})),
             (0.0, sglang_chunk({"reasoning_content": "Add them."})), (0.0, sglang_chunk({"content": "4"})),
             (0.0, sglang_chunk({}, finish="stop")), (0.0, sglang_chunk({}, usage=usage)), (0.0, DONE)]
    with ScriptedServer(Script(steps=steps)) as server:
        events = collect(endpoint(server, model="deepseek-r1"))
    assert text_of(events, "reasoning") == "Add them." and text_of(events, "content") == "4"
    got = next(e.usage for e in events if e.kind == "usage")
    assert (got.input_tokens, got.output_tokens, got.reasoning_tokens) == (14, 40, 25)


# The endpoints.toml entries of the scale-out section, as tested: each parses, and each reaches a server of its
# shape through the client (base_url is the loopback server here; on a GPU box it is http://HOST:8000/v1).
TESTED_ENTRIES = """
[[endpoint]]
name = "DeepSeek-R1-Distill-Qwen-32B (vLLM TP2)"
kind = "openai"
base_url = "{url}"
model = "deepseek-r1-distill-qwen-32b"
model_id = "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"
api_key_env = "VLLM_API_KEY"
thinking = "always"
max_tokens_cap = 8192
requests_per_minute = 60
first_byte_timeout_s = 120
stall_timeout_s = 60

[[endpoint]]
name = "DeepSeek-R1 (vLLM 2 nodes TP8 x PP2)"
kind = "openai"
base_url = "{url}"
model = "deepseek-r1"
model_id = "deepseek-ai/DeepSeek-R1"
api_key_env = "VLLM_API_KEY"
thinking = "always"
max_tokens_cap = 16384
requests_per_minute = 30
first_byte_timeout_s = 300
stall_timeout_s = 120

[[endpoint]]
name = "Qwen3-32B (vLLM TP2)"
kind = "openai"
base_url = "{url}"
model = "qwen3-32b"
model_id = "Qwen/Qwen3-32B"
api_key_env = "VLLM_API_KEY"
thinking = "qwen3-enable-thinking"
max_tokens_cap = 8192
requests_per_minute = 60
first_byte_timeout_s = 120
stall_timeout_s = 60
"""


def test_the_tested_endpoint_entries_parse_and_stream(tmp_path):
    def serve(body: dict) -> Script:
        if body["model"] == "qwen3-32b":
            return qwen3_server_script(body)
        return Script(steps=[(0.0, vllm_chunk({"role": "assistant", "content": ""}, first=True,
                                              model=body["model"])),
                             (0.0, vllm_chunk({"reasoning": "Hmm."}, model=body["model"])),
                             (0.0, vllm_chunk({"content": "Yes."}, model=body["model"])),
                             (0.0, vllm_chunk({"content": ""}, finish="stop", model=body["model"])),
                             (0.0, vllm_usage(9, 4, model=body["model"])), (0.0, DONE)])

    with ScriptedServer(serve) as server:
        path = tmp_path / "endpoints.toml"
        path.write_text(TESTED_ENTRIES.format(url=server.base_url), encoding="utf-8")
        endpoints, origin = load_endpoints(path)
        assert origin == str(path) and len(endpoints) == 3
        for ep in endpoints:
            events = collect(ep, CANARY, ChatRequest(messages=QUESTION, max_tokens=64, thinking=None))
            assert text_of(events, "reasoning") and text_of(events, "content"), ep.name
            assert next(e for e in events if e.kind == "usage").usage.output_tokens > 0
        assert [r.body["model"] for r in server.received] == ["deepseek-r1-distill-qwen-32b", "deepseek-r1",
                                                                "qwen3-32b"]
        assert all(vllm_accepts(r.headers, CANARY) for r in server.received)
    assert all(set(request_body(ep, ChatRequest(messages=QUESTION, thinking=False))) <= VLLM_REQUEST_FIELDS
               for ep in endpoints)


# ---------------------------------------------------------------------------------------------------------------
# The measurement harness against the same shape


MODEL = "test-org/Alpha-7B-Instruct"  # a model of the fixture catalog
RECORDING = ["--engine", "vllm", "--engine-version", "0.16.0", "--hardware", "loopback test server",
             "--gpu-count", "2", "--dtype", "bf16"]


def harness_server(engine: str):
    """A server that, like vLLM with ignore_eos + min_tokens, produces exactly max_tokens tokens; the thinking
    takes the first half of them."""
    def choose(body: dict) -> Script:
        n = body["max_tokens"]
        prompt = 40 + len(body["messages"][-1]["content"]) % 7  # the server's own count, not the client's guess
        if engine == "sglang":
            usage = {"prompt_tokens": prompt, "total_tokens": prompt + n, "completion_tokens": n,
                     "prompt_tokens_details": None, "reasoning_tokens": n // 2}
            steps = [(0.01, sglang_chunk({"role": "assistant", "content": ""}))]
            steps += [(0.002, sglang_chunk({"reasoning_content": f" r{i}"})) for i in range(n // 2)]
            steps += [(0.06 if i == 0 else 0.002, sglang_chunk({"content": f" a{i}"})) for i in range(n - n // 2)]
            steps += [(0.0, sglang_chunk({}, finish="length")), (0.0, sglang_chunk({}, usage=usage)), (0.0, DONE)]
            return Script(steps=steps)
        steps = [(0.01, vllm_chunk({"role": "assistant", "content": ""}, first=True, model=body["model"]))]
        steps += [(0.002, vllm_chunk({"reasoning": f" r{i}"}, model=body["model"])) for i in range(n // 2)]
        answer = [f" a{i}" for i in range(n - n // 2)]
        steps += [(0.06 if i == 0 else 0.002, vllm_chunk({"content": a}, model=body["model"]))
                  for i, a in enumerate(answer[:-1])]
        # ignore_eos: the last token ends on the length limit, so it rides on the finish chunk
        steps += [(0.002, vllm_chunk({"content": answer[-1]}, finish="length", model=body["model"])),
                  (0.0, vllm_usage(prompt, n, model=body["model"])), (0.0, DONE)]
        return Script(steps=steps)
    return choose


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_ingest_measure_records_the_servers_token_counts(fixture_data_dir, tmp_path, capsys, engine, monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", CANARY)
    with ScriptedServer(harness_server(engine)) as server:
        eps = tmp_path / "endpoints.toml"
        eps.write_text(f'[[endpoint]]\nname = "R1 distill ({engine})"\nkind = "openai"\nbase_url = '
                       f'"{server.base_url}"\nmodel = "{SERVED}"\nmodel_id = "{MODEL}"\napi_key_env = "VLLM_API_KEY"\n'
                       'thinking = "always"\nfirst_byte_timeout_s = 5\nstall_timeout_s = 5\n', encoding="utf-8")
        rc = ingest_main(["--data", str(fixture_data_dir), "measure", "--endpoint", f"R1 distill ({engine})",
                          "--endpoints-file", str(eps), "--no-progress", *RECORDING, "--concurrency", "2",
                          "--num-requests", "4", "--warmup", "1", "--input-len", "32", "--output-len", "8"])
        received = list(server.received)
    err = capsys.readouterr().err
    assert rc == 0, err
    assert CANARY not in err
    assert len(received) == 5 and all(vllm_accepts(r.headers, CANARY) for r in received)
    for r in received:
        assert set(r.body) <= VLLM_REQUEST_FIELDS
        assert (r.body["max_tokens"], r.body["min_tokens"], r.body["ignore_eos"]) == (8, 8, True)
        assert r.body["stream_options"] == {"include_usage": True} and r.body["model"] == SERVED
    measured = [r.body["messages"][-1]["content"] for r in received[1:]]
    expected_prompt = sorted(str(40 + len(text) % 7) for text in measured)

    def rows(folder: str) -> list[dict]:
        out = []
        for path in sorted((fixture_data_dir / folder).glob("measure-*.csv")):
            with open(path, newline="", encoding="utf-8") as handle:
                out += list(csv.DictReader(handle))
            assert CANARY not in Path(path).read_text(encoding="utf-8")
        return out

    summary, = rows("measurements")
    requests = rows("measurement_requests")
    assert (summary["requests_ok"], summary["requests_failed"], summary["token_source"]) == ("4", "0",
                                                                                            "server-usage")
    assert float(summary["output_tokens_mean"]) == 8 and summary["engine"] == "vllm"
    assert len(requests) == 4 and {r["token_source"] for r in requests} == {"server-usage"}
    assert {r["output_tokens"] for r in requests} == {"8"}
    assert sorted(r["input_tokens"] for r in requests) == expected_prompt
    # vLLM's chat usage has no reasoning count; SGLang's has one at the top level of usage
    assert {r["reasoning_tokens"] for r in requests} == ({""} if engine == "vllm" else {"4"})
    for r in requests:  # the thinking streams first, so the first answer token comes after the first token
        assert float(r["ttfat_ms"]) - float(r["ttft_ms"]) >= 15
