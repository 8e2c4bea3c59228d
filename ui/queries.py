"""The Queries page's parts: the ranked list (judged queries or known-item checks), the picked item's base and
tuned top-k, and the live probe. The page (``pages/queries.py``) reads the URL and calls these in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from diagnostics._validation import InputError
from diagnostics.drilldown import check_detail, check_list, check_topk, live_probe, query_list, query_topk
from diagnostics.metrics import label as metric_label
from diagnostics.result import Comparison
from ui.models import load_probe_models, probe_models_available
from ui.safe import escape_markdown
from ui.state import View, set_params, synced, wrote
from ui.topk import MOVE, NUMBER, TOPK_COLUMNS, show_topk

#: What the source radio shows.
SOURCE_LABELS = {"queries": "Queries", "synthetic": "Known-item checks (synthesised)"}


@dataclass(frozen=True)
class Listing:
    """A ranked list as shown: its rows, the id column, every id of its kind, and the row the user selected."""

    table: pd.DataFrame
    id_column: str
    ids: list[str]
    selected_rows: tuple[int, ...]
    widget_key: str  # the pick box's session key: "query" or "check"
    label: str  # "Query" or "Check"


def ids_of(result: Comparison) -> tuple[list[str], list[str]]:
    """The run's query ids and known-item check ids (empty when the run has no checks)."""
    checks = result.tables.get("known_items")
    check_ids = checks["check_id"].astype(str).tolist() if checks is not None else []
    return result.per_query["query_id"].astype(str).tolist(), check_ids


def check_listing(result: Comparison, column: Any, *, domain: str | None, regressions: bool, metric: str,
                  ids: list[str]) -> Listing:
    """The known-item checks ranked by Δ of ``metric`` or by the tuned rank (radio in ``column``)."""
    name = metric_label(metric)
    sort_by = column.radio("Rank by", [f"Δ {name}", "tuned rank"], horizontal=False)
    table = check_list(result, domain=domain, regressions_only=regressions, metric=metric,
                       sort_by="delta" if sort_by.startswith("Δ") else "rank_tuned")
    st.caption(
        f"{len(table)} known-item checks: a sentence or the unique title held out of a document (the document "
        "re-encoded without it), or four of its distinctive terms (the document as stored), is the query; that "
        "document is the one right answer among all documents. Select a row to open it."
    )
    shown = table.rename(columns={"query": "held-out text (query)", "doc_id": "from document",
                                  "construction": "kind", "rank_base": "rank base", "rank_tuned": "rank tuned",
                                  "rank_bm25": "rank BM25", **_metric_columns(metric)})
    rows = _selectable(shown, key="check_table", column_config={
        "check_id": st.column_config.TextColumn("check", width=140),
        "held-out text (query)": st.column_config.TextColumn(width=320),
        **{c: NUMBER for c in _metric_columns(metric).values()}})
    return Listing(table, "check_id", ids, rows, "check", "Check")


def query_listing(result: Comparison, column: Any, *, domain: str | None, regressions: bool, metric: str,
                  ids: list[str]) -> Listing:
    """The queries ranked by Δ of ``metric`` or by their top-k overlap (radio in ``column``)."""
    name = metric_label(metric)
    sort_by = column.radio("Rank by", [f"Δ {name}", "top-k overlap"], horizontal=False)
    table = query_list(result, domain=domain, regressions_only=regressions, metric=metric,
                       sort_by="delta" if sort_by.startswith("Δ") else "jaccard")
    shown = table[["query_id", "domain", "text", f"{metric}_base", f"{metric}_tuned", f"{metric}_delta", "jaccard",
                   "rbo"]]
    overlap = f"top-{result.k} overlap"  # the idea's name; Jaccard is its formula (README, "Names")
    st.caption(f"{len(table)} queries; select a row to open it")
    rows = _selectable(shown.rename(columns={**_metric_columns(metric), "jaccard": overlap}), key="query_table",
                       column_config={
                           "query_id": st.column_config.TextColumn("query_id", width=120),
                           "domain": st.column_config.TextColumn("domain", width=95),
                           "text": st.column_config.TextColumn("text", width=300),
                           **{c: NUMBER for c in _metric_columns(metric).values()},
                           overlap: st.column_config.NumberColumn(overlap, format="%.3f", width=95,
                                                                  help="Jaccard of the base and tuned top-k lists"),
                           "rbo": st.column_config.NumberColumn("RBO", format="%.3f", width=70)})
    return Listing(table, "query_id", ids, rows, "query", "Query")


def _metric_columns(metric: str) -> dict[str, str]:
    """The metric's base, tuned and Δ columns and how they are headed."""
    name = metric_label(metric)
    return {f"{metric}_base": f"{name} base", f"{metric}_tuned": f"{name} tuned", f"{metric}_delta": f"Δ {name}"}


