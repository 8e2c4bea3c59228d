"""The geometry of a vector set by domain: the figures that :mod:`diagnostics.collapse` compares.

Why one module past ~500 lines: every figure here is built from the same private blocked reductions
(unit sums, centred Gram matrices) that keep 100k-row matrices uncopied; splitting the figures apart
would make those reductions public.

Per domain: the spread (mean intra-domain cosine, and uniformity after Wang & Isola 2020), the
effective rank of its vectors (Roy & Vetterli 2007), its silhouette by domain label, and the cosine
between domain centroids; over the whole set, anisotropy (mean pairwise cosine); between two
representations of the same rows, linear CKA (Kornblith et al. 2019). The private blocked
reductions they share (sums of unit vectors, centred ``dim x dim`` covariances) also serve
:func:`diagnostics.collapse.collapse_table`, which computes every figure of a domain in one pass.

All geometry is cosine on L2-normalised rows: inputs are normalised on the fly (block by block),
so unit-norm ``float32`` matrices of 100k rows are never copied whole, and never to ``float64``;
``float64`` is used only for ``dim x dim`` reductions and one block of rows at a time.

Longer than the ~500 lines a module should stay under: seven public figures, each with its formula
and reference in its docstring, and the reductions they share; moving the reductions to a module of
their own would part every figure from the arithmetic that defines it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.linalg.blas import dsyrk
from threadpoolctl import threadpool_limits

from diagnostics._validation import InputError, check_seed, check_whole
from diagnostics.neighbors import _check_domains, stratified_sample

__all__ = [
    "mean_intra_cosine",
    "uniformity",
    "effective_rank",
    "silhouette_by_domain",
    "centroid_cosines",
    "anisotropy",
    "linear_cka",
]

DEFAULT_MAX_ITEMS = 5000
"""Silhouette sample cap (stratified by domain)."""
DEFAULT_MAX_PAIRS = 500_000
"""Uniformity pair cap per domain: all pairs up to it (about 1000 documents), else all pairs of a
seeded random subset of about 1000 documents."""

_BLOCK = 8192  # rows per block in the blocked reductions
_ZERO_SPREAD = 1e-10  # mean squared distance to the centroid below which a domain has no spread


# ----------------------------------------------------------------------------------------------
# validation and blocked reductions
# ----------------------------------------------------------------------------------------------


def _check_vectors(vectors: object, name: str) -> tuple[NDArray[np.floating], NDArray[np.float32]]:
    """The matrix (not copied) and the inverse L2 norm of each row."""
    if not isinstance(vectors, np.ndarray):
        raise InputError(
            f"{name} must be a numpy array of shape (n, dim); got {type(vectors).__name__}; "
            "pass Embeddings.docs or np.asarray(...) of the vectors"
        )
    if vectors.ndim != 2 or vectors.shape[0] == 0 or vectors.shape[1] == 0:
        raise InputError(
            f"{name} must be a non-empty 2-D array of shape (n, dim); got shape {vectors.shape}; "
            "pass one vector per row"
        )
    if not np.issubdtype(vectors.dtype, np.floating):
        raise InputError(
            f"{name} must hold floating-point vectors; got dtype {vectors.dtype}; cast them with .astype(np.float32)"
        )
    sq = np.einsum("ij,ij->i", vectors, vectors).astype(np.float64)
    bad = ~np.isfinite(sq)
    if bad.any():
        raise InputError(
            f"{name} row {int(np.argmax(bad))} holds NaN or infinite values; every vector must be "
            "finite: re-encode or drop that row"
        )
    zero = sq <= 0
    if zero.any():
        raise InputError(
            f"{name} row {int(np.argmax(zero))} is the zero vector, which has no direction (cosine is "
            "undefined); drop that row or re-encode it"
        )
    return vectors, (1.0 / np.sqrt(sq)).astype(np.float32)


def _check_pair(
    base: object, tuned: object, base_name: str = "base_docs", tuned_name: str = "tuned_docs"
) -> tuple[NDArray[np.floating], NDArray[np.float32], NDArray[np.floating], NDArray[np.float32]]:
    x, wx = _check_vectors(base, base_name)
    y, wy = _check_vectors(tuned, tuned_name)
    if x.shape[0] != y.shape[0]:
        raise InputError(
            f"{base_name} has {x.shape[0]} rows but {tuned_name} has {y.shape[0]}; both must hold the "
            "same documents in the same order"
        )
    return x, wx, y, wy


def _groups(labels: NDArray[np.object_]) -> tuple[list[str], list[NDArray[np.int64]]]:
    """Sorted domain names and the (sorted) row indices of each."""
    order, codes = np.unique(labels.astype(str), return_inverse=True)
    by_code = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes, minlength=len(order)))[:-1]
    return [str(d) for d in order], [part.astype(np.int64) for part in np.split(by_code, bounds)]


def _domains_for(vectors: NDArray[np.floating], domains: object) -> tuple[list[str], list[NDArray[np.int64]]]:
    labels = _check_domains(domains, "domains", vectors.shape[0])
    return _groups(labels)


def _blocks(idx: NDArray[np.int64]) -> Iterator[NDArray[np.int64]]:
    for start in range(0, idx.shape[0], _BLOCK):
        yield idx[start : start + _BLOCK]


def _unit(x: NDArray[np.floating], w: NDArray[np.float32], rows: NDArray[np.int64]) -> NDArray[np.floating]:
    """The normalised rows ``rows`` of ``x`` (a block-sized copy)."""
    out: NDArray[np.floating] = x[rows] * w[rows, None]
    return out


def _unit_sum(x: NDArray[np.floating], w: NDArray[np.float32], idx: NDArray[np.int64]) -> NDArray[np.float64]:
    """:math:`\\sum_i x_i / \\lVert x_i \\rVert` over ``idx``, in float64."""
    total = np.zeros(x.shape[1], dtype=np.float64)
    for rows in _blocks(idx):
        total += _unit(x, w, rows).sum(axis=0, dtype=np.float64)
    return total


def _centred_grams(
    x: NDArray[np.floating],
    wx: NDArray[np.float32],
    mx: NDArray[np.float64],
    idx: NDArray[np.int64],
    y: NDArray[np.floating] | None = None,
    wy: NDArray[np.float32] | None = None,
    my: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None, NDArray[np.float64] | None]:
    """``Xc^T Xc``, ``Yc^T Yc`` and ``Yc^T Xc`` of the rows ``idx``, centred by ``mx`` / ``my``.

    Each block of rows is gathered, scaled by ``w``, cast to float64 and centred before its
    products are accumulated: centring first avoids the cancellation of ``X^T X - n mu mu^T``.
    The two symmetric products are float64 (BLAS ``syrk``, half the work of a general product):
    float32 rounding there would show up in the effective rank, whose singular values are square
    roots of these eigenvalues (a 1e-7 eigenvalue error becomes a 3e-4 singular value). The cross
    product only feeds CKA, whose Frobenius norms need no more than float32.
    """
    gxx = np.zeros((x.shape[1], x.shape[1]), dtype=np.float64)
    gyy = gyx = None
    if y is not None and wy is not None and my is not None:
        gyy = np.zeros((y.shape[1], y.shape[1]), dtype=np.float64)
        gyx = np.zeros((y.shape[1], x.shape[1]), dtype=np.float64)
    for rows in _blocks(idx):
        bx = _unit(x, wx, rows).astype(np.float64)
        bx -= mx
        gxx += dsyrk(1.0, bx.T)  # upper triangle of bx^T bx; bx.T is Fortran-ordered, not copied
        if gyy is not None and gyx is not None and y is not None and wy is not None and my is not None:
            by = _unit(y, wy, rows).astype(np.float64)
            by -= my
            gyy += dsyrk(1.0, by.T)
            gyx += by.astype(np.float32).T @ bx.astype(np.float32)
    return _symmetric(gxx), None if gyy is None else _symmetric(gyy), gyx


def _symmetric(upper: NDArray[np.float64]) -> NDArray[np.float64]:
    """The full symmetric matrix from its upper triangle."""
    out: NDArray[np.float64] = np.triu(upper) + np.triu(upper, 1).T
    return out


def _intra_from_sum(total: NDArray[np.float64], n: int) -> float:
    """Mean off-diagonal cosine from the sum of unit vectors: (||s||^2 - n) / (n (n - 1))."""
    if n < 2:
        return float("nan")
    return float((total @ total - n) / (n * (n - 1)))


def _erank_from_gram(gram: NDArray[np.float64], n: int) -> float:
    """exp(entropy of the normalised singular values), from the centred Gram ``Xc^T Xc``."""
    if n < 2:
        return float("nan")
    # One thread: a dim x dim eigenproblem gains nothing from more, and OpenBLAS threads on a
    # shared, busy machine were measured to turn 10 ms into 3 s here.
    with threadpool_limits(limits=1, user_api="blas"):
        lam = np.clip(np.linalg.eigvalsh(gram), 0.0, None)
    if lam.sum() <= _ZERO_SPREAD * n:
        return 0.0
    sigma = np.sqrt(lam)
    p = sigma / sigma.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def _cka_from_grams(gxx: NDArray[np.float64], gyy: NDArray[np.float64], gyx: NDArray[np.float64]) -> float:
    denom = float(np.linalg.norm(gxx) * np.linalg.norm(gyy))
    if denom <= 0.0:
        return float("nan")
    return float(np.sum(gyx * gyx) / denom)


def _pair_sample_size(max_pairs: int) -> int:
    """The largest ``m`` with ``m (m - 1) / 2 <= max_pairs`` (at least 2)."""
    m = int((1.0 + math.sqrt(1.0 + 8.0 * max_pairs)) / 2.0)
    while m * (m - 1) // 2 > max_pairs:
        m -= 1
    return max(m, 2)


def _uniformity_rows(
    x: NDArray[np.floating],
    w: NDArray[np.float32],
    idx: NDArray[np.int64],
    *,
    t: float,
    max_pairs: int,
    rng: np.random.Generator,
) -> float:
    n = idx.shape[0]
    if n < 2:
        return float("nan")
    m = _pair_sample_size(max_pairs)
    rows = idx if n <= m else np.sort(rng.choice(idx, size=m, replace=False))
    unit = _unit(x, w, rows)
    cos = (unit @ unit.T)[np.triu_indices(rows.shape[0], k=1)].astype(np.float64)
    sq_dist = 2.0 - 2.0 * np.clip(cos, -1.0, 1.0)
    return float(np.log(np.mean(np.exp(-t * sq_dist))))


def _rng_for(random_state: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([random_state, stream]))


def _silhouettes(
    x: NDArray[np.floating], labels: NDArray[np.object_], sample: NDArray[np.int64]
) -> NDArray[np.float64]:
    r"""Silhouette (cosine) of each sampled row by domain label; NaN when undefined.

    Exact, from per-label sums instead of the m x m distance matrix: with unit rows
    :math:`u_i`, the mean cosine distance from ``i`` to label ``L`` is
    :math:`1 - u_i \cdot \sum_{j \in L} u_j / |L|` (``i`` itself left out of its own label).
    That is O(m dim) memory where :func:`sklearn.metrics.silhouette_samples` needs O(m^2)
    (200 MB at the default 5,000 rows); the two agree to float rounding (a test checks it).
    """
    sub_labels = labels[sample].astype(str)
    names, codes = np.unique(sub_labels, return_inverse=True)
    m, n_labels = sample.shape[0], len(names)
    if n_labels < 2 or n_labels > m - 1:
        return np.full(m, np.nan)
    u = x[sample].astype(np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", u, u))
    u /= np.where(norms > 0, norms, 1.0)[:, None]
    sums = np.zeros((n_labels, u.shape[1]))
    np.add.at(sums, codes, u)
    sizes = np.bincount(codes, minlength=n_labels).astype(np.float64)
    mean_dist = 1.0 - (u @ sums.T) / sizes  # (m, n_labels): mean distance to every member of each label
    own = codes
    self_dot = np.einsum("ij,ij->i", u, u)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = (sizes[own] * mean_dist[np.arange(m), own] - (1.0 - self_dot)) / (sizes[own] - 1)
    mean_dist[np.arange(m), own] = np.inf
    b = mean_dist.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (b - a) / np.maximum(a, b)
    out[sizes[own] <= 1] = 0.0  # sklearn's convention for a label with one member
    scores: NDArray[np.float64] = np.nan_to_num(out)
    return scores


# ----------------------------------------------------------------------------------------------
# single-model figures
# ----------------------------------------------------------------------------------------------


def mean_intra_cosine(vectors: NDArray[np.floating], domains: object) -> pd.Series:
    """Mean pairwise cosine within each domain, self pairs excluded.

    Exact and without an ``n x n`` matrix, by the sum-of-unit-vectors identity
    :math:`\\sum_{i \\ne j} \\cos(x_i, x_j) = \\lVert \\sum_i \\hat x_i \\rVert^2 - n`:

    .. math:: \\bar c_D = \\frac{\\lVert \\sum_{i \\in D} \\hat x_i \\rVert^2 - n_D}{n_D (n_D - 1)}

    A rise from base to tuned means the domain's documents drew together (movement, not damage).

    Parameters
    ----------
    vectors : ndarray of shape (n, dim), float
        One vector per document (normalised on the fly).
    domains : sequence of str, length n
        Domain of each row.

    Returns
    -------
    pandas.Series
        Indexed by domain (sorted), name ``intra_cosine``; NaN for a domain with one document.
    """
    x, w = _check_vectors(vectors, "vectors")
    order, groups = _domains_for(x, domains)
    values = [_intra_from_sum(_unit_sum(x, w, idx), idx.shape[0]) for idx in groups]
    return pd.Series(values, index=pd.Index(order, name="domain"), name="intra_cosine", dtype=np.float64)


def anisotropy(vectors: NDArray[np.floating]) -> float:
    """Mean cosine between two different vectors of the whole set (self pairs excluded).

    .. math:: a = \\frac{\\lVert \\sum_i \\hat x_i \\rVert^2 - n}{n (n - 1)}

    exact by the sum identity (Ethayarajh, "How Contextual are Contextualized Word
    Representations?", EMNLP 2019, measures anisotropy as the expected cosine of random pairs).
    0 for an isotropic space, near 1 when every vector points the same way.

    Parameters
    ----------
    vectors : ndarray of shape (n, dim), float, n >= 2

    Returns
    -------
    float
    """
    x, w = _check_vectors(vectors, "vectors")
    if x.shape[0] < 2:
        raise InputError("vectors has 1 row; anisotropy needs at least 2 vectors (it averages over pairs)")
    return _intra_from_sum(_unit_sum(x, w, np.arange(x.shape[0], dtype=np.int64)), x.shape[0])


def uniformity(
    vectors: NDArray[np.floating],
    domains: object,
    *,
    t: float = 2.0,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    random_state: int = 0,
) -> pd.Series:
    """Uniformity of each domain's unit vectors (Wang & Isola 2020).

    .. math:: U_D = \\log \\mathbb{E}_{i \\ne j \\in D}\\, e^{-t \\lVert \\hat x_i - \\hat x_j \\rVert^2}

    (Wang & Isola, "Understanding Contrastive Representation Learning through Alignment and
    Uniformity on the Hypersphere", ICML 2020), over unordered pairs of distinct documents: all of
    them when there are at most ``max_pairs``; above that, all pairs of a random subset of ``m``
    documents, ``m`` the largest with ``m (m - 1) / 2 <= max_pairs`` (an unbiased U-statistic
    estimate that gathers ``m`` rows, not ``2 * max_pairs``). The subset is drawn with a seed that
    depends only on ``random_state`` and the domain's position, so base and tuned are scored on
    the same documents. In ``[-2t, 0]`` since :math:`\\lVert \\hat x - \\hat y \\rVert^2 \\in [0, 4]`;
    lower is more uniform, 0 means every vector is the same. A rise is movement, not damage.

    Parameters
    ----------
    vectors : ndarray of shape (n, dim), float
    domains : sequence of str, length n
    t : float, default 2.0
        Temperature (the paper's default).
    max_pairs : int, default 500000
        Pair cap per domain (500000 pairs: a subset of 1000 documents).
    random_state : int, default 0

    Returns
    -------
    pandas.Series
        Indexed by domain (sorted), name ``uniformity``; NaN for a domain with one document.
    """
    x, w = _check_vectors(vectors, "vectors")
    order, groups = _domains_for(x, domains)
    max_pairs = check_whole(max_pairs, name="max_pairs", strict=True)
    seed = check_seed(random_state)
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t <= 0:
        raise InputError(f"t must be a positive number (the paper uses 2); got {t!r}")
    values = [
        _uniformity_rows(x, w, idx, t=float(t), max_pairs=max_pairs, rng=_rng_for(seed, i))
        for i, idx in enumerate(groups)
    ]
    return pd.Series(values, index=pd.Index(order, name="domain"), name="uniformity", dtype=np.float64)


def effective_rank(vectors: NDArray[np.floating], domains: object) -> pd.Series:
    """Effective rank of each domain's unit vectors, centred (Roy & Vetterli 2007).

    With :math:`\\sigma_1 \\ge \\dots \\ge 0` the singular values of the domain's matrix of unit
    vectors **after subtracting the domain mean**, :math:`p_k = \\sigma_k / \\sum_j \\sigma_j`:

    .. math:: \\mathrm{erank}_D = \\exp\\Big(-\\sum_k p_k \\log p_k\\Big)

    (Roy & Vetterli, "The effective rank: a measure of effective dimensionality", EUSIPCO 2007).
    Centred so that it measures how many directions the documents spread along around their
    centroid; the shared mean direction is what mean intra-domain cosine already measures. It lies
    in ``[1, min(n_D - 1, dim)]``; 0 when every vector is the same (no spread). Computed from the
    ``dim x dim`` covariance, never an ``n x n`` matrix. A fall is movement, not damage.

    Parameters
    ----------
    vectors : ndarray of shape (n, dim), float
    domains : sequence of str, length n

    Returns
    -------
    pandas.Series
        Indexed by domain (sorted), name ``effective_rank``; NaN for a domain with one document.
    """
    x, w = _check_vectors(vectors, "vectors")
    order, groups = _domains_for(x, domains)
    values = []
    for idx in groups:
        mean = _unit_sum(x, w, idx) / idx.shape[0]
        gram, _, _ = _centred_grams(x, w, mean, idx)
        values.append(_erank_from_gram(gram, idx.shape[0]))
    return pd.Series(values, index=pd.Index(order, name="domain"), name="effective_rank", dtype=np.float64)


def silhouette_by_domain(
    vectors: NDArray[np.floating],
    domains: object,
    *,
    max_items: int = DEFAULT_MAX_ITEMS,
    random_state: int = 0,
) -> pd.Series:
    """Mean silhouette (cosine distance) of each domain's documents, the domain being the label.

    .. math:: s_i = \\frac{b_i - a_i}{\\max(a_i, b_i)}

    with :math:`a_i` the mean cosine distance of document ``i`` to the other documents of its
    domain and :math:`b_i` the smallest mean distance to another domain (Rousseeuw, J. Comput.
    Appl. Math. 20, 1987; :func:`sklearn.metrics.silhouette_samples`). Above ``max_items`` rows,
    on a :func:`~diagnostics.neighbors.stratified_sample` (same ``random_state``, so base and
    tuned use the same rows). Near 1: the domain is a cluster of its own; near 0 or below: it
    overlaps others. A fall is movement, not damage.

    Parameters
    ----------
    vectors : ndarray of shape (n, dim), float
    domains : sequence of str, length n
    max_items : int, default 5000
        Sample cap.
    random_state : int, default 0

    Returns
    -------
    pandas.Series
        Indexed by domain (sorted), name ``silhouette``; all NaN when fewer than two domains.
    """
    x, _ = _check_vectors(vectors, "vectors")
    labels = _check_domains(domains, "domains", x.shape[0])
    sample = stratified_sample(labels, max_items=max_items, random_state=random_state)
    scores = _silhouettes(x, labels, sample)
    order, groups = _groups(labels[sample])
    values = [float(scores[idx].mean()) for idx in groups]
    return pd.Series(values, index=pd.Index(order, name="domain"), name="silhouette", dtype=np.float64)


def centroid_cosines(vectors: NDArray[np.floating], domains: object, *, centred: bool = False) -> pd.DataFrame:
    """Cosine between the centroids (mean unit vectors) of every two domains.

    .. math:: C_{AB} = \\cos(\\mu_A - c, \\mu_B - c), \\quad
              \\mu_D = \\frac{1}{n_D}\\sum_{i \\in D} \\hat x_i

    with :math:`c = 0` by default, or the mean unit vector of all documents when ``centred``.
    A rise from base to tuned means the two domains drew together (movement, not damage). A
    rise of global anisotropy (every vector sharing one direction) raises every uncentred
    centroid cosine at once; the centred variant removes that shared direction, so it shows
    which domains drew together *relative to the rest*.

    Parameters
    ----------
    vectors : ndarray of shape (n, dim), float
    domains : sequence of str, length n
    centred : bool, default False
        Subtract the mean unit vector of all documents from every centroid first.

    Returns
    -------
    pandas.DataFrame of shape (n_domains, n_domains)
        Symmetric, index ``domain`` and columns ``other_domain`` (both sorted), 1 on the diagonal
        (NaN for a domain whose centroid is the zero vector).
    """
    x, w = _check_vectors(vectors, "vectors")
    order, groups = _domains_for(x, domains)
    sums = np.stack([_unit_sum(x, w, idx) for idx in groups])
    centroids = sums / np.array([idx.shape[0] for idx in groups], dtype=np.float64)[:, None]
    if centred:
        centroids = centroids - sums.sum(axis=0) / x.shape[0]
    return _cosine_frame(centroids, order)


def _cosine_frame(vectors: NDArray[np.float64], order: Sequence[str]) -> pd.DataFrame:
    norms = np.linalg.norm(vectors, axis=1)
    scale = np.max(norms, initial=0.0)
    # A centroid whose norm is rounding noise (e.g. a centred centroid of the only domain) has no direction.
    has_direction = norms > 1e-12 * max(scale, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = vectors / np.where(has_direction, norms, np.nan)[:, None]
    cos = np.clip(unit @ unit.T, -1.0, 1.0)
    diagonal = np.where(has_direction, 1.0, np.nan)
    np.fill_diagonal(cos, diagonal)
    return pd.DataFrame(
        cos, index=pd.Index(list(order), name="domain"), columns=pd.Index(list(order), name="other_domain")
    )


def linear_cka(x: NDArray[np.floating], y: NDArray[np.floating]) -> float:
    """Linear centred kernel alignment of two representations of the same rows.

    .. math::

        \\mathrm{CKA}(X, Y) = \\frac{\\lVert Y_c^\\top X_c \\rVert_F^2}
                                   {\\lVert X_c^\\top X_c \\rVert_F \\, \\lVert Y_c^\\top Y_c \\rVert_F}

    with :math:`X_c`, :math:`Y_c` the column-centred matrices (Kornblith, Norouzi, Lee, Hinton,
    "Similarity of Neural Network Representations Revisited", ICML 2019, eq. for linear CKA in
    feature space). Works when ``dim_x != dim_y``; needs only ``dim x dim`` products, never the
    ``n x n`` Gram. 1 for identical representations up to rotation and isotropic scaling; lower
    means the geometry changed (movement, not damage). Rows are used as given (not normalised);
    :func:`collapse_table` passes unit vectors.

    Parameters
    ----------
    x : ndarray of shape (n, dim_x), float
    y : ndarray of shape (n, dim_y), float, same rows as ``x``

    Returns
    -------
    float
        In ``[0, 1]``; NaN when either matrix has no spread (all rows equal).
    """
    x, _, y, _ = _check_pair(x, y, "x", "y")
    if x.shape[0] < 2:
        raise InputError("x and y have 1 row; CKA needs at least 2 rows")
    idx = np.arange(x.shape[0], dtype=np.int64)
    ones_x = np.ones(x.shape[0], dtype=np.float32)
    ones_y = np.ones(y.shape[0], dtype=np.float32)
    mx = _unit_sum(x, ones_x, idx) / x.shape[0]
    my = _unit_sum(y, ones_y, idx) / y.shape[0]
    gxx, gyy, gyx = _centred_grams(x, ones_x, mx, idx, y, ones_y, my)
    if gyy is None or gyx is None:  # pragma: no cover - both are set when y is given
        raise RuntimeError("internal error: missing tuned products")
    return _cka_from_grams(gxx, gyy, gyx)

