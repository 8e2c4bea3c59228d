"""Cluster-collapse figures, base vs tuned table, and the collapse / merge flags."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import silhouette_samples

from diagnostics._validation import InputError
from diagnostics.collapse import (
    _silhouettes,
    anisotropy,
    centroid_cosines,
    collapse_flags,
    collapse_table,
    effective_rank,
    linear_cka,
    mean_intra_cosine,
    silhouette_by_domain,
    uniformity,
)
from diagnostics.neighbors import OVERALL


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(seed: int, *, n_per: int = 200, dim: int = 48, spread: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Three domains a, b, c: a random unit centroid each plus isotropic noise of norm ~``spread``."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((3, dim)))
    labels = np.repeat(np.array(["a", "b", "c"], dtype=object), n_per)
    noise = rng.standard_normal((3 * n_per, dim)) * spread / np.sqrt(dim)
    return unit(centres[np.repeat(np.arange(3), n_per)] + noise), labels


def brute_cka(x: np.ndarray, y: np.ndarray) -> float:
    """CKA through the n x n Gram matrices: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))."""
    n = len(x)
    h = np.eye(n) - 1.0 / n
    k = h @ (x.astype(np.float64) @ x.T.astype(np.float64)) @ h
    l_ = h @ (y.astype(np.float64) @ y.T.astype(np.float64)) @ h
    return float(np.sum(k * l_) / np.sqrt(np.sum(k * k) * np.sum(l_ * l_)))


# ---------------------------------------------------------------- intra cosine and anisotropy


def test_intra_cosine_identical_vectors_is_one() -> None:
    x = np.tile(np.array([[0.6, 0.8, 0.0]], dtype=np.float32), (5, 1))
    series = mean_intra_cosine(x, ["a"] * 5)
    assert series.name == "intra_cosine" and series.index.tolist() == ["a"]
    assert series["a"] == pytest.approx(1.0, abs=1e-6)


def test_anisotropy_of_orthogonal_vectors_is_zero() -> None:
    assert anisotropy(np.eye(6, dtype=np.float32)) == pytest.approx(0.0, abs=1e-12)
    # Two antipodal pairs: cosines 1 (self, excluded), -1 and 0 -> mean of off-diagonal = -1/3.
    x = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], dtype=np.float32)
    assert anisotropy(x) == pytest.approx(-1 / 3)


def test_intra_cosine_matches_brute_force_and_ignores_scale() -> None:
    x, labels = clustered(0, n_per=40)
    scaled = x * np.random.default_rng(1).uniform(0.5, 3.0, (len(x), 1)).astype(np.float32)
    got = mean_intra_cosine(scaled, labels)
    for d in "abc":
        part = x[labels == d].astype(np.float64)
        cos = part @ part.T
        n = len(part)
        assert got[d] == pytest.approx((cos.sum() - np.trace(cos)) / (n * (n - 1)), abs=1e-6)
    full = x.astype(np.float64) @ x.T.astype(np.float64)
    assert anisotropy(scaled) == pytest.approx((full.sum() - np.trace(full)) / (len(x) * (len(x) - 1)), abs=1e-6)


def test_intra_cosine_singleton_domain_is_nan() -> None:
    series = mean_intra_cosine(np.eye(3, dtype=np.float32), ["a", "a", "b"])
    assert series["a"] == pytest.approx(0.0) and np.isnan(series["b"])


# ---------------------------------------------------------------- uniformity


def test_uniformity_hand_cases() -> None:
    same = np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (4, 1))
    assert uniformity(same, ["a"] * 4)["a"] == pytest.approx(0.0, abs=1e-6)
    # x and -x: ||x - y||^2 = 4, log exp(-2 * 4) = -8.
    assert uniformity(np.array([[1, 0], [-1, 0]], dtype=np.float32), ["a", "a"])["a"] == pytest.approx(-8.0)


def test_uniformity_exact_matches_definition() -> None:
    x, labels = clustered(2, n_per=30)
    got = uniformity(x, labels, t=2.0)
    part = x[labels == "b"].astype(np.float64)
    iu = np.triu_indices(len(part), k=1)
    sq = ((part[:, None, :] - part[None, :, :]) ** 2).sum(-1)[iu]
    assert got["b"] == pytest.approx(np.log(np.mean(np.exp(-2.0 * sq))), abs=1e-5)


def test_uniformity_subsample_is_close_and_seeded() -> None:
    x, labels = clustered(3, n_per=400)
    exact = uniformity(x, labels)
    sampled = uniformity(x, labels, max_pairs=20_000, random_state=4)
    np.testing.assert_allclose(sampled.to_numpy(), exact.to_numpy(), atol=0.03)
    pd.testing.assert_series_equal(sampled, uniformity(x, labels, max_pairs=20_000, random_state=4))
    assert not np.array_equal(sampled.to_numpy(), uniformity(x, labels, max_pairs=20_000, random_state=5).to_numpy())


# ---------------------------------------------------------------- effective rank


def test_effective_rank_identity_like_is_dim() -> None:
    d = 12
    x = np.vstack([np.eye(d), -np.eye(d)]).astype(np.float32)  # centred already, equal singular values
    assert effective_rank(x, ["a"] * (2 * d))["a"] == pytest.approx(d, rel=1e-6)


def test_effective_rank_rank_one_is_one() -> None:
    rng = np.random.default_rng(5)
    v = rng.standard_normal(20)
    x = (np.sign(rng.standard_normal(50))[:, None] * rng.uniform(0.5, 2.0, (50, 1)) * v).astype(np.float32)
    assert effective_rank(x, ["a"] * 50)["a"] == pytest.approx(1.0, abs=1e-3)


def test_effective_rank_no_spread_is_zero_and_matches_svd() -> None:
    same = np.tile(np.array([[0.3, 0.4, 0.5, 0.1]], dtype=np.float32), (6, 1))
    assert effective_rank(same, ["a"] * 6)["a"] == 0.0
    x, labels = clustered(6, n_per=60)
    got = effective_rank(x, labels)
    part = x[labels == "c"].astype(np.float64)
    sigma = np.linalg.svd(part - part.mean(axis=0), compute_uv=False)
    p = sigma / sigma.sum()
    assert got["c"] == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-5)


# ---------------------------------------------------------------- silhouette and centroids


def test_silhouette_matches_sklearn_and_separated_clusters() -> None:
    x, labels = clustered(7, n_per=50)
    got = silhouette_by_domain(x, labels)
    ref = silhouette_samples(x, labels.astype(str), metric="cosine")
    for d in "abc":
        assert got[d] == pytest.approx(ref[labels == d].mean(), abs=1e-5)
    tight, labels = clustered(8, n_per=50, spread=0.05)
    assert silhouette_by_domain(tight, labels).min() > 0.9
    assert silhouette_by_domain(tight[:10], ["a"] * 10).isna().all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_silhouette_per_row_matches_sklearn_without_the_distance_matrix(seed: int) -> None:
    # the engine computes silhouettes from per-label sums; sklearn from the m x m cosine distances
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((300, 24)) * rng.uniform(0.1, 5.0, (300, 1)) + rng.standard_normal(24)).astype(np.float32)
    labels = rng.choice(np.array(["a", "b", "c", "d"], dtype=object), size=300, p=[0.5, 0.3, 0.19, 0.01])
    labels[7] = "lonely"  # a label with a single member scores 0 in sklearn
    rows = np.concatenate([[7], rng.permutation(np.delete(np.arange(300), 7))[:249]]).astype(np.int64)
    got = _silhouettes(x, labels, rows)
    ref = silhouette_samples(x[rows], labels[rows].astype(str), metric="cosine")
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert got[0] == 0.0 and np.count_nonzero(got) == 249


def test_silhouette_sample_is_stratified() -> None:
    x, labels = clustered(9, n_per=300)
    got = silhouette_by_domain(x, labels, max_items=150)
    full = silhouette_by_domain(x, labels)
    np.testing.assert_allclose(got.to_numpy(), full.to_numpy(), atol=0.05)


def test_centroid_cosines_hand_case() -> None:
    x = np.array([[1, 0.1, 0], [1, -0.1, 0], [0, 1, 0], [0, 0, 2]], dtype=np.float32)
    frame = centroid_cosines(x, ["a", "a", "b", "c"])
    assert frame.index.tolist() == ["a", "b", "c"] and frame.columns.tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(frame.to_numpy(), np.eye(3), atol=1e-7)
    y = np.array([[1, 0], [1, 1], [0, 1]], dtype=np.float32)
    frame = centroid_cosines(y, ["a", "b", "c"])
    assert frame.loc["a", "b"] == pytest.approx(np.sqrt(0.5)) and frame.loc["b", "a"] == frame.loc["a", "b"]


def test_centred_centroid_cosines_by_hand() -> None:
    # Centroids (1, 0), (1, 1)/sqrt(2), (0, 1); their mean c; cosines of mu - c.
    y = np.array([[1, 0], [1, 1], [0, 1]], dtype=np.float64)
    mu = y / np.linalg.norm(y, axis=1, keepdims=True)
    diff = mu - mu.mean(axis=0)
    unit_diff = diff / np.linalg.norm(diff, axis=1, keepdims=True)
    frame = centroid_cosines(y.astype(np.float32), ["a", "b", "c"], centred=True)
    np.testing.assert_allclose(frame.to_numpy(), unit_diff @ unit_diff.T, atol=1e-6)
    # A single domain has no direction left once centred.
    assert centroid_cosines(y.astype(np.float32), ["a"] * 3, centred=True).isna().all().all()


# ---------------------------------------------------------------- CKA


def test_cka_identity_rotation_scaling() -> None:
    rng = np.random.default_rng(10)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-6)
    q, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    assert linear_cka(x, (3.5 * x @ q).astype(np.float32)) == pytest.approx(1.0, abs=1e-5)
    assert linear_cka(x, (x + 5.0).astype(np.float32)) == pytest.approx(1.0, abs=1e-5)  # centring


def test_cka_different_dims_matches_gram_formula() -> None:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((80, 10)).astype(np.float32)
    y = np.hstack([x @ rng.standard_normal((10, 4)), rng.standard_normal((80, 20))]).astype(np.float32)
    assert linear_cka(x, y) == pytest.approx(brute_cka(x, y), abs=1e-6)
    padded = np.hstack([x, np.zeros((80, 7), dtype=np.float32)])
    assert linear_cka(x, padded) == pytest.approx(1.0, abs=1e-6)
    independent = rng.standard_normal((2000, 8)).astype(np.float32)
    assert linear_cka(independent, rng.standard_normal((2000, 8)).astype(np.float32)) < 0.05


# ---------------------------------------------------------------- table


FIGURE_COLUMNS = [
    f"{fig}_{part}"
    for fig in ("intra_cosine", "uniformity", "effective_rank", "silhouette")
    for part in ("base", "tuned", "delta")
]


def test_table_identical_models() -> None:
    x, labels = clustered(12)
    table = collapse_table(x, x.copy(), labels)
    assert table.columns.tolist() == ["domain", "n_docs", "n_silhouette", *FIGURE_COLUMNS, "cka"]
    assert table["domain"].tolist() == ["a", "b", "c", OVERALL]
    assert table["n_docs"].tolist() == [200, 200, 200, 600]
    deltas = table[[c for c in FIGURE_COLUMNS if c.endswith("_delta")]].to_numpy()
    np.testing.assert_allclose(deltas, 0.0, atol=1e-9)
    np.testing.assert_allclose(table["cka"], 1.0, atol=1e-6)
    flags = collapse_flags(table, centroid_cosines(x, labels), centroid_cosines(x, labels))
    assert flags.empty and flags.columns.tolist() == ["flag", "domain", "other_domain", "reason"]


def test_table_agrees_with_single_figures_and_dims_may_differ() -> None:
    x, labels = clustered(13, n_per=120)
    rng = np.random.default_rng(14)
    y = unit(x @ rng.standard_normal((48, 32)) + 0.3 * rng.standard_normal((len(x), 32)))
    table = collapse_table(x, y, labels, max_items=200, max_pairs=3000, random_state=3).set_index("domain")
    domains = table.index[:-1]
    np.testing.assert_allclose(table.loc[domains, "intra_cosine_base"], mean_intra_cosine(x, labels), atol=1e-9)
    np.testing.assert_allclose(
        table.loc[domains, "uniformity_tuned"], uniformity(y, labels, max_pairs=3000, random_state=3)
    )
    np.testing.assert_allclose(table.loc[domains, "effective_rank_base"], effective_rank(x, labels), rtol=1e-6)
    np.testing.assert_allclose(
        table.loc[domains, "silhouette_tuned"], silhouette_by_domain(y, labels, max_items=200, random_state=3)
    )
    assert table.loc["b", "n_silhouette"] > 0 and table.loc[OVERALL, "n_silhouette"] == 200
    for d in domains:
        mask = labels == d
        assert table.loc[d, "cka"] == pytest.approx(linear_cka(x[mask], y[mask]), abs=1e-6)
    overall = table.loc[OVERALL]
    assert overall["intra_cosine_tuned"] == pytest.approx(anisotropy(y), abs=1e-9)
    assert overall["cka"] == pytest.approx(brute_cka(x, y), abs=1e-5)
    assert overall["effective_rank_base"] == pytest.approx(effective_rank(x, ["all"] * len(x))["all"], rel=1e-6)
    assert 0.0 < overall["cka"] < 1.0


def test_table_never_copies_the_matrix_to_float64() -> None:
    rng = np.random.default_rng(15)
    n, d = 100_000, 32
    x = rng.standard_normal((n, d), dtype=np.float32)
    y = rng.standard_normal((n, d), dtype=np.float32)
    labels = np.array(["a", "b", "c", "d"], dtype=object)[rng.integers(0, 4, n)]
    tracemalloc.start()
    try:
        collapse_table(x, y, labels, max_items=400, max_pairs=5000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Blocks of rows only: less than a float32 copy of one matrix (12.8 MB; float64 would be 25.6 MB).
    assert peak < n * d * 4


# ---------------------------------------------------------------- planted collapse and merge


def test_planted_collapse_flags_exactly_that_domain() -> None:
    base, labels = clustered(16)
    tuned = base.copy()
    mask = labels == "b"
    centre = base[mask].mean(axis=0)
    # Pull b toward its centroid, hardest outside 3 directions: its documents draw together and
    # spread along fewer directions. (A uniform pull alone keeps the centred effective rank.)
    shrink = np.full(base.shape[1], 0.15, dtype=np.float32)
    shrink[:3] = 1.0
    tuned[mask] = unit(centre + (base[mask] - centre) * shrink)
    table = collapse_table(base, tuned, labels)
    assert table.set_index("domain").loc["b", "intra_cosine_delta"] > 0.3
    flags = collapse_flags(table, centroid_cosines(base, labels), centroid_cosines(tuned, labels))
    assert flags[["flag", "domain"]].values.tolist() == [["collapsed", "b"]]
    assert flags.iloc[0]["other_domain"] is None
    reason = flags.iloc[0]["reason"]
    assert reason.startswith("b collapsed: mean intra-domain cosine") and "effective rank" in reason
    assert "rule: rise >= 0.10" in reason and "rule: fall >= 20%" in reason


def test_planted_merge_flags_exactly_that_pair() -> None:
    base, labels = clustered(17)
    centres = {d: base[labels == d].mean(axis=0) for d in "abc"}
    tuned = base.copy()
    mask = labels == "c"
    tuned[mask] = unit(base[mask] - centres["c"] + centres["a"])  # c moves onto a, keeps its shape
    table = collapse_table(base, tuned, labels)
    base_c, tuned_c = centroid_cosines(base, labels), centroid_cosines(tuned, labels)
    assert tuned_c.loc["a", "c"] > 0.95 > 0.5 > base_c.loc["a", "c"]
    flags = collapse_flags(table, base_c, tuned_c)
    assert flags[["flag", "domain", "other_domain"]].values.tolist() == [["merged", "a", "c"]]
    assert flags.iloc[0]["reason"].startswith("a and c merged: centroid cosine")
    # Stricter thresholds from a config turn it off.
    assert collapse_flags(table, base_c, tuned_c, merge_cosine_rise=1.5).empty


def hand_table(rows: list[tuple[str, int, float, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows,
        columns=[
            "domain",
            "n_docs",
            "intra_cosine_base",
            "intra_cosine_tuned",
            "effective_rank_base",
            "effective_rank_tuned",
        ],
    )


def eye_frame(names: list[str], off: float = 0.0) -> pd.DataFrame:
    m = np.full((len(names), len(names)), off)
    np.fill_diagonal(m, 1.0)
    return pd.DataFrame(m, index=names, columns=names)


def test_flag_rules_by_hand() -> None:
    table = hand_table(
        [
            ("both", 100, 0.25, 0.40, 50.0, 30.0),  # +0.15, -40 %: collapsed
            ("cosine_only", 100, 0.25, 0.40, 50.0, 45.0),  # rank fell 10 %: no
            ("rank_only", 100, 0.25, 0.30, 50.0, 10.0),  # cosine +0.05: no
            ("small", 5, 0.10, 0.90, 50.0, 1.0),  # below min_docs: no
            (OVERALL, 305, 0.1, 0.9, 50.0, 1.0),  # ignored
        ]
    )
    names = ["both", "cosine_only", "rank_only", "small"]
    flags = collapse_flags(table, eye_frame(names), eye_frame(names))
    assert flags["domain"].tolist() == ["both"]
    loose = collapse_flags(table, eye_frame(names), eye_frame(names), collapse_rank_fall=0.05, min_docs=2)
    assert loose["domain"].tolist() == ["both", "cosine_only", "small"]


def test_merge_rule_by_hand() -> None:
    table = hand_table([(d, 50, 0.2, 0.2, 10.0, 10.0) for d in ("x", "y", "z")])
    base = eye_frame(["x", "y", "z"], off=0.5)
    tuned = base.copy()
    tuned.loc["x", "y"] = tuned.loc["y", "x"] = 0.85  # +0.35 and >= 0.80: merged
    tuned.loc["x", "z"] = tuned.loc["z", "x"] = 0.60  # +0.10: no
    flags = collapse_flags(table, base, tuned)
    assert flags[["flag", "domain", "other_domain"]].values.tolist() == [["merged", "x", "y"]]
    assert "0.50 -> 0.85 (+0.35; rule: rise >= 0.15 and tuned >= 0.80)" in flags.iloc[0]["reason"]


# ---------------------------------------------------------------- errors


def test_vector_errors() -> None:
    with pytest.raises(InputError, match=r"vectors must be a numpy array of shape \(n, dim\); got list"):
        anisotropy([[1.0, 0.0]])  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"vectors must be a non-empty 2-D array .* got shape \(3,\)"):
        anisotropy(np.ones(3, dtype=np.float32))
    with pytest.raises(InputError, match=r"vectors must hold floating-point vectors; got dtype int64"):
        anisotropy(np.ones((3, 2), dtype=np.int64))
    with pytest.raises(InputError, match=r"vectors row 1 holds NaN or infinite values"):
        anisotropy(np.array([[1, 0], [np.nan, 0]], dtype=np.float32))
    with pytest.raises(InputError, match=r"vectors row 2 is the zero vector"):
        mean_intra_cosine(np.array([[1, 0], [0, 1], [0, 0]], dtype=np.float32), ["a"] * 3)
    with pytest.raises(InputError, match=r"vectors has 1 row; anisotropy needs at least 2 vectors"):
        anisotropy(np.ones((1, 2), dtype=np.float32))
    with pytest.raises(InputError, match=r"domains has 2 labels but 3 were expected"):
        effective_rank(np.eye(3, dtype=np.float32), ["a", "b"])


def test_pair_and_option_errors() -> None:
    x = np.eye(4, dtype=np.float32)
    with pytest.raises(InputError, match=r"x has 4 rows but y has 3"):
        linear_cka(x, x[:3])
    with pytest.raises(InputError, match=r"x and y have 1 row; CKA needs at least 2 rows"):
        linear_cka(x[:1], x[:1])
    with pytest.raises(InputError, match=r"base_docs has 4 rows but tuned_docs has 2"):
        collapse_table(x, x[:2], ["a"] * 4)
    with pytest.raises(InputError, match=r"domains contains a domain named 'overall'"):
        collapse_table(x, x, ["overall"] * 4)
    with pytest.raises(InputError, match=r"t must be a positive number"):
        uniformity(x, ["a"] * 4, t=0)
    with pytest.raises(InputError, match=r"max_pairs must be a whole number of at least 1"):
        collapse_table(x, x, ["a"] * 4, max_pairs=0)
    with pytest.raises(InputError, match=r"random_state must be an int seed"):
        silhouette_by_domain(x, ["a", "a", "b", "b"], random_state="0")  # type: ignore[arg-type]


def test_flag_errors() -> None:
    table = hand_table([("a", 50, 0.2, 0.2, 10.0, 10.0), ("b", 50, 0.2, 0.2, 10.0, 10.0)])
    good = eye_frame(["a", "b"])
    with pytest.raises(InputError, match=r"table lacks column\(s\) effective_rank_tuned"):
        collapse_flags(table.drop(columns="effective_rank_tuned"), good, good)
    with pytest.raises(InputError, match=r"table must be the DataFrame returned by collapse_table"):
        collapse_flags({"a": 1}, good, good)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"base_centroids must be square with the same domains"):
        collapse_flags(table, good.iloc[:, :1], good)
    with pytest.raises(InputError, match=r"base_centroids and tuned_centroids cover different domains"):
        collapse_flags(table, good, eye_frame(["a", "c"]))
    with pytest.raises(InputError, match=r"the centroid matrices have domain 'c', which table does not"):
        collapse_flags(table, eye_frame(["a", "b", "c"]), eye_frame(["a", "b", "c"]))
    with pytest.raises(InputError, match=r"collapse_rank_fall must be a number from 0 to 1; got 20"):
        collapse_flags(table, good, good, collapse_rank_fall=20)
    with pytest.raises(InputError, match=r"min_docs must be a whole number of at least 1"):
        collapse_flags(table, good, good, min_docs=0)
