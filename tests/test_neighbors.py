"""Neighborhood overlap, gained/lost neighbors, per-domain summaries, flow and stratified sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from diagnostics._validation import InputError
from diagnostics.neighbors import (
    OVERALL,
    neighbor_changes,
    neighbor_flow,
    neighborhood_overlap,
    overlap_by_domain,
    overlap_ci,
    stratified_sample,
)


def knn(vectors: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    """Exact cosine kNN by argsort, self excluded (rows: the documents to search for)."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = np.arange(len(unit)) if rows is None else rows
    sims = unit[rows] @ unit.T
    sims[np.arange(len(rows)), rows] = -np.inf
    return np.argsort(-sims, axis=1, kind="stable")[:, :k].astype(np.int64)


# ---------------------------------------------------------------- overlap


def test_jaccard_hand_case() -> None:
    assert neighborhood_overlap([[1, 2, 3]], [[2, 3, 4]]).tolist() == [0.5]


def test_jaccard_rows_order_free_and_extremes() -> None:
    base = np.array([[1, 2, 3], [1, 2, 3], [1, 2, 3]], dtype=np.int64)
    tuned = np.array([[3, 1, 2], [4, 5, 6], [3, 5, 6]], dtype=np.int64)
    out = neighborhood_overlap(base, tuned, rows=[10, 11, 12])
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, [1.0, 0.0, 1 / 5])


def test_jaccard_different_k() -> None:
    # {1, 2} vs {1, 2, 3, 4}: 2 shared of 4.
    assert neighborhood_overlap([[1, 2]], [[4, 3, 2, 1]]).tolist() == [0.5]


def test_jaccard_matches_python_sets() -> None:
    rng = np.random.default_rng(7)
    n, k = 200, 8
    base = np.stack([rng.choice(np.delete(np.arange(60), i % 60), k, replace=False) for i in range(n)])
    tuned = np.stack([rng.choice(np.delete(np.arange(60), i % 60), k, replace=False) for i in range(n)])
    rows = np.arange(n) % 60
    expected = [len(set(b) & set(t)) / len(set(b) | set(t)) for b, t in zip(base, tuned, strict=True)]
    np.testing.assert_allclose(neighborhood_overlap(base, tuned, rows=rows), expected)


def test_identical_models_overlap_one_and_no_changes() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((120, 16)).astype(np.float32)
    nn = knn(vectors, 10)
    assert np.all(neighborhood_overlap(nn, nn.copy()) == 1.0)
    assert neighbor_changes(nn, nn.copy()).empty


def test_perturbed_model_overlap_between() -> None:
    rng = np.random.default_rng(1)
    base = rng.standard_normal((150, 16)).astype(np.float32)
    tuned = base + 0.3 * rng.standard_normal(base.shape).astype(np.float32)
    overlap = neighborhood_overlap(knn(base, 10), knn(tuned, 10))
    assert 0.1 < overlap.mean() < 0.9


def test_sampled_rows_against_whole_corpus() -> None:
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((100, 8)).astype(np.float32)
    rows = np.array([3, 40, 77])
    nn = knn(vectors, 5, rows)
    assert neighborhood_overlap(nn, nn, rows=rows).tolist() == [1.0, 1.0, 1.0]
    # Without rows nothing is checked: row 0 of a sample may well list document 0.
    sample_nn = np.array([[0, 1], [1, 2]])
    assert neighborhood_overlap(sample_nn, sample_nn).tolist() == [1.0, 1.0]
    with pytest.raises(InputError, match=r"base_nn row 1 \(document 1\) lists the document itself"):
        neighborhood_overlap(sample_nn, sample_nn, rows=[5, 1])


# ---------------------------------------------------------------- changes


def test_changes_hand_case() -> None:
    frame = neighbor_changes([[1, 2, 3]], [[2, 3, 4]])
    assert frame.to_dict("list") == {
        "row": [0, 0],
        "neighbor": [4, 1],
        "change": ["gained", "lost"],
        "rank": [3, 1],
    }


