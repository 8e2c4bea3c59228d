"""The orchestration: compare() on synthetic multi-domain data with known answers.

The builders at the top (``synthetic``, ``degrade``, ``write_inputs``) are shared with the other
orchestration tests (``from test_compare import ...``): a clustered multi-domain dataset whose queries
sit next to their relevant documents, and a "fine-tune" that pulls one domain toward its centroid.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from diagnostics._validation import InputError
from diagnostics.compare import compare, compare_inputs, load_inputs, overlap_sample_size
from diagnostics.config import load_config
from diagnostics.dataset import Dataset
from diagnostics.result import METRICS, Comparison
from diagnostics.runs import RunStore
from diagnostics.statistics import holm
from diagnostics.vectors import Embeddings, write_vectors

DOMAINS = ("finance", "legal", "medical", "news", "science")
DEGRADED = "legal"
DIM = 32

# --------------------------------------------------------------------------------------------------
# Shared builders
# --------------------------------------------------------------------------------------------------


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, float32."""
    x = np.asarray(x, dtype=np.float64)
    out: np.ndarray = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


def embeddings(docs: np.ndarray, queries: np.ndarray, model_id: str) -> Embeddings:
    """Embeddings whose fingerprint is the hash of their content (as a vector file's would be)."""
    docs, queries = unit(docs) if len(docs) else docs, unit(queries) if len(queries) else queries
    digest = hashlib.sha256(docs.tobytes() + queries.tobytes()).hexdigest()
    return Embeddings(docs=docs.astype(np.float32), queries=queries.astype(np.float32), model_id=model_id,
                      fingerprint=digest)


def synthetic(
    *,
    domains: tuple[str, ...] = DOMAINS,
    n_docs: int = 80,
    n_queries: int = 30,
    dim: int = DIM,
    seed: int = 0,
) -> tuple[Dataset, Embeddings]:
    """A clustered multi-domain dataset and its "base" vectors.

    Each domain has a random unit centroid; its documents are the centroid plus Gaussian noise; each
    query has 1–2 relevant documents of its domain and sits next to their mean, so the base model
    retrieves them (nDCG@10 near 1).
    """
    rng = np.random.default_rng(seed)
    centroids = unit(rng.normal(size=(len(domains), dim)))
    docs: list[tuple[str, ...]] = []
    queries: list[tuple[str, ...]] = []
    qrels: list[tuple[str, str, int]] = []
    doc_vecs: list[np.ndarray] = []
    query_vecs: list[np.ndarray] = []
    for i, domain in enumerate(domains):
        vecs = unit(centroids[i] + 0.15 * rng.normal(size=(n_docs, dim)))
        for j in range(n_docs):
            docs.append((f"{domain}-d{j}", f"title {j}", f"{domain} document number {j}", domain))
            doc_vecs.append(vecs[j])
        for j in range(n_queries):
            relevant = rng.choice(n_docs, size=int(rng.integers(1, 3)), replace=False)
            query = vecs[relevant].mean(axis=0) + 0.05 * rng.normal(size=dim)
            queries.append((f"{domain}-q{j}", f"{domain} question number {j}", domain))
            query_vecs.append(query)
            qrels.extend((f"{domain}-q{j}", f"{domain}-d{r}", 1) for r in relevant)
    dataset = Dataset(
        docs=pd.DataFrame(docs, columns=["id", "title", "text", "domain"]),
        queries=pd.DataFrame(queries, columns=["id", "text", "domain"]),
        qrels=pd.DataFrame(qrels, columns=["query_id", "doc_id", "score"]),
        source="synthetic",
    )
    return dataset, embeddings(np.array(doc_vecs), np.array(query_vecs), "base")


