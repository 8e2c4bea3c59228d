"""Cached calls into :mod:`diagnostics`. Shared by every session of the server, bounded in size."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from diagnostics.candidates import CandidateSet, load_candidate_set
from diagnostics.compare import load_comparison
from diagnostics.dataset import load_dataset
from diagnostics.result import Comparison
from diagnostics.sample import load_sample, sample_manifest, sample_paths


@st.cache_resource(max_entries=1, show_spinner="Loading the bundled sample and checking its models…")
def bundled_sample() -> tuple[Any, Any, Any]:
    """The sample's dataset, vectors and models (loaded on first use), once per server, shared by every
    session."""
    return load_sample()


@st.cache_data(max_entries=1)
def bundled_manifest() -> dict[str, Any]:
    return sample_manifest()


@st.cache_data(max_entries=1)
def bundled_summary() -> pd.DataFrame:
    """Per-domain counts of the sample's corpus (no vectors or models needed)."""
    summary: pd.DataFrame = load_dataset(sample_paths().corpus).summary()
    return summary


@st.cache_resource(max_entries=8, ttl=3600, show_spinner="Opening the saved run…")
def open_run(run_id: str) -> Comparison:
    """A saved run, opened once per server (arrays memory-mapped, each table read when a page first uses it)
    and shared by every session."""
    return load_comparison(run_id)


@st.cache_resource(max_entries=4, ttl=3600, show_spinner="Opening the candidates…")
def open_set(set_id: str) -> CandidateSet:
    """A saved candidate set and every candidate's run, opened once per server."""
    return load_candidate_set(set_id)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def set_frontier(set_id: str, targets: tuple[str, ...]) -> pd.DataFrame:
    """The frontier of a saved set on ``targets`` (its paired bootstraps run once per choice of targets)."""
    return open_set(set_id).frontier(targets)
