"""The result object: the documented JSON schema, and the save / reopen round trip."""

from __future__ import annotations

import json
import math
from dataclasses import FrozenInstanceError
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_compare import DEGRADED, DOMAINS, degrade, synthetic, without_qrels

from diagnostics._validation import InputError
from diagnostics.compare import compare
from diagnostics.dataset import Dataset
from diagnostics.result import ARRAYS, METRICS, TABLES, Comparison, load_comparison, save_comparison
from diagnostics.runs import RunNotFoundError, RunStore
from diagnostics.vectors import Embeddings

STAT_KEYS = {"base", "tuned", "delta", "ci_low", "ci_high", "p_value", "p_holm"}
VERDICTS = ("PASS", "WARN", "UNVERIFIED", "FAIL")
EVIDENCE = ("judged", "synthetic", "none")


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value))


def check_schema(doc: dict[str, Any], domains: list[str] | tuple[str, ...]) -> None:
    """Assert the documented JSON form of a comparison (see README, "JSON output")."""
    assert {"run_id", "verdict", "domains", "overall"} <= set(doc)
    assert isinstance(doc["run_id"], str) and len(doc["run_id"]) == 16
    assert doc["verdict"] in VERDICTS
    assert list(doc["domains"]) == list(domains)
    for name, entry in [*doc["domains"].items(), ("overall", doc["overall"])]:
        assert isinstance(entry["n_queries"], int) and isinstance(entry["n_docs"], int), name
        assert entry["verdict"] in VERDICTS, name
        assert entry["evidence"] in EVIDENCE, name
        assert (entry["verdict"] == "UNVERIFIED") == (entry["evidence"] == "none") or name == "overall", name
        if "known_item" in entry:
            block = entry["known_item"]
            assert {"n_docs", "n_checks", "n_examined", "n_eligible", "bm25"} <= set(block), name
            for metric in ("ndcg@10", "recall@10", "recall@100", "mrr@10"):
                assert set(block[metric]) == STAT_KEYS, (name, metric)
                assert all(_number_or_none(v) for v in block[metric].values()), (name, metric)
                assert _number_or_none(block["bm25"][metric]), (name, metric)
        assert isinstance(entry["reasons"], list) and entry["reasons"], name
        assert all(isinstance(r, str) and r and "\n" not in r for r in entry["reasons"]), name
        for metric in ("ndcg@10", "recall@10", "recall@100", "mrr@10"):
            assert set(entry[metric]) == STAT_KEYS, (name, metric)
            assert all(_number_or_none(v) for v in entry[metric].values()), (name, metric)
        assert _number_or_none(entry["overlap@10_median"]), name
        assert set(entry["domain_consistency@10"]) == {"base", "tuned"}, name
        assert all(_number_or_none(v) for v in entry["domain_consistency@10"].values()), name
        assert isinstance(entry["collapse"], dict), name
        assert {"intra_cosine_base", "intra_cosine_tuned", "effective_rank_base", "effective_rank_tuned",
                "silhouette_base", "silhouette_tuned", "uniformity_base", "uniformity_tuned", "cka",
                "collapsed", "merged_with"} <= set(entry["collapse"]), name
        assert isinstance(entry["collapse"]["collapsed"], bool)
        assert isinstance(entry["collapse"]["merged_with"], list)
    json.dumps(doc, allow_nan=False)


@pytest.fixture(scope="module")
def data() -> tuple[Dataset, Embeddings, Embeddings]:
    dataset, base = synthetic()
    return dataset, base, degrade(dataset, base, DEGRADED)


@pytest.fixture(scope="module")
def result(data: tuple[Dataset, Embeddings, Embeddings]) -> Comparison:
    return compare(*data, projection=False)


# --------------------------------------------------------------------------------------------------
# to_dict / to_json
# --------------------------------------------------------------------------------------------------


