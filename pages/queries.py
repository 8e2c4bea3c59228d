"""Queries: every query — or every synthesised known-item check — ranked by change; one of them with its
base and tuned top-k side by side; a live probe."""

from ui.bootstrap import page_guard

page_guard()

import streamlit as st  # noqa: E402

from diagnostics.report import verdict_metric  # noqa: E402
from ui.queries import (  # noqa: E402
    SOURCE_LABELS,
    check_listing,
    ids_of,
    pick,
    probe_section,
    query_listing,
    show_check,
    show_query,
)
from ui.state import SOURCES, require_run, set_params, synced, wrote  # noqa: E402

state, result = require_run()
st.title("Queries")
metric = verdict_metric(result)
query_ids, check_ids = ids_of(result)

source = state.source
if state.query is not None and state.query not in query_ids and state.query in check_ids:
    source = "synthetic"  # a link to a check opens the checks
if check_ids:
    source = st.radio("Show", SOURCES, format_func=SOURCE_LABELS.__getitem__, horizontal=True,
                      key=synced("queries_source", source))
    wrote("queries_source", source)
else:
    source = "queries"
set_params(source=None if source == "queries" else source)

c1, c2, c3 = st.columns([2, 1, 1])
picked = c1.selectbox("Domain", ["all domains", *result.manifest["dataset"]["domains"]],
                      key=synced("queries_domain", state.domain or "all domains"))
domain = None if picked == "all domains" else picked
regressions = c2.checkbox("Regressions only", value=False)
set_params(domain=domain)
wrote("queries_domain", picked)

if source == "synthetic":
    listing = check_listing(result, c3, domain=domain, regressions=regressions, metric=metric, ids=check_ids)
    item = pick(listing, state.query, other_ids=query_ids)
    if item:
        show_check(result, item, state)
else:
    listing = query_listing(result, c3, domain=domain, regressions=regressions, metric=metric, ids=query_ids)
    item = pick(listing, state.query, other_ids=check_ids)
    if item:
        show_query(result, item, listing, state, metric=metric)

probe_section(result)
