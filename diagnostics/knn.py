"""Exact cosine k-nearest neighbors: tiled torch products and ``torch.topk`` for a large corpus, else FAISS, else numpy.

Every similarity in embdiff is the cosine of L2-normalised float32 vectors, i.e. their dot product.
The search is exact (brute force): an approximate index would miss neighbors, and its misses would
look like change between the base and the tuned model.

Three backends compute the same answer:

* ``"torch"`` scores one tile of ``1024`` query rows by ``65536`` document rows at a time (256 MB
  of float32 scores) with one matrix product, keeps each tile's best with ``torch.topk`` and merges
  them. On 2 cores it takes 0.40-0.45x the time of FAISS's flat search for the top-100 of 2,048
  queries among 1M documents (7.4-8.7 s against 18.1-18.8 s): the matrix products run at the same
  rate, but FAISS pushes every score through its top-k heap one at a time, while ``torch.topk``
  selects a whole tile's rows in bulk.
* ``"faiss"`` runs ``faiss.knn`` (the exhaustive inner-product search behind ``IndexFlatIP``,
  without copying the corpus into an index).

``"auto"`` (the default) takes torch for a document matrix of at least ``TORCH_MIN_BYTES`` (512 MB:
350k documents at 384 dimensions) and FAISS below it. Importing torch (when no model was loaded) and
one tile of scores add about 0.45 GB to the process: little beside a large corpus, but at 100k
documents it took a ``--no-projection`` run from 0.75 GB to 1.16 GB (3.6x the raw vectors of both
models, whose target is 3x), and there FAISS needs 20 s for the whole search. The choice depends on
the corpus alone, so a run and its Ray search tasks always use the same backend.
* ``"numpy"`` is one matrix product per block of ``block_size`` query rows; its largest temporary
  is one ``(block_size, n_docs)`` float32 block (100 MB for 256 queries against 100k documents).

None makes an ``(n_queries, n_docs)`` matrix or a float64 copy of a whole matrix, and none copies
the corpus (a memory-mapped corpus is read in place).

Ties are broken deterministically in all three: a higher score first, then the lower document row
index. torch and FAISS order ties arbitrarily, so they are asked for ``k + TIE_MARGIN`` neighbors,
which are sorted by (score, row); a row whose tie at the k-th score may continue past what was
returned is searched again with numpy. Queries go to torch and FAISS in blocks of ``16384`` rows,
the unit a Ray search task repeats (``diagnostics.distributed``), so a row's scores do not depend
on where it is searched.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from diagnostics._validation import NORM_TOLERANCE, InputError, check_unit_rows, check_whole  # noqa: F401 (NORM_TOLERANCE: re-exported)

__all__ = [
    "BACKENDS",
    "auto_backend",
    "exact_top_k",
    "faiss_available",
    "knn_rows",
    "search_memory_bytes",
    "search_threads",
    "set_search_threads",
]

#: Tolerance on the L2 norm of each input row (float32 vectors written by other tools drift a little).

#: ``backend=`` values: ``"auto"`` is torch when it imports, else FAISS when it imports, else numpy.
BACKENDS = ("auto", "torch", "faiss", "numpy")

#: ``backend="auto"`` searches a document matrix of at least this many bytes with torch, a smaller one with FAISS.
TORCH_MIN_BYTES = 512 * 1024 * 1024

#: Extra neighbors asked of torch and FAISS so that a tie at the k-th score is usually seen whole.
TIE_MARGIN = 8

#: Query rows per torch or FAISS call: bounds the gathered copy of sampled rows (``knn_rows``) to 64 MB at
#: 1024 dims; a Ray search task takes a whole number of these blocks.
_QUERY_BLOCK = 16384

#: torch backend: query rows and document rows scored by one matrix product (256 MB of float32 scores).
#: Measured at 1M documents on 2 cores: 1024 x 65536 took 0.40-0.42x FAISS's time, 1024 x 32768 0.45x,
#: 256 x 8192 0.55x.
_TORCH_QUERY_TILE = 1024
_TORCH_DOC_TILE = 65536

#: A search backend's core: ``(block, docs, wanted) -> (scores, rows)``, each row's best ``wanted``,
#: scores non-increasing, ties in any order.
_Search = Callable[[NDArray[np.float32], NDArray[np.float32], int], tuple[NDArray[np.float32], NDArray[np.int64]]]


def exact_top_k(
    queries: NDArray[np.float32],
    docs: NDArray[np.float32],
    *,
    k: int,
    block_size: int = 256,
    exclude_self: bool = False,
    backend: str = "auto",
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    r"""Exact cosine top-``k`` documents of every query.

    For each query row :math:`q_i` the documents are ranked by :math:`s_{ij} = q_i \cdot d_j`
    (the cosine, the rows being unit vectors) and the ``k`` best are returned, best first.

    Parameters
    ----------
    queries : ndarray of shape (n_queries, dim), float32
        L2-normalised query vectors.
    docs : ndarray of shape (n_docs, dim), float32
        L2-normalised document vectors (the whole corpus, all domains together).
    k : int
        Number of neighbors, ``1 <= k <= n_docs`` (``n_docs - 1`` with ``exclude_self``).
    block_size : int, default=256
        numpy backend: queries per matrix product; bounds the temporary memory to
        ``block_size * n_docs`` floats.
    exclude_self : bool, default=False
        Document kNN: ``queries`` are the documents themselves (same shape) and row ``i`` never
        returns column ``i``.
    backend : {"auto", "torch", "faiss", "numpy"}, default="auto"
        ``"auto"`` uses torch when it is installed, else FAISS when ``faiss-cpu`` is, else numpy.
        All give the same neighbors (up to float rounding of near-equal scores).

    Returns
    -------
    indices : ndarray of shape (n_queries, k), int64
        Document row indices, by decreasing score; ties by increasing row index.
    scores : ndarray of shape (n_queries, k), float32
        The matching cosine similarities, non-increasing along each row.

    Raises
    ------
    InputError
        Inputs that are not 2-D finite unit-norm float matrices of the same width, ``k`` out of
        range (larger than the corpus), a bad ``block_size``, ``exclude_self`` with shapes that
        differ, or an unknown ``backend`` (or ``"faiss"`` when it is not installed).

    Notes
    -----
    numpy backend: per block, one matrix product; per row, ``np.partition`` finds the ``k``-th largest score
    :math:`t` in linear time, every column with a score :math:`\ge t` is a candidate (so a tie at
    the boundary keeps all its members), and the candidates are sorted by (score descending,
    index ascending) and cut at ``k``. The per-row partition works inside the cache and is several
    times faster than one ``np.argpartition`` over the whole block.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.eye(3, dtype=np.float32)
    >>> idx, sim = exact_top_k(v[:1], v, k=2)
    >>> idx.tolist(), sim.tolist()
    ([[0, 1]], [[1.0, 0.0]])
    """
    q = _check_matrix(queries, "queries")
    d = _check_matrix(docs, "docs")
    if q.shape[1] != d.shape[1]:
        raise InputError(
            f"queries have {q.shape[1]} dimensions but docs have {d.shape[1]}; "
            "both must come from the same model (pass the query and document vectors of one model)"
        )
    if exclude_self and q.shape != d.shape:
        raise InputError(
            f"exclude_self=True needs the queries to be the documents themselves, but queries have "
            f"shape {q.shape} and docs {d.shape}; pass the same matrix twice, or exclude_self=False"
        )
    k = _check_k_for_corpus(k, d.shape[0], exclude_self=exclude_self)
    block = _check_block_size(block_size)
    search = _searcher(backend, d)
    self_columns = np.arange(q.shape[0], dtype=np.int64) if exclude_self else None
    if search is not None:
        return _candidate_top_k(search, q, None, d, k=k, block_size=block, self_columns=self_columns)
    return _blocked_top_k(q, None, d, k=k, block_size=block, self_columns=self_columns)


def knn_rows(
    vectors: NDArray[np.float32],
    rows: ArrayLike,
    *,
    k: int,
    block_size: int = 256,
    backend: str = "auto",
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Exact cosine kNN of some rows of a matrix against all of its rows, each row's self excluded.

    Used for the neighborhood statistics of a stratified sample of documents when the all-pairs
    kNN of a large corpus would cost too much: the neighbors are still exact, searched in the
    whole corpus.

    Parameters
    ----------
    vectors : ndarray of shape (n, dim), float32
        L2-normalised vectors (the corpus).
    rows : array-like of int, shape (m,)
        Row indices into ``vectors`` whose neighbors are wanted (a boolean mask is not accepted:
        pass ``np.flatnonzero(mask)``).
    k : int
        Number of neighbors, ``1 <= k <= n - 1``.
    block_size : int, default=256
        numpy backend: rows per matrix product.
    backend : {"auto", "torch", "faiss", "numpy"}, default="auto"
        As :func:`exact_top_k`.

    Returns
    -------
    indices : ndarray of shape (m, k), int64
        Row indices into ``vectors`` of the neighbors of ``vectors[rows[i]]``, best first, never
        ``rows[i]`` itself; ties by increasing row index.
    scores : ndarray of shape (m, k), float32
        The matching cosine similarities.

    Raises
    ------
    InputError
        As :func:`exact_top_k`, and for ``rows`` that are not integers within ``[0, n)``.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.eye(3, dtype=np.float32)
    >>> knn_rows(v, [2], k=1)[0].tolist()
    [[0]]
    """
    v = _check_matrix(vectors, "vectors")
    idx = _check_rows(rows, v.shape[0])
    k = _check_k_for_corpus(k, v.shape[0], exclude_self=True)
    block = _check_block_size(block_size)
    search = _searcher(backend, v)
    if search is not None:
        return _candidate_top_k(search, v, idx, v, k=k, block_size=block, self_columns=idx)
    return _blocked_top_k(v, idx, v, k=k, block_size=block, self_columns=idx)


