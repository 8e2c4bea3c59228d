"""The bad-input catalogue (docs/BAD_INPUTS.md): every bad file or parameter, its exact message.

For each catalogued input:

* the loader raises :class:`InputError` with the message documented in docs/BAD_INPUTS.md;
* the command line exits 2, prints that message and no traceback;
* nothing is written: ``$EMBDIFF_HOME`` holds no run (not even a temporary one);
* the message shows no absolute path of the files, only their name and parent folder.

Each case builds a small valid dataset with precomputed vectors under ``<tmp>/work`` and breaks one
thing. ``python tests/test_bad_inputs.py`` prints the catalogue table for the docs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from diagnostics._validation import InputError, check_k, check_run_id
from diagnostics.cli import main
from diagnostics.compare import compare_inputs, load_comparison, load_inputs
from diagnostics.config import load_config
from diagnostics.dataset import load_beir, load_dataset, load_tables
from diagnostics.drilldown import query_topk
from diagnostics.encoding import load_model
from diagnostics.report import check_output_path
from diagnostics.vectors import load_vectors, pair_vectors, write_vectors

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "BAD_INPUTS.md"
DOMAINS = ("legal", "support")
N_DOCS, N_QUERIES, DIM = 12, 3, 8  # per domain


# ------------------------------------------------------------------------------------------ the good


@dataclass(frozen=True)
class Files:
    """A valid dataset in BEIR layout (``ds``) and as tables (``tds``), with base and tuned vectors."""

    work: Path
    ds: Path
    tds: Path
    base: Path
    tuned: Path
    docs: list[dict[str, Any]]
    queries: list[dict[str, Any]]
    qrels: list[tuple[str, str, int]]

    @property
    def corpus(self) -> Path:
        return self.ds / "corpus.jsonl"

    @property
    def keys(self) -> tuple[list[str], list[str]]:
        ids = [d["_id"] for d in self.docs] + [q["_id"] for q in self.queries]
        return ids, ["doc"] * len(self.docs) + ["query"] * len(self.queries)

    def matrix(self, seed: int = 0) -> np.ndarray:
        return np.random.default_rng(seed).standard_normal((len(self.keys[0]), DIM)).astype(np.float32)

    def argv(
        self, *extra: str, ds: Path | None = None, base: Path | None = None, tuned: Path | None = None
    ) -> list[str]:
        return [
            "compare", "--dataset", str(ds or self.ds), "--base-vectors", str(base or self.base),
            "--tuned-vectors", str(tuned or self.tuned), "--no-projection", *extra,
        ]


def _jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def make_files(root: Path) -> Files:
    work = root / "work"
    ds, tds, vec = work / "ds", work / "tds", work / "vec"
    for d in (ds / "qrels", tds, vec):
        d.mkdir(parents=True)
    docs, queries, qrels = [], [], []
    for domain in DOMAINS:
        docs += [{"_id": f"{domain}-{i}", "title": f"{domain} {i}", "text": f"a {domain} document, number {i}",
                  "domain": domain} for i in range(N_DOCS)]
        queries += [{"_id": f"{domain}-q{j}", "text": f"a {domain} question {j}", "domain": domain}
                    for j in range(N_QUERIES)]
        qrels += [(f"{domain}-q{j}", f"{domain}-{j}", 1) for j in range(N_QUERIES)]
    _jsonl(ds / "corpus.jsonl", docs)
    _jsonl(ds / "queries.jsonl", queries)
    (ds / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels), encoding="utf-8"
    )
    pd.DataFrame([{"id": d["_id"], "title": d["title"], "text": d["text"], "domain": d["domain"]} for d in docs]) \
        .to_csv(tds / "docs.csv", index=False)
    pd.DataFrame([{"id": q["_id"], "text": q["text"], "domain": q["domain"]} for q in queries]) \
        .to_csv(tds / "queries.csv", index=False)
    pd.DataFrame(qrels, columns=["query-id", "corpus-id", "score"]).to_csv(tds / "qrels.csv", index=False)
    files = Files(work, ds, tds, vec / "base.parquet", vec / "tuned.parquet", docs, queries, qrels)
    ids, kinds = files.keys
    write_vectors(files.base, ids, kinds, files.matrix(0))
    write_vectors(files.tuned, ids, kinds, files.matrix(0) + 0.3 * files.matrix(1))
    return files


# ------------------------------------------------------------------------------------------- the bad


@dataclass(frozen=True)
class Call:
    """How to reach the bad input: the loader call, and the command line (``None``: the URL only)."""

    load: Callable[[], object]
    argv: list[str] | None


APP_ERROR = "`st.error`, same message"
APP_WARNING_K = "`st.warning`: same message + \"; showing the default instead\""
APP_NONE = "— (not an app input)"


@dataclass(frozen=True)
class Bad:
    name: str
    what: str  # the bad input, in words (for the docs)
    match: str  # a regular expression the message must match (the docs hold the exact message)
    setup: Callable[[Files], Call]
    app: str = APP_ERROR  # what the app shows (for the docs)


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def _beir_case(mutate: Callable[[Files], object], **loader: Any) -> Callable[[Files], Call]:
    def setup(f: Files) -> Call:
        mutate(f)
        extra = ["--split", loader["split"]] if "split" in loader else []
        return Call(lambda: load_beir(f.ds, **loader), f.argv(*extra))

    return setup


def _corpus_line(line: str) -> Callable[[Files], Call]:
    """A corpus whose 25th line (after the 24 good documents) is ``line``."""
    return _beir_case(lambda f: _append(f.corpus, line + "\n"))


def _corpus_bytes(data: bytes) -> Callable[[Files], Call]:
    return _beir_case(lambda f: f.corpus.write_bytes(data))


def _qrels(text: str) -> Callable[[Files], Call]:
    return _beir_case(lambda f: (f.ds / "qrels" / "test.tsv").write_text(text, encoding="utf-8"))


def _table_case(mutate: Callable[[Files], object]) -> Callable[[Files], Call]:
    def setup(f: Files) -> Call:
        mutate(f)
        return Call(lambda: load_dataset(f.tds), f.argv(ds=f.tds))

    return setup


def _docs_csv(text: str) -> Callable[[Files], Call]:
    return _table_case(lambda f: (f.tds / "docs.csv").write_text(text, encoding="utf-8"))


def _write_parquet_vectors(f: Files, columns: dict[str, Any]) -> None:
    pq.write_table(pa.table(columns), f.base)


def _vector_case(mutate: Callable[[Files], object]) -> Callable[[Files], Call]:
    """The base vector file is broken: :func:`load_vectors` on it fails."""

    def setup(f: Files) -> Call:
        mutate(f)
        return Call(lambda: load_vectors(f.base), f.argv())

    return setup


def _vectors(
    embedding: Any, *, ids: list[str] | None = None, kinds: list[str] | None = None
) -> Callable[[Files], Call]:
    def mutate(f: Files) -> None:
        good_ids, good_kinds = f.keys
        _write_parquet_vectors(f, {"id": ids or good_ids, "kind": kinds or good_kinds, "embedding": embedding})

    return _vector_case(mutate)


def _rows(f: Files, change: Callable[[np.ndarray], object]) -> list[list[float]]:
    m = f.matrix(0)
    change(m)
    return m.tolist()


def _pairing_case(mutate: Callable[[Files], tuple[Path, Path]]) -> Callable[[Files], Call]:
    """Both vector files are readable but do not fit the dataset (or each other)."""

    def setup(f: Files) -> Call:
        base, tuned = mutate(f)
        return Call(lambda: pair_vectors(load_dataset(f.ds), load_vectors(base), load_vectors(tuned)),
                    f.argv(base=base, tuned=tuned))

    return setup


def _drop_last_doc(f: Files) -> tuple[Path, Path]:
    ids, kinds = f.keys
    keep = [i for i in range(len(ids)) if ids[i] != "support-11"]
    for path, seed in ((f.base, 0), (f.tuned, 1)):
        write_vectors(path, [ids[i] for i in keep], [kinds[i] for i in keep], f.matrix(seed)[keep])
    return f.base, f.tuned


def _extra_doc(f: Files) -> tuple[Path, Path]:
    ids, kinds = f.keys
    for path, seed in ((f.base, 0), (f.tuned, 1)):
        m = f.matrix(seed)
        write_vectors(path, [*ids, "legal-99"], [*kinds, "doc"], np.vstack([m, m[:1]]))
    return f.base, f.tuned


def _tuned_differs(f: Files) -> tuple[Path, Path]:
    ids, kinds = f.keys
    write_vectors(f.tuned, [*ids[:-1], "support-q9"], kinds, f.matrix(1))
    return f.base, f.tuned


def _npy(f: Files, array: np.ndarray, ids: pd.DataFrame | None, *, pickled: bool = False) -> Path:
    path = f.base.with_suffix(".npy")
    np.save(path, array, allow_pickle=pickled)
    if ids is not None:
        ids.to_csv(path.with_name("base.ids.csv"), index=False)
    return path


def _npy_case(make: Callable[[Files], Path], *, pair: bool = False) -> Callable[[Files], Call]:
    """The base vectors are a .npy file; with ``pair``, base and tuned are that file and it must fit the dataset."""

    def setup(f: Files) -> Call:
        path = make(f)
        if pair:
            return Call(lambda: pair_vectors(load_dataset(f.ds), load_vectors(path), load_vectors(path)),
                        f.argv(base=path, tuned=path))
        return Call(lambda: load_vectors(path), f.argv(base=path))

    return setup


def _ids_frame(f: Files) -> pd.DataFrame:
    ids, kinds = f.keys
    return pd.DataFrame({"id": ids, "kind": kinds})


def _truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _saved_run(f: Files) -> Any:
    dataset, base, tuned = load_inputs([f.ds], base_vectors=f.base, tuned_vectors=f.tuned)
    return compare_inputs(dataset, base, tuned, k=5, projection=False)


def _run_home() -> Path:
    return Path(os.environ["EMBDIFF_HOME"])


def _param_case(load: Callable[[Files], object], argv: Callable[[Files], list[str] | None]) -> Callable[[Files], Call]:
    return lambda f: Call(lambda: load(f), argv(f))


def _report_argv(run_id: str) -> Callable[[Files], list[str]]:
    return lambda f: ["report", run_id, "--json", str(f.work / "out.json")]


def _model_dir_with_broken_config(f: Files) -> Path:
    model = f.work / "my-model"
    model.mkdir()
    (model / "config.json").write_text("{not json", encoding="utf-8")
    return model


BAD: list[Bad] = [
    # -- BEIR directory: corpus.jsonl / queries.jsonl ------------------------------------------------
    Bad("corpus-empty", "corpus.jsonl of 0 bytes", r"corpus\.jsonl is empty \(0 bytes\)",
        _corpus_bytes(b"")),
    Bad("corpus-blank", "corpus.jsonl of blank lines only", r"is empty \(only white space\)",
        _corpus_bytes(b"\n   \n\n")),
    Bad("jsonl-broken-line", "JSON Lines with a broken (cut-off) line", r"line 25: not valid JSON",
        _corpus_line('{"_id": "legal-99", "text": "cut off in the midd')),
    Bad("jsonl-binary", "a binary file (PNG bytes) named corpus.jsonl", r"line 1: not UTF-8 text \(byte 0x89",
        _corpus_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)),
    Bad("jsonl-nul", "a text file with a NUL byte", r"line 25: holds a NUL character",
        _corpus_line('{"_id": "legal-99", "text": "a\x00b"}')),
    Bad("jsonl-latin1", "Latin-1 instead of UTF-8", r"line 1: not UTF-8 text \(byte 0xe9",
        _corpus_bytes('{"_id": "d", "text": "caf\u00e9"}\n'.encode("latin-1"))),
    Bad("jsonl-not-object", "a JSON array where an object belongs", r"line 25: expected a JSON object",
        _corpus_line("[1, 2, 3]")),
    Bad("jsonl-deep", "JSON nested 100 000 levels deep", r"line 25: JSON nested too deeply",
        _corpus_line("[" * 100_000 + "]" * 100_000)),
    Bad("jsonl-huge-number", "an integer of 5000 digits", r"line 25: not valid JSON \(Exceeds the limit",
        _corpus_line('{"_id": ' + "7" * 5000 + ', "text": "t"}')),
    Bad("jsonl-lone-surrogate", "a lone UTF-16 surrogate escape (\\ud800)", r"line 25: holds an unpaired UTF-16",
        _corpus_line('{"_id": "legal-99", "text": "cut \\ud800 here"}')),
    Bad("id-missing", "a document without _id", r"line 25: the record has no doc id",
        _corpus_line('{"text": "no id"}')),
    Bad("id-empty", "an empty id", r"line 25: the doc id is empty",
        _corpus_line('{"_id": "  ", "text": "t"}')),
    Bad("id-float", "an id that is a float", r"line 25: the doc id must be a string or a whole number, found float",
        _corpus_line('{"_id": 1.5, "text": "t"}')),
    Bad("id-huge", "an id of 1 MB", r"line 25: the doc id is 1000000 characters long",
        _corpus_line(json.dumps({"_id": "x" * 1_000_000, "text": "t"}))),
    Bad("id-duplicate", "two documents with one id", r"line 25: duplicate doc id 'legal-1' \(first seen at",
        _corpus_line('{"_id": "legal-1", "text": "again"}')),
    Bad("text-missing", "a document without text", r"line 25 \(doc 'legal-99'\): the record has no text",
        _corpus_line('{"_id": "legal-99", "title": "t"}')),
    Bad("text-number", "text that is a number", r"the text must be a string, found int",
        _corpus_line('{"_id": "legal-99", "text": 42}')),
    Bad("domain-not-string", "a domain that is an object", r"the domain must be a string, found dict",
        _corpus_line('{"_id": "legal-99", "text": "t", "domain": {"name": "legal"}}')),
    Bad("domain-reserved", "a domain named like the all-domains row", r"the domain 'Overall' is reserved",
        _corpus_line('{"_id": "legal-99", "text": "t", "domain": "Overall"}')),
    Bad("columns-case", "fields `_id` and `_ID` in one file", r"has the columns '_id' and '_ID'",
        _corpus_line('{"_id": "legal-99", "_ID": "x", "text": "t"}')),
    Bad("corpus-missing", "a directory without corpus.jsonl or docs table", r"holds neither corpus\.jsonl",
        lambda f: ((f.corpus.unlink(), Call(lambda: load_dataset(f.ds), f.argv()))[1])),
    Bad("dataset-missing", "a dataset path that does not exist", r"work/nowhere does not exist",
        lambda f: Call(lambda: load_dataset(f.work / "nowhere"), f.argv(ds=f.work / "nowhere"))),
    Bad("queries-missing", "qrels/ without queries.jsonl", r"has judgements in qrels/ but no queries\.jsonl",
        _beir_case(lambda f: (f.ds / "queries.jsonl").unlink())),
    # -- qrels ---------------------------------------------------------------------------------------------
    Bad("qrels-two-fields", "a qrels line with 2 fields", r"line 3: expected 3 tab-separated fields .* found 2",
        _qrels("query-id\tcorpus-id\tscore\nlegal-q0\tlegal-0\t1\nlegal-q1\tlegal-1\n")),
    Bad("qrels-four-fields", "a TREC qrels line (4 fields)", r"found 4; TREC qrels",
        _qrels("legal-q0\t0\tlegal-0\t1\n")),
    Bad("qrels-spaces", "qrels separated by spaces", r"found 1; separate the fields with tabs, not spaces",
        _qrels("legal-q0 legal-0 1\n")),
    Bad("qrels-score-text", "a score that is a word", r"line 1: the score 'high' is not a whole number",
        _qrels("legal-q0\tlegal-0\thigh\n")),
    Bad("qrels-score-huge", "a score of 20 digits", r"the score '99999999999999999999' is not a whole number",
        _qrels("legal-q0\tlegal-0\t99999999999999999999\n")),
    Bad("qrels-unknown-query", "a judgement of a query that does not exist", r"names 1 query id \(first: 'legal-q9'\)",
        _qrels("legal-q0\tlegal-0\t1\nlegal-q9\tlegal-0\t1\n")),
    Bad("qrels-unknown-doc", "a judgement of a document that does not exist", r"not documents of the corpus",
        _qrels("legal-q0\tlegal-0\t1\nlegal-q0\tlegal-77\t1\n")),
    Bad("qrels-duplicate", "one pair judged twice", r"are judged twice",
        _qrels("legal-q0\tlegal-0\t1\nlegal-q0\tlegal-0\t2\n")),
    Bad("split-missing", "--split dev when qrels/ has only test.tsv",
        r"ds/qrels has no dev\.tsv \(splits found: 'test'\)",
        _beir_case(lambda f: None, split="dev"), app=APP_NONE),
    Bad("split-traversal", "--split ../../etc/passwd", r"split '\.\.\?\.\.\?etc\?passwd' is not valid",
        _beir_case(lambda f: None, split="../../etc/passwd"), app=APP_NONE),
    # -- plain tables ---------------------------------------------------------------------------------------
    Bad("csv-missing-column", "CSV without the text column", r"docs\.csv has no 'text' column",
        _docs_csv("id,domain\nlegal-0,legal\n")),
    Bad("csv-extra-field", "CSV whose first row has one field too many", r"data row 1: more fields than the header",
        _docs_csv("id,text,domain\nlegal-0,a,b,legal\n")),
    Bad("csv-ragged", "CSV with a longer row further down", r"not a valid CSV table \(Error tokenizing data",
        _docs_csv("id,text,domain\nlegal-0,a,legal\nlegal-1,a,b,legal\n")),
    Bad("csv-open-quote", "CSV with an unclosed quote", r"EOF inside string",
        _docs_csv('id,text,domain\nlegal-0,"never closed,legal\n')),
    Bad("csv-header-only", "CSV with a header and no rows", r"docs\.csv holds no records \(0 rows\)",
        _docs_csv("id,text,domain\n")),
    Bad("table-truncated-parquet", "a truncated Parquet table", r"docs\.parquet is not a readable Parquet file",
        _table_case(lambda f: ((f.tds / "docs.csv").unlink(),
                               pd.read_csv(f.tds / "queries.csv").to_parquet(f.tds / "docs.parquet"),
                               _truncate(f.tds / "docs.parquet", 300)))),
    Bad("table-two-docs", "docs.csv and docs.jsonl side by side", r"holds several docs tables",
        _table_case(lambda f: (f.tds / "docs.jsonl").write_text('{"id": "a", "text": "t"}\n'))),
    Bad("table-unknown-type", "a docs table of type .xlsx", r"unsupported file type '\.xlsx'",
        lambda f: ((f.work / "docs.xlsx").write_bytes(b"PK\x03\x04"),
                   Call(lambda: load_tables(f.work / "docs.xlsx"), f.argv(ds=f.work / "docs.xlsx")))[1]),
    # -- vector files -----------------------------------------------------------------------------------------
    Bad("vectors-truncated", "a truncated Parquet vector file", r"base\.parquet is not a readable Parquet file",
        _vector_case(lambda f: _truncate(f.base, 500))),
    Bad("vectors-empty", "a vector file of 0 bytes", r"base\.parquet is empty \(0 bytes\)",
        _vector_case(lambda f: f.base.write_bytes(b""))),
    Bad("vectors-text-file", "a CSV file named base.parquet", r"base\.parquet is not a readable Parquet file",
        _vector_case(lambda f: f.base.write_text("id,kind,embedding\na,doc,0.1\n"))),
    Bad("vectors-no-embedding", "vectors without an embedding column", r"has no 'embedding' column",
        _vector_case(lambda f: _write_parquet_vectors(f, {"id": f.keys[0], "kind": f.keys[1]}))),
    Bad("vectors-mixed-dims", "vectors of mixed dimensions", r"row 3 \(doc 'legal-2'\): the embedding has 7 values",
        lambda f: _vectors([r[:7] if i == 2 else r for i, r in enumerate(f.matrix().tolist())])(f)),
    Bad("vectors-nan", "a NaN in a vector", r"row 2 \(doc 'legal-1'\): the vector holds NaN",
        lambda f: _vectors(_rows(f, lambda m: m.__setitem__((1, 3), np.nan)))(f)),
    Bad("vectors-inf", "a value beyond float32 (1e300)", r"row 5 \(doc 'legal-4'\): the vector holds NaN or infinite",
        lambda f: _vectors(pa.array([[1e300] * DIM if i == 4 else r for i, r in enumerate(f.matrix().tolist())],
                                    pa.list_(pa.float64())))(f)),
    Bad("vectors-zero", "an all-zero vector", r"the vector is all zeros",
        lambda f: _vectors(_rows(f, lambda m: m.__setitem__(0, 0.0)))(f)),
    Bad("vectors-strings", "strings inside a vector", r"holds lists of string, not numbers",
        lambda f: _vectors([[str(x) for x in r] for r in f.matrix().tolist()])(f)),
    Bad("vectors-as-text", "vectors stored as text ('[0.1, 0.2]')", r"the 'embedding' column holds string",
        lambda f: _vectors([json.dumps(r) for r in f.matrix().tolist()])(f)),
    Bad("vectors-null", "a missing (null) vector", r"row 1 \(doc 'legal-0'\): the embedding is missing",
        lambda f: _vectors(pa.array([None, *f.matrix().tolist()[1:]], pa.list_(pa.float32())))(f)),
    Bad("vectors-unknown-kind", "a vector of kind 'passage'", r"unknown kind 'passage'",
        lambda f: _vectors(f.matrix().tolist(), kinds=["passage", *f.keys[1][1:]])(f)),
    Bad("vectors-duplicate-id", "two vectors for one document", r"duplicate doc id 'legal-0'",
        lambda f: _vectors(f.matrix().tolist(), ids=["legal-0", *f.keys[0][1:-1], "legal-0"],
                           kinds=f.keys[1][:-1] + ["doc"])(f)),
    Bad("vectors-missing-id", "vectors that miss a document of the dataset", r"have no vector for 1 document",
        _pairing_case(_drop_last_doc)),
    Bad("vectors-extra-id", "vectors for a document the dataset lacks", r"hold vectors for 1 document .*'legal-99'",
        _pairing_case(_extra_doc)),
    Bad("vectors-differ", "base and tuned vectors for different ids", r"cover different ids",
        _pairing_case(_tuned_differs)),
    Bad("vectors-unknown-type", "a vector file of type .csv", r"unsupported vector file type '\.csv'",
        lambda f: ((f.work / "base.csv").write_text("id\n"),
                   Call(lambda: load_vectors(f.work / "base.csv"), f.argv(base=f.work / "base.csv")))[1]),
    Bad("npy-pickle", ".npy holding pickled Python objects", r"holds Python objects \(a pickled array\)",
        _npy_case(lambda f: _npy(f, np.array([{"__reduce__": 1}] * 30, dtype=object), _ids_frame(f), pickled=True))),
    Bad("npy-truncated", "a truncated .npy", r"its header announces shape \(30, 8\)",
        _npy_case(lambda f: (p := _npy(f, f.matrix(), _ids_frame(f)), _truncate(p, 1000))[0])),
    Bad("npy-forged-shape", ".npy whose header claims 10^12 rows", r"header announces shape \(1000000000000, 8\)",
        _npy_case(lambda f: _forged_npy(f))),
    Bad("npy-no-ids", ".npy without its ids file", r"has no ids file beside it",
        _npy_case(lambda f: _npy(f, f.matrix(), None))),
    Bad("npy-ids-count", "an ids file with one row too few", r"base\.ids\.csv has 29 rows but vec/base\.npy has 30",
        _npy_case(lambda f: _npy(f, f.matrix(), _ids_frame(f).iloc[:-1]))),
    Bad("npy-ids-mismatch", "an ids file whose ids do not match the dataset", r"have no vector for 24 documents",
        _npy_case(lambda f: _npy(f, f.matrix(), _ids_frame(f).assign(id=lambda t: "x" + t["id"])), pair=True)),
    Bad("npy-3d", ".npy of shape (30, 2, 4)", r"has shape \(30, 2, 4\); expected a 2-D array",
        _npy_case(lambda f: _npy(f, f.matrix().reshape(30, 2, 4), _ids_frame(f)))),
    Bad("npy-strings", ".npy of strings", r"holds <U3 values, not numbers",
        _npy_case(lambda f: _npy(f, np.full((30, 8), "0.1"), _ids_frame(f)))),
    # -- models, config ------------------------------------------------------------------------------------------
    Bad("model-missing", "--base pointing to a directory that does not exist", r"model directory 'work/no-model'",
        lambda f: Call(lambda: load_model(f.work / "no-model"),
                       ["compare", "--dataset", str(f.ds), "--base", str(f.work / "no-model"),
                        "--tuned-vectors", str(f.tuned), "--no-projection"])),
    Bad("model-broken", "a model directory with a broken config.json", r"could not be loaded from 'my-model'",
        lambda f: (lambda m: Call(lambda: load_model(m),
                                  ["compare", "--dataset", str(f.ds), "--base", str(m), "--tuned-vectors",
                                   str(f.tuned), "--no-projection"]))(_model_dir_with_broken_config(f))),
    Bad("config-bad-toml", "--config with broken TOML", r"config file work/bad\.toml is not valid TOML",
        lambda f: ((f.work / "bad.toml").write_text("[verdict\n"),
                   Call(lambda: load_config(f.work / "bad.toml"), f.argv("--config", str(f.work / "bad.toml"))))[1],
        app=APP_NONE),
    Bad("output-folder-missing", "--json into a folder that does not exist", r"cannot write nodir/out\.json: the "
        r"directory 'nodir' does not exist",
        lambda f: Call(lambda: check_output_path(f.work / "nodir" / "out.json"),
                       f.argv("--json", str(f.work / "nodir" / "out.json"))),
        app=APP_NONE),
    # -- parameters (command line and URL) --------------------------------------------------------------------
    Bad("run-unknown", "a run id that no run has", r"no saved run has the id 'ffffffffffffffff'",
        _param_case(lambda f: load_comparison("ffffffffffffffff"), _report_argv("ffffffffffffffff"))),
    Bad("run-traversal", "`../` in a run id", r"run id '\?\?\?\?\?\?etc\?passwd' is not valid",
        _param_case(lambda f: load_comparison("../../etc/passwd"), _report_argv("../../etc/passwd"))),
    Bad("run-malformed", "an upper-case / too long run id", r"run id 'FFFFFFFFFFFFFFFFFFFF' is not valid",
        _param_case(lambda f: check_run_id("F" * 64), _report_argv("F" * 64))),
    Bad("k-zero", "k = 0", r"k must be a whole number from 1 to 100; got '0'",
        _param_case(lambda f: check_k("0"), lambda f: f.argv("--k", "0")), app=APP_WARNING_K),
    Bad("k-huge", "k = 10^9", r"k must be a whole number from 1 to 100; got '1000000000'",
        _param_case(lambda f: check_k("1000000000"), lambda f: f.argv("--k", "1000000000")), app=APP_WARNING_K),
    Bad("k-not-a-number", "k = 'ten'", r"k must be a whole number from 1 to 100; got 'ten'",
        _param_case(lambda f: check_k("ten"), lambda f: f.argv("--k", "ten")), app=APP_WARNING_K),
    Bad("k-fraction", "k = 2.5", r"k must be a whole number from 1 to 100; got '2.5'",
        _param_case(lambda f: check_k("2.5"), lambda f: None), app=APP_WARNING_K),
    Bad("k-above-corpus", "k = 30 on a corpus of 24 documents", r"the corpus has 24 documents; k=30 needs at least 31",
        _param_case(lambda f: compare_inputs(*load_inputs([f.ds], base_vectors=f.base, tuned_vectors=f.tuned), k=30),
                    lambda f: f.argv("--k", "30"))),
    Bad("query-unknown", "a query id that is not in the run", r"query 'nope' is not in run [0-9a-f]{16}",
        _param_case(lambda f: query_topk(_saved_run(f), "nope"), lambda f: None),
        app="`st.warning`: \"query 'nope' is not in this run; pick one from the list\""),
]

#: Cases whose command-line message differs from the loader's (argparse parses the value first).
CLI_MESSAGES: dict[str, str] = {}  # every case: the command line prints the engine's own message
#: Cases that write a run on purpose before the bad input (the run the URL points into).
WRITES_RUN = {"query-unknown"}


def _message(case: Bad, files: Files) -> str:
    call = case.setup(files)
    with pytest.raises(InputError, match=case.match) as info:
        call.load()
    return str(info.value)


def _forged_npy(f: Files) -> Path:
    """A valid .npy header announcing 10^12 rows, followed by 64 bytes of data."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 8), }"
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    path = f.base.with_suffix(".npy")
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes(64))
    _ids_frame(f).to_csv(path.with_name("base.ids.csv"), index=False)
    return path


