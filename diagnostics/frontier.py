"""Choose between candidates: the gain-vs-forgetting frontier and the candidates × domains matrix.

Pure functions over the saved runs of several candidates, each compared against the same base on the
same dataset (:func:`diagnostics.candidates.compare_candidates`). All figures are on each run's verdict
metric (its config's ``retrieval_metric``).

* **Gain** — on the *target* domains (the ones the candidates were tuned for): tuned − base of the mean
  metric over their judged queries pooled, with the paired bootstrap CI and sign-flip p of
  :func:`diagnostics.statistics.paired_comparison` (the run's own statistics settings). Where the targets
  hold fewer judged queries than ``retrieval_min_queries``, the known-item checks of their documents stand
  in (``gain_evidence`` says ``synthetic``); with neither, the gain is unknown (NaN).
* **Gain, compositional** — with the target :data:`PROBE_TARGET` (``compositional``) instead of domains: the
  Δ of the compositional probe's share of minimal pairs ranked right (``prefers_original``, all rules and
  domains pooled, :mod:`diagnostics.probe`), with its paired CI and p; every domain then counts as elsewhere.
  A candidate compared without models has no probe: its gain is unknown.
* **Loss** — over every other domain, the *worst significant loss*: the smallest Δ among the domains
  whose drop is significant (Holm-corrected p below the evidence's alpha, Δ < 0), judged Δ where the
  domain has judged evidence and known-item Δ where its evidence is synthetic. 0 when no drop elsewhere
  is significant. ``worst_domain`` is the domain with the smallest Δ, significant or not: where to look
  first.
* **Dominated** — another candidate is at least as good on both axes (gain ≥, loss ≥) and better on one,
  on the point estimates. The CIs are drawn as whiskers: a candidate inside another's whiskers is not
  shown to be worse, only not shown to be better.
* **Best** (:func:`best_candidate`) — the least severe verdict (PASS < WARN < UNVERIFIED < FAIL); among
  those, one that is not dominated; then the larger gain, the smaller loss, the name.

Holm's correction in each candidate's table covers that candidate's domains (one family per candidate
and evidence); candidates are not corrected against each other. Choosing the best of N candidates on
the same queries is itself a selection: a gain that is barely significant for the chosen one deserves
a confirming run on fresh queries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from diagnostics._validation import InputError
from diagnostics.known_item import document_scores
from diagnostics.result import Comparison
from diagnostics.statistics import paired_comparison
from diagnostics.verdict import KNOWN_ITEM_PREFIX, VERDICTS

__all__ = ["FRONTIER_COLUMNS", "PROBE_TARGET", "best_candidate", "check_targets", "domain_deltas", "frontier",
           "probe_gains", "worst_domains"]

#: The target that measures the gain on the compositional probe instead of on domains.
PROBE_TARGET = "compositional"

FRONTIER_COLUMNS = (
    "candidate", "run_id", "verdict", "gain", "gain_ci_low", "gain_ci_high", "gain_p", "gain_evidence", "n_gain",
    "loss", "loss_ci_low", "loss_ci_high", "loss_domain", "loss_evidence", "n_significant_losses", "worst_domain",
    "worst_delta", "dominated", "dominated_by",
)
_STATS = ("delta", "ci_low", "ci_high", "p_holm")


def _config(run: Comparison) -> dict[str, Any]:
    return dict(run.manifest.get("config", {}))


def check_targets(runs: Mapping[str, Comparison], targets: Sequence[str]) -> tuple[str, ...]:
    """``targets`` as a tuple, each a domain of the runs (an :class:`InputError` naming the domains if not)."""
    if not runs:
        raise InputError("no candidates to compare")
    first = next(iter(runs.values()))
    domains = [str(d) for d in first.domains["domain"] if d != "overall"]
    unknown = [t for t in targets if t not in domains and t != PROBE_TARGET]
    if unknown:
        raise InputError(f"target domain {unknown[0]!r} is not in the dataset; its domains are {domains} (or "
                         f"{PROBE_TARGET!r}: the gain on the compositional probe)")
    chosen = tuple(dict.fromkeys(targets))
    if PROBE_TARGET in chosen and len(chosen) > 1:
        raise InputError(f"the gain is measured on the compositional probe ({PROBE_TARGET!r}) or on domains, "
                         "not both; give one kind of --target")
    return chosen


def domain_deltas(runs: Mapping[str, Comparison]) -> pd.DataFrame:
    """One row per candidate and domain: the verdict, its evidence and the Δ it rests on.

    Columns ``candidate``, ``run_id``, ``domain``, ``verdict``, ``evidence``, ``delta``, ``ci_low``,
    ``ci_high``, ``p_holm``, ``significant`` (a drop below the evidence's alpha). The Δ is the judged one
    where the domain's evidence is judged, the known-item one where it is synthetic, NaN where none. The
    candidates × domains heatmap draws this table.
    """
    rows: list[dict[str, Any]] = []
    for name, run in runs.items():
        config, metric = _config(run), run.metric
        for record in run.domains.to_dict(orient="records"):
            if record["domain"] == "overall":
                continue
            evidence = str(record.get("evidence", "none"))
            prefix = KNOWN_ITEM_PREFIX if evidence == "synthetic" else ""
            alpha = float(config.get("known_item_alpha" if prefix else "retrieval_alpha", 0.05))
            values = {s: (float(record.get(f"{prefix}{metric}_{s}", np.nan)) if evidence != "none" else np.nan)
                      for s in _STATS}
            rows.append({"candidate": name, "run_id": run.run_id, "domain": str(record["domain"]),
                         "verdict": str(record["verdict"]), "evidence": evidence, **values,
                         "significant": bool(values["delta"] < 0 and values["p_holm"] < alpha)})
    return pd.DataFrame(rows, columns=["candidate", "run_id", "domain", "verdict", "evidence", *_STATS,
                                       "significant"])


def _target_units(run: Comparison, targets: Sequence[str]) -> tuple[pd.DataFrame, str]:
    """The paired units of the target domains: their judged queries, else their known-item documents."""
    metric, minimum = run.metric, int(_config(run).get("retrieval_min_queries", 5))
    per_query = run.per_query
    judged = per_query[per_query["judged"].astype(bool) & per_query["domain"].isin(targets)]
    if len(judged) >= minimum:
        return judged[["query_id", f"{metric}_base", f"{metric}_tuned"]], "judged"
    checks = run.tables.get("known_items")
    if checks is not None and len(checks):
        units = document_scores(checks[checks["domain"].isin(targets)], [f"{metric}_base", f"{metric}_tuned"])
        if len(units):
            return units[["query_id", f"{metric}_base", f"{metric}_tuned"]], "synthetic"
    return judged[["query_id", f"{metric}_base", f"{metric}_tuned"]].iloc[:0], "none"


def _probe_gain(run: Comparison) -> dict[str, Any]:
    """The gain on the compositional probe: Δ share of pairs ranked right, all rules and domains pooled."""
    out: dict[str, Any] = {"gain": np.nan, "gain_ci_low": np.nan, "gain_ci_high": np.nan, "gain_p": np.nan,
                           "gain_evidence": "none", "n_gain": 0}
    summary = run.tables.get("probe")
    if summary is None:
        return out
    rows = summary[(summary["domain"] == "overall") & (summary["rule"] == "all")]
    if not len(rows) or not int(rows["n_pairs"].iloc[0]):
        return out
    row = rows.iloc[0]
    out.update(gain=float(row["prefers_original_delta"]), gain_ci_low=float(row["prefers_original_ci_low"]),
               gain_ci_high=float(row["prefers_original_ci_high"]), gain_p=float(row["prefers_original_p_value"]),
               gain_evidence="probe", n_gain=int(row["n_pairs"]))
    return out


def _gain(run: Comparison, targets: Sequence[str]) -> dict[str, Any]:
    if PROBE_TARGET in targets:
        return _probe_gain(run)
    metric, config = run.metric, _config(run)
    units, evidence = _target_units(run, targets)
    out: dict[str, Any] = {"gain": np.nan, "gain_ci_low": np.nan, "gain_ci_high": np.nan, "gain_p": np.nan,
                           "gain_evidence": evidence, "n_gain": len(units)}
    if not len(units):
        return out
    keys = pd.DataFrame({"query_id": units["query_id"].astype(str).to_numpy(), "domain": "targets"})
    table = paired_comparison(
        keys.assign(**{metric: units[f"{metric}_base"].to_numpy(np.float64)}),
        keys.assign(**{metric: units[f"{metric}_tuned"].to_numpy(np.float64)}),
        metrics=[metric], n_resamples=int(config.get("statistics_n_resamples", 2000)),
        n_permutations=int(config.get("statistics_n_permutations", 2000)),
        confidence=float(config.get("statistics_confidence", 0.95)),
        random_state=int(config.get("statistics_random_state", 0)),
    )
    row = table[table["domain"] == "targets"].iloc[0]
    out.update(gain=float(row["delta"]), gain_ci_low=float(row["ci_low"]), gain_ci_high=float(row["ci_high"]),
               gain_p=float(row["p_value"]))
    return out


def _lowest(cells: pd.DataFrame) -> pd.Series | None:
    """The row of ``cells`` with the smallest known Δ (the first on ties), or ``None``."""
    known = cells.dropna(subset=["delta"])
    return None if not len(known) else known.iloc[int(np.argmin(known["delta"].to_numpy(np.float64)))]


def worst_domains(matrix: pd.DataFrame) -> dict[str, str]:
    """Per candidate of a :func:`domain_deltas` table, the domain with the smallest Δ: where to look first."""
    out: dict[str, str] = {}
    for name, part in matrix.groupby("candidate", sort=False):
        row = _lowest(part)
        if row is not None:
            out[str(name)] = str(row["domain"])
    return out


def _loss(cells: pd.DataFrame) -> dict[str, Any]:
    significant = cells[cells["significant"]]
    out: dict[str, Any] = {"loss": 0.0, "loss_ci_low": np.nan, "loss_ci_high": np.nan, "loss_domain": None,
                           "loss_evidence": None, "n_significant_losses": len(significant),
                           "worst_domain": None, "worst_delta": np.nan}
    worst = _lowest(significant)
    if worst is not None:
        out.update(loss=float(worst["delta"]), loss_ci_low=float(worst["ci_low"]),
                   loss_ci_high=float(worst["ci_high"]), loss_domain=str(worst["domain"]),
                   loss_evidence=str(worst["evidence"]))
    worst_any = _lowest(cells)
    if worst_any is not None:
        out.update(worst_domain=str(worst_any["domain"]), worst_delta=float(worst_any["delta"]))
    return out


def probe_gains(runs: Mapping[str, Comparison]) -> pd.DataFrame:
    """Per candidate that has a compositional probe and per edit rule (and ``all``), all domains pooled:
    ``candidate``, ``rule``, ``n_pairs`` and the Δ of the share of pairs ranked right with its CI."""
    columns = ["candidate", "rule", "n_pairs", "prefers_original_delta", "prefers_original_ci_low",
               "prefers_original_ci_high"]
    parts = [summary[summary["domain"] == "overall"].assign(candidate=name)[columns]
             for name, run in runs.items() if (summary := run.tables.get("probe")) is not None]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def frontier(runs: Mapping[str, Comparison], targets: Sequence[str]) -> pd.DataFrame:
    """One row per candidate: gain on ``targets``, worst significant loss elsewhere, and who dominates it.

    Parameters
    ----------
    runs : mapping of candidate name to Comparison
        Each candidate's run against the same base on the same dataset.
    targets : sequence of str
        The domains the candidates were tuned for (at least one).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FRONTIER_COLUMNS`, in the order of ``runs``.
    """
    targets = check_targets(runs, targets)
    if not targets:
        raise InputError("name at least one target domain (--target DOMAIN): the gain is measured there")
    cells = domain_deltas(runs)
    rows = []
    for name, run in runs.items():
        elsewhere = cells[(cells["candidate"] == name) & ~cells["domain"].isin(targets)]
        rows.append({"candidate": name, "run_id": run.run_id, "verdict": run.verdict, **_gain(run, targets),
                     **_loss(elsewhere)})
    table = pd.DataFrame(rows)
    table["dominated_by"] = [_dominating(table, i) for i in range(len(table))]
    table["dominated"] = table["dominated_by"].map(bool)
    return table[list(FRONTIER_COLUMNS)]


def _dominating(table: pd.DataFrame, i: int) -> str:
    """The candidates that dominate row ``i`` (comma-joined; empty when none)."""
    gain, loss = table["gain"].to_numpy(np.float64), table["loss"].to_numpy(np.float64)
    if not np.isfinite(gain[i]):
        return ""
    better = [str(table["candidate"].iloc[j]) for j in range(len(table)) if j != i and np.isfinite(gain[j])
              and gain[j] >= gain[i] and loss[j] >= loss[i] and (gain[j] > gain[i] or loss[j] > loss[i])]
    return ",".join(better)


def best_candidate(table: pd.DataFrame) -> str:
    """The candidate to ship from a :func:`frontier` table (see the module's "Best")."""
    if not len(table):
        raise InputError("no candidates to choose from")
    order = table.assign(
        _severity=table["verdict"].map(VERDICTS.index),
        _gain=table["gain"].fillna(-np.inf), _loss=table["loss"].fillna(-np.inf),
    ).sort_values(["_severity", "dominated", "_gain", "_loss", "candidate"],
                  ascending=[True, True, False, False, True], kind="mergesort")
    return str(order["candidate"].iloc[0])
