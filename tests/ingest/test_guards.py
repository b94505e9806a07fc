"""Every guard with a constructed change; held rows refused by the build until accepted; accept and reject touch
only their lines."""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.build import BuildFailed, build
from ingest.guards import GUARDS, Quote, check_architecture, check_price
from ingest.importers import run_fetch
from ingest.review import ReviewError, accept, reject, review_queue
from modelmatch.catalog.schema import PRICES
from ingest.validate import validate
from modelmatch.catalog import prices
from modelmatch.catalog.reader import CatalogReader
from tests.conftest import REPO_ROOT, file_sha256
from tests.fixture_data import FIXTURE_ROWS, write_table
from tests.http_fixtures.importer_env import (DAY1, DAY2, clock, data_dir, loopback, net,  # noqa: F401
                                              serve_openrouter, snapshot)

BEFORE = Quote(input_usd_per_mtok=0.28, cached_input_usd_per_mtok=0.028, output_usd_per_mtok=0.42,
               context_length=131072)


def guards_fired(new: Quote, previous: Quote | None = BEFORE) -> set[str]:
    return {f.guard for f in check_price(new, previous)}


# -- each guard, with a constructed change --------------------------------------------------------------------------
def test_an_ordinary_price_cut_is_not_held():
    assert guards_fired(Quote(0.14, 0.014, 0.28, 131072)) == set()  # 2x cut: real news, not a typo
    assert guards_fired(Quote(0.28, 0.028, 0.42, 163840)) == set()  # context grew


@pytest.mark.parametrize(("new", "guard", "words"), [
    (Quote(3.5, 0.028, 0.42, 131072), "ratio-10x", "input rose 12.5x: 0.28 -> 3.5"),
    (Quote(0.02, 0.002, 0.42, 131072), "ratio-10x", "input fell 14x: 0.28 -> 0.02"),
    (Quote(0.28, 0.028, 0.0, 131072), "fell-to-zero", "output fell from 0.42 to 0"),
    (Quote(0.28, 0.5, 0.42, 131072), "cached-above-input", "cached input 0.5 > input 0.28"),
    (Quote(0.28, 0.028, 0.01, 131072), "output-below-input-20th", "output 0.01 < input 0.28 / 20 = 0.014"),
    (Quote(0.28, 0.028, 0.42, 65536), "context-shrank", "from 131,072 to 65,536 tokens"),
    (Quote(280000.0, 0.028, 0.42, 131072), "unit-mixup", "per-token value 0.28 looks like a per-million price"),
    (Quote(0.00000028, None, 0.42, None), "unit-mixup", "looks like a per-token value written as per-million"),
])
def test_each_guard_fires_on_its_change_and_says_why(new, guard, words):
    findings = check_price(new, BEFORE)
    assert guard in {f.guard for f in findings}
    assert any(words in f.message for f in findings if f.guard == guard), [str(f) for f in findings]


def test_guards_without_a_previous_price():
    assert guards_fired(Quote(0.0, None, 0.0, 8192), None) == {"free-new-offering"}
    assert guards_fired(Quote(0.28, 0.5, 0.42, 8192), None) == {"cached-above-input"}
    assert guards_fired(Quote(0.28, None, 0.42, 8192), None) == set()


def test_rise_from_zero_counts_as_more_than_10x():
    assert guards_fired(Quote(0.28, None, 0.42), Quote(0.0, None, 0.42)) == {"ratio-10x"}


def test_architecture_guards():
    assert {f.guard for f in check_architecture({"num_attention_heads": 8, "num_kv_heads": 16}, None)} == \
           {"kv-heads-exceed-heads"}
    shrank = check_architecture({"max_position_embeddings": 32768}, {"max_position_embeddings": 131072})
    assert [f.guard for f in shrank] == ["context-shrank"] and "131,072 to 32,768" in shrank[0].message
    assert check_architecture({"max_position_embeddings": 131072, "num_attention_heads": 8, "num_kv_heads": 2},
                              {"max_position_embeddings": 32768}) == []


def test_every_guard_is_documented_for_maintainers():
    readme = (REPO_ROOT / "data" / "README.md").read_text()
    for guard in GUARDS:
        assert f"`{guard}`" in readme, guard


# -- held rows: build refuses, accept / reject ----------------------------------------------------------------------
def _held_batch(net, data_dir) -> Path:  # noqa: F811
    """Two fetches; the second holds the Acme row (output fell to zero, context shrank)."""
    serve_openrouter(net)
    run_fetch("openrouter", data_dir, clock=clock(DAY1))
    build(data_dir, data_dir / "catalog.duckdb")
    serve_openrouter(net, beta="openrouter/endpoints/test-org/beta-moe.after-change.json")
    plan = run_fetch("openrouter", data_dir, clock=clock(DAY2)).plan
    held = [c for c in plan.changes if c.change == "held"]
    assert len(held) == 1 and held[0].file_line == "data/imports/openrouter/prices.csv:6"
    assert "fell-to-zero: output fell from 1.2 to 0" in held[0].reason
    assert "context-shrank: served context shrank from 65,536 to 32,768 tokens" in held[0].reason
    return data_dir / "imports" / "openrouter" / "prices.csv"