def _selectable(frame: pd.DataFrame, *, key: str, column_config: dict[str, Any]) -> tuple[int, ...]:
    """A ranked list whose one selected row opens it; the selected row positions."""
    event = st.dataframe(frame, hide_index=True, width="stretch", height=320, on_select="rerun",
                         selection_mode="single-row", column_config=column_config, key=key)
    return tuple(event.selection.rows) if event is not None else ()


def pick(listing: Listing, wanted: str | None, *, other_ids: list[str]) -> str | None:
    """The pick box: the URL's item (``wanted``) unless a new table selection replaces it; written to the URL.

    An id of the other kind (a check id while queries are listed, or the reverse) is dropped quietly; an id of
    neither kind is dropped with a warning.
    """
    if wanted is not None and wanted not in listing.ids:
        if wanted not in other_ids:
            st.warning(escape_markdown(f"{listing.label.lower()} {wanted[:40]!r} is not in this run; pick one "
                                       "from the list"))
        wanted = None
    key = listing.widget_key
    synced(key, wanted)
    seen = f"_{key}_table_seen"
    if listing.selected_rows and st.session_state.get(seen) != listing.selected_rows:
        st.session_state[key] = str(listing.table[listing.id_column].iat[listing.selected_rows[0]])  # new selection
    st.session_state[seen] = listing.selected_rows
    picked: str | None = st.selectbox(listing.label, listing.ids, key=key,
                                      placeholder=f"Pick a {listing.label.lower()}")
    set_params(query=picked)
    wrote(key, picked)
    return picked


def top_k(state: View, result: Comparison, depth: int) -> int:
    """How many ranked documents to show (the URL's ``k``, at most what the run kept)."""
    k = int(st.number_input("Show top", min_value=1, max_value=depth, step=1,
                            key=synced("topk", min(state.k or result.k, depth))))
    set_params(k=k if k != result.k else None)
    wrote("topk", k)
    return k


def show_check(result: Comparison, check_id: str, state: View) -> None:
    """One known-item check: where it came from, the held-out text, the document, both top-k lists."""
    k = top_k(state, result, int(result.arrays["ki_top_base"].shape[1]))
    detail = check_detail(result, check_id)
    st.subheader("Known-item check (synthesised)")
    st.text(f"{detail['check_id']} · {detail['domain']} · {detail['construction']} · from document "
            f"{detail['doc_id']} · rank of that document: base {detail['rank_base']} → tuned {detail['rank_tuned']}"
            + (f" (BM25 {detail['rank_bm25']})" if detail["rank_bm25"] else ""))
    keywords = detail["construction"] == "keywords"
    st.caption("The query — four distinctive terms of the document" if keywords else "Held-out text — the query")
    st.text(str(detail["query"]))
    with st.expander("The document it came from, as stored" if keywords else
                     "The document it came from, as searched (without the held-out text)"):
        st.text(str(detail["item_text"]))
    show_topk(check_topk(result, check_id, k=k), k=k, relevance_label="known item")


def show_query(result: Comparison, query_id: str, listing: Listing, state: View, *, metric: str) -> None:
    """One query: its text, its metric base → tuned (or "not judged"), both top-k lists."""
    k = top_k(state, result, int(result.arrays["rank_base"].shape[1]))
    row = result.per_query[result.per_query["query_id"].astype(str) == query_id].iloc[0]
    text = listing.table.set_index("query_id")["text"].get(query_id, "")
    st.subheader("Query")
    st.text(str(text) if pd.notna(text) else "")
    before, after = row[f"{metric}_base"], row[f"{metric}_tuned"]
    st.text(f"{query_id} · {row['domain']} · {metric_label(metric)} {before:.3f} → {after:.3f}"
            if row["judged"] else f"{query_id} · {row['domain']} · not judged")
    show_topk(query_topk(result, query_id, k=k), k=k)


def probe_section(result: Comparison) -> None:
    """Any typed text searched with both models, when the run's models can be loaded here."""
    st.subheader("Live probe")
    reason = probe_models_available(result.manifest)
    if reason:
        st.info(escape_markdown(f"Live probe unavailable: {reason}."))
        return
    with st.form("probe"):
        text = st.text_input("Type any text", max_chars=2000)
        go = st.form_submit_button("Probe both models")
    if not go:
        return
    try:
        base_model, tuned_model = load_probe_models(result.manifest)
        probe = live_probe(result, text, base_model=base_model, tuned_model=tuned_model, k=result.k)
    except InputError as err:
        st.error(escape_markdown(err))
        return
    left, right = st.columns(2)
    for side, col in (("base", left), ("tuned", right)):
        part = probe[probe["side"] == side].assign(movement=lambda f: f["movement"].map(MOVE))
        col.markdown(f"**{side}**")
        col.dataframe(part[["rank", "doc_id", "domain", "score", "movement", "text"]], hide_index=True,
                      width="stretch", column_config=TOPK_COLUMNS, key=f"probe_{side}")
