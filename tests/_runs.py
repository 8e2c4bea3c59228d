"""Saved runs for the app tests: the bundled sample and a small dataset full of hostile text.

Each run is computed once per test session into a cache folder and copied into the run store a
test (or a server it starts) uses, so every test still gets its own isolated ``EMBDIFF_HOME``.
Nothing here hard-codes the sample's numbers: tests read what they expect from the run itself.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from diagnostics.compare import compare_inputs
from diagnostics.dataset import Dataset, keep_judgements, load_dataset
from diagnostics.drilldown import most_changed_docs, query_list
from diagnostics.result import Comparison, load_comparison
from diagnostics.runs import RunStore
from diagnostics.sample import load_sample
from diagnostics.vectors import Embeddings, load_vectors, pair_vectors, write_vectors

# Untrusted text that must stay text: raw HTML with a script, a markdown image that would fetch,
# a markdown link with a javascript: URL.
EVIL_HTML = "<img src=x onerror=alert(1)>"
EVIL_IMAGE = "![t](http://127.0.0.1:9/x.png)"
EVIL_LINK = "[x](javascript:alert(1))"
EVIL = f"{EVIL_HTML} {EVIL_IMAGE} {EVIL_LINK}"
# File names cannot hold "/", so the vector files carry a relative image and the link instead.
EVIL_BASE_FILE = f"{EVIL_HTML}.parquet"
EVIL_TUNED_FILE = f"![t](x.png) {EVIL_LINK}.parquet"

UNTRUSTED_K = 5
_DOMAINS = ("alpha", "beta", "gamma")
_DOCS_PER_DOMAIN = 12
_QUERIES_PER_DOMAIN = 4


def run_cache(factory: pytest.TempPathFactory) -> Path:
    """Where the session's runs are computed once: shared by every worker of a ``pytest -n`` session (their
    temporary roots have one parent), so two workers do not compute the same run twice."""
    base = factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return root / "run-cache"


def _once(marker: Path, make: Callable[[], str]) -> str:
    """The text of ``marker``, written by ``make()`` the first time. Under the cache's lock: a second worker
    waits for the first one's run, then reads its marker."""
    marker.parent.mkdir(parents=True, exist_ok=True)
    with open(marker.parent / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if not marker.is_file():
                marker.write_text(make())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return marker.read_text().strip()


def _install(source: Path, runs_dir: Path) -> None:
    target = runs_dir / source.name
    if not target.exists():
        runs_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source, target)


def sample_run(
    runs_dir: Path, cache: Path, *, projection: bool = True, judged_domains: tuple[str, ...] | None = None
) -> str:
    """The bundled sample compared (k=10) with both its models, saved under ``runs_dir``; returns its run
    id. ``judged_domains`` keeps only those domains' judgements."""
    judged = "all" if judged_domains is None else "-".join(judged_domains)
    marker = cache / f"sample-{'proj' if projection else 'noproj'}-{judged}.id"

    def make() -> str:
        dataset, base, tuned = load_sample(qrels_domains=judged_domains)
        return compare_inputs(dataset, base, tuned, projection=projection, store=RunStore(cache / "runs")).run_id

    run_id = _once(marker, make)
    _install(cache / "runs" / run_id, runs_dir)
    return run_id


def _write_untrusted_dataset(root: Path) -> dict[str, str]:
    """A three-domain BEIR directory whose texts, titles and some ids are hostile; returns those ids."""
    root.mkdir(parents=True)
    (root / "qrels").mkdir()
    evil_doc = EVIL_HTML  # the most changed document (see _untrusted_vectors)
    image_doc = EVIL_IMAGE
    evil_query = EVIL_LINK
    docs, queries, qrels = [], [], []
    for domain in _DOMAINS:
        for i in range(_DOCS_PER_DOMAIN):
            doc_id = f"{domain}-{i:02d}"
            if domain == "alpha" and i == 0:
                doc_id = evil_doc
            elif domain == "alpha" and i == 1:
                doc_id = image_doc
            docs.append({"_id": doc_id, "title": f"{EVIL_LINK} title {i}",
                         "text": f"{EVIL} {domain} document {i}", "domain": domain})
        for j in range(_QUERIES_PER_DOMAIN):
            query_id = evil_query if domain == "alpha" and j == 0 else f"{domain}-q{j}"
            queries.append({"_id": query_id, "text": f"{EVIL} {domain} question {j}", "metadata": {"domain": domain}})
            target = docs[_DOMAINS.index(domain) * _DOCS_PER_DOMAIN + j]["_id"]
            qrels.append(f"{query_id}\t{target}\t1")
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(qrels) + "\n",
                                             encoding="utf-8")
    return {"doc": evil_doc, "image_doc": image_doc, "query": evil_query}


def _untrusted_vectors(root: Path, folder: Path) -> tuple[Path, Path]:
    """Seeded vectors with a domain structure; the tuned space flips the hostile document to its
    antipode, so it has the lowest neighborhood overlap, and keeps the rest almost unchanged."""
    dataset = load_dataset(root)
    rng = np.random.default_rng(7)
    dim = 16
    centres = rng.standard_normal((len(_DOMAINS), dim))
    ids = [*dataset.docs["id"], *dataset.queries["id"]]
    kinds = ["doc"] * len(dataset.docs) + ["query"] * len(dataset.queries)
    domains = [*dataset.docs["domain"], *dataset.queries["domain"]]
    base = np.stack([centres[_DOMAINS.index(d)] for d in domains]) + 0.8 * rng.standard_normal((len(ids), dim))
    evil_query_row = len(dataset.docs) + list(dataset.queries["id"]).index(EVIL_LINK)
    base[evil_query_row] = base[0] + 0.05 * rng.standard_normal(dim)  # the hostile query finds the hostile doc
    tuned = base + 0.05 * rng.standard_normal(base.shape)
    tuned[0] = -base[0]
    folder.mkdir(parents=True)
    return (write_vectors(folder / EVIL_BASE_FILE, ids, kinds, base.astype(np.float32)),
            write_vectors(folder / EVIL_TUNED_FILE, ids, kinds, tuned.astype(np.float32)))


