"""Write the encodings the bundled sample ships: ``sample_data/encodings/<model fingerprint>/chunk-seed.npy``.

    python -m sample_data.encodings

Comparing the sample with its models (``embdiff compare --sample``, the app's sample button, ``make run``)
encodes the texts of its known-item checks and of its compositional probe with both models: about 2,800
texts per model, a minute or more on two cores, every time the encoding cache is empty (a fresh install, a
fresh CI machine). This writes those vectors once, in the encoding cache's own chunk format, per model
fingerprint; :func:`diagnostics.encode_cache._lookup_with_seed` reads them after the cache, read-only. The
sample's documents and queries are left out: their vectors are ``sample_data/vectors/*.parquet`` already, and
the models still encode the few the consistency check compares against those files.

Run it again after a change to the sample's corpus or models, to the default ``[known_item]`` or ``[probe]``
settings, or to how checks and pairs are made; ``tests/test_sample.py`` fails while the shipped encodings no
longer cover what the sample needs.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np

from diagnostics.encode_cache import _chunk_dtype, _chunk_paths, _read_chunk, _text_key
from diagnostics.encoding import document_texts
from diagnostics.sample import SAMPLE_ENCODINGS, load_sample

SEED_NAME = "chunk-seed.npy"


def corpus_keys() -> set[bytes]:
    """Cache keys of the sample's own documents and queries (no prefix): shipped as vector files already."""
    dataset, _, _ = load_sample(models=False)
    texts = document_texts(dataset) + [str(t) for t in dataset.queries["text"]]
    return {_text_key("", text) for text in texts}


def cached_vectors(cache: Path) -> dict[str, dict[bytes, np.ndarray]]:
    """Every vector written under ``cache``, by model fingerprint and key."""
    out: dict[str, dict[bytes, np.ndarray]] = {}
    for directory in sorted(p for p in cache.iterdir() if p.is_dir()):
        rows = out.setdefault(directory.name, {})
        for path in _chunk_paths(directory):
            records = _read_chunk(path)
            for record in () if records is None else records:
                rows.setdefault(record["key"].tobytes(), record["vec"])
    return out


def new_keys(cache: Path) -> dict[str, set[bytes]]:
    """Every key written under ``cache``, per model fingerprint."""
    return {fingerprint: set(rows) for fingerprint, rows in cached_vectors(cache).items()}


def build(target: Path = SAMPLE_ENCODINGS) -> dict[str, int]:
    """Compare the sample (no projection) against an empty cache, keep what was encoded beyond the corpus,
    write one chunk per model under ``target`` (replacing what was there); returns rows per fingerprint."""
    from diagnostics.compare import compare

    skip = corpus_keys()
    with tempfile.TemporaryDirectory(prefix="embdiff-sample-encodings-") as tmp:
        cache = Path(tmp) / "cache"
        aside = Path(tmp) / "previous"  # the shipped encodings would answer every lookup: out of the way meanwhile
        if SAMPLE_ENCODINGS.is_dir():
            shutil.move(SAMPLE_ENCODINGS, aside)
        replaced = False
        try:
            with mock.patch.dict(os.environ, {"EMBDIFF_CACHE": str(cache)}):
                dataset, base, tuned = load_sample()
                compare(dataset, base, tuned, projection=False)
            replaced = target.resolve() == SAMPLE_ENCODINGS.resolve()
        finally:
            if aside.is_dir() and not replaced:  # a failure, or written elsewhere: the shipped ones go back
                shutil.move(aside, SAMPLE_ENCODINGS)
        staged = Path(tmp) / "encodings"
        counts: dict[str, int] = {}
        for fingerprint, written in cached_vectors(cache).items():
            rows = {key: vec for key, vec in written.items() if key not in skip}
            if not rows:
                continue
            keys = sorted(rows)  # a stable file for the same vectors
            out = np.empty(len(keys), dtype=_chunk_dtype(len(rows[keys[0]])))
            out["key"] = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), -1)
            out["vec"] = np.stack([rows[k] for k in keys])
            (staged / fingerprint).mkdir(parents=True)
            np.save(staged / fingerprint / SEED_NAME, out, allow_pickle=False)
            counts[fingerprint] = len(keys)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(staged, target)
    return counts


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for fingerprint, n in build().items():
        print(f"{fingerprint[:16]}…: {n} vectors", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
