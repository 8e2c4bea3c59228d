"""Embeddings of a dataset under one model: L2-normalised float32 matrices in dataset row order."""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import tokenize
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import ArrayLike, NDArray

from diagnostics._validation import (
    InputError,
    arrow_values,
    check_column_names,
    check_file,
    check_record_id,
    display_path,
    read_table,
    short_error,
)
from diagnostics.dataset import Dataset

__all__ = ["Embeddings", "VectorFile", "KINDS", "load_vectors", "write_vectors", "attach_vectors", "pair_vectors"]


@dataclass(frozen=True, eq=False)
class Embeddings:
    """The vectors of one model for one :class:`~diagnostics.Dataset`.

    Attributes
    ----------
    docs : ndarray of shape (n_docs, dim), float32
        Row ``i`` is ``dataset.docs.iloc[i]``; every row has unit L2 norm.
    queries : ndarray of shape (n_queries, dim), float32
        Row ``i`` is ``dataset.queries.iloc[i]`` (``(0, dim)`` when there are no queries).
    model_id : str
        What produced them: a model name or path, or a vector file name.
    fingerprint : str
        Model fingerprint (weights hash) or the vector file's SHA-256.
    """

    docs: NDArray[np.float32]
    queries: NDArray[np.float32]
    model_id: str
    fingerprint: str

    @property
    def dim(self) -> int:
        return int(self.docs.shape[1])


#: The two kinds of vectors: a document's or a query's.
KINDS = ("doc", "query")

_EMBEDDING_COLUMNS = ("embedding", "vector")
_IDS_SUFFIXES = (".ids.csv", ".ids.jsonl", ".ids.parquet")
_ROLES = ("base", "tuned")
_PARQUET_ERRORS = (pa.ArrowException, OSError, ValueError)
_NORM_BLOCK = 8192

PathLike = str | os.PathLike[str]


@dataclass(frozen=True, eq=False)
class VectorFile:
    """Precomputed vectors of one model, as read and validated from a file.

    Attributes
    ----------
    ids : ndarray of shape (n,), str
        The record id of each row.
    kinds : ndarray of shape (n,), str
        ``"doc"`` or ``"query"``; ``(kind, id)`` pairs are unique.
    matrix : ndarray of shape (n, dim), float32
        The vectors as stored (finite, none all-zero, not yet normalised).
    path : pathlib.Path
        The vector file.
    sha256 : str
        SHA-256 (hex) of the file's bytes (for ``.npy``: of the array file, then its ids file).
    """

    ids: NDArray[np.str_]
    kinds: NDArray[np.str_]
    matrix: NDArray[np.float32]
    path: Path
    sha256: str

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return int(self.matrix.shape[0])


def load_vectors(path: PathLike, *, ids_path: PathLike | None = None) -> VectorFile:
    """Read and validate a file of precomputed vectors.

    Parameters
    ----------
    path : str or path-like
        ``.parquet`` with columns ``id`` (string), ``kind`` (``"doc"`` or ``"query"``) and
        ``embedding`` (a list of numbers per row, all of one length); or ``.npy`` holding a
        numeric array of shape ``(n, dim)`` whose ids are in a sibling table
        ``<stem>.ids.csv``, ``<stem>.ids.jsonl`` or ``<stem>.ids.parquet`` (columns ``id``,
        ``kind``, one row per array row, in order).
    ids_path : str or path-like, optional
        The ids table of a ``.npy`` file, when it is not the sibling above.

    Returns
    -------
    VectorFile
        ``matrix`` is float32 of shape ``(n, dim)``.

    Raises
    ------
    InputError
        A missing, empty, truncated or corrupt file; a missing column; an unknown ``kind``;
        duplicate ``(kind, id)`` pairs; ragged, non-numeric, NaN, infinite or all-zero vectors.
        The message names the file, the row and the fix.
    """
    p = Path(path)
    label = display_path(p)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        if ids_path is not None:
            raise InputError(
                f"ids_path is only for .npy files: {label} carries its ids in its 'id' column; leave ids_path out"
            )
        check_file(p, label=label)
        ids, kinds, matrix = _read_parquet_vectors(p, label=label)
        where = _row_namer(label, ids, kinds, base=1, word="row")
        files = [p]
    elif suffix == ".npy":
        check_file(p, label=label)
        matrix = _read_npy(p, label=label)
        ids_file = _ids_file(p, ids_path)
        ids, kinds, where = _read_ids(ids_file, n_rows=matrix.shape[0], vectors_label=label)
        files = [p, ids_file]
    else:
        raise InputError(
            f"{label}: unsupported vector file type {p.suffix or '(no extension)'!r}; "
            "expected .parquet (id, kind, embedding) or .npy with a <name>.ids.csv beside it"
        )
    _check_vectors(label, ids, kinds, matrix, where)
    return VectorFile(
        ids=np.asarray(ids, dtype=np.str_),
        kinds=np.asarray(kinds, dtype=np.str_),
        matrix=matrix,
        path=p,
        sha256=_sha256(files),
    )


