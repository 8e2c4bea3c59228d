"""Cluster collapse: did fine-tuning squeeze a domain together, or draw two domains into one?

Per domain, base vs tuned: the spread (mean intra-domain cosine, and uniformity after Wang &
Isola 2020), the effective rank of its vectors (Roy & Vetterli 2007), its silhouette by domain
label, and the cosine between domain centroids; globally, anisotropy (mean pairwise cosine) and
linear CKA between base and tuned (Kornblith et al. 2019), overall and per domain.
:func:`collapse_flags` turns them into explicit, documented flags: a domain *collapsed*, two
domains *merged*.

**Change is not damage.** These figures measure how much the space *moved*, not whether retrieval
got worse: fine-tuning that helps every domain also reshapes clusters, and a domain can lose
retrieval quality while its cluster looks unchanged. A collapse or merge flag points to where to
look; only judged retrieval (qrels) can fail a domain.

The figures themselves are computed in :mod:`diagnostics.geometry`; this module compares them
base vs tuned and flags what moved. Every name importable from here before they moved still is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from diagnostics._validation import InputError, check_seed, check_whole
from diagnostics.geometry import (
    DEFAULT_MAX_ITEMS,
    DEFAULT_MAX_PAIRS,
    _centred_grams,
    _check_pair,
    _cka_from_grams,
    _erank_from_gram,
    _groups,
    _intra_from_sum,
    _rng_for,
    _silhouettes,
    _uniformity_rows,
    _unit_sum,
    anisotropy,
    centroid_cosines,
    effective_rank,
    linear_cka,
    mean_intra_cosine,
    silhouette_by_domain,
    uniformity,
)
from diagnostics.neighbors import (
    OVERALL,
    _check_domains,
    _check_not_overall,
    stratified_sample,
)

__all__ = [
    "COLLAPSE_COSINE_RISE",
    "COLLAPSE_RANK_FALL",
    "MERGE_COSINE_RISE",
    "MERGE_MIN_COSINE",
    "FLAG_MIN_DOCS",
    "mean_intra_cosine",
    "uniformity",
    "effective_rank",
    "silhouette_by_domain",
    "centroid_cosines",
    "anisotropy",
    "linear_cka",
    "collapse_table",
    "collapse_flags",
]

COLLAPSE_COSINE_RISE = 0.10
"""Collapsed needs mean intra-domain cosine to rise by at least this (absolute, tuned - base) ..."""
COLLAPSE_RANK_FALL = 0.20
"""... and effective rank to fall by at least this fraction of its base value."""
MERGE_COSINE_RISE = 0.15
"""Merged needs the cosine between two domain centroids to rise by at least this ..."""
MERGE_MIN_COSINE = 0.80
"""... and to be at least this in the tuned space."""
FLAG_MIN_DOCS = 10
"""Domains with fewer documents are never flagged (their figures are too noisy)."""


# ----------------------------------------------------------------------------------------------
# base vs tuned
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PairStats:
    n: int
    sum_base: NDArray[np.float64]
    sum_tuned: NDArray[np.float64]
    gram_base: NDArray[np.float64]
    gram_tuned: NDArray[np.float64]
    cross: NDArray[np.float64]


def _pair_stats(
    x: NDArray[np.floating],
    wx: NDArray[np.float32],
    y: NDArray[np.floating],
    wy: NDArray[np.float32],
    idx: NDArray[np.int64],
) -> _PairStats:
    n = idx.shape[0]
    sx, sy = _unit_sum(x, wx, idx), _unit_sum(y, wy, idx)
    gxx, gyy, gyx = _centred_grams(x, wx, sx / n, idx, y, wy, sy / n)
    if gyy is None or gyx is None:  # pragma: no cover - both are set when y is given
        raise RuntimeError("internal error: missing tuned products")
    return _PairStats(n, sx, sy, gxx, gyy, gyx)


def _pooled(parts: Sequence[_PairStats]) -> _PairStats:
    """Statistics of the union of disjoint groups: within- plus between-group scatter."""
    n = sum(p.n for p in parts)
    sx = np.sum([p.sum_base for p in parts], axis=0)
    sy = np.sum([p.sum_tuned for p in parts], axis=0)
    gxx, gyy, gyx = (np.sum([getattr(p, f) for p in parts], axis=0) for f in ("gram_base", "gram_tuned", "cross"))
    for p in parts:
        dx = p.sum_base / p.n - sx / n
        dy = p.sum_tuned / p.n - sy / n
        gxx = gxx + p.n * np.outer(dx, dx)
        gyy = gyy + p.n * np.outer(dy, dy)
        gyx = gyx + p.n * np.outer(dy, dx)
    return _PairStats(n, sx, sy, gxx, gyy, gyx)


_FIGURES = ("intra_cosine", "uniformity", "effective_rank", "silhouette")


def collapse_table(
    base_docs: NDArray[np.floating],
    tuned_docs: NDArray[np.floating],
    domains: object,
    *,
    max_items: int = DEFAULT_MAX_ITEMS,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    t: float = 2.0,
    random_state: int = 0,
) -> pd.DataFrame:
    """Every collapse figure per domain, base vs tuned, plus an ``"overall"`` row.

    Per domain: mean intra-domain cosine (:func:`mean_intra_cosine`), uniformity
    (:func:`uniformity`), centred effective rank (:func:`effective_rank`), silhouette by domain
    label (:func:`silhouette_by_domain`), each as ``<figure>_base``, ``<figure>_tuned`` and
    ``<figure>_delta`` (tuned - base), and linear CKA between base and tuned on the domain's
    documents (:func:`linear_cka`, on unit vectors). The ``"overall"`` row holds the same figures
    over every document: its intra cosine is the :func:`anisotropy`, its silhouette the mean of
    the domain means weighted by domain size. One blocked pass per domain computes the sums and
    the ``dim x dim`` covariances the figures need; overall covariances are pooled from them.

    These measure how far the space moved, not whether retrieval got worse (module docstring).

    Parameters
    ----------
    base_docs : ndarray of shape (n, dim_base), float
    tuned_docs : ndarray of shape (n, dim_tuned), float
        Same documents, same order; dimensions may differ.
    domains : sequence of str, length n
    max_items : int, default 5000
        Silhouette sample cap (stratified by domain, same rows for both models).
    max_pairs : int, default 500000
        Uniformity pair cap per domain and overall (same documents for both models).
    t : float, default 2.0
        Uniformity temperature.
    random_state : int, default 0

    Returns
    -------
    pandas.DataFrame
        Columns ``domain``, ``n_docs``, ``n_silhouette`` (rows in the silhouette sample),
        ``intra_cosine_{base,tuned,delta}``, ``uniformity_{base,tuned,delta}``,
        ``effective_rank_{base,tuned,delta}``, ``silhouette_{base,tuned,delta}``, ``cka``; one row
        per domain (sorted) then ``"overall"``.
    """
    x, wx, y, wy = _check_pair(base_docs, tuned_docs)
    labels = _check_domains(domains, "domains", x.shape[0])
    order, groups = _groups(labels)
    _check_not_overall(order, "domains")
    max_pairs = check_whole(max_pairs, name="max_pairs", strict=True)
    seed = check_seed(random_state)
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t <= 0:
        raise InputError(f"t must be a positive number (the paper uses 2); got {t!r}")

    stats = [_pair_stats(x, wx, y, wy, idx) for idx in groups]
    pooled = _pooled(stats)
    all_rows = np.arange(x.shape[0], dtype=np.int64)

    sample = stratified_sample(labels, max_items=max_items, random_state=seed)
    sil_x = _silhouettes(x, labels, sample)
    sil_y = _silhouettes(y, labels, sample)
    sample_order, sample_groups = _groups(labels[sample])
    sil_index = dict(zip(sample_order, sample_groups, strict=True))

    records = []
    names = [*order, OVERALL]
    for i, (name, st) in enumerate(zip(names, [*stats, pooled], strict=True)):
        idx = groups[i] if name != OVERALL else all_rows
        row: dict[str, object] = {"domain": name, "n_docs": st.n}
        if name != OVERALL:
            part = sil_index[name]
            row["n_silhouette"] = int(part.shape[0])
            sil = (float(sil_x[part].mean()), float(sil_y[part].mean()))
        else:
            row["n_silhouette"] = int(sample.shape[0])
            weights = np.array([s.n for s in stats], dtype=np.float64) / st.n
            sil = (
                float(weights @ np.array([sil_x[sil_index[d]].mean() for d in order])),
                float(weights @ np.array([sil_y[sil_index[d]].mean() for d in order])),
            )
        rng_seed = len(order) if name == OVERALL else i
        figures = {
            "intra_cosine": (_intra_from_sum(st.sum_base, st.n), _intra_from_sum(st.sum_tuned, st.n)),
            "uniformity": (
                _uniformity_rows(x, wx, idx, t=float(t), max_pairs=max_pairs, rng=_rng_for(seed, rng_seed)),
                _uniformity_rows(y, wy, idx, t=float(t), max_pairs=max_pairs, rng=_rng_for(seed, rng_seed)),
            ),
            "effective_rank": (_erank_from_gram(st.gram_base, st.n), _erank_from_gram(st.gram_tuned, st.n)),
            "silhouette": sil,
        }
        for fig in _FIGURES:
            base_value, tuned_value = figures[fig]
            row[f"{fig}_base"] = base_value
            row[f"{fig}_tuned"] = tuned_value
            row[f"{fig}_delta"] = tuned_value - base_value
        row["cka"] = _cka_from_grams(st.gram_base, st.gram_tuned, st.cross) if st.n >= 2 else float("nan")
        records.append(row)
    columns = ["domain", "n_docs", "n_silhouette"]
    columns += [f"{fig}_{part}" for fig in _FIGURES for part in ("base", "tuned", "delta")] + ["cka"]
    return pd.DataFrame.from_records(records, columns=columns)


# ----------------------------------------------------------------------------------------------
# flags
# ----------------------------------------------------------------------------------------------


def _check_threshold(value: object, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= float(value) <= high:
        raise InputError(f"{name} must be a number from {low:g} to {high:g}; got {value!r}")
    return float(value)


def _check_centroids(frame: object, name: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{name} must be the DataFrame returned by centroid_cosines; got {type(frame).__name__}")
    if list(map(str, frame.index)) != list(map(str, frame.columns)):
        raise InputError(
            f"{name} must be square with the same domains as rows and columns, in the same order; "
            "pass the output of centroid_cosines unchanged"
        )
    return frame


_TABLE_COLUMNS = (
    "domain",
    "n_docs",
    "intra_cosine_base",
    "intra_cosine_tuned",
    "effective_rank_base",
    "effective_rank_tuned",
)


def collapse_flags(
    table: pd.DataFrame,
    base_centroids: pd.DataFrame,
    tuned_centroids: pd.DataFrame,
    *,
    collapse_cosine_rise: float = COLLAPSE_COSINE_RISE,
    collapse_rank_fall: float = COLLAPSE_RANK_FALL,
    merge_cosine_rise: float = MERGE_COSINE_RISE,
    merge_min_cosine: float = MERGE_MIN_COSINE,
    min_docs: int = FLAG_MIN_DOCS,
) -> pd.DataFrame:
    r"""Flag collapsed domains and merged domain pairs by explicit rules.

    Rules (defaults in brackets, each a keyword argument so a config file can override it):

    * **collapsed** -- a domain with at least ``min_docs`` documents [10] whose mean intra-domain
      cosine rose by at least ``collapse_cosine_rise`` [0.10] (absolute, tuned - base) *and* whose
      effective rank fell by at least ``collapse_rank_fall`` [0.20] of its base value
      (:math:`\mathrm{erank}_{tuned} \le (1 - 0.20)\,\mathrm{erank}_{base}`): its documents both
      drew together and spread along fewer directions.
    * **merged** -- two domains, each with at least ``min_docs`` documents, whose centroid cosine
      rose by at least ``merge_cosine_rise`` [0.15] *and* is at least ``merge_min_cosine`` [0.80]
      in the tuned space: they now point the same way.

    Both rules need two signals so that ordinary fine-tuning churn does not trip them. A flag
    says the space moved, not that retrieval got worse: only judged retrieval (qrels) can fail a
    domain. The overall row of ``table`` is ignored.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`collapse_table`.
    base_centroids, tuned_centroids : pandas.DataFrame
        The output of :func:`centroid_cosines` for each model (same domains).
    collapse_cosine_rise, collapse_rank_fall, merge_cosine_rise, merge_min_cosine : float
        Thresholds, see above.
    min_docs : int, default 10
        Smaller domains are never flagged.

    Returns
    -------
    pandas.DataFrame
        One row per flag, columns ``flag`` (``"collapsed"`` or ``"merged"``), ``domain``,
        ``other_domain`` (the second domain of a merged pair, else None) and ``reason`` (the rule
        and the numbers, in words); collapsed flags first, then merged pairs, each sorted. Empty
        (with these columns) when nothing is flagged.
    """
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"table must be the DataFrame returned by collapse_table; got {type(table).__name__}")
    missing = [c for c in _TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"table lacks column(s) {', '.join(missing)}; pass the output of collapse_table unchanged")
    base_c = _check_centroids(base_centroids, "base_centroids")
    tuned_c = _check_centroids(tuned_centroids, "tuned_centroids")
    if list(map(str, base_c.index)) != list(map(str, tuned_c.index)):
        raise InputError(
            "base_centroids and tuned_centroids cover different domains; compute both with "
            "centroid_cosines on the same domain labels"
        )
    cos_rise = _check_threshold(collapse_cosine_rise, "collapse_cosine_rise", 0.0, 2.0)
    rank_fall = _check_threshold(collapse_rank_fall, "collapse_rank_fall", 0.0, 1.0)
    merge_rise = _check_threshold(merge_cosine_rise, "merge_cosine_rise", 0.0, 2.0)
    merge_min = _check_threshold(merge_min_cosine, "merge_min_cosine", -1.0, 1.0)
    min_docs = check_whole(min_docs, name="min_docs", strict=True)

    rows = table[table["domain"].astype(str) != OVERALL]
    n_docs = dict(zip(rows["domain"].astype(str), rows["n_docs"].astype(int), strict=True))
    unknown = sorted(set(map(str, base_c.index)) - set(n_docs))
    if unknown:
        raise InputError(
            f"the centroid matrices have domain {unknown[0]!r}, which table does not; compute the table "
            "and the centroids on the same documents"
        )
    flags: list[dict[str, object]] = []
    ordered = rows.sort_values("domain")
    columns = [ordered[c].to_numpy(dtype=np.float64) for c in _TABLE_COLUMNS[2:]]
    for name, cos_b, cos_t, rank_b, rank_t in zip(ordered["domain"].astype(str), *columns, strict=True):
        n = n_docs[name]
        if n < min_docs or not (rank_b > 0):
            continue
        fall = 1.0 - rank_t / rank_b
        if cos_t - cos_b >= cos_rise and fall >= rank_fall:
            flags.append(
                {
                    "flag": "collapsed",
                    "domain": name,
                    "other_domain": None,
                    "reason": (
                        f"{name} collapsed: mean intra-domain cosine {cos_b:.2f} -> {cos_t:.2f} "
                        f"({cos_t - cos_b:+.2f}; rule: rise >= {cos_rise:.2f}) and effective rank "
                        f"{rank_b:.1f} -> {rank_t:.1f} ({-fall:+.0%}; rule: fall >= {rank_fall:.0%}). "
                        "The space moved; judged retrieval decides whether it hurt."
                    ),
                }
            )
    names = [str(d) for d in base_c.index]
    base_m = base_c.to_numpy(dtype=np.float64)
    tuned_m = tuned_c.to_numpy(dtype=np.float64)
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            b = names[j]
            if n_docs[a] < min_docs or n_docs[b] < min_docs:
                continue
            cb, ct = base_m[i, j], tuned_m[i, j]
            if ct - cb >= merge_rise and ct >= merge_min:
                first, second = sorted((a, b))
                flags.append(
                    {
                        "flag": "merged",
                        "domain": first,
                        "other_domain": second,
                        "reason": (
                            f"{first} and {second} merged: centroid cosine {cb:.2f} -> {ct:.2f} "
                            f"({ct - cb:+.2f}; rule: rise >= {merge_rise:.2f} and tuned >= {merge_min:.2f}). "
                            "The space moved; judged retrieval decides whether it hurt."
                        ),
                    }
                )
    frame = pd.DataFrame.from_records(flags, columns=["flag", "domain", "other_domain", "reason"])
    return frame.astype(object) if frame.empty else frame
