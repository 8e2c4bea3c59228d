"""The on-disk cache of encoded vectors, one directory per model fingerprint.

Vectors are cached under ``embdiff_home()/cache/embeddings/<fingerprint>/`` (or ``$EMBDIFF_CACHE``,
or a directory the caller names), keyed by the SHA-256 of ``prefix + text``.

Cache layout: every chunk is one ``.npy`` file holding a structured array with fields ``key``
(``uint8[32]``, the raw SHA-256 digest) and ``vec`` (``float32[dim]``). A chunk is written to a
temporary name and moved into place with :func:`os.replace` under a name unique to the writer, so
concurrent processes never write the same file and a reader never sees a half-written chunk.
A chunk that cannot be read or does not have that layout is skipped (its texts are encoded again).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from diagnostics._home import embdiff_home

# Named as before this module was split out of diagnostics.encoding, so logging set up for that name
# still applies to these records.
logger = logging.getLogger("diagnostics.encoding")

_KEY_BYTES = 32
_CHUNK_ROWS = 4096  # new vectors are flushed to a chunk file at least this often
_MAX_CHUNKS = 32  # above this many chunk files, they are merged into one
_STALE_TMP_SECONDS = 24 * 3600


def _cache_directory(cache_dir: str | os.PathLike[str] | None, fingerprint: str) -> Path:
    """``<root>/<fingerprint>``: ``cache_dir``, else ``$EMBDIFF_CACHE`` (a cache shared by several homes:
    entries are keyed by content, so sharing is safe), else ``embdiff_home()/cache/embeddings``."""
    shared = os.environ.get("EMBDIFF_CACHE")
    if cache_dir is not None:
        root = Path(cache_dir).expanduser()
    elif shared:
        root = Path(shared).expanduser()
    else:
        root = embdiff_home() / "cache" / "embeddings"
    return root / fingerprint


def _seed_directory(fingerprint: str) -> Path:
    """Read-only encodings shipped with the bundled sample (``sample_data/encodings/<fingerprint>/``): what its
    models give its known-item checks and compositional probe, so a first comparison of the sample encodes
    nothing (``python -m sample_data.encodings`` writes them). Consulted after the cache, never written."""
    from diagnostics.sample import SAMPLE_ENCODINGS  # diagnostics.sample imports this module's users

    return SAMPLE_ENCODINGS / fingerprint


def _lookup_with_seed(directory: Path, fingerprint: str, wanted: set[bytes]
                      ) -> tuple[dict[bytes, NDArray[np.float32]], int | None]:
    """:func:`_lookup` in the cache, then what it misses in the sample's shipped encodings of the same model."""
    found, dim = _lookup(directory, wanted)
    if len(found) < len(wanted):
        seeded, seed_dim = _lookup(_seed_directory(fingerprint), wanted - found.keys())
        if seeded and dim in (None, seed_dim):
            found.update(seeded)
            dim = seed_dim
    return found, dim


def _chunk_dtype(dim: int) -> np.dtype[np.void]:
    return np.dtype([("key", np.uint8, (_KEY_BYTES,)), ("vec", "<f4", (dim,))])


def _text_key(prefix: str, text: str) -> bytes:
    return hashlib.sha256((prefix + text).encode("utf-8", "surrogatepass")).digest()


def _chunk_paths(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.glob("chunk-*.npy") if p.is_file())
    except OSError:
        return []


def _read_chunk(path: Path) -> NDArray[np.void] | None:
    """A chunk's records, or ``None`` (with a warning) when it is unreadable or malformed."""
    try:
        records: NDArray[np.void] = np.load(path, allow_pickle=False)
        names = records.dtype.names or ()
        if names != ("key", "vec") or records.ndim != 1:
            raise ValueError(f"unexpected layout {records.dtype} with shape {records.shape}")
        dim = records.dtype["vec"].shape[0] if records.dtype["vec"].shape else 0
        if records.dtype != _chunk_dtype(dim) or dim < 1:
            raise ValueError(f"unexpected field types {records.dtype}")
        if not np.isfinite(records["vec"]).all():
            raise ValueError("non-finite values")
    except FileNotFoundError:  # merged away by a concurrent process: its vectors are elsewhere
        return None
    except (OSError, ValueError, EOFError, TypeError, KeyError, IndexError) as exc:
        logger.warning("skipping corrupt embedding cache chunk %s: %s", path.name, exc)
        return None
    return records


def _lookup(directory: Path, wanted: set[bytes]) -> tuple[dict[bytes, NDArray[np.float32]], int | None]:
    """Cached vectors for the ``wanted`` keys, and the cache's dimension (``None`` when empty).

    All chunks of one fingerprint have one dimension; should a foreign chunk of another dimension
    be there, the dimension held by most rows wins and the other chunks are skipped.
    """
    chunks: dict[int, list[tuple[Path, NDArray[np.void]]]] = {}
    for path in _chunk_paths(directory):
        records = _read_chunk(path)
        if records is not None:
            chunks.setdefault(int(records.dtype["vec"].shape[0]), []).append((path, records))
    if not chunks:
        return {}, None
    dim = max(chunks, key=lambda d: (sum(len(r) for _, r in chunks[d]), -d))
    for other, skipped in chunks.items():
        for path, _ in skipped if other != dim else ():
            logger.warning("skipping embedding cache chunk %s: dimension %d, expected %d", path.name, other, dim)
    found: dict[bytes, NDArray[np.float32]] = {}
    for _, records in chunks[dim]:
        keys = records["key"]
        vecs = records["vec"]
        for row in range(len(records)):
            key = keys[row].tobytes()
            if key in wanted and key not in found:
                found[key] = vecs[row]
    return found, dim


def _write_atomic(directory: Path, records: NDArray[np.void]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    unique = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex}"
    tmp = directory / f".tmp-{unique}.npy"
    final = directory / f"chunk-{unique}.npy"
    try:
        with open(tmp, "wb") as handle:
            np.save(handle, records, allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def _store(directory: Path, keys: Sequence[bytes], vectors: NDArray[np.float32]) -> None:
    """Write one chunk; a failure to write only costs a cache miss later, so it is logged, not raised."""
    if not keys:
        return
    records = np.empty(len(keys), dtype=_chunk_dtype(vectors.shape[1]))
    records["key"] = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), _KEY_BYTES)
    records["vec"] = vectors
    try:
        _write_atomic(directory, records)
    except OSError as exc:
        logger.warning("could not write to the embedding cache %s: %s", directory, exc)


def _compact(directory: Path) -> None:
    """Merge the chunks into one when there are many; drop temporary files of crashed writers."""
    now = time.time()
    for tmp in directory.glob(".tmp-*.npy"):
        try:
            if now - tmp.stat().st_mtime > _STALE_TMP_SECONDS:
                tmp.unlink(missing_ok=True)
        except OSError:
            continue
    paths = _chunk_paths(directory)
    if len(paths) <= _MAX_CHUNKS:
        return
    parts: list[NDArray[np.void]] = []
    merged_paths: list[Path] = []
    for path in paths:
        records = _read_chunk(path)
        if records is not None and (not parts or records.dtype == parts[0].dtype):
            parts.append(records)
            merged_paths.append(path)
    if not parts:
        return
    merged = np.concatenate(parts)
    _, first = np.unique(merged["key"], axis=0, return_index=True)
    try:
        _write_atomic(directory, merged[np.sort(first)])
    except OSError as exc:
        logger.warning("could not compact the embedding cache %s: %s", directory, exc)
        return
    for path in merged_paths:
        path.unlink(missing_ok=True)
