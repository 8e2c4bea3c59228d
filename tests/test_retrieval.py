"""Retrieval metrics and label-free signals: hand-computed cases, invariances, and trec_eval parity
(pytrec_eval, the evaluator BEIR uses) on synthetic graded judgements and on the CISI collection encoded
with the real base model."""

from __future__ import annotations

import doctest
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import diagnostics.retrieval
from diagnostics._validation import InputError
from diagnostics.dataset import Dataset
from diagnostics.knn import exact_top_k
from diagnostics.retrieval import (
    jaccard_at_k,
    label_free_signals,
    ndcg_at_k,
    rank_biased_overlap,
    recall_at_k,
    reciprocal_rank_at_k,
    retrieval_metrics,
)

METRICS = ["ndcg@10", "recall@10", "recall@100", "mrr@10"]


def _dataset(
    doc_ids: list[str],
    queries: list[tuple[str, str]],
    qrels: list[tuple[str, str, int]],
    doc_domains: list[str] | None = None,
) -> Dataset:
    docs = pd.DataFrame(
        {
            "id": doc_ids,
            "title": [""] * len(doc_ids),
            "text": [f"text of {d}" for d in doc_ids],
            "domain": doc_domains or ["a"] * len(doc_ids),
        }
    )
    query_frame = pd.DataFrame(
        {"id": [q for q, _ in queries], "text": ["?"] * len(queries), "domain": [d for _, d in queries]}
    )
    qrel_frame = pd.DataFrame(qrels, columns=["query_id", "doc_id", "score"])
    return Dataset(docs=docs, queries=query_frame, qrels=qrel_frame, source="test")


def test_docstring_examples_run() -> None:
    result = doctest.testmod(diagnostics.retrieval)
    assert result.attempted > 0 and result.failed == 0


# --- hand-computed single queries --------------------------------------------------------------------


def test_reciprocal_rank_of_a_three_document_ranking_is_one_half() -> None:
    # the first relevant document is at rank 2
    assert reciprocal_rank_at_k({"d2": 1}, ["d1", "d2", "d3"], k=10) == 0.5
    assert reciprocal_rank_at_k({"d2": 1, "d3": 1}, ["d1", "d2", "d3"], k=10) == 0.5
    assert reciprocal_rank_at_k({"d3": 1}, ["d1", "d2", "d3"], k=2) == 0.0
    assert reciprocal_rank_at_k({"d1": 0, "d3": 2}, ["d1", "d2", "d3"], k=10) == pytest.approx(1 / 3)


def test_graded_ndcg_by_hand() -> None:
    qrels = {"a": 3, "b": 1, "c": 2, "z": 0}
    ranking = ["b", "x", "a", "z"]
    # DCG@4 = 1/log2(2) + 0 + 3/log2(4) + 0 = 1 + 1.5 = 2.5 (linear gain, not 2^rel - 1)
    # IDCG@4 = 3/log2(2) + 2/log2(3) + 1/log2(4) = 3 + 1.2618595 + 0.5
    expected = 2.5 / (3 + 2 / math.log2(3) + 0.5)
    assert ndcg_at_k(qrels, ranking, k=4) == pytest.approx(expected, abs=1e-12)
    # at k=1 only "b" (gain 1) against the ideal "a" (gain 3)
    assert ndcg_at_k(qrels, ranking, k=1) == pytest.approx(1 / 3)


def test_recall_by_hand() -> None:
    qrels = {"a": 1, "b": 2, "c": 1, "n": 0}
    assert recall_at_k(qrels, ["a", "n", "x", "c"], k=3) == pytest.approx(1 / 3)
    assert recall_at_k(qrels, ["a", "n", "x", "c"], k=4) == pytest.approx(2 / 3)


def test_perfect_ranking_scores_one() -> None:
    qrels = {"a": 3, "b": 2, "c": 1}
    assert ndcg_at_k(qrels, ["a", "b", "c", "x"], k=10) == pytest.approx(1.0)
    assert recall_at_k(qrels, ["c", "a", "b"], k=3) == 1.0
    assert reciprocal_rank_at_k(qrels, ["c", "x"], k=10) == 1.0


