"""Models: every model in the catalog with its source, filterable."""

import streamlit as st

from modelmatch.catalog import languages as language_names
from modelmatch.catalog.models import CONTEXT_WINDOW_CHOICES, ModelFilter
from pages import common


st.title("Models")
st.caption("Every model in the catalog, with the official source each row was transcribed from. "
           "Filter, sort by any column, follow the links.")

build_id = common.require_catalog()
choices = common.filter_choices(build_id)

search = st.text_input("Search", placeholder="name, id or family, e.g. Qwen2.5 or R1", key="models_search")
col1, col2, col3, col4 = st.columns(4)
vendors = col1.multiselect("Vendor", choices.vendors, key="models_vendor")
families = col2.multiselect("Family", choices.families, key="models_family")
variants = col3.multiselect("Variant", choices.variants, key="models_variant")
commercial = col4.multiselect("Commercial use", ["yes", "conditional", "no"], key="models_commercial",
                              help="From each model's license: yes, allowed with conditions, or not allowed.")
col5, col6, col7, col8 = st.columns(4)
open_only = col5.toggle("Open weights only", key="models_open")
reasoning_only = col6.toggle("Reasoning models only", key="models_reasoning",
                             help="Models that think before answering, always or when switched on.")
context = col7.selectbox("Context window", list(CONTEXT_WINDOW_CHOICES), key="models_context")
language_text = col8.text_input("Language", placeholder="e.g. Thai or th", key="models_language",
                                help="A name or an ISO 639-1 code. Keeps the models whose official language note "
                                     "names it.")

flt = ModelFilter(search=search, vendors=tuple(vendors), families=tuple(families), variants=tuple(variants),
                  commercial_use=tuple(commercial), open_weights_only=open_only, reasoning_only=reasoning_only,
                  min_context_tokens=CONTEXT_WINDOW_CHOICES[context])
table = common.models_table(build_id, flt)
everything = common.models_table(build_id, ModelFilter())
if language_text.strip():
    try:
        language = language_names.canonical(language_text)
    except ValueError as problem:
        st.error(f"Language filter: {problem}")
        st.stop()
    named = table["languages"].map(lambda note: language_names.note_names(note, language))
    without_note = int(named.isna().sum())
    table = table[named.fillna(False).astype(bool)]
    if table.empty:
        st.warning(f"No evidence for {language}: no matching model's official language note names it"
                   + (f" ({without_note} have no language note at all)" if without_note else "")
                   + ". Run your own eval set in that language (Your evals) before relying on any model for it.")
    else:
        st.caption(f"Official language notes that name {language}"
                   + (f"; {without_note} matching model(s) have no language note and are left out" if without_note
                      else "") + ".")

st.write(f"**{len(table)}** of {len(everything)} models")
if table.empty:
    st.info("No model matches these filters. Remove a filter or clear the search to see more.")
    st.stop()

shown = ["display_name", "vendor", "family", "variant", "reasoning", "release_date", "params_total_b",
         "params_active_b", "architecture", "attention", "context_length", "license_name", "commercial_use",
         "languages", "score_count", "price_count", "weights_url", "source_url", "as_of"]
st.dataframe(
    common.only_shown(table, shown),
    hide_index=True,
    width="stretch",
    column_order=shown,
    placeholder="—",
    column_config={
        "display_name": st.column_config.TextColumn("Model", pinned=True),
        "release_date": st.column_config.DateColumn("Released"),
        "params_total_b": st.column_config.NumberColumn("Params total (B)", format="%.1f"),
        "params_active_b": st.column_config.NumberColumn("Params active (B)", format="%.1f",
                                                         help="Parameters used per token (MoE < total)."),
        "context_length": st.column_config.NumberColumn("Context (tokens)", format="%d"),
        "license_name": st.column_config.TextColumn("License"),
        "commercial_use": st.column_config.TextColumn("Commercial use"),
        "score_count": st.column_config.NumberColumn("Scores", help="Benchmark results in the catalog."),
        "price_count": st.column_config.NumberColumn("Prices", help="API price rows (with history)."),
        "weights_url": st.column_config.LinkColumn("Weights", display_text="Hugging Face"),
        "source_url": st.column_config.LinkColumn("Source", display_text="official source"),
        "as_of": st.column_config.DateColumn("As of"),
    },
)
common.csv_download("Download this table (CSV)", table, "modelmatch-models.csv")