def write_vectors(path: PathLike, ids: ArrayLike, kinds: ArrayLike, matrix: ArrayLike) -> Path:
    """Write vectors to Parquet in the format :func:`load_vectors` reads, atomically.

    Parameters
    ----------
    path : str or path-like
        The ``.parquet`` file; its directory must exist. The file is written to a temporary file
        beside it and renamed into place (``os.replace``), so readers never see half a file.
    ids : array-like of shape (n,), str
    kinds : array-like of shape (n,), str
        ``"doc"`` or ``"query"``.
    matrix : array-like of shape (n, dim)
        Stored as lists of float32 in the ``embedding`` column.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    p = Path(path)
    label = display_path(p)
    if p.suffix.lower() not in (".parquet", ".pq"):
        raise InputError(f"{label}: vectors are written as Parquet; give the file a .parquet extension")
    if not p.parent.is_dir():
        raise InputError(f"{label}: the directory {p.parent.name!r} does not exist; create it first")
    id_list = [check_record_id(i, where=f"ids[{n}]") for n, i in enumerate(np.asarray(ids).tolist())]
    kind_list = [str(k) for k in np.asarray(kinds).tolist()]
    values = np.asarray(matrix)
    if values.ndim != 2 or values.dtype.kind not in "fiu":
        raise InputError(f"matrix must be a 2-D numeric array (n, dim); found shape {values.shape} of {values.dtype}")
    values = values.astype(np.float32)
    if not len(id_list) == len(kind_list) == values.shape[0]:
        raise InputError(
            f"ids ({len(id_list)}), kinds ({len(kind_list)}) and matrix rows ({values.shape[0]}) "
            "must have the same length: one id and kind per vector"
        )
    _check_vectors(label, id_list, kind_list, values, _row_namer(label, id_list, kind_list, base=1, word="row"))
    n, dim = values.shape
    offsets = pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32))
    embedding = pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1)))
    table = pa.table(
        {"id": pa.array(id_list, pa.string()), "kind": pa.array(kind_list, pa.string()), "embedding": embedding}
    )
    fd, tmp_name = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp_name)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, p)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return p


def attach_vectors(dataset: Dataset, vectors: VectorFile, *, role: str) -> Embeddings:
    """Match a vector file to a dataset's rows and L2-normalise the vectors.

    Parameters
    ----------
    dataset : Dataset
    vectors : VectorFile
        Must hold exactly one vector per document (kind ``"doc"``) and per query (kind
        ``"query"``) of ``dataset``, and no other.
    role : {"base", "tuned"}
        Which model the vectors belong to, for the messages.

    Returns
    -------
    Embeddings
        ``docs`` of shape ``(n_docs, dim)`` and ``queries`` of shape ``(n_queries, dim)`` in
        dataset row order, float32, each row ``x / ||x||_2``; ``model_id`` is the file name and
        ``fingerprint`` the file's SHA-256.
    """
    role = _check_role(role)
    keys = pd.Index(_keys(vectors.kinds, vectors.ids))
    doc_keys = _keys(["doc"] * len(dataset.docs), dataset.docs["id"])
    query_keys = _keys(["query"] * len(dataset.queries), dataset.queries["id"])
    label = display_path(vectors.path)
    positions = {}
    for kind, wanted in (("doc", doc_keys), ("query", query_keys)):
        found = keys.get_indexer(pd.Index(wanted))
        missing = [key.split("\x00", 1)[1] for key, pos in zip(wanted, found, strict=True) if pos < 0]
        if missing:
            raise InputError(
                f"{role} vectors ({label}) have no vector for {_count(missing, kind)}"
                f"{_namespace_hint(missing, set(vectors.ids.tolist()))}; "
                f"every document and query of the dataset needs one: export vectors for them, "
                "or remove those records from the dataset"
            )
        positions[kind] = found
    extra_mask = ~keys.isin(pd.Index(doc_keys + query_keys))
    if extra_mask.any():
        extra = [(str(k), str(i)) for k, i in zip(vectors.kinds[extra_mask], vectors.ids[extra_mask], strict=True)]
        kind = extra[0][0]
        ids = [i for k, i in extra if k == kind]
        more = f" (and {len(extra) - len(ids)} more of the other kind)" if len(extra) > len(ids) else ""
        raise InputError(
            f"{role} vectors ({label}) hold vectors for {_count(ids, kind)}{more} that the dataset does "
            "not have: were they computed on another version of the dataset? "
            "drop those vectors or add the records to the dataset"
        )
    return Embeddings(
        docs=_normalise(vectors.matrix[positions["doc"]]),
        queries=_normalise(vectors.matrix[positions["query"]]),
        model_id=vectors.path.name,
        fingerprint=vectors.sha256,
    )


def pair_vectors(dataset: Dataset, base: VectorFile, tuned: VectorFile) -> tuple[Embeddings, Embeddings]:
    """Attach a base and a tuned vector file to a dataset, after checking they cover the same ids.

    Parameters
    ----------
    dataset : Dataset
    base, tuned : VectorFile
        Must hold the same ``(kind, id)`` pairs; their dimensions may differ.

    Returns
    -------
    (Embeddings, Embeddings)
        Base and tuned, as :func:`attach_vectors` returns them.
    """
    base_keys = set(_keys(base.kinds, base.ids))
    tuned_keys = set(_keys(tuned.kinds, tuned.ids))
    if base_keys != tuned_keys:
        only_base = sorted(base_keys - tuned_keys)
        only_tuned = sorted(tuned_keys - base_keys)
        b, t = display_path(base.path), display_path(tuned.path)
        raise InputError(
            f"base ({b}) and tuned ({t}) vectors cover different ids: {_describe_keys(only_base)} in base "
            f"are missing from tuned, {_describe_keys(only_tuned)} in tuned are missing from base; "
            "export both models' vectors for the same documents and queries"
        )
    return attach_vectors(dataset, base, role="base"), attach_vectors(dataset, tuned, role="tuned")


# ---------------------------------------------------------------------------------------------- helpers


def _keys(kinds: Sequence[Any] | NDArray[Any] | pd.Series, ids: Sequence[Any] | NDArray[Any] | pd.Series) -> list[str]:
    return [f"{k}\x00{i}" for k, i in zip(kinds, ids, strict=True)]


def _count(ids: Sequence[str], kind: str) -> str:
    noun = "document" if kind == "doc" else "query"
    plural = "documents" if kind == "doc" else "queries"
    head = ", ".join(repr(i) for i in ids[:3])
    return f"{len(ids)} {noun if len(ids) == 1 else plural} (first: {head})"


def _describe_keys(keys: Sequence[str]) -> str:
    shown = ", ".join(f"{k} {i!r}" for k, i in (key.split("\x00", 1) for key in keys[:3]))
    noun = "id" if len(keys) == 1 else "ids"
    return f"{len(keys)} {noun} (first: {shown})" if keys else "0 ids"


def _namespace_hint(missing: Sequence[str], vector_ids: set[str]) -> str:
    """A hint when the vectors carry the dataset's ids without their ``<directory>/`` prefix."""
    if any("/" in i and i.split("/", 1)[1] in vector_ids for i in missing[:20]):
        return (
            "; the dataset's ids are namespaced '<directory>/<id>' because several directories were "
            "loaded: write the vector ids the same way"
        )
    return ""