def degrade(
    dataset: Dataset, emb: Embeddings, domain: str, *, pull: float = 0.8, noise: float = 0.05, seed: int = 1
) -> Embeddings:
    """``emb`` with one domain's document and query vectors pulled toward the domain centroid plus
    noise (re-normalised): the planted degradation of a narrow fine-tune. Other rows are unchanged."""
    rng = np.random.default_rng(seed)
    docs, queries = emb.docs.copy(), emb.queries.copy()
    doc_mask = (dataset.docs["domain"] == domain).to_numpy()
    query_mask = (dataset.queries["domain"] == domain).to_numpy()
    centroid = unit(docs[doc_mask].mean(axis=0, keepdims=True))[0]
    for matrix, mask in ((docs, doc_mask), (queries, query_mask)):
        if mask.any():
            jitter = noise * rng.normal(size=(int(mask.sum()), docs.shape[1]))
            moved = pull * centroid + (1 - pull) * matrix[mask] + jitter
            matrix[mask] = unit(moved)
    return embeddings(docs, queries, f"tuned-{domain}")


def without_qrels(dataset: Dataset) -> Dataset:
    return Dataset(dataset.docs, dataset.queries, dataset.qrels.iloc[:0], source=dataset.source)


def without_queries(dataset: Dataset, emb: Embeddings) -> tuple[Dataset, Embeddings]:
    ds = Dataset(dataset.docs, dataset.queries.iloc[:0], dataset.qrels.iloc[:0], source=dataset.source)
    return ds, Embeddings(emb.docs, emb.queries[:0], emb.model_id, emb.fingerprint)


def write_inputs(dataset: Dataset, base: Embeddings, tuned: Embeddings, directory: Path) -> tuple[Path, Path, Path]:
    """Write the dataset as a table directory (docs/queries/qrels CSV) and both models' vectors as
    Parquet; returns ``(data_dir, base_vectors, tuned_vectors)``."""
    data = directory / "corpus"
    data.mkdir(parents=True)
    dataset.docs.to_csv(data / "docs.csv", index=False)
    if len(dataset.queries):
        dataset.queries.to_csv(data / "queries.csv", index=False)
    if len(dataset.qrels):
        dataset.qrels.to_csv(data / "qrels.csv", index=False)
    ids = list(dataset.docs["id"]) + list(dataset.queries["id"])
    kinds = ["doc"] * len(dataset.docs) + ["query"] * len(dataset.queries)
    paths = []
    for name, emb in (("base", base), ("tuned", tuned)):
        paths.append(write_vectors(directory / f"{name}.parquet", ids, kinds, np.vstack([emb.docs, emb.queries])))
    return data, paths[0], paths[1]


def row(result: Comparison, domain: str) -> pd.Series:
    table = result.domains
    return table[table["domain"] == domain].iloc[0]



# --------------------------------------------------------------------------------------------------
# Fixtures (compare() is pure: nothing is saved, so module scope is safe)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data() -> tuple[Dataset, Embeddings, Embeddings]:
    dataset, base = synthetic()
    return dataset, base, degrade(dataset, base, DEGRADED)


@pytest.fixture(scope="module")
def identical(data: tuple[Dataset, Embeddings, Embeddings]) -> Comparison:
    dataset, base, _ = data
    return compare(dataset, base, base, projection=False)


@pytest.fixture(scope="module")
def planted(data: tuple[Dataset, Embeddings, Embeddings]) -> Comparison:
    dataset, base, tuned = data
    return compare(dataset, base, tuned, projection=False)


# --------------------------------------------------------------------------------------------------
# Invariances
# --------------------------------------------------------------------------------------------------


