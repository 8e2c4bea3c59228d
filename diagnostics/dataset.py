"""The dataset: documents, queries and relevance judgements, each with a domain.

Frames use one schema everywhere in the engine:

* ``docs``    — columns ``id``, ``title``, ``text``, ``domain`` (all ``str``), ids unique;
* ``queries`` — columns ``id``, ``text``, ``domain`` (may have no rows: documents then serve as probes);
* ``qrels``   — columns ``query_id``, ``doc_id`` (``str``), ``score`` (``int``; > 0 is relevant;
  may have no rows: only label-free signals are then available).

Row order is meaningful: row ``i`` of ``docs`` is row ``i`` of every document matrix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["Dataset", "DOC_COLUMNS", "QUERY_COLUMNS", "QREL_COLUMNS"]

DOC_COLUMNS = ("id", "title", "text", "domain")
QUERY_COLUMNS = ("id", "text", "domain")
QREL_COLUMNS = ("query_id", "doc_id", "score")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated multi-domain retrieval dataset.

    Build it with :func:`diagnostics.load_dataset` (or the other loaders), which validate every
    record; the constructor itself trusts its frames.

    Attributes
    ----------
    docs, queries, qrels : pandas.DataFrame
        See the module docstring for the schema.
    source : str
        Human-readable origin (directory or file names), for manifests and messages.
    warnings : tuple of str
        Non-fatal findings (queries without judgements, domains with few queries, ...).
    """

    docs: pd.DataFrame
    queries: pd.DataFrame
    qrels: pd.DataFrame
    source: str = ""
    warnings: tuple[str, ...] = field(default=())

    @property
    def domains(self) -> list[str]:
        """Sorted domains of the documents and queries."""
        return sorted(set(self.docs["domain"]).union(self.queries["domain"]))

    @property
    def has_queries(self) -> bool:
        return len(self.queries) > 0

    @property
    def has_qrels(self) -> bool:
        return len(self.qrels) > 0

    def fingerprint(self) -> str:
        """SHA-256 (hex) of every id, text, domain and judgement, in order."""
        h = hashlib.sha256()
        for name, frame, cols in (
            ("docs", self.docs, DOC_COLUMNS),
            ("queries", self.queries, QUERY_COLUMNS),
            ("qrels", self.qrels, QREL_COLUMNS),
        ):
            h.update(f"\x00{name}\x00{len(frame)}\x00".encode())
            for col in cols:
                for value in frame[col].astype(str):
                    h.update(value.encode("utf-8", "surrogatepass"))
                    h.update(b"\x1f")
        return h.hexdigest()

    def summary(self) -> pd.DataFrame:
        """Per-domain counts: ``domain``, ``n_docs``, ``n_queries``, ``n_judged_queries``, ``n_qrels``."""
        doc_counts = self.docs.groupby("domain").size()
        query_counts = self.queries.groupby("domain").size()
        positive = self.qrels[self.qrels["score"] > 0]
        query_domain = dict(zip(self.queries["id"], self.queries["domain"], strict=True))
        judged = positive.assign(domain=positive["query_id"].map(query_domain))
        judged_counts = judged.groupby("domain")["query_id"].nunique()
        qrel_counts = judged.groupby("domain").size()
        rows = []
        for domain in self.domains:
            rows.append(
                {
                    "domain": domain,
                    "n_docs": int(doc_counts.get(domain, 0)),
                    "n_queries": int(query_counts.get(domain, 0)),
                    "n_judged_queries": int(judged_counts.get(domain, 0)),
                    "n_qrels": int(qrel_counts.get(domain, 0)),
                }
            )
        return pd.DataFrame(rows, columns=["domain", "n_docs", "n_queries", "n_judged_queries", "n_qrels"])
