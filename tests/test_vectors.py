"""Vector files: Parquet and .npy round trips, matching to a dataset, and every validation error."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from diagnostics import vectors as vectors_module
from diagnostics._validation import InputError
from diagnostics.dataset import Dataset, load_dataset, load_tables
from diagnostics.vectors import (
    Embeddings,
    VectorFile,
    attach_vectors,
    load_vector_pair,
    load_vectors,
    pair_vectors,
    write_vectors,
)

IDS = np.array(["d1", "d2", "d3", "q1", "q2"])
KINDS = np.array(["doc", "doc", "doc", "query", "query"])


def _matrix(n: int = 5, dim: int = 4, *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def _raises(match: str, call: Callable[[], object], *, hidden: Path | None = None) -> InputError:
    with pytest.raises(InputError, match=match) as info:
        call()
    if hidden is not None:
        assert str(hidden) not in str(info.value)
    return info.value


@pytest.fixture
def dataset(tmp_path: Path) -> Dataset:
    docs = pd.DataFrame({"id": ["d1", "d2", "d3"], "text": ["a", "b", "c"], "domain": ["x", "y", "x"]})
    queries = pd.DataFrame({"id": ["q1", "q2"], "text": ["qa", "qb"], "domain": ["x", "y"]})
    docs.to_csv(tmp_path / "docs.csv", index=False)
    queries.to_csv(tmp_path / "queries.csv", index=False)
    return load_tables(tmp_path / "docs.csv", queries=tmp_path / "queries.csv")


def _parquet(path: Path, ids: list[object], kinds: list[object], embedding: pa.Array) -> Path:
    pq.write_table(pa.table({"id": ids, "kind": kinds, "embedding": embedding}), path)
    return path


# ----------------------------------------------------------------------------------------- round trips


def test_parquet_round_trip(tmp_path: Path) -> None:
    matrix = _matrix()
    path = write_vectors(tmp_path / "base.parquet", IDS, KINDS, matrix)
    vectors = load_vectors(path)
    assert isinstance(vectors, VectorFile)
    assert vectors.ids.tolist() == IDS.tolist() and vectors.kinds.tolist() == KINDS.tolist()
    assert vectors.matrix.dtype == np.float32 and vectors.matrix.shape == (5, 4) and vectors.dim == 4
    np.testing.assert_array_equal(vectors.matrix, matrix)
    assert vectors.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert vectors.path == path and len(vectors) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["base.parquet"]  # no temporary file left behind


def test_write_vectors_replaces_and_leaves_old_file_when_input_is_bad(tmp_path: Path) -> None:
    path = write_vectors(tmp_path / "v.parquet", IDS, KINDS, _matrix(seed=1))
    write_vectors(path, IDS, KINDS, _matrix(seed=2))
    np.testing.assert_array_equal(load_vectors(path).matrix, _matrix(seed=2))
    bad = _matrix(seed=3)
    bad[1, 2] = np.nan
    _raises(r"v.parquet, row 2 \(doc 'd2'\): the vector holds NaN", lambda: write_vectors(path, IDS, KINDS, bad))
    np.testing.assert_array_equal(load_vectors(path).matrix, _matrix(seed=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.parquet"]


def test_write_vectors_input_errors(tmp_path: Path) -> None:
    _raises(
        r"ids \(5\), kinds \(4\) and matrix rows \(5\)",
        lambda: write_vectors(tmp_path / "v.parquet", IDS, KINDS[:4], _matrix()),
    )
    _raises("unknown kind 'passage'", lambda: write_vectors(tmp_path / "v.parquet", IDS, ["passage"] * 5, _matrix()))
    _raises(
        "matrix must be a 2-D numeric array", lambda: write_vectors(tmp_path / "v.parquet", IDS, KINDS, _matrix()[0])
    )
    _raises("give the file a .parquet extension", lambda: write_vectors(tmp_path / "v.npy", IDS, KINDS, _matrix()))
    _raises(
        "does not exist; create it first", lambda: write_vectors(tmp_path / "no" / "v.parquet", IDS, KINDS, _matrix())
    )


@pytest.mark.parametrize("ids_ext", ["csv", "jsonl", "parquet"])
def test_npy_round_trip_with_sibling_ids(tmp_path: Path, ids_ext: str) -> None:
    matrix = _matrix(dim=3).astype(np.float64)
    np.save(tmp_path / "tuned.npy", matrix)
    ids = pd.DataFrame({"id": IDS, "kind": KINDS})
    target = tmp_path / f"tuned.ids.{ids_ext}"
    if ids_ext == "csv":
        ids.to_csv(target, index=False)
    elif ids_ext == "jsonl":
        ids.to_json(target, orient="records", lines=True)
    else:
        ids.to_parquet(target, index=False)
    vectors = load_vectors(tmp_path / "tuned.npy")
    assert vectors.ids.tolist() == IDS.tolist() and vectors.kinds.tolist() == KINDS.tolist()
    assert vectors.matrix.dtype == np.float32
    np.testing.assert_allclose(vectors.matrix, matrix, rtol=1e-6)
    expected = hashlib.sha256((tmp_path / "tuned.npy").read_bytes() + target.read_bytes()).hexdigest()
    assert vectors.sha256 == expected


def test_npy_with_explicit_ids_path_and_integer_ids(tmp_path: Path) -> None:
    np.save(tmp_path / "m.npy", np.arange(1, 7, dtype=np.int64).reshape(2, 3))
    (tmp_path / "elsewhere.jsonl").write_text(
        '{"id": 10, "kind": "doc"}\n{"id": 11, "kind": "doc"}\n', encoding="utf-8"
    )
    vectors = load_vectors(tmp_path / "m.npy", ids_path=tmp_path / "elsewhere.jsonl")
    assert vectors.ids.tolist() == ["10", "11"]
    np.testing.assert_array_equal(vectors.matrix, [[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize(
    "embedding",
    [
        pa.array([[1.0, 2.0], [3.0, 4.0]], pa.list_(pa.float64())),
        pa.array([[1.0, 2.0], [3.0, 4.0]], pa.large_list(pa.float32())),
        pa.FixedSizeListArray.from_arrays(pa.array([1.0, 2.0, 3.0, 4.0], pa.float16()), 2),
        pa.array([[1, 2], [3, 4]], pa.list_(pa.int32())),
    ],
    ids=["list-float64", "large-list-float32", "fixed-size-float16", "list-int32"],
)
def test_parquet_list_types_are_accepted(tmp_path: Path, embedding: pa.Array) -> None:
    path = _parquet(tmp_path / "v.parquet", ["a", "b"], ["doc", "query"], embedding)
    np.testing.assert_array_equal(load_vectors(path).matrix, np.array([[1, 2], [3, 4]], dtype=np.float32))


def test_parquet_read_in_several_row_groups(tmp_path: Path) -> None:
    matrix = _matrix(n=50, dim=3)
    table = pa.table(
        {
            "id": [f"d{i}" for i in range(50)],
            "kind": ["doc"] * 50,
            "embedding": pa.array(matrix.tolist(), pa.list_(pa.float32())),
        }
    )
    pq.write_table(table, tmp_path / "v.parquet", row_group_size=7)
    np.testing.assert_array_equal(load_vectors(tmp_path / "v.parquet").matrix, matrix)


def test_one_row_group_is_streamed_not_held_beside_the_matrix(tmp_path: Path) -> None:
    """pyarrow writes up to 1Mi rows as one row group; reading its embedding column must not hold the whole
    column chunk beside the matrix it decodes into. Measured in a fresh process by the kernel's peak RSS
    (Arrow's buffers are invisible to tracemalloc): 2.0x the matrix streamed, 2.8x with the chunk held at these
    100k rows (ids, kinds and Arrow's pool are the rest: at 300k rows 1.4x streamed)."""
    n, dim = 100_000, 384
    path = write_vectors(tmp_path / "v.parquet", [f"d{i}" for i in range(n)], ["doc"] * n,
                         np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32))
    assert pq.ParquetFile(path).metadata.num_row_groups == 1
    code = (
        "import re, sys\nfrom pathlib import Path\nfrom diagnostics.vectors import load_vectors\n"
        "hwm = lambda: int(re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text())[1]) * 1024\n"
        "Path('/proc/self/clear_refs').write_text('5')  # the peak from here on, not the imports'\n"
        "before = hwm()\nmatrix = load_vectors(sys.argv[1]).matrix\n"
        "print((hwm() - before) / matrix.nbytes)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    ratio = float(done.stdout)
    assert ratio < 2.4, f"reading took {ratio:.2f}x the matrix"


@pytest.mark.parametrize("where", ["first batch", "later batch"])
def test_parquet_errors_name_the_row_across_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    # the embedding column is decoded a batch at a time: a bad row in any batch is named by its file row
    monkeypatch.setattr(vectors_module, "_READ_BATCH", 4)
    bad = 2 if where == "first batch" else 9
    ids = [f"d{i}" for i in range(12)]
    values: list[list[float] | None] = [[float(i), 1.0] for i in range(12)]
    values[bad] = [1.0]
    path = _parquet(tmp_path / "ragged.parquet", ids, ["doc"] * 12, pa.array(values))
    _raises(rf"row {bad + 1} \(doc 'd{bad}'\): the embedding has 1 values but row 1 has 2", lambda: load_vectors(path))
    values[bad] = None
    path = _parquet(tmp_path / "null.parquet", ids, ["doc"] * 12, pa.array(values))
    _raises(rf"row {bad + 1} \(doc 'd{bad}'\): the embedding is missing", lambda: load_vectors(path))
    values[bad] = [1.0, None]
    path = _parquet(tmp_path / "value.parquet", ids, ["doc"] * 12, pa.array(values))
    _raises(rf"row {bad + 1} \(doc 'd{bad}'\): the embedding holds a null value", lambda: load_vectors(path))
    matrix = _matrix(n=12, dim=3)
    path = _parquet(tmp_path / "good.parquet", ids, ["doc"] * 12, pa.array(matrix.tolist(), pa.list_(pa.float64())))
    np.testing.assert_array_equal(load_vectors(path).matrix, matrix)


# ------------------------------------------------------------------------------------ attach and pair


def test_attach_follows_dataset_order_and_normalises(tmp_path: Path, dataset: Dataset) -> None:
    matrix = _matrix(dim=6)
    order = [4, 2, 0, 3, 1]  # the file is in another order than the dataset
    path = write_vectors(tmp_path / "base.parquet", IDS[order], KINDS[order], matrix[order])
    emb = attach_vectors(dataset, load_vectors(path), role="base")
    assert isinstance(emb, Embeddings)
    assert emb.docs.dtype == np.float32 and emb.docs.shape == (3, 6) and emb.queries.shape == (2, 6)
    expected = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    np.testing.assert_allclose(emb.docs, expected[:3], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(emb.queries, expected[3:], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(emb.docs, axis=1), 1.0, rtol=1e-6)
    assert emb.model_id == "base.parquet"
    assert emb.fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()


def test_attach_without_queries_gives_empty_query_matrix(tmp_path: Path) -> None:
    pd.DataFrame({"id": ["d1", "d2"], "text": ["a", "b"], "domain": ["x", "x"]}).to_csv(tmp_path / "d.csv", index=False)
    docs_only = load_tables(tmp_path / "d.csv")
    path = write_vectors(tmp_path / "v.parquet", ["d2", "d1"], ["doc", "doc"], [[0.0, 3.0], [4.0, 0.0]])
    emb = attach_vectors(docs_only, load_vectors(path), role="tuned")
    np.testing.assert_allclose(emb.docs, [[1.0, 0.0], [0.0, 1.0]])
    assert emb.queries.shape == (0, 2) and emb.dim == 2


def test_normalisation_of_tiny_and_huge_vectors(tmp_path: Path) -> None:
    pd.DataFrame({"id": ["a", "b"], "text": ["a", "b"], "domain": ["x", "x"]}).to_csv(tmp_path / "d.csv", index=False)
    docs_only = load_tables(tmp_path / "d.csv")
    path = write_vectors(tmp_path / "v.parquet", ["a", "b"], ["doc", "doc"], [[1e-30, 1e-30], [3e30, 4e30]])
    emb = attach_vectors(docs_only, load_vectors(path), role="base")
    np.testing.assert_allclose(emb.docs, [[2**-0.5, 2**-0.5], [0.6, 0.8]], rtol=1e-6)


def test_pair_vectors_with_different_dimensions(tmp_path: Path, dataset: Dataset) -> None:
    base = load_vectors(write_vectors(tmp_path / "base.parquet", IDS, KINDS, _matrix(dim=4)))
    np.save(tmp_path / "tuned.npy", _matrix(dim=7, seed=5)[::-1])
    pd.DataFrame({"id": IDS[::-1], "kind": KINDS[::-1]}).to_csv(tmp_path / "tuned.ids.csv", index=False)
    base_emb, tuned_emb = pair_vectors(dataset, base, load_vectors(tmp_path / "tuned.npy"))
    assert (base_emb.dim, tuned_emb.dim) == (4, 7)
    expected = _matrix(dim=7, seed=5)
    np.testing.assert_allclose(
        tuned_emb.docs, (expected / np.linalg.norm(expected, axis=1, keepdims=True))[:3], rtol=1e-6
    )
    assert (base_emb.model_id, tuned_emb.model_id) == ("base.parquet", "tuned.npy")


@pytest.mark.parametrize("fmt", ["parquet", "npy"])
@pytest.mark.parametrize("in_order", [True, False])
def test_load_vector_pair_equals_pair_vectors_and_holds_each_matrix_once(
    tmp_path: Path, dataset: Dataset, fmt: str, in_order: bool
) -> None:
    order = [0, 1, 2, 3, 4] if in_order else [4, 2, 0, 3, 1]
    paths = {}
    for role, seed in (("base", 1), ("tuned", 2)):
        matrix = _matrix(dim=6, seed=seed)[order]
        if fmt == "parquet":
            paths[role] = write_vectors(tmp_path / f"{role}.parquet", IDS[order], KINDS[order], matrix)
        else:
            np.save(tmp_path / f"{role}.npy", matrix)
            pd.DataFrame({"id": IDS[order], "kind": KINDS[order]}).to_csv(tmp_path / f"{role}.ids.csv", index=False)
            paths[role] = tmp_path / f"{role}.npy"
    got = load_vector_pair(dataset, paths["base"], paths["tuned"])
    expected = pair_vectors(dataset, load_vectors(paths["base"]), load_vectors(paths["tuned"]))
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g.docs, e.docs)  # the same numbers, bit for bit
        np.testing.assert_array_equal(g.queries, e.queries)
        assert (g.model_id, g.fingerprint) == (e.model_id, e.fingerprint)
        assert g.docs.dtype == np.float32 and g.docs.flags.c_contiguous
        # in dataset order, documents and queries are views of the one matrix read from the file
        assert (g.docs.base is not None and g.docs.base is g.queries.base) == in_order


def test_load_vector_pair_allocates_each_matrix_once(tmp_path: Path) -> None:
    n, dim = 5_000, 768  # wide enough that the vectors, not the ids, dominate
    ids = np.array([f"d{i}" for i in range(n)])
    pd.DataFrame({"id": ids, "text": "t", "domain": "x"}).to_csv(tmp_path / "d.csv", index=False)
    docs_only = load_tables(tmp_path / "d.csv")
    for role, seed in (("base", 1), ("tuned", 2)):
        np.save(tmp_path / f"{role}.npy", _matrix(n=n, dim=dim, seed=seed))
        pd.DataFrame({"id": ids, "kind": "doc"}).to_csv(tmp_path / f"{role}.ids.csv", index=False)
    raw = 2 * n * dim * 4
    tracemalloc.start()
    try:
        pair = load_vector_pair(docs_only, tmp_path / "base.npy", tmp_path / "tuned.npy")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert pair[0].docs.shape == (n, dim)
    # numpy's allocations are traced: both matrices once, plus ids, keys and one normalisation block
    # (1.50x measured); loading, copying and normalising into new arrays, as before, peaked at 4.6x
    assert peak < 1.6 * raw, f"peak {peak / 2**20:.1f} MB for {raw / 2**20:.1f} MB of vectors"


def test_pair_vectors_with_different_id_sets(tmp_path: Path, dataset: Dataset) -> None:
    base = load_vectors(write_vectors(tmp_path / "base.parquet", IDS, KINDS, _matrix()))
    tuned = load_vectors(write_vectors(tmp_path / "tuned.parquet", IDS[:4], KINDS[:4], _matrix(n=4)))
    _raises(
        r"base \(.*base.parquet\) and tuned \(.*tuned.parquet\) vectors cover different ids: "
        r"1 id \(first: query 'q2'\) in base are missing from tuned, 0 ids in tuned",
        lambda: pair_vectors(dataset, base, tuned),
        hidden=tmp_path,
    )


def test_dataset_ids_without_a_vector(tmp_path: Path, dataset: Dataset) -> None:
    vectors = load_vectors(write_vectors(tmp_path / "v.parquet", IDS[1:], KINDS[1:], _matrix(n=4)))
    _raises(
        r"base vectors \(.*v.parquet\) have no vector for 1 document \(first: 'd1'\)",
        lambda: attach_vectors(dataset, vectors, role="base"),
        hidden=tmp_path,
    )
    vectors = load_vectors(write_vectors(tmp_path / "w.parquet", IDS[:3], KINDS[:3], _matrix(n=3)))
    _raises(
        r"tuned vectors \(.*w.parquet\) have no vector for 2 queries \(first: 'q1', 'q2'\)",
        lambda: attach_vectors(dataset, vectors, role="tuned"),
    )


def test_vectors_without_a_record(tmp_path: Path, dataset: Dataset) -> None:
    ids = np.append(IDS, ["d9", "q9"])
    kinds = np.append(KINDS, ["doc", "query"])
    vectors = load_vectors(write_vectors(tmp_path / "v.parquet", ids, kinds, _matrix(n=7)))
    _raises(
        r"base vectors \(.*v.parquet\) hold vectors for 1 document \(first: 'd9'\) \(and 1 more",
        lambda: attach_vectors(dataset, vectors, role="base"),
    )


def test_query_vector_does_not_stand_in_for_a_document(tmp_path: Path, dataset: Dataset) -> None:
    kinds = KINDS.copy()
    kinds[0] = "query"  # d1 is a document in the dataset
    vectors = load_vectors(write_vectors(tmp_path / "v.parquet", IDS, kinds, _matrix()))
    _raises("have no vector for 1 document", lambda: attach_vectors(dataset, vectors, role="base"))


def test_namespaced_ids_get_a_hint(tmp_path: Path, beir_root: Path) -> None:
    combined = load_dataset([beir_root / "cisi", beir_root / "cacm"])
    ids = [i.split("/", 1)[1] for i in combined.docs["id"]] + [i.split("/", 1)[1] for i in combined.queries["id"]]
    kinds = ["doc"] * len(combined.docs) + ["query"] * len(combined.queries)
    ids_frame = pd.DataFrame({"id": ids, "kind": kinds}).drop_duplicates()
    path = write_vectors(tmp_path / "v.parquet", ids_frame["id"], ids_frame["kind"], np.ones((len(ids_frame), 2)))
    _raises("namespaced '<directory>/<id>'", lambda: attach_vectors(combined, load_vectors(path), role="base"))


def test_bad_role(tmp_path: Path, dataset: Dataset) -> None:
    vectors = load_vectors(write_vectors(tmp_path / "v.parquet", IDS, KINDS, _matrix()))
    _raises("role must be 'base' or 'tuned'", lambda: attach_vectors(dataset, vectors, role="new"))


# ------------------------------------------------------------------------------------- file validation


def test_duplicate_vector_ids(tmp_path: Path) -> None:
    path = _parquet(tmp_path / "v.parquet", ["a", "b", "a"], ["doc", "doc", "doc"], pa.array([[1.0], [2.0], [3.0]]))
    _raises(r"v.parquet, row 3 \(doc 'a'\): duplicate doc id 'a' \(also at row 1", lambda: load_vectors(path))
    # the same id as a document and as a query is fine
    path = _parquet(tmp_path / "w.parquet", ["a", "a"], ["doc", "query"], pa.array([[1.0], [2.0]]))
    assert load_vectors(path).ids.tolist() == ["a", "a"]


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e300])
def test_nan_or_inf(tmp_path: Path, value: float) -> None:
    path = _parquet(tmp_path / "v.parquet", ["a", "b"], ["doc", "doc"], pa.array([[1.0, 2.0], [value, 0.5]]))
    _raises(r"v.parquet, row 2 \(doc 'b'\): the vector holds NaN or infinite values", lambda: load_vectors(path))