def test_identical_models_change_nothing(identical: Comparison) -> None:
    table = identical.domains
    assert list(table["domain"]) == [*DOMAINS, "overall"]
    for metric in METRICS:
        np.testing.assert_array_equal(table[f"{metric}_delta"], 0.0)
        np.testing.assert_array_equal(table[f"{metric}_ci_low"], 0.0)
        np.testing.assert_array_equal(table[f"{metric}_ci_high"], 0.0)
        np.testing.assert_array_equal(table[f"{metric}_base"], table[f"{metric}_tuned"])
        assert (table[f"{metric}_p_holm"] >= 0.05).all()
    per_query = identical.per_query
    np.testing.assert_array_equal(per_query["jaccard"], 1.0)
    np.testing.assert_allclose(per_query["rbo"], 1.0, atol=1e-9)
    np.testing.assert_array_equal(identical.tables["per_doc"]["overlap"], 1.0)
    np.testing.assert_array_equal(identical.tables["per_doc"]["n_gained"], 0)
    np.testing.assert_array_equal(table["overlap_median"], 1.0)
    np.testing.assert_array_equal(table["domain_consistency_base"], table["domain_consistency_tuned"])
    np.testing.assert_allclose(table["cka"], 1.0, atol=1e-6)
    assert identical.manifest["global"]["cka"] == pytest.approx(1.0, abs=1e-6)
    assert not table["collapsed"].any()
    assert (table["merged_with"] == "").all()
    assert list(table["verdict"]) == ["PASS"] * (len(DOMAINS) + 1)
    assert identical.verdict == "PASS"
    pd.testing.assert_frame_equal(identical.tables["flow_base"], identical.tables["flow_tuned"])
    pd.testing.assert_frame_equal(identical.tables["centroids_base"], identical.tables["centroids_tuned"])


def test_the_base_model_retrieves_the_planted_relevant_documents(identical: Comparison) -> None:
    # The synthetic queries sit next to their relevant documents: the fixture itself is sound.
    assert (identical.domains["ndcg@10_base"] > 0.9).all()
    assert (identical.domains["domain_consistency_base"] > 0.95).all()


def test_an_isometry_into_another_dimension_changes_nothing(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    # Base and tuned may have different dimensions; rotating into 48-D keeps every cosine.
    dataset, base, _ = data
    rotation, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(48, DIM)))  # orthonormal columns
    tuned = embeddings(base.docs @ rotation.T, base.queries @ rotation.T, "rotated")
    assert tuned.dim == 48
    result = compare(dataset, base, tuned, projection=False)
    for metric in METRICS:
        np.testing.assert_allclose(result.domains[f"{metric}_delta"], 0.0, atol=1e-12)
    np.testing.assert_array_equal(result.per_query["jaccard"], 1.0)
    np.testing.assert_allclose(result.domains["cka"], 1.0, atol=1e-5)
    assert result.verdict == "PASS"
    assert result.manifest["models"]["base_dim"] == DIM and result.manifest["models"]["tuned_dim"] == 48


# --------------------------------------------------------------------------------------------------
# The planted degradation
# --------------------------------------------------------------------------------------------------


def test_planted_degradation_fails_exactly_that_domain(planted: Comparison) -> None:
    verdicts = dict(zip(planted.domains["domain"], planted.domains["verdict"], strict=True))
    assert verdicts == {**{d: "PASS" for d in DOMAINS if d != DEGRADED}, DEGRADED: "FAIL", "overall": "FAIL"}
    assert planted.verdict == "FAIL"
    bad = row(planted, DEGRADED)
    assert bad["ndcg@10_delta"] < -0.3
    assert bad["ndcg@10_ci_high"] < 0 and bad["ndcg@10_ci_low"] <= bad["ndcg@10_delta"] <= bad["ndcg@10_ci_high"]
    assert bad["ndcg@10_p_holm"] < 0.05
    for domain in DOMAINS:
        if domain != DEGRADED:
            assert row(planted, domain)["ndcg@10_delta"] == 0.0


