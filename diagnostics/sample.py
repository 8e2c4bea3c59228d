"""The bundled demo: a six-domain company corpus with base and fine-tuned vectors.

The files live in ``sample_data/`` at the repository root (``corpus/`` in BEIR layout,
``vectors/base.parquet`` and ``vectors/tuned.parquet`` in the precomputed-vector format,
``manifest.json`` with the fine-tuning recipe and the measured per-domain nDCG@10).
``python -m sample_data.build`` (``make sample``) regenerates the vectors and the manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diagnostics._validation import InputError
from diagnostics.dataset import Dataset, load_dataset
from diagnostics.vectors import Embeddings, load_vector_pair

__all__ = ["SAMPLE_DIR", "SamplePaths", "sample_paths", "load_sample", "sample_manifest"]

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"


@dataclass(frozen=True)
class SamplePaths:
    """Where each part of the bundled sample lives."""

    corpus: Path
    train: Path
    base_vectors: Path
    tuned_vectors: Path
    manifest: Path


def sample_paths(root: Path | None = None) -> SamplePaths:
    """Paths of the bundled sample under ``root`` (default: the repository's ``sample_data/``)."""
    base = SAMPLE_DIR if root is None else Path(root)
    return SamplePaths(
        corpus=base / "corpus",
        train=base / "train",
        base_vectors=base / "vectors" / "base.parquet",
        tuned_vectors=base / "vectors" / "tuned.parquet",
        manifest=base / "manifest.json",
    )


def sample_manifest(root: Path | None = None) -> dict[str, Any]:
    """The sample's manifest: recipe, seeds, library versions, measured nDCG@10 per domain."""
    path = sample_paths(root).manifest
    if not path.is_file():
        raise InputError(
            "sample_data/manifest.json is missing: the bundled sample has not been built; "
            "run `make sample` to fine-tune the base model and write it"
        )
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def load_sample(root: Path | None = None) -> tuple[Dataset, Embeddings, Embeddings]:
    """Load the bundled sample: the dataset and its committed base and tuned vectors.

    No model is needed: the vectors were computed by ``python -m sample_data.build``.
    """
    paths = sample_paths(root)
    dataset = load_dataset(paths.corpus)
    base, tuned = load_vector_pair(dataset, paths.base_vectors, paths.tuned_vectors)
    return dataset, base, tuned
