"""One probe or one document, base vs tuned: the lists a reviewer reads.

Works on a :class:`~diagnostics.result.Comparison` (fresh or reopened from the run store; arrays may
be memory-mapped), so the pages only render.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from diagnostics._validation import InputError, check_k
from diagnostics.metrics import check_metric
from diagnostics.result import Comparison

__all__ = ["query_topk", "neighbor_lists", "query_list", "most_changed_docs", "check_list", "check_detail",
           "check_topk"]


def _movement(side: str, rank: int, other_rank: int | None, k: int) -> str:
    """How a document moved between the two top-k lists: a tuned row is ``up``/``down``/``same`` against its
    base rank, or ``new`` when base did not have it in its top ``k``; a base row is ``dropped`` when it left
    the tuned top ``k``, else ``kept``."""
    if other_rank is None or other_rank > k:
        return "new" if side == "tuned" else "dropped"
    if side == "tuned":
        return "up" if other_rank > rank else "down" if other_rank < rank else "same"
    return "kept"


def _probe_row(result: Comparison, query_id: str) -> int:
    ids = result.per_query["query_id"].astype(str)
    hits = np.flatnonzero(ids.to_numpy() == str(query_id))
    if not len(hits):
        shown = str(query_id)[:40]
        raise InputError(f"query {shown!r} is not in run {result.run_id}; pick one from the Queries page list")
    return int(hits[0])


def query_topk(result: Comparison, query_id: str, *, k: int = 10) -> pd.DataFrame:
    """Base and tuned top-k of one probe, side by side, with relevance and rank movement.

    Returns
    -------
    DataFrame
        One row per (side, rank): ``side`` (``base``/``tuned``), ``rank`` (1-based), ``doc_id``,
        ``domain``, ``title``, ``text``, ``score`` (cosine), ``relevance`` (qrels grade, 0 when
        unjudged), ``other_rank`` (the document's rank in the other model's top-100, NaN if absent),
        ``movement``: for tuned rows ``up``/``down``/``same`` relative to base, or ``new`` (not in
        base's top-k); for base rows ``dropped`` when it left the tuned top-k, else ``kept``.
    """
    k = check_k(k, high=int(result.arrays["rank_base"].shape[1]))
    row = _probe_row(result, query_id)
    docs = result.tables["docs"]
    qrels = result.tables["qrels"]
    grades = qrels[qrels["query_id"].astype(str) == str(query_id)]
    grade = dict(zip(grades["doc_id"].astype(str), grades["score"].astype(int), strict=True))
    ranks = {side: np.asarray(result.arrays[f"rank_{side}"][row]) for side in ("base", "tuned")}
    scores = {side: np.asarray(result.arrays[f"score_{side}"][row]) for side in ("base", "tuned")}
    position = {side: {int(d): i + 1 for i, d in enumerate(ranks[side])} for side in ranks}
    records: list[dict[str, Any]] = []
    for side, other in (("base", "tuned"), ("tuned", "base")):
        for i in range(k):
            doc = int(ranks[side][i])
            other_rank = position[other].get(doc)
            move = _movement(side, i + 1, other_rank, k)
            doc_id = str(docs["id"].iat[doc])
            records.append({
                "side": side, "rank": i + 1, "doc_id": doc_id, "domain": str(docs["domain"].iat[doc]),
                "title": str(docs["title"].iat[doc]), "text": str(docs["text"].iat[doc]),
                "score": float(scores[side][i]), "relevance": int(grade.get(doc_id, 0)),
                "other_rank": float(other_rank) if other_rank is not None else np.nan, "movement": move,
            })
    return pd.DataFrame.from_records(records)


def query_list(
    result: Comparison,
    *,
    domain: str | None = None,
    regressions_only: bool = False,
    sort_by: str = "delta",
    metric: str | None = None,
) -> pd.DataFrame:
    """Every probe ranked by how much it changed (most regressed or least overlapping first).

    ``sort_by`` is ``"delta"`` — Δ of ``metric`` (default the run's verdict metric), ascending: worst
    first; ``"<metric>_delta"`` is accepted too — or ``"jaccard"`` (ascending: most
    changed first). ``regressions_only`` keeps judged probes whose ``metric`` fell.
    """
    table = result.per_query.copy()
    queries = result.tables.get("queries")
    source = queries if queries is not None and len(queries) else result.tables["docs"]
    table.insert(2, "text", table["query_id"].map(dict(zip(source["id"].astype(str), source["text"], strict=True))))
    if domain:
        table = table[table["domain"] == domain]
    metric = check_metric(metric or result.metric)
    if regressions_only:
        table = table[table["judged"] & (table[f"{metric}_delta"] < 0)]
    if sort_by in ("delta", f"{metric}_delta"):
        sort_by = f"{metric}_delta"
    elif sort_by != "jaccard":
        raise InputError(f"sort_by must be 'delta' or 'jaccard'; got {sort_by[:30]!r}")
    return table.sort_values([sort_by, "query_id"], na_position="last", kind="stable").reset_index(drop=True)


def most_changed_docs(result: Comparison, *, domain: str | None = None, n: int = 50) -> pd.DataFrame:
    """The documents whose neighborhood changed most (lowest overlap), with their text."""
    per_doc = result.tables["per_doc"].dropna(subset=["overlap"])
    if domain:
        per_doc = per_doc[per_doc["domain"] == domain]
    docs = result.tables["docs"]
    worst = per_doc.sort_values(["overlap", "doc_id"], kind="stable").head(n).copy()
    ids = docs["id"].astype(str)
    shown = docs.loc[ids.isin(set(worst["doc_id"].astype(str))).to_numpy(), ["id", "text"]]  # not a 1M-entry dict
    worst["text"] = worst["doc_id"].map(dict(zip(shown["id"].astype(str), shown["text"], strict=True)))
    return worst.reset_index(drop=True)


def neighbor_lists(result: Comparison, doc_id: str) -> pd.DataFrame:
    """A document's k nearest documents in base and tuned: ``side``, ``rank``, ``doc_id``, ``domain``,
    ``text``, ``change`` (``kept``, ``lost`` for base-only, ``gained`` for tuned-only)."""
    docs = result.tables["docs"]
    ids = docs["id"].astype(str).to_numpy()
    hits = np.flatnonzero(ids == str(doc_id))
    if not len(hits):
        raise InputError(f"document {str(doc_id)[:40]!r} is not in run {result.run_id}")
    nn_rows = np.asarray(result.arrays["nn_rows"])
    where = np.flatnonzero(nn_rows == hits[0])
    if not len(where):
        raise InputError(f"document {str(doc_id)[:40]!r} was not in the overlap sample of run {result.run_id}")
    lists = {side: [int(x) for x in np.asarray(result.arrays[f"nn_{side}"][where[0]])] for side in ("base", "tuned")}
    records = []
    for side, other in (("base", "tuned"), ("tuned", "base")):
        for rank, doc in enumerate(lists[side], start=1):
            change = "kept" if doc in lists[other] else ("lost" if side == "base" else "gained")
            records.append({"side": side, "rank": rank, "doc_id": ids[doc], "domain": str(docs["domain"].iat[doc]),
                            "text": str(docs["text"].iat[doc]), "change": change})
    return pd.DataFrame.from_records(records)


def live_probe(
    result: Comparison,
    text: str,
    *,
    base_model: Any,
    tuned_model: Any,
    k: int = 10,
) -> pd.DataFrame:
    """Encode any text with both models and return both top-k lists (same columns as :func:`query_topk`,
    without relevance).

    ``base_model`` / ``tuned_model`` are loaded SentenceTransformer models (or names/paths); the
    documents' vectors come from the run (``docs_base`` / ``docs_tuned`` arrays).
    """
    from diagnostics.encoding import encode_texts
    from diagnostics.knn import exact_top_k

    text = (text or "").strip()
    if not text:
        raise InputError("type a query to probe both models")
    if len(text) > 2000:
        raise InputError(f"the probe text has {len(text)} characters; at most 2000 are allowed")
    for side in ("base", "tuned"):
        if f"docs_{side}" not in result.arrays:
            raise InputError(f"run {result.run_id} holds no document vectors; make the run again to probe it")
    k = check_k(k)
    prefix = result.manifest.get("params", {}).get("query_prefix", "")
    docs = result.tables["docs"]
    lists = {}
    for side, model in (("base", base_model), ("tuned", tuned_model)):
        vec = encode_texts([text], model, prefix=prefix)
        ranks, scores = exact_top_k(vec, np.asarray(result.arrays[f"docs_{side}"]), k=k)
        lists[side] = (ranks[0], scores[0])
    records: list[dict[str, Any]] = []
    for side, other in (("base", "tuned"), ("tuned", "base")):
        other_pos = {int(d): i + 1 for i, d in enumerate(lists[other][0])}
        for i, (doc, score) in enumerate(zip(*lists[side], strict=True)):
            o = other_pos.get(int(doc))
            move = _movement(side, i + 1, o, k)
            records.append({"side": side, "rank": i + 1, "doc_id": str(docs["id"].iat[int(doc)]),
                            "domain": str(docs["domain"].iat[int(doc)]), "title": str(docs["title"].iat[int(doc)]),
                            "text": str(docs["text"].iat[int(doc)]), "score": float(score),
                            "other_rank": float(o) if o is not None else np.nan, "movement": move})
    return pd.DataFrame.from_records(records)


# --------------------------------------------------------------------------------------------------
# Known-item checks: the evidence behind a synthetic verdict, read like queries
# --------------------------------------------------------------------------------------------------


def _checks(result: Comparison) -> pd.DataFrame:
    checks = result.tables.get("known_items")
    if checks is None:
        raise InputError(f"run {result.run_id} has no known-item checks (they need both models)")
    return checks


def check_list(
    result: Comparison,
    *,
    domain: str | None = None,
    regressions_only: bool = False,
    sort_by: str = "delta",
    metric: str | None = None,
) -> pd.DataFrame:
    """Every known-item check, most regressed first: ``check_id``, ``domain``, ``construction``,
    ``query`` (the held-out text), ``doc_id`` (the document it came from), ``rank_base``,
    ``rank_tuned``, ``rank_bm25`` and ``metric``'s ``_base`` / ``_tuned`` / ``_delta``.

    ``sort_by`` is ``"delta"`` (ascending Δ, then the tuned rank, worst first) or ``"rank_tuned"``
    (descending). ``regressions_only`` keeps the checks whose known item fell (tuned rank worse).
    ``metric`` defaults to the run's verdict metric.
    """
    metric = check_metric(metric or result.metric)
    table = _checks(result)
    if domain:
        table = table[table["domain"] == domain]
    if regressions_only:
        table = table[table["rank_tuned"] > table["rank_base"]]
    if sort_by == "delta":
        keys, ascending = [f"{metric}_delta", "rank_tuned", "check_id"], [True, False, True]
    elif sort_by == "rank_tuned":
        keys, ascending = ["rank_tuned", "check_id"], [False, True]
    else:
        raise InputError(f"sort_by must be 'delta' or 'rank_tuned'; got {sort_by[:30]!r}")
    columns = ["check_id", "domain", "construction", "query", "doc_id", "rank_base", "rank_tuned", "rank_bm25",
               f"{metric}_base", f"{metric}_tuned", f"{metric}_delta"]
    return table.sort_values(keys, ascending=ascending, kind="stable")[columns].reset_index(drop=True)


def check_detail(result: Comparison, check_id: str) -> dict[str, Any]:
    """One check as a reviewer reads it: its fields, the held-out text and the document as searched."""
    checks = _checks(result)
    hits = np.flatnonzero(checks["check_id"].astype(str).to_numpy() == str(check_id))
    if not len(hits):
        raise InputError(f"check {str(check_id)[:40]!r} is not in run {result.run_id}; pick one from the list")
    record: dict[str, Any] = {str(k): v for k, v in checks.iloc[int(hits[0])].to_dict().items()}
    record["row"] = int(hits[0])
    return record


def check_topk(result: Comparison, check_id: str, *, k: int = 10) -> pd.DataFrame:
    """Base and tuned top-k of one known-item check, side by side (same columns as :func:`query_topk`).

    The known item has ``relevance`` 1 and is shown as it was searched (its text without the held-out
    sentence); every other document has relevance 0.
    """
    detail = check_detail(result, check_id)
    top = {side: np.asarray(result.arrays[f"ki_top_{side}"][detail["row"]]) for side in ("base", "tuned")}
    scores = {side: np.asarray(result.arrays[f"ki_score_{side}"][detail["row"]]) for side in ("base", "tuned")}
    k = check_k(k, high=int(top["base"].shape[0]))
    docs = result.tables["docs"]
    item = int(detail["doc_row"])
    position = {side: {int(d): i + 1 for i, d in enumerate(top[side])} for side in top}
    records: list[dict[str, Any]] = []
    for side, other in (("base", "tuned"), ("tuned", "base")):
        for i in range(k):
            doc = int(top[side][i])
            other_rank = position[other].get(doc)
            move = _movement(side, i + 1, other_rank, k)
            known = doc == item
            records.append({
                "side": side, "rank": i + 1, "doc_id": str(docs["id"].iat[doc]), "domain": str(docs["domain"].iat[doc]),
                "title": "" if known else str(docs["title"].iat[doc]),
                "text": str(detail["item_text"]) if known else str(docs["text"].iat[doc]),
                "score": float(scores[side][i]), "relevance": int(known),
                "other_rank": float(other_rank) if other_rank is not None else np.nan, "movement": move,
            })
    return pd.DataFrame.from_records(records)