def test_planted_degradation_reason_names_domain_metric_ci_and_holm(planted: Comparison) -> None:
    bad = row(planted, DEGRADED)
    first = str(bad["reasons"]).split("\n")[0]
    pattern = (
        rf"^{DEGRADED}: nDCG@10 −(\d\.\d{{3}}) \[−(\d\.\d{{3}}), −(\d\.\d{{3}})\], "
        r"p (?:= \d\.\d{3}|< 0\.001) after Holm"
    )
    match = re.match(pattern, first)
    assert match, first
    delta, low, high = (float(g) for g in match.groups())
    assert delta == pytest.approx(-bad["ndcg@10_delta"], abs=1e-3)
    assert low == pytest.approx(-bad["ndcg@10_ci_low"], abs=1e-3)
    assert high == pytest.approx(-bad["ndcg@10_ci_high"], abs=1e-3)
    assert "FAIL threshold" in first
    # the run-level reasons carry the failing domain's reason and nothing about passing domains
    assert first in planted.reasons
    assert not any(r.startswith(("finance:", "news:")) for r in planted.reasons)


def test_planted_degradation_moves_the_label_free_signals_of_that_domain_only(planted: Comparison) -> None:
    bad = row(planted, DEGRADED)
    for domain in DOMAINS:
        if domain != DEGRADED:
            good = row(planted, domain)
            assert good["query_jaccard_median"] == 1.0
            assert good["overlap_median"] > 0.9
            assert bad["overlap_median"] < good["overlap_median"] - 0.5
    assert bad["query_jaccard_median"] < 0.5
    assert bad["cka"] < 0.9


def test_holm_is_applied_across_domains(planted: Comparison) -> None:
    table = planted.domains[planted.domains["domain"] != "overall"]
    for metric in METRICS:
        expected = holm(table[f"{metric}_p_value"].to_numpy(np.float64))
        np.testing.assert_allclose(table[f"{metric}_p_holm"], expected)
        assert (table[f"{metric}_p_holm"] >= table[f"{metric}_p_value"]).all()
    overall = row(planted, "overall")
    assert overall["ndcg@10_p_holm"] == overall["ndcg@10_p_value"]


def test_domain_means_agree_with_the_per_query_table(planted: Comparison) -> None:
    per_query = planted.per_query
    assert len(per_query) == len(DOMAINS) * 30 and per_query["judged"].all()
    for domain in DOMAINS:
        mine = per_query[per_query["domain"] == domain]
        r = row(planted, domain)
        assert r["n_queries"] == 30 and r["n_docs"] == 80 and r["n_probes"] == 30
        for metric in METRICS:
            assert r[f"{metric}_base"] == pytest.approx(mine[f"{metric}_base"].mean())
            assert r[f"{metric}_delta"] == pytest.approx(mine[f"{metric}_delta"].mean())
    assert row(planted, "overall")["n_docs"] == 400


def test_retrieval_is_over_the_whole_corpus(planted: Comparison) -> None:
    # top-100 of every query over all 400 documents, all domains together
    assert planted.arrays["rank_base"].shape == (150, 100)
    assert planted.manifest["params"]["retrieval_depth"] == 100
    doc_domains = planted.tables["docs"]["domain"].to_numpy()
    assert len(set(doc_domains[planted.arrays["rank_base"][0]])) > 1


def test_a_diffuse_drop_significant_only_when_pooled_is_not_a_pass() -> None:
    # Two queries per domain lose their relevant document: no domain can tell (p = 0.5 each), but the
    # ten pooled queries can. The overall verdict must not be PASS; no domain FAILs the run.
    dataset, base = synthetic(n_queries=60, seed=4)
    before = compare(dataset, base, base, projection=False).per_query
    relevant = set(zip(dataset.qrels["query_id"], dataset.qrels["doc_id"], strict=True))
    queries = base.queries.copy()
    for domain in DOMAINS:
        for i in before[(before["domain"] == domain) & (before["ndcg@10_base"] == 1.0)].index[:2]:
            qid = before.loc[i, "query_id"]
            other = next(j for j, d in enumerate(dataset.docs["id"]) if d.startswith(f"{domain}-")
                         and (qid, d) not in relevant)
            queries[i] = base.docs[other]  # the query now sits on an irrelevant document
    result = compare(dataset, base, embeddings(base.docs, queries, "diffuse"), projection=False)
    domains = result.domains[result.domains["domain"] != "overall"]
    assert set(domains["verdict"]) == {"PASS"}
    assert (domains["ndcg@10_delta"] < 0).all() and (domains["ndcg@10_p_holm"] > 0.05).all()
    overall = row(result, "overall")
    assert overall["ndcg@10_p_holm"] < 0.05 and overall["ndcg@10_delta"] < 0
    assert result.verdict == overall["verdict"] == "WARN"
    assert "overall: nDCG@10 −" in result.reasons[-1] and "a significant drop" in result.reasons[-1]


