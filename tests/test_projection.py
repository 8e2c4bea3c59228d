"""Tests of diagnostics.projection: two comparable UMAP maps, displacement, trustworthiness.

UMAP is fitted for real (no mocks); the numba compilation is paid once, by the module fixture.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from diagnostics._validation import InputError
from diagnostics.knn import exact_top_k
from diagnostics.neighbors import stratified_sample
from diagnostics.projection import MIN_PER_DOMAIN, Projection, project_pair, warm_up

pytestmark = pytest.mark.slow

DOMAINS = ("a", "b", "c", "d")


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_up()


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def four_domains(
    n_per: int | tuple[int, int, int, int] = 100, dim: int = 32, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """4 well-separated Gaussian domains on the unit sphere (orthogonal centres), unit rows."""
    sizes = (n_per,) * 4 if isinstance(n_per, int) else n_per
    rng = np.random.default_rng(seed)
    centres = np.linalg.qr(rng.standard_normal((dim, 4)))[0].T  # 4 orthonormal directions
    x = np.repeat(centres, sizes, axis=0) + 0.08 * rng.standard_normal((sum(sizes), dim))
    return _unit(x), np.repeat(np.array(DOMAINS), sizes)


def rotate(x: np.ndarray, dim_out: int, seed: int = 1) -> np.ndarray:
    """``x`` isometrically embedded in ``dim_out`` dimensions (orthonormal columns): cosines kept."""
    q = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim_out, x.shape[1])))[0]
    return _unit(x @ q.T)


def planted(x: np.ndarray, labels: np.ndarray, seed: int = 2) -> np.ndarray:
    """Tuned space: domain 'a' pulled far from its place, into domain 'b' (interleaved with it)."""
    rng = np.random.default_rng(seed)
    y = rotate(x, x.shape[1] + 8)
    moved = np.flatnonzero(labels == "a")
    target = rng.choice(np.flatnonzero(labels == "b"), size=moved.size, replace=False)
    y[moved] = y[target] + 0.02 * rng.standard_normal((moved.size, y.shape[1]))
    return _unit(y)


# --- shapes, determinism, output -----------------------------------------------------------------


def test_shapes_dtypes_and_determinism() -> None:
    x, labels = four_domains()
    y = planted(x, labels)
    first = project_pair(x, y, labels=labels, random_state=3)
    second = project_pair(x, y, labels=labels, random_state=3)
    assert isinstance(first, Projection)
    m = x.shape[0]
    assert first.rows.tolist() == list(range(m))
    assert first.base_xy.shape == first.tuned_xy.shape == (m, 2)
    assert first.base_xy.dtype == first.tuned_xy.dtype == first.displacement.dtype == np.float32
    assert first.displacement.shape == (m,)
    for field in ("base_xy", "tuned_xy", "displacement"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
    assert first.trustworthiness_base == second.trustworthiness_base
    assert first.params["n_points"] == m and first.params["sampled"] is False
    assert first.params["random_state"] == 3
    # The base map is centred at unit RMS radius, the tuned map fitted onto it by a similarity
    # transform (near unit scale here); displacement is the distance between the two.
    base_xy = first.base_xy.astype(np.float64)
    np.testing.assert_allclose(base_xy.mean(axis=0), 0.0, atol=1e-5)
    assert np.sqrt((base_xy**2).sum(axis=1).mean()) == pytest.approx(1.0, abs=1e-5)
    assert 0.5 < first.params["alignment_scale"] < 2.0
    np.testing.assert_allclose(
        first.displacement, np.linalg.norm(first.base_xy - first.tuned_xy, axis=1), rtol=1e-6
    )


def test_to_frame_columns_and_rows() -> None:
    x, labels = four_domains(n_per=60)
    proj = project_pair(x, x, labels=labels, max_points=120)
    ids = np.array([f"id{i}" for i in range(x.shape[0])])
    kinds = np.where(np.arange(x.shape[0]) % 2 == 0, "doc", "query")
    frame = proj.to_frame(ids, kinds, labels)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == [
        "row", "id", "kind", "domain", "x_base", "y_base", "x_tuned", "y_tuned", "displacement",
    ]
    assert len(frame) == 120
    assert frame["id"].tolist() == [f"id{r}" for r in proj.rows]
    assert frame["domain"].tolist() == labels[proj.rows].tolist()
    np.testing.assert_array_equal(frame[["x_tuned", "y_tuned"]].to_numpy(), proj.tuned_xy)
    with pytest.raises(InputError, match=r"ids must have one entry per input row of project_pair \(240\)"):
        proj.to_frame(ids[:10], kinds, labels)


def test_progress_reports_every_step() -> None:
    x, labels = four_domains(n_per=40)
    calls: list[tuple[str, int, int]] = []
    project_pair(x, x, labels=labels, progress=lambda s, d, t: calls.append((s, d, t)))
    assert calls == [("projection", i, 5) for i in range(1, 6)]


def test_warm_up_is_idempotent_and_cheap_the_second_time() -> None:
    import time

    warm_up()  # the module fixture already paid for it
    started = time.perf_counter()
    warm_up()
    assert time.perf_counter() - started < 0.01


# --- comparability -------------------------------------------------------------------------------


def test_identical_spaces_have_zero_displacement() -> None:
    x, labels = four_domains()
    proj = project_pair(x, x.copy(), labels=labels)
    assert proj.params["tuned_map"].startswith("base map reused")
    assert float(proj.displacement.max()) < 1e-6
    assert proj.trustworthiness_tuned == pytest.approx(proj.trustworthiness_base)


def test_rotated_space_of_another_dimension_has_zero_displacement() -> None:
    # A rotation keeps every cosine, hence the kNN graph: same objective, same map (dims differ).
    x, labels = four_domains()
    proj = project_pair(x, rotate(x, 48), labels=labels)
    assert float(proj.displacement.max()) < 1e-5


def test_small_noise_moves_points_little() -> None:
    # Neighborhoods change a little: the tuned map is refitted, and stays close to the base map.
    x, labels = four_domains()
    rng = np.random.default_rng(4)
    y = _unit(x + 0.01 * rng.standard_normal(x.shape))
    proj = project_pair(x, y, labels=labels)
    assert proj.params["tuned_map"] == "refined from the base map"
    # The noise floor of the refinement: well below a real move (~1, see the planted test).
    assert float(np.median(proj.displacement)) < 0.3
    assert float(np.quantile(proj.displacement, 0.95)) < 0.5


def test_planted_move_has_the_largest_displacement() -> None:
    # 'a' (60 items) lands among 'b' (200): every neighbor of an 'a' item changes, while 'b' items
    # keep most of theirs. (UMAP lays out the kNN graph: a move that changes no neighborhood,
    # e.g. a detached domain shifted as a block, is invisible to it by construction.)
    x, labels = four_domains((60, 200, 100, 100))
    proj = project_pair(x, planted(x, labels), labels=labels)
    medians = {d: float(np.median(proj.displacement[labels == d])) for d in DOMAINS}
    assert max(medians, key=medians.__getitem__) == "a"
    # Far above the untouched domains, not just the largest.
    assert medians["a"] > 3 * max(medians["b"], medians["c"], medians["d"])
    # The moved points rank above the untouched domains' points.
    moved = proj.displacement[labels == "a"]
    untouched = proj.displacement[(labels == "c") | (labels == "d")]
    auc = (moved[:, None] > untouched[None, :]).mean()
    assert auc > 0.95


def test_trustworthiness_floor_on_clustered_data() -> None:
    # 4 domains of 3 sub-clusters each (a structure a 2-D map can keep; one structureless Gaussian
    # blob in 64 dimensions cannot be kept by any 2-D map: trustworthiness ~0.9 at best).
    rng = np.random.default_rng(5)
    centres = np.linalg.qr(rng.standard_normal((64, 4)))[0].T
    subs = centres[:, None, :] + 0.075 * rng.standard_normal((4, 3, 64))
    domain, sub = np.repeat(np.arange(4), 150), rng.integers(0, 3, size=600)
    x = _unit(subs[domain, sub] + 0.05 * rng.standard_normal((600, 64)))
    labels = np.array(DOMAINS)[domain]
    y = planted(x, labels)
    proj = project_pair(x, y, labels=labels, trust_sample=400)
    assert proj.params["trust_sample"] == 400
    assert proj.trustworthiness_base > 0.85
    assert proj.trustworthiness_tuned > 0.85


def test_given_knn_graphs_give_the_same_maps() -> None:
    # Self-included (exact_top_k) and self-excluded graphs, with extra columns, are both accepted.
    x, labels = four_domains(n_per=60)
    y = planted(x, labels)
    computed = project_pair(x, y, labels=labels)
    base_knn = exact_top_k(x, x, k=20)
    tuned_knn = exact_top_k(y, y, k=14, exclude_self=True)
    given = project_pair(x, y, labels=labels, base_knn=base_knn, tuned_knn=tuned_knn)
    assert given.params["knn_base"] == given.params["knn_tuned"] == "given"
    np.testing.assert_array_equal(given.base_xy, computed.base_xy)
    np.testing.assert_array_equal(given.tuned_xy, computed.tuned_xy)


# --- sampling ------------------------------------------------------------------------------------


def _sample(labels: np.ndarray, *, max_items: int, random_state: int) -> np.ndarray:
    """The sample project_pair draws: the shared stratified_sample with the projection's floor."""
    return stratified_sample(labels, max_items=max_items, min_per_domain=MIN_PER_DOMAIN, random_state=random_state)