def _home_contents() -> list[str]:
    home = _run_home()
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.name != "runs" or any(p.iterdir()))


def _normalised(message: str) -> str:
    """A message as the docs show it: a run id derived from the test data becomes ``<run id>``."""
    return re.sub(r"\brun [0-9a-f]{16}\b", "run <run id>", message)


def _documented() -> dict[str, str]:
    """Case name -> exact message, from the table in docs/BAD_INPUTS.md."""
    rows: dict[str, str] = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        found = re.match(r"^\| `([a-z0-9-]+)` \|.*?\| `` (.*?) `` \|", line)
        if found:
            rows[found.group(1)] = found.group(2).replace("\\|", "|")
    return rows


# ------------------------------------------------------------------------------------------------ tests


def test_the_catalogue_has_at_least_30_distinct_inputs() -> None:
    names = [c.name for c in BAD]
    assert len(names) == len(set(names)) >= 30


def test_the_good_files_load_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without the breakage every loader succeeds and the command line saves a run: the errors below
    come from the one thing each case breaks."""
    f = make_files(tmp_path)
    assert len(load_beir(f.ds).docs) == len(load_dataset(f.tds).docs) == 2 * N_DOCS
    assert len(load_vectors(f.base)) == 2 * (N_DOCS + N_QUERIES)
    assert main(f.argv()) == 0
    assert main(f.argv(ds=f.tds)) == 0
    assert "verdict" in capsys.readouterr().out
    assert len(list((_run_home() / "runs").iterdir())) == 1  # the same dataset: the same run


@pytest.mark.parametrize("case", BAD, ids=[c.name for c in BAD])
def test_bad_input(case: Bad, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = make_files(tmp_path)
    call = case.setup(f)
    with pytest.raises(InputError, match=case.match) as info:
        call.load()
    message = str(info.value)
    assert str(tmp_path) not in message and str(f.work) not in message, "the message shows a full path"
    assert "Traceback" not in message and "\n" not in message
    documented = _documented().get(case.name)
    assert documented == _normalised(message), f"docs/BAD_INPUTS.md does not hold the message of {case.name}"
    if case.name not in WRITES_RUN:
        assert _home_contents() == []
    capsys.readouterr()

    if call.argv is None:
        return
    try:
        code = main(call.argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2
    assert CLI_MESSAGES.get(case.name, message) in err
    assert "Traceback" not in err
    assert str(tmp_path) not in err
    assert _home_contents() == [], "a failed command wrote something"


SUBPROCESS_CASES = ["jsonl-broken-line", "vectors-truncated", "npy-pickle", "run-traversal", "k-zero"]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_bad_input_real_command_line(name: str, tmp_path: Path) -> None:
    """`python -m diagnostics.cli` as a real process: exit status 2, the message, no traceback, no run."""
    case = next(c for c in BAD if c.name == name)
    f = make_files(tmp_path)
    call = case.setup(f)
    assert call.argv is not None
    home = tmp_path / "home"
    proc = subprocess.run(
        [sys.executable, "-m", "diagnostics.cli", *call.argv], capture_output=True, text=True, timeout=120,
        cwd=REPO, env={**os.environ, "EMBDIFF_HOME": str(home), "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 2, proc.stderr
    assert f"embdiff: error: {_documented()[name]}" in proc.stderr
    assert "Traceback" not in proc.stderr and str(tmp_path) not in proc.stderr
    assert proc.stdout == ""
    assert not (home / "runs").exists() or list((home / "runs").iterdir()) == []


def test_every_documented_case_is_tested() -> None:
    assert set(_documented()) == {c.name for c in BAD}


# ------------------------------------------------------------------------------------------ the docs


def catalogue_rows(root: Path) -> list[str]:
    """The table rows of docs/BAD_INPUTS.md, from the cases (``python tests/test_bad_inputs.py``)."""
    import tempfile

    rows = []
    for case in BAD:
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            os.environ["EMBDIFF_HOME"] = str(Path(tmp) / "home")
            f = make_files(Path(tmp))
            call = case.setup(f)
            try:
                call.load()
            except InputError as err:
                message = str(err)
            else:
                raise AssertionError(f"{case.name} raised nothing")
        cli = "exit 2" if call.argv is not None else "—"
        if case.name in CLI_MESSAGES:
            cli = f"exit 2: `{CLI_MESSAGES[case.name]}`"
        what = case.what.replace("|", "\\|")
        app = case.app
        shown = _normalised(message).replace("|", "\\|")
        rows.append(f"| `{case.name}` | {what} | {cli} | {app} | `` {shown} `` |")
    return rows


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print("\n".join(catalogue_rows(Path(tmp))))


# ------------------------------------------------------------------------ paths typed into the app


@pytest.fixture
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Two data roots (``data`` and ``more``) with a dataset in the first; the working directory is elsewhere."""
    data, more, elsewhere = tmp_path / "data", tmp_path / "more", tmp_path / "elsewhere"
    for folder in (data / "team-a", more, elsewhere):
        folder.mkdir(parents=True)
    (data / "team-a" / "docs.csv").write_text("id,text,domain\nd1,t,x\n")
    (elsewhere / "secret.csv").write_text("id,text,domain\ns1,secret,x\n")
    monkeypatch.setenv("EMBDIFF_DATA_ROOTS", f"{data}{os.pathsep}{more}")
    monkeypatch.chdir(elsewhere)
    return data, more


