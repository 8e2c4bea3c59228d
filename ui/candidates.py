"""The Overview of several candidates (``/overview?set=<id>&target=<domain>,…``): which one to ship.

The frontier (gain on the target domains vs worst significant loss elsewhere, CIs as whiskers, dominated
candidates hollow), the candidates × domains matrix of Δ and verdicts, the best candidate and why, and
one click from each candidate to its worst domain's queries or to its own Overview.
"""

from __future__ import annotations

import streamlit as st

from diagnostics import plots
from diagnostics._validation import InputError, check_run_id
from diagnostics.candidates import HOLM_FAMILY, CandidateSet
from diagnostics.frontier import PROBE_TARGET, probe_gains, worst_domains
from diagnostics.metrics import label
from ui.data import open_set, set_frontier
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
    gains = probe_gains(made.runs)
    st.subheader("Compositional probe")
    if not len(gains):
        st.caption("No candidate has a compositional probe: it needs the models, not only their vectors.")
        return
    st.caption("Per edit rule (pairs in brackets), Δ of the share of minimal pairs each candidate ranks right against "
               "the base, with its 95 % CI — the sensitivity a compositional fine-tune buys (docs/PROBE.md).")
    cells = gains.assign(
        column=[f"Δ ranked right: {r} ({int(n)})" for r, n in zip(gains["rule"], gains["n_pairs"], strict=True)],
        value=[f"{d:+.3f}" + (f" [{lo:+.3f}, {hi:+.3f}]" if lo == lo else "") for d, lo, hi in zip(
            gains["prefers_original_delta"], gains["prefers_original_ci_low"], gains["prefers_original_ci_high"],
            strict=True)])
    shown = cells.pivot(index="candidate", columns="column", values="value").reindex(
        index=list(dict.fromkeys(gains["candidate"])), columns=list(dict.fromkeys(cells["column"])))
    st.dataframe(shown.reset_index(), hide_index=True, width="stretch")


def candidates_overview(set_id: str) -> None:
    """Everything the Overview shows for a candidate set."""
    made = _open(set_id)
    metric = made.metric
    st.title("Overview: choose between candidates")
    base = next(iter(made.runs.values())).manifest["models"]
    st.text(f"Set {made.set_id} · {len(made.runs)} candidates against base {base.get('base')}")
    targets = _targets(made)
    if PROBE_TARGET in targets and len(targets) > 1:
        st.warning("The gain is measured on the compositional probe or on domains, not both: showing the probe.")
        targets = (PROBE_TARGET,)
    table = set_frontier(made.set_id, targets) if targets else None
    best = made.best(targets, frontier=table)
    verdict = made.runs[best].verdict
    banner = {"PASS": st.success, "WARN": st.warning, "FAIL": st.error, "UNVERIFIED": st.info}[verdict]
    banner(escape_markdown(f"Best candidate: {best} ({verdict})"))
    st.caption("Best: the least severe verdict, then a candidate no other dominates, then the larger gain on the "
               "targets and the smaller loss elsewhere. " + HOLM_FAMILY + " Picking the best of several on the same "
               "queries is itself a selection: confirm a narrow gain on fresh queries.")
    matrix = made.matrix()
    if table is not None:
        on_probe = targets == (PROBE_TARGET,)
        gain_label = "Δ ranked right (probe), 95 % CI" if on_probe else None
        st.plotly_chart(plots.frontier_figure(table, metric=metric, targets=targets, gain_label=gain_label),
                        width="stretch")
        gain_name = "gain Δ ranked right (probe)" if on_probe else f"gain Δ {label(metric)}"
        shown = table[_SHOWN].rename(columns={"gain": gain_name, "loss": "worst significant loss"})
        st.dataframe(shown.style.map(verdict_style, subset=["verdict"]).format(precision=3, na_rep="–"),
                     hide_index=True, width="stretch")
        # where to look first: the worst domain outside the targets
        worst = {str(c): str(d) for c, d in zip(table["candidate"], table["worst_domain"], strict=True) if d}
    else:
        st.info("Pick the target domains above: the frontier measures the gain there against the worst significant "
                "loss everywhere else.")
        worst = worst_domains(matrix)
    st.plotly_chart(plots.candidates_heatmap(matrix, metric=metric), width="stretch")
    _probe_beside(made)
    st.subheader("Candidates")
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
