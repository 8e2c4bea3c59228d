"""Cached loaders for the UI: every heavy call into :mod:`diagnostics` goes through here."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from diagnostics.sample import load_sample, sample_manifest


@st.cache_resource(max_entries=1, show_spinner="Loading the bundled sample…")
def bundled_sample() -> tuple[Any, Any, Any]:
    """The sample's dataset and vectors, loaded once per server and shared by every session."""
    return load_sample()


@st.cache_data(max_entries=1)
def bundled_manifest() -> dict[str, Any]:
    return sample_manifest()


@st.cache_data(max_entries=1)
def bundled_summary() -> pd.DataFrame:
    dataset, _, _ = bundled_sample()
    return dataset.summary()