def test_stratified_sample_keeps_every_domain_and_the_cap() -> None:
    labels = np.repeat(np.array(["big", "mid", "small", "tiny"]), [600, 300, 30, 10])
    rows = _sample(labels, max_items=200, random_state=0)
    assert rows.shape == (200,)
    assert np.all(np.diff(rows) > 0)
    counts = pd.Series(labels[rows]).value_counts().to_dict()
    # Floors: min(50, 200 // 4) = 50 each, capped at the domain size (50 + 50 + 30 + 10 = 140);
    # the other 60 in proportion to what is left (550 : 250) -> 41.25 : 18.75 -> 41 : 19.
    assert counts == {"big": 91, "mid": 69, "small": 30, "tiny": 10}
    np.testing.assert_array_equal(rows, _sample(labels, max_items=200, random_state=0))
    assert not np.array_equal(rows, _sample(labels, max_items=200, random_state=1))
    np.testing.assert_array_equal(_sample(labels, max_items=5000, random_state=0), np.arange(940))


def test_project_pair_samples_above_max_points() -> None:
    x, labels = four_domains(n_per=100)
    keep = np.r_[0:300, 300:312]  # domain 'd' has only 12 rows
    x, labels = x[keep], labels[keep]
    proj = project_pair(x, x, labels=labels, max_points=100, base_knn=exact_top_k(x, x, k=15))
    assert proj.rows.shape == (100,)
    assert set(labels[proj.rows]) == set(DOMAINS)
    assert proj.params["sampled"] is True
    assert proj.params["knn_base"] == "computed on the sample"  # a full-set graph is not the sample's
    frame = proj.to_frame(np.arange(len(x)).astype(str), np.repeat("doc", len(x)), labels)
    assert (frame["domain"] == "d").sum() == 12


