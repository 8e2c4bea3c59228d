"""Run diff: two saved runs of one dataset side by side (``/diff?a=<id>&b=<id>``) — verdict and Δ per domain
then and now, the inputs that differ, the queries whose tuned top-k differs with their documents."""

from ui.bootstrap import page_guard

page_guard()

import streamlit as st  # noqa: E402

from ui.diff import domains_section, header_section, inputs_section, queries_section, require_runs  # noqa: E402

st.title("Run diff")
a, b, diff = require_runs()
header_section(a, b, diff)
domains_section(diff)
inputs_section(diff)
queries_section(a, b, diff)
