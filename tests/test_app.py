"""Every page of the app in Streamlit's AppTest: no exception, the key elements, the URL round trip,
bad run ids, untrusted text. The app is opened through ``app.py`` (``st.navigation``) and
``AppTest.switch_page``, as a user's session would be."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _runs import (
    EVIL,
    EVIL_HTML,
    EVIL_IMAGE,
    EVIL_LINK,
    EVIL_TUNED_FILE,
    most_changed_doc,
    most_regressed_query,
    open_result,
    run_cache,
    sample_run,
    untrusted_run,
)
from streamlit.testing.v1 import AppTest

from diagnostics import plots
from diagnostics.dataset import load_dataset
from diagnostics.drilldown import query_topk
from diagnostics.result import METRICS, Comparison
from diagnostics.reviews import ReviewStore
from diagnostics.runs import RunStore
from diagnostics.sample import sample_paths
from ui.data import open_run
from ui.exports import _export_html, export_csv, export_json
from ui.safe import escape_markdown
from ui.state import PAGES

APP = str(Path(__file__).resolve().parents[1] / "app.py")
INNER = ("overview", "projection", "neighborhoods", "collapse", "queries")
UNKNOWN_RUN = "0123456789abcdef"
# Markdown that would run or fetch something if an element rendered it as markdown.
LIVE_MARKUP = ("![t](", "](javascript:", "<img", "http://")


# -- fixtures and helpers -------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Runs are cached per server process; every test opens its own copies."""
    for cached in (open_run, _export_html, export_json, export_csv):
        cached.clear()


@pytest.fixture
def runs_dir(_isolated_home: Path) -> Path:
    return _isolated_home / "runs"


@pytest.fixture
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_cache(tmp_path_factory)


@pytest.fixture
def sample(runs_dir: Path, cache: Path) -> Comparison:
    return open_result(runs_dir, sample_run(runs_dir, cache))


@pytest.fixture
def untrusted(runs_dir: Path, cache: Path) -> tuple[Comparison, dict[str, str]]:
    run_id, ids = untrusted_run(runs_dir, cache)
    return open_result(runs_dir, run_id), ids


@pytest.fixture
def sample_clinical_only(runs_dir: Path, cache: Path) -> Comparison:
    return open_result(runs_dir, sample_run(runs_dir, cache, projection=False, judged_domains=("clinical",)))


@pytest.fixture
def untrusted_unjudged(runs_dir: Path, cache: Path) -> Comparison:
    return open_result(runs_dir, untrusted_run(runs_dir, cache, judged=False)[0])


def open_app(page: str | None = None, /, **params: str) -> AppTest:
    """Open ``app.py`` with ``params`` in the query string, then switch to ``page``."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    at.run()
    if page is not None:
        at.switch_page(PAGES[page][0]).run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def widget(elements: object, label: str) -> object:
    found = [w for w in elements if w.label == label]  # type: ignore[attr-defined]
    assert len(found) == 1, f"expected one widget labelled {label!r}, found {len(found)}"
    return found[0]


def markdown_bodies(at: AppTest) -> list[str]:
    """Everything the app sends as markdown: markdown, captions, alerts, page-link labels."""
    bodies = []
    for kind in ("markdown", "caption", "warning", "error", "info", "success", "page_link", "subheader", "title"):
        bodies += [str(e.value) for e in at.get(kind)]
    return bodies


def assert_no_live_markup(at: AppTest) -> None:
    for body in markdown_bodies(at):
        live = re.sub(r"\\.", "", body)  # backslash-escaped characters are shown, not interpreted
        for marker in LIVE_MARKUP:
            assert marker not in live, f"untrusted text reaches markdown unescaped: {body!r}"


def unescape(markdown: str) -> str:
    """Markdown source with backslash escapes (and autolink-breaking zero-width spaces) removed:
    the text a reader sees."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u200b", "")


# -- escaping -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "escaped"), [
    ("plain words 42", "plain words 42"),
    ("![t](x.png)", r"\!\[t\]\(x\.png\)"),
    ("<img src=x>", r"\<img src=x\>"),
    ("[x](javascript:alert(1))", r"\[x\]\(javascript\:alert\(1\)\)"),
    (":red[alarm] $x$ *a* _b_ ~c~ # h", r"\:red\[alarm\] \$x\$ \*a\* \_b\_ \~c\~ \# h"),
    ("see http://h/p", "see http\\:\u200b//h/p"),
    ("www.h.io a@b.io", "www\u200b\\.h\\.io a@\u200bb\\.io"),
    ("run `embdiff compare --k 5` on x.y", r"run `embdiff compare --k 5` on x\.y"),
    ("a stray ` tick", r"a stray \` tick"),
])
def test_escape_markdown(raw: str, escaped: str) -> None:
    assert escape_markdown(raw) == escaped
    assert unescape(escaped) == raw


