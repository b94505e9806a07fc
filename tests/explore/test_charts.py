"""Charts render offline to real SVG and PNG files, with vendor colors fixed across charts."""

from __future__ import annotations

import pandas as pd

from modelmatch.explore import charts


def points() -> pd.DataFrame:
    return pd.DataFrame({
        "display_name": ["Alpha", "Beta"], "vendor": ["Alibaba", "DeepSeek"], "score": [74.2, 90.8],
        "blended_usd_per_mtok": [0.3, 0.31], "provider": ["X", "Y"], "benchmarks_counted": [1, 1],
        "score_detail": ["MMLU 5-shot", "MMLU"], "params_active_b": [7.6, 37.0], "params_total_b": [7.6, 671.0],
    })


def test_svg_export_is_an_svg_document_with_the_points():
    svg = charts.to_svg(charts.quality_vs_price(points(), "MMLU"))
    assert svg.lstrip().startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "MMLU vs blended price" in svg


def test_png_export_is_a_png_image():
    png = charts.to_png(charts.score_vs_active_params(points(), "MMLU"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_vendor_colors_are_fixed_and_distinct():
    spec = charts.quality_vs_price(points(), "MMLU").spec
    scale = spec["encoding"]["color"]["scale"]
    assert scale["domain"][:2] == ["Alibaba", "DeepSeek"]
    assert len(set(scale["range"])) == len(scale["range"]) == len(scale["domain"])


def test_the_specs_pages_draw_unvalidated_are_valid_vega_lite():
    """Pages draw specs that nothing validates when they are built (Overview's charts are written as specs; the
    planner's Altair chart skips Altair's validation, built once per filter state): each must be valid Vega-Lite,
    with its rows written in as an export sends them, and the Altair one the same spec a validated to_dict gives."""
    import json

    from altair.utils.schemapi import validate_jsonschema
    from altair.vegalite.v6.schema.core import load_schema

    from tests.explore.test_chart_labels import scatter_points

    with_gaps = scatter_points().assign(params_total_b=[72.7, None, 235, 671, 8])  # a missing value goes as null
    for chart in (charts.quality_vs_price(with_gaps, "MMLU-Pro"), charts.score_vs_active_params(with_gaps, "MMLU-Pro"),
                  charts.speed_vs_price(with_gaps)):
        exported = json.loads(json.dumps(chart.with_rows(), allow_nan=False))
        validate_jsonschema(exported, load_schema())
        assert exported["data"] == {"name": charts.POINTS} and len(exported["datasets"][charts.POINTS]) == 5
    curve = pd.DataFrame({"display_name": ["Qwen3-32B"] * 3, "attention_kind": ["gqa"] * 3,
                          "context_tokens": [1024, 2048, 4096], "kv_cache_gb": [0.25, 0.5, 1.0]})
    kv_chart = charts.kv_cache_vs_context(curve, "bf16")
    spec = charts.vega_lite_spec(kv_chart)
    validated = kv_chart.to_dict()  # validates, raising on an invalid chart
    validated.pop("config", None)
    assert spec == validated
    validate_jsonschema(spec, load_schema())
