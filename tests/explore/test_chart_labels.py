"""Every point of the Overview charts carries its model's name, in the browser and in the SVG/PNG exports, and
Compare's grouped chart writes every benchmark's name however many groups it has."""

from __future__ import annotations

import html

import pandas as pd

from modelmatch.explore import charts

NAMES = ["Qwen2.5-72B-Instruct", "DeepSeek-V3", "Qwen3-235B-A22B", "DeepSeek-R1", "Llama 3.1 8B Instruct"]


def scatter_points() -> pd.DataFrame:
    return pd.DataFrame({
        "display_name": NAMES, "vendor": ["Alibaba", "DeepSeek", "Alibaba", "DeepSeek", "Meta"],
        "score": [71.1, 75.9, 80.2, 84.0, 48.3], "blended_usd_per_mtok": [0.5, 0.4, 0.7, 0.9, 0.1],
        "provider": ["X"] * 5, "benchmarks_counted": [1] * 5, "score_detail": ["MMLU-Pro"] * 5,
        "params_active_b": [72.7, 37, 22, 37, 8], "params_total_b": [72.7, 671, 235, 671, 8],
        "output_tokens_per_s": [40.0, 30.0, 35.0, 28.0, 120.0], "hardware": ["H100"] * 5, "concurrency": [1] * 5,
        "engine": ["vllm"] * 5, "weights": ["bf16"] * 5,
    })


def svg_texts(chart) -> str:
    return html.unescape(charts.to_svg(chart))


def test_every_scatter_point_is_labelled_in_the_svg_export():
    for chart in (charts.quality_vs_price(scatter_points(), "MMLU-Pro"),
                  charts.score_vs_active_params(scatter_points(), "MMLU-Pro"), charts.speed_vs_price(scatter_points())):
        svg = svg_texts(chart)
        for name in NAMES:
            assert f">{name}</text>" in svg, (chart.title, name)


def test_labels_use_the_same_scales_as_the_points():
    spec = charts.quality_vs_price(scatter_points(), "MMLU-Pro").spec
    assert spec["encoding"]["x"]["field"] == "blended_usd_per_mtok" and spec["encoding"]["color"]["field"] == "vendor"
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["layer"]]
    assert marks == ["circle", "text"]


def test_compare_grouped_chart_shows_all_14_benchmark_labels():
    """On the page, 14 vertical groups under a slanted axis showed every second name; rows show them all."""
    benchmarks = [f"Benchmark number {i:02d} long name" for i in range(14)]
    rows = [{"display_name": m, "vendor": v, "benchmark_name": b, "value": 50 + i, "setting": "s",
             "provenance": "official", "source_location": "Table 1", "as_of": "2025-01-01"}
            for i, b in enumerate(benchmarks) for m, v in (("Qwen3-32B", "Alibaba"), ("DeepSeek-V3", "DeepSeek"))]
    # As on the page: the container's width, and a theme that drops overlapping axis labels (Streamlit's does).
    chart = charts.grouped_benchmarks(pd.DataFrame(rows)).properties(width=640).configure_axis(labelOverlap=True)
    svg = svg_texts(chart)
    missing = [b for b in benchmarks if f">{b}</text>" not in svg]
    assert missing == []


def _fields(spec) -> set[str]:
    """Every field a Vega-Lite spec names, wherever it names one (encodings, tooltips, the labels' text)."""
    if isinstance(spec, dict):
        found = {spec["field"]} if isinstance(spec.get("field"), str) else set()
        return found.union(*(_fields(v) for k, v in spec.items() if k != "datasets"))
    if isinstance(spec, list):
        return set().union(*(_fields(v) for v in spec))
    return set()


def test_overview_charts_send_only_the_columns_they_encode():
    """The regression: the charts carried every column of Overview's frames inline (model ids, price source URLs,
    dates...), 1.65 MB over the websocket for 5,000 points where the chart needs 0.62 MB."""
    points = scatter_points().assign(model_id="org/model", price_source_url="https://example.org/p", notes="n")
    for chart in (charts.quality_vs_price(points, "MMLU-Pro"), charts.score_vs_active_params(points, "MMLU-Pro"),
                  charts.speed_vs_price(points)):
        spec = chart.for_page()  # what Overview draws
        (rows,) = spec["datasets"].values()  # a frame: Streamlit sends it as Arrow
        assert len(rows) == len(points)
        assert set(rows.columns) == _fields(spec), chart.title
        assert "model_id" not in rows.columns and "price_source_url" not in rows.columns
        (exported,) = chart.with_rows()["datasets"].values()  # what an export renders
        assert len(exported) == len(points) and set(exported[0]) == _fields(spec)


def test_compare_grouped_chart_sends_only_the_columns_it_encodes():
    """Compare's score rows carry 28 columns; the grouped chart draws 9 of them and sent all 28."""
    rows = pd.DataFrame([{"display_name": m, "vendor": v, "benchmark_name": "MMLU", "value": 70.0, "mode": "thinking",
                          "setting": "5-shot", "provenance": "official", "source_location": "Table 1",
                          "as_of": "2025-01-01", "model_id": f"org/{m}", "source_url": "https://example.org/s",
                          "notes": "n", "age_days": 3}
                         for m, v in (("Qwen3-32B", "Alibaba"), ("DeepSeek-V3", "DeepSeek"))])
    spec = charts.vega_lite_spec(charts.grouped_benchmarks(rows))
    (sent,) = spec["datasets"].values()
    assert set(sent[0]) == _fields(spec) == {"display_name", "vendor", "benchmark_name", "value", "mode", "setting",
                                             "provenance", "source_location", "as_of"}
