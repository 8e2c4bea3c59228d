"""Load: the landing view — the bundled sample's domains, and a form to start a comparison."""

from ui.bootstrap import page_guard

page_guard()

import streamlit as st  # noqa: E402

from ui.load import comparison_form, sample_section, saved_runs_section  # noqa: E402
from ui.state import PAGES, link_params  # noqa: E402

st.title("embdiff")
st.markdown(
    "**Diff two embedding models before you ship one.** Fine-tuning on one domain can quietly break "
    "retrieval on the others; embdiff compares the base and the tuned model domain by domain."
)
recipe = sample_section()
result = comparison_form(recipe)
if result is not None:  # a finished run opens on its Overview
    st.switch_page(PAGES["overview"][0], query_params=link_params(run=result.run_id, query=None, domain=None))
saved_runs_section()
