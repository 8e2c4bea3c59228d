"""The Projection page's parts: the view controls, the maps (canvas or plotly) and the selected points."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from diagnostics.plots import color_label
from diagnostics.report import verdict_metric
from diagnostics.result import Comparison
from ui.projection_map import FAST_MAP_POINTS, projection_map
from ui.safe import escape_markdown
from ui.state import COLORS, PAGES, View, link_params, set_params, synced, wrote
from ui.views import projection_map_view, projection_view


@dataclass(frozen=True)
class MapView:
    """What the controls asked for."""

    domain: str | None
    color: str
    cap: int
    overlay: bool
    fast: bool
    metric: str  # the query colors are Δ of the metric the verdicts were decided on


def controls(state: View, result: Comparison, n_points: int) -> MapView:
    """Domain, color (both in the URL), points shown, overlay, and the canvas ("Fast map") or plotly."""
    c1, c2, c3 = st.columns([4, 2, 2])
    options = ["all domains", *result.manifest["dataset"]["domains"]]
    picked = c2.selectbox("Domain", options, key=synced("projection_domain", state.domain or "all domains"))
    domain = None if picked == "all domains" else picked
    set_params(domain=domain)
    wrote("projection_domain", picked)
    metric = verdict_metric(result)
    delta = f"{color_label('delta', metric)} (queries)"
    labels = {"domain": "domain", "overlap": "overlap (documents)", "delta": delta}
    color = c1.radio("Color by", COLORS, format_func=labels.__getitem__, horizontal=True,
                     key=synced("color", state.color))
    set_params(color=color if color != "domain" else None)
    wrote("color", color)
    if n_points > 500:
        step = max(1, (n_points - 500) // 100)
        low = n_points - step * ((n_points - 500) // step)  # so that every step, and the default, is reachable
        cap = int(c3.slider("Points shown", min_value=low, max_value=n_points, value=n_points, step=step))
    else:
        cap = n_points
        c3.caption(f"All {n_points} points shown")
    t1, t2 = st.columns([3, 1])
    overlay = t1.toggle("Overlay the maps, with a line from each point's base to its tuned position", value=False)
    fast = t2.toggle("Fast map", value=cap > FAST_MAP_POINTS,
                     help="Draws the maps on a canvas: 2 x 50k points open in about a second instead of 3-4 s. "
                          "Off: the plotly chart, with its zoom box and image export.")
    return MapView(domain, color, cap, overlay, fast, metric)


def maps(run_id: str, view: MapView) -> tuple[pd.DataFrame, list[int]]:
    """Draw both maps; the points shown and the rows of them the user selected."""
    if view.fast:
        shown, data = projection_map_view(run_id, color=view.color, overlay=view.overlay, cap=view.cap,
                                          domain=view.domain, metric=view.metric)
    else:
        shown, fig = projection_view(run_id, color=view.color, overlay=view.overlay, cap=view.cap,
                                     domain=view.domain, metric=view.metric)
    if view.color != "domain":
        carriers = "documents" if view.color == "overlap" else "queries"
        st.caption(f"Coloring by {color_label(view.color, view.metric)} ({carriers}): only the {len(shown)} points "
                   "that carry it are drawn.")
    if view.fast:
        return shown, projection_map(data, key="proj_map")  # rows of shown, checked against the map's data
    event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode=("box", "lasso"), key="proj")
    picked = event.selection.points if event is not None else []
    return shown, sorted({int(p["customdata"]) for p in picked
                          if p.get("customdata") is not None and 0 <= int(p["customdata"]) < len(shown)})


def selection_section(shown: pd.DataFrame, rows: list[int]) -> None:
    """The selected points, most moved first, and a link from a selected query to the Queries page."""
    st.subheader(f"Selection ({len(rows)})")
    if not rows:
        st.caption("Drag a box or lasso on either map to list the points it covers.")
        return
    table = shown.iloc[rows][["id", "kind", "domain", "displacement", "overlap", "delta"]]
    st.dataframe(table.sort_values("displacement", ascending=False), hide_index=True, width="stretch",
                 key="selection_table")
    queries = table[table["kind"] == "query"]["id"].astype(str).tolist()
    if queries:
        pick = st.selectbox("Open a selected query", queries)
        st.page_link(PAGES["queries"][0], label=escape_markdown(f"Open {pick} in Queries"),
                     query_params=link_params(query=pick))
