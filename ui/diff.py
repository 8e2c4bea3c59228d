"""The Run diff page's parts: two saved runs of one dataset side by side (``/diff?a=<id>&b=<id>``).

A is the run then (e.g. the one signed off), B the run now (e.g. the model that shipped). The page
(``pages/diff.py``) calls :func:`require_runs`, then the sections in order; the engine's
:func:`diagnostics.rundiff.diff_runs` computes everything they show.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from diagnostics._validation import InputError, check_run_id
from diagnostics.metrics import label as metric_label
from diagnostics.result import Comparison
from diagnostics.rundiff import RunDiff, diff_runs, diff_topk
from diagnostics.runs import RunCorruptError, RunStore
from ui.data import open_run
from ui.queries import Listing, pick
from ui.safe import escape_markdown
from ui.state import PAGES, link_params, raw_params, set_params, share_url, stop_page, synced, wrote
from ui.topk import NUMBER, TOPK_COLUMNS
from ui.views import EVIDENCE_HELP, verdict_style

SIDES = {"a": "A (then)", "b": "B (now)"}
_ALL = "all domains"


@st.cache_resource(max_entries=8, ttl=3600, show_spinner="Lining up the two runs…")
def run_diff(run_a: str, run_b: str) -> RunDiff:
    """The diff of two saved runs, once per server for each pair (read-only: callers never change it)."""
    return diff_runs(open_run(run_a), open_run(run_b))


def _go_to_load() -> None:
    st.page_link(PAGES["load"][0], label="Go to Load", query_params={})


def require_runs() -> tuple[Comparison, Comparison, RunDiff]:
    """Runs A and B of the URL and their diff; or a picker (a run missing), or a message (a bad or unknown
    id, a damaged run, runs of different datasets) and stop."""
    raw = raw_params()
    if "a" not in raw or "b" not in raw:
        _pick_runs(raw)
        stop_page()
    runs: dict[str, Comparison] = {}
    for side in ("a", "b"):
        try:
            runs[side] = open_run(check_run_id(raw[side]))
        except RunCorruptError as err:
            st.error(escape_markdown(f"Run {SIDES[side]}: {err}. Other runs are not affected."))
            stop_page()
        except InputError as err:
            st.error(escape_markdown(f"Run {SIDES[side]}: {err}"))
            _go_to_load()
            stop_page()
    try:
        diff = run_diff(runs["a"].run_id, runs["b"].run_id)
    except InputError as err:
        st.error(escape_markdown(err))
        for side, run in runs.items():
            st.page_link(PAGES["overview"][0], label=escape_markdown(f"Open run {SIDES[side]} {run.run_id}"),
                         query_params={"run": run.run_id})
        stop_page()
    return runs["a"], runs["b"], diff


def _pick_runs(raw: dict[str, str]) -> None:
    """Two saved runs to diff, chosen from the run store (B defaults to the URL's ``run``)."""
    st.info("Pick two saved runs of the same dataset: A, the run then (e.g. the one signed off), and B, the run "
            "now (e.g. the model that shipped).")
    runs = [m for m in RunStore().list_runs() if "error" not in m]
    if len(runs) < 2:
        st.caption(f"{len(runs)} saved run(s): a diff needs two. Make another on the Load page.")
        _go_to_load()
        return
    ids = [str(m["run_id"]) for m in runs]
    labels = {str(m["run_id"]): f"{m['run_id']} · {m.get('verdict', '?')} · {m.get('created_at', '')} · tuned "
              f"{m.get('models', {}).get('tuned', '?')} · {m.get('dataset', {}).get('source', '')}" for m in runs}

    def default(side: str, fallback: int) -> int:
        wanted = raw.get(side) or (raw.get("run") if side == "b" else None)
        return ids.index(wanted) if wanted in ids else fallback

    with st.form("diff_pick"):
        run_a = st.selectbox("Run A (then)", ids, index=default("a", 1), format_func=labels.__getitem__)
        run_b = st.selectbox("Run B (now)", ids, index=default("b", 0), format_func=labels.__getitem__)
        go = st.form_submit_button("Diff the two runs")
    if go:
        set_params(a=run_a, b=run_b, run=None, query=None, domain=None)
        st.rerun()


def header_section(a: Comparison, b: Comparison, diff: RunDiff) -> None:
    """Which runs, what to know before reading, and the link to this view."""
    for side, run in (("a", a), ("b", b)):
        models = run.manifest.get("models", {})
        st.text(f"{SIDES[side]}: run {run.run_id} · verdict {run.verdict} · {run.manifest.get('created_at', '')} · "
                f"base {models.get('base', '?')} · tuned {models.get('tuned', '?')}")
    d = diff.dataset
    st.text(f"Dataset {d.get('source', '')} · {d.get('n_docs')} documents · {d.get('n_queries')} queries · "
            f"{d.get('n_qrels')} judgements")
    for note in diff.notes:
        st.warning(escape_markdown(f"Note: {note}."))
    if diff.is_empty:
        st.success(f"The two runs agree: same inputs, verdicts and Δ, and the same tuned top-{diff.k} for all "
                   f"{diff.n_probes} probes.")
    st.caption("Link to this diff (copy it into the incident ticket; it reopens this exact view):")
    st.code(share_url("diff"), language=None)


def domains_section(diff: RunDiff) -> None:
    """Verdict and Δ per domain, then (A) and now (B); a link from each changed domain to its queries in B."""
    st.subheader("Per domain: then (A) and now (B)")
    frame = diff.domain_frame()
    deltas: list[Any] = [c for c in frame.columns if c.startswith("Δ ")]
    st.dataframe(
        frame.style.map(verdict_style, subset=["verdict A", "verdict B"]).format("{:+.3f}", subset=deltas, na_rep="–"),
        hide_index=True, width="stretch",
        column_config={"evidence A": st.column_config.TextColumn("evidence A", help=EVIDENCE_HELP),
                       "evidence B": st.column_config.TextColumn("evidence B", help=EVIDENCE_HELP)},
    )
    st.caption("Δ is tuned − base of each run's verdict metric, with the 95 % CI its verdict rests on: its judged "
               "queries, or its known-item checks where the evidence is synthetic. \"changed\": the verdict or "
               "the evidence differs.")
    rows = diff.domains
    changed = rows[rows["changed"] & (rows["domain"] != "overall")]
    for rec in changed.to_dict(orient="records"):
        source = "synthetic" if rec["evidence_b"] == "synthetic" else None
        st.page_link(PAGES["queries"][0], label=escape_markdown(
            f"{rec['domain']}: {rec['verdict_a']} → {rec['verdict_b']} — open its queries in run B"),
            query_params=link_params(run=diff.run_b, domain=rec["domain"], query=None, k=None, source=source))


def inputs_section(diff: RunDiff) -> None:
    """Every input that differs between the two manifests."""
    st.subheader(f"Inputs that differ ({len(diff.inputs)})")
    if not diff.inputs:
        st.caption("None: the same models, vectors, config, parameters and library versions.")
        return
    table = pd.DataFrame({
        "section": [r["section"] for r in diff.inputs],
        "key": [r["key"] for r in diff.inputs],
        "A (then)": [_shown(r["a"]) for r in diff.inputs],
        "B (now)": [_shown(r["b"]) for r in diff.inputs],
    })
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "A (then)": st.column_config.TextColumn(width="large"), "B (now)": st.column_config.TextColumn(width="large")})


