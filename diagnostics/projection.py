r"""The base and the tuned space projected to two comparable 2-D maps (UMAP), and each point's move.

Why one module past ~500 lines: it is one method (sample, kNN graphs, base map, tuned map started from
the base, alignment, trustworthiness) whose steps share private state and are only meaningful in order;
about a third of it is the method's description below, next to the code it describes.

How the two maps are made comparable
------------------------------------
1. **Sample.** Above ``max_points`` rows (default 20 000) a stratified random sample by domain:
   every domain keeps ``min(size, 50, max_points // n_domains)`` rows, the rest of the budget is
   shared in proportion to what the domains have left.
2. **Exact kNN graph per space**, of the sampled rows among themselves:
   :func:`diagnostics.knn.exact_top_k` (blocked matrix products) with the row itself put first at
   distance 0, as umap-learn expects of ``precomputed_knn``; distance = 1 - cosine. A graph the
   caller already has is reused when nothing was sampled.
3. **Base map**: ``umap.UMAP(precomputed_knn=..., init="pca")``, ``BASE_EPOCHS`` (80) epochs.
4. **Tuned map, started from the base map.** With :math:`s_i` the share of point :math:`i`'s base
   neighbors that are still its tuned neighbors, it starts at
   :math:`s_i b_i + (1 - s_i)\,\bar b_i`, where :math:`\bar b_i` is the mean base-map position of
   its tuned neighbors weighted by *their* :math:`s_j`: a point that kept its neighbors stays,
   one that did not starts among its new, stable neighbors (when domain A lands in domain B,
   A moves to B instead of both meeting half-way). ``TUNED_EPOCHS`` epochs of the tuned graph at
   learning rate ``TUNED_LEARNING_RATE`` refine that. Identical kNN graphs (e.g. the tuned space
   is a rotation of the base space) mean the same UMAP objective: the base map is reused and
   every displacement is exactly 0.
5. **Alignment.** The base map is centred and scaled to unit RMS radius; the tuned map, also at
   unit RMS radius, is fitted onto it by a weighted orthogonal Procrustes with translation and
   scale (Schönemann 1966; :func:`scipy.linalg.orthogonal_procrustes`), weights :math:`s_i`, so
   the unchanged parts of the map fix the frame. ``displacement_i = ||base_xy_i - tuned_xy_i||``.
6. **Quality.** Trustworthiness (Venna & Kaski 2001; :func:`sklearn.manifold.trustworthiness`) of
   each map against its own space, cosine, ``n_neighbors``, on a seeded sample of ``trust_sample``.

What displacement means
-----------------------
UMAP lays out the kNN graph, so displacement measures how much a point's *neighborhood* changed,
plus a noise floor from the stochastic layout (median ~0.07-0.25 of the RMS radius for points
whose neighbors barely changed). A domain that moves as a block without changing anyone's
neighbors leaves the graph, hence the map, unchanged: UMAP places detached clusters arbitrarily,
so no UMAP map shows such a move honestly (centroid cosines in :mod:`diagnostics.collapse` do).
Change is not damage: displacement says where to look, not whether retrieval got worse.

Measurements behind the choice (2 cores shared with other jobs: wall times +-40 %)
--------------------------------------------------------------------------------
After warm-up, 20 000 x 384, ``random_state=0`` (umap then runs single-threaded), interleaved runs:

* One plain ``umap.UMAP(n_neighbors=15, metric="cosine", random_state=0).fit_transform``:
  9-14 s wall, 10-12 s CPU on 20 000 MiniLM vectors of the six BEIR collections (NN-descent
  2-4 s, spectral init 1.5-7 s, 200 epochs ~8 s); 12-18 s wall on synthetic clustered vectors.
* This function, both maps, on a quiet machine: exact kNN 2.0 s per space (2 BLAS threads;
  ~4 CPU-s), base layout 3.2 s, tuned layout 1.2 s, trustworthiness 0.3 s: 8.8 s wall, 0.93x
  the plain fit. Under load from other jobs the two-thread products lose their second core:
  1.2-1.6x wall, 1.2-1.6x CPU (real and synthetic, 3 runs each).
* Spectral init costs 1.5-7 s on the real graph, PCA init 0.3 s at equal trustworthiness
  (100 epochs: PCA 0.940, spectral 0.936; plain fit 0.942). Base epochs with PCA init:
  60 -> 0.939, 80 -> 0.941, 100 -> 0.940, 150 -> 0.940. Tuned epochs: 20 -> 0.931, 30 -> 0.935.
* Planted test (5 000 synthetic points, domain d0's tuned vectors interleaved into d1, equal
  sizes): this scheme: trustworthiness 0.996 / 0.994, ROC-AUC of displacement for d0 against
  the unchanged domains 1.000, median displacement d0 1.4-1.6, d1 0.10, unchanged 0.09-0.11, ~5 s.
  ``umap.AlignedUMAP`` (2 x 5 000): 0.993 / 0.991, AUC 1.000, d0 1.41, d1 0.20, unchanged 0.21,
  125 s (17x a plain 5k fit). Two independent fits + Procrustes: AUC 0.96 but unchanged domains
  move 0.65 (detached clusters land anywhere). Real vectors (cisi's docs of the 20k sample
  interleaved into npl): AUC 1.000, median displacement 1.55 moved vs 0.12 unchanged.

The first UMAP call in a process imports and compiles numba code (~30 s with a cold numba cache,
~5-10 s with a warm one): call :func:`warm_up` at start-up (a background thread in the app,
before the timed part in a command line).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from diagnostics._validation import NORM_TOLERANCE, InputError, check_k, check_seed, check_unit_rows, check_whole  # noqa: F401
from diagnostics.neighbors import stratified_sample

__all__ = ["Projection", "project_pair", "warm_up"]

ProgressCallback: TypeAlias = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; the stage is always ``"projection"``."""

