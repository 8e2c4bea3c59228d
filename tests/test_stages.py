"""Each stage of a comparison on its own (diagnostics.stages): what it returns, its progress label, and
that compare() is exactly the stages in order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_compare import DEGRADED, DOMAINS, degrade, synthetic, without_queries

from diagnostics import stages
from diagnostics.compare import compare
from diagnostics.config import load_config
from diagnostics.dataset import Dataset
from diagnostics.knn import exact_top_k
from diagnostics.result import METRICS
from diagnostics.statistics import paired_comparison
from diagnostics.vectors import Embeddings

K = 10


@pytest.fixture(scope="module")
def data() -> tuple[Dataset, Embeddings, Embeddings]:
    dataset, base = synthetic()
    return dataset, base, degrade(dataset, base, DEGRADED)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.calls.append((stage, done, total))

    def labels(self) -> list[str]:
        return list(dict.fromkeys(s for s, _, _ in self.calls))

    def completed(self, label: str) -> bool:
        mine = [(d, t) for s, d, t in self.calls if s == label]
        return bool(mine) and mine[-1][0] == mine[-1][1] and all(0 <= d <= t for d, t in mine)


def test_retrieve_is_the_exact_top_100_in_both_spaces(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    rec = Recorder()
    found = stages.retrieve(dataset, base, tuned, k=K, progress=rec)
    expected, _ = exact_top_k(tuned.queries, tuned.docs, k=min(100, len(dataset.docs)))
    np.testing.assert_array_equal(found.rank_tuned, expected)
    assert found.rank_base.shape == (len(dataset.queries), min(100, len(dataset.docs)))
    assert list(found.probe_ids) == list(dataset.queries["id"])
    assert rec.labels() == ["retrieve"] and rec.completed("retrieve")


def test_retrieve_without_queries_uses_documents_self_excluded(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, _ = data
    docs_only, emb = without_queries(dataset, base)
    found = stages.retrieve(docs_only, emb, emb, k=K)
    assert found.rank_base.shape == (len(dataset.docs), K)
    assert not (found.rank_base == np.arange(len(dataset.docs))[:, None]).any()


def test_statistics_uses_the_one_paired_comparison(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    config = load_config()
    rec = Recorder()
    stats = stages.statistics(dataset, stages.retrieve(dataset, base, tuned, k=K), k=K, config=config, progress=rec)
    judged = stats.per_query[stats.per_query["judged"]]
    keys = judged[["query_id", "domain"]].reset_index(drop=True)
    reference = paired_comparison(
        keys.assign(**{m: judged[f"{m}_base"].to_numpy() for m in METRICS}),
        keys.assign(**{m: judged[f"{m}_tuned"].to_numpy() for m in METRICS}),
        metrics=METRICS, n_resamples=config.statistics_n_resamples, n_permutations=config.statistics_n_permutations,
        confidence=config.statistics_confidence, random_state=config.statistics_random_state,
    ).set_index(["domain", "metric"])
    for domain in (*DOMAINS, "overall"):
        assert stats.stats[domain]["ndcg@10_delta"] == pytest.approx(reference.loc[(domain, "ndcg@10"), "delta"])
        assert stats.stats[domain]["ndcg@10_p_holm"] == pytest.approx(reference.loc[(domain, "ndcg@10"), "p_holm"])
    assert stats.stats[DEGRADED]["ndcg@10_delta"] < -0.1
    assert rec.labels() == ["statistics"] and rec.completed("statistics")


def test_neighbors_sample_above_the_cap_and_report_it(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    found = stages.retrieve(dataset, base, tuned, k=K)
    rec = Recorder()
    full = stages.neighbors(dataset, base, tuned, found, k=K, max_docs=10_000, progress=rec)
    assert not full.sampled and len(full.rows) == len(dataset.docs) and full.per_doc["overlap"].notna().all()
    assert rec.labels() == ["neighbors"] and rec.completed("neighbors")
    cap = len(dataset.docs) // 2
    part = stages.neighbors(dataset, base, tuned, found, k=K, max_docs=cap)
    assert part.sampled and len(part.rows) <= cap and part.per_doc["overlap"].notna().sum() == len(part.rows)
    assert set(part.per_doc.loc[part.rows, "domain"]) == set(DOMAINS)  # stratified: every domain sampled
    # the degraded domain's neighborhoods moved most
    by_domain = full.per_doc.groupby("domain")["overlap"].mean()
    assert by_domain.idxmin() == DEGRADED
    assert set(full.overlap_ci["domain"]) >= set(DOMAINS)


def test_known_items_need_both_models(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    checks, status = stages.known_items(dataset, base, tuned, config=load_config(), k=K)
    assert checks is None and status == "no_models"  # vectors only: nothing can encode a check


def _collapsed(dataset: Dataset, emb: Embeddings, domain: str) -> Embeddings:
    """``domain``'s documents squeezed onto two directions near their centroid: closer *and* lower rank."""
    rng = np.random.default_rng(3)
    docs = emb.docs.copy()
    rows = (dataset.docs["domain"] == domain).to_numpy()
    centre = docs[rows].mean(axis=0)
    docs[rows] = centre + 0.05 * rng.normal(size=(int(rows.sum()), 2)) @ rng.normal(size=(2, docs.shape[1]))
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    return Embeddings(docs.astype(np.float32), emb.queries, "collapsed", "collapsed-fp")