def test_all_zero_vector(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.array([[1.0, 0.0], [0.0, 0.0]], dtype=np.float32))
    (tmp_path / "v.ids.csv").write_text("id,kind\na,doc\nb,query\n", encoding="utf-8")
    _raises(
        r"v.npy, vector \[1\] \(query 'b', .*v.ids.csv, data row 2\): the vector is all zeros",
        lambda: load_vectors(tmp_path / "v.npy"),
    )


def test_ragged_vectors(tmp_path: Path) -> None:
    path = _parquet(tmp_path / "v.parquet", ["a", "b", "c"], ["doc"] * 3, pa.array([[1.0, 2.0], [3.0, 4.0], [5.0]]))
    _raises(r"row 3 \(doc 'c'\): the embedding has 1 values but row 1 has 2.*ragged", lambda: load_vectors(path))


@pytest.mark.parametrize(
    ("embedding", "match"),
    [
        (pa.array([["0.1", "0.2"], ["0.3", "0.4"]]), "holds lists of string, not numbers"),
        (pa.array(["[0.1, 0.2]", "[0.3, 0.4]"]), "holds string, not lists of numbers"),
        (pa.array([0.1, 0.2]), "holds double, not lists of numbers"),
        (pa.array([[0.1, None], [0.3, 0.4]]), r"row 1 \(doc 'a'\): the embedding holds a null value"),
        (pa.array([[0.1, 0.2], None]), r"row 2 \(doc 'b'\): the embedding is missing"),
        (pa.array([[], []], pa.list_(pa.float32())), "the embedding is empty"),
    ],
)
def test_non_numeric_vectors(tmp_path: Path, embedding: pa.Array, match: str) -> None:
    path = _parquet(tmp_path / "v.parquet", ["a", "b"], ["doc", "doc"], embedding)
    _raises(match, lambda: load_vectors(path))


