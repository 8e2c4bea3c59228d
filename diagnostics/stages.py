"""The stages of a comparison, in order, each a function with its own progress label and test.

Why one module past ~500 lines: the point of it is that the whole order of a comparison, each stage's
inputs, outputs and progress label, reads in one file.

:func:`diagnostics.compare.compare` is these stages run one after another (``load_inputs`` loads and
encodes before them; ``save_comparison`` saves after them)::

    retrieve → statistics → neighbors → known-item → probe → collapse → projection → verdict

=================  ========================================================================  =================
stage              what it computes                                                          progress label
=================  ========================================================================  =================
:func:`retrieve`   exact top-100 of every probe over the whole corpus, both spaces            ``retrieve``
:func:`statistics` per-query metrics and label-free signals; paired statistics per domain     ``statistics``
:func:`neighbors` documents' own k nearest documents (a stratified sample above a size),    ``neighbors``
                   overlap with its CI, gained / lost neighbors, domain flow
:func:`known_items` known-item checks synthesised from the corpus (both models needed)       ``known-item …``
:func:`probe`      compositional minimal pairs from the corpus, scored by both models         ``probe …``
:func:`collapse`   per-domain geometry (intra-cosine, effective rank, …), centroids, flags    ``collapse``
:func:`project`    the two aligned 2-D maps                                                   ``projection``
:func:`verdict`    the domain table: every figure, evidence, verdicts and reasons             ``verdict``
=================  ========================================================================  =================

The paired statistics (means, Δ, bootstrap CI, sign-flip p, Holm) are computed by
:func:`diagnostics.statistics.paired_comparison` only, through :func:`_paired_stats`, for judged
queries and known-item checks alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from diagnostics.collapse import centroid_cosines, collapse_flags, collapse_table
from diagnostics.config import Config
from diagnostics.dataset import Dataset
from diagnostics.encoding import ProgressCallback
from diagnostics.knn import exact_top_k, knn_rows
from diagnostics.known_item import KnownItemRun, document_scores, run_known_items
from diagnostics.neighbors import (
    neighbor_changes,
    neighbor_flow,
    neighborhood_overlap,
    overlap_ci,
    stratified_sample,
)
from diagnostics.result import METRICS, STAT_FIELDS
from diagnostics.retrieval import label_free_signals, retrieval_metrics
from diagnostics.statistics import paired_comparison
from diagnostics.vectors import Embeddings
from diagnostics.verdict import (
    EVIDENCE,
    KNOWN_ITEM_PREFIX,
    calibration_note,
    domain_verdict,
    evidence_of,
    evidence_summary,
    overall_verdict,
)

if TYPE_CHECKING:  # only with --ray (diagnostics.distributed imports Ray)
    from diagnostics.distributed import RayCluster

__all__ = [
    "RETRIEVAL_DEPTH", "BaseShare", "CollapseResult", "Probe", "Neighbors", "Retrieval", "Statistics", "collapse",
    "known_items", "probe", "matrix_table", "neighbors", "project", "records_by", "retrieve", "statistics", "verdict",
]

RETRIEVAL_DEPTH = 100
_T = TypeVar("_T")


def _noop(stage: str, done: int, total: int) -> None:
    return None


# -- retrieve -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Retrieval:
    """Each probe's ranked documents in both spaces. Probes are the queries, or (no queries) the
    documents themselves, self excluded."""

    probe_ids: NDArray[Any]
    probe_domains: NDArray[Any]
    rank_base: NDArray[np.int64]
    score_base: NDArray[np.float32]
    rank_tuned: NDArray[np.int64]
    score_tuned: NDArray[np.float32]


class BaseShare:
    """What the stages computed for the base side alone, kept to serve the next candidate compared
    against the same base on the same dataset (:func:`diagnostics.candidates.compare_candidates`):
    its exact top-100 and its documents' k nearest documents. One per (dataset, base); empty at first."""

    def __init__(self) -> None:
        self._done: dict[tuple[Any, ...], Any] = {}

    def get(self, key: tuple[Any, ...], compute: Callable[[], _T]) -> _T:
        if key not in self._done:
            self._done[key] = compute()
        return self._done[key]  # type: ignore[no-any-return]

    def __len__(self) -> int:
        return len(self._done)


def _base_side(share: BaseShare | None, key: tuple[Any, ...], compute: Callable[[], _T]) -> _T:
    return compute() if share is None else share.get(key, compute)