def test_a_query_without_relevant_judgements_scores_zero_in_the_scalar_functions() -> None:
    assert ndcg_at_k({"a": 0}, ["a"], k=10) == 0.0
    assert recall_at_k({}, ["a"], k=10) == 0.0
    assert reciprocal_rank_at_k({"a": -1}, ["a"], k=10) == 0.0


# --- the vectorised table ----------------------------------------------------------------------------


def test_retrieval_metrics_toy_dataset_by_hand() -> None:
    ds = _dataset(
        ["d0", "d1", "d2", "d3"],
        [("q0", "a"), ("q1", "b"), ("q2", "a")],
        [("q0", "d1", 1), ("q0", "d3", 2), ("q1", "d0", 1), ("q2", "d2", 0)],
    )
    ranking = np.array([[0, 1, 2, 3], [0, 3, 1, 2], [2, 1, 0, 3]])
    table = retrieval_metrics(ds, ranking, metrics=["ndcg@3", "recall@2", "mrr@10"])
    # q2 has only a score-0 judgement: left out
    assert table["query_id"].tolist() == ["q0", "q1"]
    assert table["domain"].tolist() == ["a", "b"]
    assert list(table.columns) == ["query_id", "domain", "ndcg@3", "recall@2", "mrr@10"]
    # q0: ranks d0 d1 d2 d3 -> gains 0 1 0 | ideal 2 1
    q0 = table.iloc[0]
    assert q0["ndcg@3"] == pytest.approx((1 / math.log2(3)) / (2 + 1 / math.log2(3)))
    assert q0["recall@2"] == pytest.approx(0.5)
    assert q0["mrr@10"] == pytest.approx(0.5)
    q1 = table.iloc[1]
    assert (q1["ndcg@3"], q1["recall@2"], q1["mrr@10"]) == (1.0, 1.0, 1.0)


def test_a_document_whose_id_equals_the_query_id_is_kept() -> None:
    # query "7" and document "7" are different records: the document still takes rank 1
    ds = _dataset(["7", "8"], [("7", "a")], [("7", "8", 1)])
    table = retrieval_metrics(ds, np.array([[0, 1]]), metrics=["mrr@10", "recall@1"])
    assert table["mrr@10"].tolist() == [0.5]
    assert table["recall@1"].tolist() == [0.0]
    # and is relevant when judged so
    ds = _dataset(["7", "8"], [("7", "a")], [("7", "7", 1)])
    assert retrieval_metrics(ds, np.array([[0, 1]]), metrics=["mrr@10"])["mrr@10"].tolist() == [1.0]


def test_judged_documents_missing_from_the_corpus_count_in_the_recall_denominator() -> None:
    ds = _dataset(["d0", "d1"], [("q", "a")], [("q", "d0", 1), ("q", "gone", 1)])
    table = retrieval_metrics(ds, np.array([[0, 1]]), metrics=["recall@2", "ndcg@2"])
    assert table["recall@2"].tolist() == [0.5]
    # the ideal ranking holds both relevant documents
    assert table["ndcg@2"].iloc[0] == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_duplicate_judgements_keep_the_highest_score() -> None:
    ds = _dataset(["d0", "d1"], [("q", "a")], [("q", "d1", 1), ("q", "d1", 3), ("q", "d0", 1)])
    table = retrieval_metrics(ds, np.array([[0, 1]]), metrics=["ndcg@2", "recall@2"])
    assert table["ndcg@2"].iloc[0] == pytest.approx((1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3)))
    assert table["recall@2"].iloc[0] == 1.0


