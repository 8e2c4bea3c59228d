"""Queries: every query — or every synthesised known-item check — ranked by change; one of them with its
base and tuned top-k side by side; a live probe."""

from ui.bootstrap import page_guard

page_guard()

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from diagnostics._validation import InputError  # noqa: E402
from diagnostics.drilldown import check_detail, check_list, check_topk, live_probe, query_list, query_topk  # noqa: E402
from diagnostics.metrics import label as metric_label  # noqa: E402
from diagnostics.report import verdict_metric  # noqa: E402
from ui.models import load_probe_models, probe_models_available  # noqa: E402
from ui.safe import escape_markdown  # noqa: E402
from ui.state import SOURCES, require_run, set_params, synced, wrote  # noqa: E402
from ui.topk import MOVE, NUMBER, TOPK_COLUMNS, show_topk  # noqa: E402

state, result = require_run()
st.title("Queries")
domains = result.manifest["dataset"]["domains"]
metric = verdict_metric(result)
has_checks = "known_items" in result.tables
check_ids = result.tables["known_items"]["check_id"].astype(str).tolist() if has_checks else []
query_ids = result.per_query["query_id"].astype(str).tolist()

source = state.source
if state.query is not None and state.query not in query_ids and state.query in check_ids:
    source = "synthetic"  # a link to a check opens the checks
if has_checks:
    labels = {"queries": "Queries", "synthetic": "Known-item checks (synthesised)"}
    source = st.radio("Show", SOURCES, format_func=labels.__getitem__, horizontal=True,
                      key=synced("queries_source", source))
    wrote("queries_source", source)
else:
    source = "queries"
set_params(source=None if source == "queries" else source)

c1, c2, c3 = st.columns([2, 1, 1])
options = ["all domains", *domains]
picked = c1.selectbox("Domain", options, key=synced("queries_domain", state.domain or "all domains"))
domain = None if picked == "all domains" else picked
regressions = c2.checkbox("Regressions only", value=False)
set_params(domain=domain)
wrote("queries_domain", picked)

if source == "synthetic":
    sort_by = c3.radio("Rank by", [f"Δ {metric_label(metric)}", "tuned rank"], horizontal=False)
    table = check_list(result, domain=domain, regressions_only=regressions, metric=metric,
                       sort_by="delta" if sort_by.startswith("Δ") else "rank_tuned")
    st.caption(
        f"{len(table)} known-item checks: a sentence or the unique title held out of a document (the document "
        "re-encoded without it), or four of its distinctive terms (the document as stored), is the query; that "
        "document is the one right answer among all documents. Select a row to open it."
    )
    event = st.dataframe(
        table.rename(columns={"query": "held-out text (query)", "doc_id": "from document", "construction": "kind",
                              "rank_base": "rank base", "rank_tuned": "rank tuned", "rank_bm25": "rank BM25",
                              f"{metric}_base": f"{metric_label(metric)} base",
                              f"{metric}_tuned": f"{metric_label(metric)} tuned",
                              f"{metric}_delta": f"Δ {metric_label(metric)}"}),
        hide_index=True, width="stretch", height=320, on_select="rerun", selection_mode="single-row",
        column_config={"check_id": st.column_config.TextColumn("check", width=140),
                       "held-out text (query)": st.column_config.TextColumn(width=320),
                       **{c: NUMBER for c in (f"{metric_label(metric)} base", f"{metric_label(metric)} tuned",
                                              f"Δ {metric_label(metric)}")}},
        key="check_table",
    )
    ids = check_ids
    widget_key, label = "check", "Check"
else:
    name = metric_label(metric)
    sort_by = c3.radio("Rank by", [f"Δ {name}", "top-k overlap"], horizontal=False)
    table = query_list(result, domain=domain, regressions_only=regressions, metric=metric,
                       sort_by="delta" if sort_by.startswith("Δ") else "jaccard")
    shown = table[["query_id", "domain", "text", f"{metric}_base", f"{metric}_tuned", f"{metric}_delta", "jaccard",
                   "rbo"]]
    st.caption(f"{len(table)} queries; select a row to open it")
    event = st.dataframe(
        shown.rename(columns={f"{metric}_base": f"{name} base", f"{metric}_tuned": f"{name} tuned",
                              f"{metric}_delta": f"Δ {name}", "jaccard": f"Jaccard@{result.k}"}),
        hide_index=True, width="stretch", height=320, on_select="rerun", selection_mode="single-row",
        column_config={"query_id": st.column_config.TextColumn("query_id", width=120),
                       "domain": st.column_config.TextColumn("domain", width=95),
                       "text": st.column_config.TextColumn("text", width=300),
                       **{c: NUMBER for c in (f"{name} base", f"{name} tuned", f"Δ {name}", f"Jaccard@{result.k}")},
                       "rbo": st.column_config.NumberColumn("RBO", format="%.3f", width=70)},
        key="query_table",
    )
    ids = query_ids
    widget_key, label = "query", "Query"

id_column = "check_id" if source == "synthetic" else "query_id"
selected_rows = tuple(event.selection.rows) if event is not None else ()
query = state.query
if query is not None and query not in ids:
    if not (source == "queries" and query in check_ids or source == "synthetic" and query in query_ids):
        st.warning(escape_markdown(f"{label.lower()} {query[:40]!r} is not in this run; pick one from the list"))
    query = None
synced(widget_key, query)
seen = f"_{widget_key}_table_seen"
if selected_rows and st.session_state.get(seen) != selected_rows:
    st.session_state[widget_key] = str(table[id_column].iat[selected_rows[0]])  # a new table selection wins
st.session_state[seen] = selected_rows
query = st.selectbox(label, ids, key=widget_key, placeholder=f"Pick a {label.lower()}")
set_params(query=query)
wrote(widget_key, query)

if query and source == "synthetic":
    depth = int(result.arrays["ki_top_base"].shape[1])
    k = int(st.number_input("Show top", min_value=1, max_value=depth, step=1,
                            key=synced("topk", min(state.k or result.k, depth))))
    set_params(k=k if k != result.k else None)
    wrote("topk", k)
    detail = check_detail(result, query)
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
    show_topk(check_topk(result, query, k=k), k=k, relevance_label="known item")
elif query:
    depth = int(result.arrays["rank_base"].shape[1])
    k = int(st.number_input("Show top", min_value=1, max_value=depth, step=1,
                            key=synced("topk", min(state.k or result.k, depth))))
    set_params(k=k if k != result.k else None)
    wrote("topk", k)
    row = result.per_query[result.per_query["query_id"].astype(str) == query].iloc[0]
    qtext = table.set_index("query_id")["text"].get(query, "")
    st.subheader("Query")
    st.text(str(qtext) if pd.notna(qtext) else "")
    before, after = row[f"{metric}_base"], row[f"{metric}_tuned"]
    st.text(f"{query} · {row['domain']} · {metric_label(metric)} {before:.3f} → {after:.3f}"
            if row["judged"] else f"{query} · {row['domain']} · not judged")
    show_topk(query_topk(result, query, k=k), k=k)

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
