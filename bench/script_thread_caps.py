"""Time the work a page does on its Streamlit script thread, at each cap, on the worst input found for it.

Work that runs on a script thread while a visitor waits must be bounded by a cap checked before it runs. This
prints, for each such piece of work, the cap, the input at (or far over) the cap and the time, side by side with
the time to hash the same bytes once (sha256: the least any reading of the input costs), so figures from different
machines compare as ratios.

    python -m bench.script_thread_caps                  # every case, default settings (20 MB eval sets)
    python -m bench.script_thread_caps --only parse     # one group: parse, render, score, export, results
    python -m bench.script_thread_caps --uncapped       # also parse the blank-line file with the record cap lifted

Nothing here asserts a time: tests check the caps themselves (tests/evals/test_eval_sets.py, the rendering caps in
tests/chat/test_linear_time_text.py); this shows what a visitor can make the page do within them.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from typing import Callable

MB = 1024 * 1024


def seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    """Best of `repeats` (one call when the first takes over a second)."""
    best = float("inf")
    for attempt in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
        if attempt == 0 and best > 1.0:
            break
    return best


def _fill(head: bytes, row: bytes, size: int) -> bytes:
    return head + row * max(0, (size - len(head)) // len(row))


def parse_cases(file_bytes: int, max_items: int) -> list[tuple[str, bytes]]:
    """Eval-set files of the largest allowed size, shaped to make the parser work hardest."""
    from modelmatch.evals.sets import MAX_EXPECTED_CHARS, MAX_PROMPT_CHARS

    head = b"id,language,scorer,expected,prompt\n"
    one_item = head + b"q1,en,exact,yes,Say yes\n"
    room = file_bytes - len(head)

    def rows(make: Callable[[int], str], row_bytes: int) -> list[bytes]:
        """As many rows as fit in the file (at most the item cap), each about row_bytes long."""
        return [make(i).encode() for i in range(min(max_items, room // (row_bytes + 24)))]

    per_item = room // max_items - 24
    prompt_items = rows(lambda i: f"q{i},en,exact,yes,{'p' * per_item}\n", per_item)
    big_prompts = rows(lambda i: f"q{i},en,exact,yes,{'w ' * (MAX_PROMPT_CHARS // 2)}\n", MAX_PROMPT_CHARS)
    pattern = "(?:a|b)" * (MAX_EXPECTED_CHARS // 7)
    regex_items = rows(lambda i: f"q{i},en,regex,{pattern},x\n", len(pattern))
    digits = "9" * 99 + "." + "9" * (MAX_EXPECTED_CHARS - 100)  # a long decimal: the number reader's worst
    numeric_items = rows(lambda i: f"q{i},en,numeric,{digits},x\n", len(digits))
    return [
        ("blank lines after one item", _fill(one_item, b"\n", file_bytes)),
        ("one-character rows", _fill(head, b"x\n", file_bytes)),
        (f"{max_items:,} items, prompts filling the file", head + b"".join(prompt_items)),
        (f"{len(big_prompts):,} items of {MAX_PROMPT_CHARS:,}-character prompts", head + b"".join(big_prompts)),
        (f"{len(regex_items):,} regex items, {len(pattern):,}-character patterns", head + b"".join(regex_items)),
        (f"{len(numeric_items):,} numeric items, {len(digits):,}-character numbers", head + b"".join(numeric_items)),
        ("one quoted 20 MB field", head + b'q1,en,exact,yes,"' + b"\n" * (file_bytes - len(head) - 20) + b'"\n'),
    ]


def run_parse(uncapped: bool) -> None:
    from modelmatch.evals import sets

    limit, items = sets.max_file_bytes(), sets.max_items()
    print(f"\nparse: parse_eval_set at the file cap ({limit / MB:g} MB, MODELMATCH_EVAL_MAX_FILE_MB) and the item cap "
          f"({items:,}, MODELMATCH_EVAL_MAX_ITEMS); records cap {sets.max_records() - 1:,}")
    for name, data in parse_cases(limit, items):
        data = data[:limit] if len(data) > limit else data
        floor = seconds(lambda: hashlib.sha256(data).digest())
        taken = seconds(lambda: sets.parse_eval_set(data, "bench.csv", "bench"))
        result = sets.parse_eval_set(data, "bench.csv", "bench")
        outcome = "accepted" if result.ok else f"refused: {result.problems[0].message[:50]}"
        print(f"  {name:48s} {len(data) / MB:6.1f} MB {taken * 1000:10,.1f} ms  x{taken / floor:7,.0f} sha256  "
              f"{outcome}")
    if uncapped:
        data = parse_cases(limit, items)[0][1]
        saved = sets.RECORDS_PER_ITEM
        sets.RECORDS_PER_ITEM = 10 ** 9
        try:
            taken = seconds(lambda: sets.parse_eval_set(data, "bench.csv", "bench"), repeats=1)
        finally:
            sets.RECORDS_PER_ITEM = saved
        print(f"  {'blank lines, record cap lifted':48s} {len(data) / MB:6.1f} MB {taken * 1000:10,.1f} ms")


def run_render() -> None:
    from bench.adversarial_text import SANITISER_TEXTS, TEXTS
    from modelmatch.chat import render

    print(f"\nrender: safe_markdown cuts to {render.MAX_RENDERED_CHARS:,} characters before any work, md_text to "
          f"{render.MAX_VALUE_CHARS:,}; the worst shapes at the cap and 20 million characters")
    for name in SANITISER_TEXTS:
        for size in (render.MAX_RENDERED_CHARS, 20_000_000):
            text = TEXTS[name][1](size)
            floor = seconds(lambda: hashlib.sha256(text.encode()).digest())
            whole = seconds(lambda: render.safe_markdown(text))
            value = seconds(lambda: render.md_text(text))
            print(f"  {TEXTS[name][0]:44s} {size:>12,} chars  safe_markdown {whole * 1000:8,.2f} ms  md_text "
                  f"{value * 1000:6,.2f} ms  (sha256 of the text {floor * 1000:8,.2f} ms)")


def run_score() -> None:
    from bench.adversarial_text import SCORER_TEXTS, TEXTS
    from modelmatch.evals import scoring

    print(f"\nscore: every scorer reads only the last {scoring.SCORE_MAX_CHARS:,} characters of a reply; the four "
          "scorers summed")
    for name in SCORER_TEXTS:
        for size in (scoring.SCORE_MAX_CHARS, 20_000_000):
            text = TEXTS[name][1](size)
            taken = seconds(lambda: [scoring.score_reply(text, e, s) for e, s in
                                     (("42", "numeric"), ("42", "exact"), ("42", "contains"), ("A", "choice"))])
            print(f"  {TEXTS[name][0]:44s} {size:>12,} chars {taken * 1000:10,.1f} ms")


def run_export() -> None:
    from modelmatch.chat.endpoints import Endpoint
    from modelmatch.chat.runs_store import ColumnRecord, RunRecord, to_json, to_markdown

    answer_chars = Endpoint(name="x", kind="openai", model="m", base_url="http://127.0.0.1:9/v1").max_response_bytes
    run = RunRecord(prompt="![" * 50_000, columns=[ColumnRecord(i, f"E{i}", None, {}, [], "", "![a](" * (answer_chars // 5))
                                                   for i in range(4)])
    print(f"\nexport: a saved run's Markdown and JSON (built on click), 4 columns of {answer_chars:,}-character answers "
          "(max_response_bytes)")
    for name, fn in (("to_markdown", to_markdown), ("to_json", to_json)):
        taken = seconds(lambda: fn(run), repeats=1)
        print(f"  {name:48s} {taken * 1000:10,.1f} ms")


def run_results() -> None:
    """The Evals page summarises its run on every rerun: a run at the page's request cap, answers of answer_chars."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from modelmatch import settings
    from modelmatch.chat.endpoints import Endpoint
    from modelmatch.evals import results_view
    from modelmatch.evals import summary as evals
    from modelmatch.evals.run_setup import RunConfig, create_run
    from modelmatch.evals.sets import parse_eval_set
    from modelmatch.evals.store import RESULT_COLUMNS, SCORED, ResultRecord, shared_store

    requests = settings.value("eval_max_requests_per_run")
    languages = ("en", "th", "vi", "id", "zh")
    questions = requests // 2 // len(languages)
    rows = "".join(f"q{i}-{lang},{lang},q{i},numeric,{i},Question {i} in {lang}\n" for i in range(questions)
                   for lang in languages)
    eval_set = parse_eval_set(("id,language,group_id,scorer,expected,prompt\n" + rows).encode(), "b.csv", "b").eval_set
    endpoints = [Endpoint(name=n, kind="openai", model=n, base_url="http://127.0.0.1:9/v1") for n in ("A", "B")]
    print(f"\nresults: summarize + the page's tables for a run at the page's cap ({requests:,} requests, "
          "MODELMATCH_EVAL_MAX_REQUESTS_PER_RUN), every rerun")
    for answer_chars in (2_000, 20_000):
        with tempfile.TemporaryDirectory() as folder:
            store = shared_store(Path(folder) / "runs.sqlite")
            run_id = create_run(store, eval_set, endpoints, RunConfig(), {"A": None, "B": None}, {"A": "", "B": ""})
            answer = "w" * answer_chars + "\nANSWER: 7"
            insert = f"INSERT INTO eval_results VALUES ({', '.join('?' * len(RESULT_COLUMNS))})"
            statements = []
            for endpoint in endpoints:
                for item in eval_set.items:
                    values = dataclasses.asdict(ResultRecord(endpoint.name, item.item_id, SCORED, correct=False,
                                                             extracted="7", answer_key="7", answer=answer))
                    statements.append((insert, [run_id] + [values[c] for c in RESULT_COLUMNS[1:]]))
            store._write(statements)  # one transaction: the runner's one-by-one saves would take minutes here
            summary = evals.summarize(store, run_id)
            keys = results_view.question_filter(summary, "all")
            taken = seconds(lambda: evals.summarize(store, run_id))
            view = seconds(lambda: (results_view.model_table(summary), results_view.question_filter(summary, "all"),
                                    results_view.side_by_side(summary, keys[0])))
            store.close()
        print(f"  {len(statements):,} results, {answer_chars:>7,}-character answers   summarize {taken * 1000:8,.1f} ms  "
              f"tables {view * 1000:6,.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("parse", "render", "score", "export", "results"))
    parser.add_argument("--uncapped", action="store_true", help="also parse the blank-line file without the cap")
    args = parser.parse_args(argv)
    for group, run in (("parse", lambda: run_parse(args.uncapped)), ("render", run_render), ("score", run_score),
                       ("export", run_export), ("results", run_results)):
        if args.only in (None, group):
            run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