def _check_role(role: object) -> str:
    if role not in _ROLES:
        raise InputError(f"role must be 'base' or 'tuned'; got {str(role)[:20]!r}")
    return str(role)


def _row_namer(label: str, ids: Sequence[str], kinds: Sequence[str], *, base: int, word: str) -> Callable[[int], str]:
    def where(i: int) -> str:
        return f"{label}, {word} {i + base} ({kinds[i]} {ids[i]!r})"

    return where


def _read_parquet_vectors(path: Path, *, label: str) -> tuple[list[str], list[str], NDArray[np.float32]]:
    try:
        schema = pq.read_schema(path)
    except _PARQUET_ERRORS as exc:
        raise InputError(
            f"{label} is not a readable Parquet file ({short_error(exc)}): it may be truncated or corrupt; "
            "export the vectors again"
        ) from None
    check_column_names(schema.names, label=label)
    names = {name.strip().lower(): name for name in schema.names}
    found = ", ".join(repr(n) for n in schema.names[:12]) or "none"
    embedding_name = next((names[n] for n in _EMBEDDING_COLUMNS if n in names), None)
    for wanted, what in (("id", "record ids"), ("kind", "'doc' or 'query' per row")):
        if wanted not in names:
            raise InputError(
                f"{label} has no {wanted!r} column (found: {found}); add the column {wanted!r} with the {what}"
            )
    if embedding_name is None:
        raise InputError(
            f"{label} has no 'embedding' column (found: {found}); store each vector as a list of numbers "
            "in a column named 'embedding'"
        )
    try:
        table = pq.read_table(path, columns=[names["id"], names["kind"], embedding_name])
    except _PARQUET_ERRORS as exc:
        raise InputError(
            f"{label} is not a readable Parquet file ({short_error(exc)}): it may be truncated or corrupt; "
            "export the vectors again"
        ) from None
    if table.num_rows == 0:
        raise InputError(f"{label} holds no vectors (0 rows); export the vectors again")
    raw_ids = arrow_values(table.column(names["id"]), label=label, name=names["id"])
    raw_kinds = arrow_values(table.column(names["kind"]), label=label, name=names["kind"])
    ids = [check_record_id(v, where=f"{label}, row {n + 1}") for n, v in enumerate(raw_ids)]
    kinds = [
        _check_kind(k, where=f"{label}, row {n + 1} (id {i!r})")
        for n, (k, i) in enumerate(zip(raw_kinds, ids, strict=True))
    ]
    where = _row_namer(label, ids, kinds, base=1, word="row")
    matrix = _embedding_matrix(table.column(embedding_name).combine_chunks(), label=label, where=where)
    return ids, kinds, matrix


