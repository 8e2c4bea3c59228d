"""How the cost grows with the number of candidates compared against one base.

    python -m bench.candidates [--docs 100000] [--queries 10000] [--counts 1,2,4]

A synthetic clustered corpus (:func:`bench._inputs.synthetic_inputs`, precomputed vectors, no models, no
projection); each candidate is the base perturbed with its own seed. For each count N, the wall time of
:func:`diagnostics.candidates.compare_candidates` with N candidates into an empty run store, and the time of
N separate single comparisons (:func:`diagnostics.compare.compare_inputs`, nothing shared) for reference.
Prints a table; the README's "Several candidates" quotes it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench._inputs import _rotation, perturb, synthetic_inputs
from diagnostics.candidates import compare_candidates
from diagnostics.compare import compare_inputs
from diagnostics.dataset import Dataset
from diagnostics.runs import RunStore
from diagnostics.vectors import Embeddings


def _candidate(dataset: Dataset, base: Embeddings, seed: int) -> Embeddings:
    rng = np.random.default_rng(100 + seed)
    kw = {"noise": 0.3 + 0.1 * seed, "rotated": str(dataset.docs["domain"].iloc[0]), "angle": 0.2 * (seed + 1),
          "rotation": _rotation(base.dim, rng), "rng": rng}
    return Embeddings(docs=perturb(base.docs, dataset.docs["domain"].to_numpy(object), **kw),  # type: ignore[arg-type]
                      queries=perturb(base.queries, dataset.queries["domain"].to_numpy(object), **kw),  # type: ignore[arg-type]
                      model_id=f"candidate {seed}", fingerprint=f"bench-candidate-{seed}-{len(base.docs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--counts", default="1,2,4")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    dataset, base, _ = synthetic_inputs(n_docs=args.docs, n_queries=args.queries)
    pool = {f"c{i}": _candidate(dataset, base, i) for i in range(max(counts))}
    print(f"{args.docs:,} documents, {args.queries:,} queries, {base.dim}-d, "
          f"{len(dataset.domains)} "
          "domains; precomputed vectors, no projection")
    print(f"{'candidates':>10} {'together (s)':>13} {'per candidate':>14} {'vs 1':>6} {'separately (s)':>15} "
          f"{'saved':>6}")
    first = None
    for n in counts:
        chosen = dict(list(pool.items())[:n])
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            compare_candidates(dataset, base, chosen, projection=False, store=RunStore(Path(tmp) / "a"))
            together = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            for tuned in chosen.values():
                compare_inputs(dataset, base, tuned, projection=False, store=RunStore(Path(tmp) / "b"))
            separately = time.perf_counter() - t0
        first = first or together
        print(f"{n:>10} {together:>13.1f} {together / n:>14.1f} {together / first:>6.2f} {separately:>15.1f} "
              f"{1 - together / separately:>6.0%}")


if __name__ == "__main__":
    main()