# --------------------------------------------------------------------------------------------------
# Label-free datasets
# --------------------------------------------------------------------------------------------------


def test_without_qrels_or_models_every_domain_is_unverified(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    """No judgements and no models to synthesise checks: nothing backs a verdict, so no domain passes;
    the label-free signals stay notes that point at the degraded domain."""
    dataset, base, tuned = data
    result = compare(without_qrels(dataset), base, tuned, projection=False)
    assert set(result.domains["verdict"]) == {"UNVERIFIED"}
    assert set(result.domains["evidence"]) == {"none"}
    assert result.verdict == "UNVERIFIED"
    degraded = str(row(result, DEGRADED)["reasons"])
    assert "no judgements and no models to synthesise checks: pass --base/--tuned" in degraded
    assert "note — " in degraded and "cannot confirm a nDCG@10 loss" in degraded
    assert "note — " not in str(row(result, "finance")["reasons"])
    assert result.manifest["evidence"] == dict.fromkeys(DOMAINS, "none")
    assert result.manifest["params"]["known_item"]["status"] == "no_models"
    assert (result.domains["n_queries"] == 0).all()
    assert result.domains["ndcg@10_delta"].isna().all()
    assert not result.per_query["judged"].any()


def test_removing_judgements_turns_pass_into_unverified(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    judged = compare(dataset, base, tuned, projection=False)
    bare = compare(without_qrels(dataset), base, tuned, projection=False)
    passed = [d for d in DOMAINS if row(judged, d)["verdict"] == "PASS"]
    assert passed and all(row(bare, d)["verdict"] == "UNVERIFIED" for d in passed)
    assert judged.verdict != "UNVERIFIED" and bare.verdict == "UNVERIFIED"


def test_label_free_never_decides_even_on_a_random_space(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, _ = data
    rng = np.random.default_rng(9)
    noise = embeddings(rng.normal(size=base.docs.shape), rng.normal(size=base.queries.shape), "noise")
    result = compare(without_qrels(dataset), base, noise, projection=False)
    assert set(result.domains["verdict"]) == {"UNVERIFIED"}
    assert all("note — " in str(r) for r in result.domains["reasons"].iloc[:-1])


def test_documents_serve_as_probes_without_queries(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    ds, b = without_queries(dataset, base)
    _, t = without_queries(dataset, tuned)
    result = compare(ds, b, t, k=10, projection=False)
    assert result.manifest["params"]["probes"] == "documents"
    assert list(result.per_query["query_id"]) == list(ds.docs["id"])
    assert not result.per_query["judged"].any()
    ranks = result.arrays["rank_base"]
    assert ranks.shape == (400, 10)
    assert not (ranks == np.arange(400)[:, None]).any()  # a document is never its own neighbor
    assert set(result.domains["verdict"]) == {"UNVERIFIED"}
    assert "note — " in str(row(result, DEGRADED)["reasons"])
    assert "note — " not in str(row(result, "science")["reasons"])
    assert (result.domains["n_probes"].iloc[:-1] == 80).all()


# --------------------------------------------------------------------------------------------------
# Run ids, manifest, saving once
# --------------------------------------------------------------------------------------------------


def test_manifest_records_inputs_and_parameters(
    planted: Comparison, data: tuple[Dataset, Embeddings, Embeddings]
) -> None:
    dataset, base, tuned = data
    m = planted.manifest
    assert m["dataset"]["fingerprint"] == dataset.fingerprint()
    assert m["dataset"]["domains"] == list(DOMAINS)
    assert m["models"]["base_fingerprint"] == base.fingerprint
    assert m["models"]["tuned_fingerprint"] == tuned.fingerprint
    assert m["params"]["k"] == 10 and m["params"]["probes"] == "queries" and m["params"]["projection"] is False
    assert m["config"] == load_config().to_dict()
    assert {"numpy", "pandas", "python"} <= set(m["versions"])
    assert "projection" not in planted.tables


def test_run_id_derives_from_the_inputs(data: tuple[Dataset, Embeddings, Embeddings], planted: Comparison) -> None:
    dataset, base, tuned = data
    assert re.fullmatch(r"[0-9a-f]{16}", planted.run_id)
    assert compare(dataset, base, tuned, projection=False).run_id == planted.run_id
    assert compare(dataset, base, tuned, k=5, projection=False).run_id != planted.run_id
    assert compare(dataset, base, base, projection=False).run_id != planted.run_id
    prefixed = compare(dataset, base, tuned, query_prefix="query: ", projection=False)
    assert prefixed.run_id != planted.run_id
    assert prefixed.manifest["params"]["query_prefix"] == "query: "


def test_compare_inputs_computes_once(
    data: tuple[Dataset, Embeddings, Embeddings], monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset, base, tuned = data
    first = compare_inputs(dataset, base, tuned, projection=False)
    store = RunStore()
    assert store.exists(first.run_id)

    def must_not_run(*args: object, **kwargs: object) -> Comparison:
        raise AssertionError("compare() was called again for inputs already saved")

    # diagnostics.compare is also the name of the function re-exported by the package: take the module
    monkeypatch.setattr(importlib.import_module("diagnostics.compare"), "_compare", must_not_run)
    second = compare_inputs(dataset, base, tuned, projection=False)
    assert second.run_id == first.run_id
    assert second.verdict == first.verdict == "FAIL"
    pd.testing.assert_frame_equal(second.domains, first.domains)
    assert [p.name for p in store.root.iterdir()] == [first.run_id]
    # other inputs are another run: the patched compare is reached
    with pytest.raises(AssertionError, match="called again"):
        compare_inputs(dataset, base, tuned, k=5, projection=False)


def test_progress_reports_each_stage_to_completion(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    calls: list[tuple[str, int, int]] = []
    compare(dataset, base, tuned, progress=lambda s, d, t: calls.append((s, d, t)), projection=False)
    stages = list(dict.fromkeys(s for s, _, _ in calls))
    assert stages == ["retrieve", "statistics", "neighbors", "collapse", "verdict"]
    for stage in stages:
        mine = [(d, t) for s, d, t in calls if s == stage]
        assert mine[-1][0] == mine[-1][1] and all(0 <= d <= t for d, t in mine)


def test_overlap_on_a_stratified_sample_above_the_cap(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    result = compare(dataset, base, tuned, max_overlap_docs=100, projection=False)
    per_doc = result.tables["per_doc"]
    assert per_doc["overlap"].notna().sum() == 100 == result.manifest["params"]["overlap_n"]
    assert result.manifest["params"]["overlap_sampled"] is True
    assert per_doc.dropna(subset=["overlap"]).groupby("domain").size().to_dict() == {d: 20 for d in DOMAINS}
    assert result.arrays["nn_base"].shape == (100, 10)
    assert row(result, DEGRADED)["verdict"] == "FAIL"  # retrieval is never sampled


def test_the_default_overlap_sample_is_sized_to_the_query_search() -> None:
    # a searched document costs what a query costs: by default the sample stays within half the queries' search,
    # unless 10^9 similarities per space or 2,000 documents allow more, and never above 20,000
    assert overlap_sample_size(1_000_000, 10_000) == 5_000
    assert overlap_sample_size(100_000, 10_000) == 10_000
    assert overlap_sample_size(10_000_000, 300) == 2_000
    assert overlap_sample_size(1_000_000, 100_000) == 20_000
    assert all(overlap_sample_size(n, q) == 20_000 for n in (420, 25_000, 50_000) for q in (0, 156, 10_000))
    assert overlap_sample_size(1_000_000, 10_000, 12_345) == 12_345  # given: exactly that
    with pytest.raises(InputError, match="max_overlap_docs must be a whole number from 1"):
        overlap_sample_size(10, 10, 0)


# --------------------------------------------------------------------------------------------------
# Input errors
# --------------------------------------------------------------------------------------------------


def test_compare_rejects_mismatched_or_bad_embeddings(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    short = Embeddings(base.docs[:-1], base.queries, "b", "x")
    with pytest.raises(InputError, match=r"base embeddings have 399 document rows; the dataset has 400"):
        compare(dataset, short, tuned, projection=False)
    few = Embeddings(tuned.docs, tuned.queries[:3], "t", "y")
    with pytest.raises(InputError, match=r"tuned embeddings have 3 query rows; the dataset has 150"):
        compare(dataset, base, few, projection=False)
    wide = Embeddings(base.docs.astype(np.float64), base.queries.astype(np.float64), "b", "z")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="base embeddings must be float32"):
        compare(dataset, wide, tuned, projection=False)
    with pytest.raises(InputError, match="k must be a whole number from 1 to 100"):
        compare(dataset, base, tuned, k=0, projection=False)


def test_compare_rejects_a_corpus_smaller_than_k() -> None:
    dataset, base = synthetic(domains=("a", "b"), n_docs=4, n_queries=2)
    with pytest.raises(InputError, match=r"the corpus has 8 documents; k=10 needs at least 11"):
        compare(dataset, base, base, projection=False)
    assert compare(dataset, base, base, k=7, projection=False).verdict == "UNVERIFIED"  # 2 queries per domain


def test_load_inputs_needs_a_source_per_model(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="give --base MODEL, --base-vectors FILE, or both"):
        load_inputs(tmp_path, tuned="m")
    with pytest.raises(InputError, match="give --tuned MODEL, --tuned-vectors FILE, or both"):
        load_inputs(tmp_path, base="m")


def test_load_inputs_reads_files_written_for_the_cli(
    tmp_path: Path, data: tuple[Dataset, Embeddings, Embeddings]
) -> None:
    dataset, base, tuned = data
    root, base_path, tuned_path = write_inputs(dataset, base, tuned, tmp_path)
    loaded, b, t = load_inputs(root, base_vectors=base_path, tuned_vectors=tuned_path)
    assert loaded.fingerprint() == dataset.fingerprint()
    np.testing.assert_allclose(b.docs, base.docs, atol=1e-6)
    np.testing.assert_allclose(t.queries, tuned.queries, atol=1e-6)
    assert b.fingerprint != t.fingerprint
    # a vector file that misses a document is refused before any work
    ids = list(dataset.docs["id"])[1:] + list(dataset.queries["id"])
    kinds = ["doc"] * (len(dataset.docs) - 1) + ["query"] * len(dataset.queries)
    partial = write_vectors(tmp_path / "partial.parquet", ids, kinds, np.vstack([tuned.docs[1:], tuned.queries]))
    with pytest.raises(InputError, match="cover different ids"):
        load_inputs(root, base_vectors=base_path, tuned_vectors=partial)
    with pytest.raises(InputError, match="does not exist"):
        load_inputs(tmp_path / "nowhere", base_vectors=base_path, tuned_vectors=tuned_path)
