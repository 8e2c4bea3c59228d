"""Compare a base and a tuned model on one dataset: every diagnostic, the verdict, the saved run.

:func:`load_inputs` loads and validates the inputs and encodes what needs encoding; :func:`compare` runs
the stages of :mod:`diagnostics.stages` in order (retrieve → statistics → neighbors → known-item →
probe → collapse → projection → verdict), each reporting its own progress label, and assembles the result;
:func:`compare_inputs` saves it (or reopens the run made from the same inputs).

Probes are the queries; a dataset without queries uses its documents as probes (self excluded),
and then only label-free signals exist.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from diagnostics import stages
from diagnostics._validation import InputError, check_k, display_path
from diagnostics.config import Config, load_config
from diagnostics.dataset import Dataset, keep_judgements, load_dataset
from diagnostics.encoding import ProgressCallback, encode_dataset
from diagnostics.result import Comparison, load_comparison, save_comparison
from diagnostics.runs import RunStore, run_id_for
from diagnostics.vectors import Embeddings, attach_vectors, load_vector_pair, load_vectors

if TYPE_CHECKING:  # only with --ray (diagnostics.distributed imports Ray)
    from diagnostics.distributed import RayCluster

_T = TypeVar("_T")

__all__ = ["compare", "compare_inputs", "load_inputs", "load_side", "load_comparison", "overlap_sample_size",
           "ENGINE_VERSION"]

#: Part of every run id: "2" added the evidence of each verdict and the known-item checks, "3" the
#: compositional probe.
ENGINE_VERSION = "3"
RETRIEVAL_DEPTH = stages.RETRIEVAL_DEPTH
DEFAULT_MAX_OVERLAP_DOCS = 20_000
#: The default overlap sample may always use this many similarity computations per space (sample x documents):
#: below 50,000 documents every corpus keeps the 20,000-document sample.
OVERLAP_SEARCH_BUDGET = 1_000_000_000
#: ... and never has fewer documents than this (a few hundred per domain: the CI stays useful).
MIN_OVERLAP_DOCS = 2_000
#: The largest sample a caller may ask for.
MAX_OVERLAP_DOCS_LIMIT = 10**9
DEFAULT_MAX_PROJECTION_POINTS = 20_000


def overlap_sample_size(n_docs: int, n_queries: int, max_overlap_docs: int | None = None) -> int:
    """How many documents get the neighborhood statistics (each one's k nearest among all documents).

    ``max_overlap_docs`` given: that many (every document when the corpus is smaller). By default (``None``)
    the sample costs at most half the query search: at most 20,000 documents, and no more than half the
    number of queries, unless 10⁹ similarities per space (``OVERLAP_SEARCH_BUDGET``) or 2,000 documents allow
    more. Each searched document costs what a query costs (one row against every document), so at a million
    documents and 10,000 queries that is 5,000 documents, whose overlap comes with a CI per domain; below
    50,000 documents it is always 20,000.

    >>> overlap_sample_size(1_000_000, 10_000), overlap_sample_size(100_000, 10_000), overlap_sample_size(420, 156)
    (5000, 10000, 20000)
    """
    if max_overlap_docs is not None:
        return check_k(max_overlap_docs, name="max_overlap_docs", high=MAX_OVERLAP_DOCS_LIMIT)
    affordable = max(n_queries // 2, OVERLAP_SEARCH_BUDGET // max(n_docs, 1), MIN_OVERLAP_DOCS)
    return min(DEFAULT_MAX_OVERLAP_DOCS, affordable)


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


def _fingerprinted(emb: Embeddings) -> Embeddings:
    """``emb`` with its model's fingerprint filled in when a model was attached without one, so the run id
    always changes with the model that makes the known-item checks."""
    if emb.model is None or emb.model_fingerprint is not None:
        return emb
    from dataclasses import replace

    from diagnostics.encoding import LazyModel

    handle = emb.model if isinstance(emb.model, LazyModel) else LazyModel(emb.model)
    return replace(emb, model=handle, model_fingerprint=handle.fingerprint())


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
    max_overlap_docs: int | None = None,
    max_projection_points: int = DEFAULT_MAX_PROJECTION_POINTS,
    progress: ProgressCallback | None = None,
    query_prefix: str = "",
    doc_prefix: str = "",
    cluster: RayCluster | None = None,
) -> Comparison:
    """Compute every diagnostic of ``tuned`` against ``base`` on ``dataset`` (nothing is saved).

    Parameters
    ----------
    dataset : Dataset
    base, tuned : Embeddings
        The two models' vectors for ``dataset`` (dimensions may differ).
    k : int, default 10
        Neighbors for overlap, flow and the label-free top-k signals (1–100). Retrieval metrics
        always use the exact top-100.
    config : Config, optional
        Verdict thresholds and statistics settings; default :func:`load_config()`.
    projection : bool, default True
        Compute the aligned 2-D maps (the slowest stage).
    max_overlap_docs : int, optional
        Above this many documents, neighborhood overlap comes from an exact kNN of a stratified
        sample of documents against the whole corpus (never approximate neighbors), reported with
        the sample size and a bootstrap CI. Default: sized to the query search
        (:func:`overlap_sample_size`; 20,000 below 50,000 documents).
    max_projection_points : int, default 20000
        Stratified sample cap of the projection.
    progress : callable, optional
        ``progress(stage, done, total)``.
    query_prefix, doc_prefix : str, default ""
        The prefixes the texts were encoded with (e.g. ``"query: "``), recorded in the manifest
        and the run id so that the live probe encodes a typed query the same way.
    cluster : RayCluster, optional
        Run the exact searches (retrieval, document kNN) on this Ray cluster
        (:func:`diagnostics.distributed.connect`): the same answer and the same run id as here.

    Returns
    -------
    Comparison
    """
    return _compare(dataset, base, tuned, k=k, config=config, projection=projection,
                    max_overlap_docs=max_overlap_docs, max_projection_points=max_projection_points,
                    progress=progress, query_prefix=query_prefix, doc_prefix=doc_prefix, cluster=cluster)


def _compare(
    dataset: Dataset,
    base: Embeddings,
    tuned: Embeddings,
    *,
    k: int,
    config: Config | None,
    projection: bool,
    max_overlap_docs: int | None,
    max_projection_points: int,
    progress: ProgressCallback | None,
    query_prefix: str,
    doc_prefix: str,
    fingerprint: str | None = None,
    share: stages.BaseShare | None = None,
    cluster: RayCluster | None = None,
) -> Comparison:
    """:func:`compare`, given the dataset's fingerprint when the caller already has it (hashed once), and the
    base side's work already done for another candidate (``share``)."""
    config = config or load_config()
    k = check_k(k)
    progress = progress or _noop
    base, tuned = _fingerprinted(base), _fingerprinted(tuned)
    _check_embeddings(dataset, base, "base")
    _check_embeddings(dataset, tuned, "tuned")
    n_docs = len(dataset.docs)
    if n_docs < k + 1:
        raise InputError(f"the corpus has {n_docs} documents; k={k} needs at least {k + 1}")
    max_overlap_docs = overlap_sample_size(n_docs, len(dataset.queries), max_overlap_docs)
    started = time.time()
    fingerprint = fingerprint or dataset.fingerprint()  # hashes every text: once, for the manifest and the run id
    timings: dict[str, float] = {}

    def timed(name: str, stage: Callable[[], _T]) -> _T:
        t0 = time.time()
        out = stage()
        timings[name] = time.time() - t0
        return out

    found = timed("retrieve", lambda: stages.retrieve(dataset, base, tuned, k=k, progress=progress,
                                                          share=share, cluster=cluster))
    stats = timed("statistics", lambda: stages.statistics(dataset, found, k=k, config=config, progress=progress))
    near = timed("neighbors", lambda: stages.neighbors(dataset, base, tuned, found, k=k, max_docs=max_overlap_docs,
                                                         progress=progress, share=share, cluster=cluster))
    checks, ki_status = timed("known_item", lambda: stages.known_items(
        dataset, base, tuned, config=config, k=k, query_prefix=query_prefix, doc_prefix=doc_prefix,
        progress=progress))
    if checks is None:
        del timings["known_item"]
    probed, probe_status = timed("probe", lambda: stages.probe(dataset, base, tuned, config=config,
                                                               doc_prefix=doc_prefix, progress=progress, share=share))
    if probed is None:
        del timings["probe"]
    shape = timed("collapse", lambda: stages.collapse(dataset, base, tuned, config=config, progress=progress))
    proj_frame: pd.DataFrame | None = None
    proj_info: dict[str, Any] = {}
    if projection:
        proj_frame, proj_info = timed("projection", lambda: stages.project(
            dataset, base, tuned, per_doc=near.per_doc, per_query=stats.per_query, metric=config.retrieval_metric,
            max_points=max_projection_points, progress=progress))
    table, overall, reasons_all = timed("verdict", lambda: stages.verdict(
        dataset, stats, near, shape, checks, ki_status, config=config, progress=progress))

    tables: dict[str, pd.DataFrame] = {
        "domains": table,
        "per_query": stats.per_query,
        "per_doc": near.per_doc,
        "flow_base": stages.matrix_table(near.flow_base),
        "flow_tuned": stages.matrix_table(near.flow_tuned),
        "centroids_base": stages.matrix_table(shape.centroids_base),
        "centroids_tuned": stages.matrix_table(shape.centroids_tuned),
        "docs": dataset.docs.reset_index(drop=True),
        "queries": dataset.queries.reset_index(drop=True),
        "qrels": dataset.qrels.reset_index(drop=True),
    }
    if checks is not None:
        tables["known_items"] = checks.checks
    if proj_frame is not None:
        tables["projection"] = proj_frame
    if probed is not None:
        tables["probe"] = probed.summary
        tables["probe_pairs"] = probed.pairs

    overall_collapse = stages.records_by(shape.table).get("overall")
    manifest: dict[str, Any] = {
        "verdict": overall,
        "reasons": reasons_all,
        "dataset": {"source": dataset.source, "fingerprint": fingerprint, "n_docs": n_docs,
                    "n_queries": len(dataset.queries), "n_qrels": len(dataset.qrels), "domains": dataset.domains,
                    "warnings": list(dataset.warnings)},
        "models": {**_model_fields("base", base), **_model_fields("tuned", tuned)},
        "params": {"k": k, "retrieval_depth": int(found.rank_base.shape[1]), "projection": projection,
                   "max_overlap_docs": max_overlap_docs, "max_projection_points": max_projection_points,
                   "overlap_sampled": near.sampled, "overlap_n": len(near.rows),
                   "probes": "queries" if dataset.has_queries else "documents", "engine_version": ENGINE_VERSION,
                   "query_prefix": query_prefix, "doc_prefix": doc_prefix,
                   "known_item": {"status": ki_status, "docs_per_domain": config.known_item_docs_per_domain,
                                  "random_state": config.known_item_random_state, "bm25": config.known_item_bm25,
                                  "n_checks": 0 if checks is None else len(checks.checks)},
                   "probe": {"status": probe_status, "pairs_per_domain": config.probe_pairs_per_domain,
                             "random_state": config.probe_random_state,
                             "n_pairs": 0 if probed is None else len(probed.pairs)}},
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
        "rank_base": found.rank_base.astype(np.int32), "rank_tuned": found.rank_tuned.astype(np.int32),
        "score_base": found.score_base.astype(np.float32), "score_tuned": found.score_tuned.astype(np.float32),
        "nn_base": near.nn_base.astype(np.int32), "nn_tuned": near.nn_tuned.astype(np.int32),
        "nn_rows": near.rows.astype(np.int64),
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
    max_overlap_docs: int | None = None,
    max_projection_points: int = DEFAULT_MAX_PROJECTION_POINTS,
    progress: ProgressCallback | None = None,
    store: RunStore | None = None,
    query_prefix: str = "",
    doc_prefix: str = "",
    fingerprint: str | None = None,
    share: stages.BaseShare | None = None,
    cluster: RayCluster | None = None,
) -> Comparison:
    """Compare and save, or reopen the saved run when the same inputs were compared before.

    The run id derives from the dataset fingerprint, both models' fingerprints and every
    parameter (the encoding prefixes included), so the same comparison is never computed twice.
    Options are those of :func:`compare`; ``store`` defaults to ``RunStore()``. For several candidates
    against one base (:func:`diagnostics.candidates.compare_candidates`): ``fingerprint`` is the dataset's,
    hashed once, and ``share`` keeps the base side's searches for the next candidate. ``cluster`` runs the
    searches on Ray (:func:`compare`); where they ran is not part of the run id.
    """
    config = config or load_config()
    store = store or RunStore()
    base, tuned = _fingerprinted(base), _fingerprinted(tuned)
    fingerprint = fingerprint or dataset.fingerprint()  # once: the run id here, the manifest in _compare
    max_overlap_docs = overlap_sample_size(len(dataset.docs), len(dataset.queries), max_overlap_docs)
    run_id = run_id_for(_run_inputs(fingerprint, base, tuned, k=check_k(k), config=config,
                                    projection=projection,
                                    max_overlap_docs=max_overlap_docs,
                                    max_projection_points=max_projection_points,
                                    query_prefix=query_prefix, doc_prefix=doc_prefix))
    if store.exists(run_id):
        return load_comparison(run_id, store=store)
    result = _compare(dataset, base, tuned, k=k, config=config, projection=projection,
                      max_overlap_docs=max_overlap_docs, max_projection_points=max_projection_points,
                      progress=progress, query_prefix=query_prefix, doc_prefix=doc_prefix, fingerprint=fingerprint,
                      share=share, cluster=cluster)
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
    cluster: RayCluster | None = None,
) -> tuple[Dataset, Embeddings, Embeddings]:
    """Load and validate everything before any work, then encode what needs encoding.

    For each side, a model (``base`` / ``tuned``), a vector file (``base_vectors`` /
    ``tuned_vectors``) or both. With both, the vectors serve the corpus and the queries and the model
    encodes new text (known-item checks, the live probe), after :func:`~diagnostics.consistency.attach_model`
    checked on 32 documents that the model made the vectors. ``qrels_domains`` keeps only the
    judgements of those domains (see :func:`~diagnostics.dataset.keep_judgements`). With ``cluster``, a side
    given by its model alone is encoded on that Ray cluster (:func:`~diagnostics.encoding.encode_dataset`).
    """
    if base is None and base_vectors is None:
        raise InputError("give --base MODEL, --base-vectors FILE, or both")
    if tuned is None and tuned_vectors is None:
        raise InputError("give --tuned MODEL, --tuned-vectors FILE, or both")
    dataset = load_dataset(datasets, split=split)
    if qrels_domains is not None:
        dataset = keep_judgements(dataset, qrels_domains)
    if base_vectors is None or tuned_vectors is None:
        sides = {role: load_side(dataset, role, model=model, vectors=path, query_prefix=query_prefix,
                                 doc_prefix=doc_prefix, progress=progress, cluster=cluster)
                 for role, model, path in (("base", base, base_vectors), ("tuned", tuned, tuned_vectors))}
        return dataset, sides["base"], sides["tuned"]
    pair = dict(zip(("base", "tuned"), load_vector_pair(dataset, base_vectors, tuned_vectors), strict=True))
    for role, model, path in (("base", base, base_vectors), ("tuned", tuned, tuned_vectors)):
        if model is not None:  # both matrices are held once; the model is checked against its vectors
            pair[role] = _with_model(dataset, pair[role], role, model, path, query_prefix=query_prefix,
                                     doc_prefix=doc_prefix, progress=progress)
    return dataset, pair["base"], pair["tuned"]


