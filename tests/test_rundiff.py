"""Two saved runs side by side (diagnostics/rundiff.py, `embdiff diff`, the Run diff page).

The runs are small and made from known vectors (test_compare's builders): ``signed`` compares the base with
itself (every domain PASS), ``shipped`` compares it with a tuned model that degrades ``legal`` (legal FAIL);
``lenient``, ``k10`` and ``mrr`` change one input of ``signed`` or ``shipped``; ``other`` is another dataset.
Texts (and one query id) are hostile, so every page test also checks that they stay text. What a diff should
say is computed here by other code (drilldown.query_topk, the runs' own tables), never read from the diff.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _runs import EVIL, EVIL_LINK
from streamlit.testing.v1 import AppTest
from test_app import APP, assert_clean, assert_no_live_markup, open_app, texts, titles, unescape, widget
from test_compare import degrade, synthetic

from diagnostics._validation import InputError
from diagnostics.cli import main
from diagnostics.compare import compare_inputs
from diagnostics.config import load_config
from diagnostics.dataset import Dataset
from diagnostics.drilldown import query_topk
from diagnostics.result import Comparison, load_comparison
from diagnostics.rundiff import DOMAIN_COLUMNS, QUERY_COLUMNS, RunDiff, diff_runs, diff_topk
from diagnostics.runs import RunStore
from ui.data import open_run
from ui.diff import run_diff
from ui.state import PAGES

DOMAINS = ("finance", "legal", "medical")
DEGRADED = "legal"
K = 5
HOSTILE_QUERY = EVIL_LINK  # the id of legal's first query
UNKNOWN_RUN = "0123456789abcdef"


# -- runs -------------------------------------------------------------------------------------------

def _dataset(seed: int) -> tuple[Dataset, object]:
    """Three domains × 30 documents and 8 judged queries, hostile texts and one hostile query id."""
    dataset, base = synthetic(domains=DOMAINS, n_docs=30, n_queries=8, seed=seed)
    rename = {f"{DEGRADED}-q0": HOSTILE_QUERY}
    docs = dataset.docs.assign(text=[f"{EVIL} {t}" for t in dataset.docs["text"]])
    queries = dataset.queries.assign(id=dataset.queries["id"].replace(rename),
                                     text=[f"{EVIL} {t}" for t in dataset.queries["text"]])
    qrels = dataset.qrels.assign(query_id=dataset.qrels["query_id"].replace(rename))
    return Dataset(docs=docs, queries=queries, qrels=qrels, source=f"toy-{seed}"), base


@pytest.fixture(scope="session")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Every run of this module, computed once into a store of its own: (its folder, name → run id)."""
    root = tmp_path_factory.mktemp("rundiff-runs")
    store = RunStore(root)
    dataset, base = _dataset(0)
    tuned = degrade(dataset, base, DEGRADED)  # type: ignore[arg-type]
    other, other_base = _dataset(1)
    config = load_config()

    def run(data: Dataset, b: object, t: object, **options: object) -> str:
        return compare_inputs(data, b, t, projection=False, store=store, **options).run_id  # type: ignore[arg-type]

    ids = {
        "signed": run(dataset, base, base, k=K),
        "shipped": run(dataset, base, tuned, k=K),
        "lenient": run(dataset, base, base, k=K, config=replace(config, retrieval_fail_relative_drop=0.5)),
        "k10": run(dataset, base, base, k=10),
        "mrr": run(dataset, base, tuned, k=K, config=replace(config, retrieval_metric="mrr@10")),
        "other": run(other, other_base, other_base, k=K),
    }
    assert len(set(ids.values())) == len(ids)
    return root, ids


@pytest.fixture
def runs(made: tuple[Path, dict[str, str]], _isolated_home: Path) -> dict[str, Comparison]:
    """The runs, copied into this test's EMBDIFF_HOME (where the CLI and the app look) and opened from there."""
    root, ids = made
    for run_id in ids.values():
        shutil.copytree(root / run_id, _isolated_home / "runs" / run_id)
    open_run.clear()
    run_diff.clear()
    return {name: load_comparison(run_id) for name, run_id in ids.items()}


def tuned_ids(result: Comparison, query_id: str, k: int = K) -> list[str]:
    """A probe's tuned top-k, read through the Queries page's own drill-down."""
    lists = query_topk(result, query_id, k=k)
    return lists[lists["side"] == "tuned"]["doc_id"].tolist()


