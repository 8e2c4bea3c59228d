"""Overview / sign-off: verdict, per-domain table, Δ-with-CI chart, review form and history, exports; with
``?set=<id>``, the choice between several candidates (frontier, candidates × domains)."""

from ui.bootstrap import page_guard

page_guard()

import streamlit as st  # noqa: E402

from ui.candidates import candidates_overview, requested_set  # noqa: E402
from ui.overview import domains_section, exports_section, probe_section, verdict_section  # noqa: E402
from ui.signoff import signoff_section  # noqa: E402
from ui.state import require_run, share_url, stop_page  # noqa: E402

set_id = requested_set()
if set_id is not None:  # several candidates against one base: /overview?set=<id>
    candidates_overview(set_id)
    st.caption("Link to this comparison of candidates:")
    st.code(share_url("overview"), language=None)
    stop_page()
state, result = require_run()
st.title("Overview")
verdict_section(result)
domains_section(result)
probe_section(result)

st.subheader("Sign-off")
st.caption("Review link (copy it into the ticket; it reopens this exact view):")
st.code(share_url("overview"), language=None)
signoff_section(result.run_id, result.verdict)
exports_section(result.run_id)