@pytest.mark.parametrize("dtype", ["U3", "bool", "complex64"])
def test_non_numeric_npy(tmp_path: Path, dtype: str) -> None:
    np.save(tmp_path / "v.npy", np.zeros((2, 2), dtype=dtype))
    (tmp_path / "v.ids.csv").write_text("id,kind\na,doc\nb,doc\n", encoding="utf-8")
    _raises("v.npy holds .* values, not numbers", lambda: load_vectors(tmp_path / "v.npy"))


def test_unknown_kind(tmp_path: Path) -> None:
    path = _parquet(tmp_path / "v.parquet", ["a", "b"], ["doc", "passage"], pa.array([[1.0], [2.0]]))
    _raises(r"v.parquet, row 2 \(id 'b'\): unknown kind 'passage'; the kind is 'doc'", lambda: load_vectors(path))
    np.save(tmp_path / "m.npy", np.ones((2, 2)))
    (tmp_path / "m.ids.csv").write_text("id,kind\na,doc\nb,\n", encoding="utf-8")
    _raises(r"m.ids.csv, data row 2 \(id 'b'\): unknown kind ''", lambda: load_vectors(tmp_path / "m.npy"))


def test_missing_files(tmp_path: Path) -> None:
    _raises("v.parquet does not exist", lambda: load_vectors(tmp_path / "v.parquet"), hidden=tmp_path)
    np.save(tmp_path / "m.npy", np.ones((2, 2)))
    _raises(
        r"m.npy has no ids file beside it: expected m.ids.csv or m.ids.jsonl or m.ids.parquet",
        lambda: load_vectors(tmp_path / "m.npy"),
    )
    _raises("nope.csv does not exist", lambda: load_vectors(tmp_path / "m.npy", ids_path=tmp_path / "nope.csv"))
    (tmp_path / "m.ids.csv").write_text("id,kind\na,doc\nb,doc\n", encoding="utf-8")
    (tmp_path / "m.ids.jsonl").write_text('{"id": "a", "kind": "doc"}\n', encoding="utf-8")
    _raises(r"several ids files \(m.ids.csv, m.ids.jsonl\)", lambda: load_vectors(tmp_path / "m.npy"))


