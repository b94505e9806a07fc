"""Eval runs against real loopback OpenAI-compatible servers scripted per item: exact accuracies per language,
consistency, language switches and cost; retries; failures that are not wrong answers; resume that re-sends only
what is not scored; the cost cap; cancel; a local (transformers-kind) endpoint with <think> output."""

from __future__ import annotations

import json
import threading
import time

import pytest

from modelmatch.evals import summary as evals
from modelmatch.chat.types import StreamEvent
from modelmatch.chat.endpoints import Endpoint
from modelmatch.evals.run_setup import Price, RunConfig, create_run
from modelmatch.evals.runner import EvalRunner, classify_error
from modelmatch.evals.sets import parse_eval_set, sent_prompt
from modelmatch.evals.store import EvalStore
from tests.openai_server import DONE, Script, ScriptedServer, answer_script, delta, usage

SET_CSV = """id,language,group_id,scorer,expected,prompt
q1-en,en,q1,numeric,5,What is 2 + 3?
q1-zh,zh,q1,numeric,5,2加3等于多少？
q1-th,th,q1,numeric,5,2 บวก 3 เท่ากับเท่าไร
q2-en,en,q2,numeric,12,What is 3 times 4?
q2-zh,zh,q2,numeric,12,3乘以4等于多少？
q2-th,th,q2,numeric,12,3 คูณ 4 เท่ากับเท่าไร
q3-en,en,q3,numeric,7,What is 10 - 3?
q3-zh,zh,q3,numeric,7,10减3等于多少？
q3-th,th,q3,numeric,7,10 ลบ 3 เท่ากับเท่าไร
q4-en,en,q4,choice,B,"Which is a mammal?
A) Shark
B) Dolphin"
q4-zh,zh,q4,choice,B,"哪一个是哺乳动物？
A) 鲨鱼
B) 海豚"
q4-th,th,q4,choice,B,"ข้อใดเป็นสัตว์เลี้ยงลูกด้วยนม
A) ฉลาม
B) โลมา"
"""
RIGHT = {"q1": "5", "q2": "12", "q3": "7", "q4": "B"}
LEAD_IN = {"en": "So the result is {a}.", "zh": "所以计算的结果是{a}。", "th": "ดังนั้นผลลัพธ์คือ {a}"}


@pytest.fixture
def eval_set():
    result = parse_eval_set(SET_CSV.encode(), "tiny.csv", "test")
    assert result.ok, result.problems
    return result.eval_set


@pytest.fixture
def store(tmp_path):
    s = EvalStore(tmp_path / "runs.sqlite")
    yield s
    s.close()


def item_of(eval_set, body: dict) -> str:
    """The item id a request is for (the server sees only the prompt)."""
    prompts = {sent_prompt(i): i.item_id for i in eval_set.items}
    return prompts[body["messages"][-1]["content"]]


def reply(text: str, prompt_tokens: int = 7) -> Script:
    return answer_script([text], prompt_tokens=prompt_tokens)


def endpoint(name: str, server: ScriptedServer, **extra) -> Endpoint:
    return Endpoint(name=name, kind="openai", model=name.lower(), base_url=server.base_url, model_id=f"org/{name}",
                    requests_per_minute=100_000, first_byte_timeout_s=5, stall_timeout_s=5, **extra)


FAST = RunConfig(concurrency=3, retries=2, retry_base_s=0.01, cost_cap_usd=None)


def run_to_end(store, eval_set, endpoints, config=FAST, prices=None, run_id=None, **kwargs) -> tuple[str, object]:
    prices = prices or {e.name: None for e in endpoints}
    if run_id is None:
        run_id = create_run(store, eval_set, endpoints, config, prices, {e.name: "" for e in endpoints})
    runner = EvalRunner(store, run_id, endpoints, {}, config, prices, **kwargs)
    progress = runner.run()
    return run_id, progress