def domain_row(diff: RunDiff, domain: str) -> pd.Series:
    rows = diff.domains[diff.domains["domain"] == domain]
    assert len(rows) == 1, domain
    return rows.iloc[0]


# -- the engine -------------------------------------------------------------------------------------

def test_a_run_diffed_with_itself_is_empty(runs: dict[str, Comparison]) -> None:
    for name in ("signed", "shipped"):
        again = load_comparison(runs[name].run_id)  # another copy of the same run
        for a, b in ((runs[name], runs[name]), (runs[name], again)):
            diff = diff_runs(a, b)
            assert diff.is_empty
            assert diff.inputs == [] and diff.notes == [] and len(diff.queries) == 0
            assert list(diff.domains.columns) == list(DOMAIN_COLUMNS)
            assert diff.domains["domain"].tolist() == [*DOMAINS, "overall"]
            assert not diff.domains["changed"].any()
            assert (diff.domains["verdict_a"] == diff.domains["verdict_b"]).all()
            assert diff.n_probes == len(a.per_query) and diff.k == K
            doc = json.loads(json.dumps(diff.to_dict(), allow_nan=False))
            assert doc["is_empty"] is True and doc["queries"] == [] and doc["inputs"] == []


def test_a_degraded_model_differs_in_its_inputs_its_verdict_and_its_top_k(runs: dict[str, Comparison]) -> None:
    signed, shipped = runs["signed"], runs["shipped"]
    diff = diff_runs(signed, shipped)
    assert not diff.is_empty
    assert (diff.run_a, diff.run_b, diff.verdict_a, diff.verdict_b) == (signed.run_id, shipped.run_id, "PASS", "FAIL")
    # inputs: the tuned model's name, its fingerprint and the document vectors it stored; nothing else
    inputs = {(r["section"], r["key"]): (r["a"], r["b"]) for r in diff.inputs}
    assert set(inputs) == {("models", "tuned"), ("models", "tuned_fingerprint"), ("vectors", "docs_tuned")}
    assert inputs[("models", "tuned")] == ("base", f"tuned-{DEGRADED}")
    assert inputs[("models", "tuned_fingerprint")] == (signed.manifest["models"]["tuned_fingerprint"],
                                                       shipped.manifest["models"]["tuned_fingerprint"])
    assert inputs[("vectors", "docs_tuned")] == tuple(
        r.manifest["contents_sha256"]["arrays"]["docs_tuned"] for r in (signed, shipped))
    # domains: legal went PASS → FAIL with its judged Δ and CI; the others kept their verdicts
    assert diff.domains["domain"].tolist() == [*DOMAINS, "overall"]
    assert diff.changed_domains == [DEGRADED]
    legal = domain_row(diff, DEGRADED)
    truth = shipped.domains.set_index("domain").loc[DEGRADED]
    assert (legal["verdict_a"], legal["verdict_b"], legal["evidence_b"]) == ("PASS", "FAIL", "judged")
    assert legal["delta_b"] == pytest.approx(truth["ndcg@10_delta"]) and legal["delta_b"] < 0
    assert (legal["ci_low_b"], legal["ci_high_b"]) == pytest.approx((truth["ndcg@10_ci_low"], truth["ndcg@10_ci_high"]))
    assert legal["delta_a"] == 0.0
    overall = domain_row(diff, "overall")
    assert (overall["verdict_a"], overall["verdict_b"], bool(overall["changed"])) == ("PASS", "FAIL", True)
    for domain in ("finance", "medical"):
        row = domain_row(diff, domain)
        assert (row["verdict_a"], row["verdict_b"], bool(row["changed"])) == ("PASS", "PASS", False)
    # queries: exactly the probes whose tuned top-5 lists differ, as the Queries page reads them
    expected = {q for q in signed.per_query["query_id"] if tuned_ids(signed, q) != tuned_ids(shipped, q)}
    assert expected and set(diff.queries["query_id"]) == expected
    assert list(diff.queries.columns) == list(QUERY_COLUMNS)
    assert diff.queries["jaccard"].is_monotonic_increasing
    tuned_metric = {name: r.per_query.set_index("query_id")["ndcg@10_tuned"] for name, r in runs.items()}
    for row in diff.queries.to_dict(orient="records"):
        then, now = tuned_ids(signed, row["query_id"]), tuned_ids(shipped, row["query_id"])
        assert row["only_a"] == [d for d in then if d not in now] and row["only_b"] == [d for d in now if d not in then]
        assert row["jaccard"] == pytest.approx(len(set(then) & set(now)) / len(set(then) | set(now)))
        assert row["tuned_a"] == pytest.approx(tuned_metric["signed"][row["query_id"]])
        assert row["tuned_b"] == pytest.approx(tuned_metric["shipped"][row["query_id"]])
    assert HOSTILE_QUERY in expected
    assert diff.queries.set_index("query_id").loc[HOSTILE_QUERY, "text"].startswith(EVIL)


