"""Compare a base and a tuned model on one dataset: every diagnostic, the verdict, the saved run.

Stages (reported through the progress callback): ``neighbours`` (exact top-k of every probe over
the whole corpus, all domains together, and the documents' own k nearest documents), ``metrics``
(retrieval metrics with paired statistics, label-free signals, neighbourhood overlap and flow,
cluster collapse, verdict) and ``projection`` (the two aligned 2-D maps).

Probes are the queries; a dataset without queries uses its documents as probes (self excluded),
and then only label-free signals exist.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from diagnostics._validation import InputError, check_k, display_path
from diagnostics.collapse import centroid_cosines, collapse_flags, collapse_table
from diagnostics.config import Config, load_config
from diagnostics.dataset import Dataset, keep_judgements, load_dataset
from diagnostics.encoding import ProgressCallback, encode_dataset
from diagnostics.knn import exact_top_k, knn_rows
from diagnostics.known_item import KnownItemRun, document_scores, run_known_items
from diagnostics.neighbors import (
    neighbor_changes,
    neighbor_flow,
    neighborhood_overlap,
    overlap_ci,
    stratified_sample,
)
from diagnostics.result import METRICS, STAT_FIELDS, Comparison, load_comparison, save_comparison
from diagnostics.retrieval import label_free_signals, retrieval_metrics
from diagnostics.runs import RunStore, run_id_for
from diagnostics.statistics import paired_comparison
from diagnostics.vectors import Embeddings, attach_vectors, load_vector_pair, load_vectors
from diagnostics.verdict import (
    EVIDENCE,
    KNOWN_ITEM_PREFIX,
    calibration_note,
    domain_verdict,
    evidence_of,
    evidence_summary,
    overall_verdict,
)

__all__ = ["compare", "compare_inputs", "load_inputs", "load_comparison", "ENGINE_VERSION"]

#: Part of every run id: "2" added the evidence of each verdict and the known-item checks.
ENGINE_VERSION = "2"
RETRIEVAL_DEPTH = 100
DEFAULT_MAX_OVERLAP_DOCS = 20_000
DEFAULT_MAX_PROJECTION_POINTS = 20_000


def _noop(stage: str, done: int, total: int) -> None:
    return None


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("embdiff", "numpy", "pandas", "scikit-learn", "umap-learn", "sentence-transformers", "torch"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            continue
    return out


def _check_embeddings(dataset: Dataset, emb: Embeddings, role: str) -> None:
    n_docs, n_queries = len(dataset.docs), len(dataset.queries)
    if emb.docs.ndim != 2 or emb.docs.shape[0] != n_docs:
        raise InputError(f"{role} embeddings have {emb.docs.shape[0]} document rows; the dataset has {n_docs}")
    if emb.queries.shape[0] != n_queries:
        raise InputError(f"{role} embeddings have {emb.queries.shape[0]} query rows; the dataset has {n_queries}")
    if emb.docs.dtype != np.float32 or emb.queries.dtype != np.float32:
        raise InputError(f"{role} embeddings must be float32; load them with load_vectors or encode_dataset")


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


def _matrix_table(matrix: pd.DataFrame) -> pd.DataFrame:
    """A domain × domain matrix as a table: row labels in a ``from`` column, no axis names (as saved)."""
    return matrix.rename_axis(index="from", columns=None).reset_index()


def _records(frame: pd.DataFrame, key: str = "domain") -> dict[str, dict[str, Any]]:
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
    ci = _records(overlap_ci_table)
    shape = _records(collapse)
    flag = _records(flag_columns)
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


def _fingerprinted(emb: Embeddings) -> Embeddings:
    """``emb`` with its model's fingerprint filled in when a model was attached without one, so the run id
    always changes with the model that makes the known-item checks."""
    if emb.model is None or emb.model_fingerprint is not None:
        return emb
    from dataclasses import replace

    from diagnostics.encoding import LazyModel

    handle = emb.model if isinstance(emb.model, LazyModel) else LazyModel(emb.model)
    return replace(emb, model=handle, model_fingerprint=handle.fingerprint())


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


def _model_fields(role: str, emb: Embeddings) -> dict[str, Any]:
    """The manifest's record of one side: what made its vectors and which model encodes new text."""
    from diagnostics.encoding import LazyModel

    model = emb.model
    model_id = model.model_id if isinstance(model, LazyModel) else (str(model) if isinstance(model, str | Path)
                                                                     else None)
    from_file = emb.model_fingerprint is None or emb.model_fingerprint != emb.fingerprint
    source = ("vectors+model" if model is not None else "vectors") if from_file else "model"
    return {role: emb.model_id, f"{role}_fingerprint": emb.fingerprint, f"{role}_dim": emb.dim,
            f"{role}_source": source, f"{role}_model": model_id, f"{role}_model_fingerprint": emb.model_fingerprint}


