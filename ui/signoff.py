"""The Overview's sign-off: who reviews (the login's identity, or a typed name marked unverified), the
run's content digest against the one each review was bound to, the review chain's integrity, the form
(only for reviewers), the history and the sign-off record export.

The engine decides (:class:`diagnostics.reviews.ReviewStore` with the role policy refuses a write from
anyone who is not a reviewer, whatever the page shows); this module draws.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as StillRunning

import pandas as pd
import streamlit as st

from diagnostics._validation import InputError
from diagnostics.access import AccessDenied, Identity
from diagnostics.reviews import DECISIONS, JUSTIFY_VERDICTS, ReviewStore, signoff_status
from diagnostics.runs import RunStore
from ui.auth import access_policy, current_identity
from ui.safe import escape_markdown

__all__ = ["signoff_section"]


#: Runs up to this size on disk are hashed before the sign-off is drawn (about a quarter of a second; the sample's
#: run is 30 MB). A larger run is hashed in the background and the page does not wait: a 1M-document run holds
#: 3 GB of document matrices, seconds of hashing that the verdict and evidence above must not wait for.
SYNC_DIGEST_BYTES = 256 * 2**20


@st.cache_resource(max_entries=1)
def _hasher() -> ThreadPoolExecutor:
    """One background thread per server for content-digest checks (they read whole runs from disk)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="embdiff-digest")


@st.cache_resource(max_entries=32, show_spinner=False)
def _digest_job(run_id: str, stamp: tuple[tuple[str, int, int], ...]) -> Future[tuple[str, str]]:
    """(digest written with the run, digest of its files now), computed once per server and file stamp in the
    background; a changed file (size or modification time) is a new stamp, so it is hashed again."""

    def digests() -> tuple[str, str]:
        saved = RunStore().open(run_id)
        return saved.digest, saved.current_digest()

    return _hasher().submit(digests)


def _stamp(run_id: str) -> tuple[tuple[str, int, int], ...]:
    """Name, size and modification time of every file of the run: the cache key of :func:`_digest_job`."""
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

    stamp = _stamp(run_id)
    job = _digest_job(run_id, stamp)
    size = sum(size for _, size, _ in stamp)
    try:
        written, now = job.result(timeout=None if size <= SYNC_DIGEST_BYTES else 0)
    except StillRunning:
        _pending(job, size)
        return
    except Exception:
        _digest_job.clear(run_id, stamp)  # a failed check is not kept: the next page run hashes again
        raise
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
