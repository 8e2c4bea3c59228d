"""Sign-off reviews: an append-only SQLite table that is also a hash chain, bound to each run's content.

Why one module past ~500 lines: the table, its hash chain, the migration of older stores and the
verification must be read together to be trusted; split, a reviewer of the threat model would need four
files.

One row per review: the run id and the run's content digest and verdict at the time
(:func:`diagnostics.runs.content_digest`), the reviewer's identity (``verified``: subject, email and
issuer asserted by the app's OpenID Connect login; ``unverified``: a typed name, or automation), the
decision, comment and written justification, the time (UTC).

**Chain.** Rows are numbered ``seq`` 1, 2, 3, … in the order written. Each row stores
``fields_hash`` (SHA-256 of the canonical JSON of its :data:`HASHED_FIELDS`), ``prev_hash`` (the
previous row's ``row_hash``; :data:`GENESIS` for the first) and ``row_hash`` = SHA-256 of
``prev_hash + fields_hash``. An edit of any field, or the deletion of any row but the newest, made
outside embdiff (a plain SQLite client with the triggers dropped) breaks a hash or a link, and
:meth:`ReviewStore.verify` names the first broken row. Deleting the *newest* rows leaves a shorter
valid chain: the chain head (``seq`` and ``row_hash`` of the newest row) is also kept in a file beside
the database (``reviews.sqlite3.head.json``) and in every sign-off export, and ``verify`` compares.
Rewriting the whole chain consistently needs write access to the database *and* the head file; a
head copied elsewhere (an export attached to the ticket, ``embdiff reviews verify`` output) catches
even that. The threat model is in ``docs/DEPLOY.md``.

The database runs in WAL mode with a busy timeout; a write takes SQLite's write lock first
(``BEGIN IMMEDIATE``), so concurrent writers from many sessions and processes extend one chain.
Triggers refuse UPDATE and DELETE. A database of the first schema (no chain) is migrated in place
on open, every row kept, its rows chained in id order and marked ``identity: unverified``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from diagnostics._home import embdiff_home
from diagnostics._validation import InputError, check_run_id
from diagnostics.access import AccessDenied, AccessPolicy, Identity

__all__ = [
    "DECISIONS", "EXPORT_FORMAT", "GENESIS", "HASHED_FIELDS", "ChainReport", "Review", "ReviewStore", "SignOff",
    "signoff_status", "verify_export",
]

DECISIONS = ("approve", "reject", "needs-work")
MAX_REVIEWER = 100
MAX_COMMENT = 5000
#: Verdicts whose approval needs a written justification, stored with the review.
JUSTIFY_VERDICTS = ("FAIL", "UNVERIFIED")
GENESIS = "0" * 64
SCHEMA_VERSION = 2
EXPORT_FORMAT = "embdiff-signoff/1"
#: The fields of a row its ``fields_hash`` covers, in this order of the canonical JSON's keys (sorted).
HASHED_FIELDS = (
    "seq", "run_id", "run_digest", "run_verdict", "reviewer", "identity", "subject", "email", "issuer",
    "decision", "comment", "justification", "created_at",
)
_COLUMNS = ("id",) + HASHED_FIELDS + ("fields_hash", "prev_hash", "row_hash")

_TABLE = """
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('approve', 'reject', 'needs-work')),
    comment TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
"""
# Columns the chain added to the first schema, with their defaults for migrated rows.
_ADDED = {
    "seq": "INTEGER NOT NULL DEFAULT 0",
    "run_digest": "TEXT NOT NULL DEFAULT ''",
    "run_verdict": "TEXT NOT NULL DEFAULT ''",
    "identity": "TEXT NOT NULL DEFAULT 'unverified'",
    "subject": "TEXT NOT NULL DEFAULT ''",
    "email": "TEXT NOT NULL DEFAULT ''",
    "issuer": "TEXT NOT NULL DEFAULT ''",
    "justification": "TEXT NOT NULL DEFAULT ''",
    "fields_hash": "TEXT NOT NULL DEFAULT ''",
    "prev_hash": "TEXT NOT NULL DEFAULT ''",
    "row_hash": "TEXT NOT NULL DEFAULT ''",
}
_INDEXES_AND_TRIGGERS = (
    "CREATE INDEX IF NOT EXISTS reviews_run ON reviews (run_id, id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS reviews_seq ON reviews (seq)",
    "CREATE TRIGGER IF NOT EXISTS reviews_no_update BEFORE UPDATE ON reviews "
    "BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS reviews_no_delete BEFORE DELETE ON reviews "
    "BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END",
)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fields_hash(row: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a row's :data:`HASHED_FIELDS`."""
    body = {key: row[key] for key in HASHED_FIELDS}
    return _sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def link_hash(prev_hash: str, own_fields_hash: str) -> str:
    """A row's ``row_hash``: SHA-256 of the previous row's ``row_hash`` followed by its own ``fields_hash``."""
    return _sha256(prev_hash + own_fields_hash)