def compare(
    dataset: Dataset,
    base: Embeddings,
    tuned: Embeddings,
    *,
    k: int = 10,
    config: Config | None = None,
    projection: bool = True,
    max_overlap_docs: int = DEFAULT_MAX_OVERLAP_DOCS,
    max_projection_points: int = DEFAULT_MAX_PROJECTION_POINTS,
    progress: ProgressCallback | None = None,
    query_prefix: str = "",
    doc_prefix: str = "",
) -> Comparison:
    """Compute every diagnostic of ``tuned`` against ``base`` on ``dataset`` (nothing is saved).

    Parameters
    ----------
    dataset : Dataset
    base, tuned : Embeddings
        The two models' vectors for ``dataset`` (dimensions may differ).
    k : int, default 10
        Neighbours for overlap, flow and the label-free top-k signals (1–100). Retrieval metrics
        always use the exact top-100.
    config : Config, optional
        Verdict thresholds and statistics settings; default :func:`load_config()`.
    projection : bool, default True
        Compute the aligned 2-D maps (the slowest stage).
    max_overlap_docs : int, default 20000
        Above this many documents, neighbourhood overlap comes from an exact kNN of a stratified
        sample of documents against the whole corpus (never approximate neighbours), reported with
        the sample size and a bootstrap CI.
    max_projection_points : int, default 20000
        Stratified sample cap of the projection.
    progress : callable, optional
        ``progress(stage, done, total)``.
    query_prefix, doc_prefix : str, default ""
        The prefixes the texts were encoded with (e.g. ``"query: "``), recorded in the manifest
        and the run id so that the live probe encodes a typed query the same way.

    Returns
    -------
    Comparison
    """
    config = config or load_config()
    k = check_k(k)
    progress = progress or _noop
    base, tuned = _fingerprinted(base), _fingerprinted(tuned)
    _check_embeddings(dataset, base, "base")
    _check_embeddings(dataset, tuned, "tuned")
    n_docs = len(dataset.docs)
    if n_docs < k + 1:
        raise InputError(f"the corpus has {n_docs} documents; k={k} needs at least {k + 1}")
    started = time.time()
    fingerprint = dataset.fingerprint()  # hashes every text: once, for the manifest and the run id
    doc_domains = dataset.docs["domain"].to_numpy(object)
    domains = dataset.domains
    timings: dict[str, float] = {}

    # -- neighbours ------------------------------------------------------------------------------
    t0 = time.time()
    progress("neighbours", 0, 4)
    if dataset.has_queries:
        depth = min(RETRIEVAL_DEPTH, n_docs)
        probe_ids = dataset.queries["id"].to_numpy(object)
        probe_domains = dataset.queries["domain"].to_numpy(object)
        rank_base, score_base = exact_top_k(base.queries, base.docs, k=depth)
        progress("neighbours", 1, 4)
        rank_tuned, score_tuned = exact_top_k(tuned.queries, tuned.docs, k=depth)
    else:
        probe_ids = dataset.docs["id"].to_numpy(object)
        probe_domains = doc_domains
        rank_base, score_base = exact_top_k(base.docs, base.docs, k=k, exclude_self=True)
        progress("neighbours", 1, 4)
        rank_tuned, score_tuned = exact_top_k(tuned.docs, tuned.docs, k=k, exclude_self=True)
    progress("neighbours", 2, 4)
    if n_docs > max_overlap_docs:
        nn_rows = stratified_sample(doc_domains, max_items=max_overlap_docs, random_state=0)
    else:
        nn_rows = np.arange(n_docs, dtype=np.int64)
    if not dataset.has_queries and len(nn_rows) == n_docs:
        nn_base, nn_tuned = rank_base[:, :k], rank_tuned[:, :k]
    else:
        nn_base, _ = knn_rows(base.docs, nn_rows, k=k)
        progress("neighbours", 3, 4)
        nn_tuned, _ = knn_rows(tuned.docs, nn_rows, k=k)
    progress("neighbours", 4, 4)
    timings["neighbours"] = time.time() - t0

    # -- known-item checks -------------------------------------------------------------------------
    t0 = time.time()
    checks, ki_status = _known_item_stage(dataset, base, tuned, config=config, k=k, query_prefix=query_prefix,
                                          doc_prefix=doc_prefix, progress=progress)
    if checks is not None:
        timings["known_item"] = time.time() - t0

    # -- metrics -----------------------------------------------------------------------------------
    t0 = time.time()
    progress("metrics", 0, 4)
    per_query = _per_query_table(
        dataset, rank_base, rank_tuned, probe_ids=probe_ids, probe_domains=probe_domains,
        doc_domains=doc_domains, k=k,
    )
    stats = _paired_stats(per_query[per_query["judged"]], domains, config)
    progress("metrics", 1, 4)

    overlap = neighborhood_overlap(nn_base, nn_tuned)
    sampled_domains = doc_domains[nn_rows]
    ci = overlap_ci(overlap, sampled_domains, population=doc_domains, random_state=0)
    changes = neighbor_changes(nn_base, nn_tuned)
    counts = changes.groupby(["row", "change"]).size().unstack(fill_value=0)
    per_doc = pd.DataFrame({"doc_id": dataset.docs["id"].astype(str), "domain": doc_domains.astype(str)})
    per_doc["overlap"] = np.nan
    per_doc.loc[nn_rows, "overlap"] = overlap
    per_doc["n_gained"] = 0
    per_doc["n_lost"] = 0
    for change in ("gained", "lost"):
        if change in counts.columns:
            per_doc.loc[nn_rows[counts.index.to_numpy()], f"n_{change}"] = counts[change].to_numpy()
    flow_base = neighbor_flow(nn_base, sampled_domains, doc_domains, domains=domains)
    flow_tuned = neighbor_flow(nn_tuned, sampled_domains, doc_domains, domains=domains)
    progress("metrics", 2, 4)

    collapse = collapse_table(base.docs, tuned.docs, doc_domains, random_state=0)
    cent_base = centroid_cosines(base.docs, doc_domains)
    cent_tuned = centroid_cosines(tuned.docs, doc_domains)
    flags = collapse_flags(
        collapse, cent_base, cent_tuned,
        collapse_cosine_rise=config.collapse_intra_cosine_rise,
        collapse_rank_fall=config.collapse_effective_rank_drop,
        merge_cosine_rise=config.collapse_merge_centroid_rise,
        merge_min_cosine=config.collapse_merge_centroid_min,
    )
    progress("metrics", 3, 4)

    table, overall, reasons_all = _domain_table(
        per_query, per_doc, stats, ci, collapse, _collapse_columns(flags, domains), domains=domains,
        doc_domains=doc_domains, config=config, known_items=_known_item_figures(checks, ki_status, domains, config),
    )
    progress("metrics", 4, 4)
    timings["metrics"] = time.time() - t0

    tables: dict[str, pd.DataFrame] = {
        "domains": table,
        "per_query": per_query,
        "per_doc": per_doc,
        "flow_base": _matrix_table(flow_base),
        "flow_tuned": _matrix_table(flow_tuned),
        "centroids_base": _matrix_table(cent_base),
        "centroids_tuned": _matrix_table(cent_tuned),
        "docs": dataset.docs.reset_index(drop=True),
        "queries": dataset.queries.reset_index(drop=True),
        "qrels": dataset.qrels.reset_index(drop=True),
    }
    if checks is not None:
        tables["known_items"] = checks.checks

    # -- projection --------------------------------------------------------------------------------
    proj_info: dict[str, Any] = {}
    if projection:
        t0 = time.time()
        from diagnostics.projection import project_pair

        ids = np.concatenate([dataset.docs["id"].to_numpy(object), dataset.queries["id"].to_numpy(object)])
        kinds = np.array(["doc"] * n_docs + ["query"] * len(dataset.queries), dtype=object)
        labels = np.concatenate([doc_domains, dataset.queries["domain"].to_numpy(object)])
        proj = project_pair(
            np.vstack([base.docs, base.queries]), np.vstack([tuned.docs, tuned.queries]), labels=labels,
            max_points=max_projection_points, random_state=0,
            progress=lambda s, d, t: progress("projection", d, t),
        )
        frame = proj.to_frame(ids, kinds, labels)
        overlap_by_id = dict(zip(per_doc["doc_id"], per_doc["overlap"], strict=True))
        delta_by_id = dict(zip(per_query["query_id"], per_query[f"{config.retrieval_metric}_delta"], strict=True))
        frame["overlap"] = [overlap_by_id.get(i, np.nan) if kd == "doc" else np.nan
                            for i, kd in zip(frame["id"], frame["kind"], strict=True)]
        frame["delta"] = [delta_by_id.get(i, np.nan) if kd == "query" else np.nan
                          for i, kd in zip(frame["id"], frame["kind"], strict=True)]
        tables["projection"] = frame
        proj_info = {"trustworthiness_base": proj.trustworthiness_base,
                     "trustworthiness_tuned": proj.trustworthiness_tuned, "n_points": len(frame),
                     **{f"param_{key}": v for key, v in proj.params.items() if isinstance(v, int | float | str)}}
        timings["projection"] = time.time() - t0

    overall_collapse = _records(collapse).get("overall")
    manifest: dict[str, Any] = {
        "verdict": overall,
        "reasons": reasons_all,
        "dataset": {"source": dataset.source, "fingerprint": fingerprint, "n_docs": n_docs,
                    "n_queries": len(dataset.queries), "n_qrels": len(dataset.qrels), "domains": domains,
                    "warnings": list(dataset.warnings)},
        "models": {**_model_fields("base", base), **_model_fields("tuned", tuned)},
        "params": {"k": k, "retrieval_depth": int(rank_base.shape[1]), "projection": projection,
                   "max_overlap_docs": max_overlap_docs, "max_projection_points": max_projection_points,
                   "overlap_sampled": bool(len(nn_rows) < n_docs), "overlap_n": len(nn_rows),
                   "probes": "queries" if dataset.has_queries else "documents", "engine_version": ENGINE_VERSION,
                   "query_prefix": query_prefix, "doc_prefix": doc_prefix,
                   "known_item": {"status": ki_status, "docs_per_domain": config.known_item_docs_per_domain,
                                  "random_state": config.known_item_random_state, "bm25": config.known_item_bm25,
                                  "n_checks": 0 if checks is None else len(checks.checks)}},
        "evidence": {str(r["domain"]): str(r["evidence"]) for r in table.to_dict(orient="records")
                     if r["domain"] != "overall"},
        "config": config.to_dict(),
        "global": {
            "anisotropy_base": None if overall_collapse is None else float(overall_collapse["intra_cosine_base"]),
            "anisotropy_tuned": None if overall_collapse is None else float(overall_collapse["intra_cosine_tuned"]),
            "cka": None if overall_collapse is None else float(overall_collapse["cka"]),
            **proj_info,
        },
        "timings": {key: round(v, 3) for key, v in timings.items()},
        "versions": _versions(),
        "compute_seconds": round(time.time() - started, 3),
    }
    arrays: dict[str, NDArray[Any]] = {
        "rank_base": rank_base.astype(np.int32), "rank_tuned": rank_tuned.astype(np.int32),
        "score_base": score_base.astype(np.float32), "score_tuned": score_tuned.astype(np.float32),
        "nn_base": nn_base.astype(np.int32), "nn_tuned": nn_tuned.astype(np.int32),
        "nn_rows": nn_rows.astype(np.int64),
        "docs_base": base.docs, "docs_tuned": tuned.docs,
    }
    if checks is not None:
        arrays["ki_top_base"] = checks.top_base.astype(np.int32)
        arrays["ki_top_tuned"] = checks.top_tuned.astype(np.int32)
        arrays["ki_score_base"] = checks.score_base.astype(np.float32)
        arrays["ki_score_tuned"] = checks.score_tuned.astype(np.float32)
    run_id = run_id_for(_run_inputs(fingerprint, base, tuned, k=k, config=config, projection=projection,
                                    max_overlap_docs=max_overlap_docs,
                                    max_projection_points=max_projection_points,
                                    query_prefix=query_prefix, doc_prefix=doc_prefix))
    return Comparison(run_id=run_id, manifest=manifest, tables=tables, arrays=arrays)


