"""The Overview page's parts: the verdict, the per-domain table and chart, the exports."""

from __future__ import annotations

import streamlit as st

from diagnostics import plots
from diagnostics.report import probe_table, summary_frame, verdict_metric
from diagnostics.result import METRICS, Comparison
from ui.exports import export_csv, export_html, export_json
from ui.safe import escape_markdown
from ui.state import PAGES, link_params
from ui.views import EVIDENCE_HELP, verdict_style


def verdict_section(result: Comparison) -> None:
    """Which models, the overall verdict and its reasons, and what evidence a verdict rests on."""
    models = result.manifest["models"]

    def side(name: str) -> str:
        model = models.get(f"{name}_model")
        return f"{models[name]} + model {model}" if model and model != models[name] else str(models[name])

    st.text(f"Run {result.run_id} · base {side('base')} · tuned {side('tuned')}")
    banner = {"PASS": st.success, "WARN": st.warning, "FAIL": st.error, "UNVERIFIED": st.info}[result.verdict]
    banner(f"Verdict: {result.verdict}", icon="❔" if result.verdict == "UNVERIFIED" else None)
    for reason in result.reasons:
        st.text(f"• {reason}")
    st.caption(
        "Each domain's verdict rests on evidence: your judgements (judged), else known-item checks synthesised "
        "from the domain's own documents (synthetic), else nothing — then it is UNVERIFIED, never PASS. "
        "Neighborhood overlap, displacement and collapse measure how much the space moved, not whether retrieval "
        "got worse: they point to where to look."
    )


def domains_section(result: Comparison) -> None:
    """The per-domain table and Δ-with-CI chart for a chosen metric (the verdict's by default), and one click
    from each synthetic verdict that is not PASS to the checks behind it."""
    metric = st.selectbox("Metric", METRICS, index=METRICS.index(verdict_metric(result)))
    summary = summary_frame(result, metric=metric)
    st.dataframe(
        summary.style.map(verdict_style, subset=["verdict"]).format(precision=3, na_rep="–"), hide_index=True,
        width="stretch",
        column_config={"evidence": st.column_config.TextColumn("evidence", help=EVIDENCE_HELP)},
    )
    domains = summary[summary["domain"] != "overall"]
    unverified = domains[domains["verdict"] == "UNVERIFIED"]["domain"].tolist()
    if unverified:
        st.info(escape_markdown(
            f"UNVERIFIED: {', '.join(unverified)} — no judgements and no known-item checks back their verdict. "
            "The reasons above say what would fix it."
        ), icon="❔")
    st.plotly_chart(plots.delta_ci_figure(result.domains, metric=metric), width="stretch")
    if "known_items" not in result.tables:
        return
    flagged = domains[(domains["evidence"] == "synthetic") & (domains["verdict"] != "PASS")]
    for domain, verdict in zip(flagged["domain"].astype(str), flagged["verdict"].astype(str), strict=True):
        st.page_link(PAGES["queries"][0], label=escape_markdown(f"{verdict} in {domain}: open its known-item checks"),
                     query_params=link_params(source="synthetic", domain=domain, query=None, k=None))
    st.page_link(PAGES["queries"][0], label="Open every known-item check",
                 query_params=link_params(source="synthetic", domain=None, query=None, k=None))


def exports_section(run_id: str) -> None:
    """HTML report, JSON and per-query CSV, each built only when its button is pressed."""
    st.subheader("Exports")
    d1, d2, d3 = st.columns(3)
    d1.download_button("HTML report", lambda: export_html(run_id), file_name=f"embdiff-{run_id}.html",
                       mime="text/html", on_click="ignore")
    d2.download_button("JSON", lambda: export_json(run_id), file_name=f"embdiff-{run_id}.json",
                       mime="application/json", on_click="ignore")
    d3.download_button("Per-query CSV", lambda: export_csv(run_id), file_name=f"embdiff-{run_id}.csv",
                       mime="text/csv", on_click="ignore")


_PROBE_STATUS = {
    "no_models": "The compositional probe needs both models (it encodes edited sentences): this run had vectors "
                 "only. Give --base and --tuned beside the vector files to run it.",
    "off": "The compositional probe was off for this run ([probe] pairs_per_domain = 0).",
}


def probe_section(result: Comparison) -> None:
    """The compositional probe beside the retrieval verdicts: does the tuned model tell a sentence from its
    minimal edit (negation, swapped roles, word order, relations) better or worse than the base?"""
    st.subheader("Compositional sensitivity (probe)")
    summary = result.tables.get("probe")
    if summary is None:
        status = str(result.manifest.get("params", {}).get("probe", {}).get("status", ""))
        st.caption(_PROBE_STATUS.get(status, "This run has no compositional probe (made before embdiff had one)."))
        return
    st.caption(
        "Minimal pairs made from this corpus's own sentences (docs/PROBE.md). *Ranked right*: the share of pairs "
        "where the sentence's context (the rest of its document) is closer to the original than to the edit — "
        "higher is better. *cos(original, edit)*: lower means the model tells them apart more. This never decides "
        "a verdict; it is the other side of the trade a compositional fine-tune makes."
    )
    st.dataframe(probe_table(summary).style.format(precision=3, na_rep="–"), hide_index=True, width="stretch")
    with st.expander("Per domain"):
        st.dataframe(probe_table(summary, domain=None).style.format(precision=3, na_rep="–"), hide_index=True,
                     width="stretch")