def load_side(
    dataset: Dataset,
    role: str,
    *,
    model: str | None = None,
    vectors: str | Path | None = None,
    query_prefix: str = "",
    doc_prefix: str = "",
    progress: ProgressCallback | None = None,
    cluster: RayCluster | None = None,
) -> Embeddings:
    """One side's vectors for ``dataset``: read from ``vectors``, encoded by ``model``, or read and checked
    against the model that must have made them (then the model encodes new text). ``role`` names the side in
    messages and progress (``base``, ``tuned`` or a candidate's name). With ``cluster``, encoding runs on Ray."""
    if vectors is None:
        if model is None:
            raise InputError(f"give a model, a vector file or both for {role}")
        return encode_dataset(dataset, model, query_prefix=query_prefix, doc_prefix=doc_prefix,
                              progress=progress, role=role, cluster=cluster)
    emb = attach_vectors(dataset, load_vectors(vectors), role=role)
    if model is None:
        return emb
    return _with_model(dataset, emb, role, model, vectors, query_prefix=query_prefix, doc_prefix=doc_prefix,
                       progress=progress)


def _with_model(dataset: Dataset, emb: Embeddings, role: str, model: str, vectors: str | Path, *,
                query_prefix: str, doc_prefix: str, progress: ProgressCallback | None) -> Embeddings:
    """``emb`` read from ``vectors`` with ``model`` attached, after a check that the model made them."""
    from diagnostics.consistency import attach_model

    return attach_model(dataset, emb, model, vectors_label=display_path(vectors), role=role,
                        doc_prefix=doc_prefix, query_prefix=query_prefix, progress=progress)
