"""Models for the live probe, loaded once per server."""

from __future__ import annotations

from typing import Any

import streamlit as st

from diagnostics.encoding import load_model

_VECTOR_SUFFIXES = (".parquet", ".npy")


def probe_models_available(manifest: dict[str, Any]) -> str | None:
    """``None`` when both models of the run can be loaded here, else the reason in words."""
    models = manifest.get("models", {})
    for side in ("base", "tuned"):
        name = str(models.get(side, ""))
        if models.get(f"{side}_source") == "vectors" or name.endswith(_VECTOR_SUFFIXES):
            return f"the {side} side of this run came from a vector file, so there is no model to encode new text"
    return None


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def cached_model(name: str) -> Any:
    return load_model(name)


def load_probe_models(manifest: dict[str, Any]) -> tuple[Any, Any]:
    models = manifest["models"]
    return cached_model(str(models["base"])), cached_model(str(models["tuned"]))