def test_a_config_change_is_an_input_that_moves_no_top_k(runs: dict[str, Comparison]) -> None:
    diff = diff_runs(runs["signed"], runs["lenient"])
    assert diff.inputs == [{"section": "config", "key": "retrieval_fail_relative_drop", "a": 0.05, "b": 0.5}]
    assert len(diff.queries) == 0 and not diff.domains["changed"].any()
    assert not diff.is_empty  # an input differs


def test_runs_with_different_k_are_compared_at_the_smaller(runs: dict[str, Comparison]) -> None:
    diff = diff_runs(runs["k10"], runs["signed"])
    assert diff.k == K
    assert any("different k (A 10, B 5)" in note and f"top-{K}" in note for note in diff.notes)
    assert {"section": "params", "key": "k", "a": 10, "b": K} in diff.inputs
    assert len(diff.queries) == 0  # the same vectors: the same top-5


def test_runs_with_different_verdict_metrics_keep_their_own(runs: dict[str, Comparison]) -> None:
    signed, mrr = runs["signed"], runs["mrr"]
    diff = diff_runs(signed, mrr)
    assert (diff.metric_a, diff.metric_b) == ("ndcg@10", "mrr@10")
    assert {"section": "config", "key": "retrieval_metric", "a": "ndcg@10", "b": "mrr@10"} in diff.inputs
    assert any("different metrics (A nDCG@10, B MRR@10)" in note for note in diff.notes)
    legal = domain_row(diff, DEGRADED)
    assert legal["delta_b"] == pytest.approx(mrr.domains.set_index("domain").loc[DEGRADED, "mrr@10_delta"])
    assert legal["delta_a"] == pytest.approx(signed.domains.set_index("domain").loc[DEGRADED, "ndcg@10_delta"])
    row = diff.queries.iloc[0]
    assert row["tuned_b"] == pytest.approx(mrr.per_query.set_index("query_id").loc[row["query_id"], "mrr@10_tuned"])
    assert "MRR@10" in diff.summary_text() and "nDCG@10" in diff.summary_text()


def test_runs_of_different_datasets_are_refused_naming_both(runs: dict[str, Comparison]) -> None:
    signed, other = runs["signed"], runs["other"]
    pattern = (r"different datasets: A on 'toy-0' \(90 documents, 24 queries, \d+ judgements; fingerprint "
               r"[0-9a-f]{12}…\), B on 'toy-1' \(90 documents")
    with pytest.raises(InputError, match=pattern) as err:
        diff_runs(signed, other)
    message = str(err.value)
    assert signed.run_id in message and other.run_id in message
    assert "the judgements differ" in message and "the documents differ" not in message
    with pytest.raises(TypeError, match="b must be a Comparison"):
        diff_runs(signed, signed.run_id)  # type: ignore[arg-type]


def test_a_partly_opened_run_is_refused(runs: dict[str, Comparison]) -> None:
    part = load_comparison(runs["signed"].run_id, tables=["domains"])
    with pytest.raises(InputError, match=r"has no table 'per_query', table 'docs'; open it with load_comparison"):
        diff_runs(part, runs["shipped"])