@pytest.mark.parametrize(
    ("columns", "match"),
    [
        ({"kind": ["doc"], "embedding": [[1.0]]}, r"has no 'id' column \(found: 'kind', 'embedding'\)"),
        ({"id": ["a"], "embedding": [[1.0]]}, "has no 'kind' column"),
        ({"id": ["a"], "kind": ["doc"], "emb": [[1.0]]}, "has no 'embedding' column"),
    ],
)
def test_missing_columns(tmp_path: Path, columns: dict[str, list[object]], match: str) -> None:
    pq.write_table(pa.table(columns), tmp_path / "v.parquet")
    _raises(match, lambda: load_vectors(tmp_path / "v.parquet"))


def test_vector_column_alias(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": ["a"], "kind": ["doc"], "vector": [[1.0, 2.0]]}), tmp_path / "v.parquet")
    assert load_vectors(tmp_path / "v.parquet").dim == 2


def test_ids_file_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "m.npy", np.ones((3, 2)))
    (tmp_path / "m.ids.csv").write_text("id,kind\na,doc\nb,doc\n", encoding="utf-8")
    _raises(r"m.ids.csv has 2 rows but .*m.npy has 3 vectors", lambda: load_vectors(tmp_path / "m.npy"))
    (tmp_path / "m.ids.csv").write_text("id\na\nb\nc\n", encoding="utf-8")
    _raises("m.ids.csv has no 'kind' column", lambda: load_vectors(tmp_path / "m.npy"))
    (tmp_path / "m.ids.csv").write_text("id,kind\na,doc\nb,doc\na,doc\n", encoding="utf-8")
    _raises(r"vector \[2\] \(doc 'a', .*\): duplicate doc id 'a'", lambda: load_vectors(tmp_path / "m.npy"))


