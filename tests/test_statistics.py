"""Paired statistics: bootstrap CI, sign-flip p-value, Holm, and the per-domain comparison table."""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pandas as pd
import pytest

import diagnostics.statistics
from diagnostics._validation import InputError
from diagnostics.statistics import OVERALL, holm, paired_bootstrap_ci, paired_comparison, sign_flip_pvalue


def test_docstring_examples_run() -> None:
    result = doctest.testmod(diagnostics.statistics)
    assert result.attempted > 0 and result.failed == 0


# --- Holm ----------------------------------------------------------------------------------------------


def test_holm_hand_example() -> None:
    # sorted: 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> raised to 0.06 by monotonicity)
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06], rtol=1e-12)


def test_holm_caps_at_one_and_passes_nan_through() -> None:
    out = holm([0.5, np.nan, 0.2, 0.9])
    # m = 3 (NaN does not count): 0.2 x3 = 0.6, 0.5 x2 = 1.0, 0.9 x1 -> max(1.0, 0.9) = 1.0
    np.testing.assert_allclose(out, [1.0, np.nan, 0.6, 1.0])
    assert np.isnan(holm([np.nan, np.nan])).all()
    assert holm([]).shape == (0,)


def test_holm_is_monotone_and_never_below_the_raw_value() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.2, size=40)
    adjusted = holm(p)
    order = np.argsort(p)
    assert (np.diff(adjusted[order]) >= 0).all()
    assert (adjusted >= p).all() and (adjusted <= 1).all()
    # a single test is not adjusted
    assert holm([0.03]).tolist() == [0.03]


def test_holm_errors() -> None:
    with pytest.raises(InputError, match=r"pvalues must lie in \[0, 1\].*found 1.5"):
        holm([0.1, 1.5])
    with pytest.raises(InputError, match=r"pvalues must be a 1-D sequence"):
        holm([[0.1, 0.2]])
    with pytest.raises(InputError, match=r"pvalues must be a 1-D sequence of numbers"):
        holm(["a", "b"])


# --- bootstrap -----------------------------------------------------------------------------------------


def test_bootstrap_ci_covers_the_true_mean_and_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    deltas = rng.normal(0.1, 0.2, size=200)
    low, high = paired_bootstrap_ci(deltas, random_state=7)
    assert low < 0.1 < high
    assert low < deltas.mean() < high
    # width near the normal-theory 2 x 1.96 x sd / sqrt(n)
    assert (high - low) == pytest.approx(2 * 1.96 * deltas.std(ddof=1) / np.sqrt(200), rel=0.15)
    assert paired_bootstrap_ci(deltas, random_state=7) == (low, high)
    assert paired_bootstrap_ci(deltas, random_state=8) != (low, high)


def test_bootstrap_coverage_is_near_the_nominal_level() -> None:
    rng = np.random.default_rng(2)
    covered = 0
    trials = 200
    for trial in range(trials):
        sample = rng.normal(0.05, 0.3, size=60)
        low, high = paired_bootstrap_ci(sample, random_state=trial)
        covered += low <= 0.05 <= high
    assert 0.88 <= covered / trials <= 0.99


def test_bootstrap_confidence_widens_the_interval() -> None:
    deltas = np.random.default_rng(3).normal(0, 1, size=100)
    narrow = paired_bootstrap_ci(deltas, confidence=0.5)
    wide = paired_bootstrap_ci(deltas, confidence=0.99)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


def test_bootstrap_does_not_depend_on_the_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    deltas = np.random.default_rng(4).normal(0, 1, size=50)
    whole = paired_bootstrap_ci(deltas, n_resamples=300)
    monkeypatch.setattr(diagnostics.statistics, "_CELLS", 50 * 7)  # 7 resamples per chunk
    chunked = paired_bootstrap_ci(deltas, n_resamples=300)
    # chunking draws the same stream only for 64-bit draws; the interval must agree closely anyway
    assert chunked == pytest.approx(whole, abs=0.1)


def test_bootstrap_edge_cases() -> None:
    low, high = paired_bootstrap_ci([])
    assert np.isnan(low) and np.isnan(high)
    assert paired_bootstrap_ci(np.zeros(30)) == (0.0, 0.0)
    assert paired_bootstrap_ci([0.25]) == (0.25, 0.25)


