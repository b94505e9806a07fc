"""The one-page decision summary on the real catalog, for the issue's scenario: a Thai/Vietnamese customer-support
bot, commercial use, self-hosted on one H100 80GB, about 50M input tokens a month. Also its Markdown and PDF
exports, and the wizard's language input (ISO codes) and text output they rest on."""

from __future__ import annotations

import re
import zlib

import pytest

from modelmatch.decision import summary as decision_summary
from modelmatch.catalog.reader import CatalogReader
from modelmatch.decision.state import DecisionState
from modelmatch.decision.pdf_text import text_pdf
from modelmatch.planning.records import load_decision_catalog
from modelmatch.planning.wizard.recommend import recommend
from modelmatch.planning.wizard.text import format_recommendation_text

SCENARIO = DecisionState(use_cases=("customer-support",), languages=("Thai", "Vietnamese"), deployment="self-host",
                         gpu="h100-sxm", gpu_count=1, context_tokens=8192, input_mtok=50, output_mtok=10,
                         gpu_usd_per_hour=2.5, commercial_use=True)


@pytest.fixture(scope="module")
def real(real_catalog):
    return load_decision_catalog(CatalogReader(real_catalog))


@pytest.fixture(scope="module")
def scenario(real):
    result = recommend(decision_summary.wizard_request(SCENARIO, top_n=1000), real)
    return result, decision_summary.build_summary(SCENARIO, result, real)


def pdf_text(pdf: bytes) -> str:
    streams = re.findall(rb"stream\n(.*?)\nendstream", pdf, re.DOTALL)
    return b"\n".join(zlib.decompress(s) for s in streams).decode("cp1252")


def test_summary_names_choice_runner_up_and_every_section(scenario):
    result, summary = scenario
    assert summary.choice.model_id == result.shortlist[0].model_id
    assert summary.runner_up.model_id == result.shortlist[1].model_id
    headings = [h for h, _ in decision_summary.summary_sections(summary)]
    assert headings == ["Your question", "Choice", "Runner-up", "Why", "What would change the answer",
                        "Memory fit", "Monthly cost", "Language evidence", "Sources and their tiers"]
    assert "1 × NVIDIA H100 SXM 80GB" in dict(summary.question)["Hardware"]
    assert summary.choice.deployment.gpu_id == "h100-sxm"
    assert re.search(r"\d GB per GPU", summary.memory_fit)
    assert "$" in summary.monthly_cost  # the user's GPU price makes the month's cost known


def test_a_picked_model_becomes_the_choice_and_the_top_one_the_runner_up(real, scenario):
    result, _ = scenario
    third = result.shortlist[2]
    picked = decision_summary.build_summary(
        DecisionState(**{**SCENARIO.__dict__, "models": (third.model_id,)}), result, real)
    assert picked.choice.model_id == third.model_id and picked.choice_note.startswith("your pick (ranked 3")
    assert picked.runner_up.model_id == result.shortlist[0].model_id


def test_no_thai_benchmark_means_a_plain_no_evidence_for_thai(real, scenario):
    _, summary = scenario
    thai = next(e for e in summary.languages if e.language == "Thai")
    # Only the choice's and the runner-up's rows count: a Thai row of another model is no evidence for these two.
    pair = {summary.choice.model_id, summary.runner_up.model_id}
    has_thai_rows = any(real.benchmarks[r.benchmark_id].category == "multilingual"
                        and re.search(r"\bThai\b|\bth\b", f"{real.benchmarks[r.benchmark_id].name} {r.setting}", re.I)
                        for r in real.scores if r.benchmark_id in real.benchmarks and r.model_id in pair)
    assert thai.found == has_thai_rows
    if not has_thai_rows:
        assert thai.text.startswith("No evidence for Thai")


def test_thai_and_vietnamese_evidence_is_found_for_a_model_with_per_language_results(real):
    # The Qwen3 Technical Report publishes per-language tables (Thai: Table 35, Vietnamese: Table 33).
    found = decision_summary.language_evidence(real, ("Thai", "Vietnamese", "Swahili"), ("Qwen/Qwen3-32B",))
    thai, vietnamese, swahili = found
    assert thai.found and re.search(r"MLogiQA \(Thai\) Thai \(th\); thinking mode 73\.8", thai.text)
    assert vietnamese.found and "INCLUDE (Vietnamese)" in vietnamese.text
    assert not swahili.found and swahili.text.startswith("No evidence for Swahili")


def _language_evidence_as_written(catalog, languages, model_ids):
    """The rule read plainly: every score row of a listed model on a multilingual benchmark whose name or setting
    names the language or its code, in catalog order."""
    from modelmatch.catalog.languages import code_of

    out = []
    for lang in languages:
        code = code_of(lang)
        patterns = [rf"\b{re.escape(lang)}\b"] + ([rf"\b{re.escape(code)}\b"] if code else [])
        hits = [f"{catalog.models[r.model_id].display_name} {catalog.benchmarks[r.benchmark_id].name} "
                f"{r.setting or ''} {r.value:g}".strip() for r in catalog.scores
                if r.model_id in model_ids and r.benchmark_id in catalog.benchmarks
                and catalog.benchmarks[r.benchmark_id].category == "multilingual"
                and any(re.search(p, f"{catalog.benchmarks[r.benchmark_id].name} {r.setting or ''}", re.I)
                        for p in patterns)]
        out.append((lang, hits))
    return out