KnnGraph: TypeAlias = tuple[ArrayLike, ArrayLike]
"""``(indices, similarities)``, each of shape (n, k), as :func:`diagnostics.knn.exact_top_k` returns."""

#: Layout epochs of the base map (umap-learn's default is 200 above 10 000 points, 500 below; with
#: PCA initialisation 80 keep the same trustworthiness at 40 % of the cost, see the module notes).
BASE_EPOCHS = 80
#: Layout epochs of the tuned map, which starts from the base map.
TUNED_EPOCHS = 30
#: Initial learning rate of the tuned map's refinement (umap-learn's default is 1.0).
TUNED_LEARNING_RATE = 0.5
#: Each domain keeps at least this many sampled rows (fewer when the cap cannot afford it).
MIN_PER_DOMAIN = 50
#: Tolerance on the L2 norm of each input row.

#: Added to the kept-neighbor share of every point where it serves as a weight (never 0).
_WEIGHT_FLOOR = 1e-3
#: Similarities held at once by the kNN search (16M float32 = 64 MB).
_KNN_BLOCK_FLOATS = 16_000_000
_STAGE = "projection"
_N_STEPS = 5
_WARM_LOCK = threading.Lock()
_WARM_DONE = threading.Event()


@dataclass(frozen=True, eq=False)
class Projection:
    """Two comparable 2-D maps of the same items, from :func:`project_pair`.

    Attributes
    ----------
    rows : ndarray of shape (m,), int64
        Sorted row indices into the input matrices of the projected (sampled) items.
    base_xy : ndarray of shape (m, 2), float32
        The base map, centred, at unit RMS radius.
    tuned_xy : ndarray of shape (m, 2), float32
        The tuned map, fitted onto the base map by a similarity transform (rotation, scale,
        translation) weighted towards the points that kept their neighbors.
    displacement : ndarray of shape (m,), float32
        ``||base_xy - tuned_xy||`` per item, in units of the base map's RMS radius.
    trustworthiness_base, trustworthiness_tuned : float
        Trustworthiness of each map against its own space, in [0, 1].
    params : dict
        Every setting and what was done (sample size, epochs, where each kNN graph came from).
    """

    rows: NDArray[np.int64]
    base_xy: NDArray[np.float32]
    tuned_xy: NDArray[np.float32]
    displacement: NDArray[np.float32]
    trustworthiness_base: float
    trustworthiness_tuned: float
    params: dict[str, Any] = field(default_factory=dict)

    def to_frame(self, ids: ArrayLike, kinds: ArrayLike, domains: ArrayLike) -> pd.DataFrame:
        """One row per projected item.

        Parameters
        ----------
        ids, kinds, domains : array-like of length n (the input rows of :func:`project_pair`)
            Item id, ``"doc"``/``"query"`` and domain of every *input* row; the projected rows are
            picked from them.

        Returns
        -------
        pandas.DataFrame
            Columns ``row``, ``id``, ``kind``, ``domain``, ``x_base``, ``y_base``, ``x_tuned``,
            ``y_tuned``, ``displacement``; one row per entry of :attr:`rows`, in that order.
        """
        n_input = int(self.params.get("n_input", 0))
        columns: dict[str, NDArray[Any]] = {}
        for name, values in (("ids", ids), ("kinds", kinds), ("domains", domains)):
            arr = np.asarray(values, dtype=object)
            if arr.ndim != 1 or arr.shape[0] != n_input:
                raise InputError(
                    f"{name} must have one entry per input row of project_pair ({n_input}); "
                    f"got shape {arr.shape}; pass the same rows, in the same order, as base and tuned"
                )
            columns[name] = arr[self.rows]
        return pd.DataFrame(
            {
                "row": self.rows,
                "id": columns["ids"].astype(str),
                "kind": columns["kinds"].astype(str),
                "domain": columns["domains"].astype(str),
                "x_base": self.base_xy[:, 0],
                "y_base": self.base_xy[:, 1],
                "x_tuned": self.tuned_xy[:, 0],
                "y_tuned": self.tuned_xy[:, 1],
                "displacement": self.displacement,
            }
        )