def test_full_run_exact_accuracies_consistency_switches_and_cost(store, eval_set):
    def good(body):
        item = item_of(eval_set, body)
        group, language = item.split("-")
        answer = RIGHT[group]
        if item == "q3-th":
            answer = "8"
        if item == "q4-zh":
            answer = "A"
        if language == "zh" and answer.isdigit():
            answer = "".join(chr(ord(c) + 0xFEE0) for c in answer)  # full-width digits still read
        return reply(LEAD_IN[language].format(a=answer) + f"\nANSWER: {answer}")

    def poor(body):
        item = item_of(eval_set, body)
        group, language = item.split("-")
        if language == "en" or item == "q1-zh":
            return reply(LEAD_IN[language].format(a=RIGHT[group]) + f"\nANSWER: {RIGHT[group]}")
        if language == "zh":
            return reply("所以计算的结果是1。\nANSWER: " + ("A" if group == "q4" else "1"))
        return reply("The answer is one, I think.\nANSWER: " + ("A" if group == "q4" else "1"))  # English for Thai

    with ScriptedServer(good) as a, ScriptedServer(poor) as b:
        endpoints = [endpoint("Good", a), endpoint("Poor", b)]
        prices = {"Good": Price(1.0, 2.0, "test price"), "Poor": None}
        run_id, progress = run_to_end(store, eval_set, endpoints, prices=prices)
        assert progress.outcome == "complete"
        assert len(a.received) == len(b.received) == 12

    summary = evals.summarize(store, run_id)
    rates = {(r.endpoint_name, r.language): (r.correct, r.scored) for r in summary.by_language.itertuples()}
    assert rates == {("Good", "en"): (4, 4), ("Good", "zh"): (3, 4), ("Good", "th"): (3, 4),
                     ("Poor", "en"): (4, 4), ("Poor", "zh"): (1, 4), ("Poor", "th"): (0, 4)}
    good_m, poor_m = summary.models
    assert (good_m.correct, good_m.scored, good_m.accuracy) == (10, 12, pytest.approx(10 / 12))
    assert (poor_m.correct, poor_m.scored) == (5, 12)
    # Consistency with English: Good differs on q3-th and q4-zh (6 of 8 pairs agree); Poor agrees only on q1-zh.
    assert (good_m.consistency, good_m.consistency_pairs) == (pytest.approx(6 / 8), 8)
    assert (poor_m.consistency, poor_m.consistency_pairs) == (pytest.approx(1 / 8), 8)
    assert good_m.all_agree_share == pytest.approx(2 / 4)  # q1 and q2 agree in every language
    assert poor_m.worst_language == "th" and "clearly below en" in poor_m.worst_language_note
    assert good_m.worst_language == "zh" and "within noise" in good_m.worst_language_note
    # Poor answered the Thai questions in English: 4 language switches; Good none.
    assert (poor_m.language_switches, good_m.language_switches) == (4, 0)
    assert poor_m.language_judged >= 8
    # Cost: each reply is 7 prompt tokens + 1 completion token at $1 / $2 per Mtok.
    assert good_m.cost_usd == pytest.approx(12 * (7 * 1.0 + 1 * 2.0) / 1e6)
    assert poor_m.cost_usd is None
    assert good_m.input_tokens == 84 and good_m.e2e_p50_ms is not None and good_m.wall_s is not None
    matrix = evals.accuracy_matrix(summary).set_index("endpoint")
    assert matrix.loc["Good", "zh"].startswith("75% (3/4)")
    assert matrix.loc["Poor", "all"].startswith("42% (5/12)")


def test_requests_carry_the_run_settings_and_the_answer_instruction(store, eval_set):
    with ScriptedServer(reply("ANSWER: 5")) as server:
        config = RunConfig(temperature=0.0, top_p=1.0, max_tokens=64, concurrency=1, cost_cap_usd=None)
        run_to_end(store, eval_set.subset(["th"], max_groups=1), [endpoint("A", server)], config)
        body = server.received[0].body
    assert body["temperature"] == 0.0 and body["max_tokens"] == 64 and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": sent_prompt(eval_set.items[2])}]
    assert body["messages"][0]["content"].endswith("ไม่ต้องมีหน่วย")


def test_429_and_503_are_retried_with_backoff(store, eval_set):
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def flaky(body):
        item = item_of(eval_set, body)
        with lock:
            seen[item] = seen.get(item, 0) + 1
            count = seen[item]
        if item == "q1-en" and count == 1:
            return Script(status=429, headers={"Content-Type": "application/json"},
                          steps=[(0, b'{"error": {"message": "slow down"}}')])
        if item == "q2-en" and count <= 2:
            return Script(status=503, headers={"Content-Type": "application/json"}, steps=[(0, b"{}")])
        return reply(f"ANSWER: {RIGHT[item.split('-')[0]]}")

    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    with ScriptedServer(flaky) as server:
        run_id, progress = run_to_end(store, eval_set.subset(["en"]), [endpoint("A", server)],
                                      RunConfig(concurrency=1, retries=3, retry_base_s=1.0, cost_cap_usd=None),
                                      sleep=fake_sleep)
    assert progress.outcome == "complete" and progress.endpoints[0].retries == 3
    table = evals.results_table(store, run_id).set_index("item_id")
    assert table.loc["q1-en", "attempts"] == 2 and table.loc["q2-en", "attempts"] == 3
    assert bool(table.loc["q2-en", "correct"])
    # Exponential backoff with jitter: 1st retry in [0.5, 1] s, 2nd in [1, 2] s.
    assert 0.5 <= sleeps[0] <= 1.0 and 0.5 <= sleeps[1] <= 1.0 and 1.0 <= sleeps[2] <= 2.0