def _run_inputs(dataset_fingerprint: str, base: Embeddings, tuned: Embeddings, **params: Any) -> dict[str, Any]:
    config = params.pop("config")
    # Prefixes enter the id only when set, so runs made without them keep their ids.
    for name in ("query_prefix", "doc_prefix"):
        if not params.get(name):
            params.pop(name, None)
    models = {f"{role}_model": emb.model_fingerprint for role, emb in (("base", base), ("tuned", tuned))
              if emb.model_fingerprint is not None and emb.model_fingerprint != emb.fingerprint}
    return {"dataset": dataset_fingerprint, "base": base.fingerprint, "tuned": tuned.fingerprint,
            "config": config.to_dict(), "engine": ENGINE_VERSION, **models, **params}


def compare_inputs(
    dataset: Dataset,
    base: Embeddings,
    tuned: Embeddings,
    *,
    k: int = 10,
    config: Config | None = None,
    projection: bool = True,
    max_overlap_docs: int = DEFAULT_MAX_OVERLAP_DOCS,
    max_projection_points: int = DEFAULT_MAX_PROJECTION_POINTS,
    progress: ProgressCallback | None = None,
    store: RunStore | None = None,
    query_prefix: str = "",
    doc_prefix: str = "",
) -> Comparison:
    """Compare and save, or reopen the saved run when the same inputs were compared before.

    The run id derives from the dataset fingerprint, both models' fingerprints and every
    parameter (the encoding prefixes included), so the same comparison is never computed twice.
    Options are those of :func:`compare`; ``store`` defaults to ``RunStore()``.
    """
    config = config or load_config()
    store = store or RunStore()
    base, tuned = _fingerprinted(base), _fingerprinted(tuned)
    run_id = run_id_for(_run_inputs(dataset.fingerprint(), base, tuned, k=check_k(k), config=config,
                                    projection=projection,
                                    max_overlap_docs=max_overlap_docs,
                                    max_projection_points=max_projection_points,
                                    query_prefix=query_prefix, doc_prefix=doc_prefix))
    if store.exists(run_id):
        return load_comparison(run_id, store=store)
    result = compare(dataset, base, tuned, k=k, config=config, projection=projection,
                     max_overlap_docs=max_overlap_docs, max_projection_points=max_projection_points,
                     progress=progress, query_prefix=query_prefix, doc_prefix=doc_prefix)
    return save_comparison(result, store)