def test_bootstrap_errors() -> None:
    with pytest.raises(InputError, match=r"deltas\[1\] is nan; every per-query difference must be finite"):
        paired_bootstrap_ci([0.1, np.nan])
    with pytest.raises(InputError, match=r"deltas must be a 1-D sequence"):
        paired_bootstrap_ci([[0.1]])
    with pytest.raises(InputError, match=r"deltas must be numbers"):
        paired_bootstrap_ci(["a"])
    with pytest.raises(InputError, match=r"confidence must be a number strictly between 0 and 1"):
        paired_bootstrap_ci([0.1], confidence=95)
    with pytest.raises(InputError, match=r"n_resamples must be a whole number of at least 1"):
        paired_bootstrap_ci([0.1], n_resamples=0)
    with pytest.raises(InputError, match=r"random_state must be an int seed from 0 to 4294967295 or a numpy Generator"):
        paired_bootstrap_ci([0.1], random_state=-1)
    with pytest.raises(InputError, match=r"random_state must be"):
        paired_bootstrap_ci([0.1], random_state=None)  # type: ignore[arg-type]


def test_a_generator_is_accepted_as_random_state() -> None:
    deltas = np.random.default_rng(5).normal(size=40)
    a = paired_bootstrap_ci(deltas, random_state=np.random.default_rng(9))
    b = paired_bootstrap_ci(deltas, random_state=np.random.default_rng(9))
    assert a == b


# --- sign-flip test ------------------------------------------------------------------------------------


def test_sign_flip_exact_enumeration_by_hand() -> None:
    # |±1 ±2 ±3| over the 8 sign assignments: 6, 4, 2, 0, 0, 2, 4, 6 -> 2 of 8 reach 6
    assert sign_flip_pvalue([1.0, 2.0, 3.0]) == 0.25
    # a - 2b - c over the signs: -2, 0, 2, 4, -4, -2, 0, 2 -> 6 of 8 reach |1 - 2 - 1| = 2
    assert sign_flip_pvalue([1.0, -2.0, -1.0]) == 0.75


def test_sign_flip_exact_matches_brute_force_enumeration() -> None:
    deltas = np.random.default_rng(6).normal(0.1, 1, size=10)  # 2^10 = 1024 <= 2000: exact
    observed = abs(deltas.sum())
    count = sum(abs(np.dot(signs, deltas)) >= observed - 1e-12 for signs in itertools.product([-1.0, 1.0], repeat=10))
    assert sign_flip_pvalue(deltas) == pytest.approx(count / 1024, abs=1e-15)
    # the exact result does not depend on the seed
    assert sign_flip_pvalue(deltas, random_state=1) == sign_flip_pvalue(deltas, random_state=2)


def test_sign_flip_clear_shift_gives_the_smallest_possible_p() -> None:
    deltas = np.random.default_rng(7).normal(0.5, 0.1, size=100)
    assert sign_flip_pvalue(deltas, n_permutations=2000) == pytest.approx(1 / 2001)


def test_sign_flip_random_version_agrees_with_the_exact_one() -> None:
    deltas = np.random.default_rng(8).normal(0.3, 1, size=12)  # 4096 assignments
    exact = sign_flip_pvalue(deltas, n_permutations=4096)
    sampled = sign_flip_pvalue(deltas, n_permutations=20000, random_state=3)
    assert sampled == pytest.approx(exact, abs=0.02)


def test_sign_flip_is_reproducible_and_valid_under_the_null() -> None:
    deltas = np.random.default_rng(9).normal(0, 1, size=80)
    p1 = sign_flip_pvalue(deltas, random_state=5)
    assert p1 == sign_flip_pvalue(deltas, random_state=5)
    assert 0 < p1 <= 1
    # +1 correction: the p-value is (b + 1) / (m + 1)
    assert round(p1 * 2001) == pytest.approx(p1 * 2001, abs=1e-9)


def test_sign_flip_edge_cases() -> None:
    assert np.isnan(sign_flip_pvalue([]))
    assert sign_flip_pvalue(np.zeros(500)) == 1.0
    assert sign_flip_pvalue([0.2]) == 1.0  # both signs reach |0.2|


