"""A real headless chromium opens Compare with three models from a link: three cards, the chart, a CSV download."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect, sync_playwright

from ingest.build import build
from tests.browser import CHROMIUM_ARGS, chromium_path, running_app
from tests.fixture_data import FIXTURE_ROWS, write_table

A, B, G = "test-org/Alpha-7B-Instruct", "test-org/Beta-MoE", "test-vendor/gamma-api"


@pytest.mark.timeout(240)
def test_compare_link_shows_three_cards_chart_and_downloads_csv(fixture_data_dir, tmp_path):
    extra = [dict(FIXTURE_ROWS["scores"][0], model_id=G, value="88.7", provenance="third-party",
                  source_location="Table 7")]
    write_table(fixture_data_dir, "scores", FIXTURE_ROWS["scores"] + extra)
    build(fixture_data_dir, fixture_data_dir / "catalog.duckdb")
    env = {"MODELMATCH_DATA_DIR": str(fixture_data_dir), "MODELMATCH_CATALOG": str(fixture_data_dir / "catalog.duckdb")}
    with running_app(env) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1200}, accept_downloads=True)
            page.goto(f"{url}/compare?models={A},{B},{G}")
            for name in ("Alpha 7B Instruct", "Beta MoE", "Gamma (API)"):
                expect(page.get_by_role("heading", name=name)).to_be_visible(timeout=60_000)
            chart = page.locator('[data-testid="stVegaLiteChart"]')
            expect(chart.first).to_be_visible(timeout=30_000)
            expect(page.get_by_role("heading", name="Benchmarks they share")).to_be_visible()
            with page.expect_download(timeout=30_000) as download_info:
                page.get_by_role("button", name="Every score row as CSV").click()
            path = download_info.value.path()
            rows = list(csv.DictReader(io.StringIO(open(path, encoding="utf-8").read())))
            assert {r["model_id"] for r in rows} == {A, B, G}
            assert {r["source_url"] for r in rows} >= {"https://example.org/report"}
            page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
        finally:
            browser.close()