def test_build_refuses_held_rows_until_accepted(net, data_dir):  # noqa: F811
    path = _held_batch(net, data_dir)
    db = data_dir / "catalog.duckdb"
    before = file_sha256(db)
    with pytest.raises(BuildFailed) as failed:
        build(data_dir, db)
    [problem] = failed.value.problems
    assert (problem.file, problem.line, problem.column) == ("data/imports/openrouter/prices.csv", 6, "review")
    assert "held for review: fell-to-zero" in problem.reason
    assert "python -m ingest accept data/imports/openrouter/prices.csv:6" in problem.reason
    assert file_sha256(db) == before  # the live catalog keeps the price in force before the held change
    acme = prices.prices_in_force(CatalogReader(db), DAY2.date(), ["test-org/Beta-MoE"])
    assert acme.set_index("tier").loc["via Acme Inference (bf16)", "output_usd_per_mtok"] == 1.2

    queue = review_queue(validate(data_dir))
    assert [(h.target, h.table, h.model_id) for h in queue] == [
        ("data/imports/openrouter/prices.csv:6", "prices", "test-org/Beta-MoE")]
    lines_before = path.read_text().splitlines()
    messages = accept(data_dir, ["data/imports/openrouter/prices.csv:6"], note="checked the provider page",
                      today=dt.date(2026, 2, 4))
    assert messages == ["accepted data/imports/openrouter/prices.csv:6 OpenRouter · test-org/beta-moe · "
                        "via Acme Inference (bf16) · 2026-02-03"]
    lines_after = path.read_text().splitlines()
    changed = [i for i, (a, b) in enumerate(zip(lines_before, lines_after)) if a != b]
    assert changed == [5] and len(lines_after) == len(lines_before)  # only that row's line
    row = list(csv.DictReader(io.StringIO(path.read_text())))[4]
    assert row["review"] == "accepted" and "fell-to-zero" in row["review_reason"]
    assert "Accepted 2026-02-04" in row["notes"] and "checked the provider page" in row["notes"]

    build(data_dir, db)
    acme = prices.prices_in_force(CatalogReader(db), DAY2.date(), ["test-org/Beta-MoE"]).set_index("tier")
    assert acme.loc["via Acme Inference (bf16)", "output_usd_per_mtok"] == 0.0
    assert acme.loc["via Acme Inference (bf16)", "review"] == "accepted"
    history = prices.price_history(CatalogReader(db), "test-org/Beta-MoE")
    assert len(history[history["tier"] == "via Acme Inference (bf16)"]) == 2  # the old row stays


def test_reject_deletes_only_the_held_row(net, data_dir):  # noqa: F811
    path = _held_batch(net, data_dir)
    lines_before = path.read_text().splitlines()
    messages = reject(data_dir, [str(path) + ":6"])
    assert messages[0].startswith("rejected data/imports/openrouter/prices.csv:6")
    assert path.read_text().splitlines() == lines_before[:5] + lines_before[6:]
    assert validate(data_dir).ok
    build(data_dir, data_dir / "catalog.duckdb")


def test_accept_and_reject_refuse_rows_that_are_not_held_and_write_nothing(net, data_dir):  # noqa: F811
    path = _held_batch(net, data_dir)
    before = snapshot(data_dir)
    with pytest.raises(ReviewError, match=r"prices.csv:2: the row is not under review, not held"):
        accept(data_dir, ["data/imports/openrouter/prices.csv:6", "data/imports/openrouter/prices.csv:2"])
    with pytest.raises(ReviewError, match="no row starts on that line"):
        reject(data_dir, ["data/imports/openrouter/prices.csv:99"])
    with pytest.raises(ReviewError, match="no such file"):
        accept(data_dir, ["data/imports/nowhere/prices.csv:2"])
    with pytest.raises(ReviewError, match="has no held row"):
        accept(data_dir, ["data/prices/fixture.csv"])
    assert snapshot(data_dir) == before
    assert path.exists()


def test_a_held_row_in_a_hand_typed_file_is_refused_too(fixture_data_dir, live_catalog):
    rows = [dict(r) for r in FIXTURE_ROWS["prices"]]
    rows.append({**rows[1], "effective_from": "2025-12-01", "output_usd_per_mtok": "0",
                 "review": "held", "review_reason": "fell-to-zero: output fell from 0.42 to 0 $/Mtok"})
    write_table(fixture_data_dir, "prices", rows, columns=PRICES.column_names)
    with pytest.raises(BuildFailed) as failed:
        build(fixture_data_dir, live_catalog)
    assert [(p.line, p.column) for p in failed.value.problems] == [(4, "review")]
    accept(fixture_data_dir, ["data/prices/fixture.csv"])  # a whole file: every held row in it
    build(fixture_data_dir, live_catalog)


def test_cli_review_accept_reject(net, data_dir):  # noqa: F811
    _held_batch(net, data_dir)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "ingest", "--data", str(data_dir), *args], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120)

    review = cli("review")
    assert review.returncode == 0
    assert "review queue: 1 held row(s)" in review.stdout
    assert "python -m ingest accept data/imports/openrouter/prices.csv:6" in review.stdout
    assert "last fetch 2026-02-03T09:30:00Z: openrouter: 0 new, 1 changed" in review.stdout
    check = cli("check")
    assert check.returncode == 1 and "column 'review' held for review" in check.stdout
    bad = cli("accept", "data/imports/openrouter/prices.csv:2")
    assert bad.returncode == 1 and "not held" in bad.stderr and "Traceback" not in bad.stderr
    ok = cli("accept", "data/imports/openrouter/prices.csv:6", "--note", "checked")
    assert ok.returncode == 0 and ok.stdout.startswith("accepted data/imports/openrouter/prices.csv:6")
    built = cli("build", "--db", str(data_dir / "catalog.duckdb"))
    assert built.returncode == 0, built.stdout + built.stderr
    # +2: the TestCloud cut and the accepted Acme row; ~1: Alpha's unchanged price, re-confirmed (as_of moved).
    assert "changes since build" in built.stdout and "prices +2 ~1 -0" in built.stdout
