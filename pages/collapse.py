"""Cluster collapse: spread, effective rank, silhouette, centroid similarity, CKA — base vs tuned."""

from ui.bootstrap import page_guard

page_guard()

import streamlit as st  # noqa: E402

from diagnostics import plots  # noqa: E402
from ui.safe import escape_markdown  # noqa: E402
from ui.state import require_run  # noqa: E402

state, result = require_run()
st.title("Cluster collapse")
g = result.manifest.get("global", {})
c1, c2, c3 = st.columns(3)
c1.metric("Anisotropy base", f"{g.get('anisotropy_base', float('nan')):.3f}")
c2.metric("Anisotropy tuned", f"{g.get('anisotropy_tuned', float('nan')):.3f}")
c3.metric("Linear CKA base vs tuned", f"{g.get('cka', float('nan')):.3f}")
st.caption(
    "Anisotropy is the mean pairwise cosine of all documents; CKA = 1 means the two spaces are the same up to "
    "rotation and scale. These figures measure how the space moved, not whether retrieval got worse."
)
flags = result.domains[result.domains["domain"] != "overall"]
flagged = flags[flags["collapsed"] | (flags["merged_with"].astype(str) != "")]
if len(flagged):
    for _, r in flagged.iterrows():
        text = r["collapse_reason"] or f"{r['domain']} drew together with {r['merged_with']}"
        st.warning(escape_markdown(text))
else:
    st.success("No domain is flagged as collapsed or merged by the documented rules.")
st.plotly_chart(plots.collapse_figure(result.domains), width="stretch")
cent_base = result.tables["centroids_base"].set_index("from")
cent_tuned = result.tables["centroids_tuned"].set_index("from")
st.plotly_chart(plots.centroid_figure(cent_base, cent_tuned), width="stretch")
cols = ["domain", "n_docs", "intra_cosine_base", "intra_cosine_tuned", "effective_rank_base", "effective_rank_tuned",
        "silhouette_base", "silhouette_tuned", "uniformity_base", "uniformity_tuned", "cka", "collapsed", "merged_with"]
st.dataframe(result.domains[[c for c in cols if c in result.domains.columns]].round(3), hide_index=True,
             width="stretch")
