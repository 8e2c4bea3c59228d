"""The result of a comparison: a frozen object that saves to, and reopens from, the run store.

Tables (pandas, one schema everywhere):

* ``domains`` — one row per domain and a last row ``overall``: ``domain``, ``n_docs``, ``n_queries``
  (judged), ``n_probes``, ``verdict``, ``reasons`` (newline-joined), for each metric ``m`` in
  :data:`METRICS` the columns ``m_base``, ``m_tuned``, ``m_delta``, ``m_ci_low``, ``m_ci_high``,
  ``m_p_value``, ``m_p_holm``; ``overlap_median``, ``overlap_mean``, ``overlap_ci_low``,
  ``overlap_ci_high``, ``overlap_n``; ``query_jaccard_median``, ``rbo_median``,
  ``domain_consistency_base``, ``domain_consistency_tuned``; collapse figures (``*_base``,
  ``*_tuned``) and the flags ``collapsed``, ``merged_with``, ``collapse_reason``; ``evidence``
  (``judged``, ``synthetic`` or ``none``), ``known_item_status`` (``checked``, ``no_models``, ``off``)
  and the known-item figures: ``ki_n_docs`` (checked documents, the paired unit), ``ki_n_checks``,
  ``ki_n_examined``, ``ki_n_eligible``, ``ki_m_{base,tuned,delta,ci_low,ci_high,p_value,p_holm}`` and ``ki_m_bm25``.
* ``known_items`` — optional, one row per synthesised check (:mod:`diagnostics.known_item`):
  ``check_id``, ``doc_id``, ``doc_row``, ``domain``, ``construction``, ``query``, ``item_text``,
  ``rank_base``, ``rank_tuned``, ``rank_bm25``, metric columns ``m_base``/``m_tuned``/``m_delta``/``m_bm25``.
* ``probe`` / ``probe_pairs`` — optional, the compositional probe (:mod:`diagnostics.probe`): the summary per
  ``domain`` and ``rule`` (:func:`~diagnostics.probe.probe_summary`'s columns) and its minimal pairs with
  ``cos_edit_{base,tuned}`` and ``prefers_original_{base,tuned}``.
* ``per_query`` — one row per probe (query, or document when there are no queries): ``query_id``,
  ``domain``, ``judged``, metric columns ``m_base``/``m_tuned``/``m_delta`` (NaN when not judged),
  ``jaccard``, ``rbo``, ``consistency_base``, ``consistency_tuned``.
* ``per_doc`` — ``doc_id``, ``domain``, ``overlap`` (NaN when the document was not in the overlap
  sample), ``n_gained``, ``n_lost``.
* ``flow_base`` / ``flow_tuned`` / ``centroids_base`` / ``centroids_tuned`` — domain × domain.
* ``projection`` — optional: ``id``, ``kind``, ``domain``, ``x_base``, ``y_base``, ``x_tuned``,
  ``y_tuned``, ``displacement``.
* ``docs`` / ``queries`` / ``qrels`` — the dataset itself, so a run reopens without its files.

Arrays (memory-mapped on reopen): ``rank_base`` / ``rank_tuned`` (probes × top-k doc rows, int32),
``score_base`` / ``score_tuned`` (float32), ``nn_base`` / ``nn_tuned`` (overlap rows × k doc rows)
and ``nn_rows`` (which document rows those are); ``docs_base`` / ``docs_tuned`` (the document
vectors, float32, for the live probe); optional ``ki_top_base`` / ``ki_top_tuned`` (checks ×
top-k doc rows of the known-item checks, the known item at its own row) and ``ki_score_base`` /
``ki_score_tuned`` (their cosines).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from diagnostics.metrics import DEFAULT_METRIC
from diagnostics.metrics import METRICS as _REGISTERED
from diagnostics.runs import RunStore, SavedRun

__all__ = ["Comparison", "METRICS", "save_comparison", "load_comparison", "TABLES", "ARRAYS", "OPTIONAL_TABLES",
           "OPTIONAL_ARRAYS"]

METRICS = _REGISTERED  # re-exported: diagnostics.metrics is the registry
STAT_FIELDS = ("base", "tuned", "delta", "ci_low", "ci_high", "p_value", "p_holm")
COLLAPSE_FIGURES = ("intra_cosine", "uniformity", "effective_rank", "silhouette")
TABLES = (
    "domains", "per_query", "per_doc", "flow_base", "flow_tuned", "centroids_base", "centroids_tuned",
    "docs", "queries", "qrels",
)
ARRAYS = (
    "rank_base", "rank_tuned", "score_base", "score_tuned", "nn_base", "nn_tuned", "nn_rows",
    "docs_base", "docs_tuned",
)
#: Tables and arrays a run holds only when it made them (a projection; known-item checks).
OPTIONAL_TABLES = ("projection", "known_items", "probe", "probe_pairs")
OPTIONAL_ARRAYS = ("ki_top_base", "ki_top_tuned", "ki_score_base", "ki_score_tuned")
#: The compositional probe's two figures (:mod:`diagnostics.probe`).
PROBE_FIGURES = ("cos_edit", "prefers_original")
#: Columns of the known-item block of a domain, besides the statistics of every metric.
KNOWN_ITEM_COUNTS = ("n_docs", "n_checks", "n_examined", "n_eligible")


def _clean(value: Any) -> Any:
    """JSON-safe scalars: NaN and inf become None, numpy types become Python types."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _clean_tree(value: Any) -> Any:
    """:func:`_clean` applied through nested dicts and lists (manifest sections may hold NaN)."""
    if isinstance(value, dict):
        return {str(k): _clean_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_tree(v) for v in value]
    return _clean(value)


