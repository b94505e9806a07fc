"""Charts: Overview's three as Vega-Lite specs (SpecChart), the others with Altair. Every chart colors vendors the
same way, carries tooltips with the source of each point, and can be exported as SVG or PNG without a browser
(vl-convert)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd

from modelmatch.catalog.schema import VENDORS

# One fixed color per vendor (colorblind-safe Tableau 10 order), so Qwen is the same color on every chart.
VENDOR_COLORS = dict(zip(VENDORS, ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#9c755f",
                                   "#edc948"]))
CHART_HEIGHT_PX = 380
BAR_PX = 14  # one bar of the grouped chart; the chart grows with the groups instead of squeezing their labels
LABEL_FONT_PX = 10


@dataclass(frozen=True)
class SpecChart:
    """A chart written as a Vega-Lite spec whose data, named POINTS, travels beside it: a page sends the frame with
    the spec (Streamlit sends it as Arrow), an export writes the rows into the spec.

    Overview's charts are written this way rather than with Altair: on a first visit, building the Altair chart and
    turning it into a spec (converting every row through its data pipeline) took 35-40 ms of the page's first run
    (timed around the two calls), and again on every changed filter; this spec costs a dictionary."""

    spec: dict[str, Any]
    data: pd.DataFrame

    @property
    def title(self) -> str:
        return self.spec["title"]

    def for_page(self) -> dict[str, Any]:
        """The spec st.vega_lite_chart draws, the frame as its named dataset."""
        return {**self.spec, "datasets": {POINTS: self.data}}

    def with_rows(self) -> dict[str, Any]:
        """The spec with the rows written in as JSON values (missing values as null): what an export renders."""
        rows = self.data.astype(object).where(self.data.notna(), None).to_dict("records")
        return {**self.spec, "datasets": {POINTS: rows}}

    def to_json(self) -> str:
        """with_rows() as JSON: what to_svg and to_png render, as they do an Altair chart's to_json()."""
        return json.dumps(self.with_rows(), default=str)


POINTS = "points"
VEGA_LITE_SCHEMA = alt.SCHEMA_URL  # the Vega-Lite version the pinned Altair writes and validates against
_VENDOR_COLOR = {"field": "vendor", "type": "nominal", "title": "Vendor",
                 "scale": {"domain": list(VENDOR_COLORS), "range": list(VENDOR_COLORS.values())}}


def _field(name: str, kind: str = "quantitative", **extra: Any) -> dict[str, Any]:
    return {"field": name, "type": kind, **extra}


def _encoded_fields(node: Any) -> list[str]:
    """Every field a spec's encodings name, in order of appearance."""
    if isinstance(node, dict):
        own = [node["field"]] if isinstance(node.get("field"), str) else []
        return own + [f for key, value in node.items() if key != "datasets" for f in _encoded_fields(value)]
    if isinstance(node, list):
        return [f for item in node for f in _encoded_fields(item)]
    return []


def _labelled_scatter(df: pd.DataFrame, title: str, encoding: dict[str, Any], zoomable: bool) -> SpecChart:
    """One point per model, colored by vendor, with each model's name written beside it: in the browser, and in the
    SVG and PNG exports (a tooltip alone is lost in an export). Shared encodings sit on the layer so both marks use
    the same scales; zoomable: drag and scroll the scales (on the points' view, as Altair's interactive() puts it).

    Only the columns the chart encodes travel with it: Overview's frames carry a dozen more (on the 5,000-model
    catalog the "Quality vs price" chart was 1.65 MB over the websocket, 0.62 MB with only these)."""
    points: dict[str, Any] = {"mark": {"type": "circle", "opacity": 0.85, "size": 110}}
    labels = {"mark": {"type": "text", "align": "left", "baseline": "middle", "dx": 7, "fontSize": LABEL_FONT_PX},
              "encoding": {"text": _field("display_name", "nominal")}}
    spec: dict[str, Any] = {"$schema": VEGA_LITE_SCHEMA, "title": title, "height": CHART_HEIGHT_PX,
                            "data": {"name": POINTS}, "layer": [points, labels], "encoding": encoding}
    if zoomable:
        points["name"] = "points_view"
        spec["params"] = [{"name": "zoom", "select": {"type": "interval", "encodings": ["x", "y"]}, "bind": "scales",
                           "views": ["points_view"]}]
    columns = [c for c in dict.fromkeys(_encoded_fields(spec)) if c in df.columns]
    return SpecChart(spec, df[columns])


def quality_vs_price(df: pd.DataFrame, score_title: str) -> SpecChart:
    """df: display_name, vendor, score, blended_usd_per_mtok, provider, benchmarks_counted, score_detail."""
    return _labelled_scatter(df, f"{score_title} vs blended price", {
        "x": _field("blended_usd_per_mtok", title="Blended price, US$ per million tokens (log)",
                    scale={"type": "log", "padding": 16}),
        "y": _field("score", title=score_title, scale={"zero": False, "nice": True, "padding": 16}),
        "color": _VENDOR_COLOR,
        "tooltip": [_field("display_name", "nominal", title="Model"),
                    _field("score", title=score_title, format=".1f"),
                    _field("score_detail", "nominal", title="Score from"),
                    _field("blended_usd_per_mtok", title="Blended $/Mtok", format=".3f"),
                    _field("provider", "nominal", title="Price from")],
    }, zoomable=True)


