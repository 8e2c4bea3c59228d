"""The Overview's sign-off: who reviews (the login's identity, or a typed name marked unverified), the
run's content digest against the one each review was bound to, the review chain's integrity, the form
(only for reviewers), the history and the sign-off record export.

The engine decides (:class:`diagnostics.reviews.ReviewStore` with the role policy refuses a write from
anyone who is not a reviewer, whatever the page shows); this module draws.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from concurrent.futures import Future

import pandas as pd
import streamlit as st

from diagnostics._validation import InputError
from diagnostics.access import AccessDenied, Identity
from diagnostics.reviews import DECISIONS, JUSTIFY_VERDICTS, ReviewStore, signoff_status
from diagnostics.runs import RunStore
from ui.auth import access_policy, current_identity
from ui.safe import escape_markdown

__all__ = ["signoff_section"]


#: Runs up to this size on disk are hashed by the page itself before the sign-off is drawn (about a quarter of a
#: second; the sample's run is 30 MB). A larger run is hashed in the background and the page does not wait: a
#: 1M-document run holds 3 GB of document matrices, seconds of hashing that the verdict and evidence above must
#: not wait for.
SYNC_DIGEST_BYTES = 256 * 2**20

Stamp = tuple[tuple[str, int, int], ...]


def _digests(root: str, run_id: str) -> tuple[str, str]:
    """(digest written with the run, digest of its files now)."""
    saved = RunStore(root).open(run_id)
    return saved.digest, saved.current_digest()


@st.cache_data(max_entries=32, show_spinner=False)
def _digest_now(root: str, run_id: str, stamp: Stamp) -> tuple[str, str]:
    """:func:`_digests` of a small run, in the page's thread; recomputed whenever a file changes (``stamp``)."""
    return _digests(root, run_id)


