"""Pay one-off start-up costs in the background when the server starts, not on a user's first click:
the modules pyarrow imports the first time a saved run is read (about 50 ms of a cold server's first
page), then numba's UMAP compilation (~30 s)."""

from __future__ import annotations

import threading

import streamlit as st


@st.cache_resource(max_entries=1)
def start_warmup() -> threading.Thread:
    """Start (once per server process) a daemon thread that compiles UMAP's code paths."""

    def _run() -> None:
        import pyarrow.dataset  # noqa: F401  # what pandas.read_parquet imports on first use
        import pyarrow.pandas_compat  # noqa: F401

        from diagnostics.projection import warm_up

        warm_up()

    thread = threading.Thread(target=_run, name="embdiff-umap-warmup", daemon=True)
    thread.start()
    return thread
