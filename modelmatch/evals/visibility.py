"""Who sees an eval run: its own session, anyone with its link, and, once its author publishes it, every visitor's
Compare page. A run is private by default, so a test run against a misconfigured endpoint (0 % because the server
was wrong, not the model) never reaches the shared view unless someone says it is a real result.

Publications live in their own table of the runs database (eval_published, created with the eval tables), beside the runs; nothing about a run itself changes.
"""

from __future__ import annotations

from typing import Collection

from modelmatch.evals.store import SCORED, EvalStore, utcnow, valid_run_id

class PublishRefused(ValueError):
    """Why a run cannot be published (said on the page)."""


def published_run_ids(store: EvalStore) -> set[str]:
    return set(store._query("SELECT run_id FROM eval_published", [])["run_id"])


def is_published(store: EvalStore, run_id: str) -> bool:
    return run_id in published_run_ids(store)


def publish(store: EvalStore, run_id: str, not_a_test: bool, note: str = "") -> None:
    """Show the run on everyone's Compare page. The author must say it is not a test run, and the run must have
    scored results (a run whose every request failed says nothing about the model)."""
    if not valid_run_id(run_id) or store.run_info(run_id) is None:
        raise PublishRefused(f"no eval run {run_id!r}")
    if not not_a_test:
        raise PublishRefused("confirm that this is not a test run (the endpoints were set up as for real use) "
                             "before it is shown to everyone")
    results = store.results_frame(run_id)
    if results.empty or not (results["status"] == SCORED).any():
        raise PublishRefused("this run has no scored result, so there is nothing to show")
    store._write([("DELETE FROM eval_published WHERE run_id = ?", [run_id]),
                  ("INSERT INTO eval_published VALUES (?, ?, ?)", [run_id, utcnow(), note[:500]])])


def unpublish(store: EvalStore, run_id: str) -> None:
    store._write([("DELETE FROM eval_published WHERE run_id = ?", [run_id])])


def visible_run_ids(store: EvalStore, own_run_ids: Collection[str]) -> set[str]:
    """The runs one visitor's shared views may show: the published ones and the visitor's own session's."""
    return published_run_ids(store) | {r for r in own_run_ids if valid_run_id(r)}
