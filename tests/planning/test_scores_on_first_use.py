"""The planner page and the command line load the catalog with its score rows read on first use: a plan never reads
a score (on a catalog of 5,000 models the scores were 2.5 s of a 2.8 s load), and whatever does read them gets the
rows an eager load gives, from the same build, through the one cursor the rest of the catalog was read with."""

from __future__ import annotations

import os
import shutil
import threading

import duckdb
import pytest

from modelmatch.catalog.reader import CatalogReader
from modelmatch.decision.summary import language_evidence
from modelmatch.planning.planner import plan
from modelmatch.planning.records import ScoresOnFirstUse, load_decision_catalog
from modelmatch.planning.request import PlanRequest, UsageProfile
from modelmatch.planning.wizard.recommend import recommend
from modelmatch.planning.wizard.request import LicenseNeeds, WizardRequest

AS_OF = "2026-01-01"
PLAN = PlanRequest("deepseek-ai/DeepSeek-V3", "fp8", "bf16", 32768, 8, "h200-sxm", 8, gpu_usd_per_hour=3.0,
                   usage=UsageProfile(100, 20), prices_as_of=AS_OF)
WIZARD = WizardRequest(("customer-support",), ("Thai", "Vietnamese"), "either", gpu="h100-sxm", gpu_count=1,
                       context_tokens=8192, usage=UsageProfile(50, 10), license=LicenseNeeds(), prices_as_of=AS_OF)


def test_a_plan_never_reads_the_scores(real_catalog):
    lazy = load_decision_catalog(CatalogReader(real_catalog), scores_on_first_use=True)
    eager = load_decision_catalog(CatalogReader(real_catalog))
    assert isinstance(lazy.scores, ScoresOnFirstUse)
    assert plan(PLAN, lazy) == plan(PLAN, eager)
    assert lazy.scores._rows is None  # nothing looked at a score


def test_scores_read_on_first_use_are_the_eager_rows(real_catalog):
    lazy = load_decision_catalog(CatalogReader(real_catalog), scores_on_first_use=True)
    eager = load_decision_catalog(CatalogReader(real_catalog))
    assert recommend(WIZARD, lazy) == recommend(WIZARD, eager)
    assert lazy.scores._rows is not None
    assert len(eager.scores) > 1000
    # Equal to, and hashed as, the tuple of the same rows; so the catalogs compare equal too.
    assert lazy.scores == eager.scores and eager.scores == lazy.scores
    assert hash(lazy.scores) == hash(eager.scores)
    assert lazy.scores[0] == eager.scores[0] and lazy.scores[-3:] == eager.scores[-3:]
    assert lazy == eager
    assert lazy.scores != eager.scores[:-1] and lazy.scores != list(eager.scores)
    models = tuple(eager.models)[:20]
    assert language_evidence(lazy, ("Thai",), models) == language_evidence(eager, ("Thai",), models)


@pytest.mark.parametrize("part", ["prices", "scores"])
def test_rows_read_on_first_use_come_from_the_build_the_catalog_was_loaded_from(real_catalog, tmp_path, part):
    """A rebuild that replaces the file between the load and the first look must not mix two builds."""
    db = tmp_path / "catalog.duckdb"
    shutil.copy(real_catalog, db)
    lazy = load_decision_catalog(CatalogReader(db), **{f"{part}_on_first_use": True})
    expected = getattr(load_decision_catalog(CatalogReader(real_catalog)), part)
    emptied = tmp_path / "emptied.duckdb"
    shutil.copy(real_catalog, emptied)
    con = duckdb.connect(str(emptied))
    con.execute(f"DELETE FROM {part}")  # a fixed table name, from the parameters above
    con.close()
    os.replace(emptied, db)  # as a rebuild swaps its new file in
    rows = getattr(lazy, part)
    assert (dict(rows) if part == "prices" else tuple(rows)) == expected and len(expected) > 0


def test_the_shared_cursor_is_closed_once_the_last_deferred_part_is_read(real_catalog, monkeypatch):
    opened: list[int] = []
    closed: list[int] = []
    real_connection = CatalogReader.connection

    def recorded(self):
        cursor = real_connection(self)
        number = len(opened)
        opened.append(number)

        class Recorded:  # DuckDB's cursor type takes no attribute: wrap it so its close can be seen
            def __getattr__(self, name):
                return getattr(cursor, name)

            def close(self):
                closed.append(number)
                cursor.close()
        return Recorded()

    monkeypatch.setattr(CatalogReader, "connection", recorded)
    both = load_decision_catalog(CatalogReader(real_catalog), prices_on_first_use=True, scores_on_first_use=True)
    load_cursor = opened[-1]  # the build stamp is read through a cursor of its own, closed at once
    assert load_cursor not in closed  # both parts still to read: the cursor stays open
    assert len(both.scores) > 1000
    assert load_cursor not in closed  # the prices are still to read
    assert len(both.prices) > 0
    assert closed.count(load_cursor) == 1
    len(both.scores), len(both.prices)  # kept: nothing is read or closed again
    assert closed.count(load_cursor) == 1 and opened[-1] == load_cursor
    load_decision_catalog(CatalogReader(real_catalog))
    assert opened[-1] in closed  # an eager load closes its cursor at once


def test_a_failed_first_read_is_tried_again_on_the_next_look(real_catalog, monkeypatch):
    from modelmatch.planning import records

    lazy = load_decision_catalog(CatalogReader(real_catalog), scores_on_first_use=True)
    real_read = records._read_scores
    monkeypatch.setattr(lazy.scores, "_query", lambda cursor: (_ for _ in ()).throw(duckdb.InterruptException("stop")))
    with pytest.raises(duckdb.InterruptException):
        len(lazy.scores)
    assert lazy.scores._rows is None
    monkeypatch.setattr(lazy.scores, "_query", real_read)
    assert tuple(lazy.scores) == load_decision_catalog(CatalogReader(real_catalog)).scores


def test_visitors_reading_the_deferred_parts_at_once_get_whole_rows(real_catalog):
    """The app shares one loaded catalog between visitors: two threads that first look at the prices and at the
    scores at the same moment must not use the shared cursor at once."""
    eager = load_decision_catalog(CatalogReader(real_catalog))
    for _ in range(5):
        lazy = load_decision_catalog(CatalogReader(real_catalog), prices_on_first_use=True, scores_on_first_use=True)
        start = threading.Barrier(4)
        seen: list = []
        errors: list[BaseException] = []

        def look(part: str) -> None:
            try:
                start.wait()
                seen.append(tuple(lazy.scores) if part == "scores" else dict(lazy.prices))
            except BaseException as exc:  # noqa: BLE001  (reported below, whatever it is)
                errors.append(exc)

        threads = [threading.Thread(target=look, args=(part,)) for part in ("scores", "prices") * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(map(len, seen)) == sorted([len(eager.scores)] * 2 + [len(eager.prices)] * 2)
        assert all(rows in (eager.scores, eager.prices) for rows in seen)
