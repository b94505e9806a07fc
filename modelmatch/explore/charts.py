"""Altair charts. Every chart colors vendors the same way, carries tooltips with the source of each point, and can
be exported as SVG or PNG without a browser (vl-convert)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from modelmatch.catalog.schema import VENDORS

# One fixed color per vendor (colorblind-safe Tableau 10 order), so Qwen is the same color on every chart.
VENDOR_COLORS = dict(zip(VENDORS, ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#9c755f",
                                   "#edc948"]))
CHART_HEIGHT_PX = 380
BAR_PX = 14  # one bar of the grouped chart; the chart grows with the groups instead of squeezing their labels
LABEL_FONT_PX = 10


def _labelled(df: pd.DataFrame, points: alt.Chart, title: str, encoding: dict) -> alt.LayerChart:
    """Points with each model's name written beside it: in the browser, and in the SVG and PNG exports (a tooltip
    alone is lost in an export). Shared encodings sit on the layer so both marks use the same scales.

    The data sits on the layer only (`points` has none): a layer whose subchart brings its own data hashes that
    frame through its printed text to lift it up, which was a fifth of Overview's warm rerun."""
    labels = alt.Chart().mark_text(align="left", baseline="middle", dx=7, fontSize=LABEL_FONT_PX).encode(
        text="display_name:N")
    return alt.layer(points, labels, data=_only_encoded(df, ["display_name:N", *encoding.values()]),
                     title=title).encode(**encoding)


def _only_encoded(df: pd.DataFrame, channels: list) -> pd.DataFrame:
    """The columns the chart encodes, and no other: the chart's data travels to the browser inline with every
    point, and Overview's frames carry a dozen more (on the 5,000-model catalog the "Quality vs price" chart was
    1.65 MB over the websocket, 0.62 MB with only these; Compare's grouped chart sent 28 columns to draw 9). A channel
    whose field cannot be read keeps every column."""
    names = []
    for channel in channels:
        for item in channel if isinstance(channel, list) else [channel]:
            shorthand = item if isinstance(item, str) else getattr(item, "shorthand", None)
            if not isinstance(shorthand, str) or not shorthand:
                return df
            names.append(shorthand.split(":")[0])
    return df[[name for name in dict.fromkeys(names) if name in df.columns]]


def vendor_color(legend_title: str = "Vendor") -> alt.Color:
    return alt.Color("vendor:N", title=legend_title,
                     scale=alt.Scale(domain=list(VENDOR_COLORS), range=list(VENDOR_COLORS.values())))


def quality_vs_price(df: pd.DataFrame, score_title: str) -> alt.LayerChart:
    """df: display_name, vendor, score, blended_usd_per_mtok, provider, benchmarks_counted, score_detail."""
    return (
        _labelled(df, alt.Chart().mark_circle(size=110, opacity=0.85), f"{score_title} vs blended price", dict(
            x=alt.X("blended_usd_per_mtok:Q", title="Blended price, US$ per million tokens (log)",
                    scale=alt.Scale(type="log", padding=16)),
            y=alt.Y("score:Q", title=score_title, scale=alt.Scale(zero=False, nice=True, padding=16)),
            color=vendor_color(),
            tooltip=[alt.Tooltip("display_name:N", title="Model"), alt.Tooltip("score:Q", title=score_title,
                                                                                 format=".1f"),
                     alt.Tooltip("score_detail:N", title="Score from"),
                     alt.Tooltip("blended_usd_per_mtok:Q", title="Blended $/Mtok", format=".3f"),
                     alt.Tooltip("provider:N", title="Price from")],
        ))
        .properties(height=CHART_HEIGHT_PX)
        .interactive()
    )


def score_vs_active_params(df: pd.DataFrame, score_title: str) -> alt.LayerChart:
    return (
        _labelled(df, alt.Chart().mark_circle(size=110, opacity=0.85), f"{score_title} vs active parameters", dict(
            x=alt.X("params_active_b:Q", title="Active parameters per token, billions (log)",
                    scale=alt.Scale(type="log")),
            y=alt.Y("score:Q", title=score_title, scale=alt.Scale(zero=False, nice=True, padding=16)),
            color=vendor_color(),
            tooltip=[alt.Tooltip("display_name:N", title="Model"), alt.Tooltip("score:Q", format=".1f"),
                     alt.Tooltip("params_active_b:Q", title="Active params (B)", format=".1f"),
                     alt.Tooltip("params_total_b:Q", title="Total params (B)", format=".1f"),
                     alt.Tooltip("score_detail:N", title="Score from")],
        ))
        .properties(height=CHART_HEIGHT_PX)
        .interactive()
    )


def speed_vs_price(df: pd.DataFrame) -> alt.LayerChart:
    """df: display_name, vendor, output_tokens_per_s, blended_usd_per_mtok, hardware, concurrency."""
    return (
        _labelled(df, alt.Chart().mark_circle(size=110, opacity=0.85), "Measured output speed vs blended price", dict(
            x=alt.X("blended_usd_per_mtok:Q", title="Blended price, US$ per million tokens (log)",
                    scale=alt.Scale(type="log")),
            y=alt.Y("output_tokens_per_s:Q", title="Output tokens/s (measured)"),
            color=vendor_color(),
            tooltip=["display_name:N", alt.Tooltip("output_tokens_per_s:Q", format=".1f"), "hardware:N",
                     "concurrency:Q", "engine:N", "weights:N"],
        ))
        .properties(height=CHART_HEIGHT_PX)
    )


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
    page. Altair's default theme only adds a 300 px view size, which st.altair_chart leaves out too."""
    spec = chart.to_dict()
    spec.pop("config", None)
    return spec


def to_svg(chart: alt.Chart) -> str:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_json())


def to_png(chart: alt.Chart, scale: float = 2.0) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_png(chart.to_json(), scale=scale)