def _top_k(cluster: RayCluster | None, queries: NDArray[np.float32], docs: NDArray[np.float32], *, k: int,
           exclude_self: bool = False) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """:func:`exact_top_k` here, or by blocks of queries on a Ray cluster (the same answer)."""
    if cluster is None:
        return exact_top_k(queries, docs, k=k, exclude_self=exclude_self)
    return cluster.top_k(queries, docs, k=k, exclude_self=exclude_self)


def _knn_rows(cluster: RayCluster | None, vectors: NDArray[np.float32], rows: NDArray[np.int64], *, k: int
              ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """:func:`knn_rows` here, or by blocks of rows on a Ray cluster (the same answer)."""
    return knn_rows(vectors, rows, k=k) if cluster is None else cluster.knn_rows(vectors, rows, k=k)


def retrieve(dataset: Dataset, base: Embeddings, tuned: Embeddings, *, k: int,
             progress: ProgressCallback = _noop, share: BaseShare | None = None,
             cluster: RayCluster | None = None) -> Retrieval:
    """Exact top-100 (or top-``k`` of documents as probes) over the whole corpus, all domains together.
    With ``share``, the base side is searched once for every candidate; with ``cluster``, on Ray."""
    progress("retrieve", 0, 2)
    if dataset.has_queries:
        depth = min(RETRIEVAL_DEPTH, len(dataset.docs))
        ids, doms = dataset.queries["id"].to_numpy(object), dataset.queries["domain"].to_numpy(object)
        rank_base, score_base = _base_side(share, ("retrieve", depth),
                                           lambda: _top_k(cluster, base.queries, base.docs, k=depth))
        progress("retrieve", 1, 2)
        rank_tuned, score_tuned = _top_k(cluster, tuned.queries, tuned.docs, k=depth)
    else:
        ids, doms = dataset.docs["id"].to_numpy(object), dataset.docs["domain"].to_numpy(object)
        rank_base, score_base = _base_side(share, ("retrieve-docs", k),
                                           lambda: _top_k(cluster, base.docs, base.docs, k=k, exclude_self=True))
        progress("retrieve", 1, 2)
        rank_tuned, score_tuned = _top_k(cluster, tuned.docs, tuned.docs, k=k, exclude_self=True)
    progress("retrieve", 2, 2)
    return Retrieval(ids, doms, rank_base, score_base, rank_tuned, score_tuned)


# -- statistics -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Statistics:
    """One row per probe (``per_query``) and the paired statistics per domain and overall."""

    per_query: pd.DataFrame
    stats: dict[str, dict[str, float]]


def statistics(dataset: Dataset, retrieval: Retrieval, *, k: int, config: Config,
               progress: ProgressCallback = _noop) -> Statistics:
    """Per-query retrieval metrics (judged queries) and label-free signals, then the paired statistics."""
    progress("statistics", 0, 2)
    per_query = _per_query_table(
        dataset, retrieval.rank_base, retrieval.rank_tuned, probe_ids=retrieval.probe_ids,
        probe_domains=retrieval.probe_domains, doc_domains=dataset.docs["domain"].to_numpy(object), k=k,
    )
    progress("statistics", 1, 2)
    stats = _paired_stats(per_query[per_query["judged"]], dataset.domains, config)
    progress("statistics", 2, 2)
    return Statistics(per_query, stats)


# -- neighbors -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Neighbors:
    """Documents' k nearest documents in both spaces (rows ``rows`` of the corpus) and what follows."""

    rows: NDArray[np.int64]
    nn_base: NDArray[np.int64]
    nn_tuned: NDArray[np.int64]
    per_doc: pd.DataFrame
    overlap_ci: pd.DataFrame
    flow_base: pd.DataFrame
    flow_tuned: pd.DataFrame

    @property
    def sampled(self) -> bool:
        return len(self.rows) < len(self.per_doc)


def neighbors(dataset: Dataset, base: Embeddings, tuned: Embeddings, retrieval: Retrieval, *, k: int,
               max_docs: int, progress: ProgressCallback = _noop, share: BaseShare | None = None,
               cluster: RayCluster | None = None) -> Neighbors:
    """Each document's k nearest documents among all documents, in both spaces; above ``max_docs``
    documents, for a seeded stratified sample of them (their neighbors still searched among all).
    Then per document the overlap and the neighbors gained and lost, per domain the overlap's CI
    (bootstrap, reporting what the sample costs) and the domain-to-domain flow."""
    progress("neighbors", 0, 3)
    doc_domains = dataset.docs["domain"].to_numpy(object)
    n_docs = len(doc_domains)
    if n_docs > max_docs:
        rows = stratified_sample(doc_domains, max_items=max_docs, random_state=0)
    else:
        rows = np.arange(n_docs, dtype=np.int64)
    if not dataset.has_queries and len(rows) == n_docs:  # the probes were the documents: already searched
        nn_base, nn_tuned = retrieval.rank_base[:, :k], retrieval.rank_tuned[:, :k]
    else:
        nn_base, _ = _base_side(share, ("neighbors", k, len(rows)), lambda: _knn_rows(cluster, base.docs, rows, k=k))
        progress("neighbors", 1, 3)
        nn_tuned, _ = _knn_rows(cluster, tuned.docs, rows, k=k)
    progress("neighbors", 2, 3)
    overlap = neighborhood_overlap(nn_base, nn_tuned)
    sampled_domains = doc_domains[rows]
    ci = overlap_ci(overlap, sampled_domains, population=doc_domains, random_state=0)
    changes = neighbor_changes(nn_base, nn_tuned)
    counts = changes.groupby(["row", "change"]).size().unstack(fill_value=0)
    per_doc = pd.DataFrame({"doc_id": dataset.docs["id"].astype(str), "domain": doc_domains.astype(str)})
    per_doc["overlap"] = np.nan
    per_doc.loc[rows, "overlap"] = overlap
    per_doc["n_gained"] = 0
    per_doc["n_lost"] = 0
    for change in ("gained", "lost"):
        if change in counts.columns:
            per_doc.loc[rows[counts.index.to_numpy()], f"n_{change}"] = counts[change].to_numpy()
    flow_base = neighbor_flow(nn_base, sampled_domains, doc_domains, domains=dataset.domains)
    flow_tuned = neighbor_flow(nn_tuned, sampled_domains, doc_domains, domains=dataset.domains)
    progress("neighbors", 3, 3)
    return Neighbors(rows, nn_base, nn_tuned, per_doc, ci, flow_base, flow_tuned)


# -- known-item checks ----------------------------------------------------------------------------

def known_items(dataset: Dataset, base: Embeddings, tuned: Embeddings, *, config: Config, k: int,
                query_prefix: str = "", doc_prefix: str = "", progress: ProgressCallback = _noop
                ) -> tuple[KnownItemRun | None, str]:
    """Known-item checks synthesised from the corpus and scored by both models, when both are there;
    with the status (``checked``, ``off``, ``no_models``)."""
    return _known_item_stage(dataset, base, tuned, config=config, k=k, query_prefix=query_prefix,
                             doc_prefix=doc_prefix, progress=progress)


# -- compositional probe ------------------------------------------------------------------------

@dataclass(frozen=True)
class Probe:
    """The compositional probe of a comparison: its minimal pairs scored by both models, and the summary
    per domain and edit rule (:mod:`diagnostics.probe`)."""

    pairs: pd.DataFrame
    summary: pd.DataFrame


def probe(dataset: Dataset, base: Embeddings, tuned: Embeddings, *, config: Config, doc_prefix: str = "",
          progress: ProgressCallback = _noop, share: BaseShare | None = None) -> tuple[Probe | None, str]:
    """Minimal pairs from the corpus, scored by both models, when both are there; with the status
    (``checked``, ``off``, ``no_models``). Texts are encoded as documents (``doc_prefix``), through the
    encoding cache; with ``share`` the base scores them once for every candidate."""
    from diagnostics.encoding import LazyModel, encode_texts
    from diagnostics.probe import build_pairs, probe_summary, score_pairs

    if config.probe_pairs_per_domain == 0:
        return None, "off"
    if base.model is None or tuned.model is None:
        return None, "no_models"
    seed = config.probe_random_state

    def scored(side: str, model: object) -> pd.DataFrame:
        handle = model if isinstance(model, LazyModel) else LazyModel(model)  # type: ignore[arg-type]
        return score_pairs(pairs, lambda texts: encode_texts(texts, handle, prefix=doc_prefix, progress=progress,
                                                              stage=f"probe: encode {side}"))

    progress("probe", 0, 1)
    pairs = _base_side(share, ("probe-pairs", config.probe_pairs_per_domain, seed),
                       lambda: build_pairs(dataset, per_domain=config.probe_pairs_per_domain, seed=seed))
    on_base = _base_side(share, ("probe-base", config.probe_pairs_per_domain, seed, doc_prefix),
                         lambda: scored("base", base.model))
    on_tuned = scored("tuned", tuned.model)
    summary = probe_summary(on_base, on_tuned, seed=seed, n_boot=config.statistics_n_resamples,
                            confidence=config.statistics_confidence)
    table = pairs.assign(**{f"{m}_{side}": frame[m].to_numpy() for side, frame in (("base", on_base),
                                                                                    ("tuned", on_tuned))
                            for m in ("cos_edit", "prefers_original")})
    progress("probe", 1, 1)
    return Probe(table, summary), "checked"


# -- collapse -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CollapseResult:
    """Per-domain geometry in both spaces, the domain centroids' cosines and the collapse flags."""

    table: pd.DataFrame
    centroids_base: pd.DataFrame
    centroids_tuned: pd.DataFrame
    flags: pd.DataFrame


def collapse(dataset: Dataset, base: Embeddings, tuned: Embeddings, *, config: Config,
             progress: ProgressCallback = _noop) -> CollapseResult:
    """Cluster collapse and merges: :func:`diagnostics.collapse.collapse_table` and its flags."""
    progress("collapse", 0, 2)
    doc_domains = dataset.docs["domain"].to_numpy(object)
    table = collapse_table(base.docs, tuned.docs, doc_domains, random_state=0)
    progress("collapse", 1, 2)
    cent_base = centroid_cosines(base.docs, doc_domains)
    cent_tuned = centroid_cosines(tuned.docs, doc_domains)
    flags = collapse_flags(
        table, cent_base, cent_tuned,
        collapse_cosine_rise=config.collapse_intra_cosine_rise,
        collapse_rank_fall=config.collapse_effective_rank_drop,
        merge_cosine_rise=config.collapse_merge_centroid_rise,
        merge_min_cosine=config.collapse_merge_centroid_min,
    )
    progress("collapse", 2, 2)
    return CollapseResult(table, cent_base, cent_tuned, flags)


# -- projection -----------------------------------------------------------------------------------

def project(dataset: Dataset, base: Embeddings, tuned: Embeddings, *, per_doc: pd.DataFrame,
            per_query: pd.DataFrame, metric: str, max_points: int, progress: ProgressCallback = _noop
            ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The two aligned 2-D maps of documents and queries, colored data attached (each document's
    overlap, each query's Δ ``metric``); with the projection's figures for the manifest."""
    from diagnostics.projection import project_pair

    n_docs = len(dataset.docs)
    doc_domains = dataset.docs["domain"].to_numpy(object)
    ids = np.concatenate([dataset.docs["id"].to_numpy(object), dataset.queries["id"].to_numpy(object)])
    kinds = np.array(["doc"] * n_docs + ["query"] * len(dataset.queries), dtype=object)
    labels = np.concatenate([doc_domains, dataset.queries["domain"].to_numpy(object)])
    proj = project_pair(
        np.vstack([base.docs, base.queries]), np.vstack([tuned.docs, tuned.queries]), labels=labels,
        max_points=max_points, random_state=0, progress=lambda s, d, t: progress("projection", d, t),
    )
    frame = proj.to_frame(ids, kinds, labels)
    overlap_by_id = dict(zip(per_doc["doc_id"], per_doc["overlap"], strict=True))
    delta_by_id = dict(zip(per_query["query_id"], per_query[f"{metric}_delta"], strict=True))
    frame["overlap"] = [overlap_by_id.get(i, np.nan) if kd == "doc" else np.nan
                        for i, kd in zip(frame["id"], frame["kind"], strict=True)]
    frame["delta"] = [delta_by_id.get(i, np.nan) if kd == "query" else np.nan
                      for i, kd in zip(frame["id"], frame["kind"], strict=True)]
    info = {"trustworthiness_base": proj.trustworthiness_base, "trustworthiness_tuned": proj.trustworthiness_tuned,
            "n_points": len(frame),
            **{f"param_{key}": v for key, v in proj.params.items() if isinstance(v, int | float | str)}}
    return frame, info


# -- verdict --------------------------------------------------------------------------------------

def verdict(dataset: Dataset, stats: Statistics, neighborhood: Neighbors, shape: CollapseResult,
            checks: KnownItemRun | None, known_item_status: str, *, config: Config,
            progress: ProgressCallback = _noop) -> tuple[pd.DataFrame, str, list[str]]:
    """The domain table (one row per domain and ``overall``, every figure, evidence, verdict, reasons),
    the overall verdict and its reasons. The rules are in :mod:`diagnostics.verdict`."""
    progress("verdict", 0, 1)
    domains = dataset.domains
    out = _domain_table(
        stats.per_query, neighborhood.per_doc, stats.stats, neighborhood.overlap_ci, shape.table,
        _collapse_columns(shape.flags, domains), domains=domains,
        doc_domains=dataset.docs["domain"].to_numpy(object), config=config,
        known_items=_known_item_figures(checks, known_item_status, domains, config),
    )
    progress("verdict", 1, 1)
    return out


# -- helpers ---------------------------------------------------------------------------------------

def _paired_stats(
    units: pd.DataFrame, domains: Sequence[str], config: Config, *, prefix: str = ""
) -> dict[str, dict[str, float]]:
    """Per domain and overall: means, Δ, paired bootstrap CI, sign-flip p, Holm across domains.

    ``units`` holds one row per paired unit (a judged query, or a checked document): ``query_id``,
    ``domain`` and ``{metric}_base`` / ``{metric}_tuned``. The statistics are those of
    :func:`diagnostics.statistics.paired_comparison`; keys are ``{prefix}{metric}_{field}``. A domain
    without units gets NaN.
    """
    out: dict[str, dict[str, float]] = {
        d: {f"{prefix}{m}_{f}": np.nan for m in METRICS for f in STAT_FIELDS} for d in [*domains, "overall"]
    }
    keys = units[["query_id", "domain"]].astype(str).reset_index(drop=True)
    base = keys.assign(**{m: units[f"{m}_base"].to_numpy(np.float64) for m in METRICS})
    tuned = keys.assign(**{m: units[f"{m}_tuned"].to_numpy(np.float64) for m in METRICS})
    table = paired_comparison(
        base, tuned, metrics=METRICS, n_resamples=config.statistics_n_resamples,
        n_permutations=config.statistics_n_permutations, confidence=config.statistics_confidence,
        random_state=config.statistics_random_state,
    )
    for row in table.to_dict(orient="records"):
        name = str(row["domain"])  # OVERALL is "overall", the domain table's label too
        if name in out:
            out[name].update({f"{prefix}{row['metric']}_{f}": float(row[f]) for f in STAT_FIELDS})
    return out


def _per_query_table(
    dataset: Dataset,
    rank_base: NDArray[np.int64],
    rank_tuned: NDArray[np.int64],
    *,
    probe_ids: NDArray[Any],
    probe_domains: NDArray[Any],
    doc_domains: NDArray[Any],
    k: int,
) -> pd.DataFrame:
    signals = label_free_signals(
        rank_base, rank_tuned, doc_domains=doc_domains, query_domains=probe_domains, k=k, p=0.9,
        query_ids=probe_ids,
    )
    table = pd.DataFrame(
        {
            "query_id": probe_ids.astype(str),
            "domain": probe_domains.astype(str),
            "jaccard": signals[f"jaccard@{k}"].to_numpy(np.float64),
            "rbo": signals[f"rbo@{k}"].to_numpy(np.float64),
            "consistency_base": signals[f"domain_consistency@{k}_base"].to_numpy(np.float64),
            "consistency_tuned": signals[f"domain_consistency@{k}_tuned"].to_numpy(np.float64),
        }
    )
    table["judged"] = False
    for metric in METRICS:
        for side in ("base", "tuned", "delta"):
            table[f"{metric}_{side}"] = np.nan
    if dataset.has_qrels and dataset.has_queries:
        m_base = retrieval_metrics(dataset, rank_base).set_index("query_id")
        m_tuned = retrieval_metrics(dataset, rank_tuned).set_index("query_id")
        judged = table["query_id"].isin(m_base.index)
        table.loc[judged, "judged"] = True
        ids = table.loc[judged, "query_id"]
        for metric in METRICS:
            b = m_base.loc[ids, metric].to_numpy(np.float64)
            t = m_tuned.loc[ids, metric].to_numpy(np.float64)
            table.loc[judged, f"{metric}_base"] = b
            table.loc[judged, f"{metric}_tuned"] = t
            table.loc[judged, f"{metric}_delta"] = t - b
    return table


def _collapse_columns(flags: pd.DataFrame, domains: Sequence[str]) -> pd.DataFrame:
    rows = []
    for d in domains:
        mine = flags[flags["domain"].astype(str) == d] if len(flags) else flags
        collapsed = mine[mine["flag"] == "collapsed"] if len(mine) else mine
        merged = flags[(flags["flag"] == "merged") & ((flags["domain"] == d) | (flags["other_domain"] == d))] \
            if len(flags) else flags
        partners = sorted({str(o) for r in merged.itertuples() for o in (r.domain, r.other_domain) if str(o) != d})
        reasons = [str(r) for r in collapsed["reason"]] if len(collapsed) else []
        rows.append({"domain": d, "collapsed": bool(len(collapsed)), "merged_with": ",".join(partners),
                     "collapse_reason": " ".join(reasons)})
    return pd.DataFrame(rows, columns=["domain", "collapsed", "merged_with", "collapse_reason"])


def matrix_table(matrix: pd.DataFrame) -> pd.DataFrame:
    """A domain × domain matrix as a table: row labels in a ``from`` column, no axis names (as saved)."""
    return matrix.rename_axis(index="from", columns=None).reset_index()


def records_by(frame: pd.DataFrame, key: str = "domain") -> dict[str, dict[str, Any]]:
    """Rows of ``frame`` keyed by ``key`` as plain dicts (typed access without pandas scalars)."""
    return {str(r[key]): {str(c): v for c, v in r.items()} for r in frame.to_dict(orient="records")}


def _domain_table(
    per_query: pd.DataFrame,
    per_doc: pd.DataFrame,
    stats: dict[str, dict[str, float]],
    overlap_ci_table: pd.DataFrame,
    collapse: pd.DataFrame,
    flag_columns: pd.DataFrame,
    *,
    domains: Sequence[str],
    doc_domains: NDArray[Any],
    config: Config,
    known_items: dict[str, dict[str, Any]],
) -> tuple[pd.DataFrame, str, list[str]]:
    """One row per domain and ``overall`` with every figure, then the evidence, the verdicts and their
    reasons. ``known_items`` holds each row's ``ki_*`` figures and ``known_item_status``."""
    ci = records_by(overlap_ci_table)
    shape = records_by(collapse)
    flag = records_by(flag_columns)
    sampled_docs = per_doc.dropna(subset=["overlap"])
    rows: list[dict[str, Any]] = []
    for name in [*domains, "overall"]:
        part = per_query if name == "overall" else per_query[per_query["domain"] == name]
        docs_part = sampled_docs if name == "overall" else sampled_docs[sampled_docs["domain"] == name]
        c = ci.get(name, {})
        row: dict[str, Any] = {
            "domain": name,
            "n_docs": len(doc_domains) if name == "overall" else int((doc_domains == name).sum()),
            "n_queries": int(part["judged"].sum()),
            "n_probes": len(part),
            **stats[name],
            "overlap_median": float(docs_part["overlap"].median()) if len(docs_part) else np.nan,
            "overlap_mean": float(c.get("mean", np.nan)),
            "overlap_ci_low": float(c.get("ci_low", np.nan)),
            "overlap_ci_high": float(c.get("ci_high", np.nan)),
            "overlap_n": int(c.get("n_sampled", 0)),
            "query_jaccard_median": float(part["jaccard"].median()) if len(part) else np.nan,
            "rbo_median": float(part["rbo"].median()) if len(part) else np.nan,
            "domain_consistency_base": float(part["consistency_base"].mean()) if len(part) else np.nan,
            "domain_consistency_tuned": float(part["consistency_tuned"].mean()) if len(part) else np.nan,
        }
        row.update(known_items[name])
        row.update({key: v for key, v in shape.get(name, {}).items() if key not in ("domain", "n_docs")})
        row.update({key: v for key, v in flag.get(name, {"collapsed": False, "merged_with": "",
                                                         "collapse_reason": ""}).items() if key != "domain"})
        rows.append(row)

    verdicts: dict[str, str] = {}
    evidence: dict[str, str] = {}
    reasons_all: list[str] = []
    calibration = calibration_note(rows[:-1], config)
    for row in rows[:-1]:
        verdict, reasons = domain_verdict(str(row["domain"]), row, config)
        verdicts[str(row["domain"])] = verdict
        evidence[str(row["domain"])] = row["evidence"] = evidence_of(row, config)
        if calibration and row["evidence"] == "synthetic":
            reasons.append(f"{row['domain']}: note — {calibration}")
        row["verdict"], row["reasons"] = verdict, "\n".join(reasons)
        if verdict != "PASS":
            reasons_all.extend(reasons)
    pooled, overall_reasons = domain_verdict("overall", rows[-1], config)
    overall = overall_verdict(verdicts, pooled=pooled)
    rows[-1]["evidence"] = next((e for e in reversed(EVIDENCE) if e in evidence.values()), "none")
    rows[-1]["verdict"], rows[-1]["reasons"] = overall, "\n".join([evidence_summary(evidence), *overall_reasons])
    if not reasons_all:
        reasons_all = [f"every domain passed: {', '.join(domains)}"]
    reasons_all.insert(0, evidence_summary(evidence))
    if calibration and "synthetic" in evidence.values():
        reasons_all.insert(1, calibration)
    if pooled != "UNVERIFIED":
        reasons_all.append(overall_reasons[0])
    return pd.DataFrame(rows), overall, reasons_all


def _models_for_checks(base: Embeddings, tuned: Embeddings, config: Config) -> str:
    """``checked`` when both sides have a model and checks are on, else why not (``off``, ``no_models``)."""
    if config.known_item_docs_per_domain == 0:
        return "off"
    return "checked" if base.model is not None and tuned.model is not None else "no_models"


def _known_item_stage(
    dataset: Dataset,
    base: Embeddings,
    tuned: Embeddings,
    *,
    config: Config,
    k: int,
    query_prefix: str,
    doc_prefix: str,
    progress: ProgressCallback,
) -> tuple[KnownItemRun | None, str]:
    """Known-item checks synthesised from the corpus and scored by both models, when both are there."""
    status = _models_for_checks(base, tuned, config)
    if status != "checked":
        return None, status
    checks = run_known_items(
        dataset, base.docs, tuned.docs, base_model=base.model, tuned_model=tuned.model, metrics=METRICS,
        docs_per_domain=config.known_item_docs_per_domain, random_state=config.known_item_random_state,
        bm25=config.known_item_bm25, query_prefix=query_prefix, doc_prefix=doc_prefix, k=max(k, 10),
        progress=progress,
    )
    return checks, status


def _known_item_figures(
    checks: KnownItemRun | None, status: str, domains: Sequence[str], config: Config
) -> dict[str, dict[str, Any]]:
    """Per domain and overall: the ``ki_*`` columns of the domain table and ``known_item_status``.

    The paired unit is a checked document (the mean of its checks); Holm runs across the domains'
    known-item p-values, a family apart from the judged queries'.
    """
    ki = KNOWN_ITEM_PREFIX
    names = [*domains, "overall"]
    if checks is None:
        empty = {f"{ki}{m}_{f}": np.nan for m in METRICS for f in (*STAT_FIELDS, "bm25")}
        return {n: {f"{ki}n_docs": 0, f"{ki}n_checks": 0, f"{ki}n_examined": 0, f"{ki}n_eligible": 0, **empty,
                    "known_item_status": status} for n in names}
    table = checks.checks
    columns = [f"{m}_{side}" for m in METRICS for side in ("base", "tuned", "bm25")]
    units = document_scores(table, columns)
    stats = _paired_stats(units, domains, config, prefix=ki)
    coverage = {str(r["domain"]): r for r in checks.coverage.to_dict(orient="records")}
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        part = units if name == "overall" else units[units["domain"] == name]
        row: dict[str, Any] = out.setdefault(name, dict(stats[name]))
        row[f"{ki}n_docs"] = len(part)
        row[f"{ki}n_checks"] = int(len(table) if name == "overall" else (table["domain"] == name).sum())
        for count in ("n_examined", "n_eligible"):
            row[f"{ki}{count}"] = int(sum(int(c[count]) for c in coverage.values()) if name == "overall"
                                      else coverage.get(name, {}).get(count, 0))
        for m in METRICS:
            row[f"{ki}{m}_bm25"] = float(part[f"{m}_bm25"].mean()) if len(part) else np.nan
        row["known_item_status"] = status
    return out


