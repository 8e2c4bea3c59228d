"""The Overview of several candidates (``/overview?set=<id>&target=<domain>,…``): which one to ship.

The frontier (gain on the target domains vs worst significant loss elsewhere, CIs as whiskers, dominated
candidates hollow), the candidates × domains matrix of Δ and verdicts, the best candidate and why, and
one click from each candidate to its worst domain's queries or to its own Overview.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from diagnostics import plots
from diagnostics._validation import InputError, check_run_id
from diagnostics.candidates import HOLM_FAMILY, CandidateSet
from diagnostics.frontier import PROBE_TARGET
from diagnostics.metrics import label
from ui.data import open_set
from ui.safe import escape_markdown
from ui.state import PAGES, raw_params, set_params, stop_page
from ui.views import verdict_style

_SHOWN = ["candidate", "verdict", "gain", "gain_ci_low", "gain_ci_high", "gain_evidence", "loss", "loss_domain",
          "n_significant_losses", "worst_domain", "worst_delta", "dominated_by"]


def requested_set() -> str | None:
    """The ``set`` of the URL, validated (a message and ``None`` when malformed), or ``None`` when absent."""
    raw = raw_params().get("set")
    if raw is None:
        return None
    try:
        return check_run_id(raw)
    except InputError as err:
        st.error(escape_markdown(f"set: {err}"))
        st.page_link(PAGES["load"][0], label="Go to Load", query_params={})
        stop_page()


def _open(set_id: str) -> CandidateSet:
    try:
        return open_set(set_id)
    except InputError as err:
        st.error(escape_markdown(err))
        st.page_link(PAGES["load"][0], label="Go to Load", query_params={})
        stop_page()


def _targets(made: CandidateSet) -> tuple[str, ...]:
    """The target domains: first the URL's ``target`` (comma-separated) when valid, else the set's own; then
    what the user picks, written back to the URL (no ``target`` once none is picked)."""
    domains = [str(d) for d in next(iter(made.runs.values())).manifest["dataset"]["domains"]]
    key = f"targets-{made.set_id}"
    if key not in st.session_state:  # the link's targets seed the widget once; the widget owns them after
        raw = raw_params().get("target")
        wanted = [t for t in raw.split(",") if t] if raw is not None else list(made.targets)
        unknown = [t for t in wanted if t not in domains and t != PROBE_TARGET]
        if unknown:
            st.warning(escape_markdown(f"target {unknown[0][:40]!r} is not a domain of these runs; ignored"))
        kept = [t for t in wanted if t in domains or t == PROBE_TARGET]
        st.session_state[key] = [PROBE_TARGET] if PROBE_TARGET in kept else kept
    chosen = st.multiselect("Targets: the domains the candidates were tuned for, or 'compositional' (the probe)",
                            [*domains, PROBE_TARGET], key=key)
    set_params(target=",".join(chosen) or None)
    return tuple(chosen)


def _probe_beside(made: CandidateSet) -> None:
    """The compositional probe of each candidate, next to retrieval: the trade at a glance."""
    rows = []
    for name, run in made.runs.items():
        summary = run.tables.get("probe")
        if summary is None:
            continue
        cells = summary[summary["domain"] == "overall"].set_index("rule")
        row = {"candidate": name}
        for rule in cells.index:
            lo, hi = cells.loc[rule, "prefers_original_ci_low"], cells.loc[rule, "prefers_original_ci_high"]
            ci = f" [{lo:+.3f}, {hi:+.3f}]" if lo == lo else ""
            row[f"Δ ranked right: {rule} ({int(cells.loc[rule, 'n_pairs'])})"] = (
                f"{cells.loc[rule, 'prefers_original_delta']:+.3f}{ci}")
        rows.append(row)
    st.subheader("Compositional probe")
    if not rows:
        st.caption("No candidate has a compositional probe: it needs the models, not only their vectors.")
        return
    st.caption("Per edit rule (pairs in brackets), Δ of the share of minimal pairs each candidate ranks right against "
               "the base, with its 95 % CI — the sensitivity a compositional fine-tune buys (docs/PROBE.md).")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def candidates_overview(set_id: str) -> None:
    """Everything the Overview shows for a candidate set."""
    made = _open(set_id)
    metric = made.metric
    st.title("Overview: choose between candidates")
    base = next(iter(made.runs.values())).manifest["models"]
    st.text(f"Set {made.set_id} · {len(made.runs)} candidates against base {base.get('base')}")
    targets = _targets(made)
    best = made.best(targets)
    verdict = made.runs[best].verdict
    banner = {"PASS": st.success, "WARN": st.warning, "FAIL": st.error, "UNVERIFIED": st.info}[verdict]
    banner(escape_markdown(f"Best candidate: {best} ({verdict})"))
    st.caption("Best: the least severe verdict, then a candidate no other dominates, then the larger gain on the "
               "targets and the smaller loss elsewhere. " + HOLM_FAMILY + " Picking the best of several on the same "
               "queries is itself a selection: confirm a narrow gain on fresh queries.")
    if PROBE_TARGET in targets and len(targets) > 1:
        st.warning("The gain is measured on the compositional probe or on domains, not both: showing the probe.")
        targets = (PROBE_TARGET,)
    if targets:
        table = made.frontier(targets)
        gain_label = ("Δ share of minimal pairs ranked right (compositional probe), 95 % CI"
                      if targets == (PROBE_TARGET,) else None)
        st.plotly_chart(plots.frontier_figure(table, metric=metric, targets=targets, gain_label=gain_label),
                        width="stretch")
        shown = table[_SHOWN].rename(columns={"gain": f"gain Δ {label(metric)}", "loss": "worst significant loss"})
        st.dataframe(shown.style.map(verdict_style, subset=["verdict"]).format(precision=3, na_rep="–"),
                     hide_index=True, width="stretch")
    else:
        table = pd.DataFrame()
        st.info("Pick the target domains above: the frontier measures the gain there against the worst significant "
                "loss everywhere else.")
    matrix = made.matrix()
    st.plotly_chart(plots.candidates_heatmap(matrix, metric=metric), width="stretch")
    _probe_beside(made)
    st.subheader("Candidates")
    worst = dict(zip(table["candidate"], table["worst_domain"], strict=True)) if len(table) else {}
    if not worst:  # no targets: the worst domain over all domains
        for name, part in matrix.dropna(subset=["delta"]).groupby("candidate", sort=False):
            worst[str(name)] = str(part.sort_values("delta", kind="mergesort")["domain"].iloc[0])
    for name, run in made.runs.items():
        cols = st.columns([2, 3, 3])
        cols[0].text(f"{name}: {run.verdict}")
        cols[1].page_link(PAGES["overview"][0], label=escape_markdown(f"{name}: its own Overview"),
                          query_params={"run": run.run_id})
        domain = worst.get(name)
        if domain:
            cols[2].page_link(PAGES["queries"][0], label=escape_markdown(f"{name}: queries of its worst domain, "
                                                                         f"{domain}"),
                              query_params={"run": run.run_id, "domain": domain})
