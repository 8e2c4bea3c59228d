"""The Overview of several candidates in Streamlit's AppTest: frontier, matrix, best, links, bad ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from _runs import CANDIDATE_TARGET, candidate_set, run_cache
from streamlit.testing.v1 import AppTest

from diagnostics.candidates import load_candidate_set
from ui.data import open_run, open_set, set_frontier
from ui.safe import escape_markdown

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    open_run.clear()
    open_set.clear()
    set_frontier.clear()


@pytest.fixture
def set_id(_isolated_home: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return candidate_set(_isolated_home, run_cache(tmp_path_factory))


def _overview(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"page": "overview", **params})
    at.switch_page("pages/overview.py")
    return at.run()


def _texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.text, *at.success, *at.warning, *at.error, *at.info, *at.caption)]
    return "\n".join(str(p) for p in parts)


def test_the_overview_of_a_set_shows_the_frontier_and_the_matrix(set_id: str) -> None:
    at = _overview(set=set_id)
    assert not at.exception
    made = load_candidate_set(set_id)
    best = made.best()
    text = _texts(at)
    assert escape_markdown(f"Best candidate: {best} ({made.runs[best].verdict})") in text
    assert at.multiselect[0].value == [CANDIDATE_TARGET]
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # the frontier and the candidates × domains matrix
    table = at.dataframe[0].value
    assert list(table["candidate"]) == list(made.runs)
    frontier = made.frontier().set_index("candidate")
    shown = table.set_index("candidate")
    for name in made.runs:
        assert shown.loc[name, "verdict"] == made.runs[name].verdict
        assert shown.loc[name, "dominated_by"] == frontier.loc[name, "dominated_by"]
    # one click from each candidate to its own Overview and to its worst domain's queries
    links = {(e.proto.label, e.proto.page) for e in at.get("page_link")}
    for name in made.runs:
        worst = frontier.loc[name, "worst_domain"]
        assert (escape_markdown(f"{name}: queries of its worst domain, {worst}"), "queries") in links
        assert (escape_markdown(f"{name}: its own Overview"), "overview") in links


def test_changing_the_targets_rewrites_the_url_and_the_frontier(set_id: str) -> None:
    at = _overview(set=set_id)
    at.multiselect[0].set_value([CANDIDATE_TARGET, "hr"]).run()
    assert not at.exception
    assert at.query_params["target"] == f"{CANDIDATE_TARGET},hr"
    made = load_candidate_set(set_id)
    expected = made.frontier([CANDIDATE_TARGET, "hr"]).set_index("candidate")
    shown = at.dataframe[0].value.set_index("candidate")
    for name in made.runs:
        gain = next(c for c in shown.columns if c.startswith("gain Δ"))
        assert shown.loc[name, gain] == pytest.approx(expected.loc[name, "gain"])
    at.multiselect[0].set_value([CANDIDATE_TARGET, "compositional"]).run()  # not both: the probe is shown
    assert not at.exception and any("not both" in str(w.value) for w in at.warning)
    at.multiselect[0].set_value([]).run()
    assert "target" not in at.query_params and not at.exception
    assert any("Pick the target domains" in str(i.value) for i in at.info)


@pytest.mark.parametrize(("value", "message"), [
    ("0123456789abcdef", "no candidate set"),
    ("../../etc/passwd", "is not valid"),
])
def test_unknown_or_malformed_set_ids_get_a_message(set_id: str, value: str, message: str) -> None:
    at = _overview(set=value)
    assert not at.exception
    assert any(message in str(e.value) for e in at.error)


def test_an_unknown_target_in_the_url_is_named_and_ignored(set_id: str) -> None:
    at = _overview(set=set_id, target="<b>nowhere</b>,clinical")
    assert not at.exception
    assert any("nowhere" in str(w.value) for w in at.warning)
    assert at.multiselect[0].value == [CANDIDATE_TARGET]


def test_the_load_page_lists_saved_sets_with_a_link_to_their_overview(set_id: str) -> None:
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    links = [e for e in at.get("page_link") if e.proto.page == "overview" and "set=" in e.proto.query_string]
    assert len(links) == 1
    assert links[0].proto.query_string == f"set={set_id}&target={CANDIDATE_TARGET}"
    assert escape_markdown("tuned, forgets, base") in links[0].proto.label


def test_a_run_overview_shows_its_probe_beside_retrieval(_isolated_home: Path,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    from _runs import open_result, sample_run

    from diagnostics.probe import EDIT_RULES

    runs = _isolated_home / "runs"
    run_id = sample_run(runs, run_cache(tmp_path_factory))
    summary = open_result(runs, run_id).tables["probe"]
    at = _overview(run=run_id)
    assert not at.exception
    assert any(h.value == "Compositional sensitivity (probe)" for h in at.subheader)
    tables = [d.value for d in at.dataframe if "edit rule" in d.value.columns]
    assert len(tables) == 1 and list(tables[0]["edit rule"]) == [*EDIT_RULES, "all"]
    overall = summary[(summary["domain"] == "overall") & (summary["rule"] == "all")].iloc[0]
    assert tables[0].set_index("edit rule").loc["all", "Δ ranked right"] == pytest.approx(
        overall["prefers_original_delta"])
    per_domain = [d.value for d in at.dataframe if "domain" in d.value.columns and "Δ ranked right" in d.value.columns]
    assert len(per_domain) == 1 and "overall" not in set(per_domain[0]["domain"])