@dataclass(frozen=True, eq=False)
class Comparison:
    """A finished comparison of a base and a tuned model on one dataset.

    Make one with :func:`diagnostics.compare`; reopen a saved one with :func:`load_comparison`.
    """

    run_id: str
    manifest: dict[str, Any]
    tables: Mapping[str, pd.DataFrame]
    arrays: dict[str, NDArray[Any]] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return str(self.manifest["verdict"])

    @property
    def reasons(self) -> list[str]:
        return list(self.manifest.get("reasons", []))

    @property
    def metric(self) -> str:
        """The metric this run's verdicts were decided on (its config's ``retrieval_metric``)."""
        return str(self.manifest.get("config", {}).get("retrieval_metric", DEFAULT_METRIC))

    @property
    def k(self) -> int:
        return int(self.manifest["params"]["k"])

    @property
    def domains(self) -> pd.DataFrame:
        return self.tables["domains"]

    @property
    def per_query(self) -> pd.DataFrame:
        return self.tables["per_query"]

    @property
    def projection(self) -> pd.DataFrame | None:
        return self.tables.get("projection")

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def to_dataframe(self) -> pd.DataFrame:
        """The per-domain table (with the ``overall`` row last)."""
        return self.tables["domains"].copy()

    def _row_dict(self, row: pd.Series) -> dict[str, Any]:
        k = self.k
        out: dict[str, Any] = {
            "n_queries": int(row["n_queries"]),
            "n_docs": int(row["n_docs"]),
            "verdict": str(row["verdict"]),
            "evidence": str(row.get("evidence", "none")),
            "reasons": [r for r in str(row["reasons"]).split("\n") if r],
        }
        for m in METRICS:
            out[m] = {f: _clean(row.get(f"{m}_{f}", np.nan)) for f in STAT_FIELDS}
        if _clean(row.get("ki_n_docs", 0)):
            block: dict[str, Any] = {c: int(row.get(f"ki_{c}", 0)) for c in KNOWN_ITEM_COUNTS}
            for m in METRICS:
                block[m] = {f: _clean(row.get(f"ki_{m}_{f}", np.nan)) for f in STAT_FIELDS}
            block["bm25"] = {m: _clean(row.get(f"ki_{m}_bm25", np.nan)) for m in METRICS}
            out["known_item"] = block
        out[f"overlap@{k}_median"] = _clean(row.get("overlap_median", np.nan))
        out[f"overlap@{k}_ci"] = [_clean(row.get(f"overlap_ci_{s}", np.nan)) for s in ("low", "high")]
        out[f"domain_consistency@{k}"] = {
            "base": _clean(row.get("domain_consistency_base", np.nan)),
            "tuned": _clean(row.get("domain_consistency_tuned", np.nan)),
        }
        top_k_overlap = _clean(row.get("query_jaccard_median", np.nan))
        out[f"query_overlap@{k}_median"] = top_k_overlap
        out[f"query_jaccard@{k}_median"] = top_k_overlap  # deprecated alias (README "Names"); same value
        out["rbo_median"] = _clean(row.get("rbo_median", np.nan))
        collapse = {
            f"{f}_{s}": _clean(row.get(f"{f}_{s}", np.nan)) for f in COLLAPSE_FIGURES for s in ("base", "tuned")
        }
        collapse["cka"] = _clean(row.get("cka", np.nan))
        collapse["collapsed"] = bool(row.get("collapsed", False))
        merged = row.get("merged_with", "")
        collapse["merged_with"] = [m for m in str(merged or "").split(",") if m]
        collapse["reason"] = str(row.get("collapse_reason", "") or "")
        out["collapse"] = collapse
        return out

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON form (see README, "JSON output").

        Top level: ``run_id``, ``verdict``, ``reasons``, ``domains`` (domain → figures), ``overall``
        (the same keys), ``global`` (anisotropy, CKA), ``dataset``, ``models``, ``params``,
        ``versions``, ``created_at``.
        """
        table = self.tables["domains"]
        domains = {str(r["domain"]): self._row_dict(r) for _, r in table.iterrows() if r["domain"] != "overall"}
        overall_rows = table[table["domain"] == "overall"]
        overall = self._row_dict(overall_rows.iloc[0]) if len(overall_rows) else {}
        m = self.manifest
        return {
            "run_id": self.run_id,
            "verdict": self.verdict,
            "reasons": self.reasons,
            "domains": domains,
            "overall": overall,
            "global": _clean_tree(m.get("global", {})),
            "dataset": _clean_tree(m.get("dataset", {})),
            "models": _clean_tree(m.get("models", {})),
            "params": _clean_tree(m.get("params", {})),
            "versions": _clean_tree(m.get("versions", {})),
            "created_at": m.get("created_at"),
            **({"probe": self._probe_dict()} if "probe" in self.tables else {}),
        }

    def _probe_dict(self) -> dict[str, Any]:
        """The probe's JSON: ``status``, ``n_pairs`` and per domain (and ``overall``) per rule (and ``all``):
        ``n_pairs`` and for ``cos_edit`` and ``prefers_original`` the statistics keys plus each model's CI."""
        out: dict[str, Any] = {"status": "checked", "n_pairs": int(len(self.tables.get("probe_pairs", [])))}
        cells: dict[str, dict[str, Any]] = {}
        for row in self.tables["probe"].to_dict(orient="records"):
            cell: dict[str, Any] = {"n_pairs": int(row["n_pairs"])}
            for m in PROBE_FIGURES:
                cell[m] = {f: _clean(row.get(f"{m}_{f}", np.nan)) for f in (
                    "base", "tuned", "delta", "ci_low", "ci_high", "p_value", "base_ci_low", "base_ci_high",
                    "tuned_ci_low", "tuned_ci_high")}
            cells.setdefault(str(row["domain"]), {})[str(row["rule"])] = cell
        out["domains"] = cells
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_clean, allow_nan=False)