def faiss_available() -> bool:
    """Whether ``faiss-cpu`` imports here (``backend="auto"`` uses it for a corpus under ``TORCH_MIN_BYTES``)."""
    return _faiss_module() is not None


def auto_backend(n_docs: int, dim: int) -> str:
    """The backend ``backend="auto"`` picks here for ``n_docs`` float32 documents of ``dim`` dimensions:
    ``"torch"`` from ``TORCH_MIN_BYTES`` on (or when FAISS is missing), else ``"faiss"``, else ``"numpy"``.
    Checking for torch does not import it."""
    has_torch, has_faiss = _torch_available(), _faiss_module() is not None
    if has_torch and (n_docs * dim * 4 >= TORCH_MIN_BYTES or not has_faiss):
        return "torch"
    return "faiss" if has_faiss else "numpy"


def search_threads() -> int:
    """Threads a search uses here: torch's (when installed; FAISS's OpenMP threads default to the same number of
    cores), else FAISS's, else the CPU count (numpy's BLAS)."""
    if _torch_available():
        return int(_torch_module().get_num_threads())
    faiss = _faiss_module()
    if faiss is not None:
        return int(faiss.omp_get_max_threads())
    return os.cpu_count() or 1


def set_search_threads(threads: int) -> None:
    """Make torch's and FAISS's searches in this process use ``threads`` threads (a Ray task's CPUs)."""
    if _torch_available():
        _torch_module().set_num_threads(threads)
    faiss = _faiss_module()
    if faiss is not None:
        faiss.omp_set_num_threads(threads)