def test_failures_are_not_wrong_and_resume_sends_only_those(store, eval_set):
    broken = {"q2-zh", "q3-th", "q4-en"}
    healthy = threading.Event()

    def server_script(body):
        item = item_of(eval_set, body)
        if item in broken and not healthy.is_set():
            return Script(status=500, headers={"Content-Type": "application/json"},
                          steps=[(0, b'{"error": {"message": "backend died"}}')])
        return reply(f"ANSWER: {RIGHT[item.split('-')[0]]}")

    with ScriptedServer(server_script) as server:
        config = RunConfig(concurrency=2, retries=1, retry_base_s=0.01, breaker_failures=0, cost_cap_usd=None)
        run_id, progress = run_to_end(store, eval_set, [endpoint("A", server)], config)
        assert progress.outcome == "incomplete"
        summary = evals.summarize(store, run_id)
        model = summary.models[0]
        assert (model.correct, model.scored, model.failed) == (9, 9, 3)
        assert model.accuracy == 1.0  # failed items are not wrong
        assert store.run_info(run_id).status == "incomplete"
        failed = summary.table[summary.table["status"] == "failed"]
        assert set(failed["item_id"]) == broken and failed["error"].str.contains("HTTP 500").all()
        assert len(server.received) == 9 + 3 * 2  # each broken item: first try + 1 retry

        healthy.set()
        before = len(server.received)
        plan = evals.plan_resume(store, run_id, [endpoint("A", server)], config)
        assert plan.estimate.requests == 3
        run_to_end(store, eval_set, plan.endpoints, config, run_id=run_id)
        resent = [item_of(eval_set, r.body) for r in server.received[before:]]
    assert sorted(resent) == sorted(broken)  # completed items were not sent again
    summary = evals.summarize(store, run_id)
    assert summary.complete and summary.models[0].correct == 12
    assert store.run_info(run_id).status == "complete"
    assert list(summary.sessions["session_index"].unique()) == [1, 2]


def test_an_endpoint_that_goes_down_marks_its_items_failed_not_sent(store, eval_set):
    with ScriptedServer(reply("ANSWER: 5")) as server:
        dead = Endpoint(name="Dead", kind="openai", model="x", base_url="http://127.0.0.1:9/v1",
                        connect_timeout_s=1, requests_per_minute=100_000)
        config = RunConfig(concurrency=1, retries=1, retry_base_s=0.01, breaker_failures=2, cost_cap_usd=None)
        run_id, progress = run_to_end(store, eval_set, [endpoint("Live", server), dead], config)
    by_name = {p.name: p for p in progress.endpoints}
    assert by_name["Live"].scored == 12
    dead_p = by_name["Dead"]
    assert dead_p.failed == 2 and dead_p.not_sent == 10 and dead_p.state.startswith("stopped: 2 items in a row failed")
    table = evals.results_table(store, run_id)
    dead_rows = table[table["endpoint_name"] == "Dead"]
    assert (dead_rows["status"] == "failed").all()
    assert dead_rows["error"].str.contains("not sent: Dead was failing").sum() == 10
    assert dead_rows["correct"].isna().all()  # never counted as wrong


def test_wrong_key_stops_the_endpoint_after_one_request(store, eval_set):
    server = ScriptedServer(Script(status=401, headers={"Content-Type": "application/json"},
                                   steps=[(0, b'{"error": {"message": "bad key"}}')]))
    with server:
        _, progress = run_to_end(store, eval_set, [endpoint("A", server)],
                                 RunConfig(concurrency=1, retries=3, retry_base_s=0.01, cost_cap_usd=None))
        assert len(server.received) == 1
    assert progress.endpoints[0].not_sent == 11 and "HTTP 401" in progress.endpoints[0].state


