"""Neighborhoods: overlap distributions, neighbor-flow matrices, the most changed documents."""

from ui.bootstrap import page_guard

page_guard()

import streamlit as st  # noqa: E402

from diagnostics import plots  # noqa: E402
from diagnostics.drilldown import neighbor_lists  # noqa: E402
from ui.state import require_run, set_params, synced, wrote  # noqa: E402
from ui.views import changed_docs, overlap_figure  # noqa: E402

state, result = require_run()
st.title("Neighborhoods")
k = result.k
params = result.manifest["params"]
sampled = params.get("overlap_sampled", False)
st.caption(
    f"Jaccard@{k} of each document's {k} nearest documents, base vs tuned (self excluded). "
    + (f"Computed exactly for a stratified sample of {params['overlap_n']} documents against the whole corpus. "
       if sampled else "Computed for every document. ")
    + "Low overlap means the space moved around a document; it does not by itself mean retrieval got worse."
)
st.plotly_chart(overlap_figure(result.run_id), width="stretch")
ci = result.domains[["domain", "overlap_median", "overlap_mean", "overlap_ci_low", "overlap_ci_high", "overlap_n"]]
st.dataframe(ci.rename(columns={"overlap_median": f"median Jaccard@{k}", "overlap_mean": f"mean Jaccard@{k}",
                                "overlap_ci_low": "95% CI low", "overlap_ci_high": "95% CI high",
                                "overlap_n": "documents"}).round(3), hide_index=True, width="stretch")

flow_base = result.tables["flow_base"].set_index("from")
flow_tuned = result.tables["flow_tuned"].set_index("from")
st.plotly_chart(plots.flow_figure(flow_base, flow_tuned), width="stretch")

st.subheader("Most changed documents")
domains = result.manifest["dataset"]["domains"]
options = ["all domains", *domains]
picked = st.selectbox("Domain", options, key=synced("neighborhoods_domain", state.domain or "all domains"))
domain = None if picked == "all domains" else picked
set_params(domain=domain)
wrote("neighborhoods_domain", picked)
worst = changed_docs(result.run_id, domain, n=50)
event = st.dataframe(worst[["doc_id", "domain", "overlap", "n_gained", "n_lost", "text"]], hide_index=True,
                     width="stretch", height=300, on_select="rerun", selection_mode="single-row",
                     column_config={"text": st.column_config.TextColumn("text", width="large")}, key="worst_docs")
rows = event.selection.rows if event is not None else []
if rows:
    doc_id = str(worst["doc_id"].iat[rows[0]])
    lists = neighbor_lists(result, doc_id)
    st.text(f"{doc_id}: gained and lost neighbors")
    left, right = st.columns(2)
    for side, col in (("base", left), ("tuned", right)):
        col.markdown(f"**{side}**")
        col.dataframe(lists[lists["side"] == side][["rank", "doc_id", "domain", "change", "text"]],
                      hide_index=True, width="stretch", key=f"nn_{side}")
else:
    st.caption("Select a document to see its gained and lost neighbors.")
