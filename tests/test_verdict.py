"""Verdict rules: hand-built rows of the domain table, and the rules end to end through compare()."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_compare import DEGRADED, degrade, synthetic

from diagnostics.compare import compare
from diagnostics.config import Config, load_config
from diagnostics.verdict import (
    VERDICTS,
    domain_verdict,
    evidence_of,
    evidence_summary,
    format_delta,
    overall_verdict,
)

CONFIG = load_config()


def judged_row(
    *, base: float = 0.60, delta: float = 0.0, p_holm: float = 1.0, n: int = 50, **extra: Any
) -> dict[str, Any]:
    """A domain-table row with judged queries (nDCG@10 figures) and calm label-free signals."""
    return {
        "n_queries": n,
        "ndcg@10_base": base,
        "ndcg@10_tuned": base + delta,
        "ndcg@10_delta": delta,
        "ndcg@10_ci_low": delta - 0.02,
        "ndcg@10_ci_high": delta + 0.02,
        "ndcg@10_p_holm": p_holm,
        "overlap_median": 0.9,
        "query_jaccard_median": 0.9,
        "domain_consistency_base": 0.9,
        "domain_consistency_tuned": 0.9,
        "collapsed": False,
        "merged_with": "",
        "collapse_reason": "",
        **extra,
    }


def label_free_row(**extra: Any) -> dict[str, Any]:
    row = judged_row(n=0, base=math.nan, delta=math.nan, p_holm=math.nan)
    row.update(extra)
    return row


# --------------------------------------------------------------------------------------------------
# With judged queries
# --------------------------------------------------------------------------------------------------


def test_a_large_significant_drop_fails() -> None:
    verdict, reasons = domain_verdict("legal", judged_row(delta=-0.12, p_holm=0.001), CONFIG)
    assert verdict == "FAIL"
    assert reasons[0].startswith("legal: nDCG@10 −0.120 [−0.140, −0.100], p = 0.001 after Holm")
    assert "20.0%" in reasons[0] and "above the 5% FAIL threshold" in reasons[0]


def test_a_small_significant_drop_is_warn_never_pass() -> None:
    # 0.012 / 0.60 = 2 %: below the 5 % FAIL threshold and below the WARN relative drop, yet significant
    verdict, reasons = domain_verdict("news", judged_row(delta=-0.012, p_holm=0.01), CONFIG)
    assert verdict == "WARN"
    assert "a significant drop of 2.0%, below the 5% FAIL threshold" in reasons[0]


@settings(max_examples=200, deadline=None)
@given(
    base=st.floats(0.01, 1.0),
    drop=st.floats(1e-6, 1.0),
    p=st.floats(0.0, 0.0499),
    fail=st.floats(0.0, 1.0),
    warn=st.floats(0.0, 1.0),
)
def test_a_significant_drop_is_never_pass(base: float, drop: float, p: float, fail: float, warn: float) -> None:
    config = replace(CONFIG, retrieval_fail_relative_drop=fail, retrieval_warn_relative_drop=warn)
    delta = -min(drop, base)
    verdict, _ = domain_verdict("d", judged_row(base=base, delta=delta, p_holm=p), config)
    assert verdict in ("WARN", "FAIL")
    assert (verdict == "FAIL") == (-delta / base > fail)


def test_a_large_drop_that_is_not_significant_warns() -> None:
    verdict, reasons = domain_verdict("code", judged_row(delta=-0.10, p_holm=0.2, n=6), CONFIG)
    assert verdict == "WARN"
    assert "not significant with 6 judged queries" in reasons[0]


def test_a_small_insignificant_drop_and_a_gain_pass() -> None:
    assert domain_verdict("a", judged_row(delta=-0.01, p_holm=0.5), CONFIG)[0] == "PASS"
    verdict, reasons = domain_verdict("a", judged_row(delta=0.08, p_holm=0.001), CONFIG)
    assert verdict == "PASS" and reasons[0].endswith("— gain")


def test_collapse_is_a_note_not_a_failure_when_retrieval_held() -> None:
    row = judged_row(delta=0.0, p_holm=1.0, collapsed=True, collapse_reason="intra-domain cosine rose by 0.30",
                     merged_with="finance,news", overlap_median=0.05, query_jaccard_median=0.05)
    verdict, reasons = domain_verdict("legal", row, CONFIG)
    assert verdict == "PASS"
    assert any("note — intra-domain cosine rose by 0.30" in r for r in reasons)
    assert any("drew together with finance, news" in r for r in reasons)
    assert all("change is not damage" in r for r in reasons[1:])


def test_too_few_judged_queries_is_no_evidence() -> None:
    row = judged_row(delta=-0.5, p_holm=0.001, n=CONFIG.retrieval_min_queries - 1)
    verdict, reasons = domain_verdict("tiny", row, CONFIG)
    assert verdict == "UNVERIFIED" and evidence_of(row, CONFIG) == "none"
    assert reasons[0].startswith(f"tiny: UNVERIFIED — only {CONFIG.retrieval_min_queries - 1} judged queries "
                                 f"({CONFIG.retrieval_min_queries} needed); no judgements and no models")


def test_the_config_decides_the_thresholds() -> None:
    row = judged_row(delta=-0.12, p_holm=0.001)
    assert domain_verdict("d", row, CONFIG)[0] == "FAIL"
    assert domain_verdict("d", row, replace(CONFIG, retrieval_fail_relative_drop=0.5))[0] == "WARN"
    assert domain_verdict("d", row, replace(CONFIG, retrieval_alpha=0.0005))[0] == "WARN"  # not significant
    assert domain_verdict("d", row, replace(CONFIG, retrieval_alpha=0.0005,
                                            retrieval_warn_relative_drop=0.5))[0] == "PASS"


def test_the_verdict_metric_comes_from_the_config() -> None:
    row = judged_row(delta=0.0, p_holm=1.0)
    row.update({"mrr@10_base": 0.5, "mrr@10_delta": -0.2, "mrr@10_ci_low": -0.3, "mrr@10_ci_high": -0.1,
                "mrr@10_p_holm": 0.0001})
    assert domain_verdict("d", row, CONFIG)[0] == "PASS"
    verdict, reasons = domain_verdict("d", row, replace(CONFIG, retrieval_metric="mrr@10"))
    assert verdict == "FAIL" and "MRR@10 −0.200 [−0.300, −0.100], p < 0.001 after Holm" in reasons[0]


# --------------------------------------------------------------------------------------------------
# No evidence: UNVERIFIED, label-free signals as notes
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"overlap_median": 0.1}, "median neighborhood overlap 0.10 < 0.30"),
        ({"query_jaccard_median": 0.2}, "median query top-k overlap 0.20 < 0.30"),
        ({"domain_consistency_tuned": 0.5}, "domain consistency fell by 0.40"),
        ({"collapsed": True, "collapse_reason": "the cluster shrank"}, "the cluster shrank"),
        ({"merged_with": "news"}, "drew together with news"),
    ],
)
def test_each_label_free_signal_is_a_note_on_an_unverified_domain(change: dict[str, Any], words: str) -> None:
    verdict, reasons = domain_verdict("legal", label_free_row(**change), CONFIG)
    assert verdict == "UNVERIFIED"
    assert reasons[0].startswith("legal: UNVERIFIED — no judged queries; no judgements and no models to synthesise "
                                 "checks: pass --base/--tuned")
    assert any(words in r for r in reasons[1:])
    assert all(r.startswith("legal: note — ") and "cannot confirm a nDCG@10 loss" in r for r in reasons[1:])


def test_calm_label_free_signals_are_still_unverified() -> None:
    verdict, reasons = domain_verdict("legal", label_free_row(), CONFIG)
    assert verdict == "UNVERIFIED" and len(reasons) == 1


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("no_models", "no judgements and no models to synthesise checks: pass --base/--tuned (also beside "
                      "--base-vectors/--tuned-vectors), or add judgements"),
        ("off", "known-item checks are off ([known_item] docs_per_domain = 0): turn them on, or add judgements"),
        ("checked", "only 7 of its documents could be made into known-item checks (20 needed"),
    ],
)
def test_unverified_says_what_would_fix_it(status: str, words: str) -> None:
    row = label_free_row(known_item_status=status, ki_n_docs=7 if status == "checked" else 0)
    verdict, reasons = domain_verdict("hr", row, CONFIG)
    assert verdict == "UNVERIFIED" and words in reasons[0]


@settings(max_examples=150, deadline=None)
@given(
    overlap=st.floats(0, 1),
    jac=st.floats(0, 1),
    dc_base=st.floats(0, 1),
    dc_tuned=st.floats(0, 1),
    collapsed=st.booleans(),
    n=st.integers(0, 4),
)
def test_label_free_signals_never_decide(
    overlap: float, jac: float, dc_base: float, dc_tuned: float, collapsed: bool, n: int
) -> None:
    row = label_free_row(overlap_median=overlap, query_jaccard_median=jac, domain_consistency_base=dc_base,
                         domain_consistency_tuned=dc_tuned, collapsed=collapsed, n_queries=n)
    assert domain_verdict("d", row, CONFIG)[0] == "UNVERIFIED"


def test_a_missing_query_count_is_treated_as_none() -> None:
    assert domain_verdict("d", label_free_row(n_queries=None), CONFIG)[0] == "UNVERIFIED"


# --------------------------------------------------------------------------------------------------
# Synthetic evidence: known-item checks
# --------------------------------------------------------------------------------------------------


def synthetic_row(*, base: float = 0.60, delta: float = 0.0, p_holm: float = 1.0, n_docs: int = 300,
                  **extra: Any) -> dict[str, Any]:
    """A row without judgements whose known-item checks ran on ``n_docs`` documents."""
    row = label_free_row(known_item_status="checked", ki_n_docs=n_docs)
    row.update({"ki_ndcg@10_base": base, "ki_ndcg@10_tuned": base + delta, "ki_ndcg@10_delta": delta,
                "ki_ndcg@10_ci_low": delta - 0.02, "ki_ndcg@10_ci_high": delta + 0.02, "ki_ndcg@10_p_holm": p_holm,
                "ki_ndcg@10_bm25": 0.7, **extra})
    return row


def test_known_item_checks_are_the_evidence_without_judgements() -> None:
    row = synthetic_row(delta=0.01, p_holm=0.4)
    assert evidence_of(row, CONFIG) == "synthetic"
    verdict, reasons = domain_verdict("hr", row, CONFIG)
    assert verdict == "PASS"
    assert reasons[0] == ("hr: nDCG@10 +0.010 [−0.010, +0.030], p = 0.400 after Holm on known-item checks "
                          "synthesised from 300 of its documents (no judged queries) — gain")
    assert any("BM25 scores nDCG@10 0.700 (base 0.600, tuned 0.610)" in r for r in reasons)


def test_a_significant_synthetic_drop_is_never_pass() -> None:
    # 3 % relative: below the WARN relative drop, yet significant
    verdict, reasons = domain_verdict("hr", synthetic_row(delta=-0.018, p_holm=0.001), CONFIG)
    assert verdict == "WARN" and "a significant drop of 3.0% (synthetic evidence warns but does not fail" in reasons[0]


@settings(max_examples=150, deadline=None)
@given(base=st.floats(0.01, 1.0), drop=st.floats(1e-6, 1.0), p=st.floats(0.0, 0.0499), fail=st.floats(0.0, 1.0),
       can_fail=st.booleans())
def test_a_significant_synthetic_drop_is_never_pass_whatever_the_thresholds(
    base: float, drop: float, p: float, fail: float, can_fail: bool
) -> None:
    config = replace(CONFIG, known_item_fail_relative_drop=fail, known_item_warn_relative_drop=fail,
                     known_item_can_fail=can_fail)
    row = synthetic_row(base=base, delta=-min(drop, base), p_holm=p)
    assert domain_verdict("d", row, config)[0] in (("WARN", "FAIL") if can_fail else ("WARN",))


def test_synthetic_evidence_fails_only_when_a_team_opts_in() -> None:
    big = synthetic_row(delta=-0.3, p_holm=0.0001)  # 50 % relative, significant
    assert domain_verdict("d", big, CONFIG)[0] == "WARN"
    opted = replace(CONFIG, known_item_can_fail=True)
    verdict, reasons = domain_verdict("d", big, opted)
    assert verdict == "FAIL" and "above the 10% FAIL threshold" in reasons[0]
    row = synthetic_row(delta=-0.048, p_holm=0.001)  # 8 %: a judged FAIL, a synthetic WARN even when opted in
    assert domain_verdict("d", judged_row(delta=-0.048, p_holm=0.001), CONFIG)[0] == "FAIL"
    assert domain_verdict("d", row, opted)[0] == "WARN"
    assert domain_verdict("d", row, replace(opted, known_item_fail_relative_drop=0.05))[0] == "FAIL"
    assert domain_verdict("d", synthetic_row(delta=-0.12, p_holm=0.2), opted)[0] == "WARN"  # not significant
    assert domain_verdict("d", synthetic_row(delta=-0.12, p_holm=0.01),
                          replace(opted, known_item_alpha=0.005))[0] == "WARN"
    assert domain_verdict("d", synthetic_row(delta=-0.01, p_holm=0.5), opted)[0] == "PASS"


def test_too_few_checked_documents_is_no_evidence() -> None:
    row = synthetic_row(delta=-0.3, p_holm=0.001, n_docs=CONFIG.known_item_min_docs - 1)
    assert evidence_of(row, CONFIG) == "none"
    assert domain_verdict("d", row, CONFIG)[0] == "UNVERIFIED"


def test_judgements_decide_and_checks_are_a_second_opinion() -> None:
    row = judged_row(delta=0.02, p_holm=0.3, known_item_status="checked",
                     **{k: v for k, v in synthetic_row(delta=-0.2, p_holm=0.001).items() if k.startswith("ki_")})
    assert evidence_of(row, CONFIG) == "judged"
    verdict, reasons = domain_verdict("clinical", row, CONFIG)
    assert verdict == "PASS"
    assert reasons[1].startswith("clinical: note — second opinion, known-item checks on 300 documents: nDCG@10 "
                                 "−0.200")


# --------------------------------------------------------------------------------------------------
# Overall, formatting
# --------------------------------------------------------------------------------------------------


def test_overall_is_the_worst_domain() -> None:
    assert overall_verdict({}) == "PASS"
    assert overall_verdict({"a": "PASS", "b": "PASS"}) == "PASS"
    assert overall_verdict({"a": "PASS", "b": "WARN"}) == "WARN"
    assert overall_verdict({"a": "WARN", "b": "FAIL", "c": "PASS"}) == "FAIL"
    assert VERDICTS == ("PASS", "WARN", "UNVERIFIED", "FAIL")


def test_overall_is_never_pass_while_a_domain_is_unverified() -> None:
    assert overall_verdict({"a": "PASS", "b": "UNVERIFIED"}) == "UNVERIFIED"
    assert overall_verdict({"a": "WARN", "b": "UNVERIFIED"}, pooled="PASS") == "UNVERIFIED"
    assert overall_verdict({"a": "FAIL", "b": "UNVERIFIED"}) == "FAIL"
    assert overall_verdict({"a": "PASS"}, pooled="UNVERIFIED") == "PASS"  # the domains say which are


def test_evidence_summary() -> None:
    text = evidence_summary({"a": "judged", "b": "none", "c": "synthetic", "d": "synthetic"})
    assert text == "evidence: judged for a; synthetic for c, d; none for b"


def test_the_pooled_overall_verdict_counts_at_most_as_warn() -> None:
    assert overall_verdict({"a": "PASS", "b": "PASS"}, pooled="WARN") == "WARN"
    assert overall_verdict({"a": "PASS", "b": "PASS"}, pooled="FAIL") == "WARN"
    assert overall_verdict({"a": "PASS"}, pooled="PASS") == "PASS"
    assert overall_verdict({"a": "FAIL"}, pooled="PASS") == "FAIL"


def test_format_delta() -> None:
    row = {"ndcg@10_delta": -0.12, "ndcg@10_ci_low": -0.17, "ndcg@10_ci_high": -0.07, "ndcg@10_p_holm": 0.001}
    assert format_delta("ndcg@10", row) == "nDCG@10 −0.120 [−0.170, −0.070], p = 0.001 after Holm"
    row = {"recall@10_delta": 0.05, "recall@10_ci_low": 0.01, "recall@10_ci_high": 0.09, "recall@10_p_holm": 0.0002}
    assert format_delta("recall@10", row) == "Recall@10 +0.050 [+0.010, +0.090], p < 0.001 after Holm"
    assert format_delta("ndcg@10", {}) == "nDCG@10 n/a [n/a, n/a], p = n/a after Holm"


# --------------------------------------------------------------------------------------------------
# End to end: the planted degradation under another config
# --------------------------------------------------------------------------------------------------


def test_a_significant_drop_below_the_fail_threshold_is_warn_end_to_end(tmp_path: Path) -> None:
    dataset, base = synthetic()
    tuned = degrade(dataset, base, DEGRADED)
    override = tmp_path / "team.toml"
    override.write_text("[retrieval]\nfail_relative_drop = 0.95\n", encoding="utf-8")
    config: Config = load_config(override)
    result = compare(dataset, base, tuned, config=config, projection=False)
    verdicts = dict(zip(result.domains["domain"], result.domains["verdict"], strict=True))
    assert verdicts[DEGRADED] == "WARN"
    assert result.verdict == "WARN"
    assert {v for d, v in verdicts.items() if d not in (DEGRADED, "overall")} == {"PASS"}
    assert result.reasons[0] == "evidence: judged for " + ", ".join(sorted(v for v in verdicts if v != "overall"))
    assert "below the 95% FAIL threshold" in result.reasons[1]
    assert result.manifest["config"]["retrieval_fail_relative_drop"] == 0.95


def test_synthetic_verdicts_carry_the_calibration_of_the_judged_domains() -> None:
    from diagnostics.verdict import calibration_note

    judged = judged_row(delta=0.089, p_holm=0.003, domain="biomedical",
                        **{k: v for k, v in synthetic_row(delta=-0.019, p_holm=0.01).items() if k.startswith("ki_")})
    other = synthetic_row(delta=-0.04, p_holm=0.001, domain="aero")
    note = calibration_note([judged, other], CONFIG)
    assert note == ("calibration — where both exist (biomedical: checks −0.019, judgements +0.089), known-item "
                    "checks read nDCG@10 0.108 lower than judgements; weigh synthetic verdicts with that in mind")
    assert calibration_note([other], CONFIG) is None