def test_a_corpus_smaller_than_the_cutoff_is_ranked_whole() -> None:
    ds = _dataset(["d0", "d1", "d2"], [("q", "a")], [("q", "d2", 1)])
    table = retrieval_metrics(ds, np.array([[2, 0, 1]]))
    assert table[METRICS].iloc[0].tolist() == [1.0, 1.0, 1.0, 1.0]


def test_no_judged_queries_gives_an_empty_table() -> None:
    ds = _dataset(["d0"], [("q", "a")], [])
    table = retrieval_metrics(ds, np.array([[0]]))
    assert len(table) == 0 and list(table.columns) == ["query_id", "domain", *METRICS]


def test_vectorised_metrics_equal_the_scalar_functions_on_random_graded_data() -> None:
    ds, ranking = _random_graded(seed=11)
    table = retrieval_metrics(ds, ranking, metrics=["ndcg@10", "ndcg@25", "recall@10", "recall@40", "mrr@10"])
    doc_ids = ds.docs["id"].to_numpy()
    checked = 0
    for row in table.to_dict("records"):
        judged = ds.qrels[ds.qrels["query_id"] == row["query_id"]]
        qrels_row = dict(zip(judged["doc_id"], judged["score"], strict=True))
        ranked = doc_ids[ranking[int(str(row["query_id"])[1:])]].tolist()
        assert row["ndcg@10"] == pytest.approx(ndcg_at_k(qrels_row, ranked, k=10), abs=1e-12)
        assert row["ndcg@25"] == pytest.approx(ndcg_at_k(qrels_row, ranked, k=25), abs=1e-12)
        assert row["recall@10"] == pytest.approx(recall_at_k(qrels_row, ranked, k=10), abs=1e-12)
        assert row["recall@40"] == pytest.approx(recall_at_k(qrels_row, ranked, k=40), abs=1e-12)
        assert row["mrr@10"] == pytest.approx(reciprocal_rank_at_k(qrels_row, ranked, k=10), abs=1e-12)
        checked += 1
    assert checked > 50


def test_graded_metrics_equal_trec_eval_on_synthetic_judgements() -> None:
    ds, ranking = _random_graded(seed=12)
    ours = retrieval_metrics(ds, ranking, metrics=METRICS).set_index("query_id")
    reference = _trec_eval_per_query(ds, ranking, list(ours.index))
    assert ds.qrels["score"].max() >= 3, "graded judgements must be present"
    for metric in METRICS:
        np.testing.assert_allclose(ours[metric].to_numpy(), reference[metric], atol=1e-6, rtol=0, err_msg=metric)


