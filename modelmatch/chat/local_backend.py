"""Local Hugging Face transformers chat backend: a ChatRequest in, StreamEvents out, for `transformers` endpoints.

`stream_local` is a plain synchronous iterator; the caller runs it in its own thread (one per playground column).
What it guarantees:
- the prompt is the model's own chat template (tokenizer.apply_chat_template), never a hand-built string;
- models load once per process into a module-level pool, with trust_remote_code=False and safetensors only;
- one generation at a time per loaded model: later requests wait in FIFO order and report how many requests are
  ahead of them (`queued` events) whenever that number changes;
- text streams as it is generated (TextIteratorStreamer fed by generate() in a worker thread), one `content` event
  per decoded piece, raw: <think> tags are left for the shared reasoning parser downstream;
- `cancel` stops generation after the current token (the stream then ends with a "stopped by the user" error, as
  the OpenAI-compatible client's does), and the worker thread is always joined before the iterator
  finishes, also when the caller abandons the iterator (generator close);
- every failure becomes one `error` event that says what failed and how to fix it; nothing is raised to the caller.

torch and transformers are imported on first use, so importing this module (and the app) stays fast. Where a model
comes from and why it would not load is modelmatch.chat.local_loading.
"""

from __future__ import annotations

import copy
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from modelmatch.chat.types import ChatRequest, StreamEvent, Usage
from modelmatch.chat.endpoints import Endpoint
from modelmatch.chat.local_loading import (
    LocalModelError,
    check_folder,
    explain_load_failure,
    from_pretrained,
    import_backend,
    pickle_only_message,
    source_of,
)

Clock = Callable[[], float]

# How often a waiting consumer looks at the cancel event. Short enough that a stop button feels instant, long enough
# that an idle wait costs nothing measurable.
POLL_INTERVAL_S = 0.05

STOPPED_MESSAGE = "stopped by the user (what arrived is kept)"  # the OpenAI-compatible client says the same


# ---------------------------------------------------------------------------------------------------------------------
# FIFO gate: one generation at a time per model, with visible queue positions


class _FifoGate:
    """A FIFO lock whose waiters can see how many requests are ahead of them.

    Tickets line up in a deque; the ticket at the front holds the model. A ticket's position is its index, which is
    exactly the number of requests ahead of it (the running one included)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._line: deque[object] = deque()

    def join(self) -> object:
        ticket = object()
        with self._cond:
            self._line.append(ticket)
        return ticket

    def position(self, ticket: object) -> int:
        with self._cond:
            return self._line.index(ticket)

    def wait_for_change(self, ticket: object, position: int, timeout: float) -> int:
        """Block until the ticket's position differs from `position` or `timeout` passes; return the position."""
        with self._cond:
            self._cond.wait_for(lambda: self._line.index(ticket) != position, timeout=timeout)
            return self._line.index(ticket)

    def leave(self, ticket: object) -> None:
        with self._cond:
            try:
                self._line.remove(ticket)
            except ValueError:
                pass
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._line)


# ---------------------------------------------------------------------------------------------------------------------
# Model pool: each model loaded once per process


@dataclass
class LoadedModel:
    ref: str  # as the endpoint names it: Hub id or folder
    source: str  # "hub" or "folder"
    model: Any
    tokenizer: Any
    device: str
    dtype: str
    context_length: int | None
    gate: _FifoGate = field(default_factory=_FifoGate)
    # Fast tokenizers are Rust objects behind a RefCell: encoding in one thread while another decodes can fail with
    # "Already borrowed". Every use of the tokenizer goes through this lock (uncontended, so it costs nothing).
    tokenizer_lock: threading.Lock = field(default_factory=threading.Lock)


