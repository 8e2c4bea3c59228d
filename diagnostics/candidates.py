"""Several candidates against one base: one run per candidate, the base's work done once, saved as a set.

:func:`load_candidates` loads the dataset and the base once and each candidate's vectors (or encodes
them); :func:`compare_candidates` compares each candidate with the base through
:func:`diagnostics.compare.compare_inputs` — every candidate's run is an ordinary saved run, with its
own id, table, verdict and pages — while the base's exact top-100 and its documents' neighbors are
searched once (:class:`diagnostics.stages.BaseShare`) and its encodings come from the encoding cache.
The set (which runs, under which names, with which target domains) is saved under
``$EMBDIFF_HOME/sets/<set id>.json``; :func:`load_candidate_set` reopens it. What the set shows — the
frontier, the candidates × domains matrix, the best candidate — is :mod:`diagnostics.frontier`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from diagnostics import frontier as _frontier
from diagnostics._home import embdiff_home
from diagnostics._validation import InputError, check_candidate_name, check_run_id, short_error
from diagnostics.compare import (
    DEFAULT_MAX_PROJECTION_POINTS,
    compare_inputs,
    load_side,
)
from diagnostics.config import Config, load_config
from diagnostics.dataset import Dataset, keep_judgements, load_dataset
from diagnostics.encoding import ProgressCallback
from diagnostics.result import Comparison, _clean, load_comparison
from diagnostics.runs import RunNotFoundError, RunStore, run_id_for
from diagnostics.stages import BaseShare
from diagnostics.vectors import Embeddings

if TYPE_CHECKING:  # only with --ray (diagnostics.distributed imports Ray)
    from diagnostics.distributed import RayCluster

__all__ = ["Candidate", "CandidateSet", "compare_candidates", "is_saved_set", "list_sets", "load_candidate_set",
           "load_candidates", "load_sample_candidates", "HOLM_FAMILY"]

HOLM_FAMILY = ("Holm's correction covers each candidate's domains, one family per candidate (and a separate "
               "one for its known-item checks); candidates are not corrected against each other.")


@dataclass(frozen=True)
class Candidate:
    """One candidate as given on the command line: a name and a model, a vector file or both."""

    name: str
    model: str | None = None
    vectors: str | Path | None = None

    def __post_init__(self) -> None:
        check_candidate_name(self.name)
        if self.model is None and self.vectors is None:
            raise InputError(f"candidate {self.name!r} needs --tuned MODEL, --tuned-vectors FILE, or both")


def load_candidates(
    datasets: str | Path | Sequence[str | Path],
    candidates: Sequence[Candidate],
    *,
    split: str = "test",
    base: str | None = None,
    base_vectors: str | Path | None = None,
    query_prefix: str = "",
    doc_prefix: str = "",
    progress: ProgressCallback | None = None,
    qrels_domains: Sequence[str] | None = None,
    cluster: RayCluster | None = None,
) -> tuple[Dataset, Embeddings, dict[str, Embeddings]]:
    """The dataset, the base and every candidate's vectors, each loaded (or encoded) once.

    As :func:`diagnostics.compare.load_inputs`, for any number of candidates with distinct names; with
    ``cluster``, each side given by its model alone is encoded on that Ray cluster.
    """
    if base is None and base_vectors is None:
        raise InputError("give --base MODEL, --base-vectors FILE, or both")
    if not candidates:
        raise InputError("give at least one candidate (--tuned or --tuned-vectors)")
    names = [c.name for c in candidates]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"candidate name {repeated[0]!r} is given twice; name each candidate once (NAME=PATH)")
    dataset = load_dataset(datasets, split=split)
    if qrels_domains is not None:
        dataset = keep_judgements(dataset, qrels_domains)
    options: dict[str, Any] = {"query_prefix": query_prefix, "doc_prefix": doc_prefix, "progress": progress,
                               "cluster": cluster}
    base_emb = load_side(dataset, "base", model=base, vectors=base_vectors, **options)
    tuned: dict[str, Embeddings] = {}
    for c in candidates:
        try:
            tuned[c.name] = load_side(dataset, "tuned", model=c.model, vectors=c.vectors, **options)
        except InputError as err:
            raise InputError(f"candidate {c.name!r}: {err}") from None
    return dataset, base_emb, tuned


def load_sample_candidates(
    *, progress: ProgressCallback | None = None, qrels_domains: Sequence[str] | None = None
) -> tuple[Dataset, Embeddings, dict[str, Embeddings], str]:
    """The bundled sample with every fine-tune it ships: its own (``sample``) and those under
    ``sample_data/candidates/`` (:func:`diagnostics.sample.candidate_paths`), each with its model attached
    (checked against its vectors), and the domain they were tuned on (the sample's training domain)."""
    from diagnostics.sample import candidate_paths, load_sample, sample_manifest

    dataset, base, tuned = load_sample(progress=progress, qrels_domains=qrels_domains)
    out = {"sample": tuned}
    for name, path in candidate_paths().items():
        out[name] = load_side(dataset, "tuned", model=str(path), vectors=path / "vectors.parquet", progress=progress)
    target = str(sample_manifest().get("recipe", {}).get("train_domain", "clinical"))
    return dataset, base, out, target


@dataclass(frozen=True, eq=False)
class CandidateSet:
    """Saved runs of several candidates against one base on one dataset, and the target domains."""

    set_id: str
    runs: dict[str, Comparison]
    targets: tuple[str, ...] = ()
    created_at: str = ""
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def metric(self) -> str:
        return next(iter(self.runs.values())).metric

    def matrix(self) -> pd.DataFrame:
        """Candidates × domains: verdict, evidence and Δ (:func:`diagnostics.frontier.domain_deltas`)."""
        return _frontier.domain_deltas(self.runs)

    def frontier(self, targets: Sequence[str] | None = None) -> pd.DataFrame:
        """:func:`diagnostics.frontier.frontier` on ``targets`` (default: the set's own)."""
        return _frontier.frontier(self.runs, self.targets if targets is None else targets)

    def best(self, targets: Sequence[str] | None = None, *, frontier: pd.DataFrame | None = None) -> str:
        """The candidate to ship: by verdict, then the frontier (needs targets; pass ``frontier`` when it is
        already computed for them), then the name."""
        chosen = self.targets if targets is None else tuple(targets)
        if frontier is None and chosen:
            frontier = self.frontier(chosen)
        if frontier is None:
            frontier = pd.DataFrame({"candidate": list(self.runs), "verdict": [r.verdict for r in self.runs.values()],
                                     "gain": float("nan"), "loss": float("nan"), "dominated": False})
        return _frontier.best_candidate(frontier)

    def gate(self, name: str | None = None) -> tuple[str, str]:
        """The candidate ``embdiff check`` exits by — ``name``, else :meth:`best` — and its verdict."""
        if name is not None and name not in self.runs:
            raise InputError(f"--gate {name!r} is not a candidate; the candidates are {list(self.runs)}")
        chosen = name if name is not None else self.best()
        return chosen, self.runs[chosen].verdict

    def to_dict(self, *, gate: str | None = None) -> dict[str, Any]:
        """The JSON of a set (README, "Several candidates"): ``set_id``, ``verdict`` and ``gate`` (the
        candidate it is taken from), ``best``, ``targets``, ``metric``, ``holm``, ``candidates`` (name → the
        single-run JSON), ``frontier`` (rows, when there are targets), ``created_at``."""
        table = self.frontier() if self.targets else None
        best = self.best(frontier=table)
        if gate is not None:
            self.gate(gate)  # an unknown name is an InputError
        chosen = gate or best
        front = [] if table is None else table.to_dict(orient="records")
        return {
            "set_id": self.set_id, "verdict": self.runs[chosen].verdict, "gate": chosen, "best": best,
            "targets": list(self.targets), "metric": self.metric, "holm": HOLM_FAMILY,
            "candidates": {name: run.to_dict() for name, run in self.runs.items()},
            "frontier": [{k: _clean(v) for k, v in row.items()} for row in front],
            "created_at": self.created_at,
        }

    def to_json(self, *, gate: str | None = None) -> str:
        return json.dumps(self.to_dict(gate=gate), indent=2, allow_nan=False)


def compare_candidates(
    dataset: Dataset,
    base: Embeddings,
    candidates: Mapping[str, Embeddings],
    *,
    targets: Sequence[str] = (),
    k: int = 10,
    config: Config | None = None,
    projection: bool = True,
    max_overlap_docs: int | None = None,
    max_projection_points: int = DEFAULT_MAX_PROJECTION_POINTS,
    progress: ProgressCallback | None = None,
    store: RunStore | None = None,
    query_prefix: str = "",
    doc_prefix: str = "",
    cluster: RayCluster | None = None,
) -> CandidateSet:
    """Compare each candidate with ``base`` on ``dataset``; save every run and the set.

    Each candidate's run is what :func:`diagnostics.compare.compare_inputs` makes for it alone (same id,
    same numbers); the base's searches are shared and the dataset is hashed once. With ``cluster``, the
    searches run on that Ray cluster (the same runs). Progress stages are
    prefixed with the candidate's name (``strong: retrieve``). ``targets`` are the domains the candidates
    were tuned for: the frontier's gain is measured there.
    """
    if not candidates:
        raise InputError("give at least one candidate")
    for name in candidates:
        check_candidate_name(name)
    config = config or load_config()
    store = store or RunStore()
    share, fingerprint = BaseShare(), dataset.fingerprint()
    runs: dict[str, Comparison] = {}
    for name, tuned in candidates.items():
        def tagged(stage: str, done: int, total: int, _name: str = name) -> None:
            if progress is not None:
                progress(f"{_name}: {stage}", done, total)

        runs[name] = compare_inputs(
            dataset, base, tuned, k=k, config=config, projection=projection, max_overlap_docs=max_overlap_docs,
            max_projection_points=max_projection_points, progress=tagged, store=store, query_prefix=query_prefix,
            doc_prefix=doc_prefix, fingerprint=fingerprint, share=share, cluster=cluster)
    chosen = _frontier.check_targets(runs, targets)
    record = {"candidates": {name: run.run_id for name, run in runs.items()}, "targets": list(chosen),
              "dataset": fingerprint}
    set_id = run_id_for(record)
    record = {"set_id": set_id, **record, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    _write_set(set_id, record)
    return CandidateSet(set_id, runs, chosen, str(record["created_at"]), record)


def _sets_dir(*, create: bool = False) -> Path:
    """``$EMBDIFF_HOME/sets``; made only when a set is written (reading never leaves anything behind)."""
    path = embdiff_home() / "sets"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def _write_set(set_id: str, record: Mapping[str, Any]) -> None:
    """Write the set's record atomically (a temporary file renamed into place); an existing set is kept."""
    target = _sets_dir(create=True) / f"{check_run_id(set_id)}.json"
    if target.is_file():
        return
    tmp = target.with_name(f".tmp-{uuid.uuid4().hex}.json")
    try:
        tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def list_sets() -> list[dict[str, Any]]:
    """Records of the saved candidate sets, newest first (``set_id``, ``candidates``, ``targets``,
    ``created_at``); one that cannot be read is listed with ``error``."""
    out: list[dict[str, Any]] = []
    folder = _sets_dir()
    for path in (folder.glob("*.json") if folder.is_dir() else ()):
        if path.name.startswith(".tmp-"):
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            out.append({"set_id": check_run_id(path.stem), "candidates": dict(record["candidates"]),
                        "targets": list(record.get("targets", [])), "created_at": str(record.get("created_at", ""))})
        except (OSError, ValueError, KeyError, TypeError) as err:
            out.append({"set_id": path.stem[:16], "error": short_error(err), "created_at": ""})
    return sorted(out, key=lambda r: r["created_at"], reverse=True)


def is_saved_set(set_id: str) -> bool:
    """Whether ``set_id`` is a well-formed id of a saved candidate set (run ids and set ids look alike)."""
    from diagnostics._validation import is_run_id

    return is_run_id(set_id) and (_sets_dir() / f"{set_id}.json").is_file()


def load_candidate_set(set_id: str, *, store: RunStore | None = None) -> CandidateSet:
    """Reopen a saved set by id: its record and every candidate's run."""
    path = _sets_dir() / f"{check_run_id(set_id)}.json"
    if not path.is_file():
        raise RunNotFoundError(f"no candidate set {set_id!r} in {_sets_dir()}")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        names = {check_candidate_name(n): check_run_id(r) for n, r in dict(record["candidates"]).items()}
        targets = tuple(str(t) for t in record.get("targets", []))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise InputError(f"candidate set {set_id!r} is damaged: {short_error(err)}") from None
    runs = {name: load_comparison(run_id, store=store) for name, run_id in names.items()}
    return CandidateSet(set_id, runs, targets, str(record.get("created_at", "")), record)
