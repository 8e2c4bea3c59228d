"""Projection: the base and tuned maps side by side (or overlaid), colored by domain, overlap or Δ."""

from ui.bootstrap import page_guard

page_guard()

import streamlit as st  # noqa: E402

from diagnostics.plots import color_label  # noqa: E402
from diagnostics.report import verdict_metric  # noqa: E402
from ui.projection_map import FAST_MAP_POINTS, projection_map  # noqa: E402
from ui.safe import escape_markdown  # noqa: E402
from ui.state import (  # noqa: E402
    COLORS,
    PAGES,
    link_params,
    require_run,
    set_params,
    stop_page,
    synced,
    wrote,
)
from ui.views import PROJECTION_TABLES, projection_map_view, projection_view  # noqa: E402

state, result = require_run(tables=PROJECTION_TABLES)  # a page reads only what it shows
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
c1, c2, c3 = st.columns([4, 2, 2])
options = ["all domains", *result.manifest["dataset"]["domains"]]
picked = c2.selectbox("Domain", options, key=synced("projection_domain", state.domain or "all domains"))
domain = None if picked == "all domains" else picked
set_params(domain=domain)
wrote("projection_domain", picked)
metric = verdict_metric(result)  # the query colors are Δ of the metric the verdicts were decided on
delta = f"{color_label('delta', metric)} (queries)"
labels = {"domain": "domain", "overlap": "overlap (documents)", "delta": delta}
captions = {"overlap": "neighborhood overlap (documents)", "delta": delta}
color = c1.radio("Color by", COLORS, format_func=labels.__getitem__, horizontal=True,
                 key=synced("color", state.color))
set_params(color=color if color != "domain" else None)
wrote("color", color)
n_points = len(points)
if n_points > 500:
    step = max(1, (n_points - 500) // 100)
    low = n_points - step * ((n_points - 500) // step)  # so that every step, and the default, is reachable
    cap = c3.slider("Points shown", min_value=low, max_value=n_points, value=n_points, step=step)
else:
    cap = n_points
    c3.caption(f"All {n_points} points shown")
t1, t2 = st.columns([3, 1])
overlay = t1.toggle("Overlay the maps, with a line from each point's base to its tuned position", value=False)
fast = t2.toggle("Fast map", value=int(cap) > FAST_MAP_POINTS,
                 help="Draws the maps on a canvas: 2 x 50k points open in about a second instead of 3-4 s. "
                      "Off: the plotly chart, with its zoom box and image export.")
if fast:
    shown, data = projection_map_view(result.run_id, color=color, overlay=overlay, cap=int(cap), domain=domain,
                                      metric=metric)
else:
    shown, fig = projection_view(result.run_id, color=color, overlay=overlay, cap=int(cap), domain=domain,
                                 metric=metric)
if color != "domain":
    st.caption(f"Coloring by {captions[color]}: only the {len(shown)} points that carry it are drawn.")

if fast:
    rows = projection_map(data, key="proj_map")  # rows of shown, checked against the map's data
else:
    event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode=("box", "lasso"), key="proj")
    picked_points = event.selection.points if event is not None else []
    rows = sorted({int(p["customdata"]) for p in picked_points
                   if p.get("customdata") is not None and 0 <= int(p["customdata"]) < len(shown)})
st.subheader(f"Selection ({len(rows)})")
if not rows:
    st.caption("Drag a box or lasso on either map to list the points it covers.")
else:
    table = shown.iloc[rows][["id", "kind", "domain", "displacement", "overlap", "delta"]]
    st.dataframe(table.sort_values("displacement", ascending=False), hide_index=True, width="stretch",
                 key="selection_table")
    queries = table[table["kind"] == "query"]["id"].astype(str).tolist()
    if queries:
        pick = st.selectbox("Open a selected query", queries)
        st.page_link(PAGES["queries"][0], label=escape_markdown(f"Open {pick} in Queries"),
                     query_params=link_params(query=pick))
