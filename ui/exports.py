"""Export payloads for download buttons, cached per run (the HTML inlines plotly.js, ~4 MB)."""

from __future__ import annotations

import streamlit as st

from diagnostics.report import html_report, per_query_csv
from diagnostics.reviews import ReviewStore
from ui.data import open_run


def export_html(run_id: str) -> str:
    """The HTML report with the sign-off history as it stands now."""
    history = ReviewStore().history(run_id)
    return _export_html(run_id, tuple(r.row_hash for r in history))


@st.cache_data(max_entries=4, ttl=3600, show_spinner=False)
def _export_html(run_id: str, review_hashes: tuple[str, ...]) -> str:
    """Cached per run and review history (the row hashes): a new review makes a new report."""
    return html_report(open_run(run_id), reviews=ReviewStore().history(run_id))


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def export_json(run_id: str) -> str:
    return open_run(run_id).to_json()


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def export_csv(run_id: str) -> str:
    return per_query_csv(open_run(run_id))
