"""Reviews: append-only SQLite, concurrent writers."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from diagnostics._validation import InputError
from diagnostics.reviews import ReviewStore

RUN = "0123456789abcdef"


def test_add_and_history(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path / "r.sqlite3")
    store.add(RUN, reviewer="ana", decision="needs-work", comment="legal dropped")
    store.add(RUN, reviewer="bo", decision="approve")
    store.add("fedcba9876543210", reviewer="cy", decision="reject")
    history = store.history(RUN)
    assert [(r.reviewer, r.decision, r.comment) for r in history] == [
        ("ana", "needs-work", "legal dropped"),
        ("bo", "approve", ""),
    ]
    assert history[0].id < history[1].id and history[0].created_at.endswith("Z")


def test_append_only(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    ReviewStore(path).add(RUN, reviewer="ana", decision="approve")
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE reviews SET decision = 'reject'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM reviews")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"reviewer": " ", "decision": "approve"}, "reviewer is empty"),
        ({"reviewer": "x" * 101, "decision": "approve"}, "at most 100"),
        ({"reviewer": "ana", "decision": "ship it"}, "decision must be one of approve, reject, needs-work"),
        ({"reviewer": "ana", "decision": "approve", "comment": "c" * 5001}, "at most 5000"),
    ],
)
def test_validation(tmp_path: Path, kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(InputError, match=match):
        ReviewStore(tmp_path / "r.sqlite3").add(RUN, **kwargs)


def test_bad_run_id(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not valid"):
        ReviewStore(tmp_path / "r.sqlite3").add("../x", reviewer="a", decision="approve")


_WRITER = """
import sys
from diagnostics.reviews import ReviewStore
store = ReviewStore(sys.argv[1])
for i in range(int(sys.argv[3])):
    store.add(sys.argv[2], reviewer=f"p{sys.argv[4]}", decision="approve", comment=str(i))
"""


def test_concurrent_processes_all_recorded(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    ReviewStore(path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), RUN, "50", str(i)], env=env) for i in range(8)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 8
    history = ReviewStore(path).history(RUN)
    assert len(history) == 400
    assert {r.reviewer for r in history} == {f"p{i}" for i in range(8)}
    assert len({r.id for r in history}) == 400