def test_data_roots_setting(roots: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from diagnostics.sample import SAMPLE_DIR
    from ui.runner import data_roots

    assert data_roots() == [roots[0].resolve(), roots[1].resolve()]
    monkeypatch.delenv("EMBDIFF_DATA_ROOTS")
    assert data_roots() == [(tmp_path / "elsewhere").resolve(), SAMPLE_DIR.resolve()]  # default: cwd + sample


@pytest.mark.parametrize("typed", ["{data}", "{data}/team-a", "{data}/team-a/docs.csv", "{more}",
                                   "{data}/team-a/../team-a", "{data}/not-yet-there", " {data}/team-a "])
def test_paths_inside_the_roots_are_allowed(typed: str, roots: tuple[Path, Path]) -> None:
    from ui.runner import confine

    data, more = roots
    path = confine(typed.format(data=data, more=more))
    assert path.is_absolute() and (path.is_relative_to(data.resolve()) or path.is_relative_to(more.resolve()))


@pytest.mark.parametrize("typed", [
    "/etc/passwd", "/etc", "/", "..", "../secret.csv", "secret.csv", "~", "~/.ssh/id_rsa",
    "{data}/../elsewhere/secret.csv", "{data}/team-a/../../elsewhere", "{data}-sibling/x", "{data}2",
    "/proc/self/environ", "/dev/zero", "{data}/" + "../" * 50 + "etc/passwd",
])
def test_paths_outside_the_roots_are_refused(typed: str, roots: tuple[Path, Path]) -> None:
    from ui.runner import confine

    data, _ = roots
    text = typed.format(data=data)
    with pytest.raises(InputError, match="is outside the data folders this server allows; ask the admin to add its "
                                         "folder to EMBDIFF_DATA_ROOTS, or upload the files instead") as info:
        confine(text)
    message = str(info.value)
    assert str(data) not in message and "/etc" not in message and str(Path.home()) not in message


def test_symlinks_are_followed_before_the_check(roots: tuple[Path, Path], tmp_path: Path) -> None:
    from ui.runner import confine

    data, _ = roots
    (data / "escape").symlink_to(tmp_path / "elsewhere")
    (data / "passwd").symlink_to("/etc/passwd")
    (data / "alias").symlink_to(data / "team-a")
    for typed in (data / "escape", data / "escape" / "secret.csv", data / "passwd"):
        with pytest.raises(InputError, match="is outside the data folders"):
            confine(str(typed))
    assert confine(str(data / "alias" / "docs.csv")) == (data / "team-a" / "docs.csv").resolve()


@pytest.mark.parametrize("typed", ["", "   ", "\n"])
def test_empty_paths_are_refused(typed: str, roots: tuple[Path, Path]) -> None:
    from ui.runner import confine

    with pytest.raises(InputError, match="an empty path was given"):
        confine(typed)


def test_a_nul_byte_is_refused(roots: tuple[Path, Path]) -> None:
    from ui.runner import confine

    with pytest.raises(InputError):
        confine(f"{roots[0]}/team-a\x00/etc/passwd")


class _Progress:
    """Stands in for the Streamlit container the runner draws its progress bars into."""

    def progress(self, *args: object, **kwargs: object) -> _Progress:
        return self


def test_files_inside_a_confined_folder_cannot_link_outside(roots: tuple[Path, Path], tmp_path: Path) -> None:
    from ui.runner import run_paths

    data, _ = roots
    f = make_files(tmp_path / "outside")  # a dataset outside the data roots
    folder = data / "innocent"
    folder.mkdir()
    for name in ("corpus.jsonl", "queries.jsonl", "qrels"):
        (folder / name).symlink_to(f.ds / name)
    (data / "base.parquet").write_bytes(f.base.read_bytes())
    (data / "tuned.parquet").write_bytes(f.tuned.read_bytes())
    with pytest.raises(InputError, match="outside the data folders"):
        run_paths(_Progress(), [str(folder)], base=str(data / "base.parquet"), tuned=str(data / "tuned.parquet"),
                  base_is_vectors=True, tuned_is_vectors=True, k=5, projection=False)


def test_model_paths_are_confined_too(roots: tuple[Path, Path], tmp_path: Path) -> None:
    from ui.runner import run_paths

    data, _ = roots
    f = make_files(data)
    with pytest.raises(InputError, match="outside the data folders"):
        run_paths(_Progress(), [str(f.ds)], base="/etc/", tuned=str(f.tuned), base_is_vectors=False,
                  tuned_is_vectors=True, k=5, projection=False)


def test_an_adapters_base_path_is_confined_too(roots: tuple[Path, Path], tmp_path: Path) -> None:
    """A PEFT adapter inside the data roots may not name a base model outside them."""
    from ui.runner import model_or_path

    data, _ = roots
    outside = tmp_path / "elsewhere" / "base"
    outside.mkdir(parents=True)
    adapter = data / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    for base, allowed in ((str(outside), False), ("../../elsewhere/base", False),
                          ("sentence-transformers/all-MiniLM-L6-v2", True)):
        (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base}), encoding="utf-8")
        if allowed:
            assert model_or_path(str(adapter)) == str(adapter.resolve())
        else:
            with pytest.raises(InputError, match="outside the data folders"):
                model_or_path(str(adapter))


