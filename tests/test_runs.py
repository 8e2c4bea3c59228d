"""The run store: atomic writes, immutability, id validation, damaged runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from diagnostics._validation import InputError
from diagnostics.runs import RunCorruptError, RunNotFoundError, RunStore, run_id_for

RUN = "0123456789abcdef"


def _write(store: RunStore, run_id: str = RUN) -> None:
    store.write(
        run_id,
        {"dataset": {"fingerprint": "x"}},
        arrays={"base_docs": np.eye(3, dtype=np.float32)},
        tables={"per_query": pd.DataFrame({"query_id": ["q1", "q2"], "ndcg@10": [0.5, 1.0]})},
    )


def test_round_trip(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    _write(store)
    run = store.open(RUN)
    assert run.manifest["run_id"] == RUN
    assert run.manifest["dataset"] == {"fingerprint": "x"}
    arr = run.array("base_docs")
    assert isinstance(arr, np.memmap)
    np.testing.assert_array_equal(arr, np.eye(3))
    assert run.table("per_query")["ndcg@10"].tolist() == [0.5, 1.0]
    assert [m["run_id"] for m in store.list_runs()] == [RUN]


def test_run_id_derives_from_inputs() -> None:
    a = run_id_for({"dataset": "d", "base": "b", "k": 10})
    assert a == run_id_for({"k": 10, "base": "b", "dataset": "d"})
    assert a != run_id_for({"dataset": "d", "base": "b", "k": 11})
    assert len(a) == 16 and int(a, 16) >= 0


def test_runs_are_immutable(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    _write(store)
    store.write(RUN, {"dataset": {"fingerprint": "other"}}, arrays={"base_docs": np.zeros((1, 1))})
    assert store.open(RUN).manifest["dataset"] == {"fingerprint": "x"}
    np.testing.assert_array_equal(store.open(RUN).array("base_docs"), np.eye(3))


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "", "0123456789ABCDEF", "0123456789abcde", "..", "a" * 200])
def test_run_id_validation(tmp_path: Path, bad: str) -> None:
    store = RunStore(tmp_path)
    with pytest.raises(InputError, match="is not valid: a run id is 16 lower-case hexadecimal"):
        store.open(bad)
    with pytest.raises(InputError, match="is not valid"):
        store.write(bad, {})


def test_error_message_never_shows_a_path(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        RunStore(tmp_path).open("../../etc/passwd")
    assert "/" not in str(info.value).split("is not valid")[0]


def test_unknown_run(tmp_path: Path) -> None:
    with pytest.raises(RunNotFoundError, match="no saved run has the id"):
        RunStore(tmp_path).open("ffffffffffffffff")


def test_damaged_run_is_reported_and_others_keep_working(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    _write(store)
    other = "fedcba9876543210"
    _write(store, other)
    (store.path(other) / "manifest.json").write_text("{not json")
    with pytest.raises(RunCorruptError, match="is damaged"):
        store.open(other)
    (store.path(RUN) / "tables" / "per_query.parquet").write_bytes(b"garbage")
    with pytest.raises(RunCorruptError, match="cannot be read"):
        store.open(RUN).table("per_query")
    np.testing.assert_array_equal(store.open(RUN).array("base_docs"), np.eye(3))
    listed = {m["run_id"]: m for m in store.list_runs()}
    assert "error" in listed[other] and "error" not in listed[RUN]


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = RunStore(tmp_path)

    class Boom(pd.DataFrame):
        def to_parquet(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
            raise OSError(28, "No space left on device")

    with pytest.raises(InputError, match="could not save run .*No space left on device.*nothing was saved"):
        store.write(RUN, {}, arrays={"a": np.zeros(3)}, tables={"t": Boom({"a": [1]})})
    assert list(tmp_path.iterdir()) == []
    assert not store.exists(RUN)


_WRITER = """
import sys, numpy as np
from diagnostics.runs import RunStore
store = RunStore(sys.argv[1])
big = np.random.default_rng(0).standard_normal((4000, 384)).astype(np.float32)
print("start", flush=True)
store.write(sys.argv[2], {"x": 1}, arrays={f"a{i}": big for i in range(40)})
print("done", flush=True)
"""


def test_killed_writer_leaves_no_visible_run(tmp_path: Path) -> None:
    """SIGKILL a writer in the middle of writing 40 arrays: no run becomes visible."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path), RUN], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "start"
    deadline = time.time() + 30
    while time.time() < deadline and not any(tmp_path.glob(".tmp-*/arrays/a3.npy")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = RunStore(tmp_path)
    assert any(p.name.startswith(".tmp-") for p in tmp_path.iterdir()), "the writer was killed too late"
    assert not store.exists(RUN)
    assert store.list_runs() == []
    with pytest.raises(RunNotFoundError):
        store.open(RUN)
    assert store.cleanup(max_age_seconds=0) == 1
    assert list(tmp_path.iterdir()) == []


def test_manifest_is_plain_json(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    _write(store)
    body = json.loads((store.path(RUN) / "manifest.json").read_text())
    assert body["format_version"] == 1 and "created_at" in body