@dataclass(frozen=True)
class Review:
    """One recorded review, as stored."""

    id: int
    run_id: str
    reviewer: str
    decision: str
    comment: str
    created_at: str
    seq: int = 0
    identity: str = "unverified"
    subject: str = ""
    email: str = ""
    issuer: str = ""
    justification: str = ""
    run_digest: str = ""
    run_verdict: str = ""
    fields_hash: str = ""
    prev_hash: str = ""
    row_hash: str = ""

    @property
    def verified(self) -> bool:
        return self.identity == "verified"

    @property
    def reviewer_key(self) -> str:
        """Same reviewer ⇔ same key: issuer and subject when verified, the typed name otherwise."""
        return f"{self.issuer}|{self.subject}" if self.verified else f"unverified|{self.subject.casefold()}"


@dataclass(frozen=True)
class ChainReport:
    """What :meth:`ReviewStore.verify` found: ``ok``, rows checked, the head, the first broken row."""

    ok: bool
    rows: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    broken_id: int | None = None
    problem: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"review chain intact: {self.rows} rows, head #{self.head_seq} {self.head_hash[:16]}"
        where = f"row #{self.broken_seq}" if self.broken_seq is not None else "the chain"
        if self.broken_id is not None:
            where += f" (id {self.broken_id})"
        return f"review chain BROKEN at {where}: {self.problem}"


@dataclass(frozen=True)
class SignOff:
    """A run's sign-off state from its reviews (:func:`signoff_status`)."""

    state: str  # approved / rejected / needs-work / pending
    approvals: int
    required: int
    approvers: tuple[str, ...] = ()
    objections: tuple[str, ...] = ()
    stale: int = 0  # reviews of other content (digest differs) or made before digests
    unverified: int = 0  # reviews that did not count because their identity is unverified
    notes: tuple[str, ...] = field(default_factory=tuple)


def _check_text(value: str, name: str, limit: int) -> str:
    value = value or ""
    if len(value) > limit:
        raise InputError(f"{name} has {len(value)} characters; at most {limit} are allowed")
    return value


