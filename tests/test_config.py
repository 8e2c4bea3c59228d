"""Verdict thresholds: the documented defaults, a team's override file, and every error."""

from __future__ import annotations

import tomllib
from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest
from test_verdict import judged_row

from diagnostics._validation import InputError
from diagnostics.config import DEFAULT_CONFIG_PATH, Config, load_config
from diagnostics.verdict import domain_verdict


def _write(tmp_path: Path, text: str, name: str = "team.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load_from_the_documented_file() -> None:
    config = load_config()
    with open(DEFAULT_CONFIG_PATH, "rb") as fh:
        raw = tomllib.load(fh)
    flat = {f"{section}_{key}": value for section, keys in raw.items() for key, value in keys.items()}
    assert config.to_dict() == flat
    assert {f.name for f in fields(Config)} == set(flat)
    assert config.retrieval_metric == "ndcg@10"
    assert config.retrieval_alpha == 0.05
    assert config.retrieval_fail_relative_drop == 0.05
    assert config.statistics_n_resamples >= 2000 and config.statistics_n_permutations >= 2000


def test_every_default_key_is_documented_by_a_comment() -> None:
    for line in DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith("#") and "[" not in line:
            key = line.split("=")[0].strip()
            if key not in ("confidence", "random_state"):  # self-explanatory, under [statistics]
                assert "#" in line, f"default {key!r} has no comment"


def test_config_is_frozen() -> None:
    config = load_config()
    with pytest.raises(FrozenInstanceError):
        config.retrieval_alpha = 0.5  # type: ignore[misc]


def test_an_override_changes_only_its_keys_and_the_verdict(tmp_path: Path) -> None:
    path = _write(tmp_path, "[retrieval]\nfail_relative_drop = 0.5\nmin_queries = 3\n\n[label_free]\n"
                            "overlap_median_warn = 0\n")
    config = load_config(path)
    default = load_config()
    assert config.retrieval_fail_relative_drop == 0.5
    assert config.retrieval_min_queries == 3
    assert config.label_free_overlap_median_warn == 0.0 and isinstance(config.label_free_overlap_median_warn, float)
    changed = {k for k, v in config.to_dict().items() if default.to_dict()[k] != v}
    assert changed == {"retrieval_fail_relative_drop", "retrieval_min_queries", "label_free_overlap_median_warn"}
    row = judged_row(delta=-0.12, p_holm=0.001)  # a 20 % significant drop
    assert domain_verdict("legal", row, default)[0] == "FAIL"
    assert domain_verdict("legal", row, config)[0] == "WARN"


def test_an_empty_override_is_the_defaults(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, "# nothing to change\n")) == load_config()
    assert load_config(str(_write(tmp_path, "[retrieval]\n", name="b.toml"))) == load_config()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[retreival]\nalpha = 0.01\n",
         r"team\.toml: unknown section \[retreival\]; known: collapse, known_item, label_free"),
        ("[retrieval]\nalfa = 0.01\n", r"team\.toml: unknown key 'alfa' in \[retrieval\]; known: alpha, "),
        ("retrieval = 3\n", r"team\.toml: retrieval must be a section \[retrieval\] of keys, got 3"),
        ("[retrieval]\nalpha = \"0.01\"\n", r"team\.toml: \[retrieval\] alpha must be float, got '0\.01'"),
        ("[retrieval]\nmin_queries = 5.0\n", r"\[retrieval\] min_queries must be int, got 5\.0"),
        ("[retrieval]\nmin_queries = true\n", r"\[retrieval\] min_queries must be int, got True"),
        ("[retrieval]\nmetric = 3\n", r"\[retrieval\] metric must be str, got 3"),
        ("[retrieval]\nalpha = \n", r"team\.toml is not valid TOML: .*line 2"),
        ("[retrieval\n", r"team\.toml is not valid TOML"),
        ("[retrieval]\nmetric = \"ndcg@5\"\n", r"team\.toml: \[retrieval\] metric must be one of ndcg@10, .*'ndcg@5'"),
        ("[retrieval]\nalpha = 1.5\n", r"team\.toml: alpha and confidence must lie strictly between 0 and 1"),
        ("[statistics]\nconfidence = 0\n", r"alpha and confidence must lie strictly between 0 and 1"),
        ("[statistics]\nn_resamples = 100\n", r"n_resamples and n_permutations must be at least 1000"),
        ("[retrieval]\nmin_queries = 0\n", r"\[retrieval\] min_queries must be at least 1, got 0"),
        ("[retrieval]\nfail_relative_drop = 5\n", r"\[retrieval\] fail_relative_drop is a share .* 0 to 1, got 5"),
        ("[label_free]\noverlap_median_warn = -0.1\n", r"\[label_free\] overlap_median_warn is a share"),
    ],
)
def test_bad_override_files_are_input_errors(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        load_config(_write(tmp_path, text))


def test_unreadable_config_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"config file \S*missing\.toml not found; pass an existing TOML file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(InputError, match=r"cannot be read .*; pass a readable TOML file"):
        load_config(tmp_path)  # a directory
    latin = tmp_path / "latin.toml"
    latin.write_bytes("# caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin\.toml is not valid TOML"):
        load_config(latin)


def test_messages_never_show_the_full_path(tmp_path: Path) -> None:
    deep = tmp_path / "secret" / "place"
    deep.mkdir(parents=True)
    with pytest.raises(InputError) as info:
        load_config(_write(deep, "[nope]\n"))
    assert str(tmp_path) not in str(info.value)
    assert "place/team.toml" in str(info.value)


def test_one_registry_names_every_metric() -> None:
    """Tables, the config, the retrieval functions and the labels all read diagnostics.metrics."""
    from diagnostics import metrics, plots, result, retrieval, verdict

    assert result.METRICS == retrieval.DEFAULT_METRICS == metrics.METRICS == tuple(metrics.REGISTRY)
    for name, metric in metrics.REGISTRY.items():
        assert name == f"{metric.kind}@{metric.cutoff}" and metric.higher_is_better
        assert callable(metric.function()) and metrics.label(name) == metric.label
    assert verdict.format_delta("mrr@10", {}).startswith("MRR@10 ")
    assert plots.delta_ci_figure.__kwdefaults__["metric"] == metrics.DEFAULT_METRIC
    with pytest.raises(InputError, match=r"\[retrieval\] metric must be one of ndcg@10, recall@10, recall@100, "
                                         r"mrr@10, got 'map@10'"):
        metrics.check_metric("map@10", where="[retrieval] metric")


def test_the_configured_verdict_metric_is_the_one_every_view_ranks_by(tmp_path: Path) -> None:
    from test_compare import DEGRADED, degrade, synthetic

    from diagnostics.compare import compare
    from diagnostics.drilldown import query_list
    from diagnostics.report import html_report, summary_frame, verdict_metric

    dataset, base = synthetic()
    override = tmp_path / "team.toml"
    override.write_text('[retrieval]\nmetric = "mrr@10"\n', encoding="utf-8")
    result = compare(dataset, base, degrade(dataset, base, DEGRADED), config=load_config(override), projection=False)
    assert verdict_metric(result) == "mrr@10"
    assert "mrr@10 base" in summary_frame(result).columns
    ranked = query_list(result)
    assert ranked["mrr@10_delta"].iat[0] == result.per_query["mrr@10_delta"].min()
    assert "Most regressed queries (MRR@10)" in html_report(result)
    assert any(r.startswith(f"{DEGRADED}: MRR@10 ") for r in result.reasons)