def warm_up() -> None:
    """Compile UMAP's numba code paths used by :func:`project_pair` on a tiny input.

    The first UMAP fit of a process spends ~25-30 s compiling; call this once at start-up (the app
    from a background thread, the command line before its timed part). Thread-safe and idempotent:
    later calls return at once.
    """
    if _WARM_DONE.is_set():
        return
    with _WARM_LOCK:
        if _WARM_DONE.is_set():
            return
        rng = np.random.default_rng(0)
        centres = np.repeat(np.eye(8, dtype=np.float32)[:3], 40, axis=0)
        x = centres + 0.3 * rng.standard_normal(centres.shape).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        y = x[:, ::-1].copy()
        y[:40] = x[40:80] + 0.05 * rng.standard_normal((40, 8)).astype(np.float32)
        y /= np.linalg.norm(y, axis=1, keepdims=True)
        project_pair(x, y, labels=np.repeat(["a", "b", "c"], 40), n_neighbors=5, trust_sample=60)
        _WARM_DONE.set()


def project_pair(
    base: NDArray[np.float32],
    tuned: NDArray[np.float32],
    *,
    labels: ArrayLike,
    base_knn: KnnGraph | None = None,
    tuned_knn: KnnGraph | None = None,
    n_neighbors: int = 15,
    max_points: int = 20000,
    random_state: int = 0,
    trust_sample: int = 2000,
    progress: ProgressCallback | None = None,
) -> Projection:
    r"""Project the same items in the base and the tuned space to two comparable 2-D maps.

    See the module docstring for the method and its measured cost. Deterministic for a fixed
    ``random_state``.

    Parameters
    ----------
    base : ndarray of shape (n, d_base), float32
        L2-normalised base-model vectors (e.g. the documents, then the queries).
    tuned : ndarray of shape (n, d_tuned), float32
        L2-normalised tuned-model vectors of the same items in the same order; ``d_tuned`` may
        differ from ``d_base``.
    labels : array-like of str, length n
        Domain of every row, for the stratified sample.
    base_knn, tuned_knn : tuple (indices, similarities) of arrays of shape (n, k), optional
        A kNN graph of all ``n`` rows already computed in that space, as
        ``diagnostics.knn.exact_top_k(x, x, k=k)`` returns it (cosine *similarities*, best first;
        each row's self included, or excluded with ``exclude_self=True``), ``k >= n_neighbors``
        (``n_neighbors - 1`` when self is excluded). Used only when no sampling happens
        (``n <= max_points``): a graph over all rows is not the graph of a sample.
    n_neighbors : int, default=15
        UMAP's neighborhood size (self counted), also used for trustworthiness; 2 to 200.
    max_points : int, default=20000
        Above this many rows a stratified sample by domain of ``max_points`` rows is projected.
    random_state : int, default=0
        Seed of the sample, of UMAP (which then runs single-threaded) and of the trust sample.
    trust_sample : int, default=2000
        Points on which trustworthiness is computed (all points when fewer).
    progress : callable, optional
        ``progress("projection", done, total)`` after each of the 5 steps.

    Returns
    -------
    Projection
        ``rows`` (m,), ``base_xy`` / ``tuned_xy`` (m, 2), ``displacement`` (m,),
        the two trustworthiness values and ``params``; ``m = min(n, max_points)``.

    Raises
    ------
    InputError
        Matrices that are not 2-D, finite, unit-norm, or that differ in row count; ``labels`` of
        another length; ``n`` (or ``max_points``, or ``trust_sample``) too small for
        ``n_neighbors`` (trustworthiness needs more than ``2 * n_neighbors`` points); a malformed
        ``base_knn`` / ``tuned_knn``; bad option values.

    Notes
    -----
    Alignment: :math:`b_i`, :math:`t_i` are the two maps, each centred and scaled so that
    :math:`\frac{1}{m}\sum_i \lVert b_i \rVert^2 = 1`; :math:`s_i` is the share of point
    :math:`i`'s ``n_neighbors - 1`` base neighbors that are still tuned neighbors, and
    :math:`w_i \propto s_i + 10^{-3}`, :math:`\sum_i w_i = 1`. With weighted means :math:`\bar b`,
    :math:`\bar t`, the rotation :math:`R = \arg\min_{R^\top R = I} \sum_i w_i
    \lVert (t_i - \bar t) R - (b_i - \bar b) \rVert^2` (weighted orthogonal Procrustes,
    Schönemann 1966), the scale :math:`\sigma = \operatorname{tr}\Sigma / \sum_i w_i \lVert t_i -
    \bar t \rVert^2` (:math:`\Sigma` the singular values of the weighted cross-covariance), then
    ``tuned_xy`` :math:`= \sigma (t_i - \bar t) R + \bar b` and
    :math:`\mathrm{displacement}_i = \lVert b_i - \mathrm{tuned\_xy}_i \rVert_2`.

    Trustworthiness (Venna & Kaski 2001):
    :math:`T(k) = 1 - \frac{2}{nk(2n - 3k - 1)} \sum_i \sum_{j \in U_k(i)} (r(i, j) - k)`,
    where :math:`U_k(i)` are the map neighbors of :math:`i` that are not among its :math:`k`
    nearest in the space and :math:`r(i, j)` is the rank of :math:`j` by cosine distance in the space.

    References
    ----------
    McInnes, Healy & Melville, "UMAP: Uniform Manifold Approximation and Projection", 2018.
    Schönemann, "A generalized solution of the orthogonal Procrustes problem", Psychometrika, 1966.
    Venna & Kaski, "Neighborhood preservation in nonlinear projection methods", ICANN 2001.
    """
    report = progress or _noop
    x_base = _check_vectors(base, "base")
    x_tuned = _check_vectors(tuned, "tuned")
    n = x_base.shape[0]
    if x_tuned.shape[0] != n:
        raise InputError(
            f"base has {n} rows but tuned has {x_tuned.shape[0]}; they must hold the same items in "
            "the same order (row i of both is the same document or query)"
        )
    domains = _check_labels(labels, n)
    n_neighbors = check_k(n_neighbors, name="n_neighbors", low=2, high=200)
    max_points = check_whole(max_points, name="max_points", low=2 * n_neighbors + 1)
    trust_sample = check_whole(trust_sample, name="trust_sample", low=2 * n_neighbors + 1)
    seed: int = check_seed(random_state)
    if n <= 2 * n_neighbors:
        raise InputError(
            f"base and tuned have {n} rows, too few for n_neighbors={n_neighbors}: the projection "
            f"needs more than 2 * n_neighbors = {2 * n_neighbors} rows; pass more items or a "
            f"smaller n_neighbors (at most {max((n - 1) // 2, 1)})"
        )

    rows = stratified_sample(domains, max_items=max_points, min_per_domain=MIN_PER_DOMAIN, random_state=seed)
    sampled = rows.shape[0] < n
    xb, xt = (x_base[rows], x_tuned[rows]) if sampled else (x_base, x_tuned)
    source = "computed on the sample" if sampled else "computed"
    given_base = None if sampled or base_knn is None else _check_knn(base_knn, n, n_neighbors, "base_knn")
    given_tuned = None if sampled or tuned_knn is None else _check_knn(tuned_knn, n, n_neighbors, "tuned_knn")

    with warnings.catch_warnings():
        _quiet_umap_warnings()
        graph_base = given_base if given_base is not None else _exact_knn(xb, n_neighbors)
        report(_STAGE, 1, _N_STEPS)
        raw_base = _fit(xb, graph_base, n_neighbors=n_neighbors, init="pca", n_epochs=BASE_EPOCHS, seed=seed)
        report(_STAGE, 2, _N_STEPS)
        graph_tuned = given_tuned if given_tuned is not None else _exact_knn(xt, n_neighbors)
        report(_STAGE, 3, _N_STEPS)
        kept = _kept_neighbors(graph_base[0], graph_tuned[0])
        same_graph = _same_graph(graph_base, graph_tuned)
        if same_graph:
            raw_tuned = raw_base.copy()
        else:
            start = _start_from_base(raw_base, graph_tuned[0], kept)
            raw_tuned = _fit(
                xt, graph_tuned, n_neighbors=n_neighbors, init=start, n_epochs=TUNED_EPOCHS, seed=seed,
                learning_rate=TUNED_LEARNING_RATE,
            )
        report(_STAGE, 4, _N_STEPS)

    base_xy, tuned_xy, rotation, scale = _align(raw_base, raw_tuned, kept + _WEIGHT_FLOOR)
    displacement = np.linalg.norm(base_xy - tuned_xy, axis=1).astype(np.float32)
    trust_rows = _trust_rows(rows.shape[0], trust_sample, seed)
    trust_base = _trustworthiness(xb[trust_rows], base_xy[trust_rows], n_neighbors)
    trust_tuned = _trustworthiness(xt[trust_rows], tuned_xy[trust_rows], n_neighbors)
    report(_STAGE, 5, _N_STEPS)

    import umap

    params: dict[str, Any] = {
        "method": "umap on exact kNN graphs; tuned map started from the base map; weighted Procrustes",
        "n_input": n,
        "n_points": int(rows.shape[0]),
        "sampled": sampled,
        "max_points": max_points,
        "n_neighbors": n_neighbors,
        "random_state": seed,
        "metric": "cosine",
        "base_epochs": BASE_EPOCHS,
        "tuned_epochs": 0 if same_graph else TUNED_EPOCHS,
        "tuned_map": "base map reused (identical kNN graphs)" if same_graph else "refined from the base map",
        "tuned_learning_rate": TUNED_LEARNING_RATE,
        "knn_base": "given" if given_base is not None else source,
        "knn_tuned": "given" if given_tuned is not None else source,
        "alignment_rotation_deg": rotation,
        "alignment_scale": scale,
        "mean_kept_neighbors": float(kept.mean()),
        "trust_sample": int(trust_rows.shape[0]),
        "umap_version": str(getattr(umap, "__version__", "unknown")),
    }
    return Projection(
        rows=rows,
        base_xy=base_xy,
        tuned_xy=tuned_xy,
        displacement=displacement,
        trustworthiness_base=trust_base,
        trustworthiness_tuned=trust_tuned,
        params=params,
    )


