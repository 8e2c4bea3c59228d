"""Queries: every query ranked by change; one query's base and tuned top-k side by side; a live probe."""

from ui.bootstrap import page_guard

page_guard()

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from diagnostics._validation import InputError  # noqa: E402
from diagnostics.drilldown import live_probe, query_list, query_topk  # noqa: E402
from ui.models import load_probe_models, probe_models_available  # noqa: E402
from ui.safe import escape_markdown  # noqa: E402
from ui.state import require_run, set_params, synced, wrote  # noqa: E402

MOVE = {"up": "▲ up", "down": "▼ down", "same": "= same", "new": "★ new", "dropped": "✖ dropped", "kept": "kept"}
TEXT_COLUMN = st.column_config.TextColumn("text", width="large")
NUMBER = st.column_config.NumberColumn(format="%.3f", width=95)
TOPK_COLUMNS = {  # narrow columns, so that the text keeps some room in half the page
    "rank": st.column_config.NumberColumn("#", width=40),
    "doc_id": st.column_config.TextColumn("doc_id", width=110),
    "domain": st.column_config.TextColumn("domain", width=85),
    "relevance": st.column_config.NumberColumn("rel.", width=45),
    "score": st.column_config.NumberColumn("score", format="%.3f", width=60),
    "movement": st.column_config.TextColumn("movement", width=95),
    "text": TEXT_COLUMN,
}

state, result = require_run()
st.title("Queries")
domains = result.manifest["dataset"]["domains"]

c1, c2, c3 = st.columns([2, 1, 1])
options = ["all domains", *domains]
picked = c1.selectbox("Domain", options, key=synced("queries_domain", state.domain or "all domains"))
domain = None if picked == "all domains" else picked
regressions = c2.checkbox("Regressions only", value=False)
sort_by = c3.radio("Rank by", ["Δ nDCG@10", "top-k overlap"], horizontal=False)
set_params(domain=domain)
wrote("queries_domain", picked)

table = query_list(result, domain=domain, regressions_only=regressions,
                   sort_by="ndcg@10_delta" if sort_by.startswith("Δ") else "jaccard")
shown = table[["query_id", "domain", "text", "ndcg@10_base", "ndcg@10_tuned", "ndcg@10_delta", "jaccard", "rbo"]]
st.caption(f"{len(table)} queries; select a row to open it")
event = st.dataframe(
    shown.rename(columns={"ndcg@10_base": "nDCG@10 base", "ndcg@10_tuned": "nDCG@10 tuned",
                          "ndcg@10_delta": "Δ nDCG@10", "jaccard": f"Jaccard@{result.k}"}),
    hide_index=True, width="stretch", height=320, on_select="rerun", selection_mode="single-row",
    column_config={"query_id": st.column_config.TextColumn("query_id", width=120),
                   "domain": st.column_config.TextColumn("domain", width=95),
                   "text": st.column_config.TextColumn("text", width=300),
                   **{c: NUMBER for c in ("nDCG@10 base", "nDCG@10 tuned", "Δ nDCG@10", f"Jaccard@{result.k}")},
                   "rbo": st.column_config.NumberColumn("RBO", format="%.3f", width=70)},
    key="query_table",
)
selected_rows = tuple(event.selection.rows) if event is not None else ()
ids = result.per_query["query_id"].astype(str).tolist()
query = state.query
if query is not None and query not in ids:
    st.warning(escape_markdown(f"query {query[:40]!r} is not in this run; pick one from the list"))
    query = None
synced("query", query)
if selected_rows and st.session_state.get("_query_table_seen") != selected_rows:
    st.session_state["query"] = str(table["query_id"].iat[selected_rows[0]])  # a new table selection wins
st.session_state["_query_table_seen"] = selected_rows
query = st.selectbox("Query", ids, key="query", placeholder="Pick a query")
set_params(query=query)
wrote("query", query)

if query:
    depth = int(result.arrays["rank_base"].shape[1])
    k = int(st.number_input("Show top", min_value=1, max_value=depth, step=1,
                            key=synced("topk", min(state.k or result.k, depth))))
    set_params(k=k if k != result.k else None)
    wrote("topk", k)
    row = result.per_query[result.per_query["query_id"].astype(str) == query].iloc[0]
    qtext = table.set_index("query_id")["text"].get(query, "")
    st.subheader("Query")
    st.text(str(qtext) if pd.notna(qtext) else "")
    st.text(f"{query} · {row['domain']} · nDCG@10 {row['ndcg@10_base']:.3f} → {row['ndcg@10_tuned']:.3f}"
            if row["judged"] else f"{query} · {row['domain']} · not judged")
    lists = query_topk(result, query, k=k)
    left, right = st.columns(2)
    for side, col in (("base", left), ("tuned", right)):
        part = lists[lists["side"] == side].assign(movement=lambda f: f["movement"].map(MOVE))
        col.markdown(f"**{side} top-{k}**")
        col.dataframe(part[["rank", "doc_id", "domain", "relevance", "score", "movement", "text"]],
                      hide_index=True, width="stretch", column_config=TOPK_COLUMNS, key=f"topk_{side}")
        with col.expander("Full texts"):
            for rec in part.itertuples():
                st.text(f"#{rec.rank} {rec.doc_id} ({rec.domain}, relevance {rec.relevance})")
                st.text(f"{rec.title}\n{rec.text}" if rec.title else rec.text)

st.subheader("Live probe")
reason = probe_models_available(result.manifest)
if reason:
    st.info(escape_markdown(f"Live probe unavailable: {reason}."))
else:
    with st.form("probe"):
        text = st.text_input("Type any text", max_chars=2000)
        go = st.form_submit_button("Probe both models")
    if go:
        try:
            base_model, tuned_model = load_probe_models(result.manifest)
            probe = live_probe(result, text, base_model=base_model, tuned_model=tuned_model, k=result.k)
        except InputError as err:
            st.error(escape_markdown(err))
        else:
            left, right = st.columns(2)
            for side, col in (("base", left), ("tuned", right)):
                part = probe[probe["side"] == side].assign(movement=lambda f: f["movement"].map(MOVE))
                col.markdown(f"**{side}**")
                col.dataframe(part[["rank", "doc_id", "domain", "score", "movement", "text"]], hide_index=True,
                              width="stretch", column_config=TOPK_COLUMNS, key=f"probe_{side}")