class ReviewStore:
    """The review database, by default ``$EMBDIFF_HOME/reviews.sqlite3``.

    With a ``policy`` (the app behind a login), every write must come from a verified identity that
    policy names as a reviewer: :class:`~diagnostics.access.AccessDenied` otherwise, whoever calls.
    """

    def __init__(self, path: Path | str | None = None, *, timeout: float = 30.0,
                 policy: AccessPolicy | None = None) -> None:
        self.path = Path(path) if path is not None else embdiff_home() / "reviews.sqlite3"
        self.head_path = self.path.with_name(self.path.name + ".head.json")
        self.timeout = timeout
        self.policy = policy
        with closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            self._migrate(conn)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Create the table, or bring a first-schema table to the chained one in place (every row kept)."""
        if int(conn.execute("PRAGMA user_version").fetchone()[0]) >= SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            if int(conn.execute("PRAGMA user_version").fetchone()[0]) >= SCHEMA_VERSION:  # another process did it
                conn.execute("ROLLBACK")
                return
            # one statement at a time: executescript would commit the transaction first
            conn.execute("DROP TRIGGER IF EXISTS reviews_no_update")
            conn.execute("DROP TRIGGER IF EXISTS reviews_no_delete")
            conn.execute(_TABLE)
            have = {str(r[1]) for r in conn.execute("PRAGMA table_info(reviews)")}
            for column, spec in _ADDED.items():
                if column not in have:
                    conn.execute(f"ALTER TABLE reviews ADD COLUMN {column} {spec}")
            prev = GENESIS
            rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM reviews ORDER BY id").fetchall()  # noqa: S608
            for seq, values in enumerate(rows, start=1):
                row = dict(zip(_COLUMNS, values, strict=True))
                row.update(seq=seq, subject=row["subject"] or row["reviewer"])
                own = fields_hash(row)
                prev, done = link_hash(prev, own), prev
                conn.execute(
                    "UPDATE reviews SET seq = ?, subject = ?, fields_hash = ?, prev_hash = ?, row_hash = ? "
                    "WHERE id = ?",
                    (seq, row["subject"], own, done, prev, row["id"]),
                )
            for statement in _INDEXES_AND_TRIGGERS:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            if rows:
                self._write_head(len(rows), prev)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- writing -------------------------------------------------------------------------------------

    def add(
        self,
        run_id: str,
        *,
        decision: str,
        reviewer: str | None = None,
        identity: Identity | None = None,
        comment: str = "",
        justification: str = "",
        run_digest: str = "",
        run_verdict: str = "",
    ) -> Review:
        """Append a review to the chain and return it as stored.

        ``identity`` is who reviews; ``reviewer`` (a typed name) is shorthand for an unverified one.
        Prefer :meth:`record`, which takes the run's digest and verdict from the run store.

        Raises
        ------
        InputError
            Malformed run id, no or over-long reviewer, unknown decision, over-long comment, an approval
            of a FAIL or UNVERIFIED run without a justification.
        AccessDenied
            The store has a policy and ``identity`` is not a verified reviewer under it.
        """
        check_run_id(run_id)
        if identity is None:
            identity = Identity.unverified(reviewer or "")
        if self.policy is not None:
            self.policy.require_reviewer(identity)
        if decision not in DECISIONS:
            raise InputError(f"decision must be one of {', '.join(DECISIONS)}; got {str(decision)[:20]!r}")
        comment = _check_text(comment, "comment", MAX_COMMENT)
        justification = _check_text(justification, "justification", MAX_COMMENT).strip()
        if decision == "approve" and run_verdict in JUSTIFY_VERDICTS and not justification:
            raise InputError(
                f"the run's verdict is {run_verdict}: approving it needs a written justification "
                "(why shipping is acceptable despite it), stored with the review"
            )
        row: dict[str, Any] = {
            "run_id": run_id, "run_digest": run_digest, "run_verdict": run_verdict, "reviewer": identity.label,
            "identity": "verified" if identity.verified else "unverified", "subject": identity.subject,
            "email": identity.email, "issuer": identity.issuer, "decision": decision, "comment": comment,
            "justification": justification, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")  # the write lock: one chain, whatever the number of writers
            last = None
            try:
                last = conn.execute("SELECT seq, row_hash FROM reviews ORDER BY seq DESC LIMIT 1").fetchone()
                row["seq"] = int(last[0]) + 1 if last else 1
                row["prev_hash"] = str(last[1]) if last else GENESIS
                row["fields_hash"] = fields_hash(row)
                row["row_hash"] = link_hash(row["prev_hash"], row["fields_hash"])
                names = [c for c in _COLUMNS if c != "id"]
                # column names are this module's constants; values are bound
                insert = f"INSERT INTO reviews ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"  # noqa: S608
                cur = conn.execute(insert, [row[c] for c in names])
                row["id"] = int(cur.lastrowid or 0)
                self._write_head(row["seq"], row["row_hash"])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                if last is not None:  # the head may already name the row that was not written
                    self._write_head(int(last[0]), str(last[1]))
                raise
        return Review(**{c: row[c] for c in _COLUMNS})

    def record(self, run_id: str, *, decision: str, identity: Identity, comment: str = "",
               justification: str = "", runs: Any = None) -> Review:
        """Record a review of a saved run, bound to its content digest and verdict as stored now.

        ``runs`` is the :class:`~diagnostics.runs.RunStore` (default: ``$EMBDIFF_HOME/runs``). A run whose
        files no longer match the digest written with it is refused: there is nothing sound to approve.

        Raises
        ------
        InputError, RunNotFoundError, RunCorruptError, AccessDenied
        """
        from diagnostics.runs import RunCorruptError, RunStore

        if self.policy is not None:  # before reading anything of the run
            self.policy.require_reviewer(identity)
        saved = (runs or RunStore()).open(run_id)
        current = saved.current_digest()
        if current != saved.digest:
            raise RunCorruptError(
                f"run {run_id} changed on disk since it was saved (content digest {current[:16]} ≠ "
                f"{saved.digest[:16]}): it cannot be reviewed; make it again"
            )
        return self.add(run_id, decision=decision, identity=identity, comment=comment,
                        justification=justification, run_digest=current,
                        run_verdict=str(saved.manifest.get("verdict", "")))

    def _write_head(self, seq: int, row_hash: str) -> None:
        tmp = self.head_path.with_name(f"{self.head_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"seq": seq, "row_hash": row_hash}), encoding="utf-8")
        os.replace(tmp, self.head_path)

    # -- reading -------------------------------------------------------------------------------------

    def _rows(self, where: str = "", args: Iterable[Any] = ()) -> list[Review]:
        with closing(self._connect()) as conn:
            rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM reviews {where} ORDER BY seq, id",  # noqa: S608
                                tuple(args)).fetchall()
        return [Review(**dict(zip(_COLUMNS, r, strict=True))) for r in rows]

    def history(self, run_id: str) -> list[Review]:
        """Every review of a run, oldest first."""
        check_run_id(run_id)
        return self._rows("WHERE run_id = ?", (run_id,))

    def count(self) -> int:
        with closing(self._connect()) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM reviews").fetchone()[0])

    def head(self) -> dict[str, Any] | None:
        """The chain head kept beside the database (``seq``, ``row_hash``), or None if there is none."""
        try:
            data = json.loads(self.head_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"seq": -1, "row_hash": "unreadable"}
        return data if isinstance(data, dict) else {"seq": -1, "row_hash": "unreadable"}

    def verify(self) -> ChainReport:
        """Walk the whole chain: every row's hashes and links, then the head file. Names the first break."""
        return check_chain([asdict(r) for r in self._rows()], head=self.head())

    def export(self, run_id: str, *, current_digest: str | None = None) -> dict[str, Any]:
        """A run's sign-off record as a JSON-able dict that :func:`verify_export` checks offline.

        It holds every review of the run in full, and the chain's hashes (``seq``, ``fields_hash``,
        ``prev_hash``, ``row_hash``) of every row up to the newest, other runs' fields left out, so the
        links can be checked without disclosing other runs' reviews.
        """
        check_run_id(run_id)
        rows = self._rows()
        report = check_chain([asdict(r) for r in rows], head=self.head())
        return {
            "format": EXPORT_FORMAT,
            "run_id": run_id,
            "run_digest_now": current_digest,
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "algorithm": "row_hash = sha256(prev_hash + fields_hash); fields_hash = sha256 of the canonical JSON "
                         "(sorted keys, no spaces, UTF-8) of hashed_fields; first prev_hash = genesis",
            "genesis": GENESIS,
            "hashed_fields": list(HASHED_FIELDS),
            "reviews": [{c: getattr(r, c) for c in _COLUMNS} for r in rows if r.run_id == run_id],
            "chain": [{"seq": r.seq, "fields_hash": r.fields_hash, "prev_hash": r.prev_hash, "row_hash": r.row_hash}
                      for r in rows],
            "head": {"seq": report.head_seq, "row_hash": report.head_hash},
            "chain_intact": report.ok,
            "chain_report": report.describe(),
        }


