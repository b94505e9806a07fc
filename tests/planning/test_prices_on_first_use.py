"""The command line loads the catalog with its prices read on first use: a self-hosting recommendation never
reads them, and whatever does read them gets the rows an eager load gives, from the same build."""

from __future__ import annotations

from modelmatch.catalog.reader import CatalogReader
from modelmatch.planning.planner import plan
from modelmatch.planning.records import PricesOnFirstUse, load_decision_catalog
from modelmatch.planning.request import PlanRequest, UsageProfile
from modelmatch.planning.wizard.recommend import recommend
from modelmatch.planning.wizard.request import LicenseNeeds, WizardRequest

AS_OF = "2026-01-01"


def _request(deployment: str) -> WizardRequest:
    return WizardRequest(("customer-support",), ("Thai", "Vietnamese"), deployment, gpu="h100-sxm", gpu_count=1,
                         context_tokens=8192, usage=UsageProfile(50, 10), license=LicenseNeeds(), prices_as_of=AS_OF)


def test_self_host_recommendation_never_reads_the_prices(real_catalog):
    lazy = load_decision_catalog(CatalogReader(real_catalog), prices_on_first_use=True)
    eager = load_decision_catalog(CatalogReader(real_catalog))
    assert isinstance(lazy.prices, PricesOnFirstUse)
    assert recommend(_request("self-host"), lazy) == recommend(_request("self-host"), eager)
    assert lazy.prices._rows is None  # nothing looked at a price


def test_prices_read_on_first_use_are_the_eager_rows(real_catalog):
    lazy = load_decision_catalog(CatalogReader(real_catalog), prices_on_first_use=True)
    eager = load_decision_catalog(CatalogReader(real_catalog))
    assert recommend(_request("either"), lazy) == recommend(_request("either"), eager)
    assert lazy.prices._rows is not None
    assert dict(lazy.prices) == eager.prices and len(eager.prices) > 0
    request = PlanRequest("deepseek-ai/DeepSeek-V3", "fp8", "bf16", 32768, 8, "h200-sxm", 8, gpu_usd_per_hour=3.0,
                          usage=UsageProfile(100, 20), prices_as_of=AS_OF)
    assert plan(request, lazy) == plan(request, eager)


# That the prices come from the build the catalog was loaded from: tests/planning/test_scores_on_first_use.py.