def load_inputs(
    datasets: str | Path | Sequence[str | Path],
    *,
    split: str = "test",
    base: str | None = None,
    base_vectors: str | Path | None = None,
    tuned: str | None = None,
    tuned_vectors: str | Path | None = None,
    query_prefix: str = "",
    doc_prefix: str = "",
    progress: ProgressCallback | None = None,
    qrels_domains: Sequence[str] | None = None,
) -> tuple[Dataset, Embeddings, Embeddings]:
    """Load and validate everything before any work, then encode what needs encoding.

    For each side, a model (``base`` / ``tuned``), a vector file (``base_vectors`` /
    ``tuned_vectors``) or both. With both, the vectors serve the corpus and the queries and the model
    encodes new text (known-item checks, the live probe), after :func:`~diagnostics.consistency.attach_model`
    checked on 32 documents that the model made the vectors. ``qrels_domains`` keeps only the
    judgements of those domains (see :func:`~diagnostics.dataset.keep_judgements`).
    """
    if base is None and base_vectors is None:
        raise InputError("give --base MODEL, --base-vectors FILE, or both")
    if tuned is None and tuned_vectors is None:
        raise InputError("give --tuned MODEL, --tuned-vectors FILE, or both")
    dataset = load_dataset(datasets, split=split)
    if qrels_domains is not None:
        dataset = keep_judgements(dataset, qrels_domains)
    out: dict[str, Embeddings] = {}
    if base_vectors is not None and tuned_vectors is not None:
        out["base"], out["tuned"] = load_vector_pair(dataset, base_vectors, tuned_vectors)
    else:
        for role, path in (("base", base_vectors), ("tuned", tuned_vectors)):
            if path is not None:
                out[role] = attach_vectors(dataset, load_vectors(path), role=role)
    for role, model, path in (("base", base, base_vectors), ("tuned", tuned, tuned_vectors)):
        if model is None:
            continue
        if path is None:
            out[role] = encode_dataset(dataset, model, query_prefix=query_prefix, doc_prefix=doc_prefix,
                                       progress=progress, role=role)
        else:
            from diagnostics.consistency import attach_model

            out[role] = attach_model(dataset, out[role], model, vectors_label=display_path(path), role=role,
                                     doc_prefix=doc_prefix, query_prefix=query_prefix, progress=progress)
    return dataset, out["base"], out["tuned"]