def test_language_evidence_reads_only_the_listed_models_rows_and_finds_what_a_pass_over_every_row_finds(real):
    """The wizard asks for the evidence on every rerun: it reads the listed models' multilingual rows (kept per
    catalog), not every score row (most of a warm rerun on a 5,000-model catalog). Same hits, same order."""
    multilingual = {r.model_id for r in real.scores if r.benchmark_id in real.benchmarks
                    and real.benchmarks[r.benchmark_id].category == "multilingual"}
    listed = tuple(sorted(multilingual))
    languages = ("Thai", "Vietnamese", "Japanese", "Arabic", "French", "Swahili")
    for model_ids in (listed, listed[:2], ("Qwen/Qwen3-32B", "no-such/model", "Qwen/Qwen3-32B"), ()):
        got = decision_summary.language_evidence(real, languages, model_ids)
        expected = _language_evidence_as_written(real, languages, model_ids)
        assert tuple(e.language for e in got) == languages
        for evidence, (lang, hits) in zip(got, expected):
            assert evidence.found == bool(hits)
            assert evidence.text == (f"{lang}: " + "; ".join(hits) if hits else evidence.text)
    everything = decision_summary.language_evidence(real, languages, listed)
    assert sum(e.found for e in everything) >= 3  # the catalog has such rows: the check compares something
    assert decision_summary.language_evidence(real, (), listed) == ()


def test_sources_carry_a_url_and_a_tier(scenario):
    _, summary = scenario
    assert summary.sources
    assert all(s.url.startswith("https://") and s.tier for s in summary.sources)
    assert {s.tier for s in summary.sources} & {"official", "third-party", decision_summary.CATALOG_RULE_TIER}


def test_markdown_export_has_every_section_and_no_live_link_from_catalog_text(scenario):
    _, summary = scenario
    md = decision_summary.to_markdown(summary, "http://localhost/summary?use_case=customer-support")
    for heading in ("## Choice", "## Runner-up", "## Why", "## What would change the answer", "## Memory fit",
                    "## Monthly cost", "## Sources and their tiers"):
        assert heading in md
    assert summary.choice.display_name.replace("(", "\\(").replace(")", "\\)") in md
    assert "](" not in md and "![" not in md  # catalog text is escaped: nothing renders as a link or image
    assert "Reopen: <http://localhost/summary?use_case=customer-support>" in md


def test_pdf_export_is_a_pdf_with_the_same_text(scenario):
    _, summary = scenario
    pdf = decision_summary.to_pdf(summary, "http://localhost/summary")
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    xref_at = int(re.search(rb"startxref\n(\d+)", pdf).group(1))
    assert pdf[xref_at:xref_at + 4] == b"xref"
    text = pdf_text(pdf)
    for piece in ("Decision summary: ", "Runner-up", "Memory fit", "Monthly cost", "Sources and their tiers",
                  summary.choice.display_name):
        assert piece.replace("(", "\\(").replace(")", "\\)") in text


def test_pdf_offsets_point_at_their_objects():
    pdf = text_pdf("T (x) \\ ≥ 1", [("heading", "H"), ("text", "- " + "word " * 400)])
    xref_at = int(re.search(rb"startxref\n(\d+)", pdf).group(1))
    rows = pdf[xref_at:].split(b"\n")[3:]
    offsets = [int(r[:10]) for r in rows if r.endswith(b" n ")]
    for number, offset in enumerate(offsets, start=1):
        assert pdf[offset:].startswith(b"%d 0 obj" % number)
    assert "T \\(x\\) \\\\ >= 1" in pdf_text(pdf)
    assert pdf.count(b"/Type /Page ") >= 1


def test_recommend_accepts_iso_codes_th_vi_as_thai_vietnamese(real):
    by_code = recommend(decision_summary.wizard_request(
        DecisionState(**{**SCENARIO.__dict__, "languages": ("th", "vi")}), with_sensitivity=False), real)
    by_name = recommend(decision_summary.wizard_request(SCENARIO, with_sensitivity=False), real)
    assert [c.model_id for c in by_code.shortlist] == [c.model_id for c in by_name.shortlist]
    assert [c.unverified for c in by_code.shortlist] == [c.unverified for c in by_name.shortlist]


def test_recommend_text_is_not_cut_mid_sentence(scenario):
    """Regression: the text output cut each term's explanation at 160 characters."""
    result, _ = scenario
    text = " ".join(format_recommendation_text(result).split())
    long_hows = [t.how for c in result.shortlist[:10] for t in c.terms if len(t.how) > 160]
    assert long_hows
    for how in long_hows:
        assert " ".join(how.split()) in text


def test_category_means_use_only_benchmarks_every_ranked_model_has(scenario, real):
    """Regression: the multilingual mean ranked MGSM for some models against MMMLU for others."""
    result, _ = scenario
    for category in ("multilingual", "instruction", "knowledge"):
        used = [{e.benchmark_id for e in t.evidence} for c in result.shortlist for t in c.terms
                if t.category == category and t.value is not None]
        assert used, category
        assert all(u == used[0] for u in used), (category, used)  # the same benchmarks for every ranked model
        hows = [t.how for c in result.shortlist for t in c.terms if t.category == category and t.value is not None]
        names = ", ".join(real.benchmarks[b].name for b in sorted(used[0]))
        assert all(f"Averaged only over {names}" in h for h in hows)
    left_out = [t.how for c in result.shortlist for t in c.terms if t.category == "multilingual" and t.value is None]
    assert any("are not on the benchmark(s) the ranked models are compared on" in h for h in left_out)
