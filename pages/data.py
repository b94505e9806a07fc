"""Data: what the catalog was built from, and whether data/ validates right now (for maintainers)."""

import pandas as pd
import streamlit as st

from ingest.validate import validate
from modelmatch import catalog, settings
from pages import common

st.title("Data")
st.caption("For maintainers: the live catalog build, the CSV files behind it, and a validation of data/ as it "
           "is on disk now. Edit the CSVs, run `python -m ingest check`, then `python -m ingest build`.")

build_id = common.require_catalog()
reader = common.catalog_reader()
info = reader.build_info()
counts = catalog.table_counts(reader)

st.subheader("Live build")
st.write(f"Build `{info.build_id}`, built {info.built_at:%Y-%m-%d %H:%M:%S} UTC, "
         f"from {catalog.source_count(reader)} distinct sources.")
st.dataframe(pd.DataFrame({"table": list(counts), "rows": list(counts.values())}), hide_index=True)

st.subheader("Validation of data/ now")
result = validate(settings.data_dir())
if result.ok:
    st.success(f"No problems in {len(result.files)} files.")
else:
    st.error(f"{len(result.problems)} problem(s): the next build will be refused until they are fixed.")
    st.dataframe(pd.DataFrame([p.__dict__ for p in result.problems]), hide_index=True, width="stretch")

st.subheader("Files in the live build")
st.dataframe(reader.query("SELECT path, rows, sha256 FROM build_files ORDER BY path"), hide_index=True,
             width="stretch")