class _Hasher:
    """One daemon thread per server hashing large runs in turn (they read whole runs from disk). A daemon, not a
    ThreadPoolExecutor: stopping the server must not wait for the files still queued."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future[tuple[str, str]], str, str]] = queue.SimpleQueue()
        threading.Thread(target=self._work, name="embdiff-digest", daemon=True).start()

    def submit(self, root: str, run_id: str) -> Future[tuple[str, str]]:
        job: Future[tuple[str, str]] = Future()
        self._jobs.put((job, root, run_id))
        return job

    def _work(self) -> None:
        while True:
            job, root, run_id = self._jobs.get()
            if job.set_running_or_notify_cancel():
                try:
                    job.set_result(_digests(root, run_id))
                except BaseException as exc:  # noqa: BLE001  # handed to the page that waits for it
                    job.set_exception(exc)


@st.cache_resource(max_entries=1)
def _hasher() -> _Hasher:
    return _Hasher()


def _not_failed(job: Future[tuple[str, str]]) -> bool:
    return not job.done() or job.exception() is None


@st.cache_resource(max_entries=32, show_spinner=False, validate=_not_failed)
def _digest_job(root: str, run_id: str, stamp: Stamp) -> Future[tuple[str, str]]:
    """:func:`_digests` of a large run in the background, once per server, store and file stamp (a changed file
    is a new stamp, hashed again); a failed check is not kept, the next page run submits it again."""
    return _hasher().submit(root, run_id)


def _stamp(run_id: str) -> Stamp:
    """Name, size and modification time of every file of the run: the cache key of its digests."""
    root = RunStore().path(run_id)
    stamps = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            st_ = os.stat(os.path.join(dirpath, name))
            stamps.append((os.path.relpath(os.path.join(dirpath, name), root), st_.st_size, st_.st_mtime_ns))
    return tuple(sorted(stamps))


@st.fragment(run_every=0.5)
def _pending(job: Future[tuple[str, str]], size: int) -> None:
    """The sign-off while the run's files are still being hashed: reviews are bound to the digest, so the form,
    the status and the history wait for it; the whole page is drawn again once it is known."""
    if job.done():
        st.rerun()
    st.info(f"Checking the run's content digest ({size / 1e9:.1f} GB on disk) against the one written with it; "
            "the review form and history appear when it is done.", icon=":material/hourglass_top:")


def _bound(digest: str, now: str) -> str:
    return "this content" if digest == now else ("before digests" if not digest else "other content")


def signoff_section(run_id: str, verdict: str) -> None:
    """Draw the sign-off of ``run_id`` (its current verdict ``verdict``)."""
    policy = access_policy()
    identity = current_identity()
    store = ReviewStore(policy=policy)

    root, stamp = str(RunStore().root), _stamp(run_id)
    size = sum(size for _, size, _ in stamp)
    if size <= SYNC_DIGEST_BYTES:
        written, now = _digest_now(root, run_id, stamp)
    else:
        job = _digest_job(root, run_id, stamp)
        if not job.done():
            _pending(job, size)
            return
        written, now = job.result()
    if written == now:
        st.caption(f"Run content digest {now[:16]}… matches the one written with the run.")
    else:
        st.error(escape_markdown(
            f"This run changed on disk since it was saved (content digest {now[:16]}… ≠ {written[:16]}…): "
            "reviews of it no longer describe what you see, and it cannot be reviewed."
        ))
    status_box = st.container()  # filled after the form, so that a review just recorded counts

    if policy is None:
        st.caption("This server has no login: a review records the name you type, marked identity: unverified.")
        _form(store, run_id, verdict, identity=None)
    elif identity is not None and policy.can_review(identity):
        st.caption(escape_markdown(f"Reviewing as {identity.label} (verified by {identity.issuer or 'the login'})."))
        _form(store, run_id, verdict, identity=identity)
    else:
        who = identity.label if identity else "you"
        st.info(escape_markdown(f"Signed in as {who}, a viewer: you can read the evidence and the history; "
                                "only reviewers can approve or reject."))

    history = store.history(run_id)
    with status_box:
        chain = store.verify()
        if chain.ok:
            st.caption(escape_markdown(chain.describe()))
        else:
            st.error(escape_markdown(chain.describe() + " — the review record was changed outside embdiff."))

        required = policy.approvals_required if policy is not None else 1
        status = signoff_status(history, required=required, current_digest=now, verified_only=policy is not None)
        text = (f"Sign-off: {status.state} — {status.approvals} of {status.required} approval(s)"
                + (f" ({', '.join(status.approvers)})" if status.approvers else "")
                + (f"; open: {'; '.join(status.objections)}" if status.objections else ""))
        {"approved": st.success, "rejected": st.error, "needs-work": st.warning}.get(status.state, st.info)(
            escape_markdown(text))
        for note in status.notes:
            st.caption(escape_markdown(note))

    st.caption(f"Review history ({len(history)})")
    if history:
        st.dataframe(pd.DataFrame([{
            "#": r.seq, "time (UTC)": r.created_at, "reviewer": r.reviewer, "identity": r.identity,
            "decision": r.decision, "comment": r.comment, "justification": r.justification,
            "verdict then": r.run_verdict, "on": _bound(r.run_digest, now), "row hash": r.row_hash[:12],
        } for r in history]), hide_index=True, width="stretch")
    st.download_button(
        "Sign-off record (JSON, with its hash chain)", json.dumps(store.export(run_id, current_digest=now), indent=2),
        file_name=f"embdiff-signoff-{run_id}.json", mime="application/json", on_click="ignore",
    )


def _form(store: ReviewStore, run_id: str, verdict: str, *, identity: Identity | None) -> None:
    with st.form("review", clear_on_submit=True):
        reviewer = st.text_input("Reviewer", max_chars=100) if identity is None else ""
        decision = st.radio("Decision", DECISIONS, horizontal=True)
        comment = st.text_area("Comment", max_chars=5000)
        justification = ""
        if verdict in JUSTIFY_VERDICTS:
            justification = st.text_area(
                f"Justification (required to approve a {verdict} run)", max_chars=5000,
                help="Why shipping is acceptable despite the verdict; stored with the review and exported.")
        if st.form_submit_button("Record review", type="primary"):
            try:
                who = identity if identity is not None else Identity.unverified(reviewer)
                store.record(run_id, decision=decision, identity=who, comment=comment, justification=justification)
                st.success("Review recorded.")
            except (InputError, AccessDenied) as err:
                st.error(escape_markdown(err))