def test_changes_with_rows_and_counts() -> None:
    base = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    tuned = np.array([[9, 1, 8, 2], [5, 6, 7, 8]])
    frame = neighbor_changes(base, tuned, rows=[20, 21])
    assert set(frame["row"]) == {20}
    gained = frame[frame["change"] == "gained"]
    lost = frame[frame["change"] == "lost"]
    assert gained["neighbor"].tolist() == [9, 8] and gained["rank"].tolist() == [1, 3]
    assert lost["neighbor"].tolist() == [3, 4] and lost["rank"].tolist() == [3, 4]
    assert frame["row"].dtype == np.int64 and frame["neighbor"].dtype == np.int64
    # Per row: gained = k - |intersection| = k * (1 - J) / (1 + J) for equal k.
    j = neighborhood_overlap(base, tuned, rows=[20, 21])
    np.testing.assert_allclose(4 * (1 - j) / (1 + j), [2, 0])


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("base", "tuned", "match"),
    [
        ([1, 2, 3], [[1, 2, 3]], r"base_nn must be a 2-D array .* got an array with 1 dimension"),
        ([[1.0, 2.0]], [[1, 2]], r"base_nn must hold integer row indices; got dtype float64"),
        ([[True, False]], [[1, 2]], r"base_nn must hold integer row indices; got dtype bool"),
        (np.zeros((1, 0), dtype=np.int64), [[1]], r"base_nn has 0 columns"),
        ([[1, -1]], [[1, 2]], r"base_nn row 0 column 1 holds -1: neighbor indices must be non-negative"),
        ([[1, 2]], [[3, 3]], r"tuned_nn row 0 lists document 3 more than once"),
        ([[1, 2], [2, 3]], [[1, 2]], r"base_nn has 2 rows but tuned_nn has 1"),
    ],
)
def test_overlap_input_errors(base: object, tuned: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        neighborhood_overlap(base, tuned)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=match):
        neighbor_changes(base, tuned)  # type: ignore[arg-type]


def test_rows_errors() -> None:
    with pytest.raises(InputError, match=r"rows has 1 entries but the neighbor arrays have 2 rows"):
        neighborhood_overlap([[1], [2]], [[1], [2]], rows=[5])
    with pytest.raises(InputError, match=r"rows must be a 1-D array of integer document row indices"):
        neighborhood_overlap([[1]], [[1]], rows=[0.5])
    with pytest.raises(InputError, match=r"rows holds a negative index \(-3\)"):
        neighborhood_overlap([[1]], [[1]], rows=[-3])
    with pytest.raises(InputError, match=r"tuned_nn row 0 \(document 7\) lists the document itself"):
        neighborhood_overlap([[1]], [[7]], rows=[7])


# ---------------------------------------------------------------- per-domain summaries


def test_overlap_by_domain_hand_case() -> None:
    frame = overlap_by_domain([1.0, 0.5, 0.0, 1.0, 0.25], ["a", "a", "b", "b", "b"])
    assert frame.columns.tolist() == ["domain", "count", "mean", "median", "q10", "q25", "q75", "q90"]
    assert frame["domain"].tolist() == ["a", "b", OVERALL]
    assert frame["count"].tolist() == [2, 3, 5]
    np.testing.assert_allclose(frame["mean"], [0.75, 1.25 / 3, 0.55])
    np.testing.assert_allclose(frame["median"], [0.75, 0.25, 0.5])
    b = np.array([0.0, 1.0, 0.25])
    np.testing.assert_allclose(
        frame.iloc[1][["q10", "q25", "q75", "q90"]].astype(float), np.quantile(b, [0.1, 0.25, 0.75, 0.9])
    )


