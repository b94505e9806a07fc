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
    spec = charts.quality_vs_price(points(), "MMLU").to_dict()
    scale = spec["encoding"]["color"]["scale"]
    assert scale["domain"][:2] == ["Alibaba", "DeepSeek"]
    assert len(set(scale["range"])) == len(scale["range"]) == len(scale["domain"])
