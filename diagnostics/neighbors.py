"""Neighborhood overlap: how much each document's nearest documents changed from base to tuned.

Why one module past ~500 lines: the overlap, the gained and lost neighbors, the per-domain CI, the
domain flow and the stratified sample all take the same neighbor arrays and domain labels and share
their input checks; about two fifths of it is docstrings.

Following the Embedding Comparator (Boggust et al., 2022), every document ``i`` gets the Jaccard
similarity of its ``k`` nearest documents under the base and under the tuned model (itself
excluded). Around it: the distribution per domain (with a bootstrap CI of the mean when the overlap
comes from a stratified sample), the neighbors each document gained and lost, and the
domain x domain flow of neighbors (where the neighbors of domain A's documents live).

**Change is not damage.** These figures measure how much the space *moved*, not whether retrieval
got worse. Fine-tuning that helps every domain also churns neighborhoods, and a domain can lose
retrieval quality while its documents keep their neighbors (the damage is on the query side).
A low overlap points to where to look; only judged retrieval (qrels) can fail a domain.

Inputs are neighbor index arrays of shape ``(n_rows, k)`` (int64 document row indices, nearest
first, self excluded), as returned by the exact kNN in :mod:`diagnostics.knn`. At 100k documents
the neighbors come from an exact kNN of a :func:`stratified_sample` of the documents against the
whole corpus (``knn_rows``). The optional ``rows`` argument names the document of each row: when
given, it labels the output and every row is checked not to list its own document; when omitted,
rows are labelled by position ``0 .. n_rows - 1`` and self-exclusion is not checked (a sample's
row ``j`` is not document ``j``, so no check is possible without it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from diagnostics._validation import InputError, check_seed, check_whole

__all__ = [
    "OVERALL",
    "neighborhood_overlap",
    "neighbor_changes",
    "overlap_by_domain",
    "overlap_ci",
    "neighbor_flow",
    "stratified_sample",
]

OVERALL = "overall"
"""Label of the all-domains row in the per-domain tables of this module and :mod:`diagnostics.collapse`."""

DEFAULT_MIN_PER_DOMAIN = 50
"""Default floor of :func:`stratified_sample`: every domain keeps at least this many documents (or all)."""

_BOOTSTRAP_CHUNK = 2_000_000  # resampled values held in memory at once by overlap_ci


# ----------------------------------------------------------------------------------------------
# validation helpers (shared with diagnostics.collapse)
# ----------------------------------------------------------------------------------------------


def _check_neighbors(nn: object, name: str) -> NDArray[np.int64]:
    """A 2-D array of non-negative integer row indices, no index twice in a row."""
    arr = np.asarray(nn)
    if arr.ndim != 2:
        raise InputError(
            f"{name} must be a 2-D array of neighbor row indices of shape (n_rows, k); "
            f"got an array with {arr.ndim} dimension(s) of shape {arr.shape}; "
            "pass the index array returned by the kNN"
        )
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(
            f"{name} must hold integer row indices; got dtype {arr.dtype}; "
            "pass the index array of the kNN, not its similarity scores"
        )
    if arr.shape[1] == 0:
        raise InputError(f"{name} has 0 columns: k must be at least 1; compute at least one neighbor per row")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and int(arr.min()) < 0:
        row, col = (int(v) for v in np.argwhere(arr < 0)[0])
        raise InputError(
            f"{name} row {row} column {col} holds {int(arr[row, col])}: neighbor indices must be "
            "non-negative row indices; compute neighbors with k smaller than the number of documents "
            "so that no slot is padded"
        )
    ordered = np.sort(arr, axis=1)
    dup = ordered[:, 1:] == ordered[:, :-1]
    if dup.any():
        row = int(np.argwhere(dup.any(axis=1))[0, 0])
        value = int(ordered[row, 1:][dup[row]][0])
        raise InputError(
            f"{name} row {row} lists document {value} more than once; each row must hold k distinct "
            "neighbors; compute them with an exact kNN"
        )
    return arr


def _check_rows(rows: ArrayLike | None, n_rows: int, name: str = "rows") -> NDArray[np.int64]:
    """Document row index of each row of a neighbor array (default: positions ``arange(n_rows)``)."""
    if rows is None:
        return np.arange(n_rows, dtype=np.int64)
    arr = np.asarray(rows)
    if arr.ndim != 1 or (arr.size and (arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer))):
        raise InputError(
            f"{name} must be a 1-D array of integer document row indices; got dtype {arr.dtype} "
            f"and shape {arr.shape}; pass the indices returned by stratified_sample"
        )
    if arr.shape[0] != n_rows:
        raise InputError(
            f"{name} has {arr.shape[0]} entries but the neighbor arrays have {n_rows} rows; "
            "pass one document row index per row of the neighbor arrays"
        )
    arr = arr.astype(np.int64, copy=False)
    if arr.size and int(arr.min()) < 0:
        raise InputError(f"{name} holds a negative index ({int(arr.min())}); row indices start at 0")
    return arr


def _check_self_excluded(nn: NDArray[np.int64], rows: NDArray[np.int64], name: str) -> None:
    hit = nn == rows[:, None]
    if hit.any():
        j = int(np.argwhere(hit.any(axis=1))[0, 0])
        raise InputError(
            f"{name} row {j} (document {int(rows[j])}) lists the document itself as a neighbor; "
            "neighborhoods exclude self: ask the kNN for k + 1 neighbors and drop the document itself, "
            "or pass the right `rows` when the neighbor arrays cover a sample"
        )


def _check_domains(domains: object, name: str, n: int | None = None) -> NDArray[np.object_]:
    """Domain labels as a 1-D object array of ``str`` (no missing values)."""
    if isinstance(domains, str | bytes):
        raise InputError(f"{name} must be one domain label per row (a sequence); got a single string")
    try:
        values = pd.Series(domains, dtype=object) if not isinstance(domains, pd.Series) else domains
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a 1-D sequence of domain labels; got {type(domains).__name__}") from exc
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise InputError(f"{name} must be a 1-D sequence of domain labels; got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise InputError(
            f"{name} has {arr.shape[0]} labels but {n} were expected (one per row); "
            "pass the domain of every row, in row order"
        )
    missing = pd.isna(values).to_numpy()
    if missing.any():
        raise InputError(
            f"{name} entry {int(np.argmax(missing))} has no domain; every row needs a domain label "
            "(fill missing domains, e.g. with 'unknown')"
        )
    return np.asarray([str(v) for v in arr], dtype=object)


def _encode(labels: NDArray[np.object_], order: Sequence[str]) -> NDArray[np.int64]:
    """Codes of ``labels`` in ``order`` (every label must be in ``order``)."""
    codes = pd.Categorical(labels, categories=list(order)).codes.astype(np.int64)
    return codes


def _check_not_overall(labels: Sequence[str], name: str) -> None:
    if OVERALL in set(labels):
        raise InputError(
            f"{name} contains a domain named {OVERALL!r}, which is reserved for the all-domains row; rename that domain"
        )


# ----------------------------------------------------------------------------------------------
# overlap and changes
# ----------------------------------------------------------------------------------------------


def _membership(a: NDArray[np.int64], b: NDArray[np.int64]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per element: is ``a[i, j]`` in row ``b[i]`` / is ``b[i, j]`` in row ``a[i]``."""
    n = a.shape[0]
    width = int(max(a.max(initial=0), b.max(initial=0))) + 1
    row = np.arange(n, dtype=np.int64)[:, None] * width  # n * width stays far below 2**63 in practice
    key_a = (a + row).ravel()
    key_b = (b + row).ravel()
    in_b = np.isin(key_a, key_b).reshape(a.shape)
    in_a = np.isin(key_b, key_a).reshape(b.shape)
    return in_b, in_a


