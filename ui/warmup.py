"""Pay numba's one-off UMAP compilation (~30 s) in the background when the server starts,
not on a user's first click."""

from __future__ import annotations

import threading

import streamlit as st


@st.cache_resource(max_entries=1)
def start_warmup() -> threading.Thread:
    """Start (once per server process) a daemon thread that compiles UMAP's code paths."""

    def _run() -> None:
        from diagnostics.projection import warm_up

        warm_up()

    thread = threading.Thread(target=_run, name="embdiff-umap-warmup", daemon=True)
    thread.start()
    return thread
