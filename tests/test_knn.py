"""Exact cosine kNN: brute-force equality (ties included), self exclusion, memory, input errors."""

from __future__ import annotations

import doctest
import tracemalloc

import numpy as np
import pytest

import diagnostics.knn
from diagnostics._validation import InputError
from diagnostics.knn import exact_top_k, knn_rows


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _tied(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit vectors with entries +-1/4 in 16 dims: every dot product is an exact multiple of 1/16,
    so there are many exact ties and no rounding can reorder them."""
    return (rng.choice([-0.25, 0.25], size=(n, 16))).astype(np.float32)


def _brute_force(queries: np.ndarray, docs: np.ndarray, k: int, exclude_self: bool = False):
    sims = queries.astype(np.float64) @ docs.astype(np.float64).T
    if exclude_self:
        np.fill_diagonal(sims, -np.inf)
    cols = np.arange(docs.shape[0])
    idx = np.array([np.lexsort((cols, -row))[:k] for row in sims], dtype=np.int64).reshape(len(sims), k)
    return idx, np.take_along_axis(sims, idx, axis=1)


@pytest.fixture(params=["tiles", "faiss", "numpy"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every backend must give the brute-force answer; faiss-cpu is a dependency, so all run."""
    return str(request.param)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(diagnostics.knn)
    assert result.attempted > 0 and result.failed == 0


def test_hand_computed_toy_case(backend: str) -> None:
    docs = np.array([[1, 0], [0, 1], [0.6, 0.8], [-1, 0]], dtype=np.float32)
    query = np.array([[0.8, 0.6]], dtype=np.float32)
    # cosines: 0.8, 0.6, 0.96, -0.8
    idx, sim = exact_top_k(query, docs, k=3, backend=backend)
    assert idx.tolist() == [[2, 0, 1]]
    np.testing.assert_allclose(sim, [[0.96, 0.8, 0.6]], rtol=1e-6)
    assert idx.dtype == np.int64 and sim.dtype == np.float32


@pytest.mark.parametrize("block_size", [1, 7, 256])
def test_equals_brute_force_with_exact_ties(block_size: int, backend: str) -> None:
    rng = np.random.default_rng(0)
    docs = _tied(rng, 300)
    queries = _tied(rng, 40)
    idx, sim = exact_top_k(queries, docs, k=50, block_size=block_size, backend=backend)
    ref_idx, ref_sim = _brute_force(queries, docs, 50)
    assert (ref_sim[:, :-1] == ref_sim[:, 1:]).any(), "the data must contain ties to test tie-breaking"
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sim, ref_sim.astype(np.float32))


def test_ties_prefer_the_lower_document_index(backend: str) -> None:
    docs = np.array([[0, 1], [1, 0], [1, 0], [0, 1], [1, 0]], dtype=np.float32)
    idx, sim = exact_top_k(np.array([[1, 0]], dtype=np.float32), docs, k=2, backend=backend)
    assert idx.tolist() == [[1, 2]]
    assert sim.tolist() == [[1.0, 1.0]]


def test_equals_brute_force_on_random_vectors(backend: str) -> None:
    rng = np.random.default_rng(1)
    docs, queries = _unit(rng, 1000, 32), _unit(rng, 70, 32)
    idx, sim = exact_top_k(queries, docs, k=100, block_size=32, backend=backend)
    ref_idx, ref_sim = _brute_force(queries, docs, 100)
    np.testing.assert_allclose(sim, ref_sim, atol=1e-6)
    # float32 products may swap two documents whose exact cosines differ by less than float32 precision
    exact = queries.astype(np.float64) @ docs.astype(np.float64).T
    differ = idx != ref_idx
    assert differ.mean() < 0.01
    rows = np.nonzero(differ)[0]
    np.testing.assert_allclose(exact[rows, idx[differ]], exact[rows, ref_idx[differ]], atol=1e-6)
    assert (np.diff(sim, axis=1) <= 0).all()