# ---------------------------------------------------------------------------------------------------
# steps


def _noop(stage: str, done: int, total: int) -> None:
    return None


def _quiet_umap_warnings() -> None:
    """Silence umap-learn's expected warnings inside a ``warnings.catch_warnings`` block."""
    # No NNDescent index comes with a precomputed graph: ``transform`` is unavailable, as intended.
    warnings.filterwarnings("ignore", message=r".*knn_search_index.*")
    # A fixed random_state makes umap single-threaded and it says so.
    warnings.filterwarnings("ignore", message=r".*n_jobs value .* overridden.*")


def _fit(
    x: NDArray[np.float32],
    graph: tuple[NDArray[np.int64], NDArray[np.float32]],
    *,
    n_neighbors: int,
    init: str | NDArray[np.float32],
    n_epochs: int,
    seed: int,
    learning_rate: float = 1.0,
) -> NDArray[np.float32]:
    """One UMAP layout of ``x`` on its precomputed kNN graph; (m, 2) float32."""
    import umap

    indices, distances = graph
    model = umap.UMAP(
        n_neighbors=n_neighbors,
        n_components=2,
        metric="cosine",
        init=init,
        n_epochs=n_epochs,
        learning_rate=learning_rate,
        random_state=seed,
        precomputed_knn=(indices.copy(), distances.copy()),
        force_approximation_algorithm=True,
    )
    return np.asarray(model.fit_transform(x), dtype=np.float32)


