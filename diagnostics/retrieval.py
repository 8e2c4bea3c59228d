r"""Retrieval metrics per query (with qrels) and label-free retrieval signals (without).

Why one module past ~500 lines: each metric's formula and its conventions (below) sit next to its code,
and the label-free signals use the same rank arrays; split, the conventions would be stated twice.

Conventions, those of trec_eval's ``ndcg_cut`` / ``recall`` / ``recip_rank`` (pytrec_eval, as BEIR evaluates;
``tests/test_retrieval.py`` checks them) and ranx's, for integer grades, with one difference below:

* a judgement with ``score > 0`` is relevant; its **gain is the graded score itself** (linear
  gain, Järvelin & Kekäläinen 2002), not :math:`2^{rel}-1`;
* the recall denominator is every relevant judgement of the query, including judged documents that
  are missing from the corpus (they can never be retrieved);
* a query with no relevant judgement is left out of the metrics (trec_eval scores a query judged with
  zeros only as 0 and counts it in its means; embdiff does not average such a query in);
* **a document whose id equals the query's id is kept.** Documents and queries are separate id
  namespaces in embdiff (``"12"`` the query and ``"12"`` the document are unrelated records, as in
  CISI or CACM), so BEIR's ``ignore_identical_ids`` is *not* applied. A corpus that really contains
  its queries as documents should say so in its qrels or drop them before the comparison.

Rankings are integer matrices of document row indices (``dataset.docs`` row order), best first, as
returned by :func:`diagnostics.knn.exact_top_k`; row ``i`` belongs to ``dataset.queries.iloc[i]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from diagnostics._validation import InputError, check_whole
from diagnostics.dataset import Dataset
from diagnostics.metrics import METRICS

__all__ = [
    "DEFAULT_METRICS",
    "ndcg_at_k",
    "recall_at_k",
    "reciprocal_rank_at_k",
    "retrieval_metrics",
    "jaccard_at_k",
    "rank_biased_overlap",
    "label_free_signals",
]

#: The per-query metrics of a comparison, in ranx's ``name@k`` notation.
DEFAULT_METRICS: tuple[str, ...] = METRICS  # the registry's (diagnostics.metrics)

_METRIC_PATTERN = re.compile(r"^(ndcg|recall|mrr)@([1-9][0-9]*)$")
_CHUNK = 1024  # queries per vectorised chunk in the label-free signals


# --- one query -------------------------------------------------------------------------------------


def ndcg_at_k(qrels_row: Mapping[str, int], ranked_ids: Sequence[str], *, k: int = 10) -> float:
    r"""Normalised discounted cumulative gain at ``k`` of one ranking, linear gain.

    .. math::

        \mathrm{DCG@k} = \sum_{i=1}^{k} \frac{\mathrm{rel}_i}{\log_2(i + 1)}, \qquad
        \mathrm{nDCG@k} = \frac{\mathrm{DCG@k}}{\mathrm{IDCG@k}}

    where :math:`\mathrm{rel}_i` is the graded score of the document at rank ``i`` (0 when it is
    unjudged or judged ``<= 0``) and IDCG@k is the DCG@k of the judgements sorted by score
    (Järvelin & Kekäläinen 2002, "Cumulated gain-based evaluation of IR techniques", ACM TOIS 20(4);
    ranx ``ndcg@k``, pytrec_eval ``ndcg_cut_k``).

    Parameters
    ----------
    qrels_row : mapping of str to int
        Judgements of one query: document id to graded score.
    ranked_ids : sequence of str
        Retrieved document ids, best first.
    k : int, default=10
        Cut-off.

    Returns
    -------
    float
        In ``[0, 1]``; 0.0 when the query has no relevant judgement.

    Examples
    --------
    >>> round(ndcg_at_k({"a": 2, "b": 1}, ["b", "x", "a"], k=3), 4)
    0.7602
    """
    k = _check_cutoff(k)
    gains = [max(int(qrels_row.get(doc, 0)), 0) for doc in list(ranked_ids)[:k]]
    ideal = sorted((s for s in qrels_row.values() if s > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    if idcg == 0.0:
        return 0.0
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains)) / idcg


def recall_at_k(qrels_row: Mapping[str, int], ranked_ids: Sequence[str], *, k: int = 10) -> float:
    r"""Recall at ``k``: relevant documents in the top ``k`` over all relevant documents.

    .. math:: \mathrm{Recall@k} = \frac{|\{d \in \mathrm{top}_k : \mathrm{rel}_d > 0\}|}
                                       {|\{d : \mathrm{rel}_d > 0\}|}

    (ranx ``recall@k``, pytrec_eval ``recall_k``). 0.0 when the query has no relevant judgement.

    Examples
    --------
    >>> recall_at_k({"a": 1, "b": 1, "c": 0}, ["a", "c", "x"], k=2)
    0.5
    """
    k = _check_cutoff(k)
    relevant = {doc for doc, s in qrels_row.items() if s > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(list(ranked_ids)[:k])) / len(relevant)


def reciprocal_rank_at_k(qrels_row: Mapping[str, int], ranked_ids: Sequence[str], *, k: int = 10) -> float:
    r"""Reciprocal rank at ``k``: :math:`1 / \mathrm{rank}` of the first relevant document in the top ``k``.

    0.0 when none of the first ``k`` is relevant. Its mean over queries is MRR@k
    (Voorhees 1999, TREC-8 QA track; ranx ``mrr@k``).

    Examples
    --------
    >>> reciprocal_rank_at_k({"b": 1}, ["a", "b", "c"], k=10)
    0.5
    """
    k = _check_cutoff(k)
    for rank, doc in enumerate(list(ranked_ids)[:k], start=1):
        if qrels_row.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


# --- every query of a dataset ----------------------------------------------------------------------


def retrieval_metrics(
    dataset: Dataset,
    ranking: ArrayLike,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> pd.DataFrame:
    """Per-query retrieval metrics of one model's ranking.

    Same definitions as :func:`ndcg_at_k`, :func:`recall_at_k` and :func:`reciprocal_rank_at_k`,
    vectorised over the queries. Queries without any relevant judgement are left out; a document
    whose id equals the query's id is kept (see the module docstring).

    Parameters
    ----------
    dataset : Dataset
        Documents, queries and qrels.
    ranking : array-like of int, shape (n_queries, depth)
        Document row indices, best first; row ``i`` is ``dataset.queries.iloc[i]``. ``depth`` must
        reach the largest cut-off, or be the whole corpus when the corpus is smaller.
    metrics : sequence of str, default=("ndcg@10", "recall@10", "recall@100", "mrr@10")
        ``"ndcg@k"``, ``"recall@k"`` or ``"mrr@k"``.

    Returns
    -------
    pandas.DataFrame
        One row per judged query, in query order: ``query_id``, ``domain``, then one float column
        per metric, named as given.

    Raises
    ------
    InputError
        An unknown metric, or a ranking of the wrong shape, with indices outside the corpus or with
        a document twice in a row.
    """
    parsed = _parse_metrics(metrics)
    n_docs, n_queries = len(dataset.docs), len(dataset.queries)
    rank = _check_ranking(ranking, n_queries=n_queries, n_docs=n_docs, name="ranking")
    deepest = max(k for _, k in parsed)
    if rank.shape[1] < min(deepest, n_docs):
        raise InputError(
            f"ranking has depth {rank.shape[1]} but {_deepest_name(parsed)} needs the top "
            f"{min(deepest, n_docs)} documents; rank with k={min(deepest, n_docs)} or more"
        )

    judged_rows, keys, key_scores, n_relevant, ideal = _judgements(dataset)
    columns: dict[str, object] = {
        "query_id": dataset.queries["id"].to_numpy()[judged_rows].astype(object),
        "domain": dataset.queries["domain"].to_numpy()[judged_rows].astype(object),
    }
    if judged_rows.size == 0:
        for name, k in parsed:
            columns[_label(name, k)] = np.empty(0, dtype=np.float64)
        return pd.DataFrame(columns)

    ranked = rank[judged_rows]
    gains = np.zeros(ranked.shape, dtype=np.float64)
    if keys.size:
        lookup = judged_rows.astype(np.int64)[:, None] * n_docs + ranked
        pos = np.minimum(np.searchsorted(keys, lookup), keys.size - 1)
        hit = keys[pos] == lookup
        gains[hit] = key_scores[pos[hit]]

    for name, k in parsed:
        depth = min(k, ranked.shape[1])
        g = gains[:, :depth]
        if name == "ndcg":
            dcg = g @ _discount(depth)
            ideal_depth = min(k, ideal.shape[1])
            idcg = ideal[:, :ideal_depth] @ _discount(ideal_depth)
            values = np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)
        elif name == "recall":
            values = (g > 0).sum(axis=1) / n_relevant
        else:
            relevant = g > 0
            first = np.argmax(relevant, axis=1) if depth else np.zeros(len(g), dtype=np.int64)
            values = np.where(relevant.any(axis=1), 1.0 / (first + 1.0), 0.0)
        columns[_label(name, k)] = values
    return pd.DataFrame(columns)


# --- label-free signals ----------------------------------------------------------------------------


def jaccard_at_k(a: Sequence[Hashable] | NDArray[Any], b: Sequence[Hashable] | NDArray[Any], *, k: int = 10) -> float:
    r"""Jaccard overlap of the top ``k`` of two rankings: :math:`|A_k \cap B_k| / |A_k \cup B_k|`.

    Examples
    --------
    >>> jaccard_at_k([1, 2, 3], [3, 4, 1], k=3)
    0.5
    """
    k = _check_cutoff(k)
    sa, sb = set(list(a)[:k]), set(list(b)[:k])
    union = sa | sb
    return len(sa & sb) / len(union) if union else 1.0


def rank_biased_overlap(
    a: Sequence[Hashable] | NDArray[Any], b: Sequence[Hashable] | NDArray[Any], *, p: float = 0.9
) -> float:
    r"""Extrapolated rank-biased overlap of two top-``k`` rankings of equal length ``k``.

    .. math::

        \mathrm{RBO}_{\mathrm{ext}}(S, T, p, k) = \frac{X_k}{k} p^k
            + \frac{1 - p}{p} \sum_{d=1}^{k} \frac{X_d}{d} p^d,
        \qquad X_d = |S_{1:d} \cap T_{1:d}|

    (Webber, Moffat & Zobel 2010, "A similarity measure for indefinite rankings", ACM TOIS 28(4),
    eq. 32). The extrapolated form assumes the agreement seen at depth ``k`` continues below it, so
    identical rankings score exactly 1 and disjoint ones 0; the truncated sum alone (RBO_min) would
    give identical top-10 lists only :math:`1 - p^{10} \approx 0.65` at ``p = 0.9``. With ``p = 0.9``
    the first 10 ranks carry about 86 % of the weight.

    Examples
    --------
    >>> rank_biased_overlap([1, 2, 3], [1, 2, 3])
    1.0
    >>> round(rank_biased_overlap([1, 2], [2, 1], p=0.5), 4)
    0.5
    """
    s, t = list(a), list(b)
    if len(s) != len(t):
        raise InputError(
            f"rank-biased overlap compares two rankings of the same depth; got {len(s)} and {len(t)}; "
            "cut both to the same k"
        )
    for name, ranked in (("a", s), ("b", t)):
        if len(set(ranked)) != len(ranked):
            raise InputError(f"ranking {name} lists an item twice; a ranking holds each item at most once")
    p = _check_p(p)
    k = len(s)
    if k == 0:
        return 1.0
    seen_s: set[object] = set()
    seen_t: set[object] = set()
    overlap, total = 0, 0.0
    for d in range(1, k + 1):
        x, y = s[d - 1], t[d - 1]
        overlap += (x in seen_t) + (y in seen_s) + (x == y)
        seen_s.add(x)
        seen_t.add(y)
        total += overlap / d * p**d
    return float(overlap / k * p**k + (1 - p) / p * total)


def label_free_signals(
    base_ranking: ArrayLike,
    tuned_ranking: ArrayLike,
    *,
    doc_domains: ArrayLike,
    query_domains: ArrayLike,
    k: int = 10,
    p: float = 0.9,
    query_ids: ArrayLike | None = None,
) -> pd.DataFrame:
    r"""Per-query signals that need no relevance judgements.

    * ``jaccard@k`` — :math:`|B_k \cap T_k| / |B_k \cup T_k|` of the base and tuned top ``k``;
    * ``rbo@k`` — extrapolated rank-biased overlap of the two top ``k`` (see
      :func:`rank_biased_overlap`; Webber et al. 2010), persistence ``p``;
    * ``domain_consistency@k_base`` / ``_tuned`` — the share of the model's top ``k`` whose domain is
      the query's own domain.

    Documents can serve as probes: pass their document kNN (self excluded) and their own domains
    as ``query_domains``.

    Parameters
    ----------
    base_ranking, tuned_ranking : array-like of int, shape (n_queries, depth)
        Document row indices, best first (``depth >= k``), one row per query in the same order.
    doc_domains : array-like of str, shape (n_docs,)
        Domain of each document row.
    query_domains : array-like of str, shape (n_queries,)
        Domain of each query row.
    k : int, default=10
        Depth compared.
    p : float, default=0.9
        RBO persistence, in ``(0, 1)``.
    query_ids : array-like of str, shape (n_queries,), optional
        Added as a first ``query_id`` column when given.

    Returns
    -------
    pandas.DataFrame
        One row per query, in order: [``query_id``], ``domain``, ``jaccard@k``, ``rbo@k``,
        ``domain_consistency@k_base``, ``domain_consistency@k_tuned`` (with ``k`` the number).
    """
    k = _check_cutoff(k)
    p = _check_p(p)
    doc_dom = np.asarray(doc_domains, dtype=object)
    query_dom = np.asarray(query_domains, dtype=object)
    if doc_dom.ndim != 1 or query_dom.ndim != 1:
        raise InputError("doc_domains and query_domains must be 1-D sequences of domain names")
    n_docs, n_queries = doc_dom.shape[0], query_dom.shape[0]
    base = _check_ranking(base_ranking, n_queries=n_queries, n_docs=n_docs, name="base_ranking")
    tuned = _check_ranking(tuned_ranking, n_queries=n_queries, n_docs=n_docs, name="tuned_ranking")
    for name, r in (("base_ranking", base), ("tuned_ranking", tuned)):
        if r.shape[1] < k:
            raise InputError(f"{name} has depth {r.shape[1]} but k={k}; rank with k={k} or more, or lower k")
    base, tuned = base[:, :k], tuned[:, :k]

    codes, _ = pd.factorize(np.concatenate([doc_dom, query_dom]))
    doc_code, query_code = codes[:n_docs], codes[n_docs:]

    overlap_at_depth = _overlap_curve(base, tuned)  # (n_queries, k): X_1 .. X_k
    x_k = overlap_at_depth[:, -1]
    depths = np.arange(1, k + 1, dtype=np.float64)
    weights = (1 - p) / p * p**depths / depths
    rbo = x_k / k * p**k + overlap_at_depth @ weights

    frame: dict[str, object] = {}
    if query_ids is not None:
        ids = np.asarray(query_ids, dtype=object)
        if ids.shape != (n_queries,):
            raise InputError(f"query_ids has {ids.size} entries but there are {n_queries} queries")
        frame["query_id"] = ids
    frame["domain"] = query_dom
    frame[f"jaccard@{k}"] = x_k / (2 * k - x_k)
    frame[f"rbo@{k}"] = np.clip(rbo, 0.0, 1.0)
    frame[f"domain_consistency@{k}_base"] = (doc_code[base] == query_code[:, None]).mean(axis=1)
    frame[f"domain_consistency@{k}_tuned"] = (doc_code[tuned] == query_code[:, None]).mean(axis=1)
    return pd.DataFrame(frame)


# ---------------------------------------------------------------------------------------------------


def _overlap_curve(base: NDArray[np.int64], tuned: NDArray[np.int64]) -> NDArray[np.float64]:
    """``X[q, d-1] = |base[q, :d] ∩ tuned[q, :d]|`` for every depth ``d`` (rows hold no duplicates)."""
    n, k = base.shape
    out = np.zeros((n, k), dtype=np.float64)
    for start in range(0, n, _CHUNK):
        b, t = base[start : start + _CHUNK], tuned[start : start + _CHUNK]
        q, i, j = np.nonzero(b[:, :, None] == t[:, None, :])
        # an item at base rank i and tuned rank j is shared from depth max(i, j) + 1 on
        counts = np.zeros((b.shape[0], k), dtype=np.float64)
        np.add.at(counts, (q, np.maximum(i, j)), 1.0)
        out[start : start + b.shape[0]] = np.cumsum(counts, axis=1)
    return out


def _judgements(
    dataset: Dataset,
) -> tuple[NDArray[np.intp], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Relevant judgements, indexed for vectorised look-up.

    Returns the judged query rows (sorted), the sorted keys ``query_row * n_docs + doc_row`` of
    relevant judgements of corpus documents with their scores, the number of relevant judgements
    per judged query (corpus or not), and the per-query ideal gains sorted descending (zero-padded).
    A (query, document) pair judged twice keeps its highest score.
    """
    qrels = dataset.qrels
    n_docs = len(dataset.docs)
    query_row = pd.Series(np.arange(len(dataset.queries)), index=pd.Index(dataset.queries["id"].astype(str)))
    doc_row = pd.Series(np.arange(n_docs), index=pd.Index(dataset.docs["id"].astype(str)))
    rel = pd.DataFrame(
        {
            "query_id": qrels["query_id"].astype(str).to_numpy(),
            "doc_id": qrels["doc_id"].astype(str).to_numpy(),
            "score": pd.to_numeric(qrels["score"]).to_numpy(dtype=np.float64),
        }
    )
    rel = rel[rel["score"] > 0]
    rel = rel.groupby(["query_id", "doc_id"], as_index=False, sort=False).agg(score=("score", "max"))
    rel["qrow"] = rel["query_id"].map(query_row)
    rel = rel[rel["qrow"].notna()]
    qrow = rel["qrow"].to_numpy(dtype=np.int64)
    score = rel["score"].to_numpy(dtype=np.float64)

    judged, inverse, n_rel = np.unique(qrow, return_inverse=True, return_counts=True)
    # ideal gains: per judged query, scores sorted descending
    order = np.lexsort((-score, inverse))
    width = int(n_rel.max()) if n_rel.size else 0
    ideal = np.zeros((judged.size, width), dtype=np.float64)
    starts = np.concatenate([[0], np.cumsum(n_rel)[:-1]]) if n_rel.size else np.zeros(0, np.int64)
    sorted_inv = inverse[order]
    ideal[sorted_inv, np.arange(order.size) - starts[sorted_inv]] = score[order]

    drow = rel["doc_id"].map(doc_row)
    in_corpus = drow.notna().to_numpy()
    keys = qrow[in_corpus] * n_docs + drow[in_corpus].to_numpy(dtype=np.int64)
    key_order = np.argsort(keys, kind="stable")
    return (
        judged.astype(np.intp),
        keys[key_order],
        score[in_corpus][key_order],
        n_rel.astype(np.float64),
        ideal,
    )