def test_k_equal_to_the_corpus_returns_every_document(backend: str) -> None:
    rng = np.random.default_rng(2)
    docs, queries = _unit(rng, 20, 8), _unit(rng, 3, 8)
    idx, _ = exact_top_k(queries, docs, k=20, backend=backend)
    np.testing.assert_array_equal(np.sort(idx, axis=1), np.tile(np.arange(20), (3, 1)))


def test_exclude_self_equals_brute_force_and_never_returns_self(backend: str) -> None:
    rng = np.random.default_rng(3)
    docs = _tied(rng, 200)
    idx, sim = exact_top_k(docs, docs, k=30, block_size=64, exclude_self=True, backend=backend)
    ref_idx, ref_sim = _brute_force(docs, docs, 30, exclude_self=True)
    np.testing.assert_array_equal(idx, ref_idx)
    assert not (idx == np.arange(200)[:, None]).any()
    # the self-match (cosine 1) would otherwise be first in every row
    plain, _ = exact_top_k(docs, docs, k=1, backend=backend)
    assert (plain[:, 0] == np.arange(200)).mean() > 0.5


def test_exclude_self_allows_k_up_to_n_minus_one(backend: str) -> None:
    rng = np.random.default_rng(4)
    docs = _unit(rng, 6, 4)
    idx, _ = exact_top_k(docs, docs, k=5, exclude_self=True, backend=backend)
    for i, row in enumerate(idx):
        assert sorted(row.tolist()) == [j for j in range(6) if j != i]


def test_knn_rows_equals_the_matching_rows_of_the_full_document_knn(backend: str) -> None:
    rng = np.random.default_rng(5)
    vectors = _tied(rng, 150)
    full_idx, full_sim = exact_top_k(vectors, vectors, k=10, exclude_self=True, backend=backend)
    rows = np.array([149, 0, 17, 17, 88])
    idx, sim = knn_rows(vectors, rows, k=10, block_size=2, backend=backend)
    np.testing.assert_array_equal(idx, full_idx[rows])
    np.testing.assert_array_equal(sim, full_sim[rows])
    assert not (idx == rows[:, None]).any()


def test_knn_rows_with_no_rows(backend: str) -> None:
    rng = np.random.default_rng(6)
    idx, sim = knn_rows(_unit(rng, 5, 3), [], k=2, backend=backend)
    assert idx.shape == (0, 2) and sim.shape == (0, 2)


def test_no_queries_gives_empty_results(backend: str) -> None:
    rng = np.random.default_rng(7)
    idx, sim = exact_top_k(np.zeros((0, 3), np.float32), _unit(rng, 4, 3), k=2, backend=backend)
    assert idx.shape == (0, 2) and sim.shape == (0, 2)


def test_float64_input_gives_the_float32_result(backend: str) -> None:
    rng = np.random.default_rng(8)
    docs, queries = _tied(rng, 50), _tied(rng, 5)
    a = exact_top_k(queries, docs, k=5, backend=backend)
    b = exact_top_k(queries.astype(np.float64), docs.astype(np.float64), k=5, backend=backend)
    np.testing.assert_array_equal(a[0], b[0])
    assert b[1].dtype == np.float32


def test_ties_longer_than_the_faiss_margin_are_resolved_exactly(backend: str) -> None:
    # 40 identical documents (exact ties far beyond TIE_MARGIN) among others: the k best are the
    # duplicates with the lowest row indices, as in the numpy search
    rng = np.random.default_rng(10)
    docs = _unit(rng, 200, 8)
    dup_rows = np.sort(rng.choice(200, 40, replace=False))
    docs[dup_rows] = docs[dup_rows[0]]
    query = docs[dup_rows[:1]]
    idx, sim = exact_top_k(query, docs, k=diagnostics.knn.TIE_MARGIN + 3, backend=backend)
    assert idx.tolist() == [dup_rows[: diagnostics.knn.TIE_MARGIN + 3].tolist()]
    assert (sim == sim[0, 0]).all()
    idx, _ = knn_rows(docs, dup_rows[:2], k=diagnostics.knn.TIE_MARGIN + 3, backend=backend)
    assert idx[0].tolist() == dup_rows[1 : diagnostics.knn.TIE_MARGIN + 4].tolist()
    assert idx[1].tolist() == [dup_rows[0], *dup_rows[2 : diagnostics.knn.TIE_MARGIN + 4]]


