r"""Paired statistics of per-query differences: bootstrap CI, sign-flip test, Holm correction.

The base and the tuned model answer the same queries, so every comparison is paired: the unit is
the per-query difference :math:`\delta_i = m_i^{\mathrm{tuned}} - m_i^{\mathrm{base}}` of a metric
``m``, and the quantity of interest is its mean :math:`\bar\delta` (Δ). Everything is seeded: the
same input and ``random_state`` give the same interval and p-value.

References: Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 13 (percentile
interval); Smucker, Allan & Carterette 2007, "A comparison of statistical significance tests for
information retrieval evaluation", CIKM (randomisation test for paired IR runs); Holm 1979,
"A simple sequentially rejective multiple test procedure", Scand. J. Statist. 6(2).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from diagnostics._validation import InputError, check_seed, check_whole

__all__ = [
    "OVERALL",
    "paired_bootstrap_ci",
    "sign_flip_pvalue",
    "holm",
    "paired_comparison",
]

#: The ``domain`` label of the all-queries row of :func:`paired_comparison`: the one label of the all-domains
#: row everywhere (neighbors, collapse, the domain table); datasets may not name a domain so.
OVERALL = "overall"

_CELLS = 1 << 22  # random draws per vectorised chunk (32 MB of int64 / float64)

RandomState = int | np.integer | np.random.Generator


def paired_bootstrap_ci(
    deltas: ArrayLike,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    random_state: RandomState = 0,
) -> tuple[float, float]:
    r"""Percentile bootstrap confidence interval of the mean of paired differences.

    Draw ``n_resamples`` samples of size ``n`` with replacement from the ``n`` deltas, take each
    sample's mean :math:`\bar\delta^{*b}`, and return the :math:`\alpha/2` and :math:`1 - \alpha/2`
    quantiles of those means, :math:`\alpha = 1 - \text{confidence}` (Efron & Tibshirani 1993,
    ch. 13). Resampling whole deltas keeps each query's base and tuned values together.

    Parameters
    ----------
    deltas : array-like of float, shape (n,)
        Per-query differences, tuned minus base.
    n_resamples : int, default=2000
        Bootstrap resamples.
    confidence : float, default=0.95
        Coverage of the interval, in ``(0, 1)``.
    random_state : int or numpy.random.Generator, default=0
        Seed; the same seed gives the same interval.

    Returns
    -------
    (low, high) : tuple of float
        ``(nan, nan)`` when ``n == 0``; ``(0.0, 0.0)`` when every delta is 0.

    Examples
    --------
    >>> paired_bootstrap_ci([0.0, 0.0, 0.0])
    (0.0, 0.0)
    """
    d = _check_deltas(deltas)
    n_resamples = _check_count(n_resamples, "n_resamples")
    if not (isinstance(confidence, int | float) and 0.0 < float(confidence) < 1.0):
        raise InputError(f"confidence must be a number strictly between 0 and 1 (e.g. 0.95); got {confidence!r}")
    rng = _rng(random_state)
    n = d.size
    if n == 0:
        return float("nan"), float("nan")
    if not d.any():
        return 0.0, 0.0
    means = np.empty(n_resamples, dtype=np.float64)
    chunk = max(1, _CELLS // n)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = d[idx].mean(axis=1)
    alpha = 1.0 - float(confidence)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def sign_flip_pvalue(
    deltas: ArrayLike,
    *,
    n_permutations: int = 2000,
    random_state: RandomState = 0,
) -> float:
    r"""Two-sided paired randomisation (sign-flip) test of a zero mean difference.

    Under the null hypothesis the base and tuned values of a query are exchangeable, so each
    delta's sign is a fair coin. With :math:`T = |\sum_i \delta_i|` and :math:`T_b` the same
    statistic after random sign flips :math:`s_{bi} \in \{-1, +1\}`,

    .. math:: p = \frac{1 + \#\{b : T_b \ge T\}}{1 + m}

    over :math:`m` = ``n_permutations`` random flips (the +1 counts the observed assignment, which
    keeps the test valid: Phipson & Smyth 2010). When :math:`2^n \le m` every one of the
    :math:`2^n` assignments is enumerated instead and :math:`p = \#\{T_b \ge T\} / 2^n`, exactly.
    Randomisation tests are the recommended paired test for IR metrics (Smucker et al. 2007).

    Parameters
    ----------
    deltas : array-like of float, shape (n,)
        Per-query differences, tuned minus base.
    n_permutations : int, default=2000
        Random sign assignments.
    random_state : int or numpy.random.Generator, default=0
        Seed; the same seed gives the same p-value.

    Returns
    -------
    float
        In ``(0, 1]``; ``nan`` when ``n == 0``; ``1.0`` when every delta is 0.

    Examples
    --------
    >>> sign_flip_pvalue([0.5, 0.5])  # 2 of the 4 sign assignments reach |sum| = 1
    0.5
    """
    d = _check_deltas(deltas)
    m = _check_count(n_permutations, "n_permutations")
    rng = _rng(random_state)
    n = d.size
    if n == 0:
        return float("nan")
    if not d.any():
        return 1.0
    observed = abs(float(d.sum()))
    tolerance = 1e-9 * float(np.abs(d).sum())  # the observed assignment must count as "as extreme"
    if n < 63 and (1 << n) <= m:
        codes = np.arange(1 << n, dtype=np.int64)[:, None]
        signs = ((codes >> np.arange(n, dtype=np.int64)) & 1) * 2 - 1
        extreme = np.abs(signs @ d) >= observed - tolerance
        return float(extreme.mean())
    count = 0
    chunk = max(1, _CELLS // n)
    for start in range(0, m, chunk):
        size = min(chunk, m - start)
        signs = rng.integers(0, 2, size=(size, n), dtype=np.int8) * np.int8(2) - np.int8(1)
        count += int(np.count_nonzero(np.abs(signs @ d) >= observed - tolerance))
    return (count + 1) / (m + 1)


def holm(pvalues: ArrayLike) -> NDArray[np.float64]:
    r"""Holm step-down adjusted p-values (family-wise error control).

    With the :math:`m` non-missing p-values sorted ascending, :math:`p_{(1)} \le \dots \le p_{(m)}`,

    .. math:: \tilde p_{(i)} = \min\Bigl(1, \max_{j \le i} (m - j + 1)\, p_{(j)}\Bigr)

    (Holm 1979). The adjusted values are monotone in the raw ones and returned in input order; a
    NaN (a domain without judged queries) passes through as NaN and does not count in :math:`m`.

    Parameters
    ----------
    pvalues : array-like of float, shape (m,)
        Raw p-values in ``[0, 1]`` or NaN.

    Returns
    -------
    ndarray of shape (m,), float64

    Examples
    --------
    >>> holm([0.125, 0.5, 0.25, float("nan")]).tolist()
    [0.375, 0.5, 0.5, nan]
    """
    try:
        p = np.asarray(pvalues, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("pvalues must be a 1-D sequence of numbers in [0, 1] (NaN for a missing test)") from None
    if p.ndim != 1:
        raise InputError(f"pvalues must be a 1-D sequence of numbers; got shape {p.shape}")
    present = ~np.isnan(p)
    if ((p[present] < 0) | (p[present] > 1)).any():
        bad = float(p[present][(p[present] < 0) | (p[present] > 1)][0])
        raise InputError(f"pvalues must lie in [0, 1] (or be NaN for a missing test); found {bad!r}")
    out = np.full(p.shape, np.nan)
    values = p[present]
    m = values.size
    if m == 0:
        return out
    order = np.argsort(values, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * values[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    out[present] = adjusted
    return out


def paired_comparison(
    base: pd.DataFrame,
    tuned: pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    n_resamples: int = 2000,
    n_permutations: int = 2000,
    confidence: float = 0.95,
    random_state: RandomState = 0,
) -> pd.DataFrame:
    """Per-domain and overall mean, Δ, bootstrap CI, sign-flip p-value and Holm p-value.

    Parameters
    ----------
    base, tuned : pandas.DataFrame
        Per-query tables of the two models over the same queries in the same order, with columns
        ``query_id``, ``domain`` and one column per metric (as from
        :func:`diagnostics.retrieval.retrieval_metrics`).
    metrics : sequence of str, optional
        Metric columns to compare; default every column but ``query_id`` and ``domain``.
    n_resamples, n_permutations, confidence, random_state
        As in :func:`paired_bootstrap_ci` and :func:`sign_flip_pvalue`; every (domain, metric)
        cell uses the same seed, so the table is reproducible.

    Returns
    -------
    pandas.DataFrame
        Columns ``domain``, ``metric``, ``n_queries``, ``base``, ``tuned``, ``delta``
        (tuned − base of the means), ``ci_low``, ``ci_high``, ``p_value``, ``p_holm``. One row per
        (domain, metric), domains sorted, then a row per metric with ``domain == OVERALL`` for all
        queries pooled. ``p_holm`` is Holm-corrected across the domains of each metric; the
        overall row is not part of that family and keeps its raw p-value.
    """
    _check_pair(base, tuned)
    names = [c for c in base.columns if c not in ("query_id", "domain")] if metrics is None else list(metrics)
    missing = [m for m in names if m not in base.columns or m not in tuned.columns]
    if missing:
        raise InputError(
            f"metric column {missing[0]!r} is missing from the base or tuned table; "
            f"available: {[c for c in base.columns if c not in ('query_id', 'domain')]}"
        )
    domains = sorted(base["domain"].astype(str).unique())
    if OVERALL in domains:
        raise InputError(f"a domain is named {OVERALL!r}, which is reserved for the all-domains row; rename it")
    domain_of = base["domain"].astype(str).to_numpy()
    rows: list[dict[str, object]] = []
    for metric in names:
        b_all = base[metric].to_numpy(dtype=np.float64)
        t_all = tuned[metric].to_numpy(dtype=np.float64)
        block = []
        for domain in [*domains, OVERALL]:
            mask = np.ones(b_all.size, bool) if domain == OVERALL else domain_of == domain
            b, t = b_all[mask], t_all[mask]
            delta = t - b
            low, high = paired_bootstrap_ci(
                delta, n_resamples=n_resamples, confidence=confidence, random_state=random_state
            )
            empty = delta.size == 0
            block.append(
                {
                    "domain": domain,
                    "metric": metric,
                    "n_queries": int(delta.size),
                    "base": float("nan") if empty else float(b.mean()),
                    "tuned": float("nan") if empty else float(t.mean()),
                    "delta": float("nan") if empty else float(delta.mean()),
                    "ci_low": low,
                    "ci_high": high,
                    "p_value": sign_flip_pvalue(delta, n_permutations=n_permutations, random_state=random_state),
                }
            )
        adjusted = holm([row["p_value"] for row in block[:-1]])
        for row, p_adj in zip(block[:-1], adjusted, strict=True):
            row["p_holm"] = float(p_adj)
        block[-1]["p_holm"] = block[-1]["p_value"]
        rows.extend(block)
    columns = ["domain", "metric", "n_queries", "base", "tuned", "delta", "ci_low", "ci_high", "p_value", "p_holm"]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------------------------------


def _check_deltas(deltas: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(deltas)
    if arr.ndim != 1:
        raise InputError(f"deltas must be a 1-D sequence of per-query differences; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"deltas must be numbers; got dtype {arr.dtype}")
    d = arr.astype(np.float64)
    if not np.isfinite(d).all():
        bad = int(np.flatnonzero(~np.isfinite(d))[0])
        raise InputError(
            f"deltas[{bad}] is {d[bad]}; every per-query difference must be finite "
            "(a NaN metric means a query was scored without judgements: drop it first)"
        )
    return d


def _check_count(value: object, name: str) -> int:
    return check_whole(value, name=name, low=1, hint="at least 2000 is recommended")


def _rng(random_state: object) -> np.random.Generator:
    seed = check_seed(random_state, allow_generator=True)
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _check_pair(base: pd.DataFrame, tuned: pd.DataFrame) -> None:
    for name, frame in (("base", base), ("tuned", tuned)):
        if not isinstance(frame, pd.DataFrame) or not {"query_id", "domain"} <= set(frame.columns):
            raise InputError(
                f"{name} must be a per-query table with 'query_id' and 'domain' columns "
                "(the output of retrieval_metrics)"
            )
    if len(base) != len(tuned) or not np.array_equal(
        base["query_id"].astype(str).to_numpy(), tuned["query_id"].astype(str).to_numpy()
    ):
        raise InputError(
            f"base ({len(base)} queries) and tuned ({len(tuned)} queries) must list the same queries in "
            "the same order; compute both tables from the same dataset"
        )