def _random_graded(seed: int) -> tuple[Dataset, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_docs, n_queries = 300, 80
    doc_ids = [f"d{i}" for i in range(n_docs)]
    queries = [(f"q{i}", "ab"[i % 2]) for i in range(n_queries)]
    qrels = []
    for q in range(n_queries - 5):  # the last five stay unjudged
        n_rel = int(rng.integers(1, 30))
        for d in rng.choice(n_docs, size=n_rel, replace=False):
            qrels.append((f"q{q}", f"d{d}", int(rng.integers(0, 4))))
        if q % 7 == 0:
            qrels.append((f"q{q}", "not-in-corpus", 2))
    ranking = np.array([rng.permutation(n_docs)[:100] for _ in range(n_queries)])
    return _dataset(doc_ids, queries, qrels), ranking


def _trec_eval_per_query(ds: Dataset, ranking: np.ndarray, query_ids: list[str]) -> dict[str, np.ndarray]:
    """trec_eval's per-query values (pytrec_eval, as BEIR evaluates): ``ndcg_cut_10`` (linear gain),
    ``recall_10``, ``recall_100``, and ``recip_rank`` of the run cut to its top 10 for MRR@10. Run scores
    strictly decrease with rank, so trec_eval (which orders by score) keeps our order. Only the queries embdiff
    scores are compared: trec_eval would also score 0 a query judged with zeros only, which embdiff leaves out."""
    import pytrec_eval  # a test dependency: missing, these tests fail rather than skip
    qrels: dict[str, dict[str, int]] = {}
    for q, d, s in ds.qrels[["query_id", "doc_id", "score"]].itertuples(index=False):
        if q in query_ids:
            qrels.setdefault(q, {})[d] = max(int(s), qrels.get(q, {}).get(d, 0))
    row_of = {q: i for i, q in enumerate(ds.queries["id"])}
    doc_ids = ds.docs["id"].to_numpy()
    depth = ranking.shape[1]

    def run(cut: int) -> dict[str, dict[str, float]]:
        return {q: {str(doc_ids[j]): float(depth - r) for r, j in enumerate(ranking[row_of[q]][:cut])}
                for q in query_ids}

    full = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10,100"}).evaluate(run(depth))
    top10 = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(run(10))
    assert set(full) == set(top10) == set(query_ids), "trec_eval evaluates every judged query"
    columns = {"ndcg@10": (full, "ndcg_cut_10"), "recall@10": (full, "recall_10"),
               "recall@100": (full, "recall_100"), "mrr@10": (top10, "recip_rank")}
    return {m: np.array([table[q][name] for q in query_ids]) for m, (table, name) in columns.items()}


# --- trec_eval parity on a real collection with real base-model vectors -----------------------------------


def _read_beir(directory: Path, domain: str) -> Dataset:
    docs = [json.loads(line) for line in (directory / "corpus.jsonl").open(encoding="utf-8")]
    queries = [json.loads(line) for line in (directory / "queries.jsonl").open(encoding="utf-8")]
    qrels = pd.read_csv(directory / "qrels" / "test.tsv", sep="\t", dtype={"query-id": str, "corpus-id": str})
    return Dataset(
        docs=pd.DataFrame(
            {
                "id": [d["_id"] for d in docs],
                "title": [d.get("title", "") for d in docs],
                "text": [d["text"] for d in docs],
                "domain": domain,
            }
        ),
        queries=pd.DataFrame(
            {"id": [q["_id"] for q in queries], "text": [q["text"] for q in queries], "domain": domain}
        ),
        qrels=pd.DataFrame(
            {"query_id": qrels["query-id"], "doc_id": qrels["corpus-id"], "score": qrels["score"].astype(int)}
        ),
        source=str(directory.name),
    )


@pytest.fixture(scope="session")
def cisi_dataset(beir_root: Path) -> Dataset:
    return _read_beir(beir_root / "cisi", "library-information-science")


@pytest.fixture(scope="session")
def cisi_base_vectors(
    cisi_dataset: Dataset, base_model_path: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[np.ndarray, np.ndarray]:
    """CISI encoded once per test session with the bundled base model, cached as .npy."""
    cache = tmp_path_factory.mktemp("cisi-base-vectors")
    doc_file, query_file = cache / "docs.npy", cache / "queries.npy"
    if not doc_file.exists():
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(base_model_path, device="cpu")
        ds = cisi_dataset
        doc_texts = (ds.docs["title"] + " " + ds.docs["text"]).str.strip().tolist()
        for path, texts in ((doc_file, doc_texts), (query_file, ds.queries["text"].tolist())):
            vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
            np.save(path, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
    return np.load(doc_file, allow_pickle=False), np.load(query_file, allow_pickle=False)


@pytest.mark.slow
def test_metrics_equal_trec_eval_on_cisi_with_real_base_model_vectors(
    cisi_dataset: Dataset, cisi_base_vectors: tuple[np.ndarray, np.ndarray]
) -> None:
    docs, queries = cisi_base_vectors
    assert docs.shape == (1460, 384) and queries.shape == (76, 384)
    ranking, scores = exact_top_k(queries, docs, k=100)
    ours = retrieval_metrics(cisi_dataset, ranking, metrics=METRICS)
    assert len(ours) == 76
    reference = _trec_eval_per_query(cisi_dataset, ranking, ours["query_id"].tolist())
    for metric in METRICS:
        np.testing.assert_allclose(ours[metric].to_numpy(), reference[metric], atol=1e-6, rtol=0, err_msg=metric)
    # real retrieval, not a degenerate ranking: the base model finds relevant documents
    assert 0.05 < ours["ndcg@10"].mean() < 0.9
    assert ours["recall@100"].mean() > ours["recall@10"].mean()
    # CISI query ids and document ids overlap ("1" is both) and nothing was dropped for it
    overlapping = set(cisi_dataset.queries["id"]) & set(cisi_dataset.docs["id"])
    assert len(overlapping) == 76
    assert (np.diff(scores, axis=1) <= 0).all()


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["map@10", "ndcg", "ndcg@0", "recall@-1", "MRR@10"])
def test_unknown_metric(metric: str) -> None:
    ds = _dataset(["d0"], [("q", "a")], [("q", "d0", 1)])
    with pytest.raises(InputError, match=r"unknown retrieval metric .*expected 'ndcg@k', 'recall@k' or 'mrr@k'"):
        retrieval_metrics(ds, np.array([[0]]), metrics=[metric])
    with pytest.raises(InputError, match=r"metrics is empty"):
        retrieval_metrics(ds, np.array([[0]]), metrics=[])


def test_bad_rankings() -> None:
    ds = _dataset([f"d{i}" for i in range(20)], [("q0", "a"), ("q1", "a")], [("q0", "d0", 1)])
    good = np.tile(np.arange(10), (2, 1))
    with pytest.raises(InputError, match=r"ranking has depth 10 but recall@100 needs the top 20 documents"):
        retrieval_metrics(ds, good)
    with pytest.raises(InputError, match=r"ranking has 1 rows but there are 2 queries"):
        retrieval_metrics(ds, good[:1], metrics=["ndcg@10"])
    with pytest.raises(InputError, match=r"ranking must be a 2-D matrix"):
        retrieval_metrics(ds, np.arange(10), metrics=["ndcg@10"])
    with pytest.raises(InputError, match=r"ranking must hold integer document row indices; got dtype float64"):
        retrieval_metrics(ds, good.astype(float), metrics=["ndcg@10"])
    bad = good.copy()
    bad[1, 3] = 20
    with pytest.raises(InputError, match=r"ranking holds document row 20, outside the corpus of 20 documents"):
        retrieval_metrics(ds, bad, metrics=["ndcg@10"])
    bad[1, 3] = 5
    with pytest.raises(InputError, match=r"ranking row 1 lists a document twice"):
        retrieval_metrics(ds, bad, metrics=["ndcg@10"])


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_cutoff_in_scalar_functions(k: object) -> None:
    for fn in (ndcg_at_k, recall_at_k, reciprocal_rank_at_k):
        with pytest.raises(InputError, match=r"k must be a whole number of at least 1"):
            fn({"a": 1}, ["a"], k=k)  # type: ignore[arg-type]


# --- label-free signals ------------------------------------------------------------------------------


def test_jaccard_and_rbo_by_hand() -> None:
    base, tuned = [0, 1, 2], [1, 0, 3]
    # X_1 = 0, X_2 = 2, X_3 = 2
    assert jaccard_at_k(base, tuned, k=3) == pytest.approx(2 / 4)
    p = 0.9
    expected = (2 / 3) * p**3 + (1 - p) / p * (0 * p + (2 / 2) * p**2 + (2 / 3) * p**3)
    assert rank_biased_overlap(base, tuned, p=p) == pytest.approx(expected, abs=1e-12)
    table = label_free_signals([base], [tuned], doc_domains=["x", "x", "y", "y"], query_domains=["x"], k=3)
    assert table["jaccard@3"].iloc[0] == pytest.approx(0.5)
    assert table["rbo@3"].iloc[0] == pytest.approx(expected, abs=1e-12)
    # base top-3 domains x x y -> 2/3 own domain; tuned x x y -> 2/3
    assert table["domain_consistency@3_base"].iloc[0] == pytest.approx(2 / 3)
    assert table["domain_consistency@3_tuned"].iloc[0] == pytest.approx(2 / 3)


def test_rbo_rewards_agreement_at_the_top() -> None:
    top_agrees = rank_biased_overlap([1, 2, 3, 4], [1, 2, 5, 6])
    bottom_agrees = rank_biased_overlap([1, 2, 3, 4], [5, 6, 3, 4])
    assert top_agrees > bottom_agrees
    assert jaccard_at_k([1, 2, 3, 4], [1, 2, 5, 6], k=4) == jaccard_at_k([1, 2, 3, 4], [5, 6, 3, 4], k=4)


def test_identical_rankings_give_jaccard_and_rbo_one_and_disjoint_zero() -> None:
    rng = np.random.default_rng(20)
    ranking = np.array([rng.permutation(50)[:20] for _ in range(30)])
    doc_domains = rng.choice(["a", "b", "c"], size=50)
    query_domains = rng.choice(["a", "b", "c"], size=30)
    same = label_free_signals(ranking, ranking, doc_domains=doc_domains, query_domains=query_domains, k=20)
    np.testing.assert_allclose(same["jaccard@20"], 1.0)
    np.testing.assert_allclose(same["rbo@20"], 1.0, atol=1e-12)
    np.testing.assert_array_equal(same["domain_consistency@20_base"], same["domain_consistency@20_tuned"])
    disjoint = np.tile(np.arange(10), (2, 1)), np.tile(np.arange(10, 20), (2, 1))
    other = label_free_signals(*disjoint, doc_domains=["a"] * 20, query_domains=["a", "b"], k=10)
    assert other["jaccard@10"].tolist() == [0.0, 0.0]
    assert other["rbo@10"].tolist() == [0.0, 0.0]
    assert other["domain_consistency@10_base"].tolist() == [1.0, 0.0]


def test_vectorised_signals_equal_the_scalar_functions() -> None:
    rng = np.random.default_rng(21)
    n_queries, n_docs, k = 1500, 40, 12  # more queries than one chunk
    base = np.array([rng.permutation(n_docs)[:15] for _ in range(n_queries)])
    tuned = np.array([rng.permutation(n_docs)[:15] for _ in range(n_queries)])
    table = label_free_signals(
        base, tuned, doc_domains=["d"] * n_docs, query_domains=["d"] * n_queries, k=k, p=0.8, query_ids=range(n_queries)
    )
    assert table["query_id"].tolist() == list(range(n_queries))
    for i in range(0, n_queries, 37):
        assert table["jaccard@12"].iloc[i] == pytest.approx(jaccard_at_k(base[i], tuned[i], k=k))
        assert table["rbo@12"].iloc[i] == pytest.approx(rank_biased_overlap(base[i, :k], tuned[i, :k], p=0.8))


def test_label_free_signals_errors() -> None:
    r = np.tile(np.arange(5), (2, 1))
    kwargs = {"doc_domains": ["a"] * 5, "query_domains": ["a", "b"]}
    with pytest.raises(InputError, match=r"base_ranking has depth 5 but k=10"):
        label_free_signals(r, r, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"tuned_ranking has 1 rows but there are 2 queries"):
        label_free_signals(r, r[:1], k=5, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"p \(the RBO persistence\) must be a number strictly between 0 and 1"):
        label_free_signals(r, r, k=5, p=1.0, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"query_ids has 3 entries but there are 2 queries"):
        label_free_signals(r, r, k=5, query_ids=["x", "y", "z"], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"doc_domains and query_domains must be 1-D"):
        label_free_signals(r, r, k=5, doc_domains=[["a"] * 5], query_domains=["a", "b"])
    with pytest.raises(InputError, match=r"rank-biased overlap compares two rankings of the same depth"):
        rank_biased_overlap([1, 2], [1])
    with pytest.raises(InputError, match=r"ranking a lists an item twice"):
        rank_biased_overlap([1, 1], [1, 2])