def test_auto_is_the_tiles_and_agrees_with_faiss_and_numpy() -> None:
    assert diagnostics.knn._searcher("auto") is diagnostics.knn._tiled_search
    rng = np.random.default_rng(11)
    docs, queries = _unit(rng, 3000, 48), _unit(rng, 300, 48)
    auto = exact_top_k(queries, docs, k=100)
    tiles = exact_top_k(queries, docs, k=100, backend="tiles")
    faiss_ = exact_top_k(queries, docs, k=100, backend="faiss")
    numpy_ = exact_top_k(queries, docs, k=100, backend="numpy")
    np.testing.assert_array_equal(auto[0], tiles[0])
    np.testing.assert_array_equal(auto[1], tiles[1])
    for other in (faiss_, numpy_):
        np.testing.assert_allclose(tiles[1], other[1], atol=1e-6)
        assert (tiles[0] != other[0]).mean() < 0.001  # only float32 near-ties may swap


@pytest.mark.parametrize("exclude_self", [False, True])
@pytest.mark.parametrize(("tile_docs", "dense_rows"), [(7, 2), (32, 1), (32, 2), (32, 128)])
def test_tiles_ties_across_tiles_equal_the_brute_force(
    monkeypatch: pytest.MonkeyPatch, exclude_self: bool, tile_docs: int, dense_rows: int
) -> None:
    # Tiles of 3 query rows by 7 or 32 documents. With 7, each tile is narrower than k + TIE_MARGIN and is kept
    # whole; with 32 and small k, a row's first tile is partitioned and later tiles pass a few scores (gathered)
    # or many (partitioned, dense_rows rows at a time). Ties of the k-th score span several tiles and the last
    # tile is partial; the answer is the brute force's.
    monkeypatch.setattr(diagnostics.knn, "_TILE_QUERIES", 3)
    monkeypatch.setattr(diagnostics.knn, "_TILE_DOCS", tile_docs)
    monkeypatch.setattr(diagnostics.knn, "_DENSE_ROWS", dense_rows)
    rng = np.random.default_rng(14)
    docs = _tied(rng, 130)
    queries = docs if exclude_self else _tied(rng, 20)
    for k in (1, 5, 12, 40):
        idx, sim = exact_top_k(queries, docs, k=k, exclude_self=exclude_self, backend="tiles")
        ref_idx, ref_sim = _brute_force(queries, docs, k, exclude_self=exclude_self)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(sim, ref_sim.astype(np.float32))


def test_tiles_partition_whole_rows_and_merge_the_few_that_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # Documents ordered from the least to the most similar to the query: every tile beats the kept scores (each is
    # partitioned whole); then the reverse order, where after the first tile almost nothing passes. Tiles of 64
    # documents, k = 10: both give the brute force's answer.
    monkeypatch.setattr(diagnostics.knn, "_TILE_DOCS", 64)
    rng = np.random.default_rng(17)
    docs = _unit(rng, 2000, 24)
    queries = _unit(rng, 4, 24)
    order = np.argsort(docs @ queries[0])
    for arranged in (docs[order], docs[order[::-1]]):
        idx, sim = exact_top_k(queries, arranged, k=10, backend="tiles")
        ref_idx, _ = _brute_force(queries, arranged, 10)
        np.testing.assert_array_equal(idx, ref_idx)


def test_memory_mapped_read_only_corpus_is_searched_in_place(tmp_path) -> None:
    rng = np.random.default_rng(16)
    docs, queries = _unit(rng, 500, 16), _unit(rng, 30, 16)
    np.save(tmp_path / "docs.npy", docs)
    mapped = np.load(tmp_path / "docs.npy", mmap_mode="r")
    for backend in ("tiles", "faiss", "numpy"):
        idx, sim = exact_top_k(queries, mapped, k=10, backend=backend)
        np.testing.assert_array_equal(idx, exact_top_k(queries, docs, k=10, backend=backend)[0])