def _shown(value: Any) -> str:
    return "(absent)" if value is None else str(value)


def queries_section(a: Comparison, b: Comparison, diff: RunDiff) -> None:
    """The probes whose tuned top-k differs (filter by domain, select one) and the picked one's two lists."""
    st.subheader(f"Queries whose tuned top-{diff.k} differs ({len(diff.queries)} of {diff.n_probes})")
    if not len(diff.queries):
        st.caption(f"None: every probe has the same tuned top-{diff.k} in both runs.")
        set_params(query=None)
        return
    raw = raw_params()
    domains = [str(d) for d in diff.domains["domain"] if d != "overall"]
    wanted = raw.get("domain") or _ALL
    if wanted not in (_ALL, *domains):
        st.warning(escape_markdown(f"domain {wanted[:40]!r} is not in these runs; showing all domains"))
        wanted = _ALL
    picked = st.selectbox("Domain", [_ALL, *domains], key=synced("diff_domain", wanted))
    domain = None if picked == _ALL else picked
    set_params(domain=domain)
    wrote("diff_domain", picked)
    table = diff.queries if domain is None else diff.queries[diff.queries["domain"] == domain]
    table = table.reset_index(drop=True)
    name_a, name_b = metric_label(diff.metric_a), metric_label(diff.metric_b)
    col_a, col_b = f"{name_a} tuned A", f"{name_b} tuned B"
    shown = pd.DataFrame({
        "query_id": table["query_id"], "domain": table["domain"], "text": table["text"],
        f"top-{diff.k} overlap": table["jaccard"],
        "only in A": [", ".join(ids) for ids in table["only_a"]],
        "only in B": [", ".join(ids) for ids in table["only_b"]],
        col_a: table["tuned_a"], col_b: table["tuned_b"],
    })
    st.caption(f"{len(table)} queries, fewest shared documents first; select a row to open it")
    event = st.dataframe(shown, hide_index=True, width="stretch", height=320, on_select="rerun",
                         selection_mode="single-row", key="diff_query_table", column_config={
                             "query_id": st.column_config.TextColumn("query_id", width=120),
                             "text": st.column_config.TextColumn("text", width=300),
                             f"top-{diff.k} overlap": st.column_config.NumberColumn(
                                 format="%.3f", width=95, help="Jaccard of the two runs' tuned top-k lists"),
                             col_a: NUMBER, col_b: NUMBER})
    rows = tuple(event.selection.rows) if event is not None else ()
    ids = [str(q) for q in table["query_id"]]
    listed = set(ids)
    others = [str(q) for q in a.per_query["query_id"] if str(q) not in listed]  # unchanged: dropped quietly
    listing = Listing(table, "query_id", ids, rows, "diff_query", "Query")
    query_id = pick(listing, raw.get("query"), other_ids=others)
    if query_id:
        show_query(a, b, diff, query_id)