def test_upload_limit_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.runner import DEFAULT_MAX_UPLOAD_MB, max_upload_bytes

    monkeypatch.delenv("EMBDIFF_MAX_UPLOAD_MB", raising=False)
    assert max_upload_bytes() == DEFAULT_MAX_UPLOAD_MB * 1024 * 1024 == 200 * 1024 * 1024
    monkeypatch.setenv("EMBDIFF_MAX_UPLOAD_MB", "5")
    assert max_upload_bytes() == 5 * 1024 * 1024
    monkeypatch.setenv("EMBDIFF_MAX_UPLOAD_MB", "0.5")
    assert max_upload_bytes() == 512 * 1024


class _Upload:
    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.size, self._data = name, len(data), data

    def getvalue(self) -> bytes:
        return self._data


def test_uploads_over_the_limit_are_refused_before_anything_is_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ui.runner import run_uploads

    monkeypatch.setenv("EMBDIFF_MAX_UPLOAD_MB", "1")
    f = make_files(tmp_path)
    big = _Upload("corpus.jsonl", b" " * (1024 * 1024 + 1))
    with pytest.raises(InputError, match=r"'corpus\.jsonl' is 1 MB; uploads are limited to 1 MB"):
        run_uploads(_Progress(), [big], _Upload("base.parquet", f.base.read_bytes()),
                    _Upload("tuned.parquet", f.tuned.read_bytes()), k=5, projection=False)
    with pytest.raises(InputError, match=r"file name '\.\./\.\./etc/cron\.d/x' is not allowed"):
        run_uploads(_Progress(), [_Upload("../../etc/cron.d/x", b"x")], _Upload("base.parquet", b"x"),
                    _Upload("tuned.parquet", b"x"), k=5, projection=False)
    assert _home_contents() == []


