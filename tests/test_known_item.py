"""Known-item checks: construction on hand-written documents, ranking and metrics by hand, BM25 against
bm25s, and the checks end to end with the real bundled model."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from diagnostics._validation import InputError
from diagnostics.dataset import Dataset
from diagnostics.knn import exact_top_k
from diagnostics.known_item import (
    build_known_items,
    document_scores,
    known_item_metrics,
    rank_known_items,
)
from diagnostics.lexical import BM25
from diagnostics.retrieval import retrieval_metrics


def dataset_of(docs: list[tuple[str, str, str, str]]) -> Dataset:
    """A corpus of (id, title, text, domain) records, without queries."""
    frame = pd.DataFrame(docs, columns=["id", "title", "text", "domain"])
    empty_q = pd.DataFrame({"id": [], "text": [], "domain": []}, dtype=object)
    empty_r = pd.DataFrame({"query_id": [], "doc_id": [], "score": []})
    return Dataset(docs=frame, queries=empty_q, qrels=empty_r, source="hand-written")


LEGAL = (
    "The lessee shall keep the premises in good repair at all times. Rent is payable on the first day of "
    "each month by bank transfer. Either party may end the lease with three months written notice."
)
HANDBOOK = (
    "New employees receive their laptop on the first morning. Holiday requests go to the line manager two "
    "weeks ahead. Overtime is paid at one and a half times the hourly rate."
)
BOILERPLATE = "This document is confidential and for internal use only."
ONE_LINE = ("parity checks on the serial bus detect single bit errors in every frame sent by the controller to the "
            "sensor array")


def corpus() -> Dataset:
    return dataset_of([
        ("lease-1", "Warehouse lease", LEGAL, "legal"),
        ("lease-2", "Office lease", f"{BOILERPLATE} The tenant pays service charges quarterly to the landlord.",
         "legal"),
        ("hb-1", "Employee handbook", HANDBOOK, "hr"),
        ("hb-2", "Employee handbook", f"{BOILERPLATE} Expense claims need receipts and manager approval within "
                                      "thirty days of purchase.", "hr"),
        ("short", "", "Too short to hold anything out.", "hr"),
        ("one-line", "", ONE_LINE, "hr"),
    ])


# --------------------------------------------------------------------------------------------------
# Construction
# --------------------------------------------------------------------------------------------------


def test_a_passage_check_holds_one_sentence_out_of_its_document() -> None:
    checks = build_known_items(corpus()).checks.set_index("check_id")
    check = checks.loc["passage:lease-1"]
    sentences = [s.strip() for s in LEGAL.split(". ")]
    assert check["query"].rstrip(".") in [s.rstrip(".") for s in sentences]
    assert check["query"] not in check["item_text"]  # held out: the check cannot be won by string identity
    assert check["item_text"].startswith("Warehouse lease ")  # the title stays: it does not overlap the query
    assert len(check["item_text"]) == len("Warehouse lease ") + len(LEGAL) - len(check["query"]) - 1
    assert (check["domain"], check["doc_row"], check["construction"]) == ("legal", 0, "passage")


def test_a_check_can_never_be_won_by_string_identity() -> None:
    """The held-out text must not survive in the known item: not as a repeat inside the document, not through
    a title written in another case, not through a duplicated document's span."""
    repeat = "Aspirin reduces fever in adults quickly."
    ds = dataset_of([
        ("rep", "", f"{repeat} Short one. {repeat}", "a"),
        ("case", "Acute Kidney Injury", "Acute kidney injury (AKI) is a sudden loss of kidney function in "
                                        "hospital patients. Acute Kidney Injury is common after surgery.", "a"),
        ("dup-1", "", ONE_LINE, "a"),
        ("dup-2", "", ONE_LINE, "a"),
    ])
    checks = build_known_items(ds).checks.set_index("check_id")
    assert "passage:rep" not in checks.index  # its only long sentence occurs twice
    assert "passage:dup-1" not in checks.index and "passage:dup-2" not in checks.index
    title = checks.loc["title:case"]
    assert "kidney injury" not in title["item_text"].lower()  # every copy, whatever its case
    for check in checks.itertuples():
        assert " ".join(re.findall(r"\w+", check.query.lower())) not in \
            " ".join(re.findall(r"\w+", check.item_text.lower())), check.check_id


