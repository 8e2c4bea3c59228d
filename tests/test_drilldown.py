"""Drill-down lists: one query's top-k side by side, the query list, changed documents, the live probe."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_compare import DEGRADED, degrade, synthetic

from diagnostics._validation import InputError
from diagnostics.compare import compare
from diagnostics.dataset import Dataset
from diagnostics.drilldown import live_probe, most_changed_docs, neighbor_lists, query_list, query_topk
from diagnostics.result import Comparison, load_comparison, save_comparison
from diagnostics.vectors import Embeddings


def _tiny() -> Comparison:
    """Seven documents, one query; base and tuned top-6 rankings chosen by hand."""
    docs = pd.DataFrame({
        "id": [f"d{i}" for i in range(7)],
        "title": [f"title {i}" for i in range(7)],
        "text": [f"text {i}" for i in range(7)],
        "domain": ["a", "a", "a", "b", "b", "b", "b"],
    })
    queries = pd.DataFrame({"id": ["q1"], "text": ["what?"], "domain": ["a"]})
    qrels = pd.DataFrame({"query_id": ["q1", "q1"], "doc_id": ["d3", "d5"], "score": [2, 1]})
    per_query = pd.DataFrame({"query_id": ["q1"], "domain": ["a"], "judged": [True], "ndcg@10_delta": [-0.1],
                              "jaccard": [0.5]})
    scores = np.linspace(0.9, 0.4, 6, dtype=np.float32)[None, :]
    arrays = {
        "rank_base": np.array([[0, 1, 2, 3, 4, 5]], dtype=np.int32),
        "rank_tuned": np.array([[1, 0, 2, 5, 6, 3]], dtype=np.int32),
        "score_base": scores,
        "score_tuned": scores - 0.05,
        "nn_rows": np.array([0, 1], dtype=np.int64),
        "nn_base": np.array([[1, 2], [0, 2]], dtype=np.int32),
        "nn_tuned": np.array([[2, 3], [0, 2]], dtype=np.int32),
    }
    tables = {"docs": docs, "queries": queries, "qrels": qrels, "per_query": per_query}
    return Comparison(run_id="00000000000000aa", manifest={"params": {"k": 2}}, tables=tables, arrays=arrays)


@pytest.fixture(scope="module")
def planted() -> Comparison:
    dataset, base = synthetic()
    return compare(dataset, base, degrade(dataset, base, DEGRADED), projection=False)


# --------------------------------------------------------------------------------------------------
# query_topk
# --------------------------------------------------------------------------------------------------


def test_query_topk_movement_by_hand() -> None:
    table = query_topk(_tiny(), "q1", k=5)
    assert list(table.columns) == ["side", "rank", "doc_id", "domain", "title", "text", "score", "relevance",
                                   "other_rank", "movement"]
    base = table[table["side"] == "base"]
    tuned = table[table["side"] == "tuned"]
    assert list(base["rank"]) == list(tuned["rank"]) == [1, 2, 3, 4, 5]
    assert list(base["doc_id"]) == ["d0", "d1", "d2", "d3", "d4"]
    assert list(base["movement"]) == ["kept", "kept", "kept", "dropped", "dropped"]
    assert list(tuned["doc_id"]) == ["d1", "d0", "d2", "d5", "d6"]
    assert list(tuned["movement"]) == ["up", "down", "same", "new", "new"]
    # d3 fell to tuned rank 6 (outside the top 5), d4 left the tuned list; d5 was base rank 6, d6 absent
    np.testing.assert_array_equal(base["other_rank"], [2, 1, 3, 6, np.nan])
    np.testing.assert_array_equal(tuned["other_rank"], [2, 1, 3, 6, np.nan])
    assert list(base["relevance"]) == [0, 0, 0, 2, 0] and list(tuned["relevance"]) == [0, 0, 0, 1, 0]
    np.testing.assert_allclose(base["score"], np.linspace(0.9, 0.4, 6)[:5], rtol=1e-6)
    assert list(tuned["domain"]) == ["a", "a", "a", "b", "b"] and tuned["title"].iloc[0] == "title 1"


def test_query_topk_with_a_smaller_k_recounts_movement() -> None:
    table = query_topk(_tiny(), "q1", k=2)
    assert list(table["movement"]) == ["kept", "kept", "up", "down"]
    table = query_topk(_tiny(), "q1", k=3)
    assert list(table.loc[table["side"] == "tuned", "movement"]) == ["up", "down", "same"]


def test_query_topk_errors() -> None:
    with pytest.raises(InputError, match=r"query 'nope' is not in run 00000000000000aa; pick one from the Queries"):
        query_topk(_tiny(), "nope", k=5)
    with pytest.raises(InputError, match="k must be a whole number from 1 to 6"):
        query_topk(_tiny(), "q1", k=7)


def test_query_topk_on_a_real_run(planted: Comparison) -> None:
    qid = f"{DEGRADED}-q0"
    table = query_topk(planted, qid, k=10)
    base, tuned = table[table["side"] == "base"], table[table["side"] == "tuned"]
    kept = int((base["movement"] == "kept").sum())
    assert int((base["movement"] == "dropped").sum()) == int((tuned["movement"] == "new").sum()) == 10 - kept
    jaccard = planted.per_query.set_index("query_id").loc[qid, "jaccard"]
    assert kept / (20 - kept) == pytest.approx(jaccard)
    assert (np.diff(base["score"]) <= 0).all() and (np.diff(tuned["score"]) <= 0).all()
    assert base["relevance"].max() == 1  # the base model finds the planted relevant document
    untouched = query_topk(planted, "finance-q0", k=10)
    assert set(untouched["movement"]) == {"kept", "same"}


def test_query_topk_on_a_reopened_run_is_the_same(planted: Comparison) -> None:
    save_comparison(planted)
    reopened = load_comparison(planted.run_id)
    assert isinstance(reopened.arrays["rank_base"], np.memmap)
    pd.testing.assert_frame_equal(query_topk(reopened, "legal-q3"), query_topk(planted, "legal-q3"))


# --------------------------------------------------------------------------------------------------
# query_list, most_changed_docs, neighbor_lists
# --------------------------------------------------------------------------------------------------


def test_query_list_sorts_worst_first_with_text(planted: Comparison) -> None:
    table = query_list(planted)
    assert len(table) == 150 and table["text"].notna().all()
    assert list(table.columns[:3]) == ["query_id", "domain", "text"]
    assert table["ndcg@10_delta"].is_monotonic_increasing
    assert table["text"].iloc[0] == f"{DEGRADED} question number {table['query_id'].iloc[0].split('-q')[1]}"
    by_jaccard = query_list(planted, sort_by="jaccard")
    assert by_jaccard["jaccard"].is_monotonic_increasing
    assert by_jaccard["domain"].iloc[0] == DEGRADED


def test_query_list_filters(planted: Comparison) -> None:
    mine = query_list(planted, domain="news")
    assert len(mine) == 30 and set(mine["domain"]) == {"news"}
    worse = query_list(planted, regressions_only=True)
    assert len(worse) > 0 and (worse["ndcg@10_delta"] < 0).all() and worse["judged"].all()
    assert set(worse["domain"]) == {DEGRADED}
    assert len(query_list(planted, domain="news", regressions_only=True)) == 0
    assert len(query_list(planted, domain="no such domain")) == 0


def test_query_list_rejects_an_unknown_sort(planted: Comparison) -> None:
    with pytest.raises(InputError, match=r"sort_by must be 'delta' or 'jaccard'; got 'rbo'"):
        query_list(planted, sort_by="rbo")
    with pytest.raises(InputError, match=r"metric must be one of ndcg@10, .*, got 'map@10'"):
        query_list(planted, metric="map@10")
    old = query_list(planted, sort_by="ndcg@10_delta")  # the name callers used before "delta": still works
    assert old["query_id"].tolist() == query_list(planted)["query_id"].tolist()


def test_query_list_of_document_probes_uses_document_text(planted: Comparison) -> None:
    dataset, base = synthetic(domains=("a", "b"), n_docs=30, n_queries=0)
    ds = Dataset(dataset.docs, dataset.queries, dataset.qrels, source="s")
    result = compare(ds, base, base, projection=False)
    table = query_list(result, sort_by="jaccard")
    assert len(table) == 60 and table["text"].str.contains("document number").all()


def test_most_changed_docs(planted: Comparison) -> None:
    worst = most_changed_docs(planted, n=20)
    assert len(worst) == 20 and worst["overlap"].is_monotonic_increasing
    assert set(worst["domain"]) == {DEGRADED}
    assert worst["text"].str.startswith(f"{DEGRADED} document").all()
    news = most_changed_docs(planted, domain="news", n=5)
    assert set(news["domain"]) == {"news"} and len(news) == 5
    assert news["overlap"].min() > worst["overlap"].max()


def test_neighbor_lists_by_hand() -> None:
    table = neighbor_lists(_tiny(), "d0")
    assert list(zip(table["side"], table["doc_id"], table["change"], strict=True)) == [
        ("base", "d1", "lost"), ("base", "d2", "kept"), ("tuned", "d2", "kept"), ("tuned", "d3", "gained"),
    ]
    assert list(table["rank"]) == [1, 2, 1, 2]
    assert set(neighbor_lists(_tiny(), "d1")["change"]) == {"kept"}
    with pytest.raises(InputError, match=r"document 'd5' was not in the overlap sample of run 00000000000000aa"):
        neighbor_lists(_tiny(), "d5")
    with pytest.raises(InputError, match=r"document 'zz' is not in run 00000000000000aa"):
        neighbor_lists(_tiny(), "zz")


def test_neighbor_lists_agree_with_the_overlap(planted: Comparison) -> None:
    per_doc = planted.tables["per_doc"].set_index("doc_id")
    for doc_id in (f"{DEGRADED}-d0", "science-d7"):
        table = neighbor_lists(planted, doc_id)
        kept = int(((table["side"] == "base") & (table["change"] == "kept")).sum())
        assert kept / (20 - kept) == pytest.approx(per_doc.loc[doc_id, "overlap"])
        assert int((table["change"] == "lost").sum()) == per_doc.loc[doc_id, "n_lost"]
        assert doc_id not in set(table["doc_id"])  # self excluded


# --------------------------------------------------------------------------------------------------
# live probe
# --------------------------------------------------------------------------------------------------


def test_live_probe_input_errors(planted: Comparison) -> None:
    with pytest.raises(InputError, match="type a query to probe both models"):
        live_probe(planted, "   ", base_model="unused", tuned_model="unused")
    with pytest.raises(InputError, match="the probe text has 2001 characters; at most 2000 are allowed"):
        live_probe(planted, "x" * 2001, base_model="unused", tuned_model="unused")
    bare = Comparison(run_id=planted.run_id, manifest=planted.manifest, tables=planted.tables, arrays={})
    with pytest.raises(InputError, match="holds no document vectors; make the run again to probe it"):
        live_probe(bare, "a question", base_model="unused", tuned_model="unused")


@pytest.mark.slow
def test_live_probe_with_the_real_model(base_model_path: str, tmp_path: Path) -> None:
    from diagnostics.encoding import encode_texts, load_model

    model = load_model(base_model_path)
    texts = ["The court dismissed the appeal.", "A contract needs an offer and an acceptance.",
             "Aspirin reduces fever.", "The patient was given antibiotics.", "Stocks fell on Monday.",
             "The central bank raised interest rates.", "Photosynthesis turns light into sugar.",
             "Electrons carry negative charge."]
    domains = ["legal", "legal", "medical", "medical", "finance", "finance", "science", "science"]
    docs = pd.DataFrame({"id": [f"d{i}" for i in range(8)], "title": [""] * 8, "text": texts, "domain": domains})
    queries = pd.DataFrame({"id": ["q0"], "text": ["Who dismissed the appeal?"], "domain": ["legal"]})
    dataset = Dataset(docs, queries, pd.DataFrame({"query_id": ["q0"], "doc_id": ["d0"], "score": [1]}))
    vectors = Embeddings(encode_texts(texts, model), encode_texts(list(queries["text"]), model), "minilm", "fp")
    plain = compare(dataset, vectors, vectors, k=3, projection=False)
    probe = live_probe(plain, texts[5], base_model=model, tuned_model=model, k=3)
    assert list(probe["side"]) == ["base"] * 3 + ["tuned"] * 3
    assert probe["doc_id"].iloc[0] == "d5" and probe["score"].iloc[0] == pytest.approx(1.0, abs=1e-4)
    assert list(probe["movement"]) == ["kept"] * 3 + ["same"] * 3
    assert probe["domain"].iloc[0] == "finance" and probe["text"].iloc[0] == texts[5]
    assert "relevance" not in probe.columns
    # a run made with a query prefix probes with it: the typed text no longer equals the document
    prefixed = compare(dataset, vectors, vectors, k=3, projection=False, query_prefix="query: ")
    again = live_probe(prefixed, texts[5], base_model=model, tuned_model=model, k=3)
    assert again["score"].iloc[0] < 0.99
    assert not math.isclose(again["score"].iloc[0], probe["score"].iloc[0])
