"""The local transformers backend, end to end on a tiny model built by the tests (no download, CPU only)."""

from __future__ import annotations

import itertools
import json
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from modelmatch.chat import local_backend
from modelmatch.chat.types import ChatMessage, ChatRequest, StreamEvent
from modelmatch.chat.endpoints import Endpoint
from modelmatch.chat.local_backend import load_model, stream_local
from tests.tiny_model import build_tiny_chat_model, make_custom_code_copy, make_pickle_only_copy

HELLO = (ChatMessage("user", "Hello Qwen, how fast is the model?"),)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat-model") / "model")


@pytest.fixture(scope="session")
def reference(tiny_model_dir):
    """The same folder loaded separately from the backend's pool: the yardstick for what the backend streams."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, use_safetensors=True)
    return tokenizer, model


def endpoint_for(folder: Path | str, **overrides) -> Endpoint:
    values = {"name": "tiny (local)", "kind": "transformers", "model": str(folder), "max_tokens_cap": 100_000}
    values.update(overrides)
    return Endpoint(**values)


def collect(endpoint: Endpoint, request: ChatRequest, cancel: threading.Event | None = None,
            clock=time.perf_counter) -> list[StreamEvent]:
    return list(stream_local(endpoint, request, cancel or threading.Event(), clock=clock))


def kinds(events: list[StreamEvent]) -> list[str]:
    return [event.kind for event in events]


def content_of(events: list[StreamEvent]) -> str:
    return "".join(event.text for event in events if event.kind == "content")


def only(events: list[StreamEvent], kind: str) -> StreamEvent:
    matching = [event for event in events if event.kind == kind]
    assert len(matching) == 1, f"expected one {kind} event, got {kinds(events)}"
    return matching[0]


def prompt_ids(tokenizer, messages, **template_kwargs) -> list[int]:
    # transformers 5 returns a BatchEncoding from tokenize=True unless return_dict=False
    return tokenizer.apply_chat_template([m.as_dict() for m in messages], add_generation_prompt=True, tokenize=True,
                                         return_dict=False, **template_kwargs)


def generation_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("local-generate:")]


def wait_until(predicate, timeout_s: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class StreamInThread:
    """Runs stream_local in its own thread, as a playground column does, recording events as they arrive."""

    def __init__(self, endpoint: Endpoint, request: ChatRequest) -> None:
        self.events: list[StreamEvent] = []
        self.cancel = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(endpoint, request))
        self.thread.start()

    def _run(self, endpoint: Endpoint, request: ChatRequest) -> None:
        for event in stream_local(endpoint, request, self.cancel):
            self.events.append(event)

    def seen(self, kind: str) -> bool:
        return any(event.kind == kind for event in list(self.events))

    def join(self) -> list[StreamEvent]:
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "stream thread did not finish"
        return self.events


# --- order, timing, content, usage -------------------------------------------------------------------------------


def test_events_come_in_order_each_stamped_with_one_clock_reading(tiny_model_dir):
    ticks = itertools.count(1000)
    events = collect(endpoint_for(tiny_model_dir), ChatRequest(messages=HELLO, max_tokens=24, temperature=0),
                     clock=lambda: float(next(ticks)))
    names = kinds(events)
    assert names[-2:] == ["usage", "done"]
    assert set(names[:-2]) == {"content"} and len(names) > 3, names
    # one clock reading per event, taken when the event happened: the scripted clock makes that exact
    assert [event.at_s for event in events] == [float(1000 + i) for i in range(len(events))]


def test_real_clock_stamps_increase_within_the_call(tiny_model_dir):
    started = time.perf_counter()
    events = collect(endpoint_for(tiny_model_dir), ChatRequest(messages=HELLO, max_tokens=32, temperature=0))
    finished = time.perf_counter()
    stamps = [event.at_s for event in events]
    assert stamps == sorted(stamps)
    assert started <= stamps[0] and stamps[-1] <= finished


def test_content_is_the_decoding_of_the_generated_ids_and_usage_counts_them(tiny_model_dir, reference):
    tokenizer, model = reference
    messages = (ChatMessage("system", "Answer briefly."), ChatMessage("user", "你好! Which model is cheaper?"))
    events = collect(endpoint_for(tiny_model_dir), ChatRequest(messages=messages, max_tokens=48, temperature=0))

    import torch

    prompt = prompt_ids(tokenizer, messages)
    with torch.no_grad():
        output = model.generate(input_ids=torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt),
                                dtype=torch.long), max_new_tokens=48, do_sample=False)
    generated = output[0][len(prompt):].tolist()

    assert content_of(events) == tokenizer.decode(generated, skip_special_tokens=True)
    assert len([e for e in events if e.kind == "content"]) > 5  # it streamed, not one block at the end
    usage = only(events, "usage").usage
    assert usage.input_tokens == len(prompt)
    assert usage.output_tokens == len(generated)
    assert usage.source == "tokenizer"
    done = only(events, "done")
    assert done.detail["finish_reason"] == ("length" if len(generated) == 48 else "stop")
    assert done.detail["cancelled"] is False


def test_streamer_sends_multibyte_characters_whole_and_loses_nothing(tiny_model_dir, reference):
    """Byte-level BPE splits 你 into several tokens; a piece must never end half way through a character."""
    import torch

    tokenizer, _ = reference
    text = "你好，世界。模型会一步一步地思考 then answers: <think>\nok</think> done"
    ids = tokenizer.encode(text, add_special_tokens=False)
    streamer = local_backend._streamer_class()(tokenizer, threading.Lock())
    streamer.put(torch.tensor([[1, 2, 3]]))  # the prompt, skipped
    for token in ids:
        streamer.put(torch.tensor([token]))
    streamer.end()
    pieces = []
    while not streamer.text_queue.empty():
        item = streamer.text_queue.get()
        if item:
            pieces.append(item)
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)
    assert len(pieces) > 5
    assert streamer.generated_ids == ids


def test_max_tokens_is_capped_by_the_endpoint_and_exact_output_ignores_eos(tiny_model_dir):
    request = ChatRequest(messages=HELLO, max_tokens=500, temperature=0, exact_output_tokens=True)
    events = collect(endpoint_for(tiny_model_dir, max_tokens_cap=7), request)
    assert only(events, "usage").usage.output_tokens == 7
    assert only(events, "done").detail["finish_reason"] == "length"


def test_temperature_zero_is_greedy_and_positive_temperature_samples(tiny_model_dir):
    endpoint = endpoint_for(tiny_model_dir)
    greedy = [content_of(collect(endpoint, ChatRequest(messages=HELLO, max_tokens=30, temperature=0)))
              for _ in range(2)]
    assert greedy[0] == greedy[1] and greedy[0]
    sampled = [content_of(collect(endpoint, ChatRequest(messages=HELLO, max_tokens=30, temperature=1.5, top_p=1.0,
                                                        exact_output_tokens=True))) for _ in range(3)]
    # 30 tokens drawn from ~400 at high temperature: three identical draws that also equal greedy would be absurd
    assert len(set(sampled + greedy[:1])) > 1


# --- chat template and thinking ----------------------------------------------------------------------------------


def test_prompt_is_the_models_chat_template(tiny_model_dir, reference):
    tokenizer, _ = reference
    messages = (ChatMessage("system", "You are terse."), ChatMessage("user", "Compare Qwen and DeepSeek."),
                ChatMessage("assistant", "Both are open."), ChatMessage("user", "Which is faster?"))
    events = collect(endpoint_for(tiny_model_dir), ChatRequest(messages=messages, max_tokens=1, temperature=0))
    assert only(events, "usage").usage.input_tokens == len(prompt_ids(tokenizer, messages))
    # and it is not just the messages' text: the template adds the role framing and the generation prompt
    plain = sum(len(tokenizer.encode(m.content, add_special_tokens=False)) for m in messages)
    assert only(events, "usage").usage.input_tokens > plain


def test_enable_thinking_reaches_the_template_only_for_qwen3_style_endpoints(tiny_model_dir, reference):
    tokenizer, _ = reference
    qwen3 = endpoint_for(tiny_model_dir, thinking="qwen3-enable-thinking")
    plain = endpoint_for(tiny_model_dir, thinking="none")

    def input_tokens(endpoint, thinking):
        events = collect(endpoint, ChatRequest(messages=HELLO, max_tokens=1, temperature=0, thinking=thinking))
        return only(events, "usage").usage.input_tokens

    on, off, default = input_tokens(qwen3, True), input_tokens(qwen3, False), input_tokens(qwen3, None)
    assert on == len(prompt_ids(tokenizer, HELLO, enable_thinking=True))
    assert off == len(prompt_ids(tokenizer, HELLO, enable_thinking=False))
    assert on > off  # the template opened <think> for the generation prompt
    assert default == len(prompt_ids(tokenizer, HELLO))  # None: the template's own default
    assert input_tokens(plain, True) == len(prompt_ids(tokenizer, HELLO))  # not a switchable endpoint: ignored


# --- one generation at a time, queue positions, cancel -------------------------------------------------------------


def long_request() -> ChatRequest:
    return ChatRequest(messages=HELLO, max_tokens=100_000, temperature=0, exact_output_tokens=True)


def test_concurrent_requests_on_one_model_are_serialized_with_fifo_queue_positions(tiny_model_dir):
    endpoint = endpoint_for(tiny_model_dir)
    first = StreamInThread(endpoint, long_request())
    wait_until(lambda: first.seen("content"), what="first request streaming")
    second = StreamInThread(endpoint, ChatRequest(messages=HELLO, max_tokens=5, temperature=0))
    wait_until(lambda: second.seen("queued"), what="second request queued")
    third = StreamInThread(endpoint, ChatRequest(messages=HELLO, max_tokens=5, temperature=0))
    wait_until(lambda: third.seen("queued"), what="third request queued")
    time.sleep(0.2)  # the first keeps generating; the others must keep waiting
    assert not second.seen("content") and not third.seen("content")

    first.cancel.set()
    a, b, c = first.join(), second.join(), third.join()

    assert [e.queue_position for e in b if e.kind == "queued"] == [1]
    assert [e.queue_position for e in c if e.kind == "queued"] == [2, 1]
    assert kinds(a)[-2:] == ["usage", "error"] and a[-1].detail["cancelled"] is True
    for events in (b, c):
        assert kinds(events)[-2:] == ["usage", "done"] and only(events, "usage").usage.output_tokens == 5
    # serialized: each starts generating only after the one ahead has finished
    first_content = lambda events: next(e.at_s for e in events if e.kind == "content")  # noqa: E731
    assert first_content(b) > a[-1].at_s
    assert first_content(c) > b[-1].at_s
    # the queued events came before generation started, with position 1 once the first had finished
    c_pos1 = next(e for e in c if e.kind == "queued" and e.queue_position == 1)
    assert a[-1].at_s <= c_pos1.at_s < first_content(c)


def test_cancel_stops_generation_promptly_and_leaves_no_thread(tiny_model_dir):
    endpoint = endpoint_for(tiny_model_dir)
    collect(endpoint, ChatRequest(messages=HELLO, max_tokens=2, temperature=0))  # model loaded before counting
    threads_before = threading.active_count()

    cancel = threading.Event()
    events: list[StreamEvent] = []
    started = time.perf_counter()
    for event in stream_local(endpoint, long_request(), cancel):
        events.append(event)
        if len([e for e in events if e.kind == "content"]) == 3:
            cancel.set()
    elapsed = time.perf_counter() - started

    # like the OpenAI-compatible client: what arrived is kept, the usage of it is reported, and the stream ends
    # with a "stopped" error so the timing module does not count a cut-short reply as a completed request
    assert kinds(events)[-2:] == ["usage", "error"]
    assert events[-1].text == local_backend.STOPPED_MESSAGE
    assert events[-1].detail["finish_reason"] == "cancelled" and events[-1].detail["cancelled"] is True
    output_tokens = only(events, "usage").usage.output_tokens
    assert 3 <= output_tokens <= 10, output_tokens  # stopped within a token or two of the cancel, of 100,000
    assert elapsed < 10
    assert generation_threads() == []
    assert threading.active_count() == threads_before


def test_cancel_while_queued_leaves_the_queue_without_generating(tiny_model_dir):
    endpoint = endpoint_for(tiny_model_dir)
    first = StreamInThread(endpoint, long_request())
    wait_until(lambda: first.seen("content"), what="first request streaming")
    second = StreamInThread(endpoint, ChatRequest(messages=HELLO, max_tokens=5, temperature=0))
    wait_until(lambda: second.seen("queued"), what="second request queued")
    third = StreamInThread(endpoint, ChatRequest(messages=HELLO, max_tokens=5, temperature=0))
    wait_until(lambda: third.seen("queued"), what="third request queued")

    second.cancel.set()
    b = second.join()
    assert kinds(b) == ["queued", "error"]
    assert "stopped by the user before the model started" in b[-1].text and b[-1].detail["cancelled"] is True
    # the third moves up when the second leaves, while the first is still generating
    wait_until(lambda: any(e.queue_position == 1 for e in third.events if e.kind == "queued"),
               what="third request moving to position 1")
    assert first.thread.is_alive() and not third.seen("content")

    first.cancel.set()
    first.join()
    c = third.join()
    assert [e.queue_position for e in c if e.kind == "queued"] == [2, 1]
    assert kinds(c)[-2:] == ["usage", "done"]


def test_cancel_set_before_the_call_generates_nothing(tiny_model_dir):
    cancel = threading.Event()
    cancel.set()
    events = collect(endpoint_for(tiny_model_dir), long_request(), cancel)
    assert kinds(events) == ["error"] and events[0].detail["cancelled"] is True
    assert generation_threads() == []


def test_closing_the_iterator_mid_stream_joins_the_worker_and_frees_the_model(tiny_model_dir):
    endpoint = endpoint_for(tiny_model_dir)
    stream = stream_local(endpoint, long_request(), threading.Event())
    for event in stream:
        if event.kind == "content":
            break
    assert len(generation_threads()) == 1
    stream.close()  # what happens when a caller drops the iterator
    assert generation_threads() == []
    events = collect(endpoint, ChatRequest(messages=HELLO, max_tokens=3, temperature=0))
    assert "queued" not in kinds(events) and kinds(events)[-1] == "done"


def test_a_failing_generation_is_one_error_event_and_no_thread(tiny_model_dir, monkeypatch):
    endpoint = endpoint_for(tiny_model_dir)
    loaded = load_model(str(tiny_model_dir))

    def out_of_memory(**kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(loaded.model, "generate", out_of_memory)
    events = collect(endpoint, ChatRequest(messages=HELLO, max_tokens=5, temperature=0))
    assert kinds(events) == ["error"]
    assert "generation failed" in events[0].text and "out of memory" in events[0].text
    assert generation_threads() == []
    monkeypatch.undo()
    assert kinds(collect(endpoint, ChatRequest(messages=HELLO, max_tokens=2, temperature=0)))[-1] == "done"


# --- loading, pool and security ------------------------------------------------------------------------------------


def test_pool_loads_a_model_once_even_when_first_requests_race(tiny_model_dir, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    folder = shutil.copytree(tiny_model_dir, tmp_path / "copy")
    calls = []
    original = AutoModelForCausalLM.from_pretrained.__func__

    def counting(cls, *args, **kwargs):
        calls.append(kwargs)
        time.sleep(0.2)  # widen the race window
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", classmethod(counting))
    results = []
    threads = [threading.Thread(target=lambda: results.append(load_model(str(folder)))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 3 and all(r is results[0] for r in results)
    assert calls[0]["trust_remote_code"] is False and calls[0]["use_safetensors"] is True
    assert calls[0]["dtype"] == "auto"
    assert results[0].device == "cpu"  # this CPU test machine; "cuda" where torch sees a GPU
    assert str(folder) in local_backend.loaded_models()


def test_pickle_only_weights_are_refused_and_never_unpickled(tiny_model_dir, tmp_path):
    marker = tmp_path / "unpickled.marker"
    folder = make_pickle_only_copy(tiny_model_dir, tmp_path / "pickle-only", marker)
    events = collect(endpoint_for(folder), ChatRequest(messages=HELLO, max_tokens=3))
    assert kinds(events) == ["error"]
    assert "safetensors" in events[0].text and "pytorch_model.bin" in events[0].text
    assert not marker.exists()


def test_pickle_only_weights_are_refused_by_transformers_too(tiny_model_dir, tmp_path, monkeypatch):
    """Second line of defence: even if the folder check were skipped, use_safetensors=True refuses the pickle."""
    marker = tmp_path / "unpickled.marker"
    folder = make_pickle_only_copy(tiny_model_dir, tmp_path / "pickle-only", marker)
    monkeypatch.setattr(local_backend, "check_folder", lambda ref, path: None)
    events = collect(endpoint_for(folder), ChatRequest(messages=HELLO, max_tokens=3))
    assert kinds(events) == ["error"] and "safetensors" in events[0].text
    assert not marker.exists()


def test_config_pointing_at_pickle_weights_is_refused(tiny_model_dir, tmp_path):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "explicit-weights")
    config = json.loads((folder / "config.json").read_text())
    config["transformers_weights"] = "adapter_model.bin"  # the one non-safetensors name transformers accepts
    (folder / "config.json").write_text(json.dumps(config))
    events = collect(endpoint_for(folder), ChatRequest(messages=HELLO, max_tokens=3))
    assert kinds(events) == ["error"] and "safetensors" in events[0].text


def test_custom_code_in_auto_map_is_never_run_for_a_native_architecture(tiny_model_dir, tmp_path):
    marker = tmp_path / "custom-code-ran.marker"
    folder = make_custom_code_copy(tiny_model_dir, tmp_path / "auto-map", marker)
    events = collect(endpoint_for(folder), ChatRequest(messages=HELLO, max_tokens=4, temperature=0))
    assert kinds(events)[-1] == "done"  # loaded with transformers' own Qwen2 classes
    assert not marker.exists()
    assert type(load_model(str(folder)).model).__module__.startswith("transformers.models.qwen2")


def test_custom_code_only_model_fails_clearly_without_running_the_code(tiny_model_dir, tmp_path):
    marker = tmp_path / "custom-code-ran.marker"
    folder = make_custom_code_copy(tiny_model_dir, tmp_path / "custom-only", marker, model_type="modelmatch-evil")
    events = collect(endpoint_for(folder), ChatRequest(messages=HELLO, max_tokens=4))
    assert kinds(events) == ["error"]
    assert "trust_remote_code" in events[0].text and "never runs code" in events[0].text
    assert not marker.exists()


def offline_hub(monkeypatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read once at import time


def test_unknown_hub_id_offline_says_how_to_configure(monkeypatch):
    offline_hub(monkeypatch)
    started = time.perf_counter()
    events = collect(endpoint_for("modelmatch-tests/no-such-model-0"), ChatRequest(messages=HELLO))
    assert time.perf_counter() - started < 10
    assert kinds(events) == ["error"]
    text = events[0].text
    assert text.startswith("cannot load modelmatch-tests/no-such-model-0: the weights are not in the local Hugging "
                           "Face cache and this machine cannot download them")
    assert "endpoints.toml" in text and "endpoints.example.toml" in text


def test_unreachable_hub_fails_fast_instead_of_retrying_for_a_minute(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as probe:  # a loopback port that refuses connections: bound, never listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{port}")
        started = time.perf_counter()
        events = collect(endpoint_for("modelmatch-tests/no-such-model-1"), ChatRequest(messages=HELLO))
        elapsed = time.perf_counter() - started
    assert kinds(events) == ["error"] and "cannot download them" in events[0].text
    assert elapsed < 10


def test_missing_folder_and_other_bad_refs_say_what_is_wrong(tmp_path, tiny_model_dir):
    events = collect(endpoint_for(tmp_path / "no-such-folder"), ChatRequest(messages=HELLO))
    assert kinds(events) == ["error"] and "no such folder" in events[0].text

    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    events = collect(endpoint_for(not_a_model), ChatRequest(messages=HELLO))
    assert kinds(events) == ["error"] and "config.json" in events[0].text

    no_template = shutil.copytree(tiny_model_dir, tmp_path / "no-template")
    (no_template / "chat_template.jinja").unlink(missing_ok=True)
    tokenizer_config = json.loads((no_template / "tokenizer_config.json").read_text())
    tokenizer_config.pop("chat_template", None)
    (no_template / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    events = collect(endpoint_for(no_template), ChatRequest(messages=HELLO))
    assert kinds(events) == ["error"] and "no chat template" in events[0].text


def test_bad_requests_are_error_events(tiny_model_dir):
    openai_endpoint = Endpoint(name="remote", kind="openai", model="m", base_url="http://127.0.0.1:9/v1")
    assert kinds(collect(openai_endpoint, ChatRequest(messages=HELLO))) == ["error"]
    assert kinds(collect(endpoint_for(tiny_model_dir), ChatRequest(messages=()))) == ["error"]
    events = collect(endpoint_for(tiny_model_dir), ChatRequest(messages=HELLO, max_tokens=0))
    assert kinds(events) == ["error"] and "at least 1" in events[0].text


def test_a_conversation_longer_than_the_context_is_refused(tiny_model_dir, tmp_path):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "short-context")
    config = json.loads((folder / "config.json").read_text())
    config["max_position_embeddings"] = 16
    (folder / "config.json").write_text(json.dumps(config))
    events = collect(endpoint_for(folder), ChatRequest(messages=HELLO, max_tokens=4))
    assert kinds(events) == ["error"] and "reads at most 16" in events[0].text