def test_truncated_parquet(tmp_path: Path) -> None:
    path = write_vectors(tmp_path / "v.parquet", IDS, KINDS, _matrix())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    _raises(
        "v.parquet is not a readable Parquet file .* truncated or corrupt", lambda: load_vectors(path), hidden=tmp_path
    )


def test_empty_files(tmp_path: Path) -> None:
    (tmp_path / "v.parquet").write_bytes(b"")
    _raises(r"v.parquet is empty \(0 bytes\)", lambda: load_vectors(tmp_path / "v.parquet"))
    pq.write_table(
        pa.table(
            {
                "id": pa.array([], pa.string()),
                "kind": pa.array([], pa.string()),
                "embedding": pa.array([], pa.list_(pa.float32())),
            }
        ),
        tmp_path / "w.parquet",
    )
    _raises(r"w.parquet holds no vectors \(0 rows\)", lambda: load_vectors(tmp_path / "w.parquet"))
    np.save(tmp_path / "m.npy", np.ones((0, 3)))
    _raises(r"m.npy is empty \(shape \(0, 3\)\)", lambda: load_vectors(tmp_path / "m.npy"))


def test_pickled_npy_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "m.npy", np.array([[1.0, "x"]], dtype=object), allow_pickle=True)
    _raises("holds Python objects .* never loads", lambda: load_vectors(tmp_path / "m.npy"))