def _embedding_matrix(column: pa.Array, *, label: str, where: Callable[[int], str]) -> NDArray[np.float32]:
    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        raise InputError(
            f"{label}: the 'embedding' column holds {kind}, not lists of numbers; store each vector as a "
            "list of floats (e.g. pyarrow list<float32>), not as text or one number per column"
        )
    value_type = kind.value_type
    if not (pa.types.is_floating(value_type) or pa.types.is_integer(value_type)):
        raise InputError(
            f"{label}: the 'embedding' column holds lists of {value_type}, not numbers; "
            "store the vector components as floats"
        )
    n = len(column)
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise InputError(f"{where(row)}: the embedding is missing (null); give every row its vector")
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    dim = int(lengths[0])
    ragged = np.flatnonzero(lengths != dim)
    if len(ragged):
        row = int(ragged[0])
        raise InputError(
            f"{where(row)}: the embedding has {int(lengths[row])} values but row 1 has {dim}; "
            "every vector of a file must have the same dimension (ragged vectors)"
        )
    if dim == 0:
        raise InputError(f"{where(0)}: the embedding is empty (0 values); export the vectors again")
    values = column.flatten()
    if values.null_count:
        row = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0]) // dim
        raise InputError(f"{where(row)}: the embedding holds a null value; every component must be a number")
    with np.errstate(over="ignore", invalid="ignore"):
        flat: NDArray[np.float32] = values.to_numpy(zero_copy_only=False).astype(np.float32)
    return flat.reshape(n, dim)


def _read_npy(path: Path, *, label: str) -> NDArray[np.float32]:
    corrupt = f"{label} is not a readable .npy file"
    try:
        with path.open("rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
            data_offset = handle.tell()
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, tokenize.TokenError) as exc:
        # numpy parses the header with ast/tokenize: a damaged one raises any of these
        raise InputError(f"{corrupt} ({short_error(exc)}): save the array with numpy.save") from None
    if dtype.hasobject:
        raise InputError(
            f"{label} holds Python objects (a pickled array), which embdiff never loads; "
            "save a numeric array: numpy.save(path, matrix.astype('float32'))"
        )
    # The header's shape decides how much numpy allocates: check it against the file's size first,
    # so a truncated file or a forged header never asks for more memory than the file holds.
    expected = math.prod(int(n) for n in shape) * dtype.itemsize
    found = path.stat().st_size - data_offset
    if expected != found:
        raise InputError(
            f"{corrupt}: its header announces shape {tuple(shape)} of {dtype} ({expected} bytes of data) "
            f"but the file holds {found} bytes after the header; it is truncated or damaged; save it again"
        )
    if dtype.kind not in "fiu":
        raise InputError(f"{label} holds {dtype} values, not numbers; save the vectors as a float32 array")
    if len(shape) != 2:
        raise InputError(f"{label} has shape {tuple(shape)}; expected a 2-D array (n_vectors, dim), one vector per row")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{corrupt} ({short_error(exc)}): it may be truncated; save it again") from None
    if array.dtype.kind not in "fiu":
        raise InputError(f"{label} holds {array.dtype} values, not numbers; save the vectors as a float32 array")
    if array.ndim != 2:
        raise InputError(f"{label} has shape {array.shape}; expected a 2-D array (n_vectors, dim), one vector per row")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"{label} is empty (shape {array.shape}); save the vectors again")
    with np.errstate(over="ignore", invalid="ignore"):
        matrix: NDArray[np.float32] = array.astype(np.float32)
    return matrix