def _discount(depth: int) -> NDArray[np.float64]:
    """``1 / log2(i + 1)`` for the ranks ``i = 1 .. depth``."""
    return 1.0 / np.log2(np.arange(2, depth + 2, dtype=np.float64))


def _parse_metrics(metrics: Sequence[str]) -> list[tuple[str, int]]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    parsed = []
    for m in metrics:
        match = _METRIC_PATTERN.fullmatch(str(m))
        if match is None:
            raise InputError(
                f"unknown retrieval metric {str(m)[:30]!r}; expected 'ndcg@k', 'recall@k' or 'mrr@k' "
                "with k a positive whole number, e.g. 'ndcg@10'"
            )
        parsed.append((match.group(1), int(match.group(2))))
    if not parsed:
        raise InputError("metrics is empty; pass at least one of 'ndcg@k', 'recall@k', 'mrr@k'")
    return parsed


def _label(name: str, k: int) -> str:
    return f"{name}@{k}"


def _deepest_name(parsed: list[tuple[str, int]]) -> str:
    name, k = max(parsed, key=lambda item: item[1])
    return _label(name, k)


def _check_cutoff(k: object) -> int:
    return check_whole(k, name="k", low=1, hint="a rank cut-off such as 10")


def _check_p(p: object) -> float:
    if isinstance(p, bool) or not isinstance(p, int | float | np.floating) or not 0.0 < float(p) < 1.0:
        raise InputError(
            f"p (the RBO persistence) must be a number strictly between 0 and 1; got {p!r}; "
            "0.9 weighs the top 10 ranks at about 86 %"
        )
    return float(p)


