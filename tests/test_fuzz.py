"""Fuzzing the loaders: random and mutated bytes, JSON, CSV, Parquet and .npy files.

Whatever the file holds, a loader either returns its result or raises :class:`InputError` (the one
documented error type, see docs/BAD_INPUTS.md): never another exception, never a hang (each call
runs under a 10 s alarm). Examples are bounded (150 per test), reproducible (hypothesis's derandomised
mode), and no example database is written; ``EMBDIFF_FUZZ_EXAMPLES=5000`` runs a longer random campaign.
"""

from __future__ import annotations

import io
import json
import os
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnostics._validation import InputError, check_k, check_run_id
from diagnostics.dataset import Dataset, load_beir, load_dataset, load_tables
from diagnostics.vectors import VectorFile, load_vectors

# EMBDIFF_FUZZ_EXAMPLES=5000 runs a longer, randomly seeded campaign (the default run is derandomised).
_CAMPAIGN = os.environ.get("EMBDIFF_FUZZ_EXAMPLES")
SETTINGS = settings(
    max_examples=int(_CAMPAIGN or 150), deadline=None, derandomize=_CAMPAIGN is None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
TIME_LIMIT_SECONDS = 10


class Hang(BaseException):
    """A loader ran longer than the time limit (a BaseException, so no ``except Exception`` hides it)."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def _alarm(signum: int, frame: object) -> None:
        raise Hang(f"the loader ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def only_input_errors(call: Callable[[], object]) -> object | None:
    """Run a loader; return its result, or ``None`` when it raised InputError. Anything else propagates."""
    with _time_limit(TIME_LIMIT_SECONDS):
        try:
            return call()
        except InputError as err:
            assert str(err).strip(), "an InputError without a message"
            assert "Traceback" not in str(err)
            return None


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _folder(root: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=root))


# ------------------------------------------------------------------------------------- valid seeds

DOCS = [
    {"_id": "d1", "title": "Cats", "text": "Cats purr.", "domain": "pets"},
    {"_id": "d2", "title": "", "text": "Contracts bind.", "metadata": {"domain": "legal"}},
    {"_id": "d3", "text": "Dogs bark.", "domain": "pets"},
]
QUERIES = [
    {"_id": "q1", "text": "do cats purr", "domain": "pets"},
    {"_id": "q2", "text": "what binds", "domain": "legal"},
]
SEED_CORPUS = "".join(json.dumps(r) + "\n" for r in DOCS).encode()
SEED_QUERIES = "".join(json.dumps(r) + "\n" for r in QUERIES).encode()
SEED_QRELS = b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\n"
SEED_CSV = b'id,title,text,domain\nd1,Cats,"Cats purr, loudly.",pets\nd2,,Contracts bind.,legal\n'


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


SEED_PARQUET = _parquet_bytes(pa.table({"id": ["d1", "d2"], "text": ["Cats purr.", "Contracts bind."],
                                        "domain": ["pets", "legal"]}))
SEED_VECTORS = _parquet_bytes(pa.table({
    "id": ["d1", "d2", "d3", "q1"], "kind": ["doc", "doc", "doc", "query"],
    "embedding": pa.array(np.arange(1, 17, dtype=np.float32).reshape(4, 4).tolist(), pa.list_(pa.float32())),
}))
_npy = io.BytesIO()
np.save(_npy, np.arange(1, 13, dtype=np.float32).reshape(3, 4))
SEED_NPY = _npy.getvalue()
SEED_IDS = b"id,kind\nd1,doc\nd2,doc\nq1,query\n"


# ---------------------------------------------------------------------------------------- strategies


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` after 1-4 mutations: flip a byte, delete a range, insert bytes, truncate, duplicate a range."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "repeat"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "truncate":
            del data[at:]
        elif op == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


def file_bytes(seed: bytes) -> st.SearchStrategy[bytes]:
    """The seed itself, a mutation of it, or random bytes."""
    return st.one_of(st.just(seed), mutated(seed), st.binary(max_size=512))


JSON_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c,
                                                                                                 max_size=3),
                           max_leaves=8)
KEYS = st.sampled_from(["_id", "id", "ID", " id ", "text", "title", "domain", "metadata", "kind", "score",
                        "query-id", "corpus-id", "embedding"]) | st.text(max_size=6)
RECORDS = st.dictionaries(KEYS, JSON_VALUES | st.text(max_size=12), max_size=6)


@st.composite
def json_lines(draw: st.DrawFn) -> bytes:
    """JSON Lines: objects with the expected keys and random values, plus stray lines."""
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["record", "record", "record", "value", "text", "blank"]))
        if kind == "record":
            lines.append(json.dumps(draw(RECORDS), allow_nan=True))
        elif kind == "value":
            lines.append(json.dumps(draw(JSON_VALUES), allow_nan=True))
        elif kind == "text":
            lines.append(draw(st.text(max_size=30)).replace("\n", " "))
        else:
            lines.append("")
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))
    return text.encode("utf-8", "surrogatepass")


CSV_FIELDS = st.one_of(
    st.sampled_from(["d1", "d2", "q1", "pets", "legal", "doc", "query", "1", "0", "-1", "1.5", "", "NaN", "null"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12),
)


@st.composite
def csv_text(draw: st.DrawFn, sep: str = ",") -> bytes:
    header = draw(st.lists(st.sampled_from(["id", "_id", "title", "text", "domain", "kind", "query-id",
                                            "corpus-id", "score", "ID", ""]) | st.text(max_size=5),
                           min_size=0, max_size=5))
    rows = draw(st.lists(st.lists(CSV_FIELDS, max_size=6), max_size=6))
    quote = draw(st.booleans())

    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if quote else value

    lines = [sep.join(cell(h) for h in header)] + [sep.join(cell(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


ARROW_COLUMNS: dict[str, Callable[[int], st.SearchStrategy[pa.Array]]] = {
    "string": lambda n: st.lists(st.none() | st.text(max_size=8), min_size=n, max_size=n).map(
        lambda v: pa.array(v, pa.string())),
    "int": lambda n: st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n).map(
        lambda v: pa.array(v, pa.int64())),
    "float": lambda n: st.lists(st.none() | st.floats(), min_size=n, max_size=n).map(
        lambda v: pa.array(v, pa.float64())),
    "bool": lambda n: st.lists(st.none() | st.booleans(), min_size=n, max_size=n).map(
        lambda v: pa.array(v, pa.bool_())),
    "binary": lambda n: st.lists(st.none() | st.binary(max_size=6), min_size=n, max_size=n).map(
        lambda v: pa.array(v, pa.binary())),
    "float_list": lambda n: st.lists(st.none() | st.lists(st.none() | st.floats(width=32), max_size=4),
                                     min_size=n, max_size=n).map(lambda v: pa.array(v, pa.list_(pa.float32()))),
    "string_list": lambda n: st.lists(st.none() | st.lists(st.text(max_size=3), max_size=3), min_size=n,
                                      max_size=n).map(lambda v: pa.array(v, pa.list_(pa.string()))),
    "fixed_list": lambda n: st.lists(st.lists(st.floats(width=32), min_size=3, max_size=3), min_size=n,
                                     max_size=n).map(lambda v: pa.array(v, pa.list_(pa.float32(), 3))),
    "dictionary": lambda n: st.lists(st.sampled_from(["doc", "query", "pets", "x"]), min_size=n, max_size=n).map(
        lambda v: pa.array(v).dictionary_encode()),
    "struct": lambda n: st.lists(st.fixed_dictionaries({"domain": st.text(max_size=4)}), min_size=n,
                                 max_size=n).map(lambda v: pa.array(v)),
    "timestamp": lambda n: st.lists(st.integers(0, 2**40), min_size=n, max_size=n).map(
        lambda v: pa.array(v, pa.timestamp("s"))),
}


@st.composite
def arrow_tables(draw: st.DrawFn) -> bytes:
    """A Parquet file of 0-5 rows whose columns carry the expected names (or others) and any type."""
    n = draw(st.integers(0, 5))
    names = draw(st.lists(st.sampled_from(["id", "_id", "text", "title", "domain", "kind", "embedding", "vector",
                                           "query-id", "corpus-id", "score", "metadata", "ID"]), max_size=6,
                          unique=True))
    columns = {name: draw(ARROW_COLUMNS[draw(st.sampled_from(sorted(ARROW_COLUMNS)))](n)) for name in names}
    table = pa.table(columns) if columns else pa.table({"_": pa.array([None] * n, pa.null())})
    return _parquet_bytes(table)


NPY_DTYPES = ["<f4", ">f8", "<f2", "<i4", "|u1", "|b1", "<c8", "<U3", "|S2", "<M8[s]", "O", "V4"]


@st.composite
def npy_arrays(draw: st.DrawFn) -> bytes:
    """A .npy of any dtype and 0-3 dimensions (object arrays are saved pickled, as an attacker would)."""
    dtype = np.dtype(draw(st.sampled_from(NPY_DTYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    size = int(np.prod(shape)) if shape else 1
    raw = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=size, max_size=size))
    if dtype.kind == "O":
        array = np.array(raw + [None], dtype=object)[:size].reshape(shape)
    elif dtype.kind in "USV" or dtype.kind == "M":
        array = np.zeros(shape, dtype=dtype)
    else:
        with np.errstate(all="ignore"):
            array = np.asarray(raw, dtype=np.float64).reshape(shape).astype(dtype)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=dtype.hasobject)
    return buffer.getvalue()


# -------------------------------------------------------------------------------------------- tests


@SETTINGS
@given(corpus=st.one_of(file_bytes(SEED_CORPUS), json_lines()),
       queries=st.none() | file_bytes(SEED_QUERIES) | json_lines(),
       qrels=st.none() | file_bytes(SEED_QRELS) | csv_text(sep="\t"))
def test_load_beir(scratch: Path, corpus: bytes, queries: bytes | None, qrels: bytes | None) -> None:
    root = _folder(scratch) / "collection"
    root.mkdir()
    (root / "corpus.jsonl").write_bytes(corpus)
    if queries is not None:
        (root / "queries.jsonl").write_bytes(queries)
    if qrels is not None:
        (root / "qrels").mkdir()
        (root / "qrels" / "test.tsv").write_bytes(qrels)
    result = only_input_errors(lambda: load_beir(root))
    if result is not None:
        _check_dataset(result)


@SETTINGS
@given(docs=st.one_of(file_bytes(SEED_CSV), csv_text()), queries=st.none() | csv_text(),
       qrels=st.none() | csv_text() | csv_text(sep="\t"), qrels_suffix=st.sampled_from([".csv", ".tsv"]))
def test_load_tables_csv(
    scratch: Path, docs: bytes, queries: bytes | None, qrels: bytes | None, qrels_suffix: str
) -> None:
    folder = _folder(scratch)
    paths = _write(folder, {"docs.csv": docs, "queries.csv": queries, f"qrels{qrels_suffix}": qrels})
    result = only_input_errors(lambda: load_tables(paths["docs.csv"], queries=paths.get("queries.csv"),
                                                   qrels=paths.get(f"qrels{qrels_suffix}")))
    if result is not None:
        _check_dataset(result)


@SETTINGS
@given(docs=st.one_of(file_bytes(SEED_CORPUS), json_lines()), queries=st.none() | json_lines())
def test_load_tables_jsonl(scratch: Path, docs: bytes, queries: bytes | None) -> None:
    folder = _folder(scratch)
    paths = _write(folder, {"docs.jsonl": docs, "queries.jsonl": queries})
    result = only_input_errors(
        lambda: load_tables(paths["docs.jsonl"], queries=paths.get("queries.jsonl"), default_domain="fuzz")
    )
    if result is not None:
        _check_dataset(result)


@SETTINGS
@given(docs=st.one_of(file_bytes(SEED_PARQUET), arrow_tables()), qrels=st.none() | arrow_tables())
def test_load_tables_parquet(scratch: Path, docs: bytes, qrels: bytes | None) -> None:
    folder = _folder(scratch)
    paths = _write(folder, {"docs.parquet": docs, "queries.parquet": docs if qrels else None,
                            "qrels.parquet": qrels})
    result = only_input_errors(lambda: load_tables(paths["docs.parquet"], queries=paths.get("queries.parquet"),
                                                   qrels=paths.get("qrels.parquet")))
    if result is not None:
        _check_dataset(result)


@SETTINGS
@given(files=st.dictionaries(st.sampled_from(["docs.csv", "docs.jsonl", "docs.parquet", "queries.csv",
                                               "qrels.tsv", "qrels.parquet", "corpus.jsonl"]),
                             st.binary(max_size=200) | json_lines() | csv_text(), max_size=4))
def test_load_dataset_directory(scratch: Path, files: dict[str, bytes]) -> None:
    """A directory holding any mix of files: load_dataset picks the layout and validates it."""
    folder = _folder(scratch)
    _write(folder, dict(files))
    result = only_input_errors(lambda: load_dataset(folder))
    if result is not None:
        _check_dataset(result)


@SETTINGS
@given(data=st.one_of(file_bytes(SEED_VECTORS), arrow_tables()))
def test_load_vectors_parquet(scratch: Path, data: bytes) -> None:
    path = _folder(scratch) / "vectors.parquet"
    path.write_bytes(data)
    result = only_input_errors(lambda: load_vectors(path))
    if result is not None:
        _check_vectors(result)


@SETTINGS
@given(array=st.one_of(file_bytes(SEED_NPY), npy_arrays()),
       ids=st.one_of(st.just(SEED_IDS), mutated(SEED_IDS), csv_text()))
def test_load_vectors_npy(scratch: Path, array: bytes, ids: bytes) -> None:
    folder = _folder(scratch)
    (folder / "vectors.npy").write_bytes(array)
    (folder / "vectors.ids.csv").write_bytes(ids)
    result = only_input_errors(lambda: load_vectors(folder / "vectors.npy"))
    if result is not None:
        _check_vectors(result)


@SETTINGS
@given(value=st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.none(), st.booleans(),
                       st.binary(max_size=8), st.lists(st.integers(), max_size=2)))
def test_parameters(value: Any) -> None:
    """Run ids and k from a URL or a command line: a valid value or InputError, nothing else."""
    run_id = only_input_errors(lambda: check_run_id(value))
    assert run_id is None or (isinstance(run_id, str) and len(run_id) == 16)
    k = only_input_errors(lambda: check_k(value))
    assert k is None or (isinstance(k, int) and 1 <= k <= 100)


def test_a_slow_loader_is_reported_as_a_hang() -> None:
    """The time limit works: without it a hanging loader would block the whole test run."""
    import time

    with pytest.raises(Hang), _time_limit(0.2):
        time.sleep(5)


# ------------------------------------------------------------------------------------------ helpers


def _write(folder: Path, files: dict[str, bytes | None]) -> dict[str, Path]:
    paths = {}
    for name, data in files.items():
        if data is not None:
            paths[name] = folder / name
            paths[name].write_bytes(data)
    return paths


def _check_dataset(dataset: object) -> None:
    """What a loader returns is a valid Dataset: unique non-empty string ids, integer scores."""
    assert isinstance(dataset, Dataset)
    assert len(dataset.docs) > 0
    for frame in (dataset.docs, dataset.queries):
        assert frame["id"].is_unique
        assert all(isinstance(i, str) and i for i in frame["id"])
        assert all(isinstance(d, str) and d for d in frame["domain"])
    assert set(dataset.qrels["query_id"]) <= set(dataset.queries["id"])
    assert set(dataset.qrels["doc_id"]) <= set(dataset.docs["id"])
    assert dataset.qrels["score"].dtype == np.int64
    dataset.fingerprint()
    assert isinstance(dataset.summary(), pd.DataFrame)


def _check_vectors(vectors: object) -> None:
    """What load_vectors returns is finite, non-zero float32 with one (kind, id) per row."""
    assert isinstance(vectors, VectorFile)
    assert vectors.matrix.dtype == np.float32 and vectors.matrix.ndim == 2 and vectors.matrix.shape[1] > 0
    assert np.isfinite(vectors.matrix).all() and vectors.matrix.any(axis=1).all()
    assert len(vectors.ids) == len(vectors.kinds) == len(vectors)
    assert set(vectors.kinds.tolist()) <= {"doc", "query"}
    assert len(set(zip(vectors.kinds.tolist(), vectors.ids.tolist(), strict=True))) == len(vectors)
