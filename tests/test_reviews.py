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


# -- identities, roles, the hash chain, binding to the run's content -----------------------------------

import json  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from diagnostics.access import AccessDenied, AccessPolicy, Identity, load_policy  # noqa: E402
from diagnostics.reviews import GENESIS, check_chain, signoff_status, verify_export  # noqa: E402
from diagnostics.runs import RunCorruptError, RunStore  # noqa: E402

ISSUER = "http://127.0.0.1:9400"
ANA = Identity(subject="ana-sub", email="ana@lab.example.com", issuer=ISSUER, verified=True)
BO = Identity(subject="bo-sub", email="bo@lab.example.com", issuer=ISSUER, verified=True)
VIC = Identity(subject="vic-sub", email="vic@elsewhere.org", issuer=ISSUER, verified=True)
POLICY = AccessPolicy.from_mapping({"viewers": ["*"], "reviewers": ["@lab.example.com"], "approvals_required": 2})


def _tamper(path: Path, *statements: str) -> None:
    """Change the database as someone with a plain SQLite client would: triggers dropped first."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER reviews_no_update")
    conn.execute("DROP TRIGGER reviews_no_delete")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def _chain(tmp_path: Path, n: int = 5) -> ReviewStore:
    store = ReviewStore(tmp_path / "r.sqlite3")
    for i in range(n):
        store.add(RUN, reviewer=f"r{i}", decision="approve", comment=f"c{i}")
    return store


def test_chain_intact_and_linked(tmp_path: Path) -> None:
    store = _chain(tmp_path)
    rows = store.history(RUN)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.row_hash for a, b in zip(rows, rows[1:], strict=False))
    report = store.verify()
    assert report.ok and report.rows == 5 and report.head_seq == 5 and report.head_hash == rows[-1].row_hash
    assert store.head() == {"seq": 5, "row_hash": rows[-1].row_hash}


@pytest.mark.parametrize(
    ("statements", "seq", "problem"),
    [
        (["UPDATE reviews SET comment = 'edited' WHERE seq = 3"], 3, "fields do not match"),
        (["UPDATE reviews SET decision = 'reject' WHERE seq = 1"], 1, "fields do not match"),
        (["DELETE FROM reviews WHERE seq = 2"], 2, "row #2 is missing"),
        (["DELETE FROM reviews WHERE seq = 1"], 1, "row #1 is missing"),
        (["DELETE FROM reviews WHERE seq IN (2, 3)"], 2, "rows #2–#3 are"),
        (["DELETE FROM reviews WHERE seq = 5"], 5, "newest rows were deleted"),
        (["UPDATE reviews SET seq = 9 WHERE seq = 4"], 4, "missing"),
    ],
)
def test_verify_catches_edits_and_deletions(tmp_path: Path, statements: list[str], seq: int, problem: str) -> None:
    store = _chain(tmp_path)
    _tamper(store.path, *statements)
    report = ReviewStore(store.path).verify()
    assert not report.ok
    assert report.broken_seq == seq, report.describe()
    assert problem in report.problem


def test_verify_catches_a_row_rehashed_by_hand(tmp_path: Path) -> None:
    """Whoever edits a row and recomputes its own hashes still breaks the next row's link."""
    from diagnostics.reviews import fields_hash, link_hash

    store = _chain(tmp_path)
    row = {**store.history(RUN)[2].__dict__, "comment": "forged"}
    own = fields_hash(row)
    _tamper(store.path, f"UPDATE reviews SET comment = 'forged', fields_hash = '{own}', "
                        f"row_hash = '{link_hash(row['prev_hash'], own)}' WHERE seq = 3")
    report = store.verify()
    assert not report.ok and report.broken_seq == 4 and "link" in report.problem


def test_a_consistently_rewritten_chain_is_caught_by_its_head(tmp_path: Path) -> None:
    store = _chain(tmp_path, 3)
    # rewrite every row's hashes from the edited row on, as an attacker who knows the algorithm would
    from diagnostics.reviews import fields_hash, link_hash

    rows = [r.__dict__.copy() for r in store.history(RUN)]
    rows[1]["comment"] = "forged"
    prev, updates = GENESIS, []
    for r in rows:
        r["prev_hash"], r["fields_hash"] = prev, fields_hash(r)
        r["row_hash"] = prev = link_hash(prev, r["fields_hash"])
        updates.append(f"UPDATE reviews SET comment = '{r['comment']}', prev_hash = '{r['prev_hash']}', "
                       f"fields_hash = '{r['fields_hash']}', row_hash = '{r['row_hash']}' WHERE seq = {r['seq']}")
    _tamper(store.path, *updates)
    report = store.verify()
    assert not report.ok and "chain was rewritten" in report.problem
    # and without the head file a consistent rewrite is invisible: that is why the head is kept elsewhere too
    store.head_path.unlink()
    assert store.verify().ok