def test_cost_cap_stops_sending_and_resume_with_a_higher_cap_finishes(store, eval_set):
    # One prompt of 2 bytes, no instruction, max 16 tokens: the worst case is (2 + 64 + 16) tokens = $1.00 at this
    # price; each reply really costs (7 + 1) tokens = $0.0976.
    small = parse_eval_set(b"id,language,prompt,expected,scorer\n" +
                           b"".join(f"i{n},en,q{n},5,numeric\n".encode() for n in range(1, 7)), "c.csv", "c").eval_set
    price = Price(1e6 / 82, 1e6 / 82, "test")
    config = RunConfig(concurrency=1, max_tokens=16, cost_cap_usd=1.25, add_answer_instruction=False, retries=0)
    with ScriptedServer(reply("ANSWER: 5")) as server:
        ep = endpoint("Paid", server)
        run_id, progress = run_to_end(store, small, [ep], config, prices={"Paid": price})
        # Spent + worst case must stay under $1.25: after 3 replies ($0.29) a 4th could reach $1.29.
        assert len(server.received) == 3
        assert progress.endpoints[0].not_sent == 3 and progress.endpoints[0].state == "stopped at the cost cap"
        assert progress.spent_usd == pytest.approx(3 * 8 / 82)
        assert progress.spent_usd + 1.0 > 1.25
        resumed = evals.config_for_resume(store.run_info(run_id), 10.0)
        _, progress = run_to_end(store, small, [ep], resumed, prices={"Paid": price}, run_id=run_id)
        assert len(server.received) == 6
    assert evals.summarize(store, run_id).complete


def test_cancel_keeps_finished_items_and_resume_sends_the_rest(store, eval_set):
    def slow(body):
        item = item_of(eval_set, body)
        return Script(steps=[(0.15, delta(content=f"ANSWER: {RIGHT[item.split('-')[0]]}")), (0, usage(7, 1)),
                             (0, DONE)])

    with ScriptedServer(slow) as server:
        ep = endpoint("Slow", server)
        config = RunConfig(concurrency=1, cost_cap_usd=None)
        run_id = create_run(store, eval_set, [ep], config, {"Slow": None}, {"Slow": ""})
        runner = EvalRunner(store, run_id, [ep], {}, config, {"Slow": None}).start()
        deadline = time.monotonic() + 10
        while runner.progress().endpoints[0].scored < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        runner.cancel()
        assert runner.wait(10)
        progress = runner.progress()
        assert progress.outcome == "cancelled" and store.run_info(run_id).status == "cancelled"
        scored = progress.endpoints[0].scored
        assert 2 <= scored < 12
        table = evals.results_table(store, run_id)
        assert (table["status"] == "scored").sum() == scored and (table["status"] == "failed").sum() == 0
        first_session = {item_of(eval_set, r.body) for r in server.received}
        done = set(table.loc[table["status"] == "scored", "item_id"])
        before = len(server.received)
        run_to_end(store, eval_set, [ep], config, run_id=run_id)
        resent = {item_of(eval_set, r.body) for r in server.received[before:]}
    assert resent == set(RIGHT_ITEMS(eval_set)) - done
    assert len(server.received) - before == 12 - scored
    assert done <= first_session
    assert evals.summarize(store, run_id).complete


def RIGHT_ITEMS(eval_set):  # noqa: N802 - reads like a constant in the assertion above
    return [i.item_id for i in eval_set.items]


def test_local_endpoint_with_thinking_scores_the_final_answer(store, eval_set):
    calls = []

    def fake_local(endpoint, request, cancel, clock):
        calls.append(request)
        group = {"What is 2 + 3?": "q1"}.get(request.messages[-1].content.split("\n")[0], "q2")
        yield StreamEvent("content", clock(), "<think>maybe ANSWER: 999</thi")
        yield StreamEvent("content", clock(), f"nk>The sum is {RIGHT[group]}.\nANSWER: {RIGHT[group]}")
        yield StreamEvent("done", clock())

    local = Endpoint(name="Local", kind="transformers", model="tiny", think_tags=True)
    run_id, progress = run_to_end(store, eval_set.subset(["en"], max_groups=1), [local],
                                  RunConfig(concurrency=4, cost_cap_usd=None), local_stream=fake_local)
    assert progress.outcome == "complete" and len(calls) == 1
    row = evals.results_table(store, run_id).iloc[0]
    assert bool(row["correct"]) and row["extracted"] == "5"
    assert "999" in row["reasoning"] and "999" not in row["answer"]


