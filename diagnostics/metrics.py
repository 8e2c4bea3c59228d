"""The registry of retrieval metrics: one place for each metric's name, label, formula and direction.

Every table, verdict, chart and page reads its metrics from here: ``METRICS`` (the names, in the order
tables list them), :func:`label` (how people read a name) and :func:`check_metric`. The formula of each
is a function of :mod:`diagnostics.retrieval` (``ndcg_at_k``, ``recall_at_k``, ``reciprocal_rank_at_k``),
its vectorised form in :func:`diagnostics.retrieval.retrieval_metrics`, and its one-relevant-document
form in :func:`diagnostics.known_item.known_item_metrics`; ``tests/test_retrieval.py`` checks them
against trec_eval (pytrec_eval, as BEIR evaluates). The verdict metric is ``[retrieval] metric`` of the
config (default ``ndcg@10``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from diagnostics._validation import InputError

__all__ = ["Metric", "REGISTRY", "METRICS", "DEFAULT_METRIC", "label", "check_metric"]


@dataclass(frozen=True)
class Metric:
    """One retrieval metric.

    Attributes
    ----------
    name : str
        As in tables, JSON and the config: ``"<kind>@<cutoff>"``.
    label : str
        As people read it.
    kind : {"ndcg", "recall", "mrr"}
    cutoff : int
        The rank the metric looks down to.
    higher_is_better : bool
        Every registered metric is a score: a positive Δ (tuned − base) is a gain.
    formula : str
        The per-query function of :mod:`diagnostics.retrieval` that defines it.
    """

    name: str
    label: str
    kind: str
    cutoff: int
    formula: str
    higher_is_better: bool = True

    def function(self) -> Callable[..., float]:
        """The per-query formula: ``function()(qrels_row, ranked_ids, k=metric.cutoff)``."""
        from diagnostics import retrieval

        found: Callable[..., float] = getattr(retrieval, self.formula)
        return found


REGISTRY: Mapping[str, Metric] = {
    m.name: m
    for m in (
        Metric("ndcg@10", "nDCG@10", "ndcg", 10, "ndcg_at_k"),
        Metric("recall@10", "Recall@10", "recall", 10, "recall_at_k"),
        Metric("recall@100", "Recall@100", "recall", 100, "recall_at_k"),
        Metric("mrr@10", "MRR@10", "mrr", 10, "reciprocal_rank_at_k"),
    )
}
#: Metric names, in the order every table lists them.
METRICS: tuple[str, ...] = tuple(REGISTRY)
#: The verdict metric when the config names none.
DEFAULT_METRIC = "ndcg@10"


def label(name: str) -> str:
    """``"nDCG@10"`` for ``"ndcg@10"``; an unregistered name as it is."""
    metric = REGISTRY.get(name)
    return metric.label if metric is not None else name


def check_metric(name: Any, *, where: str = "metric", allowed: Sequence[str] = METRICS) -> str:
    """Validate a metric name (one of ``allowed``, default every registered metric)."""
    if not isinstance(name, str) or name not in allowed:
        shown = str(name)[:30]
        raise InputError(f"{where} must be one of {', '.join(allowed)}, got {shown!r}")
    return name
