"""Scale benchmark (issue 15, part 1): ``embdiff compare --no-projection`` on 100k and 1M documents on this machine.

Run with ``HF_HUB_OFFLINE=1 .venv/bin/python -m bench.scale`` (options: ``--docs 100000,1000000``,
``--queries 10000``, ``--work DIR``, ``--no-pages``). For each corpus size:

1. **Inputs** (not timed): a synthetic clustered corpus (``bench._inputs.synthetic_inputs``, 10 domains,
   384-d, tuned = perturbed base) written the way a user hands it over: a table directory (``docs``,
   ``queries``, ``qrels`` as Parquet) and both models' vectors twice, as ``.npy`` (ids beside it) and as
   Parquet (``id``, ``kind``, ``embedding``). ``raw`` is the size of the two float32 vector sets.
2. **The floor**: FAISS flat (``faiss.IndexFlatIP``, both cores) for the exact top-100 of the queries in
   both spaces, in its own process, vectors already in memory (reading them is not timed). It is measured
   before the first command and again after each one, and each command's ratio is against the mean of the
   floors just before and just after it: this machine's speed drifts over minutes of full load, and a floor
   measured once, first, made later runs look slower.
3. **The command**: ``embdiff compare --dataset DIR --base-vectors … --tuned-vectors … --no-projection``
   in its own process, for each vector format (``--formats``): the CLI's own ``main`` runs in a child whose
   background thread samples ``VmRSS`` and whose progress callback marks the stages, so each stage gets its
   wall time and the process's peak RSS while it ran (the sampler's, or the kernel's ``VmHWM`` when that rose
   during the stage: the sampler needs the GIL); ``read`` is everything before the first stage
   (reading, checking and normalising the vectors, reading and fingerprinting the dataset), ``save``
   writing the run. The whole child's wall time and ``VmHWM`` are the headline numbers, against the
   targets: <= 300 s, <= 2.5x the floor, peak <= 1.5x raw.
4. **Pages** (``--no-pages`` skips): ``python -m bench.pages --run ID --no-browser`` on the saved run, every
   page's first open and reruns in AppTest (target <= 1 s).

At the end, a table per size and the ratio between sizes (how each stage's cost grows). The machine's two
cores are shared: nothing else heavy may run meanwhile. A 1M round takes about 30 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench._measure import hwm_mb, rss_mb

REPO = Path(__file__).resolve().parents[1]
N_DOMAINS = 10
DEPTH = 100
TIME_TARGET_S = 300.0
FLOOR_RATIO_TARGET = 2.5
RSS_RATIO_TARGET = 1.5


# ------------------------------------------------------------------------------------------- inputs

def write_inputs(work: Path, *, n_docs: int, n_queries: int, formats: list[str]) -> dict[str, Any]:
    """Generate the corpus and write it as a user would hand it over; the in-memory copy is dropped after."""
    import pandas as pd

    from bench._inputs import synthetic_inputs
    from diagnostics.vectors import write_vectors

    t0 = time.perf_counter()
    dataset, base, tuned = synthetic_inputs(n_docs=n_docs, n_queries=n_queries, n_domains=N_DOMAINS)
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    dataset.docs.to_parquet(data / "docs.parquet", index=False)
    dataset.queries.to_parquet(data / "queries.parquet", index=False)
    dataset.qrels.to_parquet(data / "qrels.parquet", index=False)
    ids = np.concatenate([dataset.docs["id"].to_numpy(object), dataset.queries["id"].to_numpy(object)])
    kinds = np.array(["doc"] * n_docs + ["query"] * n_queries, dtype=object)
    raw = sum(e.docs.nbytes + e.queries.nbytes for e in (base, tuned))
    for role, e in (("base", base), ("tuned", tuned)):
        matrix = np.vstack([e.docs, e.queries])
        if "npy" in formats:
            np.save(work / f"{role}.npy", matrix)
            pd.DataFrame({"id": ids, "kind": kinds}).to_parquet(work / f"{role}.ids.parquet", index=False)
        if "parquet" in formats:
            write_vectors(work / f"{role}.parquet", ids, kinds, matrix)
        del matrix
    return {"raw_mb": raw / 2**20, "inputs_s": time.perf_counter() - t0}


# -------------------------------------------------------------------------------------------- floor

def _child_floor(work: Path, n_docs: int) -> None:
    """FAISS flat exact top-100 of the queries over the documents, both spaces; prints seconds as JSON."""
    import faiss

    seconds = 0.0
    for role in ("base", "tuned"):
        matrix = np.load(work / f"{role}.npy")
        docs, queries = np.ascontiguousarray(matrix[:n_docs]), np.ascontiguousarray(matrix[n_docs:])
        del matrix
        t0 = time.perf_counter()
        index = faiss.IndexFlatIP(docs.shape[1])
        index.add(docs)
        index.search(queries, DEPTH)
        seconds += time.perf_counter() - t0
        del index, docs, queries
    print(json.dumps({"floor_s": seconds, "threads": faiss.omp_get_max_threads()}))


# ------------------------------------------------------------------------------------------ command

def _child_cli(argv: list[str]) -> None:
    """``embdiff compare`` through the CLI's own ``main``, with each stage's wall time and peak RSS."""
    import importlib

    import diagnostics.cli as cli

    compare_module = importlib.import_module("diagnostics.compare")  # the package's `compare` is the function

    stages: list[dict[str, Any]] = []
    current = {"name": "read", "t0": time.perf_counter(), "peak": rss_mb(), "hwm": hwm_mb()}
    lock = threading.Lock()

    def switch(name: str) -> None:
        with lock:
            if name == current["name"]:
                return
            now, hwm = time.perf_counter(), hwm_mb()
            # the sampler needs the GIL; a peak the kernel saw while a stage held it shows in VmHWM
            peak = max(current["peak"], hwm) if hwm > current["hwm"] else current["peak"]
            stages.append({"stage": current["name"], "seconds": now - current["t0"], "peak_mb": peak})
            current.update(name=name, t0=now, peak=rss_mb(), hwm=hwm)

    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss = rss_mb()
            with lock:
                current["peak"] = max(current["peak"], rss)
            stop.wait(0.02)

    printer = cli._Progress.__call__

    def progress(self: Any, stage: str, done: int, total: int) -> None:
        switch(stage.split(":")[0])
        printer(self, stage, done, total)

    saver = compare_module.save_comparison

    def save(*args: Any, **kwargs: Any) -> Any:
        switch("save")
        return saver(*args, **kwargs)

    cli._Progress.__call__ = progress  # type: ignore[method-assign]
    compare_module.save_comparison = save  # type: ignore[assignment]
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    code = cli.main(argv)
    seconds = time.perf_counter() - t0
    switch("done")
    stop.set()
    thread.join()
    # VmHWM, not ru_maxrss: a child's ru_maxrss would report this script's own memory (8.8 GB at 1M)
    peak = hwm_mb()
    print(json.dumps({"code": code, "seconds": seconds, "peak_mb": peak, "stages": stages}))


def _child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench.scale", *args], env=env, cwd=REPO, capture_output=True,
                          text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"bench child {args[:2]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    out: dict[str, Any] = json.loads(lines[-1])
    out["stdout"] = "\n".join(lines[:-1])
    return out


# ----------------------------------------------------------------------------------------------- main

def _floor(work: Path, n_docs: int, env: dict[str, str]) -> float:
    floor = _child(["--child-floor", str(work), str(n_docs)], env)
    print(f"  floor: FAISS flat top-{DEPTH} of the queries, both spaces ({floor['threads']} threads): "
          f"{floor['floor_s']:.1f} s", flush=True)
    return float(floor["floor_s"])


def run_size(work: Path, *, n_docs: int, n_queries: int, formats: list[str], pages: bool) -> dict[str, Any]:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    print(f"\n== {n_docs:,} documents x {n_queries:,} queries x 384 dims, {N_DOMAINS} domains", flush=True)
    info = write_inputs(work, n_docs=n_docs, n_queries=n_queries, formats=formats)
    print(f"  inputs written in {info['inputs_s']:.0f} s; raw vectors (both models) {info['raw_mb']:,.0f} MB",
          flush=True)
    floors = [_floor(work, n_docs, env)]
    info["runs"] = {}
    for fmt in formats:
        home = work / f"home-{fmt}"
        shutil.rmtree(home, ignore_errors=True)
        suffix = "npy" if fmt == "npy" else "parquet"
        argv = ["compare", "--dataset", str(work / "data"), "--base-vectors", str(work / f"base.{suffix}"),
                "--tuned-vectors", str(work / f"tuned.{suffix}"), "--no-projection"]
        run = _child(["--child-cli", "--", *argv], dict(env, EMBDIFF_HOME=str(home)))
        run["run_id"] = run["stdout"].split()[1] if run["stdout"].startswith("run ") else ""
        run["home"] = str(home)
        info["runs"][fmt] = run
        floors.append(_floor(work, n_docs, env))
        # the floor measured just before and just after this run: the machine's speed drifts over minutes
        run["floor_s"] = (floors[-2] + floors[-1]) / 2
        ratio, rss = run["seconds"] / run["floor_s"], run["peak_mb"] / info["raw_mb"]
        print(f"  embdiff compare --no-projection ({fmt} vectors): {run['seconds']:.1f} s (exit {run['code']}), "
              f"{ratio:.2f}x the floor measured around it ({floors[-2]:.1f} s before, {floors[-1]:.1f} s after; "
              f"target <= {FLOOR_RATIO_TARGET}), "
              f"{'within' if run['seconds'] <= TIME_TARGET_S else 'OVER'} the {TIME_TARGET_S:.0f} s target; "
              f"peak RSS {run['peak_mb']:,.0f} MB = {rss:.2f}x raw (target <= {RSS_RATIO_TARGET})", flush=True)
        for s in run["stages"]:
            print(f"    {s['stage']:12} {s['seconds']:8.1f} s   peak {s['peak_mb']:8,.0f} MB", flush=True)
    info["floor_s"] = float(np.mean(floors))
    if pages and "npy" in info["runs"]:
        run = info["runs"]["npy"]
        done = subprocess.run([sys.executable, "-m", "bench.pages", "--home", run["home"], "--run", run["run_id"],
                               "--no-browser", "--reruns", "3"], env=env, cwd=REPO, capture_output=True, text=True)
        info["pages"] = done.stdout
        if done.returncode not in (0, 1):  # 1: a target missed, printed in the table
            print(f"  pages bench failed ({done.returncode}): {done.stderr.strip()[-1500:]}", flush=True)
        print("  pages (AppTest, bench.pages):\n" + "\n".join("    " + line for line in done.stdout.splitlines()),
              flush=True)
    return info


def _summary(sizes: list[int], results: dict[int, dict[str, Any]], fmt: str) -> None:
    print(f"\n== per stage ({fmt} vectors): seconds / peak RSS MB")
    names: list[str] = []
    for n in sizes:
        for s in results[n]["runs"][fmt]["stages"]:
            if s["stage"] not in names:
                names.append(s["stage"])
    head = f"  {'stage':12}" + "".join(f" {n:>22,}" for n in sizes)
    if len(sizes) > 1:
        head += f"   {'time ratio':>10} {'RSS ratio':>10}"
    print(head)
    rows = [*names, "total", "floor"]
    for name in rows:
        cells, secs, peaks = [], [], []
        for n in sizes:
            r = results[n]
            if name == "total":
                s, p = r["runs"][fmt]["seconds"], r["runs"][fmt]["peak_mb"]
            elif name == "floor":  # the mean of the floors measured around this format's run
                s, p = r["runs"][fmt]["floor_s"], float("nan")
            else:
                hit = [x for x in r["runs"][fmt]["stages"] if x["stage"] == name]
                s, p = (hit[0]["seconds"], hit[0]["peak_mb"]) if hit else (float("nan"), float("nan"))
            secs.append(s)
            peaks.append(p)
            cells.append(f" {s:10.1f} s {p:8,.0f} MB")
        line = f"  {name:12}" + "".join(cells)
        if len(sizes) > 1:
            line += f"   {secs[-1] / secs[0]:10.2f} {peaks[-1] / peaks[0]:10.2f}"
        print(line)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child-floor"]:
        _child_floor(Path(argv[1]), int(argv[2]))
        return 0
    if argv[:1] == ["--child-cli"]:
        _child_cli(argv[2:])
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    p.add_argument("--docs", default="100000,1000000", help="corpus sizes, comma-separated (default %(default)s)")
    p.add_argument("--queries", type=int, default=10_000)
    p.add_argument("--formats", default="npy,parquet", help="vector formats to run the command on: npy,parquet")
    p.add_argument("--work", type=Path, default=None, help="where the inputs go (default: a temporary directory)")
    p.add_argument("--no-pages", action="store_true", help="skip the page timings")
    args = p.parse_args(argv)
    sizes = [int(x) for x in args.docs.split(",")]
    formats = [f for f in args.formats.split(",") if f]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, numpy {np.__version__}", flush=True)
    results: dict[int, dict[str, Any]] = {}
    for n in sizes:
        work = args.work / str(n) if args.work else Path(tempfile.mkdtemp(prefix=f"embdiff-scale-{n}-"))
        try:
            results[n] = run_size(work, n_docs=n, n_queries=args.queries, formats=formats, pages=not args.no_pages)
        finally:
            if args.work is None:
                shutil.rmtree(work, ignore_errors=True)
    for fmt in formats:
        _summary(sizes, results, fmt)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