def untrusted_run(runs_dir: Path, cache: Path, *, judged: bool = True) -> tuple[str, dict[str, str]]:
    """A run of the hostile dataset (k=5, no projection) under ``runs_dir``: its id and the hostile ids
    (``doc`` is the most changed document, ``query`` a judged query whose base top-1 is ``doc``).
    ``judged=False`` drops every judgement: vectors alone and no qrels, so every domain is UNVERIFIED."""
    marker = cache / ("untrusted.json" if judged else "untrusted-unjudged.json")

    def make() -> str:
        work = cache / ("untrusted" if judged else "untrusted-unjudged")
        if work.exists():
            shutil.rmtree(work)
        ids = _write_untrusted_dataset(work / "hostile")
        base_path, tuned_path = _untrusted_vectors(work / "hostile", work / "vectors")
        dataset = load_dataset(work / "hostile")
        if not judged:
            dataset = keep_judgements(dataset, [])
        base, tuned = pair_vectors(dataset, load_vectors(base_path), load_vectors(tuned_path))
        result = compare_inputs(dataset, base, tuned, k=UNTRUSTED_K, projection=False, store=RunStore(cache / "runs"))
        return json.dumps({"run_id": result.run_id, "ids": ids})

    info = json.loads(_once(marker, make))
    _install(cache / "runs" / info["run_id"], runs_dir)
    return str(info["run_id"]), dict(info["ids"])


def open_result(runs_dir: Path, run_id: str) -> Comparison:
    return load_comparison(run_id, store=RunStore(runs_dir))


def most_regressed_query(result: Comparison) -> str:
    """The first row of the Queries page's default ranking: the lowest Δ nDCG@10."""
    table = query_list(result, sort_by="ndcg@10_delta")
    worst = str(table["query_id"].iat[0])
    assert table["ndcg@10_delta"].iat[0] == result.per_query["ndcg@10_delta"].min()
    return worst


def most_changed_doc(result: Comparison) -> str:
    return str(most_changed_docs(result, n=1)["doc_id"].iat[0])


def as_legacy(result: Comparison) -> Comparison:
    """``result`` as engine 1 saved it: no evidence, no known-item figures or checks, no ``*_model`` keys in
    the manifest's models, no ``evidence`` section. For the tests that old runs still open."""
    domains = result.tables["domains"]
    dropped = [c for c in domains.columns if c == "evidence" or c.startswith("ki_") or c == "known_item_status"]
    tables = {**{k: v for k, v in result.tables.items() if k != "known_items"},
              "domains": domains.drop(columns=dropped)}
    manifest = {k: v for k, v in result.manifest.items() if k != "evidence"}
    manifest["models"] = {k: v for k, v in manifest["models"].items()
                          if not k.endswith(("_model", "_model_fingerprint", "_source"))}
    manifest["params"] = {k: v for k, v in manifest["params"].items() if k != "known_item"}
    arrays = {k: v for k, v in result.arrays.items() if not k.startswith("ki_")}
    return Comparison(run_id="00000000000000e1", manifest=manifest, tables=tables, arrays=arrays)


def forgetting(dataset: Dataset, tuned: Embeddings, keep: str) -> Embeddings:
    """``tuned`` with every document outside domain ``keep`` replaced by a random unit vector (seeded): a
    candidate that forgets the other domains entirely."""
    from dataclasses import replace

    rng = np.random.default_rng(7)
    docs = np.array(tuned.docs, copy=True)
    rows = np.flatnonzero(dataset.docs["domain"].to_numpy(object) != keep)
    noise = rng.standard_normal((len(rows), docs.shape[1])).astype(np.float32)
    docs[rows] = noise / np.linalg.norm(noise, axis=1, keepdims=True)
    return replace(tuned, docs=docs, fingerprint=f"{tuned.fingerprint}-forgets-{keep}")


CANDIDATE_TARGET = "clinical"


def candidate_set(home: Path, cache: Path) -> str:
    """Three candidates on the bundled sample's vectors — its fine-tune (``tuned``), one that forgets every
    domain but clinical (``forgets``) and the base itself (``base``), target clinical — saved as a set under
    ``home`` (the runs and the set record); returns the set id."""
    from diagnostics.candidates import compare_candidates

    built = cache / "candidates-home"
    marker = cache / "candidates.id"

    def make() -> str:
        dataset, base, tuned = load_sample(models=False)
        with pytest.MonkeyPatch.context() as env:
            env.setenv("EMBDIFF_HOME", str(built))
            forgets = forgetting(dataset, tuned, CANDIDATE_TARGET)
            return compare_candidates(
                dataset, base, {"tuned": tuned, "forgets": forgets, "base": base},
                targets=[CANDIDATE_TARGET], projection=False, store=RunStore(built / "runs")).set_id

    set_id = _once(marker, make)
    for run in (built / "runs").iterdir():
        _install(run, home / "runs")
    (home / "sets").mkdir(parents=True, exist_ok=True)
    shutil.copy(built / "sets" / f"{set_id}.json", home / "sets" / f"{set_id}.json")
    return set_id
