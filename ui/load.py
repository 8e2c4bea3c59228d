"""The Load page's parts: the bundled sample, the form that starts a comparison, the saved runs."""

from __future__ import annotations

from typing import Any

import streamlit as st

from diagnostics._validation import InputError
from diagnostics.candidates import list_sets
from diagnostics.result import Comparison
from diagnostics.runs import RunStore
from ui.data import bundled_manifest, bundled_summary
from ui.runner import run_paths, run_sample, run_uploads
from ui.safe import escape_markdown
from ui.state import PAGES, stop_page


def sample_section() -> dict[str, Any]:
    """The bundled sample: what it is, its domains and the nDCG@10 its build measured; returns its recipe."""
    st.subheader("Bundled sample")
    try:
        summary = bundled_summary()
        manifest = bundled_manifest()
    except InputError as err:
        st.error(escape_markdown(err))
        stop_page()
    recipe: dict[str, Any] = manifest.get("recipe", {})
    st.text(
        f"{manifest.get('models', {}).get('base', '?')} vs. the same model with a LoRA adapter (shipped) trained on "
        f"{recipe.get('train_pairs', '?')} '{recipe.get('train_domain', '?')}' question/answer pairs"
        + (f" and {recipe['cloze_pairs_used']} inverse-cloze pairs from its documents"
           if recipe.get("cloze_pairs_used") else "")
    )
    c1, c2, c3 = st.columns(3)
    c1.metric("Domains", len(summary))
    c2.metric("Documents", int(summary["n_docs"].sum()))
    c3.metric("Queries", int(summary["n_queries"].sum()))
    measured = manifest.get("ndcg@10", {})  # what the sample's build measured, under this key
    table = summary.assign(
        ndcg_base=summary["domain"].map(lambda d: measured.get(d, {}).get("base")),
        ndcg_tuned=summary["domain"].map(lambda d: measured.get(d, {}).get("tuned")),
    ).rename(columns={"domain": "Domain", "n_docs": "Documents", "n_queries": "Queries",
                      "n_judged_queries": "Judged queries", "n_qrels": "Judgements",
                      "ndcg_base": "nDCG@10 base", "ndcg_tuned": "nDCG@10 tuned"})
    st.dataframe(table, hide_index=True, width="stretch")
    return recipe


def comparison_form(recipe: dict[str, Any]) -> Comparison | None:
    """Start a comparison on the sample, on paths on this server or on uploads; the finished run, if one was
    started and finished in this run of the page. Bad input is shown and ends the page."""
    st.subheader("Start a comparison")
    source = st.radio("Data", ["Bundled sample", "Paths on this server", "Upload files"], horizontal=True)
    c1, c2 = st.columns(2)
    k = int(c1.number_input("k (neighbors, top-k overlap)", min_value=1, max_value=100, value=10, step=1))
    projection = c2.checkbox("Compute the 2-D projection", value=True)
    progress_box = st.container()
    try:
        if source == "Bundled sample":
            domain = str(recipe.get("train_domain", ""))
            only_tuned = st.checkbox(
                f"Judgements only for '{domain}', the domain it was tuned on (what most teams have: the other "
                "domains' verdicts then rest on known-item checks)", value=False, disabled=not domain,
            )
            if st.button("Compare base vs tuned on the sample", type="primary"):
                return run_sample(progress_box, k=k, projection=projection,
                                  judged_domains=[domain] if only_tuned else None)
        elif source == "Paths on this server":
            datasets = st.text_area("Dataset paths (one per line: BEIR or table directories)")
            b1, b2 = st.columns(2)
            base = b1.text_input("Base: model (path or hub name) or vector file")
            base_vec = b1.checkbox("base is a vector file", value=False)
            base_model = b1.text_input("Model that made the base vectors (optional: known-item checks, live probe)",
                                       disabled=not base_vec)
            tuned = b2.text_input("Tuned: model (path or hub name) or vector file")
            tuned_vec = b2.checkbox("tuned is a vector file", value=False)
            tuned_model = b2.text_input("Model that made the tuned vectors (optional)", disabled=not tuned_vec)
            if st.button("Compare", type="primary"):
                return run_paths(progress_box, datasets.splitlines(), base=base, tuned=tuned,
                                 base_is_vectors=base_vec, tuned_is_vectors=tuned_vec, k=k, projection=projection,
                                 base_model=base_model, tuned_model=tuned_model)
        else:
            files = st.file_uploader("Dataset files (corpus.jsonl, queries.jsonl, qrels .tsv — or docs/queries/qrels "
                                     "tables)", accept_multiple_files=True)
            u1, u2 = st.columns(2)
            base_file = u1.file_uploader("Base vectors (.parquet)", type=["parquet"])
            tuned_file = u2.file_uploader("Tuned vectors (.parquet)", type=["parquet"])
            if st.button("Compare", type="primary"):
                return run_uploads(progress_box, files or [], base_file, tuned_file, k=k, projection=projection)
    except InputError as err:
        st.error(escape_markdown(err))
        stop_page()
    return None


def saved_runs_section(limit: int = 20) -> None:
    """The newest saved runs, each a link to its Overview; an unreadable one says why."""
    st.subheader("Saved runs")
    runs = RunStore().list_runs()[:limit]
    if not runs:
        st.caption("No saved runs yet.")
    for m in runs:
        if "error" in m:
            st.warning(escape_markdown(f"{m['run_id']}: {m['error']}"))
            continue
        label = f"{m['run_id']} · {m.get('verdict', '?')} · {m.get('created_at', '')} · {m['models']['tuned']}"
        st.page_link(PAGES["overview"][0], label=escape_markdown(label), query_params={"run": m["run_id"]})
    sets = list_sets()[:limit]
    if sets:
        st.subheader("Saved comparisons of candidates")
    for record in sets:
        if "error" in record:
            st.warning(escape_markdown(f"set {record['set_id']}: {record['error']}"))
            continue
        names = ", ".join(record["candidates"])
        targets = ",".join(record["targets"])
        label = f"{record['set_id']} · {names} · targets {targets or 'none'} · {record['created_at']}"
        st.page_link(PAGES["overview"][0], label=escape_markdown(label),
                     query_params={"set": record["set_id"], **({"target": targets} if targets else {})})