@pytest.mark.parametrize("value", ["abc", "inf", "nan", "-5"])
def test_a_malformed_upload_limit_is_named(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.runner import max_upload_bytes

    monkeypatch.setenv("EMBDIFF_MAX_UPLOAD_MB", value)
    with pytest.raises(InputError, match="EMBDIFF_MAX_UPLOAD_MB"):
        max_upload_bytes()


# ------------------------------------------------------------------------------------------ the app

def _page_inputs(argv: list[str]) -> dict[str, str]:
    """The Load page's "Paths on this server" fields for a ``compare`` command line."""
    args = [a for a in argv[1:] if a != "--no-projection"]
    fields = dict(zip(args[::2], args[1::2], strict=True))
    assert argv[0] == "compare" and set(fields) <= {"--dataset", "--base", "--base-vectors", "--tuned-vectors", "--k"}
    return fields


# Run ids reach the app through the URL, not the Load page: tests/test_app.py checks their st.error.
APP_CASES = [c for c in BAD if c.app == APP_ERROR and not c.name.startswith("run-")]


@pytest.mark.parametrize("case", APP_CASES, ids=[c.name for c in APP_CASES])
def test_the_app_shows_the_same_message(case: Bad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Typed into the Load page, each file-borne bad input gives st.error with the loader's message and
    writes no run."""
    from streamlit.testing.v1 import AppTest

    f = make_files(tmp_path)
    call = case.setup(f)
    fields = _page_inputs(call.argv or [])
    with pytest.raises(InputError) as info:
        call.load()
    monkeypatch.setenv("EMBDIFF_DATA_ROOTS", str(tmp_path))
    app = str(Path(__file__).resolve().parents[1] / "app.py")
    at = AppTest.from_file(app, default_timeout=60).run()
    [radio] = [r for r in at.radio if r.label == "Data"]
    radio.set_value("Paths on this server").run()
    at.text_area[0].set_value(fields["--dataset"])
    [base] = [t for t in at.text_input if t.label.startswith("Base")]
    [tuned] = [t for t in at.text_input if t.label.startswith("Tuned")]
    base.set_value(fields.get("--base-vectors") or fields["--base"])
    tuned.set_value(fields["--tuned-vectors"])
    vector_boxes = {"tuned is a vector file"} | ({"base is a vector file"} if "--base-vectors" in fields else set())
    for box in at.checkbox:
        box.set_value(box.label in vector_boxes)
    if "--k" in fields:
        at.number_input[0].set_value(int(fields["--k"]))
    [button] = [b for b in at.button if b.label == "Compare"]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [re.sub(r"\\(.)", r"\1", e.value).replace("\u200b", "") for e in at.error]
    assert len(shown) == 1 and str(info.value) in shown[0], (shown, str(info.value))
    assert str(tmp_path) not in at.error[0].value
    assert _home_contents() == [], "a failed comparison in the app wrote something"