def test_npy_shapes_and_corruption(tmp_path: Path) -> None:
    np.save(tmp_path / "m.npy", np.ones(4))
    _raises(r"m.npy has shape \(4,\); expected a 2-D array", lambda: load_vectors(tmp_path / "m.npy"))
    np.save(tmp_path / "m.npy", np.ones((40, 8)))
    data = (tmp_path / "m.npy").read_bytes()
    (tmp_path / "m.npy").write_bytes(data[:-100])
    _raises("m.npy is not a readable .npy file", lambda: load_vectors(tmp_path / "m.npy"), hidden=tmp_path)


@pytest.mark.parametrize("name", ["v.parquet", "v.npy"])
def test_random_binary_file_gives_input_error(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(np.random.default_rng(11).integers(0, 256, size=2048, dtype=np.uint8).tobytes())
    _raises(f"{name} is not a readable", lambda: load_vectors(tmp_path / name), hidden=tmp_path)


def test_unsupported_vector_file_and_misplaced_ids_path(tmp_path: Path) -> None:
    (tmp_path / "v.csv").write_text("id,kind\n", encoding="utf-8")
    _raises("unsupported vector file type '.csv'", lambda: load_vectors(tmp_path / "v.csv"))
    path = write_vectors(tmp_path / "v.parquet", IDS, KINDS, _matrix())
    _raises("ids_path is only for .npy files", lambda: load_vectors(path, ids_path=tmp_path / "x.csv"))


def test_ids_jsonl_malformed_line(tmp_path: Path) -> None:
    np.save(tmp_path / "m.npy", np.ones((2, 2)))
    (tmp_path / "m.ids.jsonl").write_text(json.dumps({"id": "a", "kind": "doc"}) + "\n{oops\n", encoding="utf-8")
    _raises(r"m.ids.jsonl, line 2: not valid JSON", lambda: load_vectors(tmp_path / "m.npy"))