def _check_ranking(ranking: ArrayLike, *, n_queries: int, n_docs: int, name: str) -> NDArray[np.int64]:
    """A 2-D integer matrix, one row per query, indices in ``[0, n_docs)``, no repeat within a row."""
    arr = np.asarray(ranking)
    if arr.ndim != 2:
        raise InputError(
            f"{name} must be a 2-D matrix of document row indices (n_queries, depth); got shape "
            f"{arr.shape}; pass the indices returned by exact_top_k"
        )
    if arr.shape[0] != n_queries:
        raise InputError(
            f"{name} has {arr.shape[0]} rows but there are {n_queries} queries; "
            "pass one ranked row per query, in query order"
        )
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"{name} must hold integer document row indices; got dtype {arr.dtype}")
    rank = arr.astype(np.int64, copy=False)
    if rank.size and (rank.min() < 0 or rank.max() >= n_docs):
        bad = int(rank[(rank < 0) | (rank >= n_docs)][0])
        raise InputError(
            f"{name} holds document row {bad}, outside the corpus of {n_docs} documents; "
            "rank against this dataset's documents"
        )
    if rank.shape[1] > 1:
        ordered = np.sort(rank, axis=1)
        repeated = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))
        if repeated.size:
            raise InputError(
                f"{name} row {int(repeated[0])} lists a document twice; a ranking holds each document at most once"
            )
    return rank
