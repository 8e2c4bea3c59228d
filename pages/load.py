"""Load: the landing view — the bundled sample's domains, and a form to start a comparison."""

from ui.bootstrap import page_guard

page_guard()

import streamlit as st  # noqa: E402

from diagnostics._validation import InputError  # noqa: E402
from diagnostics.runs import RunStore  # noqa: E402
from ui.data import bundled_manifest, bundled_summary  # noqa: E402
from ui.runner import run_paths, run_sample, run_uploads  # noqa: E402
from ui.safe import escape_markdown  # noqa: E402
from ui.state import PAGES, link_params, stop_page  # noqa: E402

st.title("embdiff")
st.markdown(
    "**Diff two embedding models before you ship one.** Fine-tuning on one domain can quietly break "
    "retrieval on the others; embdiff compares the base and the tuned model domain by domain."
)

st.subheader("Bundled sample")
try:
    summary = bundled_summary()
    manifest = bundled_manifest()
except InputError as err:
    st.error(escape_markdown(err))
    stop_page()
recipe = manifest.get("recipe", {})
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
measured = manifest.get("ndcg@10", {})
table = summary.assign(
    ndcg_base=summary["domain"].map(lambda d: measured.get(d, {}).get("base")),
    ndcg_tuned=summary["domain"].map(lambda d: measured.get(d, {}).get("tuned")),
).rename(columns={"domain": "Domain", "n_docs": "Documents", "n_queries": "Queries",
                  "n_judged_queries": "Judged queries", "n_qrels": "Judgements",
                  "ndcg_base": "nDCG@10 base", "ndcg_tuned": "nDCG@10 tuned"})
st.dataframe(table, hide_index=True, width="stretch")

st.subheader("Start a comparison")
source = st.radio("Data", ["Bundled sample", "Paths on this server", "Upload files"], horizontal=True)
c1, c2 = st.columns(2)
k = c1.number_input("k (neighbors, top-k overlap)", min_value=1, max_value=100, value=10, step=1)
projection = c2.checkbox("Compute the 2-D projection", value=True)
progress_box = st.container()
result = None
try:
    if source == "Bundled sample":
        domain = str(recipe.get("train_domain", ""))
        only_tuned = st.checkbox(
            f"Judgements only for '{domain}', the domain it was tuned on (what most teams have: the other "
            "domains' verdicts then rest on known-item checks)", value=False, disabled=not domain,
        )
        if st.button("Compare base vs tuned on the sample", type="primary"):
            result = run_sample(progress_box, k=int(k), projection=projection,
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
            result = run_paths(progress_box, datasets.splitlines(), base=base, tuned=tuned,
                               base_is_vectors=base_vec, tuned_is_vectors=tuned_vec, k=int(k), projection=projection,
                               base_model=base_model, tuned_model=tuned_model)
    else:
        files = st.file_uploader("Dataset files (corpus.jsonl, queries.jsonl, qrels .tsv — or docs/queries/qrels "
                                 "tables)", accept_multiple_files=True)
        u1, u2 = st.columns(2)
        base_file = u1.file_uploader("Base vectors (.parquet)", type=["parquet"])
        tuned_file = u2.file_uploader("Tuned vectors (.parquet)", type=["parquet"])
        if st.button("Compare", type="primary"):
            result = run_uploads(progress_box, files or [], base_file, tuned_file, k=int(k), projection=projection)
except InputError as err:
    st.error(escape_markdown(err))
    stop_page()
if result is not None:
    st.switch_page(PAGES["overview"][0], query_params=link_params(run=result.run_id, query=None, domain=None))

st.subheader("Saved runs")
runs = RunStore().list_runs()[:20]
if not runs:
    st.caption("No saved runs yet.")
for m in runs:
    if "error" in m:
        st.warning(escape_markdown(f"{m['run_id']}: {m['error']}"))
        continue
    label = f"{m['run_id']} · {m.get('verdict', '?')} · {m.get('created_at', '')} · {m['models']['tuned']}"
    st.page_link(PAGES["overview"][0], label=escape_markdown(label), query_params={"run": m["run_id"]})
