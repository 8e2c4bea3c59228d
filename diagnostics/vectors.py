"""Embeddings of a dataset under one model: L2-normalised float32 matrices in dataset row order.

Why one module past ~500 lines: the Parquet and ``.npy`` readers, the id files, and attaching or pairing
vectors with a dataset share the private helpers that name a bad row by file, row and id in every error
message; splitting readers from pairing would make those helpers public API for no reader's benefit.
"""

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

__all__ = [
    "Embeddings", "VectorFile", "KINDS", "load_vectors", "load_vector_pair", "write_vectors", "attach_vectors",
    "pair_vectors",
]


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
    model : str, path-like, SentenceTransformer or LazyModel, optional
        The model that encodes new text the same way (synthesised checks, the live probe): the
        encoding model, or a model given beside a vector file and checked against it
        (:func:`diagnostics.consistency.attach_model`). ``None`` when there is none.
    model_fingerprint : str, optional
        That model's fingerprint.
    """

    docs: NDArray[np.float32]
    queries: NDArray[np.float32]
    model_id: str
    fingerprint: str
    model: Any = None
    model_fingerprint: str | None = None

    @property
    def dim(self) -> int:
        return int(self.docs.shape[1])


#: The two kinds of vectors: a document's or a query's.
KINDS = ("doc", "query")

_EMBEDDING_COLUMNS = ("embedding", "vector")
_IDS_SUFFIXES = (".ids.csv", ".ids.jsonl", ".ids.parquet")
_ROLES = ("base", "tuned")
_PARQUET_ERRORS = (pa.ArrowException, OSError, ValueError)
_NORM_BLOCK = 1024  # rows: float64 temporaries of a few MB, not a copy of the matrix
_READ_BATCH = 8192
# Read buffer of a column chunk: Arrow then streams a row group's pages instead of loading the whole chunk.
# A file written with pyarrow's defaults is one row group of up to 1Mi rows, so unbuffered the embedding
# column of a 1M-document file (1.5 GB) was in memory beside the matrix it decodes into.
_READ_BUFFER = 1 << 20

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
    return _attach(dataset, vectors, role=role, in_place=False)


def _attach(dataset: Dataset, vectors: VectorFile, *, role: str, in_place: bool) -> Embeddings:
    """:func:`attach_vectors`; with ``in_place`` the file's matrix is normalised where it lies and
    rows that are already in dataset order are returned as views of it (no copy): for callers that
    own the :class:`VectorFile` and drop it afterwards."""
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
        docs=_normalised_rows(vectors.matrix, positions["doc"], in_place=in_place),
        queries=_normalised_rows(vectors.matrix, positions["query"], in_place=in_place),
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
    return _pair(dataset, base, tuned, in_place=False)


def load_vector_pair(
    dataset: Dataset, base_path: PathLike, tuned_path: PathLike
) -> tuple[Embeddings, Embeddings]:
    """Read, validate and attach a base and a tuned vector file, holding each matrix once.

    :func:`load_vectors` then :func:`pair_vectors`, except that the matrices read from the files
    are normalised in place and, where their rows are already in dataset order (documents then
    queries, as :func:`write_vectors` and the encoder store them), returned as views: the vectors
    of both models are in memory once, not twice.

    Parameters
    ----------
    dataset : Dataset
    base_path, tuned_path : str or path-like
        Vector files as :func:`load_vectors` reads them.

    Returns
    -------
    (Embeddings, Embeddings)
        As :func:`pair_vectors` returns them; the same numbers.
    """
    return _pair(dataset, load_vectors(base_path), load_vectors(tuned_path), in_place=True)


def _pair(dataset: Dataset, base: VectorFile, tuned: VectorFile, *, in_place: bool) -> tuple[Embeddings, Embeddings]:
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
    return (
        _attach(dataset, base, role="base", in_place=in_place),
        _attach(dataset, tuned, role="tuned", in_place=in_place),
    )


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
        handle = pq.ParquetFile(path, buffer_size=_READ_BUFFER, pre_buffer=False)
    except _PARQUET_ERRORS as exc:
        raise InputError(
            f"{label} is not a readable Parquet file ({short_error(exc)}): it may be truncated or corrupt; "
            "export the vectors again"
        ) from None
    with handle:
        return _read_parquet_rows(handle, names["id"], names["kind"], embedding_name, label=label)


def _read_parquet_rows(
    handle: pq.ParquetFile, id_name: str, kind_name: str, embedding_name: str, *, label: str
) -> tuple[list[str], list[str], NDArray[np.float32]]:
    try:
        table = handle.read(columns=[id_name, kind_name])
    except _PARQUET_ERRORS as exc:
        raise InputError(
            f"{label} is not a readable Parquet file ({short_error(exc)}): it may be truncated or corrupt; "
            "export the vectors again"
        ) from None
    if table.num_rows == 0:
        raise InputError(f"{label} holds no vectors (0 rows); export the vectors again")
    raw_ids = arrow_values(table.column(id_name), label=label, name=id_name)
    raw_kinds = arrow_values(table.column(kind_name), label=label, name=kind_name)
    del table
    ids = [check_record_id(v, where=f"{label}, row {n + 1}") for n, v in enumerate(raw_ids)]
    kinds = [
        _check_kind(k, where=f"{label}, row {n + 1} (id {i!r})")
        for n, (k, i) in enumerate(zip(raw_kinds, ids, strict=True))
    ]
    where = _row_namer(label, ids, kinds, base=1, word="row")
    matrix = _embedding_matrix(handle, embedding_name, n_rows=len(ids), label=label, where=where)
    return ids, kinds, matrix


def _embedding_matrix(
    handle: pq.ParquetFile, name: str, *, n_rows: int, label: str, where: Callable[[int], str]
) -> NDArray[np.float32]:
    """The embedding column decoded a batch at a time straight into one float32 matrix, so the
    file's vectors are never held twice (a whole ``list<float>`` column decodes to several times
    its size)."""
    kind = handle.schema_arrow.field(name).type
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
    matrix: NDArray[np.float32] | None = None
    start = 0
    batches = handle.iter_batches(batch_size=_READ_BATCH, columns=[name], use_threads=False)
    while True:
        try:
            batch = next(batches, None)
        except _PARQUET_ERRORS as exc:
            raise InputError(
                f"{label} is not a readable Parquet file ({short_error(exc)}): it may be truncated or corrupt; "
                "export the vectors again"
            ) from None
        if batch is None:
            break
        column = batch.column(0)
        if matrix is None:
            matrix = np.empty((n_rows, _first_dim(column, where)), dtype=np.float32)
        _fill_rows(matrix, start, column, where)
        start += len(column)
    if matrix is None or start != n_rows:
        raise InputError(
            f"{label}: the embedding column has {start} rows, the id column {n_rows}; export the vectors again"
        )
    return matrix


def _first_dim(column: pa.Array, where: Callable[[int], str]) -> int:
    if column.null_count and not column.is_valid()[0].as_py():
        raise InputError(f"{where(0)}: the embedding is missing (null); give every row its vector")
    dim = int(pc.list_value_length(column[:1]).to_numpy(zero_copy_only=False)[0])
    if dim == 0:
        raise InputError(f"{where(0)}: the embedding is empty (0 values); export the vectors again")
    return dim


def _fill_rows(matrix: NDArray[np.float32], start: int, column: pa.Array, where: Callable[[int], str]) -> None:
    """Check one batch of the embedding column (nulls, ragged rows) and copy it into ``matrix[start:]``."""
    n, dim = len(column), matrix.shape[1]
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise InputError(f"{where(start + row)}: the embedding is missing (null); give every row its vector")
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    ragged = np.flatnonzero(lengths != dim)
    if len(ragged):
        row = int(ragged[0])
        raise InputError(
            f"{where(start + row)}: the embedding has {int(lengths[row])} values but row 1 has {dim}; "
            "every vector of a file must have the same dimension (ragged vectors)"
        )
    values = column.flatten()
    if values.null_count:
        row = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0]) // dim
        raise InputError(
            f"{where(start + row)}: the embedding holds a null value; every component must be a number"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        matrix[start : start + n] = values.to_numpy(zero_copy_only=False).reshape(n, dim)


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
        # np.load's array is ours: no second copy when it already is C-ordered float32
        matrix: NDArray[np.float32] = np.ascontiguousarray(array, dtype=np.float32)
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
    # a block at a time: the masks of a whole 100k x 384 matrix would cost a quarter of its size
    finite = np.concatenate(
        [np.isfinite(matrix[s : s + _NORM_BLOCK]).all(axis=1) for s in range(0, len(matrix), _NORM_BLOCK)]
    )
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise InputError(
            f"{where(row)}: the vector holds NaN or infinite values (or values beyond the float32 range) "
            f"({_in_all(int((~finite).sum()))}); recompute those vectors or remove them"
        )
    zero = ~np.concatenate([matrix[s : s + _NORM_BLOCK].any(axis=1) for s in range(0, len(matrix), _NORM_BLOCK)])
    if zero.any():
        row = int(np.flatnonzero(zero)[0])
        raise InputError(
            f"{where(row)}: the vector is all zeros, so it has no direction "
            f"and cosine is undefined ({_in_all(int(zero.sum()))}); recompute those vectors or remove them"
        )


def _in_all(count: int) -> str:
    return "1 such vector in all" if count == 1 else f"{count} such vectors in all"


def _normalised_rows(
    matrix: NDArray[np.float32], rows: NDArray[np.intp], *, in_place: bool
) -> NDArray[np.float32]:
    """``matrix[rows]`` with every row divided by its L2 norm (computed in float64), float32.

    With ``in_place`` and ``rows`` a contiguous run, the run is normalised where it lies and a view
    of it is returned; otherwise the rows are gathered into a new array, a block at a time."""
    n = len(rows)
    if in_place and matrix.flags.writeable and (n == 0 or _is_run(rows)):
        start = int(rows[0]) if n else 0
        view = matrix[start : start + n]
        for s in range(0, n, _NORM_BLOCK):
            view[s : s + _NORM_BLOCK] = _unit_rows(view[s : s + _NORM_BLOCK])
        return view
    out = np.empty((n, matrix.shape[1]), dtype=np.float32)
    for s in range(0, n, _NORM_BLOCK):
        out[s : s + _NORM_BLOCK] = _unit_rows(matrix[rows[s : s + _NORM_BLOCK]])
    return out


def _is_run(rows: NDArray[np.intp]) -> bool:
    return bool(rows[-1] - rows[0] == len(rows) - 1 and (np.diff(rows) == 1).all())


def _unit_rows(block: NDArray[np.float32]) -> NDArray[np.float64]:
    wide = block.astype(np.float64)
    unit: NDArray[np.float64] = wide / np.sqrt(np.einsum("ij,ij->i", wide, wide))[:, None]
    return unit


def _sha256(files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