def score_vs_active_params(df: pd.DataFrame, score_title: str) -> SpecChart:
    return _labelled_scatter(df, f"{score_title} vs active parameters", {
        "x": _field("params_active_b", title="Active parameters per token, billions (log)", scale={"type": "log"}),
        "y": _field("score", title=score_title, scale={"zero": False, "nice": True, "padding": 16}),
        "color": _VENDOR_COLOR,
        "tooltip": [_field("display_name", "nominal", title="Model"), _field("score", format=".1f"),
                    _field("params_active_b", title="Active params (B)", format=".1f"),
                    _field("params_total_b", title="Total params (B)", format=".1f"),
                    _field("score_detail", "nominal", title="Score from")],
    }, zoomable=True)


def speed_vs_price(df: pd.DataFrame) -> SpecChart:
    """df: display_name, vendor, output_tokens_per_s, blended_usd_per_mtok, hardware, concurrency."""
    return _labelled_scatter(df, "Measured output speed vs blended price", {
        "x": _field("blended_usd_per_mtok", title="Blended price, US$ per million tokens (log)",
                    scale={"type": "log"}),
        "y": _field("output_tokens_per_s", title="Output tokens/s (measured)"),
        "color": _VENDOR_COLOR,
        "tooltip": [_field("display_name", "nominal"), _field("output_tokens_per_s", format=".1f"),
                    _field("hardware", "nominal"), _field("concurrency"), _field("engine", "nominal"),
                    _field("weights", "nominal")],
    }, zoomable=False)


def _only_encoded(df: pd.DataFrame, channels: list) -> pd.DataFrame:
    """The columns an Altair chart encodes, and no other: the chart's data travels to the browser inline with every
    point (Compare's grouped chart sent 28 columns to draw 9). A channel whose field cannot be read keeps every
    column."""
    names = []
    for channel in channels:
        for item in channel if isinstance(channel, list) else [channel]:
            shorthand = item if isinstance(item, str) else getattr(item, "shorthand", None)
            if not isinstance(shorthand, str) or not shorthand:
                return df
            names.append(shorthand.split(":")[0])
    return df[[name for name in dict.fromkeys(names) if name in df.columns]]


def grouped_benchmarks(df: pd.DataFrame) -> alt.Chart:
    """df (charted rows): display_name, vendor, benchmark_name, value, setting, provenance, source_location.

    Horizontal bars, one group per benchmark: every benchmark's name is written in full on its own row however many
    groups there are (vertical groups under a slanted axis dropped every second label at 14 groups)."""
    order = list(dict.fromkeys(df["display_name"]))
    groups = df["benchmark_name"].nunique()
    height_px = max(CHART_HEIGHT_PX // 2, groups * (len(order) * BAR_PX + 8))
    encoding = dict(
        y=alt.Y("benchmark_name:N", title=None, axis=alt.Axis(labelLimit=0, labelOverlap=False, labelFontSize=11)),
        yOffset=alt.YOffset("display_name:N", sort=order),
        x=alt.X("value:Q", title="Score (percent)"),
        color=alt.Color("display_name:N", title="Model", sort=order),
        tooltip=[alt.Tooltip("display_name:N", title="Model"), "vendor:N",
                 alt.Tooltip("benchmark_name:N", title="Benchmark"), alt.Tooltip("value:Q", format=".1f"),
                 *(["mode:N"] if "mode" in df.columns else []),
                 "setting:N", "provenance:N", alt.Tooltip("source_location:N", title="Where in source"),
                 alt.Tooltip("as_of:T", title="As of", format="%Y-%m-%d")],
    )
    return (
        alt.Chart(_only_encoded(df, list(encoding.values())),
                  title="Benchmarks all selected models share (charted numbers)")
        .mark_bar()
        .encode(**encoding)
        .properties(height=height_px)
    )


def kv_cache_vs_context(curve: pd.DataFrame, kv_dtype: str) -> alt.Chart:
    """curve (the planner's KV-cache curve): display_name, attention_kind, context_tokens, kv_cache_gb."""
    return alt.Chart(curve).mark_line(point=True).encode(
        x=alt.X("context_tokens:Q", scale=alt.Scale(type="log", base=2), title="context (tokens)"),
        y=alt.Y("kv_cache_gb:Q", title=f"KV cache of one sequence, {kv_dtype} (GB)"),
        color=alt.Color("display_name:N", title="model"),
        tooltip=["display_name", "attention_kind", alt.Tooltip("context_tokens:Q", format=","),
                 alt.Tooltip("kv_cache_gb:Q", format=".3f")],
    )


def vega_lite_spec(chart: alt.TopLevelMixin) -> dict:
    """The chart as the Vega-Lite spec a page draws with st.vega_lite_chart, for a page that caches it: building
    an Altair chart and validating it against the Vega-Lite schema costs more than the rest of a warm rerun of the
    page. Altair's default theme only adds a 300 px view size, which st.altair_chart leaves out too. (A SpecChart
    is drawn from its for_page().)

    Not validated against the Vega-Lite schema here: every chart of this module is validated by the tests (the same
    code builds it for any data). Validating was about a third of building an Altair chart's spec, and on a
    process's first chart it also built the schema's validator."""
    spec = chart.to_dict(validate=False)
    spec.pop("config", None)
    return spec


def to_svg(chart: alt.TopLevelMixin | SpecChart) -> str:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_json())


def to_png(chart: alt.TopLevelMixin | SpecChart, scale: float = 2.0) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_png(chart.to_json(), scale=scale)
