"""Dataset loaders: BEIR directories, plain tables, several directories, and every validation error."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from diagnostics._validation import InputError
from diagnostics.dataset import (
    DOC_COLUMNS,
    MIN_JUDGED_QUERIES,
    QREL_COLUMNS,
    QUERY_COLUMNS,
    Dataset,
    load_beir,
    load_dataset,
    load_tables,
)

# ------------------------------------------------------------------------------------------- helpers


def _jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _beir(
    root: Path,
    *,
    docs: list[dict[str, Any]] | None = None,
    queries: list[dict[str, Any]] | None = None,
    qrels: str | None = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n",
    split: str = "test",
) -> Path:
    """A toy BEIR directory: 3 docs, 2 queries, 2 judgements by default."""
    root.mkdir(parents=True, exist_ok=True)
    if docs is None:
        docs = [
            {"_id": "d1", "title": "Cats", "text": "Cats purr.", "metadata": {"domain": "pets"}},
            {"_id": "d2", "title": "", "text": "Contracts bind.", "domain": "legal"},
            {"_id": "d3", "text": "Dogs bark."},
        ]
    _jsonl(root / "corpus.jsonl", docs)
    if queries is None:
        queries = [
            {"_id": "q1", "text": "do cats purr", "metadata": {"domain": "pets"}},
            {"_id": "q2", "text": "what binds", "metadata": {"domain": "legal"}},
        ]
    if queries:
        _jsonl(root / "queries.jsonl", queries)
    if qrels is not None:
        (root / "qrels").mkdir(exist_ok=True)
        (root / "qrels" / f"{split}.tsv").write_text(qrels, encoding="utf-8")
    return root


def _raises(match: str, call: Callable[[], object], *, hidden: Path | None = None) -> InputError:
    """The call raises an InputError matching ``match`` whose message shows no full path of ``hidden``."""
    with pytest.raises(InputError, match=match) as info:
        call()
    if hidden is not None:
        assert str(hidden) not in str(info.value)
    return info.value


def _check_schema(dataset: Dataset) -> None:
    assert tuple(dataset.docs.columns) == DOC_COLUMNS
    assert tuple(dataset.queries.columns) == QUERY_COLUMNS
    assert tuple(dataset.qrels.columns) == QREL_COLUMNS
    assert dataset.qrels["score"].dtype == np.int64
    assert dataset.docs["id"].is_unique and dataset.queries["id"].is_unique
    assert list(dataset.docs.index) == list(range(len(dataset.docs)))


# ----------------------------------------------------------------------------------- real collections


def test_load_beir_cisi_counts_match_sources(beir_root: Path) -> None:
    dataset = load_beir(beir_root / "cisi")
    _check_schema(dataset)
    assert (len(dataset.docs), len(dataset.queries), len(dataset.qrels)) == (1460, 76, 3114)
    assert dataset.domains == ["library-information-science"]
    assert dataset.source == "cisi"
    assert dataset.warnings == ()  # all 76 queries are judged, and 76 >= 10


def test_load_dataset_cacm_counts_and_summary(beir_root: Path) -> None:
    dataset = load_dataset(beir_root / "cacm")
    assert (len(dataset.docs), len(dataset.queries), len(dataset.qrels)) == (3204, 47, 758)
    summary = dataset.summary()
    assert summary.to_dict("records") == [
        {"domain": "computer-science", "n_docs": 3204, "n_queries": 47, "n_judged_queries": 47, "n_qrels": 758}
    ]
    assert dataset.docs.loc[0, "id"] == "1"


def test_several_beir_directories_are_namespaced_and_concatenated(beir_root: Path) -> None:
    dataset = load_dataset([beir_root / "cisi", beir_root / "cacm"])
    _check_schema(dataset)
    assert (len(dataset.docs), len(dataset.queries), len(dataset.qrels)) == (1460 + 3204, 76 + 47, 3114 + 758)
    assert dataset.docs["id"].iloc[0] == "cisi/1" and dataset.docs["id"].iloc[1460] == "cacm/1"
    assert dataset.docs["id"].str.match(r"^(cisi|cacm)/").all()
    assert set(dataset.qrels["doc_id"]) <= set(dataset.docs["id"])
    assert set(dataset.qrels["query_id"]) <= set(dataset.queries["id"])
    # domains come from metadata.domain, not from the directory names
    assert dataset.domains == ["computer-science", "library-information-science"]
    summary = dataset.summary().set_index("domain")
    assert summary.loc["computer-science", "n_qrels"] == 758
    assert summary.loc["library-information-science", "n_docs"] == 1460
    assert dataset.source == "cisi, cacm"


def test_load_beir_namespace_prefixes_every_id(tmp_path: Path) -> None:
    dataset = load_beir(_beir(tmp_path / "toy"), namespace="x")
    assert list(dataset.docs["id"]) == ["x/d1", "x/d2", "x/d3"]
    assert list(dataset.queries["id"]) == ["x/q1", "x/q2"]
    assert list(dataset.qrels["query_id"]) == ["x/q1", "x/q2"]
    assert list(dataset.qrels["doc_id"]) == ["x/d1", "x/d2"]


def test_load_beir_namespace_must_be_a_plain_name(tmp_path: Path) -> None:
    _raises("namespace 'a/b' is not valid", lambda: load_beir(_beir(tmp_path / "toy"), namespace="a/b"))


# -------------------------------------------------------------------------------------- BEIR toy cases


def test_beir_domains_from_field_metadata_or_directory(tmp_path: Path) -> None:
    dataset = load_beir(_beir(tmp_path / "toy"))
    assert list(dataset.docs["domain"]) == ["pets", "legal", "toy"]
    assert list(dataset.docs["title"]) == ["Cats", "", ""]
    assert load_beir(tmp_path / "toy", default_domain="misc").docs["domain"].iloc[2] == "misc"


def test_beir_summary_counts_by_hand(tmp_path: Path) -> None:
    qrels = "q1\td1\t1\nq1\td3\t0\nq2\td2\t2\n"  # no header; one non-relevant judgement
    dataset = load_beir(_beir(tmp_path / "toy", qrels=qrels))
    summary = dataset.summary().set_index("domain")
    assert summary.loc["pets"].tolist() == [1, 1, 1, 1]
    assert summary.loc["legal"].tolist() == [1, 1, 1, 1]
    assert summary.loc["toy"].tolist() == [1, 0, 0, 0]
    assert len(dataset.qrels) == 3 and dataset.qrels["score"].tolist() == [1, 0, 2]


def test_beir_split_keeps_only_judged_queries_and_says_how_many_were_dropped(tmp_path: Path) -> None:
    queries = [{"_id": f"q{i}", "text": f"query {i}", "domain": "pets"} for i in range(1, 5)]
    root = _beir(tmp_path / "toy", queries=queries, qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\nq3\td2\t1\n")
    dataset = load_beir(root)
    assert list(dataset.queries["id"]) == ["q1", "q3"]
    assert any("dropped 2" in w and "split 'test'" in w for w in dataset.warnings)


def test_beir_other_split(tmp_path: Path) -> None:
    root = _beir(tmp_path / "toy", qrels="q1\td1\t1\n", split="dev")
    dataset = load_beir(root, split="dev")
    assert list(dataset.queries["id"]) == ["q1"]


def test_beir_without_qrels_folder_is_label_free(tmp_path: Path) -> None:
    dataset = load_beir(_beir(tmp_path / "toy", qrels=None))
    assert not dataset.has_qrels and len(dataset.queries) == 2
    assert dataset.warnings == ()


def test_beir_without_queries_or_qrels_has_documents_only(tmp_path: Path) -> None:
    dataset = load_beir(_beir(tmp_path / "toy", queries=[], qrels=None))
    assert not dataset.has_queries and len(dataset.docs) == 3
    assert tuple(dataset.queries.columns) == QUERY_COLUMNS


def test_beir_missing_split_names_the_existing_splits(tmp_path: Path) -> None:
    root = _beir(tmp_path / "toy", split="train")
    (root / "qrels" / "dev.tsv").write_text("q1\td1\t1\n", encoding="utf-8")
    _raises(r"toy/qrels has no test\.tsv \(splits found: 'dev', 'train'\)", lambda: load_beir(root), hidden=tmp_path)


def test_beir_bad_split_name(tmp_path: Path) -> None:
    _raises("split '...x' is not valid", lambda: load_beir(_beir(tmp_path / "toy"), split="../x"))


def test_beir_qrels_without_queries_file(tmp_path: Path) -> None:
    _raises("no queries.jsonl", lambda: load_beir(_beir(tmp_path / "toy", queries=[])))


def test_warning_few_judged_queries_in_a_domain(tmp_path: Path) -> None:
    dataset = load_beir(_beir(tmp_path / "toy"))
    assert MIN_JUDGED_QUERIES == 10
    assert any(
        "'pets' has only 1 judged queries" in w and "confidence interval will be wide" in w for w in dataset.warnings
    )
    assert any("'toy' has no judged queries" in w for w in dataset.warnings)


def test_warning_queries_without_relevant_judgement(tmp_path: Path) -> None:
    dataset = load_beir(_beir(tmp_path / "toy", qrels="q1\td1\t1\nq2\td2\t0\n"))
    assert any(w.startswith("1 query (first: 'q2') has no judged relevant document") for w in dataset.warnings)


def test_fingerprint_changes_when_a_text_changes(tmp_path: Path) -> None:
    root = _beir(tmp_path / "toy")
    before = load_beir(root).fingerprint()
    assert load_beir(root).fingerprint() == before
    docs = [json.loads(line) for line in (root / "corpus.jsonl").read_text().splitlines()]
    docs[2]["text"] = "Dogs bark loudly."
    _jsonl(root / "corpus.jsonl", docs)
    assert load_beir(root).fingerprint() != before


def test_beir_integer_ids_become_strings_and_bom_is_ignored(tmp_path: Path) -> None:
    root = tmp_path / "toy"
    root.mkdir()
    (root / "corpus.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps({"_id": 7, "text": "seven"}).encode() + b"\n\n")
    dataset = load_beir(root)
    assert dataset.docs["id"].tolist() == ["7"] and dataset.docs["domain"].tolist() == ["toy"]


# ---------------------------------------------------------------------------------------------- tables

DOCS = pd.DataFrame(
    {
        "id": ["d1", "d2", "d3"],
        "title": ["Cats", "", "Dogs"],
        "text": ["Cats purr.", "Contracts bind.", "Dogs bark."],
        "domain": ["pets", "legal", "pets"],
    }
)
QUERIES = pd.DataFrame(
    {"id": ["q1", "q2", "q3"], "text": ["purr?", "bind?", "bark?"], "domain": ["pets", "legal", "pets"]}
)
QRELS = pd.DataFrame({"query-id": ["q1", "q2"], "corpus-id": ["d1", "d2"], "score": [1, 2]})


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    return path


@pytest.mark.parametrize("ext", ["csv", "parquet", "jsonl"])
def test_load_tables_in_every_format(tmp_path: Path, ext: str) -> None:
    dataset = load_tables(
        _write(DOCS, tmp_path / f"docs.{ext}"),
        queries=_write(QUERIES, tmp_path / f"queries.{ext}"),
        qrels=_write(QRELS, tmp_path / f"qrels.{ext}"),
    )
    _check_schema(dataset)
    assert dataset.docs["id"].tolist() == ["d1", "d2", "d3"]
    assert dataset.docs["title"].tolist() == ["Cats", "", "Dogs"]
    assert dataset.queries["domain"].tolist() == ["pets", "legal", "pets"]
    assert dataset.qrels.to_dict("list") == {"query_id": ["q1", "q2"], "doc_id": ["d1", "d2"], "score": [1, 2]}
    # q3 has no judgement: kept, with a warning
    assert dataset.queries["id"].tolist() == ["q1", "q2", "q3"]
    assert any("1 query (first: 'q3') has no judged relevant document" in w for w in dataset.warnings)
    assert dataset.source == f"docs.{ext}, queries.{ext}, qrels.{ext}"


def test_same_dataset_from_every_format_has_one_fingerprint(tmp_path: Path) -> None:
    prints = {
        load_tables(
            _write(DOCS, tmp_path / f"docs.{ext}"), queries=_write(QUERIES, tmp_path / f"q.{ext}")
        ).fingerprint()
        for ext in ("csv", "parquet", "jsonl")
    }
    assert len(prints) == 1


@pytest.mark.parametrize("ext", ["tsv", "csv", "parquet", "jsonl"])
def test_qrels_table_accepts_query_id_doc_id(tmp_path: Path, ext: str) -> None:
    qrels = QRELS.rename(columns={"query-id": "query_id", "corpus-id": "doc_id"})
    dataset = load_tables(
        _write(DOCS, tmp_path / "docs.csv"),
        queries=_write(QUERIES, tmp_path / "queries.csv"),
        qrels=_write(qrels, tmp_path / f"qrels.{ext}"),
    )
    assert dataset.qrels["score"].tolist() == [1, 2]


def test_table_text_that_looks_like_missing_values_is_kept(tmp_path: Path) -> None:
    docs = pd.DataFrame({"id": ["1", "2"], "text": ["NA", "null"], "domain": ["x", "x"]})
    dataset = load_tables(_write(docs, tmp_path / "docs.csv"))
    assert dataset.docs["text"].tolist() == ["NA", "null"]
    assert dataset.docs["title"].tolist() == ["", ""]


def test_ids_are_stripped_so_tables_and_qrels_agree(tmp_path: Path) -> None:
    (tmp_path / "docs.csv").write_text("id,text,domain\n d1 ,a,x\nd2,b,x\n", encoding="utf-8")
    (tmp_path / "queries.csv").write_text("id,text,domain\nq1 ,a,x\n", encoding="utf-8")
    (tmp_path / "qrels.csv").write_text("query_id,doc_id,score\nq1,d1, 1\n", encoding="utf-8")
    dataset = load_tables(tmp_path / "docs.csv", queries=tmp_path / "queries.csv", qrels=tmp_path / "qrels.csv")
    assert dataset.docs["id"].tolist() == ["d1", "d2"]
    assert dataset.qrels.to_dict("list") == {"query_id": ["q1"], "doc_id": ["d1"], "score": [1]}


def test_load_dataset_table_directory_and_single_file(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    _write(DOCS.drop(columns="domain"), root / "docs.parquet")
    _write(QUERIES, root / "queries.jsonl")
    _write(QRELS, root / "qrels.tsv")
    dataset = load_dataset(root)
    assert dataset.docs["domain"].tolist() == ["shop", "shop", "shop"]  # no domain column: the directory's name
    assert len(dataset.qrels) == 2 and dataset.source == "shop"
    single = load_dataset(_write(DOCS, tmp_path / "all.csv"))
    assert len(single.docs) == 3 and not single.has_queries and not single.has_qrels


def test_load_dataset_several_directories_without_domains(tmp_path: Path) -> None:
    plain = [{"_id": "1", "text": "one"}, {"_id": "2", "text": "two"}]
    a = _beir(tmp_path / "alpha", docs=plain, queries=[{"_id": "1", "text": "q"}], qrels="1\t2\t1\n")
    b = _beir(tmp_path / "beta", docs=plain, queries=[], qrels=None)
    dataset = load_dataset([str(a), b])
    assert dataset.docs["id"].tolist() == ["alpha/1", "alpha/2", "beta/1", "beta/2"]
    assert dataset.docs["domain"].tolist() == ["alpha", "alpha", "beta", "beta"]
    assert dataset.qrels.to_dict("list") == {"query_id": ["alpha/1"], "doc_id": ["alpha/2"], "score": [1]}


def test_load_dataset_duplicate_directory_names(tmp_path: Path) -> None:
    a = _beir(tmp_path / "a" / "toy")
    b = _beir(tmp_path / "b" / "toy")
    _raises("several directories are called 'toy'", lambda: load_dataset([a, b]), hidden=tmp_path)


def test_load_dataset_input_errors(tmp_path: Path) -> None:
    _raises("no dataset path was given", lambda: load_dataset([]))
    empty = tmp_path / "empty"
    empty.mkdir()
    _raises("holds neither corpus.jsonl", lambda: load_dataset(empty), hidden=tmp_path)
    _raises("nowhere does not exist", lambda: load_dataset(tmp_path / "nowhere"), hidden=tmp_path)
    file = _write(DOCS, tmp_path / "docs.csv")
    _raises("is a file: several inputs must each be a directory", lambda: load_dataset([file, empty]))
    _write(DOCS, empty / "docs.csv")
    _write(DOCS, empty / "docs.jsonl")
    _raises(r"several docs tables \(docs.csv, docs.jsonl\)", lambda: load_dataset(empty))


# ----------------------------------------------------------------------------------- validation errors


def test_missing_corpus(tmp_path: Path) -> None:
    root = tmp_path / "toy"
    root.mkdir()
    _raises("toy has no corpus.jsonl", lambda: load_beir(root), hidden=tmp_path)
    _raises("does not exist", lambda: load_beir(tmp_path / "nope"))
    _raises("docs.csv does not exist", lambda: load_tables(tmp_path / "docs.csv"), hidden=tmp_path)


def test_missing_columns(tmp_path: Path) -> None:
    _raises(
        r"docs.csv has no 'text' column; found columns: 'id', 'title', 'domain'",
        lambda: load_tables(_write(DOCS.drop(columns="text"), tmp_path / "docs.csv")),
    )
    _raises(
        r"has no 'id' column \(or '_id'\)", lambda: load_tables(_write(DOCS.drop(columns="id"), tmp_path / "d.csv"))
    )
    _raises(
        r"data row 1 \(doc 'd1'\): the record has no domain",
        lambda: load_tables(_write(DOCS.drop(columns="domain"), tmp_path / "d2.csv")),
    )
    _raises(
        "qrels.csv has no 'score' column",
        lambda: load_tables(
            _write(DOCS, tmp_path / "docs.csv"),
            queries=_write(QUERIES, tmp_path / "q.csv"),
            qrels=_write(QRELS.drop(columns="score"), tmp_path / "qrels.csv"),
        ),
    )


def test_duplicate_ids(tmp_path: Path) -> None:
    docs = [{"_id": "d1", "text": "a"}, {"_id": "d2", "text": "b"}, {"_id": "d1", "text": "c"}]
    _raises(
        r"corpus.jsonl, line 3: duplicate doc id 'd1' \(first seen at toy/corpus.jsonl, line 1\)",
        lambda: load_beir(_beir(tmp_path / "toy", docs=docs, qrels=None)),
    )
    queries = [{"_id": "q1", "text": "a"}, {"_id": "q1", "text": "b"}]
    _raises("line 2: duplicate query id 'q1'", lambda: load_beir(_beir(tmp_path / "toy2", queries=queries, qrels=None)))
    dup = pd.concat([DOCS, DOCS.iloc[[1]]])
    _raises(r"docs.parquet, row 4: duplicate doc id 'd2'", lambda: load_tables(_write(dup, tmp_path / "docs.parquet")))


def test_qrels_naming_unknown_ids(tmp_path: Path) -> None:
    root = _beir(tmp_path / "toy", qrels="q1\td1\t1\nq9\td1\t1\n")
    _raises(
        r"toy/qrels/test.tsv names 1 query id \(first: 'q9'\) that are not queries.*line 2", lambda: load_beir(root)
    )
    root = _beir(tmp_path / "toy2", qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td7\t1\nq2\td8\t1\n")
    _raises(r"names 2 document ids \(first: 'd7', 'd8'\).*line 3", lambda: load_beir(root))


def test_qrels_duplicate_judgement(tmp_path: Path) -> None:
    root = _beir(tmp_path / "toy", qrels="q1\td1\t1\nq1\td1\t2\n")
    _raises(r"line 2: query 'q1' and document 'd1' are judged twice", lambda: load_beir(root))


def test_qrels_wrong_number_of_fields(tmp_path: Path) -> None:
    root = _beir(tmp_path / "toy", qrels="q1\td1\t1\nq2\td2\n")
    _raises(r"toy/qrels/test.tsv, line 2: expected 3 tab-separated fields .* found 2", lambda: load_beir(root))
    root = _beir(tmp_path / "toy2", qrels="q1 0 d1 1\n")
    _raises(r"line 1: .* found 1; separate the fields with tabs, not spaces", lambda: load_beir(root))
    root = _beir(tmp_path / "toy3", qrels="q1\t0\td1\t1\n")
    _raises(r"found 4; TREC qrels", lambda: load_beir(root))
    bad = tmp_path / "bad.csv"
    bad.write_text("query-id,corpus-id,score\nq1,d1,1\nq2,d2,1,9\n", encoding="utf-8")
    _raises(
        "bad.csv: not a valid CSV table",
        lambda: load_tables(
            _write(DOCS, tmp_path / "docs.csv"), queries=_write(QUERIES, tmp_path / "q.csv"), qrels=bad
        ),
    )


@pytest.mark.parametrize("score", ["1.5", "high", "", "1e3"])
def test_qrels_non_integer_score(tmp_path: Path, score: str) -> None:
    root = _beir(tmp_path / "toy", qrels=f"q1\td1\t1\nq2\td2\t{score}\n")
    _raises(rf"line 2: the score '{re.escape(score)}' is not a whole number", lambda: load_beir(root))


def test_qrels_float_scores_that_are_whole_numbers_pass(tmp_path: Path) -> None:
    qrels = QRELS.assign(score=[1.0, 2.0])
    dataset = load_tables(
        _write(DOCS, tmp_path / "docs.csv"),
        queries=_write(QUERIES, tmp_path / "q.csv"),
        qrels=_write(qrels, tmp_path / "qrels.parquet"),
    )
    assert dataset.qrels["score"].tolist() == [1, 2]


def test_qrels_header_only_and_qrels_without_queries(tmp_path: Path) -> None:
    _raises("holds no judgements", lambda: load_beir(_beir(tmp_path / "toy", qrels="query-id\tcorpus-id\tscore\n")))
    _raises(
        "no queries table was given",
        lambda: load_tables(_write(DOCS, tmp_path / "docs.csv"), qrels=_write(QRELS, tmp_path / "qrels.csv")),
    )


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", r"corpus.jsonl is empty \(0 bytes\)"),
        (b"\n  \n", r"corpus.jsonl is empty \(only white space\)"),
    ],
)
def test_empty_corpus(tmp_path: Path, content: bytes, match: str) -> None:
    root = _beir(tmp_path / "toy", qrels=None)
    (root / "corpus.jsonl").write_bytes(content)
    _raises(match, lambda: load_beir(root))


def test_empty_tables(tmp_path: Path) -> None:
    header_only = tmp_path / "docs.csv"
    header_only.write_text("id,text,domain\n", encoding="utf-8")
    _raises(r"docs.csv holds no records \(0 rows\)", lambda: load_tables(header_only))
    _raises("docs.parquet holds no records", lambda: load_tables(_write(DOCS.iloc[:0], tmp_path / "docs.parquet")))
    empty_queries = tmp_path / "queries.csv"
    empty_queries.write_bytes(b"")
    _raises(
        r"queries.csv is empty \(0 bytes\)",
        lambda: load_tables(_write(DOCS, tmp_path / "d.csv"), queries=empty_queries),
    )


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ({"_id": "d9"}, r"line 2 \(doc 'd9'\): the record has no text"),
        ({"_id": "d9", "text": ""}, r"line 2 \(doc 'd9'\): the text is empty"),
        ({"_id": "d9", "text": " \t\n "}, r"line 2 \(doc 'd9'\): the text is empty"),
        ({"_id": "d9", "text": None}, "the record has no text"),
        ({"_id": "d9", "text": 12}, "the text must be a string, found int"),
        ({"_id": "d9", "text": "x", "domain": 3}, "the domain must be a string, found int"),
        ({"_id": "d9", "text": "x", "title": ["a"]}, "the title must be a string, found list"),
        ({"_id": "", "text": "x"}, "line 2: the doc id is empty"),
        ({"text": "x"}, "line 2: the record has no doc id"),
        ({"_id": 1.5, "text": "x"}, "line 2: the doc id must be a string or a whole number, found float"),
        ({"_id": True, "text": "x"}, "found bool"),
    ],
)
def test_bad_records(tmp_path: Path, record: dict[str, Any], match: str) -> None:
    root = _beir(tmp_path / "toy", docs=[{"_id": "d1", "text": "fine"}, record], qrels=None)
    _raises(match, lambda: load_beir(root))


def test_csv_record_without_text(tmp_path: Path) -> None:
    path = tmp_path / "docs.csv"
    path.write_text("id,text,domain\nd1,hello,x\nd2,,x\nd3,  ,x\n", encoding="utf-8")
    _raises(r"docs.csv, data row 2 \(doc 'd2'\): the text is empty", lambda: load_tables(path), hidden=tmp_path)


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    root = _beir(tmp_path / "toy", qrels=None)
    good = json.dumps({"_id": "d1", "text": "fine"}).encode()
    (root / "corpus.jsonl").write_bytes(
        good + b"\n" + good.replace(b"d1", b"d2") + b"\n" + b'{"_id": "d3", "text": "caf\xe9"}\n'
    )
    _raises(r"toy/corpus.jsonl, line 3: not UTF-8 text \(byte 0xe9", lambda: load_beir(root), hidden=tmp_path)
    csv = tmp_path / "docs.csv"
    csv.write_bytes(b"id,text,domain\nd1,ok,x\n" + "d2,café,x\n".encode("latin-1"))
    _raises(r"docs.csv, line 3: not UTF-8", lambda: load_tables(csv))


def test_malformed_json_line(tmp_path: Path) -> None:
    root = _beir(tmp_path / "toy", qrels=None)
    (root / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n\n{"_id": "q2", "text": \n', encoding="utf-8")
    _raises(r"toy/queries.jsonl, line 3: not valid JSON", lambda: load_beir(root))
    (root / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n["q2", "b"]\n', encoding="utf-8")
    _raises(r"queries.jsonl, line 2: expected a JSON object \(\{...\}\), found an array", lambda: load_beir(root))


def test_corrupt_parquet_table(tmp_path: Path) -> None:
    path = _write(DOCS, tmp_path / "docs.parquet")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _raises("docs.parquet is not a readable Parquet file", lambda: load_tables(path), hidden=tmp_path)


@pytest.mark.parametrize("name", ["docs.parquet", "docs.csv", "docs.jsonl"])
def test_random_binary_file_gives_input_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(7).integers(0, 256, size=4096, dtype=np.uint8).tobytes())
    _raises(name, lambda: load_tables(path), hidden=tmp_path)


def test_binary_file_with_nul_bytes(tmp_path: Path) -> None:
    root = _beir(tmp_path / "toy", qrels=None)
    (root / "corpus.jsonl").write_bytes(b"\x00" * 64)
    _raises("line 1: holds a NUL character", lambda: load_beir(root))


def test_unsupported_table_extension(tmp_path: Path) -> None:
    path = tmp_path / "docs.xlsx"
    path.write_bytes(b"PK")
    _raises(r"docs.xlsx: unsupported file type '.xlsx'", lambda: load_tables(path))
    _raises("unsupported file type '.tsv'", lambda: load_tables(_write(DOCS, tmp_path / "docs.tsv")))


def test_error_messages_never_show_the_full_path(tmp_path: Path) -> None:
    deep = tmp_path / "srv" / "secret" / "data"
    root = _beir(deep / "toy", qrels="q1\td1\tx\n")
    error = _raises("not a whole number", lambda: load_beir(root))
    assert "secret" not in str(error) and "srv" not in str(error)