def test_the_two_top_k_lists_of_one_query(runs: dict[str, Comparison]) -> None:
    signed, shipped = runs["signed"], runs["shipped"]
    lists = diff_topk(signed, shipped, HOSTILE_QUERY)
    side_a, side_b = (lists[lists["side"] == s] for s in ("A", "B"))
    assert side_a["doc_id"].tolist() == tuned_ids(signed, HOSTILE_QUERY)
    assert side_b["doc_id"].tolist() == tuned_ids(shipped, HOSTILE_QUERY)
    assert side_a["rank"].tolist() == list(range(1, K + 1))
    row = diff_runs(signed, shipped).queries.set_index("query_id").loc[HOSTILE_QUERY]
    assert side_a[side_a["change"] == "only in A"]["doc_id"].tolist() == row["only_a"]
    assert side_b[side_b["change"] == "only in B"]["doc_id"].tolist() == row["only_b"]
    texts_by_id = dict(zip(signed.tables["docs"]["id"], signed.tables["docs"]["text"], strict=True))
    assert side_b["text"].tolist() == [texts_by_id[d] for d in side_b["doc_id"]]
    kept = side_b[side_b["change"] == "kept"]
    assert all(np.isfinite(kept["other_rank"])) and side_b[side_b["change"] != "kept"]["other_rank"].isna().all()
    assert len(diff_topk(signed, shipped, HOSTILE_QUERY, k=2)) == 4
    with pytest.raises(InputError, match="query 'nope' is not in run"):
        diff_topk(signed, shipped, "nope")
    with pytest.raises(InputError, match=f"k must be a whole number from 1 to {K}; got 6"):
        diff_topk(signed, shipped, HOSTILE_QUERY, k=6)


def test_the_json_form(runs: dict[str, Comparison]) -> None:
    diff = diff_runs(runs["signed"], runs["shipped"])
    doc = json.loads(json.dumps(diff.to_dict(), allow_nan=False))
    assert set(doc) == {"run_a", "run_b", "verdict_a", "verdict_b", "metric_a", "metric_b", "k", "dataset",
                        "is_empty", "notes", "domains", "inputs", "n_probes", "n_queries_changed", "queries"}
    assert doc["n_queries_changed"] == len(doc["queries"]) == len(diff.queries)
    assert set(doc["domains"][0]) == set(DOMAIN_COLUMNS) and set(doc["queries"][0]) == set(QUERY_COLUMNS)
    assert doc["dataset"]["source"] == "toy-0" and doc["dataset"]["n_docs"] == 90
    first = doc["queries"][0]
    assert isinstance(first["only_a"], list) and all(isinstance(d, str) for d in first["only_a"])


# -- the command line -------------------------------------------------------------------------------