def test_overlap_by_domain_errors() -> None:
    with pytest.raises(InputError, match=r"domains has 1 labels but 2 were expected"):
        overlap_by_domain([1.0, 0.5], ["a"])
    with pytest.raises(InputError, match=r"overlap must hold finite values in \[0, 1\]"):
        overlap_by_domain([1.5], ["a"])
    with pytest.raises(InputError, match=r"overlap must be a 1-D array"):
        overlap_by_domain([[1.0]], ["a"])
    with pytest.raises(InputError, match=r"domains contains a domain named 'overall', which is reserved"):
        overlap_by_domain([1.0], ["overall"])
    with pytest.raises(InputError, match=r"domains entry 1 has no domain"):
        overlap_by_domain([1.0, 0.0], ["a", None])
    with pytest.raises(InputError, match=r"domains must be one domain label per row"):
        overlap_by_domain([1.0], "a")


def test_overlap_ci_constant_and_reproducible() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([np.full(30, 0.4), rng.uniform(0, 1, 50)])
    domains = ["a"] * 30 + ["b"] * 50
    frame = overlap_ci(values, domains, n_resamples=400, random_state=5)
    assert frame.columns.tolist() == ["domain", "n_sampled", "n_docs", "mean", "ci_low", "ci_high"]
    a = frame.iloc[0]
    assert a["ci_low"] == pytest.approx(0.4) and a["ci_high"] == pytest.approx(0.4)
    b = frame.iloc[1]
    assert b["ci_low"] < b["mean"] < b["ci_high"]
    # Normal-theory half width 1.96 * sd / sqrt(n) is close to the bootstrap's.
    half = 1.96 * values[30:].std() / np.sqrt(50)
    assert (b["ci_high"] - b["ci_low"]) / 2 == pytest.approx(half, rel=0.25)
    pd.testing.assert_frame_equal(frame, overlap_ci(values, domains, n_resamples=400, random_state=5))
    overall = frame.iloc[2]
    assert overall["domain"] == OVERALL and overall["mean"] == pytest.approx(values.mean())


def test_overlap_ci_population_weights() -> None:
    # a: 2 sampled of 90 with J = 1; b: 2 sampled of 10 with J = 0 -> overall 0.9, not 0.5.
    population = ["a"] * 90 + ["b"] * 10
    frame = overlap_ci([1.0, 1.0, 0.0, 0.0], ["a", "a", "b", "b"], population=population, n_resamples=50)
    assert frame["n_docs"].tolist() == [90, 10, 100]
    assert frame["n_sampled"].tolist() == [2, 2, 4]
    assert frame.iloc[2]["mean"] == pytest.approx(0.9)
    assert frame.iloc[2]["ci_low"] == pytest.approx(0.9) and frame.iloc[2]["ci_high"] == pytest.approx(0.9)


def test_overlap_ci_errors() -> None:
    with pytest.raises(InputError, match=r"population has 5 documents of domain 'b' but none was sampled"):
        overlap_ci([1.0], ["a"], population=["a"] * 3 + ["b"] * 5)
    with pytest.raises(InputError, match=r"domains has domain 'c', which population does not have"):
        overlap_ci([1.0], ["c"], population=["a"])
    with pytest.raises(InputError, match=r"confidence must be a number strictly between 0 and 1"):
        overlap_ci([1.0], ["a"], confidence=95)
    with pytest.raises(InputError, match=r"n_resamples must be a whole number of at least 1; got 0"):
        overlap_ci([1.0], ["a"], n_resamples=0)
    with pytest.raises(InputError, match=r"random_state must be an int seed"):
        overlap_ci([1.0], ["a"], random_state=None)  # type: ignore[arg-type]


# ---------------------------------------------------------------- flow


def test_flow_hand_case() -> None:
    domains = ["a", "a", "b", "c"]
    nn = np.array([[1, 2], [0, 2], [0, 1], [2, 0]])
    # a's 4 neighbors: a, b, a, b; b's 2: a, a; c's 2: b, a.
    flow = neighbor_flow(nn, domains, domains)
    assert flow.index.name == "domain" and flow.columns.name == "neighbor_domain"
    expected = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(flow.to_numpy(), expected)
    np.testing.assert_allclose(flow.sum(axis=1), 1.0)
    counts = neighbor_flow(nn, domains, domains, normalize=False)
    assert counts.to_numpy().tolist() == [[2, 2, 0], [2, 0, 0], [1, 1, 0]]