def test_keys_are_sent_but_never_stored(store, eval_set, tmp_path):
    canary = "sk-canary-eval-5e1d0a2b9c8f7e6d"
    with ScriptedServer(reply("ANSWER: 5")) as server:
        ep = endpoint("Keyed", server, api_key_env="MM_EVAL_KEY")
        run_id = create_run(store, eval_set.subset(["en"], max_groups=1), [ep], FAST, {"Keyed": None},
                            {"Keyed": ""})
        EvalRunner(store, run_id, [ep], {"Keyed": canary}, FAST, {"Keyed": None}).run()
        assert server.received[0].headers["Authorization"] == f"Bearer {canary}"
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("runs.sqlite*"))
    assert canary.encode() not in raw and server.base_url.encode() not in raw


def test_error_classification():
    ep = Endpoint(name="E", kind="openai", model="m", base_url="http://127.0.0.1:1/v1")
    assert classify_error(ep, "E: HTTP 429 (rate limited or out of quota: wait and retry)") == "retry"
    assert classify_error(ep, "E: HTTP 502 (bad gateway)") == "retry"
    assert classify_error(ep, "E: HTTP 401 (the API key is missing or wrong)") == "endpoint"
    assert classify_error(ep, "E: HTTP 404 (the URL or model name is wrong)") == "endpoint"
    assert classify_error(ep, "E: HTTP 400: prompt too long") == "item"
    assert classify_error(ep, "could not connect to 127.0.0.1:1: Connection refused") == "retry"
    assert classify_error(ep, "stopped by the user (what arrived is kept)") == "cancel"


def test_latest_eval_accuracy_for_the_compare_page(store, eval_set):
    with ScriptedServer(reply("ANSWER: 5")) as server:
        ep = endpoint("Qwen", server)  # model_id org/Qwen; answers 5 to everything: q1 right only
        run_to_end(store, eval_set, [ep])
        first = evals.latest_eval_accuracy(["org/Qwen", "org/None"], store)
        assert list(first["model_id"]) == ["org/Qwen"]
        row = first.iloc[0]
        assert (row["correct"], row["scored"]) == (3, 12) and row["eval_accuracy"] == pytest.approx(25.0)
        assert row["ci_low"] < 25 < row["ci_high"] and row["set_name"] == "tiny"
        time.sleep(0.01)
        run_to_end(store, eval_set.subset(["en"], max_groups=1), [ep])  # a newer run replaces it
    latest = evals.latest_eval_accuracy(["org/Qwen"], store).iloc[0]
    assert (latest["correct"], latest["scored"]) == (1, 1) and latest["run_id"] != row["run_id"]
    assert list(evals.latest_eval_accuracy([], store).columns) == evals.EVAL_ACCURACY_COLUMNS


def test_exports_escape_formulas_and_include_every_item(store, eval_set):
    with ScriptedServer(reply("=HYPERLINK(\"http://x\")\nANSWER: 5")) as server:
        run_id, _ = run_to_end(store, eval_set, [endpoint("A", server)])
    summary = evals.summarize(store, run_id)
    csv_text = evals.export_csv(summary).decode()
    assert "'=HYPERLINK" in csv_text and "\n=HYPERLINK" not in csv_text
    assert not evals._formula_like("-105") and evals._formula_like("-cmd") and evals._formula_like("@SUM(A1)")
    payload = json.loads(evals.export_json(summary))
    assert len(payload["items"]) == 12 and payload["models"][0]["scored"] == 12


def test_one_run_is_sent_by_one_runner_at_a_time(store, eval_set):
    from modelmatch.evals.runner import RunAlreadyActive, is_active

    def slow(body):
        return Script(steps=[(0.2, delta(content="ANSWER: 5")), (0, usage(7, 1)), (0, DONE)])

    with ScriptedServer(slow) as server:
        ep = endpoint("A", server)
        config = RunConfig(concurrency=1, cost_cap_usd=None)
        run_id = create_run(store, eval_set, [ep], config, {"A": None}, {"A": ""})
        first = EvalRunner(store, run_id, [ep], {}, config, {"A": None}).start()
        assert is_active(run_id)
        with pytest.raises(RunAlreadyActive):
            EvalRunner(store, run_id, [ep], {}, config, {"A": None}).start()  # e.g. Resume in a second tab
        first.cancel()
        assert first.wait(10)
    assert not is_active(run_id)


def test_latest_eval_accuracy_without_a_runs_database_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELMATCH_RUNS_DB", str(tmp_path / "none" / "runs.sqlite"))
    df = evals.latest_eval_accuracy(["Qwen/Qwen2.5-7B-Instruct"])
    assert df.empty and list(df.columns) == evals.EVAL_ACCURACY_COLUMNS
    assert not (tmp_path / "none").exists()


