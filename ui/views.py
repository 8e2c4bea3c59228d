"""The heavy parts of a page's view — filtered frames and their figures — cached per run and view.

A saved run never changes, so what a page shows is a function of the run id and the view's
parameters: rerunning a page (any click, any session) reuses it instead of rebuilding a 50k-point
figure or re-joining 100k rows. Figures and frames are cached with ``st.cache_resource`` (shared, not
copied on every hit, bounded by ``max_entries`` and ``ttl``): callers treat them as read-only.
``st.plotly_chart`` copies a figure before serialising it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from diagnostics import plots
from diagnostics.drilldown import most_changed_docs
from diagnostics.metrics import DEFAULT_METRIC
from diagnostics.neighbors import stratified_sample
from ui.data import open_run

_TTL = 3600


@st.cache_resource(max_entries=6, ttl=_TTL, show_spinner="Drawing the maps…")
def projection_view(
    run_id: str, *, color: str, overlay: bool, cap: int, domain: str | None, metric: str = DEFAULT_METRIC
) -> tuple[pd.DataFrame, go.Figure]:
    """The projection points shown and their plotly figure.

    The points are the run's projection, stratified down to ``cap`` points, restricted to ``domain``
    and, when coloring by a numeric column, to the points that carry it. The figure's ``customdata``
    is each point's row position in the returned frame. One entry of 2 x 50k points holds about 20 MB.
    """
    shown = _shown_points(run_id, color=color, cap=cap, domain=domain)
    return shown, plots.projection_figure(shown, color_by=color, overlay=overlay, metric=metric)


@st.cache_resource(max_entries=6, ttl=_TTL, show_spinner="Drawing the maps…")
def projection_map_view(
    run_id: str, *, color: str, overlay: bool, cap: int, domain: str | None, metric: str = DEFAULT_METRIC
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The same points as :func:`projection_view` and the canvas map's data (row ``i`` of the frame
    is point ``i`` of the map). One entry of 2 x 50k points holds about 6 MB."""
    shown = _shown_points(run_id, color=color, cap=cap, domain=domain)
    return shown, plots.projection_map_data(shown, color_by=color, overlay=overlay, metric=metric)


def _shown_points(run_id: str, *, color: str, cap: int, domain: str | None) -> pd.DataFrame:
    points = open_run(run_id).projection
    if points is None:
        raise ValueError(f"run {run_id} has no projection")
    if cap < len(points):
        points = points.iloc[stratified_sample(points["domain"].astype(str).to_numpy(), max_items=cap,
                                               random_state=0)]
    if domain:
        points = points[points["domain"] == domain]
    shown = points if color == "domain" else points.dropna(subset=[color])
    return shown.reset_index(drop=True)


@st.cache_resource(max_entries=8, ttl=_TTL, show_spinner=False)
def overlap_figure(run_id: str) -> go.Figure:
    """The per-domain distribution of neighborhood overlap (a box per domain over every sampled document)."""
    result = open_run(run_id)
    return plots.overlap_figure(result.tables["per_doc"], k=result.k)


@st.cache_data(max_entries=32, ttl=_TTL, show_spinner=False)
def changed_docs(run_id: str, domain: str | None, n: int = 50) -> pd.DataFrame:
    """The ``n`` documents whose neighborhood changed most, in ``domain`` or overall, with their text."""
    return most_changed_docs(open_run(run_id), domain=domain, n=n)


#: What the Overview's evidence column means.
EVIDENCE_HELP = (
    "judged: the domain's own judged queries decide; synthetic: known-item checks synthesised from its "
    "documents decide; none: nothing does, so the domain is UNVERIFIED"
)
_VERDICT_CSS = {
    "PASS": "background-color: #e8f5e9; color: #1b5e20",
    "WARN": "background-color: #fff8e1; color: #8d6e00",
    "UNVERIFIED": "background-color: #ede7f6; color: #4527a0; font-weight: bold",
    "FAIL": "background-color: #ffebee; color: #b71c1c; font-weight: bold",
}


def verdict_style(verdict: object) -> str:
    """Cell style of a verdict: UNVERIFIED is visibly not a PASS."""
    return _VERDICT_CSS.get(str(verdict), "")