def test_adding_a_document_changes_a_domains_sample_by_at_most_that_document() -> None:
    docs = [(f"d{i}", "", f"Sentence one of document {i} is here. Sentence two of document {i} follows.", "a")
            for i in range(200)]
    before = set(build_known_items(dataset_of(docs), docs_per_domain=50).checks["doc_id"])
    grown = docs + [("new", "", "A brand new sentence arrives here today. And a second one follows it.", "a")]
    after = set(build_known_items(dataset_of(grown), docs_per_domain=50).checks["doc_id"])
    assert len(before - after) <= 1 and after - before <= {"new"}


def test_a_sentence_shared_with_another_document_is_never_held_out() -> None:
    checks = build_known_items(corpus()).checks
    assert not checks["query"].str.contains("confidential").any()
    shared = checks.set_index("check_id").loc["passage:lease-2"]
    assert shared["query"] == "The tenant pays service charges quarterly to the landlord."


def test_a_document_without_a_usable_sentence_gives_up_a_span() -> None:
    checks = build_known_items(corpus()).checks.set_index("check_id")
    span = checks.loc["passage:one-line"]
    words = ONE_LINE.split(" ")
    held = span["query"].split()
    assert len(held) == max(5, len(words) // 4)
    assert " ".join(held) in " ".join(words)
    start = next(i for i in range(len(words)) if words[i : i + len(held)] == held)
    assert span["item_text"].split() == words[:start] + words[start + len(held) :]
    assert "passage:short" not in checks.index and "title:short" not in checks.index


def test_title_checks_need_a_unique_title_and_drop_it_from_the_document() -> None:
    checks = build_known_items(corpus()).checks.set_index("check_id")
    title = checks.loc["title:lease-1"]
    assert (title["query"], title["item_text"]) == ("Warehouse lease", LEGAL)
    assert "title:hb-1" not in checks.index and "title:hb-2" not in checks.index  # "Employee handbook" twice
    cranfield_like = dataset_of([
        ("c1", "lift of a slender wing .", "lift of a slender wing . an experimental study of the lift of a slender "
                                           "delta wing was made at low speed in the tunnel .", "aero"),
        ("c2", "drag of bodies", "drag of bodies", "aero"),
    ])
    made = build_known_items(cranfield_like, constructions=("title",)).checks.set_index("check_id")
    assert made.loc["title:c1", "item_text"].startswith("an experimental study")  # the title's copy in the text
    assert "title:c2" not in made.index  # text == title: nothing would be left to find


def test_the_title_is_left_out_of_the_item_when_it_repeats_the_held_out_text() -> None:
    ds = dataset_of([("c1", "lift of a slender wing .", "lift of a slender wing . an experimental study of the "
                                                        "lift was made at low speed in the big tunnel .", "aero")])
    for seed in range(20):
        check = build_known_items(ds, random_state=seed, constructions=("passage",)).checks.iloc[0]
        if check["query"].startswith("lift of a slender wing"):
            assert not check["item_text"].startswith("lift of a slender wing")
            break
    else:
        pytest.fail("no seed held out the first sentence")


def test_keyword_queries_are_distinctive_terms_of_the_document_as_stored() -> None:
    checks = build_known_items(corpus()).checks.set_index("check_id")
    check = checks.loc["keywords:lease-1"]
    terms = check["query"].split()
    document = f"Warehouse lease {LEGAL}"
    words = re.findall(r"[a-z]+", document.lower())
    assert len(terms) == len(set(terms)) == 4 and all(t in words for t in terms)
    assert sorted(terms, key=words.index) == terms  # in document order
    assert not {"the", "and", "all", "each"} & set(terms)  # no stop words
    assert check["item_text"] == document  # the document as stored: nothing is held out
    assert "keywords:short" not in checks.index  # too few distinct content terms
    again = build_known_items(corpus()).checks.set_index("check_id")
    assert again.loc["keywords:lease-1", "query"] == check["query"]
    other = build_known_items(corpus(), random_state=5).checks.set_index("check_id")
    queries = {build_known_items(corpus(), random_state=r).checks.set_index("check_id").loc["keywords:lease-1", "query"]
               for r in range(6)}
    assert len(queries) > 1 and other.loc["keywords:lease-1", "doc_id"] == "lease-1"


def test_sampling_is_seeded_stratified_and_keyed_by_document() -> None:
    docs = [(f"d{i}", f"title number {i}", f"Sentence one of document {i} is here. Sentence two of document {i} "
             f"follows it.", "a" if i % 3 else "b") for i in range(60)]
    full = build_known_items(dataset_of(docs), docs_per_domain=10)
    again = build_known_items(dataset_of(docs), docs_per_domain=10)
    pd.testing.assert_frame_equal(full.checks, again.checks)
    assert full.coverage.to_dict(orient="records") == [
        {"domain": "a", "n_docs": 40, "n_examined": 10, "n_eligible": 10, "n_sampled": 10, "n_checks": 20},
        {"domain": "b", "n_docs": 20, "n_examined": 10, "n_eligible": 10, "n_sampled": 10, "n_checks": 20},
    ]
    other = build_known_items(dataset_of(docs), docs_per_domain=10, random_state=1)
    assert set(other.checks["doc_id"]) != set(full.checks["doc_id"])
    # a document's held-out sentence does not depend on the rest of the corpus
    alone = build_known_items(dataset_of(docs[:1] + docs[3:4]), docs_per_domain=10).checks.set_index("check_id")
    both = build_known_items(dataset_of(docs), docs_per_domain=100).checks.set_index("check_id")
    assert alone.loc["passage:d0", "query"] == both.loc["passage:d0", "query"]
    assert build_known_items(dataset_of(docs), docs_per_domain=0).checks.empty


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"docs_per_domain": -1}, r"docs_per_domain must be a whole number of at least 0.*; got -1"),
        ({"docs_per_domain": 2.5}, r"docs_per_domain must be a whole number of at least 0.*; got 2\.5"),
        ({"random_state": "x"}, r"random_state must be an int seed from 0 to 4294967295.*got str"),
        ({"constructions": ("passage", "cloze")}, r"unknown known-item construction 'cloze'; use passage, title"),
    ],
)
def test_bad_options_are_input_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        build_known_items(corpus(), **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Ranking and metrics
# --------------------------------------------------------------------------------------------------


def test_rank_by_hand_with_the_items_own_vector_replaced() -> None:
    docs = np.eye(4, dtype=np.float32)
    q = np.array([[0.8, 0.6, 0.0, 0.0]], dtype=np.float32)
    # stored doc 2 would be unreachable; its re-encoded text sits at cosine 0.7 with the query
    item = np.array([[0.875, 0.0, 0.48412292, 0.0]], dtype=np.float32)  # q . item = 0.8 * 0.875 = 0.7
    ranks, top, scores = rank_known_items(q, item, docs, np.array([2]), k=3)
    assert ranks.tolist() == [2]  # only doc 0 (0.8) scores higher than 0.7
    assert top.tolist() == [[0, 2, 1]] and scores[0].tolist() == pytest.approx([0.8, 0.7, 0.6])
    ranks, _, _ = rank_known_items(q, item, docs, np.array([0]), k=3)  # doc 0 (0.8) is the item: 0.7 beats 0.6
    assert ranks.tolist() == [1]


def test_ties_count_against_the_known_item() -> None:
    docs = np.eye(3, dtype=np.float32)
    q = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)
    ranks, top, _ = rank_known_items(q, np.array([[1.0, 0.0, 0.0]], np.float32), docs, np.array([1]), k=2)
    assert ranks.tolist() == [2]  # doc 0 scores as high as the known item: it counts first
    assert top.tolist() == [[0, 1]]  # and the top list agrees


