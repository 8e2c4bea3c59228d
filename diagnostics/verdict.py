"""PASS / WARN / FAIL per domain and overall, with the reason in words.

Rules (thresholds from :mod:`diagnostics.config`; names below are its keys):

With judged queries (at least ``retrieval_min_queries`` in the domain), on ``retrieval_metric``:

* **FAIL** — the drop is significant (Holm-corrected p < ``retrieval_alpha``, Δ < 0) and the
  relative drop (base − tuned) / base exceeds ``retrieval_fail_relative_drop``.
* **WARN** — a significant drop below that size (a significant drop is never a PASS); or a relative
  drop above ``retrieval_warn_relative_drop`` that is not significant (too few queries to tell).
* **PASS** — otherwise. Collapse and merge flags and low overlap are added as *notes*: change is
  not damage, so they never fail a domain whose judged retrieval held.

Without judged queries (label-free), a domain can only be PASS or WARN:

* **WARN** — a collapse or merge flag, median neighbourhood Jaccard@k below
  ``label_free_overlap_median_warn``, median query top-k Jaccard below
  ``label_free_query_jaccard_median_warn``, or domain consistency fallen by more than
  ``label_free_consistency_drop_warn``; the reason says that only judgements can confirm damage.
* **PASS** — none of these.

Overall: the worst domain verdict; the overall row's own statistics are reported alongside, since an
in-domain gain and an off-domain loss can cancel in the overall mean. The overall row's own verdict
(the same rules on all queries pooled) counts too, capped at WARN: a diffuse drop that is significant
only when pooled is never a PASS, but only a domain can FAIL a run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from diagnostics.config import Config

__all__ = ["VERDICTS", "domain_verdict", "overall_verdict", "format_delta"]

VERDICTS = ("PASS", "WARN", "FAIL")
_LABEL = {"ndcg@10": "nDCG@10", "recall@10": "Recall@10", "recall@100": "Recall@100", "mrr@10": "MRR@10"}


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _p(p: float) -> str:
    if math.isnan(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def format_delta(metric: str, row: Mapping[str, Any]) -> str:
    """``"nDCG@10 −0.120 [−0.170, −0.070], p = 0.001 after Holm"`` for one row of the domain table."""
    delta, low, high = (_num(row.get(f"{metric}_{s}")) for s in ("delta", "ci_low", "ci_high"))
    p_holm = _num(row.get(f"{metric}_p_holm"))

    def signed(x: float) -> str:
        return "n/a" if math.isnan(x) else f"{x:+.3f}".replace("-", "\u2212")

    return f"{_LABEL.get(metric, metric)} {signed(delta)} [{signed(low)}, {signed(high)}], {_p(p_holm)} after Holm"


def _collapse_notes(row: Mapping[str, Any]) -> list[str]:
    notes = []
    if bool(row.get("collapsed", False)):
        notes.append(str(row.get("collapse_reason") or "the domain's cluster collapsed"))
    merged = row.get("merged_with") or []
    if isinstance(merged, str):
        merged = [m for m in merged.split(",") if m]
    if len(merged):
        notes.append(f"drew together with {', '.join(str(m) for m in merged)} (centroid cosine rose)")
    return notes


def domain_verdict(domain: str, row: Mapping[str, Any], config: Config) -> tuple[str, list[str]]:
    """Decide one domain's verdict from its row of the domain table.

    Parameters
    ----------
    domain : str
        The domain's name, used in the reasons.
    row : mapping
        ``n_queries`` (judged), ``{metric}_{base,tuned,delta,ci_low,ci_high,p_holm}``,
        ``overlap@k_median``, ``query_jaccard_median``, ``domain_consistency_{base,tuned}``,
        ``collapsed``, ``collapse_reason``, ``merged_with``.
    config : Config

    Returns
    -------
    verdict : {"PASS", "WARN", "FAIL"}
    reasons : list of str
        Sentences with the numbers; the first states the decisive finding.
    """
    metric = config.retrieval_metric
    label = _LABEL.get(metric, metric)
    n_raw = _num(row.get("n_queries", 0))
    n_judged = int(n_raw) if math.isfinite(n_raw) else 0
    notes = _collapse_notes(row)
    overlap = _num(row.get("overlap_median"))
    jac = _num(row.get("query_jaccard_median"))
    dc_drop = _num(row.get("domain_consistency_base")) - _num(row.get("domain_consistency_tuned"))

    if n_judged >= config.retrieval_min_queries:
        base, delta = _num(row.get(f"{metric}_base")), _num(row.get(f"{metric}_delta"))
        p_holm = _num(row.get(f"{metric}_p_holm"))
        rel = -delta / base if base > 0 else (math.inf if delta < 0 else 0.0)
        significant = not math.isnan(p_holm) and p_holm < config.retrieval_alpha
        what = f"{domain}: {format_delta(metric, row)}"
        if significant and delta < 0 and rel > config.retrieval_fail_relative_drop:
            verdict = "FAIL"
            reasons = [f"{what} — a significant drop of {rel:.1%}, above the {config.retrieval_fail_relative_drop:.0%} "
                       "FAIL threshold"]
        elif significant and delta < 0:
            verdict = "WARN"
            reasons = [f"{what} — a significant drop of {rel:.1%}, below the "
                       f"{config.retrieval_fail_relative_drop:.0%} FAIL threshold"]
        elif delta < 0 and rel > config.retrieval_warn_relative_drop:
            verdict = "WARN"
            reasons = [f"{what} — a drop of {rel:.1%} that is not significant with {n_judged} judged queries"]
        else:
            verdict = "PASS"
            trend = "gain" if delta > 0 else "no significant drop"
            reasons = [f"{what} — {trend}"]
        reasons += [f"{domain}: note — {n}; change is not damage, judged retrieval decides" for n in notes]
        return verdict, reasons

    findings = list(notes)
    if overlap < config.label_free_overlap_median_warn:
        findings.append(f"median neighbourhood overlap {overlap:.2f} < {config.label_free_overlap_median_warn:.2f}")
    if jac < config.label_free_query_jaccard_median_warn:
        findings.append(f"median query top-k overlap {jac:.2f} < {config.label_free_query_jaccard_median_warn:.2f}")
    if dc_drop > config.label_free_consistency_drop_warn:
        findings.append(f"domain consistency fell by {dc_drop:.2f}")
    why = "no judged queries" if n_judged == 0 else f"only {n_judged} judged queries"
    if findings:
        return "WARN", [f"{domain}: {f} ({why}; label-free signals show where to look, only judgements can "
                        f"confirm a {label} loss)" for f in findings]
    return "PASS", [f"{domain}: label-free signals within thresholds ({why}; {label} not measured)"]


def overall_verdict(verdicts: Mapping[str, str], *, pooled: str | None = None) -> str:
    """The worst of the domain verdicts (PASS < WARN < FAIL); PASS when there are none.

    Parameters
    ----------
    verdicts : mapping of domain to verdict
    pooled : {"PASS", "WARN", "FAIL"}, optional
        The overall row's own verdict (all queries pooled); it counts at most as WARN.
    """
    worst = 0
    for v in verdicts.values():
        worst = max(worst, VERDICTS.index(v))
    if pooled is not None:
        worst = max(worst, min(VERDICTS.index(pooled), VERDICTS.index("WARN")))
    return VERDICTS[worst]