# -- Load -----------------------------------------------------------------------------------------

def test_load_page_shows_the_sample_domains() -> None:
    dataset = load_dataset(sample_paths().corpus)
    at = open_app()
    assert titles(at) == ["embdiff"]
    table = at.dataframe[0].value
    assert sorted(table["Domain"]) == sorted(dataset.domains)
    assert int(table["Documents"].sum()) == len(dataset.docs)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Domains": str(len(dataset.domains)), "Documents": str(len(dataset.docs)),
                       "Queries": str(len(dataset.queries))}
    assert widget(at.radio, "Data").value == "Bundled sample"
    assert "No saved runs yet." in [c.value for c in at.caption]
    sidebar_links = [link.value for link in at.sidebar.get("page_link")]
    assert sidebar_links == [title for _, title in PAGES.values()]


@pytest.mark.slow
def test_load_sample_button_creates_a_run_and_opens_it() -> None:
    assert RunStore().list_runs() == []
    at = open_app()
    widget(at.checkbox, "Compute the 2-D projection").uncheck()  # type: ignore[attr-defined]
    widget(at.button, "Compare base vs tuned on the sample").click()  # type: ignore[attr-defined]
    at.run(timeout=180)
    assert_clean(at)
    runs = RunStore().list_runs()
    assert len(runs) == 1
    run_id = runs[0]["run_id"]
    assert RunStore().exists(run_id)
    assert at.query_params.get("run") == run_id
    assert titles(at) == ["Overview"]
    # the Load page now lists it
    at.switch_page(PAGES["load"][0]).run()
    assert any(link.value.startswith(run_id) for link in at.main.get("page_link"))


def test_load_page_path_errors_are_messages(tmp_path: Path) -> None:
    at = open_app()
    widget(at.radio, "Data").set_value("Paths on this server").run()  # type: ignore[attr-defined]
    widget(at.text_area, "Dataset paths (one per line: BEIR or table directories)").input(  # type: ignore[attr-defined]
        str(tmp_path))
    widget(at.button, "Compare").click().run()  # type: ignore[attr-defined]
    assert_clean(at)
    assert len(at.error) == 1
    assert "outside the data folders" in unescape(at.error[0].value)
    assert str(tmp_path) not in at.error[0].value  # the message names the folder, never the full path
    assert RunStore().list_runs() == []


# -- Overview -------------------------------------------------------------------------------------

def test_overview_shows_verdict_table_chart_link_and_exports(sample: Comparison) -> None:
    at = open_app("overview", run=sample.run_id)
    assert titles(at) == ["Overview"]
    banner = {"PASS": at.success, "WARN": at.warning, "FAIL": at.error}[sample.verdict]
    assert [b.value for b in banner][:1] == [f"Verdict: {sample.verdict}"]
    for reason in sample.reasons:
        assert f"• {reason}" in texts(at)
    table = at.dataframe[0].value
    assert list(table["domain"]) == list(sample.domains["domain"])
    assert "ndcg@10 base" in table.columns
    assert len(at.get("plotly_chart")) == 1
    link = at.code[0].value
    assert link.endswith(f"/overview?run={sample.run_id}")
    assert [b.label for b in at.get("download_button")] == [
        "Sign-off record (JSON, with its hash chain)", "HTML report", "JSON", "Per-query CSV"]
    assert "Review history (0)" in [c.value for c in at.caption]
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Run content digest ") and c.endswith("matches the one written with the run.")
               for c in captions)
    assert "This server has no login: a review records the name you type, marked identity: unverified." in captions
    signoff = [unescape(i.value) for i in at.info if unescape(i.value).startswith("Sign-off")]
    assert signoff == ["Sign-off: pending — 0 of 1 approval(s)"]
    # another metric re-renders the table
    widget(at.selectbox, "Metric").set_value(METRICS[1]).run()  # type: ignore[attr-defined]
    assert_clean(at)
    assert f"{METRICS[1]} base" in at.dataframe[0].value.columns


def test_overview_review_link_carries_the_view(sample: Comparison) -> None:
    query = most_regressed_query(sample)
    domain = str(sample.per_query.set_index("query_id").at[query, "domain"])
    at = open_app("overview", run=sample.run_id, domain=domain, query=query, k="5")
    link = at.code[0].value
    assert link.startswith("/overview?")
    assert f"run={sample.run_id}" in link and f"query={query}" in link and f"domain={domain}" in link
    assert "k=5" in link
    assert at.query_params == {"run": sample.run_id, "domain": domain, "query": query, "k": "5"}