def test_cli_diff_prints_the_summary_and_writes_json(runs: dict[str, Comparison], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    signed, shipped = runs["signed"], runs["shipped"]
    out = tmp_path / "diff.json"
    assert main(["diff", signed.run_id, shipped.run_id, "--json", str(out)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[:2] == [f"run A {signed.run_id}  verdict PASS", f"run B {shipped.run_id}  verdict FAIL"]
    legal = next(line.split() for line in lines if line.split()[:1] == [DEGRADED])
    assert legal[1:5] == ["PASS", "FAIL", "judged", "judged"] and legal[-1] == "yes"
    assert "Inputs that differ (3)" in lines and f"  models.tuned: base → tuned-{DEGRADED}" in lines
    diff = diff_runs(signed, shipped)
    assert f"Queries whose tuned top-{K} differs: {len(diff.queries)} of {len(signed.per_query)}" in lines
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc == json.loads(json.dumps(diff.to_dict()))
    assert "wrote" in captured.err and "Traceback" not in captured.err


def test_cli_diff_of_a_run_with_itself(runs: dict[str, Comparison], capsys: pytest.CaptureFixture[str]) -> None:
    run_id = runs["signed"].run_id
    assert main(["diff", run_id, run_id]) == 0
    out = capsys.readouterr().out
    assert f"the two runs agree: same inputs, verdicts and Δ, and the same tuned top-{K} for all 24 probes" in out


@pytest.mark.parametrize(("which", "message"), [
    ("malformed", "embdiff: error: RUN_B: run id '???x' is not valid"),
    ("unknown", f"embdiff: error: RUN_B: no saved run has the id '{UNKNOWN_RUN}'"),
    ("other", "embdiff: error: runs "),
])
def test_cli_diff_bad_input_is_one_message_and_exit_2(runs: dict[str, Comparison], which: str, message: str,
                                                      capsys: pytest.CaptureFixture[str],
                                                      _isolated_home: Path) -> None:
    run_b = {"malformed": "../x", "unknown": UNKNOWN_RUN, "other": runs["other"].run_id}[which]
    assert main(["diff", runs["signed"].run_id, run_b]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith(message) and str(_isolated_home) not in line
    if which == "other":
        assert "are on different datasets" in line and "'toy-0'" in line and "'toy-1'" in line


def test_cli_diff_json_into_a_missing_directory_exits_2(runs: dict[str, Comparison], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    run_id = runs["signed"].run_id
    assert main(["diff", run_id, run_id, "--json", str(tmp_path / "nowhere" / "d.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


# -- the page ---------------------------------------------------------------------------------------

def test_page_lines_up_two_runs(runs: dict[str, Comparison]) -> None:
    signed, shipped = runs["signed"], runs["shipped"]
    diff = diff_runs(signed, shipped)
    at = open_app("diff", a=signed.run_id, b=shipped.run_id)
    assert titles(at) == ["Run diff"]
    assert any(t.startswith(f"A (then): run {signed.run_id} · verdict PASS") for t in texts(at))
    assert any(t.startswith(f"B (now): run {shipped.run_id} · verdict FAIL") for t in texts(at))
    domains, inputs, queries = (d.value for d in at.dataframe[:3])
    assert domains["domain"].tolist() == [*DOMAINS, "overall"]
    legal = domains.set_index("domain").loc[DEGRADED]
    assert (legal["verdict A"], legal["verdict B"], legal["changed"]) == ("PASS", "FAIL", "yes")
    assert set(zip(inputs["section"], inputs["key"], strict=True)) == {
        ("models", "tuned"), ("models", "tuned_fingerprint"), ("vectors", "docs_tuned")}
    assert sorted(queries["query_id"]) == sorted(diff.queries["query_id"])
    # the changed domain links to its queries in run B, keeping the diff's runs for the way back
    [link] = [p for p in at.main.get("page_link") if unescape(p.value).startswith(f"{DEGRADED}: PASS → FAIL")]
    assert f"run={shipped.run_id}" in link.proto.query_string and f"domain={DEGRADED}" in link.proto.query_string
    assert f"a={signed.run_id}" in link.proto.query_string
    assert any(f"/diff?a={signed.run_id}&b={shipped.run_id}" in c.value for c in at.code)  # the link to share
    assert_no_live_markup(at)


def test_page_shows_the_picked_query_s_two_lists(runs: dict[str, Comparison]) -> None:
    signed, shipped = runs["signed"], runs["shipped"]
    at = open_app("diff", a=signed.run_id, b=shipped.run_id)
    widget(at.selectbox, "Query").set_value(HOSTILE_QUERY).run()  # type: ignore[attr-defined]
    assert_clean(at)
    assert at.query_params["query"] == HOSTILE_QUERY
    shown = texts(at)
    assert f"{EVIL} {DEGRADED} question number 0" in shown  # the query's text, as text
    tops = [d.value for d in at.dataframe if "change" in d.value.columns]
    assert [t["doc_id"].tolist() for t in tops] == [tuned_ids(signed, HOSTILE_QUERY), tuned_ids(shipped, HOSTILE_QUERY)]
    assert any(t.startswith(f"#1 {tops[1]['doc_id'].iat[0]} ({DEGRADED}, ") for t in shown)
    assert any(t.startswith(EVIL) for t in shown)  # a document's text, as text
    links = {unescape(p.value): p.proto.query_string for p in at.main.get("page_link")}
    b_link = links[f"Open {HOSTILE_QUERY} in Queries of run B (now)"]
    assert f"run={shipped.run_id}" in b_link and "query=" in b_link
    assert_no_live_markup(at)
    # a link with the query reopens it
    again = open_app("diff", a=signed.run_id, b=shipped.run_id, query=HOSTILE_QUERY)
    assert widget(again.selectbox, "Query").value == HOSTILE_QUERY  # type: ignore[attr-defined]
    assert len([d for d in again.dataframe if "change" in d.value.columns]) == 2


def test_page_filters_the_changed_queries_by_domain(runs: dict[str, Comparison]) -> None:
    signed, shipped = runs["signed"], runs["shipped"]
    diff = diff_runs(signed, shipped)
    at = open_app("diff", a=signed.run_id, b=shipped.run_id, domain="finance")
    assert widget(at.selectbox, "Domain").value == "finance"  # type: ignore[attr-defined]
    assert at.dataframe[2].value["query_id"].tolist() == diff.queries[diff.queries["domain"] == "finance"][
        "query_id"].tolist()
    widget(at.selectbox, "Domain").set_value(DEGRADED).run()  # type: ignore[attr-defined]
    assert at.query_params["domain"] == DEGRADED
    assert set(at.dataframe[2].value["domain"]) == {DEGRADED}
    at = open_app("diff", a=signed.run_id, b=shipped.run_id, domain=EVIL_LINK)
    assert any(f"domain {EVIL_LINK!r} is not in these runs" in unescape(w.value) for w in at.warning)
    assert widget(at.selectbox, "Domain").value == "all domains"  # type: ignore[attr-defined]
    assert_no_live_markup(at)


def test_page_of_a_run_with_itself_says_they_agree(runs: dict[str, Comparison]) -> None:
    run_id = runs["signed"].run_id
    at = open_app("diff", a=run_id, b=run_id)
    assert [s.value for s in at.success] == [
        f"The two runs agree: same inputs, verdicts and Δ, and the same tuned top-{K} for all 24 probes."]
    assert "None: the same models, vectors, config, parameters and library versions." in [c.value for c in at.caption]


@pytest.mark.parametrize(("b", "expected"), [
    (UNKNOWN_RUN, f"Run B (now): no saved run has the id '{UNKNOWN_RUN}'"),
    ("../x", "Run B (now): run id '???x' is not valid"),
])
def test_page_with_a_bad_run_id_says_so(runs: dict[str, Comparison], b: str, expected: str,
                                        _isolated_home: Path) -> None:
    at = open_app("diff", a=runs["signed"].run_id, b=b)
    [error] = at.error
    assert unescape(error.value).startswith(expected) and str(_isolated_home) not in error.value
    assert [p.value for p in at.main.get("page_link")] == ["Go to Load"]
    assert not at.dataframe


def test_page_of_runs_on_different_datasets_says_so(runs: dict[str, Comparison]) -> None:
    signed, other = runs["signed"], runs["other"]
    at = open_app("diff", a=signed.run_id, b=other.run_id)
    [error] = at.error
    message = unescape(error.value)
    assert f"runs {signed.run_id} and {other.run_id} are on different datasets" in message
    assert "'toy-0'" in message and "'toy-1'" in message
    assert not at.dataframe  # no misleading table
    assert [unescape(p.value) for p in at.main.get("page_link")] == [
        f"Open run A (then) {signed.run_id}", f"Open run B (now) {other.run_id}"]


def test_page_without_runs_offers_to_pick_them(runs: dict[str, Comparison]) -> None:
    signed, shipped = runs["signed"], runs["shipped"]
    at = open_app("diff", run=shipped.run_id)  # from a run's page through the sidebar
    assert any(i.value.startswith("Pick two saved runs of the same dataset") for i in at.info)
    assert widget(at.selectbox, "Run B (now)").value == shipped.run_id  # type: ignore[attr-defined]
    widget(at.selectbox, "Run A (then)").set_value(signed.run_id)  # type: ignore[attr-defined]
    at.form_submit_button[0].click().run()
    assert_clean(at)
    assert (at.query_params["a"], at.query_params["b"]) == (signed.run_id, shipped.run_id)
    assert titles(at) == ["Run diff"] and at.dataframe[0].value["domain"].tolist() == [*DOMAINS, "overall"]


def test_page_parameter_and_the_way_back_from_queries(runs: dict[str, Comparison]) -> None:
    signed, shipped = runs["signed"], runs["shipped"]
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"page": "diff", "a": signed.run_id, "b": shipped.run_id})
    at.run()
    assert_clean(at)
    assert titles(at) == ["Run diff"] and "page" not in at.query_params
    # on run B's Queries page, the sidebar's Run diff link still carries both runs
    at = open_app("queries", run=shipped.run_id, a=signed.run_id, b=shipped.run_id, query=HOSTILE_QUERY)
    assert titles(at) == ["Queries"]
    [back] = [p for p in at.sidebar.get("page_link") if p.value == PAGES["diff"][1]]
    assert f"a={signed.run_id}" in back.proto.query_string and f"b={shipped.run_id}" in back.proto.query_string