def test_collapse_flags_a_planted_collapse(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, _ = data
    tuned = _collapsed(dataset, base, DEGRADED)
    rec = Recorder()
    shape = stages.collapse(dataset, base, tuned, config=load_config(), progress=rec)
    row = shape.table.set_index("domain").loc[DEGRADED]
    assert row["intra_cosine_tuned"] > row["intra_cosine_base"]
    assert DEGRADED in set(shape.flags.loc[shape.flags["flag"] == "collapsed", "domain"])
    assert list(shape.centroids_base.index) == list(shape.centroids_base.columns)
    assert rec.labels() == ["collapse"] and rec.completed("collapse")


def test_identical_spaces_give_an_empty_collapse_and_full_overlap(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, _ = data
    shape = stages.collapse(dataset, base, base, config=load_config())
    assert shape.flags.empty
    near = stages.neighbors(dataset, base, base, stages.retrieve(dataset, base, base, k=K), k=K, max_docs=10_000)
    assert (near.per_doc["overlap"] == 1.0).all() and (near.per_doc["n_gained"] == 0).all()


def test_verdict_fails_the_degraded_domain_only(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    config = load_config()
    found = stages.retrieve(dataset, base, tuned, k=K)
    rec = Recorder()
    table, overall, reasons = stages.verdict(
        dataset, stages.statistics(dataset, found, k=K, config=config),
        stages.neighbors(dataset, base, tuned, found, k=K, max_docs=10_000),
        stages.collapse(dataset, base, tuned, config=config), None, "no_models", config=config, progress=rec)
    verdicts = dict(zip(table["domain"], table["verdict"], strict=True))
    assert verdicts[DEGRADED] == "FAIL" and overall == "FAIL"
    assert all(v == "PASS" for d, v in verdicts.items() if d not in (DEGRADED, "overall"))
    assert any(DEGRADED in r for r in reasons)
    assert rec.labels() == ["verdict"] and rec.completed("verdict")


def test_project_attaches_overlap_and_delta(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    config = load_config()
    found = stages.retrieve(dataset, base, tuned, k=K)
    stats = stages.statistics(dataset, found, k=K, config=config)
    near = stages.neighbors(dataset, base, tuned, found, k=K, max_docs=10_000)
    rec = Recorder()
    frame, info = stages.project(dataset, base, tuned, per_doc=near.per_doc, per_query=stats.per_query,
                                 metric="ndcg@10", max_points=10_000, progress=rec)
    docs = frame[frame["kind"] == "doc"]
    assert len(frame) == len(dataset.docs) + len(dataset.queries) == info["n_points"]
    assert docs["overlap"].notna().all() and frame.loc[frame["kind"] == "query", "overlap"].isna().all()
    assert rec.labels() == ["projection"] and rec.completed("projection")


def test_compare_is_the_stages_in_order(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    rec = Recorder()
    result = compare(dataset, base, tuned, projection=False, progress=rec)
    assert rec.labels() == ["retrieve", "statistics", "neighbors", "collapse", "verdict"]
    assert all(rec.completed(label) for label in rec.labels())
    assert list(result.manifest["timings"]) == ["retrieve", "statistics", "neighbors", "collapse", "verdict"]
    config = load_config()
    found = stages.retrieve(dataset, base, tuned, k=K)
    table, _, _ = stages.verdict(
        dataset, stages.statistics(dataset, found, k=K, config=config),
        stages.neighbors(dataset, base, tuned, found, k=K, max_docs=20_000),
        stages.collapse(dataset, base, tuned, config=config), None, "no_models", config=config)
    pd.testing.assert_frame_equal(result.domains.reset_index(drop=True), table.reset_index(drop=True))


def test_the_dataset_is_hashed_once_per_run(data: tuple[Dataset, Embeddings, Embeddings],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from diagnostics.compare import compare_inputs

    dataset, base, tuned = data
    calls = []
    original = Dataset.fingerprint
    monkeypatch.setattr(Dataset, "fingerprint", lambda self: calls.append(1) or original(self))
    compare_inputs(dataset, base, tuned, projection=False)
    assert len(calls) == 1