def _exact_knn(x: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Exact cosine kNN graph of the rows of ``x`` among themselves, in umap's convention.

    :func:`diagnostics.knn.exact_top_k` with ``exclude_self=True`` gives the ``k - 1`` nearest other
    rows (blocked matrix products, ties to the lower row index); the row itself is put first at
    distance 0, as umap-learn expects of ``precomputed_knn`` -- also among duplicate vectors.
    """
    from diagnostics.knn import exact_top_k

    # Blocks of up to 1024 rows (fewer, larger products are faster) within a ~64 MB temporary.
    block_size = int(np.clip(_KNN_BLOCK_FLOATS // x.shape[0], 64, 1024))
    indices, similarities = exact_top_k(x, x, k=k - 1, exclude_self=True, block_size=block_size)
    return _prepend_self(indices, similarities)


def _prepend_self(
    indices: NDArray[np.int64], similarities: NDArray[np.float32]
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Self-excluded ``(indices, similarities)`` -> umap's ``(indices, distances)`` with self first.

    Distance = 1 - cosine, clipped at 0 (float error can push a cosine just above 1).
    """
    n = indices.shape[0]
    own = np.arange(n, dtype=np.int64)[:, None]
    idx = np.hstack([own, indices.astype(np.int64, copy=False)])
    dist = np.hstack([np.zeros((n, 1), dtype=np.float32), 1.0 - similarities.astype(np.float32)])
    return np.ascontiguousarray(idx), np.ascontiguousarray(np.maximum(dist, 0.0, dtype=np.float32))


def _same_graph(
    a: tuple[NDArray[np.int64], NDArray[np.float32]], b: tuple[NDArray[np.int64], NDArray[np.float32]]
) -> bool:
    """Same neighbors in the same order at (numerically) the same distances."""
    return bool(np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1], rtol=0.0, atol=1e-5))