# ---------------------------------------------------------------------------------------------------


def _blocked_top_k(
    queries: NDArray[np.float32],
    query_rows: NDArray[np.int64] | None,
    docs: NDArray[np.float32],
    *,
    k: int,
    block_size: int,
    self_columns: NDArray[np.int64] | None,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The search itself, on validated inputs; ``query_rows`` selects rows of ``queries``."""
    n_queries = queries.shape[0] if query_rows is None else query_rows.shape[0]
    out_idx = np.empty((n_queries, k), dtype=np.int64)
    out_sim = np.empty((n_queries, k), dtype=np.float32)
    docs_t = docs.T
    for start in range(0, n_queries, block_size):
        stop = min(start + block_size, n_queries)
        block = queries[start:stop] if query_rows is None else queries[query_rows[start:stop]]
        sims = block @ docs_t
        if self_columns is not None:
            sims[np.arange(stop - start), self_columns[start:stop]] = -np.inf
        _select_top_k(sims, k, out_idx[start:stop], out_sim[start:stop])
        del sims  # free this block before the next product allocates its own
    return out_idx, out_sim


def _candidate_top_k(
    search: _Search,
    queries: NDArray[np.float32],
    query_rows: NDArray[np.int64] | None,
    docs: NDArray[np.float32],
    *,
    k: int,
    block_size: int,
    self_columns: NDArray[np.int64] | None,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """:func:`_blocked_top_k`'s answer from torch's or FAISS's ``search``, ties re-ordered and checked
    (module docstring)."""
    n_queries = queries.shape[0] if query_rows is None else query_rows.shape[0]
    n_docs = docs.shape[0]
    wanted = min(k + TIE_MARGIN + (self_columns is not None), n_docs)
    out_idx = np.empty((n_queries, k), dtype=np.int64)
    out_sim = np.empty((n_queries, k), dtype=np.float32)
    for start in range(0, n_queries, _QUERY_BLOCK):
        stop = min(start + _QUERY_BLOCK, n_queries)
        block = queries[start:stop] if query_rows is None else queries[query_rows[start:stop]]
        sim, idx = search(block, docs, wanted)
        # Anything the search did not return scores at most the lowest score it did return.
        floor = sim[:, -1].copy()
        if self_columns is not None:
            sim[idx == self_columns[start:stop, None]] = -np.inf
        order = np.lexsort((idx, -sim), axis=-1)[:, :k]
        out_idx[start:stop] = np.take_along_axis(idx, order, axis=1)
        out_sim[start:stop] = np.take_along_axis(sim, order, axis=1)
        # Complete when every document scoring the k-th score was returned: all of a row's
        # corpus was, or the k-th score is above the floor of what the search left out.
        unsure = np.flatnonzero(out_sim[start:stop, -1] <= floor) if wanted < n_docs else np.empty(0, np.int64)
        if unsure.size:
            rows = start + unsure
            again = _blocked_top_k(
                queries,
                rows if query_rows is None else query_rows[rows],
                docs,
                k=k,
                block_size=_rerun_rows(block_size, n_docs),
                self_columns=None if self_columns is None else self_columns[rows],
            )
            out_idx[rows], out_sim[rows] = again
    return out_idx, out_sim


def search_memory_bytes(rows: int, n_docs: int, dim: int, k: int) -> int:
    """Working memory of one torch or FAISS search of ``rows`` query rows beside its inputs (a Ray search task
    declares it): one tile of scores and ``torch.topk``'s copy of it, the numpy re-search's block of an unsure
    row's scores, and per row the gathered vector and the candidates."""
    tile = min(rows, _TORCH_QUERY_TILE) * min(n_docs, _TORCH_DOC_TILE) * 4
    rerun = min(rows, _rerun_rows(256, n_docs)) * n_docs * 4
    return 2 * tile + rerun + rows * (dim * 4 + 4 * (k + TIE_MARGIN + 1) * 12)


def _rerun_rows(block_size: int, n_docs: int) -> int:
    """Rows per product when unsure rows are searched again with numpy: ``block_size``, fewer when that block's
    scores would exceed one torch tile's (256 MB), so a large corpus does not need ``block_size x n_docs``."""
    return max(1, min(block_size, _TORCH_QUERY_TILE * _TORCH_DOC_TILE // n_docs))


def _faiss_search(
    block: NDArray[np.float32], docs: NDArray[np.float32], wanted: int
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    faiss = _faiss_module()
    sim, idx = faiss.knn(block, docs, wanted, metric=faiss.METRIC_INNER_PRODUCT)
    return sim, idx


def _torch_search(
    block: NDArray[np.float32], docs: NDArray[np.float32], wanted: int
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Each row's best ``wanted`` by tiles: a tile's ``wanted`` best are kept, then the kept are merged.

    Exact: a document a tile leaves out scores at most that tile's ``wanted``-th best, and the tile's
    ``wanted`` kept all take part in the merge, so it scores at most the merged ``wanted``-th best too.
    """
    torch = _torch_module()
    n_docs = docs.shape[0]
    out_sim = np.empty((block.shape[0], wanted), dtype=np.float32)
    out_idx = np.empty((block.shape[0], wanted), dtype=np.int64)
    with warnings.catch_warnings():
        # A memory-mapped corpus is read-only; torch warns that writing through the tensor would
        # fail, and nothing here writes to it.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        q_all, d_all = torch.from_numpy(block), torch.from_numpy(docs)
    with torch.inference_mode():
        for q0 in range(0, block.shape[0], _TORCH_QUERY_TILE):
            q = q_all[q0 : q0 + _TORCH_QUERY_TILE]
            best = torch.empty((q.shape[0], 0), dtype=torch.float32)
            cols = torch.empty((q.shape[0], 0), dtype=torch.int64)
            for d0 in range(0, n_docs, _TORCH_DOC_TILE):
                scores = q @ d_all[d0 : d0 + _TORCH_DOC_TILE].T
                value, col = torch.topk(scores, min(wanted, scores.shape[1]), dim=1, sorted=False)
                del scores  # free this tile before the next product allocates its own
                # Merged tile by tile, so the kept candidates stay (rows, 2 * wanted) at any corpus size.
                value, col = torch.cat((best, value), dim=1), torch.cat((cols, col + d0), dim=1)
                best, where = torch.topk(value, min(wanted, value.shape[1]), dim=1, sorted=False)
                cols = torch.gather(col, 1, where)
            best, where = torch.sort(best, dim=1, descending=True)
            out_sim[q0 : q0 + q.shape[0]] = best.numpy()
            out_idx[q0 : q0 + q.shape[0]] = torch.gather(cols, 1, where).numpy()
    return out_sim, out_idx


def _select_top_k(sims: NDArray[np.float32], k: int, out_idx: NDArray[np.int64], out_sim: NDArray[np.float32]) -> None:
    """Write the top ``k`` of every row of ``sims`` into ``out_idx`` / ``out_sim`` (views)."""
    kth = sims.shape[1] - k
    for r, row in enumerate(sims):
        threshold = np.partition(row, kth)[kth]
        candidates = np.flatnonzero(row >= threshold)
        cand_scores = row[candidates]
        order = np.lexsort((candidates, -cand_scores))[:k]
        out_idx[r] = candidates[order]
        out_sim[r] = cand_scores[order]


def _check_matrix(x: object, name: str) -> NDArray[np.float32]:
    """A 2-D finite float matrix with unit-norm rows, as float32 (no copy when it already is)."""
    if not isinstance(x, np.ndarray):
        raise InputError(
            f"{name} must be a numpy array of shape (n, dim); got {type(x).__name__}; "
            "pass np.asarray(..., dtype=np.float32)"
        )
    if x.ndim != 2:
        raise InputError(f"{name} must be 2-D, shape (n, dim); got shape {x.shape}; reshape it to (n, dim)")
    if not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"{name} must hold floating-point vectors; got dtype {x.dtype}; pass float32 embeddings")
    if x.shape[1] == 0:
        raise InputError(f"{name} has 0 dimensions (shape {x.shape}); pass the embedding vectors")
    m = np.ascontiguousarray(x, dtype=np.float32)
    check_unit_rows(m, name)
    return m


def _check_k_for_corpus(k: object, n_docs: int, *, exclude_self: bool) -> int:
    """``k`` must be a positive whole number no larger than the searchable corpus."""
    value = check_whole(k, name="k", low=1, hint="the number of neighbors wanted", strict=True)
    available = n_docs - 1 if exclude_self else n_docs
    if value > available:
        what = f"{n_docs} documents" + (" minus the item itself" if exclude_self else "")
        raise InputError(
            f"k={value} is larger than the corpus: only {available} neighbors exist ({what}); pass k <= {available}"
        )
    return value


def _check_block_size(block_size: object) -> int:
    if isinstance(block_size, bool) or not isinstance(block_size, int | np.integer) or block_size < 1:
        raise InputError(
            f"block_size must be a positive whole number of query rows per block; got {block_size!r}; "
            "the default 256 suits most machines"
        )
    return int(block_size)


def _check_rows(rows: ArrayLike, n: int) -> NDArray[np.int64]:
    arr = np.asarray(rows)
    if arr.ndim != 1:
        raise InputError(f"rows must be a 1-D array of row indices; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InputError(
            f"rows must hold integer row indices; got dtype {arr.dtype}; for a boolean mask pass np.flatnonzero(mask)"
        )
    idx = arr.astype(np.int64, copy=False)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx[(idx < 0) | (idx >= n)][0])
        raise InputError(f"rows must be indices in [0, {n}) (the vectors have {n} rows); found {bad}")
    return idx


def _faiss_module() -> Any:
    """The ``faiss`` module, or None when ``faiss-cpu`` is not installed."""
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _torch_available() -> bool:
    """Whether torch is installed (found without importing it: the import alone takes ~0.2 GB)."""
    return find_spec("torch") is not None


def _torch_module() -> Any:
    """The ``torch`` module, imported on first use (:func:`_torch_available` said it is installed)."""
    import torch

    return torch


def _searcher(backend: object, docs: NDArray[np.float32]) -> _Search | None:
    """The core search of ``backend`` for ``docs`` (None: the numpy blocks), after checking it exists here."""
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend == "auto":
        backend = auto_backend(docs.shape[0], docs.shape[1])
    if backend == "torch":
        if not _torch_available():
            raise InputError(
                "backend='torch' needs torch, which is not installed here; pip install torch, "
                "or pass backend='numpy' (same answer, slower)"
            )
        return _torch_search
    if backend == "faiss":
        if _faiss_module() is None:
            raise InputError(
                "backend='faiss' needs faiss-cpu, which is not installed here; pip install faiss-cpu, "
                "or pass backend='numpy' (same answer, slower)"
            )
        return _faiss_search
    return None