def test_sign_flip_errors() -> None:
    with pytest.raises(InputError, match=r"n_permutations must be a whole number of at least 1"):
        sign_flip_pvalue([0.1], n_permutations=1.5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"deltas\[0\] is inf"):
        sign_flip_pvalue([np.inf])


# --- the per-domain table ------------------------------------------------------------------------------


def _tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(10)
    n = 120
    domain = np.array(["legal"] * 40 + ["medical"] * 50 + ["web"] * 30)
    base_ndcg = rng.uniform(0.2, 0.8, size=n)
    shift = np.where(domain == "legal", -0.2, 0.0)  # a planted drop in one domain
    tuned_ndcg = np.clip(base_ndcg + shift + rng.normal(0, 0.02, size=n), 0, 1)
    ids = [f"q{i}" for i in range(n)]
    base = pd.DataFrame({"query_id": ids, "domain": domain, "ndcg@10": base_ndcg, "mrr@10": base_ndcg})
    tuned = pd.DataFrame({"query_id": ids, "domain": domain, "ndcg@10": tuned_ndcg, "mrr@10": base_ndcg})
    return base, tuned


def test_paired_comparison_finds_the_planted_drop() -> None:
    base, tuned = _tables()
    table = paired_comparison(base, tuned)
    assert list(table.columns) == [
        "domain", "metric", "n_queries", "base", "tuned", "delta", "ci_low", "ci_high", "p_value", "p_holm",
    ]  # fmt: skip
    assert table["domain"].tolist() == ["legal", "medical", "web", OVERALL] * 2
    ndcg = table[table["metric"] == "ndcg@10"].set_index("domain")
    legal = ndcg.loc["legal"]
    assert legal["n_queries"] == 40
    assert legal["delta"] == pytest.approx(legal["tuned"] - legal["base"])
    assert legal["ci_low"] < legal["delta"] < legal["ci_high"] < 0
    assert legal["p_holm"] < 0.01
    assert ndcg.loc["medical", "p_holm"] > 0.05 and ndcg.loc["web", "p_holm"] > 0.05
    # Holm across the three domains, the overall row outside the family
    np.testing.assert_allclose(
        ndcg.loc[["legal", "medical", "web"], "p_holm"], holm(ndcg.loc[["legal", "medical", "web"], "p_value"])
    )
    assert ndcg.loc[OVERALL, "p_holm"] == ndcg.loc[OVERALL, "p_value"]
    assert ndcg.loc[OVERALL, "n_queries"] == 120
    # identical models: delta 0, CI (0, 0), p = 1
    mrr = table[table["metric"] == "mrr@10"]
    assert (mrr["delta"] == 0).all() and (mrr["ci_low"] == 0).all() and (mrr["ci_high"] == 0).all()
    assert (mrr["p_value"] == 1).all() and (mrr["p_holm"] == 1).all()


def test_paired_comparison_is_reproducible_and_selects_metrics() -> None:
    base, tuned = _tables()
    a = paired_comparison(base, tuned, metrics=["ndcg@10"], random_state=3)
    b = paired_comparison(base, tuned, metrics=["ndcg@10"], random_state=3)
    pd.testing.assert_frame_equal(a, b)
    assert set(a["metric"]) == {"ndcg@10"}


def test_paired_comparison_errors() -> None:
    base, tuned = _tables()
    with pytest.raises(InputError, match=r"must list the same queries in the same order"):
        paired_comparison(base, tuned.iloc[::-1])
    with pytest.raises(InputError, match=r"metric column 'recall@10' is missing"):
        paired_comparison(base, tuned, metrics=["recall@10"])
    with pytest.raises(InputError, match=r"tuned must be a per-query table with 'query_id' and 'domain'"):
        paired_comparison(base, tuned.drop(columns="domain"))


def test_the_all_domains_row_has_one_reserved_name() -> None:
    frame = pd.DataFrame({"query_id": ["a", "b"], "domain": ["overall", "x"], "m": [0.5, 0.5]})
    with pytest.raises(InputError, match="a domain is named 'overall', which is reserved for the all-domains row"):
        paired_comparison(frame, frame, metrics=["m"])
    ok = frame.assign(domain=["y", "x"])
    assert paired_comparison(ok, ok, metrics=["m"])["domain"].tolist() == ["x", "y", OVERALL] and OVERALL == "overall"