def _ids_file(path: Path, ids_path: PathLike | None) -> Path:
    if ids_path is not None:
        return check_file(ids_path)
    stem = path.name[: -len(path.suffix)]
    found = [path.with_name(stem + suffix) for suffix in _IDS_SUFFIXES if path.with_name(stem + suffix).is_file()]
    if not found:
        expected = " or ".join(stem + s for s in _IDS_SUFFIXES)
        raise InputError(
            f"{display_path(path)} has no ids file beside it: expected {expected} (columns id, kind; "
            "one row per array row), or pass ids_path"
        )
    if len(found) > 1:
        listed = ", ".join(p.name for p in found)
        raise InputError(f"{display_path(path)} has several ids files ({listed}); keep only one or pass ids_path")
    return found[0]


def _read_ids(path: Path, *, n_rows: int, vectors_label: str) -> tuple[list[str], list[str], Callable[[int], str]]:
    table = read_table(path, allowed=("csv", "jsonl", "parquet"))
    raw_ids = table.column(("id", "_id"), what="record ids")
    raw_kinds = table.column(("kind",), what="kind of each row ('doc' or 'query')")
    if table.n_rows != n_rows:
        raise InputError(
            f"{table.label} has {table.n_rows} rows but {vectors_label} has {n_rows} vectors; "
            "the ids file needs exactly one row (id, kind) per array row, in the same order"
        )
    ids = [check_record_id(v, where=table.where(n)) for n, v in enumerate(raw_ids)]
    kinds = [
        _check_kind(k, where=f"{table.where(n)} (id {i!r})")
        for n, (k, i) in enumerate(zip(raw_kinds, ids, strict=True))
    ]

    def where(i: int) -> str:
        return f"{vectors_label}, vector [{i}] ({kinds[i]} {ids[i]!r}, {table.where(i)})"

    return ids, kinds, where


def _check_kind(value: object, *, where: str) -> str:
    if value not in KINDS:
        raise InputError(
            f"{where}: unknown kind {str(value)[:20]!r}; the kind is 'doc' for documents or 'query' for queries"
        )
    return str(value)


def _check_vectors(
    label: str,
    ids: Sequence[str],
    kinds: Sequence[str],
    matrix: NDArray[np.float32],
    where: Callable[[int], str],
) -> None:
    """Duplicate (kind, id) pairs, NaN/inf and all-zero rows."""
    for n, kind in enumerate(kinds):
        _check_kind(kind, where=where(n))
    keys = pd.Series(_keys(kinds, ids))
    duplicated = np.flatnonzero(keys.duplicated().to_numpy())
    if len(duplicated):
        row = int(duplicated[0])
        first = int(np.flatnonzero((keys == keys.iloc[row]).to_numpy())[0])
        raise InputError(
            f"{where(row)}: duplicate {kinds[row]} id {ids[row]!r} (also at {where(first).split(', ', 1)[1]}); "
            "keep one vector per document and per query"
        )
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise InputError(
            f"{where(row)}: the vector holds NaN or infinite values (or values beyond the float32 range) "
            f"({_in_all(int((~finite).sum()))}); recompute those vectors or remove them"
        )
    zero = ~matrix.any(axis=1)
    if zero.any():
        row = int(np.flatnonzero(zero)[0])
        raise InputError(
            f"{where(row)}: the vector is all zeros, so it has no direction "
            f"and cosine is undefined ({_in_all(int(zero.sum()))}); recompute those vectors or remove them"
        )


def _in_all(count: int) -> str:
    return "1 such vector in all" if count == 1 else f"{count} such vectors in all"


def _normalise(matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows divided by their L2 norm, computed in float64 blocks; returns float32."""
    out = np.empty(matrix.shape, dtype=np.float32)
    for start in range(0, matrix.shape[0], _NORM_BLOCK):
        block = matrix[start : start + _NORM_BLOCK].astype(np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", block, block))
        out[start : start + _NORM_BLOCK] = block / norms[:, None]
    return out


def _sha256(files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