def test_to_dict_has_the_documented_schema(result: Comparison) -> None:
    doc = result.to_dict()
    check_schema(doc, DOMAINS)
    assert doc["run_id"] == result.run_id
    assert doc["verdict"] == "FAIL"
    assert doc["domains"][DEGRADED]["verdict"] == "FAIL"
    assert doc["domains"]["finance"]["verdict"] == "PASS"
    assert doc["overall"]["verdict"] == "FAIL"
    assert doc["domains"][DEGRADED]["n_queries"] == 30 and doc["domains"][DEGRADED]["n_docs"] == 80
    assert doc["overall"]["n_docs"] == 400 and doc["overall"]["n_queries"] == 150


def test_to_dict_figures_equal_the_domain_table(result: Comparison) -> None:
    doc = result.to_dict()
    table = result.domains.set_index("domain")
    for name in [*DOMAINS, "overall"]:
        entry = doc["overall"] if name == "overall" else doc["domains"][name]
        for metric in METRICS:
            for key in STAT_KEYS:
                assert entry[metric][key] == pytest.approx(table.loc[name, f"{metric}_{key}"]), (name, metric, key)
        assert entry["overlap@10_median"] == pytest.approx(table.loc[name, "overlap_median"])
        # the top-k overlap under its one name, and the engine-1 key kept as an alias of the same value
        assert entry["query_overlap@10_median"] == pytest.approx(table.loc[name, "query_jaccard_median"])
        assert entry["query_jaccard@10_median"] == entry["query_overlap@10_median"]
        assert entry["domain_consistency@10"]["tuned"] == pytest.approx(table.loc[name, "domain_consistency_tuned"])
        assert entry["collapse"]["cka"] == pytest.approx(table.loc[name, "cka"])
        assert entry["reasons"] == str(table.loc[name, "reasons"]).split("\n")
    assert doc["domains"][DEGRADED]["reasons"][0].startswith(f"{DEGRADED}: nDCG@10 −")


