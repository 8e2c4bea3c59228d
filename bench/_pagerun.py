"""The saved 100k run the page benchmark opens: built once into a throwaway ``EMBDIFF_HOME``, then reused."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

DEFAULT_HOME = Path("/tmp/pagebench_home")
PROJECTION_POINTS = 50_000
_MARKER = "pagebench-run.id"


def saved_run(home: Path, *, n_docs: int = 100_000, n_queries: int = 10_000) -> str:
    """The id of the synthetic ``n_docs`` x ``n_queries`` x 384 run (projection of 50k points) saved under
    ``home/runs``; computed and saved on the first call (a few minutes), reopened afterwards.

    The id is remembered in ``home/pagebench-run.id`` so a second call generates no inputs at all.
    """
    from diagnostics.runs import RunStore

    home.mkdir(parents=True, exist_ok=True)
    store = RunStore(home / "runs")
    marker = home / f"{_MARKER}.{n_docs}x{n_queries}"
    if marker.is_file():
        run_id = marker.read_text().strip()
        if store.exists(run_id):
            return run_id
    from bench._inputs import synthetic_inputs
    from diagnostics.compare import compare_inputs

    t0 = time.perf_counter()
    dataset, base, tuned = synthetic_inputs(n_docs=n_docs, n_queries=n_queries)

    def progress(stage: str, done: int, total: int) -> None:
        print(f"  build {stage} {done}/{total} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)

    result = compare_inputs(dataset, base, tuned, max_projection_points=PROJECTION_POINTS, progress=progress,
                            store=store)
    marker.write_text(result.run_id)
    print(f"  built run {result.run_id} in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return result.run_id


if __name__ == "__main__":  # build only: python -m bench._pagerun [HOME]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(saved_run(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_HOME))