def check_chain(rows: list[dict[str, Any]], *, head: Mapping[str, Any] | None) -> ChainReport:
    """Check rows (ordered by ``seq``) as a chain; with full fields their ``fields_hash`` is recomputed."""
    prev, expected = GENESIS, 1
    for row in rows:
        seq = int(row.get("seq") or 0)
        rid = row.get("id")
        rid = int(rid) if rid is not None else None

        problem = ""
        if seq > expected:
            missing = f"rows #{expected}–#{seq - 1} are" if seq > expected + 1 else f"row #{expected} is"
            return ChainReport(False, len(rows), expected - 1, prev, expected, None,
                               f"{missing} missing (deleted outside embdiff)")
        if seq < expected:
            problem = f"sequence number {seq} repeats or goes back"
        elif row.get("prev_hash") != prev:
            problem = "its link to the previous row does not match (a row before it was deleted or replaced)"
        elif all(k in row for k in HASHED_FIELDS) and fields_hash(row) != row.get("fields_hash"):
            problem = "its fields do not match its hash (edited outside embdiff)"
        elif link_hash(prev, str(row.get("fields_hash"))) != row.get("row_hash"):
            problem = "its row hash does not match its fields and link (edited outside embdiff)"
        if problem:
            return ChainReport(False, len(rows), expected - 1, prev, seq, rid, problem)
        prev, expected = str(row["row_hash"]), expected + 1
    n = expected - 1
    if head is not None:
        head_seq, head_hash = int(head.get("seq", -1)), str(head.get("row_hash", ""))
        if head_seq > n:
            return ChainReport(False, len(rows), n, prev, n + 1, None,
                               f"the chain head names row #{head_seq} but the chain ends at #{n}: "
                               "its newest rows were deleted")
        if head_seq < n:
            return ChainReport(False, len(rows), n, prev, head_seq + 1, None,
                               f"rows after #{head_seq}, the chain head, were added outside embdiff")
        if head_seq == n and n and head_hash != prev:
            return ChainReport(False, len(rows), n, prev, n, None,
                               "the newest row differs from the chain head (the chain was rewritten)")
    return ChainReport(True, len(rows), n, prev)