def _paired(
    base_nn: ArrayLike, tuned_nn: ArrayLike, rows: ArrayLike | None
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    base = _check_neighbors(base_nn, "base_nn")
    tuned = _check_neighbors(tuned_nn, "tuned_nn")
    if base.shape[0] != tuned.shape[0]:
        raise InputError(
            f"base_nn has {base.shape[0]} rows but tuned_nn has {tuned.shape[0]}; both must describe "
            "the same documents in the same order"
        )
    row_ids = _check_rows(rows, base.shape[0])
    if rows is not None:
        _check_self_excluded(base, row_ids, "base_nn")
        _check_self_excluded(tuned, row_ids, "tuned_nn")
    return base, tuned, row_ids


def neighborhood_overlap(
    base_nn: ArrayLike, tuned_nn: ArrayLike, *, rows: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Per-document Jaccard similarity of the base and tuned neighborhoods.

    .. math::

        J_i(k) = \\frac{|N_k^{base}(i) \\cap N_k^{tuned}(i)|}{|N_k^{base}(i) \\cup N_k^{tuned}(i)|}

    with :math:`N_k(i)` the ``k`` nearest documents of document ``i``, itself excluded
    (Boggust, Carter, Satyanarayan, "Embedding Comparator: Visualizing Differences in Global
    Structure and Local Neighborhoods via Small Multiples", IUI 2022). 1 means the same
    neighbors, 0 none in common. This measures movement, not damage (see the module docstring).

    Parameters
    ----------
    base_nn, tuned_nn : array of shape (n_rows, k_base) and (n_rows, k_tuned), int
        Neighbor document row indices under each model (order within a row does not matter).
        Usually ``k_base == k_tuned``.
    rows : array of shape (n_rows,), int, optional
        Document row index of each row. When given, no row may list its own document (checked);
        when omitted, nothing is checked (row ``j`` of a sample is not document ``j``).

    Returns
    -------
    ndarray of shape (n_rows,), float64
        :math:`J_i` per row, in ``[0, 1]``.

    Raises
    ------
    InputError
        Arrays that are not 2-D integer index arrays, rows with repeated or negative indices,
        a document listed as its own neighbor (when ``rows`` is given), or row counts that differ.

    Examples
    --------
    >>> neighborhood_overlap([[1, 2, 3]], [[2, 3, 4]])
    array([0.5])
    """
    base, tuned, _ = _paired(base_nn, tuned_nn, rows)
    in_tuned, _ = _membership(base, tuned)
    inter = in_tuned.sum(axis=1, dtype=np.int64)
    union = base.shape[1] + tuned.shape[1] - inter
    out: NDArray[np.float64] = inter / union
    return out


def neighbor_changes(base_nn: ArrayLike, tuned_nn: ArrayLike, *, rows: ArrayLike | None = None) -> pd.DataFrame:
    """The neighbors each document gained and lost from base to tuned, as a long table.

    A *gained* neighbor is in the tuned top-k but not in the base top-k; a *lost* one the reverse
    (:math:`N^{tuned}(i) \\setminus N^{base}(i)` and :math:`N^{base}(i) \\setminus N^{tuned}(i)`).
    Churn is movement, not damage (see the module docstring).

    Parameters
    ----------
    base_nn, tuned_nn : array of shape (n_rows, k_base) and (n_rows, k_tuned), int
        Neighbor document row indices, nearest first, self excluded.
    rows : array of shape (n_rows,), int, optional
        Document row index of each row, used for the ``row`` column and to check that no row
        lists its own document (default: positions ``0 .. n_rows - 1``, not checked).

    Returns
    -------
    pandas.DataFrame
        One row per changed neighbor, columns ``row`` (``rows[j]``, or the position ``j``, int64),
        ``neighbor`` (document row index of the neighbor, int64), ``change`` (``"gained"`` or
        ``"lost"``) and ``rank`` (1-based rank in the list it appears in: tuned for gained, base
        for lost, int64); sorted by ``row``, ``change``, ``rank``. Documents whose neighborhood
        did not change have no rows.

    Examples
    --------
    >>> neighbor_changes([[1, 2, 3]], [[2, 3, 4]]).to_dict("list")
    {'row': [0, 0], 'neighbor': [4, 1], 'change': ['gained', 'lost'], 'rank': [3, 1]}
    """
    base, tuned, row_ids = _paired(base_nn, tuned_nn, rows)
    in_tuned, in_base = _membership(base, tuned)
    gained_r, gained_c = np.nonzero(~in_base)
    lost_r, lost_c = np.nonzero(~in_tuned)
    frame = pd.DataFrame(
        {
            "row": np.concatenate([row_ids[gained_r], row_ids[lost_r]]).astype(np.int64),
            "neighbor": np.concatenate([tuned[gained_r, gained_c], base[lost_r, lost_c]]).astype(np.int64),
            "change": np.array(["gained"] * len(gained_r) + ["lost"] * len(lost_r), dtype=object),
            "rank": np.concatenate([gained_c + 1, lost_c + 1]).astype(np.int64),
        }
    )
    return frame.sort_values(["row", "change", "rank"], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# per-domain summaries
# ----------------------------------------------------------------------------------------------


def _check_overlap(overlap: ArrayLike, domains: object) -> tuple[NDArray[np.float64], NDArray[np.object_]]:
    values = np.asarray(overlap, dtype=np.float64)
    if values.ndim != 1:
        raise InputError(
            f"overlap must be a 1-D array (one value per document); got shape {values.shape}; "
            "pass the output of neighborhood_overlap"
        )
    if values.size and (not np.isfinite(values).all() or values.min() < 0 or values.max() > 1):
        raise InputError(
            "overlap must hold finite values in [0, 1]; got values outside that range; "
            "pass the output of neighborhood_overlap"
        )
    labels = _check_domains(domains, "domains", values.shape[0])
    _check_not_overall(list(labels), "domains")
    return values, labels


def overlap_by_domain(overlap: ArrayLike, domains: object) -> pd.DataFrame:
    """Distribution of the neighborhood overlap per domain, plus an ``"overall"`` row.

    Parameters
    ----------
    overlap : array of shape (n_rows,), float
        :math:`J_i` per document, from :func:`neighborhood_overlap`.
    domains : sequence of str, length n_rows
        Domain of each of those documents (with a sample: ``docs["domain"].to_numpy()[rows]``).

    Returns
    -------
    pandas.DataFrame
        Columns ``domain``, ``count``, ``mean``, ``median``, ``q10``, ``q25``, ``q75``, ``q90``;
        one row per domain (sorted) then the ``"overall"`` row, which pools every given value.
        Quantiles use numpy's default (linear) interpolation. With a stratified sample the pooled
        row over-weights small domains; :func:`overlap_ci` gives a population-weighted mean.
    """
    values, labels = _check_overlap(overlap, domains)
    order = sorted(set(labels))
    records = []
    for name, part in [(d, values[labels == d]) for d in order] + [(OVERALL, values)]:
        if part.size:
            q10, q25, median, q75, q90 = np.quantile(part, [0.1, 0.25, 0.5, 0.75, 0.9])
            mean = float(part.mean())
        else:
            q10 = q25 = median = q75 = q90 = mean = float("nan")
        records.append(
            {
                "domain": name,
                "count": int(part.size),
                "mean": mean,
                "median": float(median),
                "q10": float(q10),
                "q25": float(q25),
                "q75": float(q75),
                "q90": float(q90),
            }
        )
    return pd.DataFrame.from_records(records, columns=["domain", "count", "mean", "median", "q10", "q25", "q75", "q90"])


def _bootstrap_means(values: NDArray[np.float64], n_resamples: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """``n_resamples`` means of resamples (with replacement) of ``values``."""
    m = values.shape[0]
    out = np.empty(n_resamples, dtype=np.float64)
    step = max(1, _BOOTSTRAP_CHUNK // max(m, 1))
    for start in range(0, n_resamples, step):
        stop = min(n_resamples, start + step)
        idx = rng.integers(0, m, size=(stop - start, m))
        out[start:stop] = values[idx].mean(axis=1)
    return out


def overlap_ci(
    overlap: ArrayLike,
    domains: object,
    *,
    population: object = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> pd.DataFrame:
    """Mean neighborhood overlap per domain with a bootstrap confidence interval.

    Each domain's documents are resampled with replacement ``n_resamples`` times (a stratified
    bootstrap); the interval is the percentile interval of the resampled means (Efron &
    Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 13). The ``"overall"`` mean is
    :math:`\\sum_d w_d \\bar J_d` with :math:`w_d` the share of domain ``d`` in ``population``
    (in the given rows when no population is given), so a stratified sample's floor does not
    over-weight small domains; its interval comes from the same resamples.

    Parameters
    ----------
    overlap : array of shape (n_rows,), float
        :math:`J_i` per sampled document, from :func:`neighborhood_overlap`.
    domains : sequence of str, length n_rows
        Domain of each sampled document.
    population : sequence of str, optional
        Domain of every document of the corpus, when ``overlap`` covers a sample of it: gives
        ``n_docs`` and the weights of the overall mean. Default: the rows are the population.
    n_resamples : int, default 1000
        Bootstrap resamples.
    confidence : float, default 0.95
        Coverage of the interval, in (0, 1).
    random_state : int, default 0
        Seed of the resampling.

    Returns
    -------
    pandas.DataFrame
        Columns ``domain``, ``n_sampled``, ``n_docs``, ``mean``, ``ci_low``, ``ci_high``; one row per
        domain (sorted) then ``"overall"``. A domain with one sampled document has a zero-width
        interval.
    """
    values, labels = _check_overlap(overlap, domains)
    n_resamples = check_whole(n_resamples, name="n_resamples", strict=True)
    if isinstance(confidence, bool) or not isinstance(confidence, float | int) or not 0 < confidence < 1:
        raise InputError(f"confidence must be a number strictly between 0 and 1 (e.g. 0.95); got {confidence!r}")
    rng = np.random.default_rng(check_seed(random_state))
    order = sorted(set(labels))
    sampled = {d: int((labels == d).sum()) for d in order}
    if population is None:
        counts = dict(sampled)
    else:
        pop = _check_domains(population, "population")
        names, pop_counts = np.unique(pop.astype(str), return_counts=True)
        counts = {str(d): int(c) for d, c in zip(names, pop_counts, strict=True)}
        extra = sorted(set(order) - set(counts))
        if extra:
            raise InputError(
                f"domains has domain {extra[0]!r}, which population does not have; pass the domains of "
                "the whole corpus as population"
            )
        unsampled = sorted(set(counts) - set(order))
        if unsampled:
            raise InputError(
                f"population has {counts[unsampled[0]]} documents of domain {unsampled[0]!r} but none was "
                "sampled; draw the sample with stratified_sample, which keeps every domain"
            )
    total = sum(counts[d] for d in order)
    alpha = (1.0 - float(confidence)) / 2.0
    boots = np.empty((len(order), n_resamples), dtype=np.float64)
    records = []
    for i, d in enumerate(order):
        part = values[labels == d]
        boots[i] = _bootstrap_means(part, n_resamples, rng)
        low, high = np.quantile(boots[i], [alpha, 1.0 - alpha])
        records.append(
            {
                "domain": d,
                "n_sampled": sampled[d],
                "n_docs": counts[d],
                "mean": float(part.mean()),
                "ci_low": float(low),
                "ci_high": float(high),
            }
        )
    if order:
        weights = np.array([counts[d] / total for d in order], dtype=np.float64)
        means = np.array([r["mean"] for r in records], dtype=np.float64)
        overall_boot = weights @ boots
        low, high = np.quantile(overall_boot, [alpha, 1.0 - alpha])
        overall_mean = float(weights @ means)
    else:
        low = high = overall_mean = float("nan")
    records.append(
        {
            "domain": OVERALL,
            "n_sampled": int(values.size),
            "n_docs": int(total),
            "mean": overall_mean,
            "ci_low": float(low),
            "ci_high": float(high),
        }
    )
    return pd.DataFrame.from_records(records, columns=["domain", "n_sampled", "n_docs", "mean", "ci_low", "ci_high"])


def neighbor_flow(
    nn: ArrayLike,
    row_domains: object,
    neighbor_domains: object,
    *,
    domains: Sequence[str] | None = None,
    normalize: bool = True,
) -> pd.DataFrame:
    """Domain x domain flow of neighbors: where the neighbors of each domain's documents live.

    .. math::

        F_{AB} = \\frac{|\\{(i, j) : \\mathrm{dom}(i) = A,\\ j \\in N_k(i),\\ \\mathrm{dom}(j) = B\\}|}
                       {k \\cdot |\\{i : \\mathrm{dom}(i) = A\\}|}

    Compute it once per model and compare: mass leaving the diagonal means a domain's documents
    now sit among another domain's (movement, not damage; see the module docstring).

    Parameters
    ----------
    nn : array of shape (n_rows, k), int
        Neighbor document row indices of each row, self excluded.
    row_domains : sequence of str, length n_rows
        Domain of the document of each row (with a sample: ``all_domains[rows]``).
    neighbor_domains : sequence of str, length n_docs
        Domain of every document the indices in ``nn`` refer to (the whole corpus).
    domains : sequence of str, optional
        Row and column order (default: sorted union of the labels). Must cover every label.
    normalize : bool, default True
        Shares (each row sums to 1) when true, neighbor counts (int64) when false.

    Returns
    -------
    pandas.DataFrame of shape (n_domains, n_domains)
        Index ``domain`` (whose neighbors), columns ``neighbor_domain`` (where they live).
        A domain with no rows gets a row of NaN (shares) or zeros (counts).
    """
    arr = _check_neighbors(nn, "nn")
    src = _check_domains(row_domains, "row_domains", arr.shape[0])
    dst = _check_domains(neighbor_domains, "neighbor_domains")
    if arr.size and int(arr.max()) >= dst.shape[0]:
        raise InputError(
            f"nn refers to document {int(arr.max())} but neighbor_domains has only {dst.shape[0]} labels; "
            "pass the domain of every document of the corpus the neighbors were searched in"
        )
    present = set(src) | set(dst)
    if domains is None:
        order = sorted(present)
    else:
        if isinstance(domains, str):
            raise InputError("domains must be a sequence of domain labels, not a single string")
        order = [str(d) for d in domains]
        if len(set(order)) != len(order):
            raise InputError("domains lists a domain twice; pass each domain once")
        unknown = sorted(present - set(order))
        if unknown:
            raise InputError(
                f"domain {unknown[0]!r} occurs in the data but not in domains; add it to domains or leave domains unset"
            )
    n_dom = len(order)
    src_codes = _encode(src, order)
    dst_codes = _encode(dst, order)
    pair = src_codes[:, None] * n_dom + dst_codes[arr]
    counts = np.bincount(pair.ravel(), minlength=n_dom * n_dom).reshape(n_dom, n_dom)
    index = pd.Index(order, name="domain")
    columns = pd.Index(order, name="neighbor_domain")
    if not normalize:
        return pd.DataFrame(counts.astype(np.int64), index=index, columns=columns)
    totals = counts.sum(axis=1, keepdims=True).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), np.nan)
    return pd.DataFrame(shares, index=index, columns=columns)


# ----------------------------------------------------------------------------------------------
# sampling
# ----------------------------------------------------------------------------------------------


def stratified_sample(
    domains: object,
    *,
    max_items: int,
    min_per_domain: int = DEFAULT_MIN_PER_DOMAIN,
    random_state: int = 0,
) -> NDArray[np.int64]:
    """Row indices of a stratified random sample of at most ``max_items`` rows.

    Every domain first keeps ``min(n_d, floor)`` rows, with
    ``floor = min(min_per_domain, max_items // n_domains)``; the rest of the budget is shared in
    proportion to the rows each domain has left (largest-remainder rounding), so large domains
    are sampled proportionally and small ones are never dropped. Within a domain rows are drawn
    uniformly without replacement. When ``len(domains) <= max_items`` every row is returned.

    Parameters
    ----------
    domains : sequence of str, length n
        Domain of every row.
    max_items : int
        Sample size cap (at least the number of domains).
    min_per_domain : int, default 50
        Floor per domain (lowered when ``max_items`` cannot give every domain that many).
    random_state : int, default 0
        Seed; the same inputs and seed give the same sample.

    Returns
    -------
    ndarray of shape (m,), int64
        Sorted row indices, ``m = min(n, max_items)``.
    """
    labels = _check_domains(domains, "domains")
    max_items = check_whole(max_items, name="max_items", strict=True)
    min_per_domain = check_whole(min_per_domain, name="min_per_domain", low=0, strict=True)
    rng = np.random.default_rng(check_seed(random_state))
    n = labels.shape[0]
    if n <= max_items:
        return np.arange(n, dtype=np.int64)
    order, codes = np.unique(labels.astype(str), return_inverse=True)
    n_dom = len(order)
    if n_dom > max_items:
        raise InputError(
            f"max_items={max_items} is smaller than the number of domains ({n_dom}); a stratified sample "
            "keeps every domain: raise max_items"
        )
    sizes = np.bincount(codes, minlength=n_dom).astype(np.int64)
    floor = min(min_per_domain, max_items // n_dom)
    take = np.minimum(sizes, floor)
    budget = max_items - int(take.sum())
    room = sizes - take
    if budget > 0 and int(room.sum()) > 0:
        exact = budget * room / room.sum()
        extra = np.floor(exact).astype(np.int64)
        left = budget - int(extra.sum())
        if left > 0:
            # Largest remainders first; ties go to the domain listed first (sorted labels).
            by_remainder = np.lexsort((np.arange(n_dom), -(exact - extra)))
            extra[by_remainder[:left]] += 1
        take = take + np.minimum(extra, room)
    picked = [rng.choice(np.flatnonzero(codes == c), size=int(take[c]), replace=False) for c in range(n_dom)]
    return np.sort(np.concatenate(picked).astype(np.int64))