def _kept_neighbors(base_idx: NDArray[np.int64], tuned_idx: NDArray[np.int64]) -> NDArray[np.float64]:
    """Per row, the share of its base neighbors (self excluded) that are still tuned neighbors."""
    a, b = base_idx[:, 1:], tuned_idx[:, 1:]
    hits = np.zeros(a.shape[0], dtype=np.int64)
    for j in range(b.shape[1]):  # k columns, each a vectorised pass: no (m, k, k) temporary
        hits += (a == b[:, j : j + 1]).any(axis=1)
    share: NDArray[np.float64] = hits / max(a.shape[1], 1)
    return share


def _start_from_base(
    raw_base: NDArray[np.float32], tuned_idx: NDArray[np.int64], kept: NDArray[np.float64]
) -> NDArray[np.float32]:
    r"""Starting positions of the tuned layout, from the base map.

    :math:`p_i = s_i b_i + (1 - s_i) \sum_{j} w_j b_j / \sum_j w_j` over the tuned neighbors
    :math:`j \ne i`, with :math:`s_i` the share of kept neighbors and :math:`w_j = s_j + \epsilon`:
    a point that kept its neighbors stays; one that did not starts among its new neighbors,
    weighted towards those that are themselves stable (so that when domain A lands in domain B,
    A moves to B rather than both meeting half-way).
    """
    neighbors = tuned_idx[:, 1:]
    weights = kept[neighbors] + _WEIGHT_FLOOR
    target = (raw_base[neighbors] * weights[..., None]).sum(axis=1) / weights.sum(axis=1, keepdims=True)
    start = kept[:, None] * raw_base + (1.0 - kept[:, None]) * target
    return np.ascontiguousarray(start, dtype=np.float32)


