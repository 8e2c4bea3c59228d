"""Several candidates against one base: shared base work, one saved run each, the frontier and the set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _runs import forgetting, run_cache

from diagnostics._validation import InputError, check_candidate_name
from diagnostics.candidates import Candidate, compare_candidates, load_candidate_set, load_candidates
from diagnostics.compare import compare_inputs
from diagnostics.dataset import Dataset
from diagnostics.frontier import FRONTIER_COLUMNS, best_candidate, frontier
from diagnostics.runs import RunStore
from diagnostics.sample import load_sample, sample_paths
from diagnostics.stages import BaseShare
from diagnostics.vectors import Embeddings

TARGET = "clinical"


@pytest.fixture(scope="module")
def sample() -> tuple[Dataset, Embeddings, Embeddings]:
    return load_sample(models=False)


def test_each_candidate_run_is_the_single_run(sample: tuple[Dataset, Embeddings, Embeddings], tmp_path) -> None:
    dataset, base, tuned = sample
    store = RunStore(tmp_path / "alone")
    alone = compare_inputs(dataset, base, tuned, projection=False, store=store)
    made = compare_candidates(dataset, base, {"a": tuned, "b": tuned}, projection=False,
                              store=RunStore(tmp_path / "set"))
    # identical candidates: identical tables, and the same run id as the candidate compared alone
    assert made.runs["a"].run_id == made.runs["b"].run_id == alone.run_id
    pd.testing.assert_frame_equal(made.runs["a"].domains, alone.domains)
    matrix = made.matrix()
    a = matrix[matrix["candidate"] == "a"].drop(columns="candidate").reset_index(drop=True)
    b = matrix[matrix["candidate"] == "b"].drop(columns="candidate").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_the_base_is_searched_once(sample: tuple[Dataset, Embeddings, Embeddings], tmp_path) -> None:
    dataset, base, tuned = sample
    share = BaseShare()
    first = compare_inputs(dataset, base, tuned, projection=False, store=RunStore(tmp_path / "1"), share=share)
    searched = len(share)
    assert searched == 2  # the base's top-100 and its documents' neighbors
    other = forgetting(dataset, tuned, TARGET)
    second = compare_inputs(dataset, base, other, projection=False, store=RunStore(tmp_path / "2"), share=share)
    assert len(share) == searched  # nothing new searched for the base
    assert np.array_equal(first.arrays["rank_base"], second.arrays["rank_base"])
    unshared = compare_inputs(dataset, base, other, projection=False, store=RunStore(tmp_path / "3"))
    pd.testing.assert_frame_equal(second.domains, unshared.domains)


def test_the_frontier_of_a_forgetting_candidate_and_the_base_itself(
    sample: tuple[Dataset, Embeddings, Embeddings], tmp_path
) -> None:
    dataset, base, tuned = sample
    forgets = forgetting(dataset, tuned, TARGET)
    made = compare_candidates(dataset, base, {"tuned": tuned, "forgets": forgets, "base": base},
                              targets=[TARGET], projection=False, store=RunStore(tmp_path))
    table = made.frontier().set_index("candidate")
    assert list(table.reset_index().columns) == list(FRONTIER_COLUMNS)
    # the base against itself gains nothing and loses nothing
    assert table.loc["base", "gain"] == 0 and table.loc["base", "loss"] == 0
    # forgetting every other domain is a large, significant loss, and the run FAILs
    assert table.loc["forgets", "loss"] < -0.3 and table.loc["forgets", "n_significant_losses"] >= 3
    assert table.loc["forgets", "loss_domain"] != TARGET and made.runs["forgets"].verdict == "FAIL"
    assert table.loc["forgets", "loss_ci_low"] <= table.loc["forgets", "loss"] <= table.loc["forgets", "loss_ci_high"]
    g = table.loc["tuned"]
    assert g["gain_ci_low"] <= g["gain"] <= g["gain_ci_high"] and g["gain_evidence"] == "judged"
    assert g["n_gain"] == int((made.runs["tuned"].per_query["domain"] == TARGET).sum())
    # whoever dominates "forgets" is at least as good on both axes
    for other in str(table.loc["forgets", "dominated_by"]).split(","):
        if other:
            assert table.loc[other, "gain"] >= table.loc["forgets", "gain"]
            assert table.loc[other, "loss"] >= table.loc["forgets", "loss"]
    # the sample's fine-tune gains on its target without a significant loss: the base itself is dominated
    if g["gain"] > 0 and g["loss"] == 0:
        assert table.loc["base", "dominated_by"] == "tuned"
    assert made.best() != "forgets"  # FAIL, whatever it gains


def test_dominance_and_best_on_a_hand_made_frontier() -> None:
    table = pd.DataFrame({
        "candidate": ["a", "b", "c", "d"], "verdict": ["WARN", "WARN", "PASS", "FAIL"],
        "gain": [0.05, 0.03, 0.01, 0.10], "loss": [-0.02, -0.02, 0.0, -0.30],
    })
    from diagnostics.frontier import _dominating

    table["dominated_by"] = [_dominating(table, i) for i in range(len(table))]
    table["dominated"] = table["dominated_by"].map(bool)
    assert table.set_index("candidate")["dominated_by"].to_dict() == {"a": "", "b": "a", "c": "", "d": ""}
    assert best_candidate(table) == "c"  # the only PASS, though its gain is the smallest
    assert best_candidate(table[table["candidate"] != "c"]) == "a"  # WARN, not dominated, largest gain


def test_the_set_saves_reopens_and_gates(sample: tuple[Dataset, Embeddings, Embeddings], tmp_path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    dataset, base, tuned = sample
    monkeypatch.setenv("EMBDIFF_HOME", str(tmp_path))
    forgets = forgetting(dataset, tuned, TARGET)
    made = compare_candidates(dataset, base, {"tuned": tuned, "forgets": forgets}, targets=[TARGET],
                              projection=False)
    again = load_candidate_set(made.set_id)
    assert again.targets == (TARGET,) and list(again.runs) == ["tuned", "forgets"]
    pd.testing.assert_frame_equal(again.frontier(), made.frontier())
    assert again.gate("forgets") == ("forgets", "FAIL")
    assert again.gate()[0] == again.best() == "tuned"
    doc = again.to_dict()
    assert doc["gate"] == "tuned" and doc["verdict"] == again.runs["tuned"].verdict
    assert set(doc["candidates"]) == {"tuned", "forgets"}
    assert doc["candidates"]["tuned"] == again.runs["tuned"].to_dict()  # today's per-run keys
    assert [row["candidate"] for row in doc["frontier"]] == ["tuned", "forgets"]
    from diagnostics.frontier import worst_domains

    matrix = again.matrix()
    for name, domain in worst_domains(matrix).items():
        part = matrix[matrix["candidate"] == name]
        assert part.set_index("domain").loc[domain, "delta"] == part["delta"].min()
    assert worst_domains(matrix)["forgets"] != TARGET
    with pytest.raises(InputError, match="not a candidate"):
        again.gate("nope")
    with pytest.raises(InputError, match="not in the dataset"):
        again.frontier(["astronomy"])


def test_candidates_are_named_and_loaded_once(tmp_path) -> None:
    paths = sample_paths()
    with pytest.raises(InputError, match="given twice"):
        load_candidates(paths.corpus, [Candidate("a", vectors=paths.tuned_vectors),
                                       Candidate("a", vectors=paths.base_vectors)], base_vectors=paths.base_vectors)
    with pytest.raises(InputError, match="not valid"):
        Candidate("../etc", vectors=paths.tuned_vectors)
    with pytest.raises(InputError, match="needs --tuned"):
        Candidate("x")
    for bad in ("overall", "", "a b", "x" * 41, "-lead"):
        with pytest.raises(InputError):
            check_candidate_name(bad)
    dataset, base, tuned = load_candidates(
        paths.corpus, [Candidate("one", vectors=paths.tuned_vectors), Candidate("two", vectors=paths.base_vectors)],
        base_vectors=paths.base_vectors)
    assert list(tuned) == ["one", "two"] and np.array_equal(tuned["two"].docs, base.docs)
    assert tuned["one"].docs.shape == (len(dataset.docs), base.dim)


# -- the command line ----------------------------------------------------------------------------

def _cli_args(tmp_path, *extra: str) -> list[str]:
    paths = sample_paths()
    return ["--dataset", str(paths.corpus), "--base-vectors", str(paths.base_vectors), "--no-projection", *extra]


def test_check_with_several_candidates_exits_by_the_best_or_the_gate(tmp_path, capsys) -> None:
    from diagnostics.cli import main

    paths = sample_paths()
    forgets = tmp_path / "forgets.parquet"
    dataset, _, tuned = load_sample(models=False)
    from diagnostics.vectors import write_vectors

    scrambled = forgetting(dataset, tuned, TARGET)
    ids = [*dataset.docs["id"].astype(str), *dataset.queries["id"].astype(str)]
    kinds = ["doc"] * len(dataset.docs) + ["query"] * len(dataset.queries)
    write_vectors(forgets, ids, kinds, np.vstack([scrambled.docs, scrambled.queries]))
    doc = tmp_path / "set.json"
    argv = _cli_args(tmp_path, "--tuned-vectors", f"tuned={paths.tuned_vectors}", "--tuned-vectors",
                     f"forgets={forgets}", "--target", TARGET, "--json", str(doc))
    assert main(["check", *argv]) == 0  # the best candidate, "tuned", PASSes
    out = capsys.readouterr().out
    assert "candidate tuned" in out and "candidate forgets" in out and "frontier on clinical" in out
    import json

    written = json.loads(doc.read_text())
    assert written["gate"] == written["best"] == "tuned" and set(written["candidates"]) == {"tuned", "forgets"}
    assert written["candidates"]["forgets"]["verdict"] == "FAIL"
    assert main(["check", *argv, "--gate", "forgets"]) == 1
    assert main(["check", *argv, "--gate", "nobody"]) == 2
    assert "not a candidate" in capsys.readouterr().err


def test_one_candidate_keeps_the_single_run_json(tmp_path) -> None:
    import json

    from diagnostics.cli import main

    paths = sample_paths()
    bare, named = tmp_path / "bare.json", tmp_path / "named.json"
    assert main(["compare", *_cli_args(tmp_path, "--tuned-vectors", str(paths.tuned_vectors), "--json",
                                       str(bare))]) == 0
    assert main(["compare", *_cli_args(tmp_path, "--tuned-vectors", f"mine={paths.tuned_vectors}", "--json",
                                       str(named))]) == 0
    one, two = json.loads(bare.read_text()), json.loads(named.read_text())
    assert "candidates" not in one and one["run_id"] == two["run_id"]
    assert set(one) == set(two)


@pytest.mark.parametrize(("flags", "message"), [
    (["--tuned-vectors", "a={t}", "--tuned-vectors", "{t}"], "name each one"),
    (["--tuned-vectors", "a={t}", "--tuned-vectors", "a={b}"], "given twice"),
    (["--tuned-vectors", "{t}", "--gate", "a"], "--gate names one of several"),
])
def test_candidate_flags_are_checked_before_any_work(tmp_path, capsys, flags: list[str], message: str) -> None:
    from diagnostics.cli import main

    paths = sample_paths()
    flags = [f.format(t=paths.tuned_vectors, b=paths.base_vectors) for f in flags]
    assert main(["compare", *_cli_args(tmp_path, *flags)]) == 2
    assert message in capsys.readouterr().err


# -- the compositional probe as a stage and as the frontier's gain --------------------------------

@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory):
    """The bundled sample compared with both its models (the probe runs), cached for the session."""
    from _runs import open_result, sample_run

    runs = tmp_path_factory.mktemp("probed-runs")
    return open_result(runs, sample_run(runs, run_cache(tmp_path_factory), projection=False))


@pytest.mark.slow
def test_the_probe_runs_with_models_and_is_the_compositional_gain(probed) -> None:
    from diagnostics.frontier import PROBE_TARGET
    from diagnostics.probe import EDIT_RULES

    summary, pairs = probed.tables["probe"], probed.tables["probe_pairs"]
    params = probed.manifest["params"]["probe"]
    assert params["status"] == "checked" and params["n_pairs"] == len(pairs) > 0
    assert set(summary["rule"]) == {*EDIT_RULES, "all"}
    overall = summary[(summary["domain"] == "overall") & (summary["rule"] == "all")].iloc[0]
    assert overall["n_pairs"] == len(pairs)
    # the summary is the pairs' own figures
    assert overall["prefers_original_base"] == pytest.approx(pairs["prefers_original_base"].mean())
    assert overall["cos_edit_tuned"] == pytest.approx(pairs["cos_edit_tuned"].mean())
    assert (pairs["cos_edit_base"] < 1).all()
    doc = probed.to_dict()["probe"]
    assert doc["n_pairs"] == len(pairs)
    assert doc["domains"]["overall"]["all"]["prefers_original"]["delta"] == pytest.approx(
        overall["prefers_original_delta"])
    from diagnostics.frontier import probe_gains

    gains = probe_gains({"tuned": probed}).set_index("rule")
    assert gains.loc["all", "prefers_original_delta"] == overall["prefers_original_delta"]
    assert set(gains.index) == {*EDIT_RULES, "all"}
    table = frontier({"tuned": probed}, [PROBE_TARGET]).iloc[0]
    assert table["gain"] == pytest.approx(overall["prefers_original_delta"]) and table["gain_evidence"] == "probe"
    assert table["n_gain"] == len(pairs)
    # every domain is "elsewhere" when the gain is the probe's
    assert table["worst_domain"] in set(probed.manifest["dataset"]["domains"])


def test_the_probe_needs_models_and_can_be_off(sample: tuple[Dataset, Embeddings, Embeddings], tmp_path) -> None:
    from dataclasses import replace as with_

    from diagnostics.config import load_config
    from diagnostics.frontier import PROBE_TARGET
    from diagnostics.stages import probe

    dataset, base, tuned = sample
    config = load_config()
    assert probe(dataset, base, tuned, config=config) == (None, "no_models")
    assert probe(dataset, base, tuned, config=with_(config, probe_pairs_per_domain=0)) == (None, "off")
    run = compare_inputs(dataset, base, tuned, projection=False, store=RunStore(tmp_path))
    assert "probe" not in run.tables and "probe" not in run.to_dict()
    assert run.manifest["params"]["probe"]["status"] == "no_models"
    row = frontier({"tuned": run}, [PROBE_TARGET]).iloc[0]
    assert np.isnan(row["gain"]) and row["gain_evidence"] == "none" and not row["dominated"]
    with pytest.raises(InputError, match="not both"):
        frontier({"tuned": run}, [PROBE_TARGET, TARGET])


def test_report_writes_the_set_as_html_and_json(sample: tuple[Dataset, Embeddings, Embeddings], tmp_path,
                                                monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import json

    from diagnostics.cli import main

    dataset, base, tuned = sample
    monkeypatch.setenv("EMBDIFF_HOME", str(tmp_path / "home"))
    made = compare_candidates(dataset, base, {"tuned": tuned, "forgets": forgetting(dataset, tuned, TARGET)},
                              targets=[TARGET], projection=False)
    page, doc = tmp_path / "set.html", tmp_path / "set.json"
    assert main(["report", made.set_id, "--html", str(page)]) == 0
    text = page.read_text()
    assert "Frontier on clinical" in text and "Best candidate: tuned" in text
    assert text.count("<h3>") == 2 and made.runs["forgets"].run_id in text
    assert text.count("plotly.js v") == 1  # the bundle inlined once: readable offline
    assert main(["report", made.set_id, "--json", str(doc)]) == 0
    assert json.loads(doc.read_text())["set_id"] == made.set_id
    assert main(["report", made.set_id, "--csv", str(tmp_path / "x.csv")]) == 2
    assert "is a set of candidates" in capsys.readouterr().err
    # a run id still reports the run
    assert main(["report", made.runs["tuned"].run_id, "--json", str(doc)]) == 0
    assert json.loads(doc.read_text())["run_id"] == made.runs["tuned"].run_id


@pytest.mark.slow
def test_sample_candidates_compares_every_bundled_fine_tune(tmp_path, capsys) -> None:
    """``--sample-candidates``: the sample's own fine-tune and the three under sample_data/candidates/, each
    with its model attached (checked against its vectors), target the sample's training domain. The costly
    model-driven stages are switched off here; their numbers are in the README."""
    import json

    from diagnostics.cli import main
    from diagnostics.sample import candidate_paths, sample_manifest

    config = tmp_path / "fast.toml"
    config.write_text("[probe]\npairs_per_domain = 0\n")
    doc = tmp_path / "set.json"
    assert main(["compare", "--sample-candidates", "--no-projection", "--known-item-docs", "0", "--config",
                 str(config), "--json", str(doc)]) == 0
    written = json.loads(doc.read_text())
    assert list(written["candidates"]) == ["sample", *candidate_paths()]
    assert written["targets"] == [sample_manifest()["recipe"]["train_domain"]]
    for name, run in written["candidates"].items():
        assert run["models"]["tuned_source"] == "vectors+model", name  # the adapter encodes new text
    rows = {row["candidate"]: row for row in written["frontier"]}
    assert set(rows) == set(written["candidates"]) and written["best"] in rows
    assert main(["compare", "--sample-candidates", "--tuned", "x=y"]) == 2
    assert "brings its own models" in capsys.readouterr().err
