"""Sign-off reviews in an embedded SQLite database, append-only and safe under concurrency.

One row per review: run id, reviewer, decision (approve / reject / needs-work), comment, time (UTC).
The database runs in WAL mode with a busy timeout, so many sessions and processes can append at
once; triggers refuse UPDATE and DELETE, so history cannot be rewritten through this module or
any other SQLite client.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from diagnostics._home import embdiff_home
from diagnostics._validation import InputError, check_run_id

__all__ = ["DECISIONS", "Review", "ReviewStore"]

DECISIONS = ("approve", "reject", "needs-work")
MAX_REVIEWER = 100
MAX_COMMENT = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('approve', 'reject', 'needs-work')),
    comment TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_run ON reviews (run_id, id);
CREATE TRIGGER IF NOT EXISTS reviews_no_update BEFORE UPDATE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
CREATE TRIGGER IF NOT EXISTS reviews_no_delete BEFORE DELETE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
"""


@dataclass(frozen=True)
class Review:
    """One recorded review."""

    id: int
    run_id: str
    reviewer: str
    decision: str
    comment: str
    created_at: str


class ReviewStore:
    """The review database, by default ``$EMBDIFF_HOME/reviews.sqlite3``."""

    def __init__(self, path: Path | str | None = None, *, timeout: float = 30.0) -> None:
        self.path = Path(path) if path is not None else embdiff_home() / "reviews.sqlite3"
        self.timeout = timeout
        with closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        return conn

    def add(self, run_id: str, *, reviewer: str, decision: str, comment: str = "") -> Review:
        """Append a review and return it as stored.

        Raises
        ------
        InputError
            Malformed run id, empty or over-long reviewer, unknown decision, over-long comment.
        """
        check_run_id(run_id)
        reviewer = (reviewer or "").strip()
        if not reviewer:
            raise InputError("reviewer is empty: enter your name or handle before submitting a review")
        if len(reviewer) > MAX_REVIEWER:
            raise InputError(f"reviewer has {len(reviewer)} characters; at most {MAX_REVIEWER} are allowed")
        if decision not in DECISIONS:
            raise InputError(f"decision must be one of {', '.join(DECISIONS)}; got {str(decision)[:20]!r}")
        comment = comment or ""
        if len(comment) > MAX_COMMENT:
            raise InputError(f"comment has {len(comment)} characters; at most {MAX_COMMENT} are allowed")
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with closing(self._connect()) as conn:
            cur = conn.execute(
                "INSERT INTO reviews (run_id, reviewer, decision, comment, created_at) VALUES (?, ?, ?, ?, ?)",
                (run_id, reviewer, decision, comment, created),
            )
            row_id = int(cur.lastrowid or 0)
        return Review(row_id, run_id, reviewer, decision, comment, created)

    def history(self, run_id: str) -> list[Review]:
        """Every review of a run, oldest first."""
        check_run_id(run_id)
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT id, run_id, reviewer, decision, comment, created_at FROM reviews "
                "WHERE run_id = ? ORDER BY id",
                (run_id,),
            ).fetchall()
        return [Review(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5])) for r in rows]

    def count(self) -> int:
        with closing(self._connect()) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM reviews").fetchone()[0])
