"""Faults: killed writers, full disks, damaged runs, concurrent reviewers.

* ``embdiff compare`` (a real process) killed with SIGKILL at seeded random moments, 20 times: every
  run the store shows is complete and loadable; temporary leftovers are never listed.
* A write error while saving (disk full: ENOSPC from ``np.save``, ``to_parquet``, ``fsync`` or the final
  rename; a real ``RLIMIT_FSIZE`` in a subprocess) gives one clear message and leaves no run behind.
* A run damaged on disk (garbage or missing manifest, truncated, overwritten or missing table or
  array) is reported as damaged, naming the run and the file, while the other runs keep working.
* 8 processes appending 50 reviews each while others read: exactly 400 rows, none lost or doubled.
"""

from __future__ import annotations

import errno
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import diagnostics.runs as runs_module
from diagnostics._validation import RUN_ID_PATTERN, InputError
from diagnostics.cli import main
from diagnostics.compare import compare_inputs, load_comparison, load_inputs
from diagnostics.result import ARRAYS, TABLES, Comparison
from diagnostics.reviews import ReviewStore
from diagnostics.runs import RunCorruptError, RunStore
from diagnostics.vectors import write_vectors

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}


def make_dataset(root: Path, *, n_docs: int, n_queries: int, dim: int, seed: int = 0) -> tuple[Path, Path, Path]:
    """A two-domain BEIR directory with judged queries, and base/tuned vector files for it."""
    ds, vec = root / "ds", root / "vec"
    (ds / "qrels").mkdir(parents=True)
    vec.mkdir()
    docs, queries, qrels = [], [], []
    for domain in ("legal", "support"):
        docs += [{"_id": f"{domain}-{i}", "text": f"{domain} document {i}", "domain": domain}
                 for i in range(n_docs // 2)]
        queries += [{"_id": f"{domain}-q{j}", "text": f"{domain} question {j}", "domain": domain}
                    for j in range(n_queries // 2)]
        qrels += [f"{domain}-q{j}\t{domain}-{j}\t1\n" for j in range(n_queries // 2)]
    (ds / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (ds / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (ds / "qrels" / "test.tsv").write_text("".join(qrels))
    ids = [d["_id"] for d in docs] + [q["_id"] for q in queries]
    kinds = ["doc"] * len(docs) + ["query"] * len(queries)
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((len(ids), dim)).astype(np.float32)
    tuned = base + 0.4 * rng.standard_normal(base.shape).astype(np.float32)
    write_vectors(vec / "base.parquet", ids, kinds, base)
    write_vectors(vec / "tuned.parquet", ids, kinds, tuned)
    return ds, vec / "base.parquet", vec / "tuned.parquet"


def compare_argv(ds: Path, base: Path, tuned: Path, k: int) -> list[str]:
    return ["compare", "--dataset", str(ds), "--base-vectors", str(base), "--tuned-vectors", str(tuned),
            "--no-projection", "--k", str(k)]


def assert_store_consistent(runs_dir: Path) -> list[str]:
    """Every visible run is complete and loadable; only ``.tmp-*`` leftovers are allowed besides runs.

    Returns the ids of the complete runs.
    """
    store = RunStore(runs_dir)
    complete = []
    for entry in sorted(runs_dir.iterdir()):
        if entry.name.startswith(".tmp-"):
            continue
        assert RUN_ID_PATTERN.fullmatch(entry.name), f"unexpected entry {entry.name!r} in the run store"
        saved = store.open(entry.name)
        saved.verify()
        result = load_comparison(entry.name, store=store)
        assert set(TABLES) <= set(result.tables) and set(ARRAYS) <= set(result.arrays)
        assert len(result.domains) == 3 and result.verdict in ("PASS", "WARN", "UNVERIFIED", "FAIL")
        assert np.asarray(result.arrays["docs_base"]).shape[0] == len(result.tables["docs"])
        complete.append(entry.name)
    listed = store.list_runs()
    assert sorted(m["run_id"] for m in listed) == complete
    assert all("error" not in m for m in listed)
    return complete


# ----------------------------------------------------------------------------------------- SIGKILL


def _start(argv: list[str], home: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "diagnostics.cli", *argv], cwd=REPO,
        env={**ENV, "EMBDIFF_HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _watch(proc: subprocess.Popen[bytes], runs_dir: Path, *, until: Callable[[list[str]], bool],
           timeout: float) -> float | None:
    """Poll the run store every millisecond until ``until(names)``; the time it took, or None."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        names = [p.name for p in runs_dir.iterdir()] if runs_dir.is_dir() else []
        if until(names):
            return time.monotonic() - start
        if proc.poll() is not None:
            return None
        time.sleep(0.001)
    return None


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_a_consistent_store(tmp_path: Path) -> None:
    ds, base, tuned = make_dataset(tmp_path, n_docs=800, n_queries=40, dim=96)
    home = tmp_path / "home"
    runs_dir = home / "runs"
    rng = np.random.default_rng(20251125)

    # One undisturbed run: how long a whole command takes and how long its write phase lasts.
    started = time.monotonic()
    proc = _start(compare_argv(ds, base, tuned, 2), home)
    to_write = _watch(proc, runs_dir, until=lambda names: any(n.startswith(".tmp-") for n in names), timeout=120)
    assert to_write is not None, "the writer's temporary directory was never seen"
    write_window = _watch(proc, runs_dir, until=lambda names: any(RUN_ID_PATTERN.fullmatch(n) for n in names),
                          timeout=60)
    assert proc.wait(timeout=120) == 0
    total = time.monotonic() - started
    write_window = max(write_window or 0.0, 0.005)
    assert_store_consistent(runs_dir)

    outcomes: dict[str, int] = {"finished": 0, "killed before writing": 0, "killed while writing": 0,
                                "killed after the rename": 0}
    unsaved: list[int] = []  # the k of trials that left no run
    for trial in range(20):
        k = 3 + trial  # a different run id per trial
        proc = _start(compare_argv(ds, base, tuned, k), home)
        before = set(p.name for p in runs_dir.iterdir())
        if trial % 2 == 0:  # anywhere in the command's life
            time.sleep(float(rng.uniform(0.05, 1.1)) * total)
        else:  # inside the write phase: after the temporary directory appears
            seen = _watch(proc, runs_dir, timeout=120,
                          until=lambda names, b=before: any(n.startswith(".tmp-") and n not in b for n in names))
            if seen is not None:
                time.sleep(float(rng.uniform(0.0, 1.2)) * write_window)
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=60)
        new = set(p.name for p in runs_dir.iterdir()) - before
        if finished and code == 0:
            outcomes["finished"] += 1
        elif any(RUN_ID_PATTERN.fullmatch(n) for n in new):
            outcomes["killed after the rename"] += 1
        elif new:
            outcomes["killed while writing"] += 1
        else:
            outcomes["killed before writing"] += 1
        if not any(RUN_ID_PATTERN.fullmatch(n) for n in new):
            unsaved.append(k)
        assert_store_consistent(runs_dir)

    leftovers = [p for p in runs_dir.iterdir() if p.name.startswith(".tmp-")]
    print(f"\nSIGKILL trials: one run {total:.2f} s, write phase {write_window * 1000:.0f} ms; {outcomes}; "
          f"{len(leftovers)} temporary leftovers")
    assert outcomes["killed while writing"] >= 2, f"too few kills landed in the write phase: {outcomes}"
    assert outcomes["killed before writing"] >= 2, f"too few kills landed before the write phase: {outcomes}"
    assert len(leftovers) == outcomes["killed while writing"]

    # The store recovers: leftovers are cleaned up, a killed comparison can be made again.
    assert RunStore(runs_dir).cleanup(max_age_seconds=0) == len(leftovers)
    assert not any(p.name.startswith(".") for p in runs_dir.iterdir())
    complete = assert_store_consistent(runs_dir)
    proc = _start(compare_argv(ds, base, tuned, unsaved[0]), home)
    assert proc.wait(timeout=120) == 0
    assert len(assert_store_consistent(runs_dir)) == len(complete) + 1


# -------------------------------------------------------------------------------------- disk full


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path, Path]:
    return make_dataset(tmp_path / "data", n_docs=60, n_queries=8, dim=16)


def _enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _fail_on_call(real: Callable[..., Any], n: int) -> Callable[..., Any]:
    """``real``, except that its ``n``-th call (1-based) fails with ENOSPC: earlier files are written."""
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == n:
            _enospc()
        return real(*args, **kwargs)

    return wrapper


def _fail_in_temporary(real: Callable[..., Any]) -> Callable[..., Any]:
    """``Path.mkdir``, except inside a writer's temporary directory (``.tmp-…``), where it fails."""

    def wrapper(self: Path, *args: Any, **kwargs: Any) -> Any:
        if any(part.startswith(".tmp-") for part in self.parts):
            _enospc()
        return real(self, *args, **kwargs)

    return wrapper


FAULTS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "np.save": lambda mp: mp.setattr(runs_module.np, "save", _fail_on_call(np.save, 4)),
    "to_parquet": lambda mp: mp.setattr(pd.DataFrame, "to_parquet", _fail_on_call(pd.DataFrame.to_parquet, 3)),
    "fsync": lambda mp: mp.setattr(runs_module.os, "fsync", _fail_on_call(os.fsync, 6)),
    "rename": lambda mp: mp.setattr(runs_module.os, "rename", _enospc),
    "mkdir": lambda mp: mp.setattr(Path, "mkdir", _fail_in_temporary(Path.mkdir)),
}


@pytest.mark.parametrize("where", sorted(FAULTS))
def test_disk_full_while_saving(where: str, small: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    ds, base, tuned = small
    runs_dir = Path(os.environ["EMBDIFF_HOME"]) / "runs"
    RunStore()  # the store exists before the fault (its own mkdir is not the one that fails)
    dataset, b, t = load_inputs([ds], base_vectors=base, tuned_vectors=tuned)
    with monkeypatch.context() as mp:
        FAULTS[where](mp)
        with pytest.raises(InputError, match=r"could not save run [0-9a-f]{16}: No space left on device — free disk "
                                             r"space or set EMBDIFF_HOME to a writable directory; nothing was saved"):
            compare_inputs(dataset, b, t, k=5, projection=False)
        assert list(runs_dir.iterdir()) == [], "a partial run or a temporary directory was left behind"
        # the command line: exit 2, the same message, no traceback, nothing saved
        FAULTS[where](mp)  # a fresh call counter
        assert main(compare_argv(ds, base, tuned, 5)) == 2
        err = capsys.readouterr().err
        assert "could not save run" in err and "nothing was saved" in err and "Traceback" not in err
        assert list(runs_dir.iterdir()) == []
    # with space again, the same comparison is saved and loads
    result = compare_inputs(dataset, b, t, k=5, projection=False)
    assert assert_store_consistent(runs_dir) == [result.run_id]


def test_file_size_limit_in_a_real_process(tmp_path: Path) -> None:
    """A real write error from the kernel (RLIMIT_FSIZE: EFBIG), not a simulated one."""
    ds, base, tuned = make_dataset(tmp_path / "big", n_docs=600, n_queries=8, dim=64)  # 150 kB arrays
    home = tmp_path / "home"

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    proc = subprocess.run(
        [sys.executable, "-m", "diagnostics.cli", *compare_argv(ds, base, tuned, 5)], cwd=REPO,
        env={**ENV, "EMBDIFF_HOME": str(home)}, capture_output=True, text=True, timeout=120, preexec_fn=limit,
    )
    assert proc.returncode == 2, proc.stderr
    # numpy writes arrays with one write() call: the kernel cuts it short at the limit (no errno)
    assert re.search(r"embdiff: error: could not save run [0-9a-f]{16}: (File too large|a file was written only "
                     r"in part \(\d+ requested and \d+ written\): is the disk full\?) — .*nothing was saved",
                     proc.stderr), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert list((home / "runs").iterdir()) == []


# ---------------------------------------------------------------------------------------- damaged runs


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _same_size_garbage(path: Path) -> None:
    path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, path.stat().st_size, dtype=np.uint8)))


def _other_manifest(path: Path) -> None:
    body = json.loads(path.read_text())
    body["run_id"] = "0" * 16
    path.write_text(json.dumps(body))


def _replace_by_file(path: Path) -> None:
    for child in path.iterdir():
        child.unlink()
    path.rmdir()
    path.write_text("not a folder")


DAMAGE: dict[str, tuple[str, Callable[[Path], None], str]] = {
    # name: (file under the run directory, what is done to it, the message)
    "manifest-garbage": ("manifest.json", lambda p: p.write_bytes(b"\x00\x01 garbage"),
                         r"saved run {run} is damaged: its manifest cannot be read; delete it and make it again"),
    "manifest-missing": ("manifest.json", lambda p: p.unlink(),
                         r"saved run {run} is damaged: its manifest cannot be read"),
    "manifest-other-run": ("manifest.json", _other_manifest,
                           r"saved run {run} is damaged: its manifest does not describe this run"),
    "table-truncated": ("tables/domains.parquet", _truncate,
                        r"run {run}: table 'domains' cannot be read: it has \d+ bytes but \d+ were written"),
    "table-overwritten": ("tables/per_query.parquet", _same_size_garbage,
                          r"run {run}: table 'per_query' cannot be read \(Arrow\w+\)"),
    "table-missing": ("tables/docs.parquet", lambda p: p.unlink(),
                      r"run {run} has no table 'docs'; the run is incomplete or damaged"),
    "array-truncated": ("arrays/docs_base.npy", _truncate,
                        r"run {run}: array 'docs_base' cannot be read: it has \d+ bytes but \d+ were written"),
    "array-overwritten": ("arrays/rank_base.npy", _same_size_garbage,
                          r"run {run}: array 'rank_base' cannot be read \(.*\); the run is damaged"),
    "arrays-folder-replaced": ("arrays", _replace_by_file, r"run {run} has no array 'rank_base'"),
}


@pytest.fixture
def two_runs(small: tuple[Path, Path, Path]) -> tuple[Comparison, Comparison]:
    ds, base, tuned = small
    dataset, b, t = load_inputs([ds], base_vectors=base, tuned_vectors=tuned)
    return compare_inputs(dataset, b, t, k=3, projection=False), compare_inputs(dataset, b, t, k=4, projection=False)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_run_is_reported_and_the_others_keep_working(
    damage: str, two_runs: tuple[Comparison, Comparison], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hurt, healthy = two_runs
    store = RunStore()
    healthy_domains = load_comparison(healthy.run_id).domains.copy()
    where, act, message = DAMAGE[damage]
    act(store.path(hurt.run_id) / where)

    pattern = message.format(run=hurt.run_id)
    with pytest.raises(RunCorruptError, match=pattern) as info:
        load_comparison(hurt.run_id)
    assert str(store.root) not in str(info.value) and str(tmp_path) not in str(info.value)

    # the other run is untouched and fully readable
    other = load_comparison(healthy.run_id)
    pd.testing.assert_frame_equal(other.domains, healthy_domains)
    store.open(healthy.run_id).verify()
    listed = {m["run_id"]: m for m in store.list_runs()}
    assert "error" not in listed[healthy.run_id]
    if damage.startswith("manifest"):  # the listing reads manifests only: those are flagged there too
        assert re.search(pattern, listed[hurt.run_id]["error"])

    # the command line reports it (exit 2) and still exports the healthy run
    assert main(["report", hurt.run_id, "--json", str(tmp_path / "hurt.json")]) == 2
    err = capsys.readouterr().err
    assert re.search(pattern, err) and "Traceback" not in err
    assert not (tmp_path / "hurt.json").exists()
    assert main(["report", healthy.run_id, "--json", str(tmp_path / "ok.json")]) == 0
    assert json.loads((tmp_path / "ok.json").read_text())["run_id"] == healthy.run_id


# --------------------------------------------------------------------------------------------- reviews

# Ten processes share two cores: each imports the review store alone, not the whole engine
# (diagnostics/__init__ imports every module, ~2 s of CPU per process).
_BARE_IMPORT = """
import sys, types
package = types.ModuleType("diagnostics")
package.__path__ = [sys.argv[-1]]
sys.modules["diagnostics"] = package
from diagnostics.reviews import ReviewStore
"""
_WRITER = _BARE_IMPORT + """
store = ReviewStore(sys.argv[1])
for i in range(50):
    store.add(sys.argv[2], reviewer=f"writer-{sys.argv[3]}", decision="approve", comment=str(i))
"""
_READER = _BARE_IMPORT + """
import time
store = ReviewStore(sys.argv[1])
seen = []
deadline = time.time() + 60
while time.time() < deadline:
    n = len(store.history(sys.argv[2]))
    seen.append(n)
    if n >= 400:
        break
    time.sleep(0.02)
print(min(seen), max(seen), all(a <= b for a, b in zip(seen, seen[1:])))
"""


def test_eight_writers_and_two_readers(tmp_path: Path) -> None:
    """8 processes x 50 reviews while 2 processes read the history: 400 rows, in order, none doubled;
    the readers only ever see the count grow."""
    path = tmp_path / "reviews.sqlite3"
    run = "0123456789abcdef"
    ReviewStore(path)
    package = str(REPO / "diagnostics")
    readers = [subprocess.Popen([sys.executable, "-c", _READER, str(path), run, package], env=ENV,
                                stdout=subprocess.PIPE, text=True) for _ in range(2)]
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), run, str(i), package], env=ENV)
               for i in range(8)]
    assert [w.wait(timeout=120) for w in writers] == [0] * 8
    for reader in readers:
        out, _ = reader.communicate(timeout=120)
        low, high, monotonic = out.split()
        assert int(high) == 400 and monotonic == "True"
    history = ReviewStore(path).history(run)
    assert len(history) == 400 == ReviewStore(path).count()
    assert len({r.id for r in history}) == 400
    for i in range(8):
        mine = [r.comment for r in history if r.reviewer == f"writer-{i}"]
        assert mine == [str(n) for n in range(50)], "a writer's reviews are missing, doubled or out of order"


def test_the_app_reports_a_damaged_run_and_keeps_showing_the_others(small: tuple[Path, Path, Path]) -> None:
    """In the app (AppTest): a damaged run's link shows what is damaged and says the other runs are fine;
    the Load page flags a run with an unreadable manifest; a healthy run's Overview still opens."""
    from streamlit.testing.v1 import AppTest

    from ui.state import PAGES

    ds, base, tuned = small
    dataset, b, t = load_inputs([ds], base_vectors=base, tuned_vectors=tuned)
    table_hurt, manifest_hurt, healthy = (compare_inputs(dataset, b, t, k=k, projection=False) for k in (6, 7, 8))
    store = RunStore()
    _truncate(store.path(table_hurt.run_id) / "tables" / "domains.parquet")
    (store.path(manifest_hurt.run_id) / "manifest.json").write_text("{")

    def shown(elements: Any) -> list[str]:
        """The texts of message elements, markdown escapes removed (the app escapes what it shows)."""
        return [re.sub(r"\\(.)", r"\1", e.value) for e in elements]

    def open_page(page: str, **params: str) -> AppTest:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
        at.query_params.update(params)
        at.run()
        at.switch_page(PAGES[page][0]).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    at = open_page("overview", run=table_hurt.run_id)
    assert any(f"run {table_hurt.run_id}: table 'domains' cannot be read" in e and "Other runs are not affected" in e
               for e in shown(at.error)), shown(at.error)
    at = open_page("overview", run=manifest_hurt.run_id)
    assert any(f"saved run {manifest_hurt.run_id} is damaged: its manifest cannot be read" in e
               for e in shown(at.error)), shown(at.error)
    at = open_page("overview", run=healthy.run_id)
    banners = shown([*at.success, *at.warning, *at.error, *at.info])
    assert f"Verdict: {healthy.verdict}" in banners and not any("damaged" in b for b in banners)
    at = open_page("load")
    assert any(w.startswith(f"{manifest_hurt.run_id}: saved run {manifest_hurt.run_id} is damaged")
               for w in shown(at.warning)), shown(at.warning)
