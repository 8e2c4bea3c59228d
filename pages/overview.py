"""Overview / sign-off: verdict, per-domain table, Δ-with-CI chart, review form and history, exports."""

from ui.bootstrap import page_guard

page_guard()

import streamlit as st  # noqa: E402

from diagnostics import plots  # noqa: E402
from diagnostics.report import summary_frame, verdict_metric  # noqa: E402
from diagnostics.result import METRICS  # noqa: E402
from ui.exports import export_csv, export_html, export_json  # noqa: E402
from ui.safe import escape_markdown  # noqa: E402
from ui.signoff import signoff_section  # noqa: E402
from ui.state import PAGES, link_params, require_run, share_url  # noqa: E402
from ui.views import EVIDENCE_HELP, verdict_style  # noqa: E402

state, result = require_run()
st.title("Overview")
models = result.manifest["models"]


def _side(side: str) -> str:
    model = models.get(f"{side}_model")
    return f"{models[side]} + model {model}" if model and model != models[side] else str(models[side])


st.text(f"Run {result.run_id} · base {_side('base')} · tuned {_side('tuned')}")

banner = {"PASS": st.success, "WARN": st.warning, "FAIL": st.error, "UNVERIFIED": st.info}[result.verdict]
banner(f"Verdict: {result.verdict}", icon="❔" if result.verdict == "UNVERIFIED" else None)
for reason in result.reasons:
    st.text(f"• {reason}")
st.caption(
    "Each domain's verdict rests on evidence: your judgements (judged), else known-item checks synthesised from "
    "the domain's own documents (synthetic), else nothing — then it is UNVERIFIED, never PASS. Neighborhood "
    "overlap, displacement and collapse measure how much the space moved, not whether retrieval got worse: they "
    "point to where to look."
)

metric = st.selectbox("Metric", METRICS, index=METRICS.index(verdict_metric(result)))
summary = summary_frame(result, metric=metric)
st.dataframe(
    summary.style.map(verdict_style, subset=["verdict"]).format(precision=3, na_rep="–"), hide_index=True,
    width="stretch",
    column_config={"evidence": st.column_config.TextColumn("evidence", help=EVIDENCE_HELP)},
)
unverified = summary[(summary["verdict"] == "UNVERIFIED") & (summary["domain"] != "overall")]["domain"].tolist()
if unverified:
    st.info(escape_markdown(
        f"UNVERIFIED: {', '.join(unverified)} — no judgements and no known-item checks back their verdict. "
        "The reasons above say what would fix it."
    ), icon="❔")
st.plotly_chart(plots.delta_ci_figure(result.domains, metric=metric), width="stretch")
if "known_items" in result.tables:
    flagged = [(str(d), str(v)) for d, v, e in zip(summary["domain"], summary["verdict"], summary["evidence"],
                                                   strict=True) if e == "synthetic" and v != "PASS" and d != "overall"]
    for domain, verdict in flagged:  # one click from a synthetic verdict to the checks behind it
        st.page_link(PAGES["queries"][0], label=escape_markdown(f"{verdict} in {domain}: open its known-item checks"),
                     query_params=link_params(source="synthetic", domain=domain, query=None, k=None))
    st.page_link(PAGES["queries"][0], label="Open every known-item check",
                 query_params=link_params(source="synthetic", domain=None, query=None, k=None))

st.subheader("Sign-off")
link = share_url("overview")
st.caption("Review link (copy it into the ticket; it reopens this exact view):")
st.code(link, language=None)
signoff_section(result.run_id, result.verdict)

st.subheader("Exports")
d1, d2, d3 = st.columns(3)
d1.download_button("HTML report", lambda: export_html(result.run_id), file_name=f"embdiff-{result.run_id}.html",
                   mime="text/html", on_click="ignore")
d2.download_button("JSON", lambda: export_json(result.run_id), file_name=f"embdiff-{result.run_id}.json",
                   mime="application/json", on_click="ignore")
d3.download_button("Per-query CSV", lambda: export_csv(result.run_id), file_name=f"embdiff-{result.run_id}.csv",
                   mime="text/csv", on_click="ignore")