class _ModelPool:
    """Process-wide cache of loaded models. Loads of different models run in parallel; two requests for the same
    model that is not loaded yet load it once. Failures are not cached, so fixing the cause and retrying works."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, LoadedModel] = {}
        self._load_locks: dict[str, threading.Lock] = {}

    def get(self, ref: str) -> LoadedModel:
        key = _pool_key(ref)
        with self._lock:
            if key in self._loaded:
                return self._loaded[key]
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                if key in self._loaded:
                    return self._loaded[key]
            loaded = _load(ref)
            with self._lock:
                self._loaded[key] = loaded
            return loaded

    def loaded_refs(self) -> list[str]:
        with self._lock:
            return [entry.ref for entry in self._loaded.values()]

    def unload(self, ref: str) -> bool:
        """Drop a model from the pool (generations already running keep their reference and finish)."""
        with self._lock:
            return self._loaded.pop(_pool_key(ref), None) is not None


_POOL = _ModelPool()


def load_model(ref: str) -> LoadedModel:
    """The pooled model for ref (Hub id or folder), loading it on first use. Raises LocalModelError."""
    return _POOL.get(ref)


def loaded_models() -> list[str]:
    return _POOL.loaded_refs()


def unload_model(ref: str) -> bool:
    return _POOL.unload(ref)


def _pool_key(ref: str) -> str:
    path = Path(ref).expanduser()
    return "folder:" + os.path.realpath(path) if path.is_dir() else "hub:" + ref.strip()


def _load(ref: str) -> LoadedModel:
    try:
        torch, _ = import_backend()
    except LocalModelError as exc:
        raise LocalModelError(f"cannot load {ref}: {exc}") from exc
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    source, location = source_of(ref)
    if source == "folder":
        check_folder(ref, Path(location))
    try:
        # trust_remote_code=False everywhere: a repo or folder with auto_map custom code either loads with the
        # native transformers class for its model_type, or fails; its code is never imported.
        tokenizer = from_pretrained(AutoTokenizer, source, location, trust_remote_code=False)
        config = from_pretrained(AutoConfig, source, location, trust_remote_code=False)
        weights_file = getattr(config, "transformers_weights", None)
        if weights_file and not str(weights_file).endswith((".safetensors", ".safetensors.index.json")):
            raise LocalModelError(pickle_only_message(ref, str(weights_file)))
        model = from_pretrained(AutoModelForCausalLM, source, location, config=config, trust_remote_code=False,
                                 use_safetensors=True, weights_only=True, dtype="auto")
    except LocalModelError:
        raise
    except Exception as exc:  # transformers and the Hub raise OSError, ValueError, KeyError... all mean "cannot load"
        raise LocalModelError(explain_load_failure(ref, exc)) from exc

    if not getattr(tokenizer, "chat_template", None):
        raise LocalModelError(f"cannot use {ref}: its tokenizer has no chat template, and ModelMatch never builds "
                              "prompts by hand; use an instruct/chat model (or add chat_template to its "
                              "tokenizer_config.json)")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        model.to(device)
    except Exception as exc:  # e.g. CUDA out of memory: say so rather than leave a half-moved model in the pool
        raise LocalModelError(f"cannot load {ref} onto {device}: {type(exc).__name__}: {exc}") from exc
    model.eval()
    context_length = getattr(config, "max_position_embeddings", None)
    return LoadedModel(ref=ref, source=source, model=model, tokenizer=tokenizer, device=device,
                       dtype=str(model.dtype).removeprefix("torch."),
                       context_length=context_length if isinstance(context_length, int) else None)


# ---------------------------------------------------------------------------------------------------------------------
# Streaming pieces built on transformers classes (created on first use, after the lazy import)

_WORKER_DONE = object()
_classes: dict[str, type] = {}


def _streamer_class() -> type:
    if "streamer" in _classes:
        return _classes["streamer"]
    from transformers import TextIteratorStreamer

    class TokenTextStreamer(TextIteratorStreamer):
        """TextIteratorStreamer that emits text after every token instead of after every word.

        The stock streamer holds text back until a space or newline, which would make time to first token and
        inter-token gaps depend on word lengths. This one decodes incrementally the way vLLM's detokenizer does:
        a window of recent ids is decoded and only the new characters are sent, holding back while the text ends
        in an incomplete UTF-8 sequence (U+FFFD), so multi-byte characters split across tokens arrive whole.
        It also counts the generated tokens (the prompt is skipped)."""

        def __init__(self, tokenizer: Any, tokenizer_lock: threading.Lock) -> None:
            super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
            self._tokenizer_lock = tokenizer_lock
            self.generated_ids: list[int] = []
            self._prefix_offset = 0
            self._read_offset = 0

        def _decode(self, ids: list[int]) -> str:
            with self._tokenizer_lock:
                return self.tokenizer.decode(ids, **self.decode_kwargs)

        def _new_text(self, final: bool) -> str:
            ids = self.generated_ids
            if self._read_offset >= len(ids):
                return ""
            prefix_text = self._decode(ids[self._prefix_offset:self._read_offset])
            full_text = self._decode(ids[self._prefix_offset:])
            if len(full_text) > len(prefix_text) and (final or not full_text.endswith("\ufffd")):
                self._prefix_offset = self._read_offset
                self._read_offset = len(ids)
                return full_text[len(prefix_text):]
            if final:
                self._prefix_offset = self._read_offset = len(ids)
            return ""

        def put(self, value: Any) -> None:
            if value.dim() > 1:
                if value.shape[0] > 1:
                    raise ValueError("the local backend streams one sequence at a time")
                value = value[0]
            if self.skip_prompt and self.next_tokens_are_prompt:
                self.next_tokens_are_prompt = False
                return
            self.generated_ids.extend(int(token) for token in value.tolist())
            text = self._new_text(final=False)
            if text:
                self.on_finalized_text(text)

        def end(self) -> None:
            text = self._new_text(final=True)
            self.next_tokens_are_prompt = True
            self.on_finalized_text(text, stream_end=True)

    _classes["streamer"] = TokenTextStreamer
    return TokenTextStreamer


def _stop_class() -> type:
    if "stop" in _classes:
        return _classes["stop"]
    import torch
    from transformers import StoppingCriteria

    class StopWhenSet(StoppingCriteria):
        """Stops generate() after the current token once any of the events is set (user cancel, iterator closed)."""

        def __init__(self, *events: threading.Event) -> None:
            self.events = events
            self.stopped = False  # whether this criterion (not EOS or the length limit) ended generation

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            stop = any(event.is_set() for event in self.events)
            self.stopped = self.stopped or stop
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

    _classes["stop"] = StopWhenSet
    return StopWhenSet


# ---------------------------------------------------------------------------------------------------------------------
# The backend


def stream_local(endpoint: Endpoint, request: ChatRequest, cancel: threading.Event,
                 clock: Clock = time.perf_counter) -> Iterator[StreamEvent]:
    """Stream a chat completion from a local transformers model.

    Yields `queued`* (while another request uses the model), `content`* (raw decoded text pieces), `usage` (token
    counts from the tokenizer), `done` (detail: finish_reason "stop" | "length"). On any failure the last event is
    a single `error`. A stop through `cancel` also ends with an `error` (STOPPED_MESSAGE, detail cancelled=True),
    after the `usage` of what was generated, as the OpenAI-compatible client does. Never raises (except
    GeneratorExit when the caller closes it)."""
    try:
        yield from _stream(endpoint, request, cancel, clock)
    except Exception as exc:  # a failure nobody foresaw still ends the column with a message, not a traceback
        yield StreamEvent("error", clock(), text=f"local model {endpoint.model}: unexpected failure: "
                                                 f"{type(exc).__name__}: {exc}")


def _prompt_inputs(loaded: LoadedModel, endpoint: Endpoint, request: ChatRequest) -> Any:
    kwargs: dict[str, Any] = {}
    if endpoint.thinking == "qwen3-enable-thinking" and request.thinking is not None:
        kwargs["enable_thinking"] = request.thinking
    elif endpoint.thinking == "deepseek-v31-template" and request.thinking is not None:
        kwargs["thinking"] = request.thinking
    messages = [message.as_dict() for message in request.messages]
    with loaded.tokenizer_lock:
        # transformers 5: tokenize=True returns a BatchEncoding (input_ids + attention_mask) by default.
        return loaded.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                    return_dict=True, return_tensors="pt", **kwargs)


def _generation_config(loaded: LoadedModel, request: ChatRequest, max_new_tokens: int) -> Any:
    # Start from the model's own generation_config (its eos ids, repetition penalty, top_k), as vLLM does by
    # default, then apply what the request sets.
    config = copy.deepcopy(loaded.model.generation_config)
    settings: dict[str, Any] = {"max_new_tokens": max_new_tokens, "num_return_sequences": 1}
    if config.pad_token_id is None:
        settings["pad_token_id"] = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None \
            else loaded.tokenizer.eos_token_id
    if request.temperature <= 0:
        settings.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        settings.update(do_sample=True, temperature=request.temperature, top_p=request.top_p)
    if request.exact_output_tokens:  # measurement runs: no early stop at EOS (vLLM's ignore_eos)
        settings["min_new_tokens"] = max_new_tokens
    config.update(**settings)
    return config


def _stream(endpoint: Endpoint, request: ChatRequest, cancel: threading.Event,
            clock: Clock) -> Iterator[StreamEvent]:
    def error(message: str) -> StreamEvent:
        return StreamEvent("error", clock(), text=message)

    if endpoint.kind != "transformers":
        yield error(f"endpoint {endpoint.name!r} is of kind {endpoint.kind!r}; the local backend only runs "
                    "'transformers' endpoints")
        return
    if not request.messages:
        yield error("nothing to send: the conversation has no messages")
        return
    max_new_tokens = min(request.max_tokens, endpoint.max_tokens_cap)
    if max_new_tokens < 1:
        yield error(f"max tokens must be at least 1 (asked {request.max_tokens}, endpoint cap "
                    f"{endpoint.max_tokens_cap})")
        return
    if not 0 < request.top_p <= 1:
        yield error(f"top_p must be in (0, 1], got {request.top_p}")
        return

    try:
        loaded = _POOL.get(endpoint.model)
    except LocalModelError as exc:
        yield error(str(exc))
        return

    try:
        inputs = _prompt_inputs(loaded, endpoint, request)
    except Exception as exc:
        yield error(f"cannot apply the chat template of {endpoint.model}: {type(exc).__name__}: {exc}")
        return
    prompt_tokens = int(inputs["input_ids"].shape[-1])
    if loaded.context_length is not None:
        room = loaded.context_length - prompt_tokens
        if room < 1:
            yield error(f"the conversation is {prompt_tokens} tokens and {endpoint.model} reads at most "
                        f"{loaded.context_length}; start a new conversation or shorten the system prompt")
            return
        max_new_tokens = min(max_new_tokens, room)

    ticket = loaded.gate.join()
    try:
        position = loaded.gate.position(ticket)
        reported: int | None = None
        while position > 0:
            if position != reported:
                yield StreamEvent("queued", clock(), queue_position=position)
                reported = position
            if cancel.is_set():
                yield _stopped_before_start(clock)
                return
            position = loaded.gate.wait_for_change(ticket, position, POLL_INTERVAL_S)
        if cancel.is_set():
            yield _stopped_before_start(clock)
            return
        yield from _generate(loaded, request, inputs, prompt_tokens, max_new_tokens, cancel, clock)
    finally:
        loaded.gate.leave(ticket)


def _generate(loaded: LoadedModel, request: ChatRequest, inputs: Any, prompt_tokens: int, max_new_tokens: int,
              cancel: threading.Event, clock: Clock) -> Iterator[StreamEvent]:
    from transformers import StoppingCriteriaList

    streamer = _streamer_class()(loaded.tokenizer, loaded.tokenizer_lock)
    closed = threading.Event()  # set when this iterator stops early (caller closed it, or an error): stop the worker
    stop_on_cancel = _stop_class()(cancel, closed)
    outcome: dict[str, BaseException] = {}
    generate_kwargs = {
        "input_ids": inputs["input_ids"].to(loaded.model.device),
        "attention_mask": inputs["attention_mask"].to(loaded.model.device),
        "generation_config": _generation_config(loaded, request, max_new_tokens),
        "streamer": streamer,
        "stopping_criteria": StoppingCriteriaList([stop_on_cancel]),
    }

    def work() -> None:
        try:
            loaded.model.generate(**generate_kwargs)
        except BaseException as exc:  # reported by the consumer, which owns the event stream
            outcome["error"] = exc
        finally:
            streamer.text_queue.put(_WORKER_DONE)

    worker = threading.Thread(target=work, name=f"local-generate:{loaded.ref}", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = streamer.text_queue.get(timeout=POLL_INTERVAL_S)
            except queue.Empty:
                continue
            if item is _WORKER_DONE:
                break
            if item:  # the stream-end signal (None) and empty flushes carry no text
                yield StreamEvent("content", clock(), text=item)
    finally:
        closed.set()
        worker.join()

    if "error" in outcome:
        exc = outcome["error"]
        yield StreamEvent("error", clock(), text=f"generation failed on {loaded.ref} ({loaded.device}): "
                                                 f"{type(exc).__name__}: {exc}")
        return
    output_tokens = len(streamer.generated_ids)
    # usage comes even after a stop: the tokens were generated, and the counts stay honest
    yield StreamEvent("usage", clock(), usage=Usage(input_tokens=prompt_tokens, output_tokens=output_tokens,
                                                    source="tokenizer"))
    detail = {"device": loaded.device, "dtype": loaded.dtype, "max_new_tokens": max_new_tokens}
    if stop_on_cancel.stopped:
        # Same ending as the OpenAI-compatible client: a stopped reply is not a completed request, so the timing
        # module counts it as not ok instead of averaging a cut-short latency in.
        yield StreamEvent("error", clock(), text=STOPPED_MESSAGE,
                          detail={**detail, "finish_reason": "cancelled", "cancelled": True})
        return
    finish_reason = "length" if output_tokens >= max_new_tokens else "stop"
    yield StreamEvent("done", clock(), detail={**detail, "finish_reason": finish_reason, "cancelled": False})


def _stopped_before_start(clock: Clock) -> StreamEvent:
    return StreamEvent("error", clock(),
                       text="stopped by the user before the model started on this request (nothing was generated)",
                       detail={"finish_reason": "cancelled", "cancelled": True})