def show_query(a: Comparison, b: Comparison, diff: RunDiff, query_id: str) -> None:
    """One probe: its text, each run's tuned metric, links to it in Queries, and the two tuned top-k lists."""
    row = diff.queries[diff.queries["query_id"] == query_id].iloc[0]
    st.subheader("Query")
    st.text(str(row["text"]))
    figures = " · ".join(
        f"{metric_label(m)} tuned {side}: {'not judged' if pd.isna(v) else f'{v:.3f}'}"
        for side, m, v in (("A", diff.metric_a, row["tuned_a"]), ("B", diff.metric_b, row["tuned_b"])))
    st.text(f"{query_id} · {row['domain']} · {figures} · top-{diff.k} overlap {row['jaccard']:.3f}")
    for side, run in (("b", b), ("a", a)):
        st.page_link(PAGES["queries"][0], label=escape_markdown(f"Open {query_id} in Queries of run {SIDES[side]}"),
                     query_params=link_params(run=run.run_id, query=query_id, domain=None, k=None, source=None))
    lists = diff_topk(a, b, query_id, k=diff.k)
    left, right = st.columns(2)
    for side, col in (("A", left), ("B", right)):
        part = lists[lists["side"] == side]
        col.markdown(f"**Run {SIDES[side.lower()]}: tuned top-{diff.k}**")
        col.dataframe(part[["rank", "doc_id", "domain", "score", "change", "text"]], hide_index=True,
                      width="stretch", key=f"diff_topk_{side}", column_config={
                          **TOPK_COLUMNS, "change": st.column_config.TextColumn("change", width=95)})
        with col.expander("Full texts"):
            for rec in part.to_dict(orient="records"):
                st.text(f"#{rec['rank']} {rec['doc_id']} ({rec['domain']}, {rec['change']})")
                title, text = str(rec["title"]), str(rec["text"])
                st.text(f"{title}\n{text}" if title else text)