def verify_export(doc: Mapping[str, Any]) -> ChainReport:
    """Check a sign-off export (:meth:`ReviewStore.export`) offline: every review's fields against its
    hash, and the chain of hashes it carries, from the genesis to the head it names."""
    if not isinstance(doc, Mapping) or doc.get("format") != EXPORT_FORMAT:
        raise InputError(f"not an embdiff sign-off export (expected format {EXPORT_FORMAT!r})")
    chain = doc.get("chain")
    reviews = doc.get("reviews")
    if not isinstance(chain, list) or not isinstance(reviews, list):
        raise InputError("the export has no `chain` or `reviews` list")
    full = {int(r["seq"]): r for r in reviews if isinstance(r, Mapping) and "seq" in r}
    rows = [{**dict(link), **full.get(int(link.get("seq", 0)), {})} for link in chain if isinstance(link, Mapping)]
    missing = set(full) - {int(r.get("seq", 0)) for r in rows}
    if missing:
        return ChainReport(False, len(rows), 0, GENESIS, min(missing), None, "a review is not in the chain")
    for row in rows:  # a review's fields must be the ones its chain entry hashed
        if row["seq"] in full and fields_hash(row) != row.get("fields_hash"):
            return ChainReport(False, len(rows), 0, GENESIS, int(row["seq"]), None,
                               "the review's fields do not match its hash (edited after export)")
    return check_chain(rows, head=doc.get("head") if isinstance(doc.get("head"), Mapping) else None)


def signoff_status(history: list[Review], *, required: int = 1, current_digest: str | None = None,
                   verified_only: bool = False) -> SignOff:
    """The run's sign-off from its history: each reviewer's latest review counts once.

    Approved when at least ``required`` distinct reviewers' latest decision is approve and none's is
    reject or needs-work. Only reviews bound to ``current_digest`` (the run as it is now) count; with
    ``verified_only`` (the app behind a login) only logged-in reviewers count.
    """
    latest: dict[str, Review] = {}
    stale = unverified = 0
    for review in history:
        if current_digest is not None and review.run_digest != current_digest:
            stale += 1
            continue
        if verified_only and not review.verified:
            unverified += 1
            continue
        latest[review.reviewer_key] = review
    approvers = tuple(r.reviewer for r in latest.values() if r.decision == "approve")
    objections = tuple(f"{r.reviewer}: {r.decision}" for r in latest.values() if r.decision != "approve")
    if any(r.decision == "reject" for r in latest.values()):
        state = "rejected"
    elif objections:
        state = "needs-work"
    elif len(approvers) >= required:
        state = "approved"
    else:
        state = "pending"
    notes = []
    if stale:
        notes.append(f"{stale} review(s) were of other content (the run changed, or they predate digests) "
                     "and do not count")
    if unverified:
        notes.append(f"{unverified} review(s) have no verified identity and do not count behind a login")
    return SignOff(state, len(approvers), required, approvers, objections, stale, unverified, tuple(notes))


__all__ += ["AccessDenied", "check_chain", "fields_hash", "link_hash"]