def save_comparison(result: Comparison, store: RunStore | None = None) -> Comparison:
    """Write a comparison to the run store (atomically; a no-op when the run already exists)."""
    store = store or RunStore()
    tables = dict(result.tables)
    saved = store.write(result.run_id, result.manifest, arrays=result.arrays, tables=tables)
    return _from_saved(saved)


class _SavedTables(Mapping[str, pd.DataFrame]):
    """The tables of a saved run, each read on first use and kept: opening a run of a million documents
    reads none of its Parquet data (its documents' text alone takes seconds), so a page reads only what it
    shows. Every table is checked at opening (there, its written size, a readable footer), so a damaged
    run still fails when it is opened. Shared by sessions: two reading one table at once read it twice."""

    def __init__(self, saved: SavedRun, names: Sequence[str]) -> None:
        self._saved = saved
        self._names = tuple(name for name in names if saved.has_table(name))
        for name in self._names:
            saved.check_table(name)
        self._read: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        table = self._read.get(name)
        if table is None:
            if name not in self._names:
                raise KeyError(name)
            table = self._saved.table(name)
            if name == "domains" and "evidence" not in table.columns:
                table = _with_legacy_evidence(table, self._saved.manifest)
            self._read[name] = table
        return table

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names


def _from_saved(saved: SavedRun, tables: Sequence[str] | None = None) -> Comparison:
    names = [name for name in (*TABLES, *OPTIONAL_TABLES) if tables is None or name in tables]
    arrays = {name: saved.array(name) for name in (*ARRAYS, *OPTIONAL_ARRAYS) if saved.has_array(name)}
    return Comparison(run_id=saved.run_id, manifest=saved.manifest, tables=_SavedTables(saved, names), arrays=arrays)


def _with_legacy_evidence(domains: pd.DataFrame, manifest: dict[str, Any]) -> pd.DataFrame:
    """A run saved before verdicts recorded their evidence (engine 1): ``judged`` where the domain had
    enough judged queries, else ``none`` — its PASS or WARN then rested on label-free signals alone, which
    the evidence column now says instead of implying judgements."""
    minimum = int(manifest.get("config", {}).get("retrieval_min_queries", 5))
    judged = pd.to_numeric(domains["n_queries"], errors="coerce").fillna(0) >= minimum
    out = domains.copy()
    out["evidence"] = np.where(judged, "judged", "none")
    return out


def load_comparison(run_id: str, *, store: RunStore | None = None, tables: Sequence[str] | None = None) -> Comparison:
    """Reopen a saved run by id (validated); arrays are memory-mapped.

    ``tables`` reads only those tables (of :data:`TABLES` and :data:`OPTIONAL_TABLES`); the others are then
    absent from ``Comparison.tables``. For a caller that shows only part of a run: the Projection page
    opens a 100k run in 0.03 s instead of 0.15 s.
    """
    if tables is not None:
        unknown = sorted(set(tables) - {*TABLES, *OPTIONAL_TABLES})
        if unknown:
            raise ValueError(f"unknown tables {unknown}; a run has {[*TABLES, *OPTIONAL_TABLES]}")
    return _from_saved((store or RunStore()).open(run_id), tables)