# --- bad input -----------------------------------------------------------------------------------


def test_bad_input_raises_input_error() -> None:
    x, labels = four_domains(n_per=20)
    with pytest.raises(InputError, match="base has 80 rows but tuned has 79"):
        project_pair(x, x[:79], labels=labels)
    with pytest.raises(InputError, match=r"too few for n_neighbors=40.*at most 39"):
        project_pair(x, x, labels=labels, n_neighbors=40)
    bad = x.copy()
    bad[7, 3] = np.nan
    with pytest.raises(InputError, match="tuned row 7 contains NaN or infinity"):
        project_pair(x, bad, labels=labels)
    with pytest.raises(InputError, match=r"base must be L2-normalised .*but row 0 has norm 2"):
        project_pair(2 * x, x, labels=labels)
    with pytest.raises(InputError, match=r"base must be 2-D, shape \(n, dim\) with dim >= 2; got shape \(32,\)"):
        project_pair(x[0], x, labels=labels)
    with pytest.raises(InputError, match=r"tuned must be 2-D.*got shape \(80, 1\)"):
        project_pair(x, np.ones((80, 1), dtype=np.float32), labels=labels)
    with pytest.raises(InputError, match="base must hold floating-point vectors; got dtype int64"):
        project_pair(np.ones((80, 4), dtype=np.int64), x, labels=labels)
    with pytest.raises(InputError, match="labels must have one domain per row"):
        project_pair(x, x, labels=labels[:-1])
    with pytest.raises(InputError, match="n_neighbors must be a whole number from 2 to 200"):
        project_pair(x, x, labels=labels, n_neighbors=1)
    with pytest.raises(InputError, match="max_points must be a whole number of at least 31; got 30"):
        project_pair(x, x, labels=labels, max_points=30)
    with pytest.raises(InputError, match="trust_sample must be a whole number of at least 31; got 10"):
        project_pair(x, x, labels=labels, trust_sample=10)
    with pytest.raises(InputError, match="random_state must be an int seed from 0 to 4294967295"):
        project_pair(x, x, labels=labels, random_state=0.5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="random_state must be an int seed from 0 to 4294967295.*got 4294967296"):
        project_pair(x, x, labels=labels, random_state=2**32)


def test_bad_knn_graph_raises_input_error() -> None:
    x, labels = four_domains(n_per=20)
    idx, sim = exact_top_k(x, x, k=15)
    with pytest.raises(InputError, match="non-increasing along each row.*pass 1 - distance"):
        project_pair(x, x, labels=labels, base_knn=(idx, 1.0 - sim))
    mixed = idx.copy()
    mixed[3] = exact_top_k(x, x, k=16, exclude_self=True)[0][3, 1:]
    with pytest.raises(InputError, match="includes each row's self in some rows but not in others"):
        project_pair(x, x, labels=labels, base_knn=(mixed, sim))
    with pytest.raises(InputError, match="has 10 neighbors per row; n_neighbors=15 needs at least 15"):
        project_pair(x, x, labels=labels, base_knn=(idx[:, :10], sim[:, :10]))
    with pytest.raises(InputError, match=r"must both have shape \(80, k\)"):
        project_pair(x, x, labels=labels, tuned_knn=(idx[:50], sim[:50]))
    with pytest.raises(InputError, match=r"indices must be integer row indices in \[0, 80\)"):
        project_pair(x, x, labels=labels, tuned_knn=(idx + 80, sim))
    with pytest.raises(InputError, match=r"must be a pair \(indices, similarities\)"):
        project_pair(x, x, labels=labels, tuned_knn=idx)  # type: ignore[arg-type]