@pytest.mark.parametrize("bad", ["gpu", "", None, 1])
def test_unknown_backend_is_an_input_error(bad: object) -> None:
    rng = np.random.default_rng(12)
    docs = _unit(rng, 5, 3)
    with pytest.raises(InputError, match=r"backend must be one of auto, tiles, faiss, numpy"):
        exact_top_k(docs, docs, k=2, backend=bad)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"backend must be one of"):
        knn_rows(docs, [0], k=2, backend=bad)  # type: ignore[arg-type]


def test_faiss_backend_without_faiss_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diagnostics.knn, "_faiss_module", lambda: None)
    rng = np.random.default_rng(13)
    docs = _unit(rng, 5, 3)
    with pytest.raises(InputError, match=r"pip install faiss-cpu, or pass backend='auto'"):
        exact_top_k(docs, docs, k=2, backend="faiss")
    assert not diagnostics.knn.faiss_available()
    idx, _ = exact_top_k(docs, docs, k=2)  # auto needs no FAISS
    assert idx.shape == (5, 2)


@pytest.mark.parametrize("mode", ["queries", "exclude_self", "knn_rows"])
def test_memory_stays_within_one_block(mode: str) -> None:
    # numpy backend (tracemalloc cannot see FAISS's C++ buffers; bench/run.py reports peak RSS)
    rng = np.random.default_rng(9)
    docs, queries = _unit(rng, 4000, 16), _unit(rng, 2000, 16)
    one_block = 128 * 4000 * 4  # 2 MB of float32; the full matrix would be 16x (queries) or 31x that
    tracemalloc.start()
    try:
        if mode == "queries":
            exact_top_k(queries, docs, k=10, block_size=128, backend="numpy")
        elif mode == "exclude_self":
            exact_top_k(docs, docs, k=10, block_size=128, exclude_self=True, backend="numpy")
        else:
            knn_rows(docs, np.arange(0, 4000, 2), k=10, block_size=128, backend="numpy")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # one block of similarities at a time (not two), plus the outputs and per-row temporaries
    assert peak < 1.5 * one_block, f"peak {peak / 1e6:.2f} MB"


@pytest.mark.parametrize("order", ["random", "rising"])
def test_tiles_hold_one_tile_of_scores_not_the_matrix(monkeypatch: pytest.MonkeyPatch, order: str) -> None:
    # Tiles of 128 queries x 1000 documents (0.5 MB of scores) over 2000 queries x 4000 documents (the whole
    # matrix would be 32 MB): the peak stays within a few tiles. "rising": the documents ordered by their score
    # for the first query, so every tile beats all that row has kept (a row partitioned whole in every tile).
    monkeypatch.setattr(diagnostics.knn, "_TILE_QUERIES", 128)
    monkeypatch.setattr(diagnostics.knn, "_TILE_DOCS", 1000)
    monkeypatch.setattr(diagnostics.knn, "_DENSE_ROWS", 32)
    rng = np.random.default_rng(18)
    docs, queries = _unit(rng, 4000, 16), _unit(rng, 2000, 16)
    if order == "rising":
        docs = np.ascontiguousarray(docs[np.argsort(docs @ queries[0])])
    one_tile = 128 * 1000 * 4
    tracemalloc.start()
    try:
        idx, _ = exact_top_k(queries, docs, k=10, backend="tiles")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(idx, exact_top_k(queries, docs, k=10, backend="numpy")[0])
    # the tile, its comparison mask and one partition's indices (32 rows x 1000 x 8 bytes), plus the outputs
    assert peak < 5 * one_tile, f"peak {peak / 1e6:.2f} MB"


# --- input errors ------------------------------------------------------------------------------------


def test_k_larger_than_the_corpus() -> None:
    rng = np.random.default_rng(10)
    docs = _unit(rng, 5, 3)
    with pytest.raises(InputError, match=r"k=6 is larger than the corpus: only 5 neighbors exist.*pass k <= 5"):
        exact_top_k(docs[:1], docs, k=6)
    with pytest.raises(InputError, match=r"k=5 is larger than the corpus: only 4 .*minus the item itself"):
        exact_top_k(docs, docs, k=5, exclude_self=True)
    with pytest.raises(InputError, match=r"k=5 is larger than the corpus"):
        knn_rows(docs, [0], k=5)


