"""A real headless chromium opens the running app and sees the Models table."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser import CHROMIUM_ARGS, chromium_path, running_app


@pytest.mark.timeout(240)
def test_browser_opens_app_and_sees_models_table(fixture_data_dir, tmp_path):
    env = {"MODELMATCH_DATA_DIR": str(fixture_data_dir), "MODELMATCH_CATALOG": str(fixture_data_dir / "catalog.duckdb")}
    with running_app(env) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{url}/models")
            expect(page.get_by_role("heading", name="Models")).to_be_visible(timeout=60_000)
            grid = page.locator('[data-testid="stDataFrame"]')
            expect(grid).to_be_visible(timeout=60_000)
            expect(page.get_by_text("of 3 models")).to_be_visible()
            # The grid draws on a canvas; its accessible table carries the cell text.
            table_text = grid.locator("table").first
            expect(table_text).to_contain_text("Beta MoE", timeout=30_000)
            expect(table_text).to_contain_text("Alpha 7B Instruct")
            expect(page.get_by_role("link", name="Models")).to_be_visible()
            page.screenshot(path=str(tmp_path / "models.png"), full_page=True)
        finally:
            browser.close()
