"""The landing view: what embdiff is and what the bundled sample holds."""

from __future__ import annotations

import streamlit as st

from diagnostics._validation import InputError
from ui.data import bundled_manifest, bundled_summary


def home() -> None:
    st.title("embdiff")
    st.markdown(
        "**Diff two embedding models before you ship one.** Fine-tuning on one domain can quietly "
        "break retrieval on the others; embdiff compares the base and the tuned model domain by domain."
    )
    try:
        summary = bundled_summary()
        manifest = bundled_manifest()
    except InputError as err:
        st.error(str(err))
        st.stop()

    st.subheader("Bundled sample")
    models = manifest.get("models", {})
    st.text(
        f"Base model: {models.get('base', '?')}    Tuned model: {models.get('tuned', '?')}    "
        f"Tuned on: {manifest.get('recipe', {}).get('train_domain', '?')}"
    )
    c1, c2, c3 = st.columns(3)
    c1.metric("Domains", len(summary))
    c2.metric("Documents", int(summary["n_docs"].sum()))
    c3.metric("Queries", int(summary["n_queries"].sum()))

    table = summary.rename(
        columns={
            "domain": "Domain",
            "n_docs": "Documents",
            "n_queries": "Queries",
            "n_judged_queries": "Judged queries",
            "n_qrels": "Judgements",
        }
    )
    measured = manifest.get("ndcg@10", {})
    if measured:
        table["nDCG@10 base"] = table["Domain"].map(lambda d: measured.get(d, {}).get("base"))
        table["nDCG@10 tuned"] = table["Domain"].map(lambda d: measured.get(d, {}).get("tuned"))
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(
        "Counts of the bundled sample (sample_data/). nDCG@10 as measured when the sample was built "
        "(sample_data/manifest.json)."
    )