def _align(
    raw_base: NDArray[np.float32], raw_tuned: NDArray[np.float32], weights: NDArray[np.float64]
) -> tuple[NDArray[np.float32], NDArray[np.float32], float, float]:
    """Base map centred at unit RMS radius; the tuned map fitted onto it by a weighted similarity.

    Weighted orthogonal Procrustes with translation and scale: the points that kept their
    neighbors (large ``weights``) fix the transform, so that a part of the map that changed does
    not drag the unchanged parts along.
    """
    from scipy.linalg import orthogonal_procrustes

    b = _unit_rms(raw_base)
    t = _unit_rms(raw_tuned)
    w = weights / weights.sum()
    b_mean = w @ b
    t_mean = w @ t
    root = np.sqrt(w)[:, None]
    t0 = t - t_mean
    rotation, singular_sum = orthogonal_procrustes(root * t0, root * (b - b_mean))
    scale = float(singular_sum) / float(w @ (t0**2).sum(axis=1))
    tuned = scale * (t0 @ rotation) + b_mean
    angle = float(np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0])))
    return b.astype(np.float32), tuned.astype(np.float32), angle, scale


def _unit_rms(xy: NDArray[np.float32]) -> NDArray[np.float64]:
    centred: NDArray[np.float64] = xy.astype(np.float64) - xy.astype(np.float64).mean(axis=0)
    radius = float(np.sqrt((centred**2).sum(axis=1).mean()))
    return centred / radius if radius > 0 else centred


def _trust_rows(m: int, trust_sample: int, seed: int) -> NDArray[np.int64]:
    if m <= trust_sample:
        return np.arange(m, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(m, size=trust_sample, replace=False)).astype(np.int64)


def _trustworthiness(x: NDArray[np.float32], xy: NDArray[np.float32], n_neighbors: int) -> float:
    from sklearn.manifold import trustworthiness

    return float(trustworthiness(x, xy, n_neighbors=n_neighbors, metric="cosine"))


# ---------------------------------------------------------------------------------------------------
# validation