def test_reply_with_more_than_4300_digits_is_scored_and_the_run_goes_on(store, eval_set):
    """A reply of 5,000 digits made the scorer raise (Python's int-string limit): the endpoint's whole run stopped
    silently, the rest stayed 'never sent', and each resume paid for the same reply again."""
    def server_script(body):
        item = item_of(eval_set, body)
        if item == "q1-en":
            return reply("ANSWER: " + "9" * 5_000)
        return reply(f"ANSWER: {RIGHT[item.split('-')[0]]}")

    with ScriptedServer(server_script) as server:
        run_id, progress = run_to_end(store, eval_set, [endpoint("A", server)], RunConfig(concurrency=1))
        assert progress.outcome == "complete" and len(server.received) == 12
    summary = evals.summarize(store, run_id)
    assert summary.complete and (summary.models[0].correct, summary.models[0].scored) == (11, 12)
    row = summary.table[summary.table["item_id"] == "q1-en"].iloc[0]
    assert row["status"] == "scored" and not bool(row["correct"])
    assert evals.plan_resume(store, run_id, [endpoint("A", server)], FAST).estimate.requests == 0


def test_reply_that_cannot_be_scored_is_scored_wrong_with_the_reason(store, eval_set, monkeypatch):
    """Any scorer failure (not only the digit limit) is one item scored wrong with its reason, never a dead run."""
    import modelmatch.evals.runner as runner_module

    real = runner_module.score_reply

    def flaky(answer, expected, scorer, tolerance=None):
        if "boom" in answer:
            raise ValueError("scorer bug")
        return real(answer, expected, scorer, tolerance)

    monkeypatch.setattr(runner_module, "score_reply", flaky)

    def server_script(body):
        item = item_of(eval_set, body)
        return reply("boom" if item == "q2-en" else f"ANSWER: {RIGHT[item.split('-')[0]]}")

    with ScriptedServer(server_script) as server:
        run_id, progress = run_to_end(store, eval_set, [endpoint("A", server)], RunConfig(concurrency=1))
        assert progress.outcome == "complete" and len(server.received) == 12
    row = evals.summarize(store, run_id).table.set_index("item_id").loc["q2-en"]
    assert row["status"] == "scored" and "could not score this reply: ValueError: scorer bug" in row["score_note"]


def test_redaction_runs_after_truncation_a_key_echoed_in_replies_is_never_stored(store, eval_set, tmp_path):
    """A server echoing the key in its reply (split over events, or base64-encoded in the thinking) must leave it
    in no runs database."""
    import base64

    canary = "sk-canary-echo-0f1e2d3c4b5a69788796"
    half = len(canary) // 2
    script = Script(steps=[(0, delta(reasoning="header was " + base64.b64encode(canary.encode()).decode())),
                           (0, delta("ANSWER: 5 " + canary[:half])), (0, delta(canary[half:] + " done")),
                           (0, DONE)])
    with ScriptedServer(script) as server:
        ep = endpoint("Keyed", server, api_key_env="MM_EVAL_KEY")
        run_id = create_run(store, eval_set.subset(["en"], max_groups=1), [ep], FAST, {"Keyed": None},
                            {"Keyed": ""})
        EvalRunner(store, run_id, [ep], {"Keyed": canary}, FAST, {"Keyed": None}).run()
    row = evals.summarize(store, run_id).table.iloc[0]
    assert "[redacted]" in row["answer"] and "[redacted]" in row["reasoning"] and bool(row["correct"])
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("runs.sqlite*"))
    assert canary[:10].encode() not in raw and base64.b64encode(canary.encode())[:16] not in raw


def test_one_eval_run_takes_at_most_half_of_an_endpoints_shared_rate_limit(store, eval_set):
    """An eval run took the endpoint's whole shared requests_per_minute, refusing every playground visitor for the
    length of the run. Eval runs now pace themselves to half of it; visitors keep the rest."""
    from modelmatch.chat.limits import SlidingWindowLimiter

    limiter = SlidingWindowLimiter(window_s=3.0)  # a short window stands in for the minute
    english = eval_set.subset(["en"])
    with ScriptedServer(lambda body: reply(f"ANSWER: {RIGHT[item_of(eval_set, body).split('-')[0]]}")) as server:
        ep = endpoint("Shared", server)
        ep = Endpoint(**{**ep.__dict__, "requests_per_minute": 4})
        run_id = create_run(store, english, [ep], FAST, {"Shared": None}, {"Shared": ""})
        runner = EvalRunner(store, run_id, [ep], {}, RunConfig(concurrency=4, cost_cap_usd=None), {"Shared": None},
                            limiter=limiter).start()
        time.sleep(0.8)  # the run has sent what its share allows in this window
        visitor = [limiter.try_acquire("Shared", 4, "Shared").allowed for _ in range(2)]
        assert runner.wait(30)
    assert visitor == [True, True]
    assert runner.progress().outcome == "complete" and len(server.received) == 4