def test_to_json_round_trips_and_holds_no_nan(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    label_free = compare(without_qrels(dataset), base, tuned, projection=False)
    doc = label_free.to_dict()
    check_schema(doc, DOMAINS)
    # without judgements the retrieval figures are absent: null, never NaN
    assert doc["domains"][DEGRADED]["ndcg@10"] == dict.fromkeys(STAT_KEYS)
    assert "NaN" not in label_free.to_json()
    assert json.loads(label_free.to_json()) == json.loads(json.dumps(doc, allow_nan=False))


def test_to_json_cleans_nan_anywhere_in_the_manifest(result: Comparison) -> None:
    manifest = {**result.manifest, "global": {"cka": float("nan"), "nested": [np.float32(np.inf), np.int64(3)]}}
    odd = Comparison(run_id=result.run_id, manifest=manifest, tables=result.tables, arrays=result.arrays)
    doc = json.loads(odd.to_json())
    assert doc["global"] == {"cka": None, "nested": [None, 3]}


def test_k_names_the_label_free_keys(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    result5 = compare(*data, k=5, projection=False)
    entry = result5.to_dict()["domains"]["news"]
    assert "overlap@5_median" in entry and "domain_consistency@5" in entry
    assert result5.k == 5


def test_to_dataframe_is_a_copy_with_overall_last(result: Comparison) -> None:
    frame = result.to_dataframe()
    assert list(frame["domain"]) == [*DOMAINS, "overall"]
    frame.loc[0, "verdict"] = "changed"
    assert result.domains.loc[0, "verdict"] != "changed"


def test_comparison_is_frozen(result: Comparison) -> None:
    with pytest.raises(FrozenInstanceError):
        result.run_id = "0" * 16  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# save / load
# --------------------------------------------------------------------------------------------------


def test_save_and_load_round_trip(result: Comparison) -> None:
    saved = save_comparison(result)
    loaded = load_comparison(result.run_id)
    for reopened in (saved, loaded):
        assert reopened.run_id == result.run_id
        assert set(reopened.tables) == set(result.tables) == set(TABLES)
        for name in TABLES:
            pd.testing.assert_frame_equal(reopened.tables[name], result.tables[name], obj=name)
        assert set(reopened.arrays) == set(ARRAYS)
        for name in ARRAYS:
            assert isinstance(reopened.arrays[name], np.memmap), name
            np.testing.assert_array_equal(reopened.arrays[name], result.arrays[name])
        assert reopened.verdict == result.verdict and reopened.reasons == result.reasons
        assert reopened.to_dict()["domains"] == result.to_dict()["domains"]
        for key, value in result.manifest.items():
            assert reopened.manifest[key] == value, key
        assert reopened.manifest["created_at"]


def test_loading_only_some_tables(result: Comparison) -> None:
    save_comparison(result)
    part = load_comparison(result.run_id, tables=("per_doc", "domains"))
    assert set(part.tables) == {"per_doc", "domains"}
    for name in part.tables:
        pd.testing.assert_frame_equal(part.tables[name], result.tables[name], obj=name)
    assert set(part.arrays) == set(ARRAYS) and part.manifest["dataset"] == result.manifest["dataset"]
    assert part.projection is None  # this run has none; asking for it is not an error
    assert set(load_comparison(result.run_id, tables=("projection",)).tables) == set()
    with pytest.raises(ValueError, match=r"unknown tables \['per_dog'\]"):
        load_comparison(result.run_id, tables=("per_dog",))


def test_saving_twice_keeps_the_first_run(result: Comparison) -> None:
    first = save_comparison(result)
    again = save_comparison(result)
    assert again.manifest["created_at"] == first.manifest["created_at"]
    assert [p.name for p in RunStore().root.iterdir()] == [result.run_id]


def test_loading_unknown_or_malformed_ids() -> None:
    with pytest.raises(RunNotFoundError, match="no saved run has the id '0123456789abcdef'"):
        load_comparison("0123456789abcdef")
    for bad in ("../x", "/etc/passwd", "", "0123456789ABCDEF"):
        with pytest.raises(InputError, match="is not valid: a run id is 16 lower-case hexadecimal characters"):
            load_comparison(bad)


def test_a_run_saved_before_evidence_opens_with_its_evidence_derived(
    result: Comparison, data: tuple[Dataset, Embeddings, Embeddings]
) -> None:
    """Engine 1 wrote no evidence: a domain with judged queries rested on them; one without rested on nothing
    (its PASS or WARN came from label-free signals) and now says so instead of implying judgements."""
    from _runs import as_legacy
    from test_compare import without_qrels

    from diagnostics.report import html_report, summary_frame

    legacy = save_comparison(as_legacy(result))
    reopened = load_comparison(legacy.run_id)
    assert set(reopened.domains["evidence"]) == {"judged"}
    assert "known_items" not in reopened.tables and not any(a.startswith("ki_") for a in reopened.arrays)
    check_schema(reopened.to_dict(), DOMAINS)
    assert list(summary_frame(reopened).columns[:3]) == ["domain", "verdict", "evidence"]
    assert "known-item Δ" not in summary_frame(reopened).columns
    assert "<h2>Verdict" in html_report(reopened)

    dataset, base, tuned = data
    old = as_legacy(compare(without_qrels(dataset), base, tuned, projection=False))
    legacy_domains = old.tables["domains"].assign(verdict="PASS")  # engine 1 passed them on label-free signals
    old = Comparison(run_id="fedcba9876543210", manifest={**old.manifest, "verdict": "PASS"},
                     tables={**old.tables, "domains": legacy_domains}, arrays=old.arrays)
    reopened = load_comparison(save_comparison(old).run_id)
    assert set(reopened.domains["evidence"]) == {"none"}
    assert {d["evidence"] for d in reopened.to_dict()["domains"].values()} == {"none"}
