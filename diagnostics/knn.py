"""Exact cosine k-nearest neighbors: tiled matrix products with a running threshold; FAISS or per-row numpy on request.

Every similarity in embdiff is the cosine of L2-normalised float32 vectors, i.e. their dot product.
The search is exact (brute force): an approximate index would miss neighbors, and its misses would
look like change between the base and the tuned model.

Three backends compute the same answer:

* ``"tiles"`` (the default): one matrix product scores a tile of ``1024`` query rows by ``16384``
  documents (64 MB of float32 scores, numpy's BLAS on every core). Each query row keeps its best
  ``k + TIE_MARGIN`` so far (one more with ``exclude_self``); their lowest score is the row's
  threshold, and of each further tile only the scores above it are gathered and merged (a row where
  many pass is partitioned whole). After the first tiles few scores pass, so the product is most of
  the cost. The top-100 of 2,000 queries
  among 400k documents took 2.6 s on 2 cores, FAISS's flat search 8.5 s (``python -m
  bench.throughput``): FAISS pushes every score through its top-k heap.
* ``"faiss"`` runs ``faiss.knn`` (the exhaustive inner-product search behind ``IndexFlatIP``,
  without copying the corpus into an index); the engine's default until 2026-12-07.
* ``"numpy"`` is one matrix product per block of ``block_size`` query rows and one partition per
  row; its largest temporary is one ``(block_size, n_docs)`` float32 block (100 MB for 256 queries
  against 100k documents). It also searches again the rows whose tie is unresolved (below).

None makes an ``(n_queries, n_docs)`` matrix, a float64 copy or a copy of the corpus.

Ties are broken deterministically in all three: a higher score first, then the lower document row
index. The tiles and FAISS keep ties in any order, so they are asked for ``k + TIE_MARGIN``
neighbors, which are sorted by (score, row); a row whose tie at the k-th score may continue past
what was returned is searched again with ``"numpy"``. Queries are searched in blocks of ``16384``
rows, the unit a Ray search task repeats (``diagnostics.distributed``), so each product is the one
a local run computes and a row's scores do not depend on where it is searched.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from diagnostics._validation import NORM_TOLERANCE, InputError, check_unit_rows, check_whole  # noqa: F401 (NORM_TOLERANCE: re-exported)

__all__ = [
    "BACKENDS",
    "exact_top_k",
    "faiss_available",
    "knn_rows",
    "search_memory_bytes",
    "search_threads",
    "set_search_threads",
]

#: ``backend=`` values: ``"auto"`` is ``"tiles"``.
BACKENDS = ("auto", "tiles", "faiss", "numpy")

#: Extra neighbors asked of the tiles and FAISS so that a tie at the k-th score is usually seen whole.
TIE_MARGIN = 8

#: Query rows per tiles or FAISS call: bounds the gathered copy of sampled rows (``knn_rows``) to 64 MB at
#: 1024 dims; a Ray search task takes a whole number of these blocks.
_QUERY_BLOCK = 16384

#: ``"tiles"``: query rows and documents scored by one matrix product (64 MB of float32 scores).
_TILE_QUERIES = 1024
_TILE_DOCS = 16384

#: ``"tiles"``: rows of a tile whose whole row is partitioned at once (a tile's first, or one where many scores pass
#: the threshold): bounds the partition's int64 indices to 16 MB.
_DENSE_ROWS = 128

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
    backend : {"auto", "tiles", "faiss", "numpy"}, default="auto"
        ``"auto"`` is ``"tiles"``. All give the same neighbors (up to float rounding of near-equal
        scores); ``"faiss"`` needs ``faiss-cpu``.

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
    search = _searcher(backend)
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
    backend : {"auto", "tiles", "faiss", "numpy"}, default="auto"
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
    search = _searcher(backend)
    if search is not None:
        return _candidate_top_k(search, v, idx, v, k=k, block_size=block, self_columns=idx)
    return _blocked_top_k(v, idx, v, k=k, block_size=block, self_columns=idx)


def faiss_available() -> bool:
    """Whether ``faiss-cpu`` imports here (``backend="faiss"`` needs it)."""
    return _faiss_module() is not None


def search_threads() -> int:
    """Threads the default search uses here: those of numpy's own BLAS (the CPU count when it cannot be asked)."""
    from threadpoolctl import threadpool_info

    blas = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    mine = [info for info in blas if "numpy" in str(info.get("filepath", ""))] or blas
    return int(mine[0]["num_threads"]) if mine else (os.cpu_count() or 1)


def set_search_threads(threads: int) -> None:
    """Make FAISS's searches in this process use ``threads`` threads, when FAISS is loaded (a Ray task's CPUs; the
    task limits numpy's BLAS with ``threadpoolctl``)."""
    if "faiss" in sys.modules:
        sys.modules["faiss"].omp_set_num_threads(threads)