def test_ranks_agree_with_exact_top_k_on_the_substituted_corpus() -> None:
    rng = np.random.default_rng(3)
    docs = rng.normal(size=(300, 16)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = docs[:40] + 0.8 * rng.normal(size=(40, 16)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    items = docs[:40] + 0.3 * rng.normal(size=(40, 16)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    rows = np.arange(40)
    ranks, top, _ = rank_known_items(queries, items, docs, rows, k=10)
    for i in range(40):
        corpus_i = docs.copy()
        corpus_i[i] = items[i]
        order, _ = exact_top_k(queries[i : i + 1], corpus_i, k=300, backend="numpy")
        assert int(np.flatnonzero(order[0] == i)[0]) + 1 == ranks[i]
        assert top[i].tolist() == order[0][:10].tolist()


def test_metrics_equal_retrieval_metrics_of_a_query_with_one_relevant_document() -> None:
    n_docs, ranks = 150, np.array([1, 2, 3, 7, 10, 11, 50, 100, 101, 150])
    ranking = np.zeros((len(ranks), n_docs), dtype=np.int64)
    for i, r in enumerate(ranks):  # the relevant document (row 0) at rank r, the others in order
        others = [d for d in range(1, n_docs)]
        ranking[i] = others[: r - 1] + [0] + others[r - 1 :]
    ds = Dataset(
        docs=pd.DataFrame({"id": [f"d{i}" for i in range(n_docs)], "title": "", "text": "x", "domain": "a"}),
        queries=pd.DataFrame({"id": [f"q{i}" for i in range(len(ranks))], "text": "q", "domain": "a"}),
        qrels=pd.DataFrame({"query_id": [f"q{i}" for i in range(len(ranks))], "doc_id": "d0", "score": 1}),
    )
    reference = retrieval_metrics(ds, ranking[:, :100])
    ours = known_item_metrics(ranks, ("ndcg@10", "recall@10", "recall@100", "mrr@10"))
    for metric, values in ours.items():
        np.testing.assert_allclose(values, reference[metric].to_numpy(), atol=1e-12, err_msg=metric)
    assert ours["ndcg@10"][0] == 1.0 and ours["mrr@10"][1] == 0.5 and ours["recall@10"][5] == 0.0
    with pytest.raises(InputError, match="unknown metric 'map@10'"):
        known_item_metrics(ranks, ("map@10",))


def test_a_document_with_two_checks_is_one_unit() -> None:
    checks = pd.DataFrame({"doc_id": ["a", "a", "b"], "domain": ["x", "x", "x"], "m_base": [1.0, 0.0, 0.5],
                           "m_tuned": [0.0, 0.0, 0.5]})
    units = document_scores(checks, ["m_base", "m_tuned"])
    assert units.to_dict(orient="list") == {"query_id": ["a", "b"], "domain": ["x", "x"], "m_base": [0.5, 0.5],
                                            "m_tuned": [0.0, 0.5]}


# --------------------------------------------------------------------------------------------------
# BM25, the lexical reference line
# --------------------------------------------------------------------------------------------------


TEXTS = [
    "the cat sat on the mat", "dogs and cats living together", "a stock market crash hit the banks",
    "the bank raised interest rates again", "cats chase mice in the barn", "rates of interest and the central bank",
]


def test_bm25_equals_bm25s_lucene_up_to_its_constant_factor() -> None:
    bm25s = pytest.importorskip("bm25s")
    index = BM25(TEXTS, k1=0.9, b=0.4)
    analyse = index._vectorizer.build_analyzer()
    reference = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
    reference.index([analyse(t) for t in TEXTS], show_progress=False)
    for query in ("bank interest rates", "cats", "the cat and the cats", "zebra"):
        ours = index.scores([query])[0]
        theirs = reference.get_scores(analyse(query))
        # bm25s's Lucene variant drops the constant (k1 + 1) of the numerator: the same ranking
        np.testing.assert_allclose(ours, (0.9 + 1.0) * theirs, rtol=1e-5, atol=1e-6, err_msg=query)


def test_bm25_ranks_a_check_that_matches_nothing_last() -> None:
    index = BM25(["alpha beta gamma delta", "epsilon zeta eta theta", "iota kappa lambda mu zorblax"])
    assert index.rank_known_items(["zorblax"], ["iota kappa lambda mu"], np.array([2])).tolist() == [3]


def test_bm25_ranks_each_known_item_with_its_own_text_replaced() -> None:
    index = BM25(TEXTS)
    # the item (row 3) searched without the words the query shares with it scores 0: behind row 5, and tied
    # with the four others, which count against it
    ranks = index.rank_known_items(["bank interest rates"], ["raised again"], np.array([3]))
    assert ranks.tolist() == [6]
    ranks = index.rank_known_items(["bank interest rates"], ["the bank raised rates"], np.array([3]))
    assert ranks.tolist() == [2]  # two of the three words: behind row 5 (all three), ahead of the rest
    full = index.rank_known_items(["bank interest rates"], [TEXTS[3]], np.array([3]))
    scores = index.scores(["bank interest rates"])[0]
    assert full.tolist() == [1 + int((np.delete(scores, 3) >= scores[3]).sum())]
    with pytest.raises(InputError, match="1 items and 2 rows for 1 queries"):
        index.rank_known_items(["a"], ["b"], np.array([0, 1]))


# --------------------------------------------------------------------------------------------------
# End to end with the real bundled model (MiniLM) on the sample's corpus, judgements only for clinical
# --------------------------------------------------------------------------------------------------


class PlantedModel:
    """The real base model with one domain damaged: every text whose base vector lies nearest that
    domain's centroid is pulled toward the centroid, plus noise seeded by the text (so the damage is the
    same whether a text is encoded as a stored document, a held-out sentence or a known item)."""

    def __init__(self, base: object, centroids: np.ndarray, target: int, *, pull: float, noise: float) -> None:
        self.base, self.centroids, self.target, self.pull, self.noise = base, centroids, target, pull, noise

    def transform(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        import hashlib

        out = vectors.astype(np.float32).copy()
        nearest = np.argmax(vectors @ self.centroids.T, axis=1)
        for i in np.flatnonzero(nearest == self.target):
            seed = int.from_bytes(hashlib.sha256(texts[i].encode()).digest()[:8], "little")
            jitter = np.random.default_rng(seed).normal(size=vectors.shape[1]) / np.sqrt(vectors.shape[1])
            moved = vectors[i] + self.pull * (self.centroids[self.target] - vectors[i]) + self.noise * jitter
            out[i] = moved / np.linalg.norm(moved)
        return out

    def encode(self, texts: list[str], **kwargs: object) -> np.ndarray:
        """The base model's vectors, damaged. They come through embdiff's encoding cache: the base side's run
        encoded the same texts already, so the planted run loads them instead of encoding them again."""
        from diagnostics.encoding import encode_texts

        return self.transform(encode_texts(list(texts), self.base), list(texts))  # type: ignore[arg-type]

    def state_dict(self) -> dict[str, object]:  # what LazyModel hashes for a model held in memory
        import torch

        return {"planted": torch.tensor([self.target, self.pull, self.noise]),
                "centroids": torch.from_numpy(self.centroids)}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(())


KI_CONFIG = "[known_item]\ndocs_per_domain = 30\n"
TARGET = "finance"


@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory: pytest.TempPathFactory, base_model_path: str) -> dict[str, object]:
    """The sample with only clinical judged: base vs base, and base vs a planted finance degradation."""
    import os
    from dataclasses import replace

    from diagnostics.compare import compare
    from diagnostics.config import load_config
    from diagnostics.consistency import attach_model
    from diagnostics.dataset import keep_judgements, load_dataset
    from diagnostics.encoding import LazyModel, document_texts, load_model
    from diagnostics.sample import sample_paths
    from diagnostics.vectors import load_vectors, pair_vectors

    home = tmp_path_factory.mktemp("ki-home")
    previous = os.environ.get("EMBDIFF_HOME")
    os.environ["EMBDIFF_HOME"] = str(home)
    try:
        paths = sample_paths()
        dataset = keep_judgements(load_dataset(paths.corpus), ["clinical"])
        base_vf = load_vectors(paths.base_vectors)
        base, _ = pair_vectors(dataset, base_vf, base_vf)
        config_file = home / "ki.toml"
        config_file.write_text(KI_CONFIG, encoding="utf-8")
        config = load_config(config_file)
        model = LazyModel(load_model(base_model_path))
        base = attach_model(dataset, base, model, vectors_label="base.parquet", role="base")
        identical = compare(dataset, base, base, config=config, projection=False)
        domains = dataset.docs["domain"].to_numpy()
        centroids = np.stack([base.docs[domains == d].mean(axis=0) for d in dataset.domains]).astype(np.float32)
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
        planted_model = PlantedModel(model.get(), centroids, dataset.domains.index(TARGET), pull=0.2, noise=0.8)
        texts = document_texts(dataset)
        tuned_docs = planted_model.transform(base.docs, texts)
        tuned_queries = planted_model.transform(base.queries, list(dataset.queries["text"]))
        tuned = replace(base, docs=tuned_docs, queries=tuned_queries, model_id="planted", fingerprint="planted-vectors",
                        model=LazyModel(planted_model), model_fingerprint=None)
        tuned = replace(tuned, model_fingerprint=tuned.model.fingerprint())
        planted = compare(dataset, base, tuned, config=config, projection=False)
        no_models = compare(dataset, replace(base, model=None, model_fingerprint=None),
                            replace(tuned, model=None, model_fingerprint=None), config=config, projection=False)
    finally:
        if previous is None:
            os.environ.pop("EMBDIFF_HOME", None)
        else:
            os.environ["EMBDIFF_HOME"] = previous
    return {"identical": identical, "planted": planted, "no_models": no_models}


def _rows(result: object) -> dict[str, dict[str, object]]:
    table = result.domains  # type: ignore[attr-defined]
    return {str(r["domain"]): r for r in table.to_dict(orient="records")}


@pytest.mark.slow
def test_identical_models_give_every_synthetic_delta_exactly_zero(sample_runs: dict[str, object]) -> None:
    result = sample_runs["identical"]
    rows = _rows(result)
    assert result.verdict == "PASS"  # type: ignore[attr-defined]
    for domain, row in rows.items():
        assert row["verdict"] == "PASS", domain
        assert row["evidence"] == ("judged" if domain == "clinical" else "synthetic" if domain != "overall"
                                   else "synthetic"), domain
        assert row["ki_n_docs"] == (30 * 6 if domain == "overall" else 30), domain
        for metric in ("ndcg@10", "recall@10", "recall@100", "mrr@10"):
            assert row[f"ki_{metric}_delta"] == 0.0 and row[f"ki_{metric}_p_value"] == 1.0, (domain, metric)
    checks = result.tables["known_items"]  # type: ignore[attr-defined]
    assert (checks["rank_base"] == checks["rank_tuned"]).all()
    assert set(checks["construction"]) == {"passage", "title", "keywords"}
    assert (checks["rank_bm25"] >= 1).all() and checks["ndcg@10_bm25"].between(0, 1).all()


@pytest.mark.slow
def test_a_planted_degradation_of_an_unjudged_domain_is_flagged_there_only(sample_runs: dict[str, object]) -> None:
    rows = _rows(sample_runs["planted"])
    assert rows[TARGET]["evidence"] == "synthetic"
    assert rows[TARGET]["verdict"] in ("WARN", "FAIL"), rows[TARGET]["reasons"]
    assert rows[TARGET]["ki_ndcg@10_delta"] < 0 and rows[TARGET]["ki_ndcg@10_p_holm"] < 0.05
    others = {d: r["verdict"] for d, r in rows.items() if d not in (TARGET, "overall")}
    assert set(others.values()) == {"PASS"}, {d: rows[d]["reasons"] for d in others}
    assert sample_runs["planted"].verdict == rows[TARGET]["verdict"]  # type: ignore[attr-defined]


@pytest.mark.slow
def test_without_models_the_unjudged_domains_are_unverified(sample_runs: dict[str, object]) -> None:
    rows = _rows(sample_runs["no_models"])
    assert rows["clinical"]["evidence"] == "judged" and rows["clinical"]["verdict"] != "UNVERIFIED"
    assert {r["verdict"] for d, r in rows.items() if d not in ("clinical", "overall")} == {"UNVERIFIED"}
    assert sample_runs["no_models"].verdict == "UNVERIFIED"  # type: ignore[attr-defined]
    assert "known_items" not in sample_runs["no_models"].tables  # type: ignore[attr-defined]


@pytest.mark.slow
def test_the_consistency_check_catches_a_model_that_did_not_make_the_vectors(base_model_path: str) -> None:
    from dataclasses import replace

    from diagnostics.consistency import attach_model
    from diagnostics.dataset import load_dataset
    from diagnostics.sample import sample_paths
    from diagnostics.vectors import load_vectors, pair_vectors

    paths = sample_paths()
    dataset = load_dataset(paths.corpus)
    vf = load_vectors(paths.base_vectors)
    base, _ = pair_vectors(dataset, vf, vf)
    attached = attach_model(dataset, base, base_model_path, vectors_label="base.parquet", role="base")
    assert attached.model is not None and attached.model_fingerprint is not None
    rotation, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(base.dim, base.dim)))
    other = replace(base, docs=(base.docs @ rotation.astype(np.float32)).astype(np.float32))
    with pytest.raises(InputError, match=r"--tuned '[^']*model' did not make the vectors in other\.parquet: "
                                         r"re-encoding 32 sampled documents gives a mean cosine of -?0\.\d{4} with "
                                         r"the stored vectors \(0\.999 needed\)"):
        attach_model(dataset, other, base_model_path, vectors_label="other.parquet", role="tuned")
    with pytest.raises(InputError, match=r"another prefix \(--doc-prefix\)"):
        attach_model(dataset, base, base_model_path, vectors_label="base.parquet", role="base",
                     doc_prefix="passage: ")
    with pytest.raises(InputError, match=r"re-encoding 32 sampled queries gives a mean cosine of 0\.\d{4} .*"
                                         r"another prefix \(--query-prefix\)"):
        attach_model(dataset, base, base_model_path, vectors_label="base.parquet", role="base",
                     query_prefix="query: ")
    narrow = replace(base, docs=np.ascontiguousarray(base.docs[:, :128]))
    with pytest.raises(InputError, match=r"makes 384-dimensional vectors but narrow\.parquet holds 128-dimensional"):
        attach_model(dataset, narrow, base_model_path, vectors_label="narrow.parquet", role="base")


class HashModel:
    """A stand-in encoder (deterministic vectors from each text's hash) that records what it encoded."""

    def __init__(self, dim: int = 16) -> None:
        self.dim, self.seen = dim, []

    def encode(self, texts: list[str], **kwargs: object) -> np.ndarray:
        import hashlib

        self.seen.extend(texts)
        out = np.stack([np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little"))
                        .normal(size=self.dim) for t in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)

    def state_dict(self) -> dict[str, object]:
        import torch

        return {"dim": torch.tensor([self.dim])}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(())


def test_run_known_items_encodes_queries_and_changed_items_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from diagnostics.encoding import document_texts
    from diagnostics.known_item import run_known_items

    monkeypatch.setenv("EMBDIFF_CACHE", str(tmp_path / "cache"))
    ds = corpus()
    model = HashModel()
    docs = model.encode(document_texts(ds))
    model.seen.clear()
    run = run_known_items(ds, docs, docs, base_model=model, tuned_model=model,
                          metrics=("ndcg@10", "mrr@10"), docs_per_domain=10, bm25=True)
    checks = run.checks
    keyword = checks[checks["construction"] == "keywords"]
    assert len(keyword) and not set(keyword["item_text"]) & set(model.seen)  # stored vectors, not re-encoded
    assert set(checks["query"]) <= set(model.seen)
    assert set(checks.loc[checks["construction"] != "keywords", "item_text"]) <= set(model.seen)
    q = model.encode(keyword["query"].tolist())
    rows = keyword["doc_row"].to_numpy(np.int64)
    expected, _, _ = rank_known_items(q, docs[rows], docs, rows, k=10)
    assert keyword["rank_base"].tolist() == expected.tolist()
    assert (checks["ndcg@10_delta"] == 0).all() and (checks["rank_bm25"] >= 1).all()
    assert run.top_base.shape == (len(checks), 6) and (run.top_base == run.top_tuned).all()  # 6 documents
