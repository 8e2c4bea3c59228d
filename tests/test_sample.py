"""The bundled sample: its corpus, its committed vectors and its manifest agree with each other."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from diagnostics.dataset import load_dataset
from diagnostics.knn import exact_top_k
from diagnostics.retrieval import retrieval_metrics
from diagnostics.sample import load_sample, sample_manifest, sample_paths

PATHS = sample_paths()


def test_corpus_shape() -> None:
    dataset = load_dataset(PATHS.corpus)
    summary = dataset.summary().set_index("domain")
    assert len(summary) >= 6
    assert len(dataset.docs) >= 400 and len(dataset.queries) >= 150
    assert (summary["n_judged_queries"] == summary["n_queries"]).all()
    per_query = Counter(dataset.qrels[dataset.qrels["score"] > 0]["query_id"])
    assert set(per_query.values()) <= {1, 2, 3}
    assert len(per_query) == len(dataset.queries)
    qdom = dict(zip(dataset.queries["id"], dataset.queries["domain"], strict=True))
    ddom = dict(zip(dataset.docs["id"], dataset.docs["domain"], strict=True))
    assert all(qdom[q] == ddom[d] for q, d in zip(dataset.qrels["query_id"], dataset.qrels["doc_id"], strict=True))
    assert dataset.docs["text"].is_unique and dataset.queries["text"].is_unique


def test_training_pairs_are_separate_from_the_test_set() -> None:
    dataset = load_dataset(PATHS.corpus)
    manifest = sample_manifest()
    domain = manifest["recipe"]["train_domain"]
    lines = (PATHS.train / f"{domain}.jsonl").read_text(encoding="utf-8").splitlines()
    pairs = [json.loads(line) for line in lines if line.strip()]
    assert len(pairs) == manifest["recipe"]["train_pairs"] >= 100
    assert not {p["query"] for p in pairs} & set(dataset.queries["text"])
    assert not {p["positive"] for p in pairs} & set(dataset.docs["text"])
    assert sorted(p.name for p in PATHS.train.glob("*.jsonl")) == [f"{domain}.jsonl"]


def test_committed_vectors_match_the_corpus_and_the_manifest() -> None:
    dataset, base, tuned = load_sample(models=False)
    manifest = sample_manifest()
    assert manifest["dataset"]["fingerprint"] == dataset.fingerprint()
    assert base.docs.shape == (len(dataset.docs), 384) and tuned.queries.shape == (len(dataset.queries), 384)
    assert not np.allclose(base.docs, tuned.docs), "the tuned vectors must differ from the base vectors"
    for emb, side in ((base, "base"), (tuned, "tuned")):
        ranking, _ = exact_top_k(emb.queries, emb.docs, k=100)
        table = retrieval_metrics(dataset, ranking)
        measured = table.groupby("domain")["ndcg@10"].mean()
        for domain, value in measured.items():
            assert manifest["ndcg@10"][domain][side] == pytest.approx(value, abs=1e-4)


def test_manifest_reports_the_recipe_and_versions() -> None:
    manifest = sample_manifest()
    recipe = manifest["recipe"]
    for key in ("train_domain", "epochs", "learning_rate", "batch_size", "seed", "loss", "train_pairs"):
        assert key in recipe
    assert {"sentence-transformers", "torch", "transformers"} <= set(manifest["versions"])


def test_the_sample_shows_the_trap() -> None:
    """In-domain gain, off-domain losses — as measured and written in the manifest."""
    manifest = sample_manifest()
    domain = manifest["recipe"]["train_domain"]
    deltas = {d: v["delta"] for d, v in manifest["ndcg@10"].items() if d != "overall"}
    assert deltas[domain] > 0
    assert sum(v < 0 for d, v in deltas.items() if d != domain) >= 2


def test_the_tuned_model_ships_as_a_small_adapter_over_the_bundled_base() -> None:
    files = sorted(p.name for p in PATHS.tuned_adapter.iterdir())
    assert files == ["adapter_config.json", "adapter_model.safetensors"]
    assert sum(p.stat().st_size for p in PATHS.tuned_adapter.iterdir()) < 1_000_000
    config = json.loads((PATHS.tuned_adapter / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["base_model_name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2"  # portable: a hub name
    assert config["peft_type"] == "LORA"
    recipe = sample_manifest()["recipe"]
    assert (recipe["lora_r"], recipe["lora_alpha"]) == (config["r"], config["lora_alpha"])


@pytest.mark.slow
def test_the_sample_loads_with_both_models_that_made_its_vectors() -> None:
    """load_sample() re-encodes 32 documents with each model and checks them against the committed vectors."""
    dataset, base, tuned = load_sample()
    assert base.model is not None and tuned.model is not None
    assert base.model_fingerprint != tuned.model_fingerprint
    assert tuned.model.model_id.endswith("tuned_adapter")
    vectors_only = load_sample(models=False)[2]
    assert vectors_only.model is None and np.array_equal(vectors_only.docs, tuned.docs)


@pytest.mark.slow
def test_the_shipped_encodings_cover_the_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first comparison of the sample on an empty cache encodes only the documents the consistency check
    compares against the vector files: every known-item and probe text comes from sample_data/encodings,
    and those vectors are what the models give (fails while they are stale: python -m sample_data.encodings)."""
    from diagnostics.compare import compare
    from diagnostics.encode_cache import _seed_directory, _text_key
    from diagnostics.encoding import encode_texts
    from sample_data.encodings import corpus_keys, new_keys

    monkeypatch.setenv("EMBDIFF_CACHE", str(tmp_path / "cache"))
    dataset, base, tuned = load_sample()
    result = compare(dataset, base, tuned, projection=False)
    assert len(result.tables["known_items"]) > 0 and len(result.tables["probe_pairs"]) > 0
    written = new_keys(tmp_path / "cache")
    assert set(written) == {base.model_fingerprint, tuned.model_fingerprint}
    corpus = corpus_keys()
    for fingerprint, keys in written.items():
        assert keys <= corpus, f"{len(keys - corpus)} texts of {fingerprint[:12]} encoded beyond the corpus"
        assert _seed_directory(fingerprint).is_dir()
    # the shipped vectors are the model's: a few probe sentences encoded again, through the cache-less path
    pairs = result.tables["probe_pairs"]
    texts = sorted(set(pairs["original"]).union(pairs["edited"]))[:6]
    assert base.model is not None
    seeded = encode_texts(texts, base.model.spec, cache_dir=tmp_path / "cache")
    fresh = base.model.get().encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(seeded, fresh, atol=1e-5)
    written_after = new_keys(tmp_path / "cache")[base.model_fingerprint]
    assert not written_after & {_text_key("", t) for t in texts}  # answered by the shipped encodings: nothing written
