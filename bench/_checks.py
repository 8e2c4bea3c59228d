"""Neighbor-set comparison up to ties, and the FAISS flat reference search."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

TIE_TOLERANCE = 1e-5


def faiss_top_k(
    queries: NDArray[np.float32], docs: NDArray[np.float32], k: int
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Exact inner-product top-k with ``faiss.IndexFlatIP`` (index build included)."""
    import faiss

    index = faiss.IndexFlatIP(docs.shape[1])
    index.add(np.ascontiguousarray(docs))
    sim, idx = index.search(np.ascontiguousarray(queries), k)
    return idx.astype(np.int64), sim


def faiss_knn_rows(
    vectors: NDArray[np.float32], rows: NDArray[np.int64], k: int
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Document kNN of ``rows`` against all rows, self excluded (search k+1, drop self or the last)."""
    idx, sim = faiss_top_k(vectors[rows], vectors, k + 1)
    out_i = np.empty((len(rows), k), dtype=np.int64)
    out_s = np.empty((len(rows), k), dtype=np.float32)
    for r in range(len(rows)):
        keep = idx[r] != rows[r]
        if keep.all():
            keep[-1] = False
        out_i[r], out_s[r] = idx[r][keep], sim[r][keep]
    return out_i, out_s


def differ_beyond_ties(
    ours: NDArray[np.int64],
    ref: NDArray[np.int64],
    queries: NDArray[np.float32],
    docs: NDArray[np.float32],
    ref_scores: NDArray[np.float32],
) -> tuple[int, int]:
    """Rows whose neighbor sets differ at all, and rows that differ beyond ties.

    A differing row is explained by ties when every document in the symmetric difference of the two
    sets scores (recomputed in float32) within ``TIE_TOLERANCE`` of the k-th reference score."""
    a = np.sort(ours, axis=1)
    b = np.sort(ref, axis=1)
    rows = np.flatnonzero((a != b).any(axis=1))
    beyond = 0
    for r in rows:
        diff = np.setxor1d(ours[r], ref[r])
        scores = docs[diff] @ queries[r]
        if np.abs(scores - ref_scores[r, -1]).max() > TIE_TOLERANCE:
            beyond += 1
    return int(len(rows)), beyond