def test_overview_records_a_review_and_shows_the_history(sample: Comparison) -> None:
    at = open_app("overview", run=sample.run_id)
    widget(at.text_input, "Reviewer").input("Ada Lovelace")  # type: ignore[attr-defined]
    widget(at.radio, "Decision").set_value("reject")  # type: ignore[attr-defined]
    widget(at.text_area, "Comment").input(f"legal regressed {EVIL}")  # type: ignore[attr-defined]
    at.form_submit_button[0].click().run()
    assert_clean(at)
    assert "Review recorded." in [s.value for s in at.success]
    history = ReviewStore().history(sample.run_id)
    assert [(r.reviewer, r.decision, r.comment) for r in history] == [("Ada Lovelace", "reject",
                                                                       f"legal regressed {EVIL}")]
    assert "Review history (1)" in [c.value for c in at.caption]
    shown = at.dataframe[-1].value
    assert list(shown["reviewer"]) == ["Ada Lovelace"] and list(shown["comment"]) == [f"legal regressed {EVIL}"]
    assert list(shown["identity"]) == ["unverified"] and list(shown["on"]) == ["this content"]
    assert history[0].run_digest == RunStore().open(sample.run_id).digest and history[0].run_verdict == sample.verdict
    assert any(unescape(e.value).startswith("Sign-off: rejected") for e in at.error)
    # a fresh session on the same link sees it
    again = open_app("overview", run=sample.run_id)
    assert list(again.dataframe[-1].value["decision"]) == ["reject"]


def test_overview_draws_before_the_digest_check_ends_and_the_sign_off_after(
    sample: Comparison, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large run's files take seconds to hash: the verdict and evidence are drawn without waiting, and the
    sign-off (form, status, history: all bound to the digest) appears only once the digest is known. The
    sample's run is counted as large here, and its hashing waits for a signal, so the page sees it unfinished."""
    import threading

    from ui import signoff
    from ui.signoff import _digest_job, _stamp

    release = threading.Event()
    hashed = signoff._digests

    def held(root: str, run_id: str) -> tuple[str, str]:
        release.wait(60)
        return hashed(root, run_id)

    monkeypatch.setattr(signoff, "SYNC_DIGEST_BYTES", 0)
    monkeypatch.setattr(signoff, "_digests", held)
    _digest_job.clear()  # the sample's run id and file stamps are the same in every test's home
    try:
        at = open_app("overview", run=sample.run_id)
        assert_clean(at)
        assert at.title[0].value == "Overview" and at.dataframe  # the verdict and the domains table
        assert any("Checking the run's content digest" in i.value for i in at.info)
        assert not at.form_submit_button and not [w for w in at.radio if w.label == "Decision"]
        assert not [c for c in at.caption if "matches the one written with the run" in c.value]
    finally:
        release.set()
    _digest_job(str(RunStore().root), sample.run_id, _stamp(sample.run_id)).result(timeout=60)
    at = open_app("overview", run=sample.run_id)
    assert not any("Checking the run's content digest" in i.value for i in at.info)
    assert [c for c in at.caption if "matches the one written with the run" in c.value]
    assert at.form_submit_button and [w for w in at.radio if w.label == "Decision"]


def test_overview_review_without_reviewer_is_refused(sample: Comparison) -> None:
    at = open_app("overview", run=sample.run_id)
    at.form_submit_button[0].click().run()
    assert_clean(at)
    assert any("reviewer is empty" in unescape(e.value) for e in at.error)
    assert ReviewStore().history(sample.run_id) == []


ISSUER = "http://127.0.0.1:9400"
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "s" * 32, "client_id": "embdiff",
        "client_secret": "x", "server_metadata_url": f"{ISSUER}/.well-known/openid-configuration"}
ROLES = {"access": {"viewers": ["@lab.example.com"], "reviewers": ["ana@lab.example.com"]}}


