"""Shared setup for the importer tests: a fixture data folder with mapping files, the loopback server wired into
the importer settings, a fixed clock, recorded responses per source, and a byte-for-byte snapshot of data/."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from pathlib import Path

import pytest

from tests.http_fixtures.server import loopback  # noqa: F401 - re-exported pytest fixture

DAY1 = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.timezone.utc)
DAY2 = dt.datetime(2026, 2, 3, 9, 30, tzinfo=dt.timezone.utc)
COMMIT = "0123456789abcdef0123456789abcdef01234567"

OPENROUTER_MAPPING = ("external_id,model_id,notes\n"
                      "test-org/beta-moe,test-org/Beta-MoE,\n"
                      "test-org/alpha-7b-instruct,test-org/Alpha-7B-Instruct,\n"
                      "test-org/retired-model,test-org/Alpha-7B-Instruct,dropped by the source\n")
LITELLM_MAPPING = ("external_id,model_id,provider,provider_model,tier,notes\n"
                   "testcloud/beta-chat,test-org/Beta-MoE,TestCloud,,,\n"
                   "test-vendor/gamma-api,test-vendor/gamma-api,TestVendor,,,\n")


def clock(moment: dt.datetime):
    return lambda: moment


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under folder (hidden ones too) with its sha256: a failure must leave this identical."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def serve_openrouter(server, beta: str = "openrouter/endpoints/test-org/beta-moe.json") -> None:
    server.serve("/api/v1/models", "openrouter/models.json")
    server.serve("/api/v1/models/test-org/beta-moe/endpoints", beta)
    server.serve("/api/v1/models/test-org/alpha-7b-instruct/endpoints",
                 "openrouter/endpoints/test-org/alpha-7b-instruct.json")


def serve_litellm(server) -> None:
    server.serve("/litellm/model_prices_and_context_window.json",
                 "litellm/model_prices_and_context_window.json")


def serve_hf(server) -> None:
    server.serve("/test-org/Beta-MoE/resolve/main/config.json", "huggingface/test-org/Beta-MoE/config.json",
                 headers={"X-Repo-Commit": COMMIT})
    server.serve("/test-org/Alpha-7B-Instruct/resolve/main/config.json",
                 "huggingface/test-org/Alpha-7B-Instruct/config.json", headers={"X-Repo-Commit": COMMIT})


@pytest.fixture
def data_dir(fixture_data_dir: Path) -> Path:
    mappings = fixture_data_dir / "mappings"
    mappings.mkdir()
    (mappings / "openrouter.csv").write_text(OPENROUTER_MAPPING, encoding="utf-8")
    (mappings / "litellm.csv").write_text(LITELLM_MAPPING, encoding="utf-8")
    return fixture_data_dir


@pytest.fixture
def net(monkeypatch, loopback):  # noqa: F811 - the imported fixture
    monkeypatch.setenv("MODELMATCH_OPENROUTER_BASE_URL", loopback.url("/api/v1"))
    monkeypatch.setenv("MODELMATCH_LITELLM_PRICE_MAP_URL",
                       loopback.url("/litellm/model_prices_and_context_window.json"))
    monkeypatch.setenv("MODELMATCH_HUGGINGFACE_BASE_URL", loopback.base)
    monkeypatch.setenv("MODELMATCH_FETCH_TIMEOUT_S", "5")
    monkeypatch.delenv("MODELMATCH_HF_TOKEN", raising=False)
    return loopback
