"""A recommendation runs with the cyclic collector paused (on a 5,000-model catalog its passes over the objects the
recommendation keeps alive were 3.0 s of 6.8 s); the collector is back on when the last overlapping recommendation
ends, whether it answered or raised, and a collector that was off before stays off."""

from __future__ import annotations

import gc
import threading

import pytest

from modelmatch.catalog.reader import CatalogReader
from modelmatch.planning.architecture import PlanInputError
from modelmatch.planning.collector import collector_paused
from modelmatch.planning.records import load_decision_catalog
from modelmatch.planning.wizard import ranking
from modelmatch.planning.wizard.recommend import recommend
from modelmatch.planning.wizard.request import WizardRequest


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_a_recommendation_runs_with_the_collector_paused_and_turns_it_back_on(real_catalog, monkeypatch,
                                                                                collector_on):
    seen: list[bool] = []
    real_evaluate = ranking.evaluate_models
    monkeypatch.setattr(ranking, "evaluate_models",
                        lambda *a, **k: seen.append(gc.isenabled()) or real_evaluate(*a, **k))
    catalog = load_decision_catalog(CatalogReader(real_catalog))
    result = recommend(WizardRequest(("customer-support",), deployment="self-host", gpu="h100-sxm"), catalog)
    assert result.shortlist and len(seen) > 5  # the answer and its what-ifs
    assert not any(seen)
    assert gc.isenabled()
    with pytest.raises(PlanInputError):
        recommend(WizardRequest(("no-such-use-case",)), catalog)
    assert gc.isenabled()


def test_overlapping_pauses_end_with_the_last_and_an_off_collector_stays_off(collector_on):
    first_in, second_out = threading.Event(), threading.Event()
    states: list[bool] = []

    def second() -> None:
        first_in.wait()
        with collector_paused():
            pass
        states.append(gc.isenabled())  # the first pause still runs
        second_out.set()

    thread = threading.Thread(target=second)
    thread.start()
    with collector_paused():
        first_in.set()
        second_out.wait(10)
    thread.join()
    assert states == [False] and gc.isenabled()
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()  # the command line turned it off itself: it stays off