def _check_vectors(x: object, name: str) -> NDArray[np.float32]:
    """A 2-D finite float matrix with unit-norm rows, as C-contiguous float32."""
    if not isinstance(x, np.ndarray):
        raise InputError(
            f"{name} must be a numpy array of shape (n, dim); got {type(x).__name__}; "
            "pass np.asarray(vectors, dtype=np.float32)"
        )
    if x.ndim != 2 or x.shape[1] < 2:
        raise InputError(f"{name} must be 2-D, shape (n, dim) with dim >= 2; got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"{name} must hold floating-point vectors; got dtype {x.dtype}; pass float32 embeddings")
    m = np.ascontiguousarray(x, dtype=np.float32)
    check_unit_rows(m, name)
    return m


def _check_labels(labels: object, n: int) -> NDArray[np.str_]:
    if isinstance(labels, str) or labels is None:
        raise InputError(f"labels must be a sequence with the domain of each of the {n} rows; got {labels!r}")
    arr = np.asarray(labels, dtype=object)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise InputError(
            f"labels must have one domain per row ({n} rows in base and tuned); got shape {arr.shape}; "
            "pass the domain of every row, in the same order"
        )
    missing = [i for i, v in enumerate(arr) if v is None or (isinstance(v, float) and np.isnan(v))]
    if missing:
        raise InputError(f"labels row {missing[0]} has no domain ({arr[missing[0]]!r}); give every row a domain")
    return arr.astype(str)


def _check_knn(given: object, n: int, n_neighbors: int, name: str) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """A caller's (indices, similarities) graph over all n rows, as umap's (indices, distances)."""
    if not isinstance(given, tuple | list) or len(given) != 2:
        raise InputError(
            f"{name} must be a pair (indices, similarities) as diagnostics.knn.exact_top_k returns; "
            f"got {type(given).__name__}"
        )
    idx = np.asarray(given[0])
    sim = np.asarray(given[1])
    if idx.ndim != 2 or idx.shape != sim.shape or idx.shape[0] != n:
        raise InputError(
            f"{name} indices and similarities must both have shape ({n}, k), one row per input row; "
            f"got {idx.shape} and {sim.shape}"
        )
    if not np.issubdtype(idx.dtype, np.integer) or (idx.size and (idx.min() < 0 or idx.max() >= n)):
        raise InputError(f"{name} indices must be integer row indices in [0, {n}); pass the graph of these rows")
    if not np.issubdtype(sim.dtype, np.floating) or not np.isfinite(sim).all():
        raise InputError(f"{name} similarities must be finite floating-point cosines")
    if np.any(np.diff(sim, axis=1) > 1e-6):
        raise InputError(
            f"{name} similarities must be non-increasing along each row (best neighbor first); "
            "if you hold cosine distances, pass 1 - distance"
        )
    is_self = idx == np.arange(n)[:, None]
    contains = is_self.sum(axis=1)
    if np.any(contains > 1):
        raise InputError(f"{name} row {int(np.argmax(contains > 1))} lists itself twice; pass a proper kNN graph")
    if contains.all():
        # Drop each row's own entry (wherever duplicates put it), keep the others in rank order.
        others = ~is_self
        idx = idx[others].reshape(n, -1)
        sim = sim[others].reshape(n, -1)
    elif contains.any():
        raise InputError(
            f"{name} includes each row's self in some rows but not in others (row "
            f"{int(np.argmin(contains))} lacks it); pass exact_top_k(x, x, k=...) with or without "
            "exclude_self=True, not a mix"
        )
    if idx.shape[1] < n_neighbors - 1:
        found = idx.shape[1] + int(contains.all())
        raise InputError(
            f"{name} has {found} neighbors per row; n_neighbors={n_neighbors} needs at least "
            f"{n_neighbors} with self included ({n_neighbors - 1} with exclude_self=True); compute the "
            "graph with a larger k or lower n_neighbors"
        )
    k = n_neighbors - 1
    return _prepend_self(idx[:, :k].astype(np.int64), sim[:, :k].astype(np.float32))
