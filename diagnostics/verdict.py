"""PASS / WARN / FAIL / UNVERIFIED per domain and overall, with the evidence and the reason in words.

Every domain's verdict records what it rests on (:data:`EVIDENCE`):

* ``judged`` — at least ``retrieval_min_queries`` of the user's judged queries in the domain;
* ``synthetic`` — else, known-item checks synthesised from at least ``known_item_min_docs`` of the
  domain's documents (:mod:`diagnostics.known_item`; they need both models);
* ``none`` — else. The domain is **UNVERIFIED**, never PASS, and the reason says what would fix it.

Rules (thresholds from :mod:`diagnostics.config`; names below are its keys), on ``retrieval_metric``:

With judged evidence:

* **FAIL** — the drop is significant (Holm-corrected p < ``retrieval_alpha``, Δ < 0) and the
  relative drop (base − tuned) / base exceeds ``retrieval_fail_relative_drop``.
* **WARN** — a significant drop below that size (a significant drop is never a PASS); or a relative
  drop above ``retrieval_warn_relative_drop`` that is not significant (too few queries to tell).
* **PASS** — otherwise. Known-item checks, where they ran, are a second opinion listed as a note.

With synthetic evidence, the same three rules on the known-item figures, with ``known_item_alpha`` and
``known_item_warn_relative_drop``; Holm runs across the domains' known-item p-values, a family apart from
the judged one. By default a synthetic drop can WARN but never FAIL — only judged retrieval fails a
domain, since such checks reward word overlap and penalise the model that departs from the rest; a
team that wants them to gate opts in with ``known_item_can_fail`` (then FAIL above
``known_item_fail_relative_drop``).

In every case, collapse and merge flags, low neighborhood overlap, low query top-k overlap and a
fall in domain consistency are *notes* that say where to look: change is not damage, and they never
decide a verdict.

Overall: the worst domain verdict, in the order PASS < WARN < UNVERIFIED < FAIL, so the overall
verdict is never PASS while a domain is UNVERIFIED. The overall row's own verdict (the same rules on
all queries or checks pooled) counts too, capped at WARN: a diffuse drop that is significant only
when pooled is never a PASS, but only a domain can FAIL a run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from diagnostics.config import Config
from diagnostics.metrics import label as _label

__all__ = ["VERDICTS", "EVIDENCE", "KNOWN_ITEM_PREFIX", "domain_verdict", "evidence_of", "overall_verdict",
           "format_delta", "evidence_summary", "calibration_note"]

#: Verdicts from best to worst.
VERDICTS = ("PASS", "WARN", "UNVERIFIED", "FAIL")
#: What a domain's verdict can rest on, strongest first.
EVIDENCE = ("judged", "synthetic", "none")
#: Prefix of the known-item columns of the domain table (``ki_ndcg@10_delta``, ``ki_n_docs``, ...).
KNOWN_ITEM_PREFIX = "ki_"
_KI = KNOWN_ITEM_PREFIX


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _count(value: Any) -> int:
    n = _num(value)
    return int(n) if math.isfinite(n) else 0


def _p(p: float) -> str:
    if math.isnan(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _signed(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:+.3f}".replace("-", "\u2212")


def format_delta(metric: str, row: Mapping[str, Any], *, prefix: str = "") -> str:
    """``"nDCG@10 −0.120 [−0.170, −0.070], p = 0.001 after Holm"`` for one row of the domain table.

    ``prefix`` selects the known-item figures (``"ki_"``) instead of the judged ones.
    """
    delta, low, high = (_num(row.get(f"{prefix}{metric}_{s}")) for s in ("delta", "ci_low", "ci_high"))
    p_holm = _num(row.get(f"{prefix}{metric}_p_holm"))
    return f"{_label(metric)} {_signed(delta)} [{_signed(low)}, {_signed(high)}], {_p(p_holm)} after Holm"


def evidence_of(row: Mapping[str, Any], config: Config) -> str:
    """``"judged"``, ``"synthetic"`` or ``"none"``: what a row of the domain table can rest on."""
    if _count(row.get("n_queries", 0)) >= config.retrieval_min_queries and \
            math.isfinite(_num(row.get(f"{config.retrieval_metric}_delta"))):
        return "judged"
    if _count(row.get(f"{_KI}n_docs", 0)) >= config.known_item_min_docs and \
            math.isfinite(_num(row.get(f"{_KI}{config.retrieval_metric}_delta"))):
        return "synthetic"
    return "none"


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


def _label_free_findings(row: Mapping[str, Any], config: Config) -> list[str]:
    findings = _collapse_notes(row)
    overlap = _num(row.get("overlap_median"))
    jac = _num(row.get("query_jaccard_median"))
    dc_drop = _num(row.get("domain_consistency_base")) - _num(row.get("domain_consistency_tuned"))
    if overlap < config.label_free_overlap_median_warn:
        findings.append(f"median neighborhood overlap {overlap:.2f} < {config.label_free_overlap_median_warn:.2f}")
    if jac < config.label_free_query_jaccard_median_warn:
        findings.append(f"median query top-k overlap {jac:.2f} < {config.label_free_query_jaccard_median_warn:.2f}")
    if dc_drop > config.label_free_consistency_drop_warn:
        findings.append(f"domain consistency fell by {dc_drop:.2f}")
    return findings


def _drop_verdict(
    row: Mapping[str, Any], metric: str, *, prefix: str, alpha: float, fail: float, warn: float, units: str
) -> tuple[str, str]:
    """The three drop rules on one set of figures: (verdict, the finding in words)."""
    base, delta = _num(row.get(f"{prefix}{metric}_base")), _num(row.get(f"{prefix}{metric}_delta"))
    p_holm = _num(row.get(f"{prefix}{metric}_p_holm"))
    rel = -delta / base if base > 0 else (math.inf if delta < 0 else 0.0)
    significant = not math.isnan(p_holm) and p_holm < alpha
    if significant and delta < 0 and rel > fail:
        return "FAIL", f"a significant drop of {rel:.1%}, above the {fail:.0%} FAIL threshold"
    if significant and delta < 0 and math.isinf(fail):
        return "WARN", (f"a significant drop of {rel:.1%} (synthetic evidence warns but does not fail unless "
                        "[known_item] can_fail is set)")
    if significant and delta < 0:
        return "WARN", f"a significant drop of {rel:.1%}, below the {fail:.0%} FAIL threshold"
    if delta < 0 and rel > warn:
        return "WARN", f"a drop of {rel:.1%} that is not significant with {units}"
    return "PASS", "gain" if delta > 0 else "no significant drop"


def _known_item_summary(row: Mapping[str, Any], metric: str) -> str:
    n = _count(row.get(f"{_KI}n_docs"))
    return f"known-item checks on {n} documents: {format_delta(metric, row, prefix=_KI)}"


def _bm25_note(domain: str, row: Mapping[str, Any], metric: str) -> list[str]:
    bm25 = _num(row.get(f"{_KI}{metric}_bm25"))
    if math.isnan(bm25):
        return []
    base, tuned = _num(row.get(f"{_KI}{metric}_base")), _num(row.get(f"{_KI}{metric}_tuned"))
    label = _label(metric)
    return [f"{domain}: note — on the same checks BM25 scores {label} {bm25:.3f} (base {base:.3f}, tuned "
            f"{tuned:.3f}): known-item checks reward word overlap"]


def _unverified_fix(row: Mapping[str, Any], config: Config) -> str:
    status = str(row.get("known_item_status") or "no_models")
    if status == "off":
        return "known-item checks are off ([known_item] docs_per_domain = 0): turn them on, or add judgements"
    if status == "checked":
        n = _count(row.get(f"{_KI}n_docs"))
        return (f"only {n} of its documents could be made into known-item checks ({config.known_item_min_docs} "
                "needed; documents need a sentence of 5+ words found in no other document, or 20+ words, or a "
                "unique title): add judgements for this domain")
    return "no judgements and no models to synthesise checks: pass --base/--tuned (also beside --base-vectors/" \
           "--tuned-vectors), or add judgements"


def domain_verdict(domain: str, row: Mapping[str, Any], config: Config) -> tuple[str, list[str]]:
    """Decide one domain's verdict from its row of the domain table.

    Parameters
    ----------
    domain : str
        The domain's name, used in the reasons.
    row : mapping
        ``n_queries`` (judged), ``{metric}_{base,tuned,delta,ci_low,ci_high,p_holm}``, the same with
        the ``ki_`` prefix and ``ki_n_docs`` / ``ki_{metric}_bm25`` for known-item checks,
        ``known_item_status`` (``checked``, ``no_models`` or ``off``), ``overlap_median``,
        ``query_jaccard_median``, ``domain_consistency_{base,tuned}``, ``collapsed``,
        ``collapse_reason``, ``merged_with``.
    config : Config

    Returns
    -------
    verdict : {"PASS", "WARN", "UNVERIFIED", "FAIL"}
    reasons : list of str
        Sentences with the numbers; the first states the decisive finding. The evidence is
        :func:`evidence_of` of the same row.
    """
    metric = config.retrieval_metric
    label = _label(metric)
    evidence = evidence_of(row, config)
    n_judged = _count(row.get("n_queries", 0))
    has_checks = math.isfinite(_num(row.get(f"{_KI}{metric}_delta")))

    if evidence == "judged":
        verdict, finding = _drop_verdict(
            row, metric, prefix="", alpha=config.retrieval_alpha, fail=config.retrieval_fail_relative_drop,
            warn=config.retrieval_warn_relative_drop, units=f"{n_judged} judged queries",
        )
        reasons = [f"{domain}: {format_delta(metric, row)} — {finding}"]
        if has_checks:
            reasons.append(f"{domain}: note — second opinion, {_known_item_summary(row, metric)}")
        reasons += [f"{domain}: note — {n}; change is not damage, judged retrieval decides"
                    for n in _collapse_notes(row)]
        return verdict, reasons

    why = "no judged queries" if n_judged == 0 else \
        f"only {n_judged} judged queries ({config.retrieval_min_queries} needed)"
    notes = [f"{domain}: note — {f} (label-free: shows where to look, cannot confirm a {label} loss)"
             for f in _label_free_findings(row, config)]
    if evidence == "synthetic":
        n_docs = _count(row.get(f"{_KI}n_docs"))
        fail = config.known_item_fail_relative_drop if config.known_item_can_fail else math.inf
        verdict, finding = _drop_verdict(
            row, metric, prefix=_KI, alpha=config.known_item_alpha, fail=fail,
            warn=config.known_item_warn_relative_drop, units=f"{n_docs} checked documents",
        )
        reasons = [f"{domain}: {format_delta(metric, row, prefix=_KI)} on known-item checks synthesised from "
                   f"{n_docs} of its documents ({why}) — {finding}"]
        return verdict, reasons + _bm25_note(domain, row, metric) + notes
    reasons = [f"{domain}: UNVERIFIED — {why}; {_unverified_fix(row, config)}"]
    return "UNVERIFIED", reasons + notes


def calibration_note(rows: Sequence[Mapping[str, Any]], config: Config) -> str | None:
    """Where a domain has both judgements and known-item checks, how far the checks' Δ fell from the
    judged Δ: the one place a reviewer can see how this fine-tune's synthetic evidence reads against the
    truth (checks tend to penalise the model that departs from the rest). None when no domain has both."""
    metric = config.retrieval_metric
    label = _label(metric)
    pairs = []
    for row in rows:
        judged, checks = _num(row.get(f"{metric}_delta")), _num(row.get(f"{_KI}{metric}_delta"))
        if evidence_of(row, config) == "judged" and math.isfinite(checks):
            pairs.append((str(row["domain"]), checks, judged))
    if not pairs:
        return None
    gap = sum(c - j for _, c, j in pairs) / len(pairs)
    where = "; ".join(f"{d}: checks {_signed(c)}, judgements {_signed(j)}" for d, c, j in pairs)
    direction = "lower" if gap < 0 else "higher"
    return (f"calibration — where both exist ({where}), known-item checks read {label} {abs(gap):.3f} {direction} "
            "than judgements; weigh synthetic verdicts with that in mind")


def overall_verdict(verdicts: Mapping[str, str], *, pooled: str | None = None) -> str:
    """The worst of the domain verdicts (PASS < WARN < UNVERIFIED < FAIL); PASS when there are none.

    Parameters
    ----------
    verdicts : mapping of domain to verdict
    pooled : {"PASS", "WARN", "FAIL", "UNVERIFIED"}, optional
        The overall row's own verdict (all queries or checks pooled); it counts at most as WARN, and
        not at all when it is UNVERIFIED (the domains say which are).
    """
    worst = 0
    for v in verdicts.values():
        worst = max(worst, VERDICTS.index(v))
    if pooled is not None and pooled != "UNVERIFIED":
        worst = max(worst, min(VERDICTS.index(pooled), VERDICTS.index("WARN")))
    return VERDICTS[worst]


def evidence_summary(evidence: Mapping[str, str]) -> str:
    """``"evidence: judged for clinical; synthetic for finance, hr; none for legal"``."""
    parts = []
    for kind in EVIDENCE:
        names = [d for d, e in evidence.items() if e == kind]
        if names:
            parts.append(f"{kind} for {', '.join(names)}")
    return "evidence: " + "; ".join(parts) if parts else "evidence: no domains"