def _logged_in(page: str, run: str, email: str | None, **params: str) -> AppTest:
    """The app with login configured (an ``[auth]`` section) and roles, as ``email`` (None: logged out)."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = AUTH
    at.secrets["embdiff"] = ROLES
    at.user = ({"is_logged_in": True, "sub": f"sub-{email}", "email": email, "iss": ISSUER} if email
               else {"is_logged_in": False})
    at.query_params.update({"page": page, "run": run, **params})
    at.run()
    assert_clean(at)
    return at


@pytest.mark.parametrize("page", list(PAGES))
def test_with_login_configured_every_page_asks_for_login_first(sample: Comparison, page: str) -> None:
    at = _logged_in(page, sample.run_id, None)
    assert titles(at) == ["embdiff"]
    assert [b.label for b in at.button] == ["Log in"]
    assert any("requires login" in unescape(i.value) for i in at.info)
    assert not at.dataframe and not at.get("plotly_chart") and not at.sidebar.text  # nothing of the run shown


def test_a_logged_in_reviewer_reviews_as_the_asserted_identity(sample: Comparison) -> None:
    at = _logged_in("overview", sample.run_id, "ana@lab.example.com")
    assert titles(at) == ["Overview"]
    assert not [w for w in at.text_input if w.label == "Reviewer"]  # the identity is the login's, never typed
    assert f"Reviewing as ana@lab.example.com (verified by {ISSUER})." in [unescape(c.value) for c in at.caption]
    assert "ana@lab.example.com\nreviewer" in [t.value for t in at.sidebar.text]
    widget(at.radio, "Decision").set_value("approve")  # type: ignore[attr-defined]
    justify = [w for w in at.text_area if w.label.startswith("Justification")]
    if justify:  # a FAIL or UNVERIFIED sample needs one
        justify[0].input("accepted for the pilot")
    at.form_submit_button[0].click().run()
    assert_clean(at)
    (review,) = ReviewStore().history(sample.run_id)
    assert (review.identity, review.email, review.issuer, review.subject) == (
        "verified", "ana@lab.example.com", ISSUER, "sub-ana@lab.example.com")
    assert list(at.dataframe[-1].value["identity"]) == ["verified"]
    assert any(unescape(s.value).startswith("Sign-off: approved — 1 of 1 approval(s) (ana@lab.example.com)")
               for s in at.success)


def test_a_viewer_sees_the_evidence_but_no_review_form(sample: Comparison) -> None:
    from diagnostics.access import Identity

    ReviewStore().record(sample.run_id, identity=Identity.unverified("someone"), decision="needs-work")
    at = _logged_in("overview", sample.run_id, "bo@lab.example.com")
    assert titles(at) == ["Overview"] and at.dataframe  # the evidence
    assert not at.form_submit_button and not [w for w in at.radio if w.label == "Decision"]
    assert any("a viewer: you can read the evidence and the history" in unescape(i.value) for i in at.info)
    assert "Review history (1)" in [c.value for c in at.caption]
    assert any("have no verified identity and do not count" in unescape(c.value) for c in at.caption)


def test_an_account_outside_the_viewers_sees_nothing(sample: Comparison) -> None:
    at = _logged_in("queries", sample.run_id, "eve@elsewhere.org")
    assert titles(at) == ["embdiff"] and not at.dataframe
    assert any("eve@elsewhere.org, who is not among this server's viewers" in unescape(e.value) for e in at.error)
    assert [b.label for b in at.button] == ["Log out"]


def test_a_bad_role_config_shows_the_error_and_nothing_else(sample: Comparison) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = AUTH
    at.secrets["embdiff"] = {"access": {"reviewers": ["not-an-email"]}}
    at.user = {"is_logged_in": True, "sub": "x", "email": "ana@lab.example.com", "iss": ISSUER}
    at.query_params.update({"page": "overview", "run": sample.run_id})
    at.run()
    assert_clean(at)
    assert any("The access configuration is invalid" in unescape(e.value) for e in at.error) and not at.dataframe


# -- Projection -----------------------------------------------------------------------------------

def test_projection_maps_and_color_round_trip(sample: Comparison) -> None:
    at = open_app("projection", run=sample.run_id, color="overlap")
    assert titles(at) == ["Projection"]
    assert len(at.get("plotly_chart")) == 1
    color = widget(at.radio, "Color by")
    assert color.value == "overlap"  # type: ignore[attr-defined]
    assert at.query_params["color"] == "overlap"
    assert any(c.value.startswith("Coloring by neighborhood overlap") for c in at.caption)
    assert "Selection (0)" in [s.value for s in at.subheader]
    color.set_value("delta").run()  # type: ignore[attr-defined]
    assert_clean(at)
    assert at.query_params["color"] == "delta"
    widget(at.radio, "Color by").set_value("domain").run()  # type: ignore[attr-defined]
    assert "color" not in at.query_params and at.query_params["run"] == sample.run_id


def test_projection_domain_round_trip(sample: Comparison) -> None:
    domain = sample.manifest["dataset"]["domains"][0]
    at = open_app("projection", run=sample.run_id, domain=domain)
    assert widget(at.selectbox, "Domain").value == domain  # type: ignore[attr-defined]
    widget(at.selectbox, "Domain").set_value("all domains").run()  # type: ignore[attr-defined]
    assert "domain" not in at.query_params
    assert_clean(at)


def test_projection_overlay_and_point_cap(sample: Comparison) -> None:
    at = open_app("projection", run=sample.run_id)
    at.toggle[0].set_value(True).run()
    assert_clean(at)
    slider = widget(at.slider, "Points shown")
    slider.set_value(slider.min).run()  # type: ignore[attr-defined]
    assert_clean(at)
    assert len(at.get("plotly_chart")) == 1


def test_projection_of_a_run_without_one_says_so(runs_dir: Path, cache: Path) -> None:
    run_id = sample_run(runs_dir, cache, projection=False)
    at = open_app("projection", run=run_id)
    assert any("without the projection" in i.value for i in at.info)
    assert not at.get("plotly_chart")


# -- Neighborhoods -------------------------------------------------------------------------------

def test_neighborhoods_distributions_flow_and_most_changed(sample: Comparison) -> None:
    at = open_app("neighborhoods", run=sample.run_id)
    assert titles(at) == ["Neighborhoods"]
    assert len(at.get("plotly_chart")) == 2
    overlap = at.dataframe[0].value
    assert list(overlap["domain"]) == list(sample.domains["domain"])
    worst = at.dataframe[1].value
    assert worst["doc_id"].iat[0] == most_changed_doc(sample)
    assert worst["overlap"].is_monotonic_increasing
    assert "Select a document to see its gained and lost neighbors." in [c.value for c in at.caption]


def test_neighborhoods_domain_from_the_url(sample: Comparison) -> None:
    domain = sample.manifest["dataset"]["domains"][-1]
    at = open_app("neighborhoods", run=sample.run_id, domain=domain)
    assert widget(at.selectbox, "Domain").value == domain  # type: ignore[attr-defined]
    assert set(at.dataframe[1].value["domain"]) == {domain}
    assert at.query_params["domain"] == domain


# -- Cluster collapse -----------------------------------------------------------------------------

def test_collapse_figures_and_flags(sample: Comparison) -> None:
    at = open_app("collapse", run=sample.run_id)
    assert titles(at) == ["Cluster collapse"]
    assert [m.label for m in at.metric] == ["Anisotropy base", "Anisotropy tuned", "Linear CKA base vs tuned"]
    assert len(at.get("plotly_chart")) == 2
    assert list(at.dataframe[0].value["domain"]) == list(sample.domains["domain"])
    rows = sample.domains[sample.domains["domain"] != "overall"]
    n_flagged = int((rows["collapsed"] | (rows["merged_with"].astype(str) != "")).sum())
    assert len(at.warning) == n_flagged
    assert len(at.success) == (0 if n_flagged else 1)


# -- Queries --------------------------------------------------------------------------------------

def test_queries_url_round_trip(sample: Comparison) -> None:
    query = most_regressed_query(sample)
    domain = str(sample.per_query.set_index("query_id").at[query, "domain"])
    at = open_app("queries", run=sample.run_id, query=query, domain=domain, k="5")
    assert titles(at) == ["Queries"]
    assert widget(at.selectbox, "Domain").value == domain  # type: ignore[attr-defined]
    assert widget(at.selectbox, "Query").value == query  # type: ignore[attr-defined]
    assert widget(at.number_input, "Show top").value == 5  # type: ignore[attr-defined]
    queries = sample.tables["queries"].set_index("id")
    assert queries.at[query, "text"] in texts(at)
    table, base, tuned = (d.value for d in at.dataframe)
    assert set(table["domain"]) == {domain}
    assert table["query_id"].iat[0] == query  # the most regressed comes first
    expected = query_topk(sample, query, k=5)
    assert list(base["doc_id"]) == list(expected[expected["side"] == "base"]["doc_id"])
    assert list(tuned["doc_id"]) == list(expected[expected["side"] == "tuned"]["doc_id"])
    assert [m.value.strip("*") for m in at.markdown if "top-" in m.value] == ["base top-5", "tuned top-5"]
    assert at.query_params == {"run": sample.run_id, "query": query, "domain": domain, "k": "5"}

    # changes are written back to the URL
    other, third = str(table["query_id"].iat[-1]), str(table["query_id"].iat[1])
    widget(at.selectbox, "Query").set_value(other).run()  # type: ignore[attr-defined]
    assert at.query_params["query"] == other
    widget(at.selectbox, "Query").set_value(third).run()  # type: ignore[attr-defined]  # a second change sticks too
    assert at.query_params["query"] == third
    assert widget(at.selectbox, "Query").value == third  # type: ignore[attr-defined]
    widget(at.number_input, "Show top").set_value(sample.k).run()  # type: ignore[attr-defined]
    assert "k" not in at.query_params  # the run's own k is the default
    widget(at.selectbox, "Domain").set_value("all domains").run()  # type: ignore[attr-defined]
    assert "domain" not in at.query_params
    assert len(at.dataframe[0].value) == len(sample.per_query)
    assert_clean(at)


def test_queries_regressions_only(sample: Comparison) -> None:
    at = open_app("queries", run=sample.run_id)
    assert widget(at.selectbox, "Query").value is None  # type: ignore[attr-defined]
    widget(at.checkbox, "Regressions only").check().run()  # type: ignore[attr-defined]
    deltas = at.dataframe[0].value["Δ nDCG@10"]
    judged = sample.per_query[sample.per_query["judged"]]
    assert len(deltas) == int((judged["ndcg@10_delta"] < 0).sum())
    assert (deltas < 0).all()


def test_queries_unknown_query_is_a_warning(sample: Comparison) -> None:
    at = open_app("queries", run=sample.run_id, query="no-such-query")
    assert any("'no-such-query' is not in this run" in unescape(w.value) for w in at.warning)
    assert widget(at.selectbox, "Query").value is None  # type: ignore[attr-defined]


def test_queries_live_probe_explains_when_unavailable(untrusted: tuple[Comparison, dict[str, str]]) -> None:
    result, _ = untrusted  # made from vector files alone
    at = open_app("queries", run=result.run_id)
    [info] = [i for i in at.info if i.value.startswith("Live probe unavailable")]
    assert "pass \\-\\-base MODEL beside \\-\\-base\\-vectors" in info.value


@pytest.mark.slow
def test_the_samples_live_probe_uses_its_two_models(sample: Comparison) -> None:
    """The sample ships its tuned model (a LoRA adapter), so its run can probe any typed text."""
    assert sample.manifest["models"]["tuned_model"].endswith("tuned_adapter")
    at = open_app("queries", run=sample.run_id)
    assert not any(i.value.startswith("Live probe unavailable") for i in at.info)
    widget(at.text_input, "Type any text").set_value("forklift operator fitness to drive")  # type: ignore[attr-defined]
    at.button[-1].click().run()
    assert_clean(at)
    probe = [d.value for d in at.dataframe if len(d.value) and "movement" in d.value.columns][-2:]
    assert len(probe) == 2 and all(len(p) == sample.k for p in probe)
    assert probe[0]["doc_id"].tolist() != probe[1]["doc_id"].tolist()  # two different models


# -- evidence and known-item checks --------------------------------------------------------------


def test_overview_shows_the_evidence_of_every_verdict(sample: Comparison) -> None:
    at = open_app("overview", run=sample.run_id)
    table = at.dataframe[0].value
    assert list(table.columns[:3]) == ["domain", "verdict", "evidence"]
    assert set(table["evidence"]) == {"judged"}  # the sample has judgements everywhere
    assert {"known-item Δ", "known-item p (Holm)", "BM25 on checks", "checked docs"} <= set(table.columns)
    assert (table["checked docs"].iloc[:-1] == 70).all()
    assert any(unescape(link.label) == "Open every known-item check" for link in at.get("page_link"))


def test_overview_of_a_sample_judged_only_on_its_tuned_domain(sample_clinical_only: Comparison) -> None:
    result = sample_clinical_only
    at = open_app("overview", run=result.run_id)
    table = at.dataframe[0].value.set_index("domain")
    assert table.loc["clinical", "evidence"] == "judged"
    assert set(table["evidence"].drop(["clinical", "overall"])) == {"synthetic"}
    flagged = [d for d in table.index if d not in ("clinical", "overall") and table.loc[d, "verdict"] != "PASS"]
    labels = [unescape(link.label) for link in at.get("page_link")]
    for domain in flagged:  # one click from a synthetic WARN to the checks behind it
        assert any(label.endswith(f"in {domain}: open its known-item checks") for label in labels), labels


def test_overview_marks_unverified_domains(untrusted_unjudged: Comparison) -> None:
    at = open_app("overview", run=untrusted_unjudged.run_id)
    assert any(i.value == "Verdict: UNVERIFIED" for i in at.info)
    assert any("UNVERIFIED" in i.value and "no judgements and no known" in unescape(i.value) for i in at.info)
    table = at.dataframe[0].value
    assert set(table["verdict"]) == {"UNVERIFIED"} and set(table["evidence"]) == {"none"}
    assert_no_live_markup(at)


def test_queries_lists_the_synthetic_checks_and_opens_one(sample: Comparison) -> None:
    checks = sample.tables["known_items"]
    worst = checks.sort_values(["ndcg@10_delta", "rank_tuned", "check_id"], ascending=[True, False, True]).iloc[0]
    at = open_app("queries", run=sample.run_id, source="synthetic")
    listed = at.dataframe[0].value
    assert len(listed) == len(checks) and listed["check_id"].iloc[0] == worst["check_id"]
    assert "held-out text (query)" in listed.columns and "from document" in listed.columns
    widget(at.selectbox, "Check").set_value(worst["check_id"]).run()  # type: ignore[attr-defined]
    assert_clean(at)
    assert at.query_params["query"] == worst["check_id"] and at.query_params["source"] == "synthetic"
    shown = texts(at)
    assert str(worst["query"]) in shown and str(worst["item_text"]) in shown
    assert any(t.startswith(f"{worst['check_id']} · {worst['domain']} · {worst['construction']}") for t in shown)
    tops = [d.value for d in at.dataframe if "relevance" in d.value.columns]
    assert len(tops) == 2
    for top, rank in zip(tops, (worst["rank_base"], worst["rank_tuned"]), strict=True):
        hit = top[top["relevance"] == 1]
        assert (hit["rank"].tolist() == [rank]) if rank <= len(top) else hit.empty


@pytest.mark.parametrize("page", INNER)
def test_a_run_saved_before_evidence_opens_on_every_page(
    page: str, untrusted: tuple[Comparison, dict[str, str]], runs_dir: Path
) -> None:
    from _runs import as_legacy

    from diagnostics.result import save_comparison

    legacy = save_comparison(as_legacy(untrusted[0]), RunStore(runs_dir))
    at = open_app(page, run=legacy.run_id)
    assert titles(at) == [PAGES[page][1]]


def test_a_link_to_a_check_opens_the_checks(sample: Comparison) -> None:
    check = str(sample.tables["known_items"]["check_id"].iloc[3])
    at = open_app("queries", run=sample.run_id, query=check)
    assert widget(at.radio, "Show").value == "synthetic"  # type: ignore[attr-defined]
    assert widget(at.selectbox, "Check").value == check  # type: ignore[attr-defined]
    assert not at.warning


@pytest.mark.slow
def test_queries_live_probe_with_real_models(_isolated_home: Path, base_model_path: str) -> None:
    """A run made from models (not vector files): typing a text shows both top-k lists."""
    import pandas as pd

    from diagnostics.compare import compare_inputs
    from diagnostics.dataset import Dataset
    from diagnostics.encoding import encode_dataset

    docs = pd.DataFrame({
        "id": [f"d{i}" for i in range(14)],
        "title": [""] * 14,
        "text": [f"{w} maintenance manual section {i}" for i, w in enumerate(
            ["pump", "valve", "sensor", "gasket", "bearing", "motor", "filter",
             "invoice", "payment", "ledger", "audit", "budget", "tax", "payroll"])],
        "domain": ["engineering"] * 7 + ["finance"] * 7,
    })
    queries = pd.DataFrame({"id": ["q1", "q2"], "text": ["replace the pump seal", "late invoice payment"],
                            "domain": ["engineering", "finance"]})
    qrels = pd.DataFrame({"query_id": ["q1", "q2"], "doc_id": ["d0", "d8"], "score": [1, 1]})
    dataset = Dataset(docs=docs, queries=queries, qrels=qrels, source="probe-test")
    base = encode_dataset(dataset, base_model_path, role="base")
    result = compare_inputs(dataset, base, base, k=3, projection=False)
    at = open_app("queries", run=result.run_id)
    assert not any(i.value.startswith("Live probe unavailable") for i in at.info)
    widget(at.text_input, "Type any text").set_value("pump seal leaking")  # type: ignore[attr-defined]
    at.button[-1].click().run()
    assert_clean(at)
    probe_tables = [d for d in at.dataframe if len(d.value) and "movement" in d.value.columns]
    assert len(probe_tables) >= 2
    base_list, tuned_list = probe_tables[-2].value, probe_tables[-1].value
    assert base_list["doc_id"].tolist() == tuned_list["doc_id"].tolist()  # same model on both sides
    assert base_list["doc_id"].iloc[0] == "d0"


# -- URL state across pages -----------------------------------------------------------------------

@pytest.mark.parametrize("page", INNER)
def test_malformed_run_id_is_a_clear_message(page: str, _isolated_home: Path) -> None:
    at = open_app(page, run="../x")
    [error] = at.error
    message = unescape(error.value)
    assert "is not valid" in message and "16 lower-case hexadecimal" in message
    assert str(_isolated_home) not in message and "../x" not in message
    assert [i.value for i in at.info] == ["No run selected. Open the bundled sample or make a comparison on the "
                                          "Load page."]
    assert not at.title


@pytest.mark.parametrize("page", INNER)
def test_unknown_run_id_is_a_clear_message(page: str, _isolated_home: Path) -> None:
    at = open_app(page, run=UNKNOWN_RUN)
    [error] = at.error
    assert f"no saved run has the id '{UNKNOWN_RUN}'" in unescape(error.value)
    assert str(_isolated_home) not in error.value
    assert [link.value for link in at.main.get("page_link")] == ["Go to Load"]
    assert not at.title


def test_no_run_points_to_load() -> None:
    at = open_app("queries")
    assert any(i.value.startswith("No run selected") for i in at.info)
    assert [link.value for link in at.main.get("page_link")] == ["Go to Load"]


def test_bad_k_and_color_fall_back_with_a_warning(sample: Comparison) -> None:
    at = open_app("queries", run=sample.run_id, k="abc", query=most_regressed_query(sample))
    assert any("k must be a whole number" in unescape(w.value) for w in at.warning)
    assert widget(at.number_input, "Show top").value == sample.k  # type: ignore[attr-defined]
    at = open_app("projection", run=sample.run_id, color="rainbow")
    assert any(unescape(w.value).startswith("color must be one of") for w in at.warning)
    assert widget(at.radio, "Color by").value == "domain"  # type: ignore[attr-defined]


def test_unknown_domain_shows_all(sample: Comparison) -> None:
    at = open_app("queries", run=sample.run_id, domain="no-such-domain")
    assert any("'no-such-domain' is not in this run" in unescape(w.value) for w in at.warning)
    assert widget(at.selectbox, "Domain").value == "all domains"  # type: ignore[attr-defined]


def test_page_parameter_opens_that_page(sample: Comparison) -> None:
    at = open_app(None, page="queries", run=sample.run_id, query=most_regressed_query(sample))
    assert titles(at) == ["Queries"]
    assert "page" not in at.query_params
    assert at.query_params["run"] == sample.run_id


def test_sidebar_links_keep_the_query_string(sample: Comparison) -> None:
    query = most_regressed_query(sample)
    at = open_app("collapse", run=sample.run_id, query=query)
    links = at.sidebar.get("page_link")
    assert [link.value for link in links] == [title for _, title in PAGES.values()]
    for link in links:
        assert f"run={sample.run_id}" in link.proto.query_string and f"query={query}" in link.proto.query_string
    assert sample.run_id in [t.value for t in at.sidebar.get("text")]


def test_sidebar_links_follow_a_change_made_in_the_same_run(sample: Comparison) -> None:
    at = open_app("queries", run=sample.run_id)
    query = most_regressed_query(sample)
    widget(at.selectbox, "Query").set_value(query).run()  # type: ignore[attr-defined]
    assert at.query_params["query"] == query
    for link in at.sidebar.get("page_link"):
        assert f"query={query}" in link.proto.query_string


def test_sidebar_is_there_when_a_page_stops_early() -> None:
    at = open_app("overview", run=UNKNOWN_RUN)
    assert [link.value for link in at.sidebar.get("page_link")] == [title for _, title in PAGES.values()]


# -- untrusted text -------------------------------------------------------------------------------

def test_untrusted_text_on_queries_is_plain_text(untrusted: tuple[Comparison, dict[str, str]]) -> None:
    result, ids = untrusted
    at = open_app("queries", run=result.run_id, query=ids["query"])
    assert widget(at.selectbox, "Query").value == ids["query"]  # type: ignore[attr-defined]
    shown = texts(at)
    assert f"{EVIL} alpha question 0" in shown  # the query text, as text
    assert any(t.startswith(f"#1 {ids['doc']} (alpha") for t in shown)  # the hostile doc id, as text
    assert any(EVIL_HTML in t and EVIL_LINK in t for t in shown)
    assert_no_live_markup(at)


def test_untrusted_text_in_the_url_is_escaped(untrusted: tuple[Comparison, dict[str, str]]) -> None:
    result, _ = untrusted
    at = open_app("queries", run=result.run_id, domain=EVIL_IMAGE, query=EVIL_LINK + "!", k=EVIL_IMAGE[:20])
    assert_no_live_markup(at)
    warnings = [unescape(w.value) for w in at.warning]
    assert any(repr(EVIL_IMAGE) in w for w in warnings)
    assert any(repr(EVIL_LINK + "!") in w for w in warnings)


@pytest.mark.parametrize("page", ["load", *INNER])
def test_untrusted_run_renders_on_every_page(page: str, untrusted: tuple[Comparison, dict[str, str]]) -> None:
    result, ids = untrusted
    at = open_app(page, run=result.run_id)
    assert_no_live_markup(at)
    if page == "load":
        [label] = [link.value for link in at.main.get("page_link")]
        assert unescape(label).endswith(EVIL_TUNED_FILE)
    if page == "neighborhoods":
        assert at.dataframe[1].value["doc_id"].iat[0] == ids["doc"] == most_changed_doc(result)


def test_projection_fast_map_selection_lists_its_rows(sample: Comparison) -> None:
    at = open_app("projection", run=sample.run_id)
    assert widget(at.toggle, "Fast map").value is False  # type: ignore[attr-defined]  # a small map: plotly
    widget(at.toggle, "Fast map").set_value(True).run()  # type: ignore[attr-defined]
    assert_clean(at)
    assert not at.get("plotly_chart") and len(at.get("bidi_component")) == 1
    points = sample.projection.reset_index(drop=True)  # type: ignore[union-attr]
    data = plots.projection_map_data(points)  # what the page draws: every point, colored by domain
    # the browser sends rows and the data's version; junk rows are dropped, duplicates merged
    at.session_state["proj_map"] = {"selection": {"rows": [3, 0, 3, len(points), -1, True, "2"],
                                                  "version": data["version"]}}
    at.run()
    assert_clean(at)
    assert "Selection (2)" in [s.value for s in at.subheader]
    assert set(at.dataframe[0].value["id"]) == set(points["id"].iloc[[0, 3]].astype(str))
    # a selection made on other data (an earlier view) is no selection
    at.session_state["proj_map"] = {"selection": {"rows": [0, 1], "version": "0" * 16}}
    at.run()
    assert "Selection (0)" in [s.value for s in at.subheader]