@pytest.mark.parametrize("k", [0, -3, 2.0, True, "3", None])
def test_k_must_be_a_positive_whole_number(k: object) -> None:
    docs = np.eye(4, dtype=np.float32)
    with pytest.raises(InputError, match=r"k must be a whole number of at least 1 \(the number of neighbors wanted\)"):
        exact_top_k(docs, docs, k=k)  # type: ignore[arg-type]


def test_numpy_integer_k_is_accepted() -> None:
    docs = np.eye(4, dtype=np.float32)
    idx, _ = exact_top_k(docs, docs, k=np.int64(2))  # type: ignore[arg-type]
    assert idx.shape == (4, 2)


def test_dimension_mismatch() -> None:
    with pytest.raises(InputError, match=r"queries have 3 dimensions but docs have 4.*same model"):
        exact_top_k(np.eye(3, dtype=np.float32), np.eye(4, dtype=np.float32), k=1)


def test_vectors_must_be_normalised() -> None:
    docs = np.eye(3, dtype=np.float32)
    docs[1] *= 2
    with pytest.raises(InputError, match=r"docs must be L2-normalised.*row 1 has norm 2.*normalize_embeddings=True"):
        exact_top_k(np.eye(3, dtype=np.float32), docs, k=1)
    zero = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(InputError, match=r"queries must be L2-normalised.*row 0 has norm 0.*all-zero"):
        exact_top_k(zero, np.eye(3, dtype=np.float32), k=1)


def test_non_finite_vectors() -> None:
    docs = np.eye(3, dtype=np.float32)
    docs[2, 0] = np.nan
    with pytest.raises(InputError, match=r"docs row 2 contains NaN or infinity"):
        exact_top_k(np.eye(3, dtype=np.float32), docs, k=1)


def test_wrong_kind_of_matrix() -> None:
    eye = np.eye(3, dtype=np.float32)
    with pytest.raises(InputError, match=r"queries must be a numpy array.*got list"):
        exact_top_k([[1.0, 0.0, 0.0]], eye, k=1)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"docs must be 2-D, shape \(n, dim\); got shape \(3,\)"):
        exact_top_k(eye, eye[0], k=1)
    with pytest.raises(InputError, match=r"docs must hold floating-point vectors; got dtype int64"):
        exact_top_k(eye, np.eye(3, dtype=np.int64), k=1)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"docs has 0 dimensions"):
        exact_top_k(np.zeros((1, 3), np.float32) + eye[0], np.zeros((3, 0), np.float32), k=1)


def test_exclude_self_needs_the_same_matrix_shape() -> None:
    eye = np.eye(4, dtype=np.float32)
    with pytest.raises(InputError, match=r"exclude_self=True needs the queries to be the documents"):
        exact_top_k(eye[:2], eye, k=1, exclude_self=True)


@pytest.mark.parametrize("block_size", [0, -1, 2.5, True])
def test_bad_block_size(block_size: object) -> None:
    eye = np.eye(3, dtype=np.float32)
    with pytest.raises(InputError, match=r"block_size must be a positive whole number"):
        exact_top_k(eye, eye, k=1, block_size=block_size)  # type: ignore[arg-type]


def test_bad_rows() -> None:
    eye = np.eye(4, dtype=np.float32)
    with pytest.raises(InputError, match=r"rows must be indices in \[0, 4\).*found 4"):
        knn_rows(eye, [1, 4], k=1)
    with pytest.raises(InputError, match=r"rows must be indices in \[0, 4\).*found -1"):
        knn_rows(eye, [-1], k=1)
    with pytest.raises(InputError, match=r"rows must hold integer row indices.*np.flatnonzero\(mask\)"):
        knn_rows(eye, np.array([True, False, True, False]), k=1)
    with pytest.raises(InputError, match=r"rows must be a 1-D array"):
        knn_rows(eye, [[0, 1]], k=1)