def test_global_spend_cap_per_endpoint_per_day_stops_every_run(store, eval_set):
    """The operator's max_usd_per_day holds across runs and visitors: once the day's spend leaves no room for a
    request's worst case, the rest is 'not sent' with the reason, and a second run the same day sends nothing.
    (Each request now reserves its worst case before it is sent, so the cap is never passed: the first version of
    this test let the day's spend end at $24 against a $20 cap.)"""
    from modelmatch.chat.limits import DailySpend

    spend = DailySpend(today=lambda: "2026-01-01")
    price = Price(0.0, 1_000_000.0, "test price")  # $1 per output token: each reply (1 token out) costs $1
    with ScriptedServer(lambda body: reply(f"ANSWER: {RIGHT[item_of(eval_set, body).split('-')[0]]}")) as server:
        config = RunConfig(concurrency=1, cost_cap_usd=None)
        probe = endpoint("Capped", server)
        worst_usd = min(config.max_tokens, probe.max_tokens_cap) * 1.0  # max_tokens out at $1, input free
        cap_usd = 2.0 + worst_usd  # room for three requests: the third's worst case fits after two replies
        ep = Endpoint(**{**probe.__dict__, "max_usd_per_day": cap_usd})
        first = create_run(store, eval_set, [ep], config, {"Capped": price}, {"Capped": ""})
        EvalRunner(store, first, [ep], {}, config, {"Capped": price}, daily_spend=spend).run()
        assert len(server.received) == 3 and spend.spent("Capped") == pytest.approx(3.0)
        table = evals.summarize(store, first).table
        assert table["error"].str.contains("daily spend cap").sum() == len(eval_set.items) - 3
        second = create_run(store, eval_set, [ep], config, {"Capped": price}, {"Capped": ""})
        EvalRunner(store, second, [ep], {}, config, {"Capped": price}, daily_spend=spend).run()
        assert len(server.received) == 3 and spend.spent("Capped") <= cap_usd


def test_every_eval_request_carries_the_endpoints_headers_query_and_extra_body(store, eval_set, monkeypatch):
    monkeypatch.setenv("MM_EVAL_GATEWAY_KEY", "gw-secret-value-123456")
    with ScriptedServer(reply("ANSWER: 5")) as server:
        ep = endpoint("A", server, headers=(("X-Title", "ModelMatch evals"),),
                      header_envs=(("X-Gateway-Key", "MM_EVAL_GATEWAY_KEY"),), query=(("api-version", "2024-10-21"),),
                      extra_body_json='{"enable_thinking": false}')
        run_to_end(store, eval_set.subset(["en"], max_groups=2), [ep])
        received = list(server.received)
    assert len(received) == 2
    for got in received:
        headers = {k.lower(): v for k, v in got.headers.items()}
        assert got.path == "/v1/chat/completions?api-version=2024-10-21"
        assert headers["x-title"] == "ModelMatch evals" and headers["x-gateway-key"] == "gw-secret-value-123456"
        assert got.body["enable_thinking"] is False and got.body["stream"] is True


def test_a_header_secret_echoed_in_replies_is_never_stored(store, eval_set, tmp_path, monkeypatch):
    canary = "gw-canary-echo-7a6b5c4d3e2f1a0b"
    monkeypatch.setenv("MM_EVAL_GATEWAY_KEY", canary)
    script = Script(steps=[(0, delta(reasoning="gateway said " + canary)), (0, delta("ANSWER: 5 " + canary)),
                           (0, DONE)])
    with ScriptedServer(script) as server:
        ep = endpoint("Gw", server, header_envs=(("X-Gateway-Key", "MM_EVAL_GATEWAY_KEY"),))
        run_id = create_run(store, eval_set.subset(["en"], max_groups=1), [ep], FAST, {"Gw": None}, {"Gw": ""})
        EvalRunner(store, run_id, [ep], {"Gw": None}, FAST, {"Gw": None}).run()
        assert server.received[0].headers["X-Gateway-Key"] == canary
    row = evals.summarize(store, run_id).table.iloc[0]
    assert "[redacted]" in row["answer"] and "[redacted]" in row["reasoning"]
    store.close()
    assert canary[:10].encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("runs.sqlite*"))