def test_rows_appended_outside_embdiff_are_caught(tmp_path: Path) -> None:
    store = _chain(tmp_path, 2)
    last = store.history(RUN)[-1]
    _tamper(store.path, "INSERT INTO reviews (run_id, reviewer, decision, created_at, seq, prev_hash, row_hash) "
                        f"VALUES ('{RUN}', 'mallory', 'approve', 'x', 3, '{last.row_hash}', 'x')")
    report = store.verify()
    assert not report.ok and report.broken_seq == 3


_FIRST_SCHEMA = """
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


def test_a_first_schema_database_migrates_in_place(tmp_path: Path) -> None:
    """A database made by the schema before the chain (copied verbatim above) keeps every row."""
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(_FIRST_SCHEMA)
    old = [(RUN, "ana", "needs-work", "legal dropped", "2026-11-01T10:00:00Z"),
           ("fedcba9876543210", "bo", "approve", "", "2026-11-02T10:00:00Z"),
           (RUN, "cy", "approve", "ok now", "2026-11-03T10:00:00Z")]
    conn.executemany(
        "INSERT INTO reviews (run_id, reviewer, decision, comment, created_at) VALUES (?, ?, ?, ?, ?)", old)
    conn.commit()
    conn.close()
    store = ReviewStore(path)
    assert store.count() == 3
    assert [(r.run_id, r.reviewer, r.decision, r.comment, r.created_at) for r in store._rows()] == old
    assert all(r.identity == "unverified" and r.run_digest == "" for r in store._rows())
    assert store.verify().ok and store.verify().rows == 3
    store.add(RUN, identity=ANA, decision="approve")
    assert store.verify().ok and [r.seq for r in store.history(RUN)] == [1, 3, 4]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        sqlite3.connect(path).execute("DELETE FROM reviews")
    assert ReviewStore(path).count() == 4  # opening again migrates nothing twice


def test_policy_is_enforced_by_the_engine(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path / "r.sqlite3", policy=POLICY)
    store.add(RUN, identity=ANA, decision="approve")
    with pytest.raises(AccessDenied, match="vic@elsewhere.org is not a reviewer"):
        store.add(RUN, identity=VIC, decision="approve")  # a viewer forging a write
    with pytest.raises(AccessDenied, match="requires login"):
        store.add(RUN, reviewer="ana@lab.example.com", decision="approve")  # a typed name is not a login
    with pytest.raises(AccessDenied, match="requires login"):
        store.add(RUN, identity=Identity(subject="ana-sub", email="ana@lab.example.com", verified=False),
                  decision="approve")
    assert store.count() == 1
    assert POLICY.can_view(VIC) and not POLICY.can_review(VIC) and POLICY.can_review(BO)


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"reviewers": ["not an email"]}, "neither an email"),
        ({"approvals_required": 0}, "from 1 to 20"),
        ({"approvals_required": True}, "from 1 to 20"),
        ({"reveiwers": ["*"]}, "unknown key 'reveiwers'"),
        ({"viewers": 3}, "must be a list"),
    ],
)
def test_policy_config_errors(table: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        AccessPolicy.from_mapping(table)


def test_policy_from_secrets_or_file(tmp_path: Path) -> None:
    assert load_policy({}, environ={}) == AccessPolicy()
    file = tmp_path / "access.toml"
    file.write_text('[embdiff.access]\nreviewers = ["ana@lab.example.com"]\nviewers = ["@lab.example.com"]\n')
    policy = load_policy({}, environ={"EMBDIFF_ACCESS": str(file)})
    assert policy.can_review(ANA) and not policy.can_review(BO) and policy.can_view(BO) and not policy.can_view(VIC)
    assert load_policy({"embdiff": {"access": {"approvals_required": 3}}}, environ={}).approvals_required == 3
    with pytest.raises(InputError, match="configured twice"):
        load_policy({"embdiff": {"access": {}}}, environ={"EMBDIFF_ACCESS": str(file)})
    file.write_text("[access\n")
    with pytest.raises(InputError, match="not readable TOML"):
        load_policy({}, environ={"EMBDIFF_ACCESS": str(file)})


def _saved_run(tmp_path: Path, verdict: str) -> RunStore:
    runs = RunStore(tmp_path / "runs")
    runs.write(RUN, {"verdict": verdict, "params": {"k": 10}}, arrays={"a": np.arange(6.0)},
               tables={"t": pd.DataFrame({"x": [1, 2]})})
    return runs


def test_record_binds_the_run_digest_and_asks_for_justification(tmp_path: Path) -> None:
    runs = _saved_run(tmp_path, "FAIL")
    store = ReviewStore(tmp_path / "r.sqlite3", policy=POLICY)
    with pytest.raises(InputError, match="verdict is FAIL: approving it needs a written justification"):
        store.record(RUN, decision="approve", identity=ANA, runs=runs)
    store.record(RUN, decision="reject", identity=BO, runs=runs)  # rejecting needs none
    review = store.record(RUN, decision="approve", identity=ANA, justification="legal is not served", runs=runs)
    saved = runs.open(RUN)
    assert review.run_digest == saved.digest == saved.current_digest() and review.run_verdict == "FAIL"
    assert review.justification == "legal is not served" and review.verified and review.reviewer == ANA.email
    # the run changed on disk: its digest no longer matches, and it cannot be reviewed
    (saved.path / "arrays" / "a.npy").write_bytes((saved.path / "arrays" / "a.npy").read_bytes()[:-8] + b"\0" * 8)
    assert runs.open(RUN).current_digest() != review.run_digest
    with pytest.raises(RunCorruptError, match="changed on disk"):
        store.record(RUN, decision="approve", identity=BO, justification="x", runs=runs)


def test_signoff_needs_distinct_reviewers_on_the_current_content() -> None:
    store_rows = []
    from diagnostics.reviews import Review

    def review(who: Identity, decision: str, digest: str = "d1") -> Review:
        store_rows.append(Review(len(store_rows) + 1, RUN, who.label, decision, "", "t", identity="verified",
                                 subject=who.subject, issuer=who.issuer, email=who.email, run_digest=digest))
        return store_rows[-1]

    review(ANA, "approve")
    review(ANA, "approve")  # the same reviewer twice is one approval
    assert signoff_status(store_rows, required=2, current_digest="d1").state == "pending"
    review(BO, "approve", digest="d0")  # of other content: does not count
    status = signoff_status(store_rows, required=2, current_digest="d1")
    assert (status.state, status.approvals, status.stale) == ("pending", 1, 1)
    review(BO, "approve")
    assert signoff_status(store_rows, required=2, current_digest="d1").state == "approved"
    review(VIC, "reject")
    assert signoff_status(store_rows, required=2, current_digest="d1").state == "rejected"
    unverified = [Review(1, RUN, "x", "approve", "", "t", subject="x")]
    assert signoff_status(unverified, verified_only=True).state == "pending"
    assert signoff_status(unverified).state == "approved"


def test_export_verifies_offline_and_catches_edits(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path / "r.sqlite3")
    store.add(RUN, identity=ANA, decision="needs-work", comment="legal")
    store.add("fedcba9876543210", identity=BO, decision="approve", comment="other run: not disclosed")
    store.add(RUN, identity=ANA, decision="approve")
    doc = json.loads(json.dumps(store.export(RUN)))  # through JSON, as a file would be
    assert [r["seq"] for r in doc["reviews"]] == [1, 3] and len(doc["chain"]) == 3
    assert "not disclosed" not in json.dumps(doc)
    assert verify_export(doc).ok and doc["chain_intact"]
    doc["reviews"][0]["comment"] = "all fine"
    report = verify_export(doc)
    assert not report.ok and report.broken_seq == 1
    doc = store.export(RUN)
    del doc["chain"][1]
    assert not verify_export(doc).ok
    with pytest.raises(InputError, match="not an embdiff sign-off export"):
        verify_export({"format": "x"})
    assert check_chain([], head=None).ok


def test_an_email_the_provider_did_not_verify_matches_no_role() -> None:
    claims = {"sub": "s", "email": "ana@lab.example.com", "iss": ISSUER}
    assert POLICY.can_review(Identity.from_claims(claims))
    assert not POLICY.can_review(Identity.from_claims({**claims, "email_verified": False}))
    assert Identity.from_claims({**claims, "email_verified": True}).email == "ana@lab.example.com"
