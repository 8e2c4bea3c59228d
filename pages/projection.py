"""Projection: the base and tuned maps side by side (or overlaid), colored by domain, overlap or Δ."""

from ui.bootstrap import page_guard

page_guard()

import streamlit as st  # noqa: E402

from ui.projection import controls, maps, selection_section  # noqa: E402
from ui.state import require_run, stop_page  # noqa: E402

state, result = require_run()
st.title("Projection")
points = result.projection
if points is None:
    st.info("This run was made without the projection (--no-projection). Make it again with the projection "
            "to see the maps.")
    stop_page()
g = result.manifest.get("global", {})
st.caption(
    f"{len(points)} points (documents and queries, stratified by domain above the cap) · trustworthiness "
    f"base {g.get('trustworthiness_base', float('nan')):.3f}, tuned {g.get('trustworthiness_tuned', float('nan')):.3f}"
    " · displacement shows how far a point moved between the aligned maps: movement, not damage."
)
view = controls(state, result, len(points))
shown, rows = maps(result.run_id, view)
selection_section(shown, rows)