def search_memory_bytes(rows: int, n_docs: int, dim: int, k: int) -> int:
    """Working memory of one search of ``rows`` query rows beside its inputs (a Ray search task declares it): a tile
    of scores and its comparison, the partition of a tile's rows, the numpy re-search's block of an unsure row's
    scores, and per row the gathered vector and the candidates."""
    tile = min(rows, _TILE_QUERIES) * min(n_docs, _TILE_DOCS)
    rerun = min(rows, _rerun_rows(256, n_docs)) * n_docs * 4
    return 5 * tile + _DENSE_ROWS * _TILE_DOCS * 8 + rerun + rows * (dim * 4 + 4 * (k + TIE_MARGIN + 1) * 12)


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
    """:func:`_blocked_top_k`'s answer from the tiles' or FAISS's ``search``, ties re-ordered and checked
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


def _rerun_rows(block_size: int, n_docs: int) -> int:
    """Rows per product when unsure rows are searched again with numpy: ``block_size``, fewer when that block's
    scores would exceed 64 MB (one tile's), so a large corpus does not need ``block_size x n_docs`` floats."""
    return max(1, min(block_size, _TILE_QUERIES * _TILE_DOCS // n_docs))


def _faiss_search(
    block: NDArray[np.float32], docs: NDArray[np.float32], wanted: int
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    faiss = _faiss_module()
    sim, idx = faiss.knn(block, docs, wanted, metric=faiss.METRIC_INNER_PRODUCT)
    return sim, idx


def _tiled_search(
    block: NDArray[np.float32], docs: NDArray[np.float32], wanted: int
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Each row's best ``wanted`` (best first, ties in any order), tile by tile (module docstring).

    Exact: a score left out of a tile is at most its row's threshold then, the ``wanted``-th best of what the
    row has kept; the kept only improve, so it is at most the final ``wanted``-th best too.
    """
    n_docs = docs.shape[0]
    if np.may_share_memory(block, docs):
        # Rows of the corpus itself (exclude_self): numpy would compute a tile of it against itself as a symmetric
        # product (syrk), whose last bits differ from the general one a Ray task (given a copy) computes.
        block = block.copy()
    out_sim = np.empty((block.shape[0], wanted), dtype=np.float32)
    out_idx = np.empty((block.shape[0], wanted), dtype=np.int64)
    scores = np.empty((min(block.shape[0], _TILE_QUERIES), min(n_docs, _TILE_DOCS)), dtype=np.float32)
    for q0 in range(0, block.shape[0], _TILE_QUERIES):
        q = block[q0 : q0 + _TILE_QUERIES]
        best = np.full((q.shape[0], wanted), -np.inf, dtype=np.float32)  # placeholders, replaced by the first tiles
        rows = np.zeros((q.shape[0], wanted), dtype=np.int64)
        for d0 in range(0, n_docs, _TILE_DOCS):
            d = docs[d0 : d0 + _TILE_DOCS]
            tile = scores[: q.shape[0], : d.shape[0]]
            np.matmul(q, d.T, out=tile)
            best, rows = _merge_tile(best, rows, tile, d0)
        order = np.argsort(-best, axis=1, kind="stable")
        out_sim[q0 : q0 + q.shape[0]] = np.take_along_axis(best, order, axis=1)
        out_idx[q0 : q0 + q.shape[0]] = np.take_along_axis(rows, order, axis=1)
    return out_sim, out_idx


def _merge_tile(
    best: NDArray[np.float32], rows: NDArray[np.int64], tile: NDArray[np.float32], d0: int
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """``best`` / ``rows`` (each query row's kept scores and document rows) merged with the scores of ``tile``
    (documents ``d0``...) that beat the row's threshold, the lowest kept score.

    A row where more than ``wanted`` scores pass (every row of a first tile) has its own best ``wanted`` taken
    by a partition of its scores, ``_DENSE_ROWS`` rows at a time; the others' few passing scores are gathered.
    Nothing the size of the tile is made but the comparison (one byte per score).
    """
    n, width = tile.shape
    wanted = best.shape[1]
    if width <= wanted:  # a tile narrower than what is kept: all of it takes part
        new = tile.copy()
        new_rows = np.broadcast_to(np.arange(d0, d0 + width, dtype=np.int64), tile.shape)
    else:
        beats = tile > best.min(axis=1)[:, None]
        count = np.count_nonzero(beats, axis=1)
        if not count.any():
            return best, rows
        new = np.full((n, wanted), -np.inf, dtype=np.float32)
        new_rows = np.zeros((n, wanted), dtype=np.int64)
        heavy = np.flatnonzero(count > wanted)
        for c0 in range(0, heavy.size, _DENSE_ROWS):
            some = heavy[c0 : c0 + _DENSE_ROWS]
            scores = tile[some]
            part = np.argpartition(scores, width - wanted, axis=1)[:, width - wanted :]
            new[some] = np.take_along_axis(scores, part, axis=1)
            new_rows[some] = part + d0
        beats[heavy] = False  # the rest: at most ``wanted`` passing scores per row, gathered
        count[heavy] = 0
        passed = np.flatnonzero(beats)
        row_of = passed // width
        col = passed - row_of * width
        slot = np.arange(passed.size) - (np.cumsum(count) - count)[row_of]
        new[row_of, slot] = tile[row_of, col]
        new_rows[row_of, slot] = col + d0
    both = np.concatenate((best, new), axis=1)
    both_rows = np.concatenate((rows, new_rows), axis=1)
    keep = np.argpartition(both, both.shape[1] - wanted, axis=1)[:, both.shape[1] - wanted :]
    return np.take_along_axis(both, keep, axis=1), np.take_along_axis(both_rows, keep, axis=1)


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


def _searcher(backend: object) -> _Search | None:
    """The core search of ``backend`` (None: the numpy blocks), after checking it exists here."""
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend in ("auto", "tiles"):
        return _tiled_search
    if backend == "faiss":
        if _faiss_module() is None:
            raise InputError(
                "backend='faiss' needs faiss-cpu, which is not installed here; pip install faiss-cpu, "
                "or pass backend='auto' (same answer)"
            )
        return _faiss_search
    return None