def test_scoring_and_store_writes_block_the_event_loop_no_more(store, eval_set, monkeypatch):
    """Each scored item wrote to the store on the event loop (~30 ms when every write opened DuckDB), delaying the
    chunk stamps of every other stream. Scoring and every result write now run on the runner's store thread."""
    import asyncio

    from modelmatch.evals import runner as runner_module

    loop_threads, write_threads, score_threads = set(), [], []
    real_save, real_score = store.save_result, runner_module.score_reply

    def save_result(*args, **kwargs):
        write_threads.append(threading.get_ident())
        return real_save(*args, **kwargs)

    def score_reply(*args, **kwargs):
        score_threads.append(threading.get_ident())
        return real_score(*args, **kwargs)

    real_main = EvalRunner._main

    async def main(self):
        loop_threads.add(threading.get_ident())
        assert asyncio.get_running_loop() is not None
        await real_main(self)

    monkeypatch.setattr(store, "save_result", save_result)
    monkeypatch.setattr(runner_module, "score_reply", score_reply)
    monkeypatch.setattr(EvalRunner, "_main", main)
    english = eval_set.subset(["en"])
    with ScriptedServer(lambda body: reply(f"ANSWER: {RIGHT[item_of(eval_set, body).split('-')[0]]}")) as server:
        run_id, progress = run_to_end(store, english, [endpoint("A", server)])
    assert progress.outcome == "complete" and len(write_threads) == len(english.items) == len(score_threads)
    assert loop_threads and not (set(write_threads) | set(score_threads)) & loop_threads


def test_spend_cap_overshot_by_eval_requests_in_flight_no_more(store, eval_set):
    """Six requests in flight at once each checked only what was already spent ($0), so together they passed the
    operator's daily cap (8 replies sent, $32 against $8.50). Each now reserves its worst case first: two fit, the rest are not sent
    (resume sends them another day), and the day's spend stays under the cap."""
    from modelmatch.chat.limits import DailySpend

    def slow(body):
        answer = RIGHT[item_of(eval_set, body).split("-")[0]]
        return Script(steps=[(0.3, delta(content=f"ANSWER: {answer}")), (0, usage(7, 4)), (0, DONE)])

    spend = DailySpend(today=lambda: "2026-01-01")
    price = Price(0.0, 1_000_000.0, "test price")  # $1 per output token, input free
    with ScriptedServer(slow) as server:
        config = RunConfig(concurrency=6, cost_cap_usd=None, retries=0, max_tokens=4)  # worst case $4, reply $4
        ep = Endpoint(**{**endpoint("Capped", server).__dict__, "max_usd_per_day": 8.5})
        run_id = create_run(store, eval_set, [ep], config, {"Capped": price}, {"Capped": ""})
        EvalRunner(store, run_id, [ep], {}, config, {"Capped": price}, daily_spend=spend).run()
        sent = len(server.received)
    assert sent == 2 and spend.spent("Capped") == pytest.approx(8.0)
    table = evals.summarize(store, run_id).table
    assert table["error"].str.contains("daily spend cap").sum() == len(eval_set.items) - 2


def test_items_refused_while_the_runs_own_requests_hold_the_daily_cap_wait_instead(store, eval_set):
    """With the cap's room held by the run's own requests in flight, the next item waits for one of them to settle
    (most settle well below their worst case) instead of being marked not sent at once."""
    from modelmatch.chat.limits import DailySpend

    def cheap(body):
        answer = RIGHT[item_of(eval_set, body).split("-")[0]]
        return Script(steps=[(0.05, delta(content=f"ANSWER: {answer}")), (0, usage(7, 1)), (0, DONE)])

    spend = DailySpend(today=lambda: "2026-01-01")
    price = Price(0.0, 1_000_000.0, "test price")  # $1 per output token, input free
    with ScriptedServer(cheap) as server:
        config = RunConfig(concurrency=6, cost_cap_usd=None, retries=0, max_tokens=4)  # worst case $4, reply $1
        ep = Endpoint(**{**endpoint("Capped", server).__dict__, "max_usd_per_day": 8.5})
        run_id = create_run(store, eval_set, [ep], config, {"Capped": price}, {"Capped": ""})
        EvalRunner(store, run_id, [ep], {}, config, {"Capped": price}, daily_spend=spend).run()
        sent = len(server.received)
    # Sent while spent + held + $4 <= $8.50: stops only when $5 are spent and nothing of the run is in flight.
    assert sent == 5 and spend.spent("Capped") == pytest.approx(5.0)
    assert evals.summarize(store, run_id).table["error"].str.contains("daily spend cap").sum() == 12 - 5
