"""Models for the live probe, loaded once per server."""

from __future__ import annotations

from typing import Any

import streamlit as st

from diagnostics.encoding import load_model

_VECTOR_SUFFIXES = (".parquet", ".npy")


def _probe_model(models: dict[str, Any], side: str) -> str | None:
    """The model that encodes new text for ``side`` of a run, or None (vectors only)."""
    if f"{side}_model" in models:  # runs since engine 2 record it explicitly
        value = models.get(f"{side}_model")
        return str(value) if value else None
    name = str(models.get(side, ""))
    if models.get(f"{side}_source") == "vectors" or name.endswith(_VECTOR_SUFFIXES):
        return None
    return name or None


def probe_models_available(manifest: dict[str, Any]) -> str | None:
    """``None`` when both models of the run can be loaded here, else the reason in words."""
    models = manifest.get("models", {})
    for side in ("base", "tuned"):
        if _probe_model(models, side) is None:
            return (f"the {side} side of this run came from a vector file without its model, so there is no model "
                    f"to encode new text (pass --{side} MODEL beside --{side}-vectors to have one)")
    return None


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def cached_model(name: str) -> Any:
    return load_model(name)


def load_probe_models(manifest: dict[str, Any]) -> tuple[Any, Any]:
    models = manifest["models"]
    base, tuned = _probe_model(models, "base"), _probe_model(models, "tuned")
    if base is None or tuned is None:
        raise ValueError("this run has no models to probe; check probe_models_available first")
    return cached_model(base), cached_model(tuned)