def test_flow_sample_rows_and_fixed_order() -> None:
    corpus = np.array(["a", "a", "b", "b", "c"], dtype=object)
    rows = np.array([0, 3])
    nn = np.array([[1, 4], [2, 1]])
    flow = neighbor_flow(nn, corpus[rows], corpus, domains=["c", "b", "a", "z"])
    assert flow.index.tolist() == ["c", "b", "a", "z"]
    np.testing.assert_allclose(flow.loc["a"].to_numpy(), [0.5, 0.0, 0.5, 0.0])
    np.testing.assert_allclose(flow.loc["b"].to_numpy(), [0.0, 0.5, 0.5, 0.0])
    assert flow.loc["c"].isna().all() and flow.loc["z"].isna().all()


def test_flow_errors() -> None:
    with pytest.raises(InputError, match=r"nn refers to document 5 but neighbor_domains has only 2 labels"):
        neighbor_flow([[5]], ["a"], ["a", "b"])
    with pytest.raises(InputError, match=r"domain 'b' occurs in the data but not in domains"):
        neighbor_flow([[1]], ["a"], ["a", "b"], domains=["a"])
    with pytest.raises(InputError, match=r"row_domains has 2 labels but 1 were expected"):
        neighbor_flow([[1]], ["a", "a"], ["a", "b"])
    with pytest.raises(InputError, match=r"domains lists a domain twice"):
        neighbor_flow([[1]], ["a"], ["a", "b"], domains=["a", "b", "a"])


# ---------------------------------------------------------------- sampling


def test_stratified_sample_small_input_returns_everything() -> None:
    assert stratified_sample(["a", "b", "a"], max_items=10).tolist() == [0, 1, 2]


def test_stratified_sample_allocation_by_hand() -> None:
    domains = np.array(["a"] * 900 + ["b"] * 90 + ["c"] * 10, dtype=object)
    rows = stratified_sample(domains, max_items=100, min_per_domain=5, random_state=0)
    # Floor 5 each, then 85 shared by the rows left (895, 85, 5): 77.23, 7.34, 0.43 -> 77, 7, 0 and
    # the one left over to the largest remainder (c).
    counts = pd.Series(domains[rows]).value_counts().to_dict()
    assert counts == {"a": 82, "b": 12, "c": 6}
    assert rows.dtype == np.int64 and np.all(np.diff(rows) > 0)
    assert np.array_equal(rows, stratified_sample(domains, max_items=100, min_per_domain=5, random_state=0))
    assert not np.array_equal(rows, stratified_sample(domains, max_items=100, min_per_domain=5, random_state=1))


def test_stratified_sample_floor_keeps_small_domains() -> None:
    domains = np.array(["big"] * 10_000 + ["tiny"] * 7 + ["mid"] * 300, dtype=object)
    rows = stratified_sample(domains, max_items=500)
    counts = pd.Series(domains[rows]).value_counts()
    assert len(rows) == 500
    assert counts["tiny"] == 7 and counts["mid"] >= 50
    # The floor shrinks when the budget cannot give every domain min_per_domain.
    rows = stratified_sample(domains, max_items=6)
    assert pd.Series(domains[rows]).value_counts().to_dict() == {"big": 2, "mid": 2, "tiny": 2}


def test_stratified_sample_errors() -> None:
    with pytest.raises(InputError, match=r"max_items=2 is smaller than the number of domains \(3\)"):
        stratified_sample(["a", "b", "c", "a"], max_items=2)
    with pytest.raises(InputError, match=r"max_items must be a whole number of at least 1; got 0"):
        stratified_sample(["a"], max_items=0)
    with pytest.raises(InputError, match=r"random_state must be an int seed"):
        stratified_sample(["a"], max_items=1, random_state=1.5)  # type: ignore[arg-type]
