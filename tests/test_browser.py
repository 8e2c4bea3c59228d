"""The app in a real browser (Debian chromium through Playwright) against a Streamlit server started
by the tests: what AppTest cannot see — the page renders, links reopen the same view on another
browser context and on a freshly started server, chart selections, untrusted text stays text.

Every page is saved as a screenshot under ``test-artifacts/`` (1400 px wide, full page).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import numpy as np
import pytest
from _browser import (
    ARTIFACTS,
    Server,
    click_grid_row,
    goto,
    grid_text,
    grids,
    launch_browser,
    main,
    new_page,
    screenshot,
    start_server,
    stop_server,
    wait_idle,
)
from _runs import (
    CANDIDATE_TARGET,
    EVIL,
    EVIL_HTML,
    EVIL_IMAGE,
    EVIL_LINK,
    EVIL_TUNED_FILE,
    candidate_set,
    most_changed_doc,
    most_regressed_query,
    open_result,
    run_cache,
    sample_run,
    untrusted_run,
)
from playwright.sync_api import expect, sync_playwright

from diagnostics.drilldown import query_list, query_topk
from diagnostics.result import Comparison

pytestmark = pytest.mark.browser

EXCEPTION = '[data-testid="stException"]'


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_cache(tmp_path_factory)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    """The module server's EMBDIFF_HOME: the sample run and the hostile run."""
    home = tmp_path_factory.mktemp("browser-home")
    sample_run(home / "runs", cache)
    untrusted_run(home / "runs", cache)
    return home


@pytest.fixture(scope="module")
def sample(home: Path, cache: Path) -> Comparison:
    return open_result(home / "runs", sample_run(home / "runs", cache))


@pytest.fixture(scope="module")
def untrusted(home: Path, cache: Path) -> tuple[Comparison, dict[str, str]]:
    run_id, ids = untrusted_run(home / "runs", cache)
    return open_result(home / "runs", run_id), ids


@pytest.fixture(scope="module")
def server(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(home, tmp_path_factory.mktemp("server-log") / "streamlit.log")
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        chromium = launch_browser(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context, page = new_page(browser)
    try:
        yield page
    finally:
        context.close()


def assert_no_exception(page: Any) -> None:
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()


def sidebar_link(page: Any, label: str) -> Any:
    return page.get_by_test_id("stSidebar").get_by_role("link", name=label, exact=True)


def selectbox(page: Any, label: str) -> Any:
    """The input of the select box labelled ``label``; its value is the selected option."""
    return main(page).get_by_role("combobox", name=label, exact=True)


def heading(page: Any, level: int) -> list[str]:
    return [t.strip() for t in main(page).locator(f"h{level}").all_inner_texts()]


# -- 1. the landing view --------------------------------------------------------------------------

def test_landing_view_renders(server: Server, page: Any, sample: Comparison) -> None:
    goto(page, server.url)
    expect(main(page).get_by_role("heading", name="embdiff", exact=True)).to_be_visible()
    domains = grids(page).first
    expect(domains).to_be_visible()
    text = grid_text(domains)
    for domain in sample.manifest["dataset"]["domains"]:
        assert domain in text
    expect(main(page).get_by_role("button", name="Compare base vs tuned on the sample")).to_be_visible()
    expect(main(page).get_by_role("link", name=re.compile(sample.run_id))).to_be_visible()  # saved runs
    assert_no_exception(page)
    screenshot(page, "load")


# -- 2. the review flow ---------------------------------------------------------------------------

def test_review_flow_survives_navigation_and_a_new_context(server: Server, browser: Any, page: Any,
                                                           sample: Comparison) -> None:
    run = sample.run_id
    goto(page, f"{server.url}/overview?run={run}")
    expect(main(page).get_by_text(f"Verdict: {sample.verdict}", exact=True)).to_be_visible()

    # to Queries through the sidebar: the query string survives
    sidebar_link(page, "Queries").click()
    page.wait_for_url(re.compile(rf"/queries\?(.*&)?run={run}"))
    wait_idle(page)
    expect(main(page).get_by_role("heading", name="Queries", exact=True)).to_be_visible()

    # open the most regressed query: the first row of the default ranking
    worst = most_regressed_query(sample)
    table = grids(page).first
    assert grid_text(table).find(worst) >= 0
    click_grid_row(page, table, 0)
    page.wait_for_url(re.compile(rf"query={re.escape(quote(worst))}"))
    expect(selectbox(page, "Query")).to_have_value(worst)
    k = sample.k
    expect(main(page).get_by_text(f"base top-{k}", exact=True)).to_be_visible()
    expect(main(page).get_by_text(f"tuned top-{k}", exact=True)).to_be_visible()
    expected = query_topk(sample, worst, k=k)
    lists = grids(page)
    expect(lists).to_have_count(3)
    for index, side in ((1, "base"), (2, "tuned")):
        expect(lists.nth(index)).to_be_visible()
        shown = grid_text(lists.nth(index))
        first = str(expected[expected["side"] == side]["doc_id"].iat[0])
        assert first in shown, f"{side} top-{k} does not show {first}"
    assert_no_exception(page)
    screenshot(page, "queries-most-regressed")

    # back to Overview: sign off
    sidebar_link(page, "Overview").click()
    page.wait_for_url(re.compile(rf"/overview\?.*run={run}"))
    wait_idle(page)
    assert f"query={quote(worst)}" in page.url
    reviewer, comment = "Grace Hopper", f"{worst} regressed; needs a look {EVIL_HTML}"
    page.get_by_label("Reviewer").fill(reviewer)
    main(page).get_by_text("needs-work", exact=True).click()
    page.get_by_label("Comment").fill(comment)
    main(page).get_by_role("button", name="Record review").click()
    expect(main(page).get_by_text("Review recorded.", exact=True)).to_be_visible()
    expect(main(page).get_by_text("Review history (1)", exact=True)).to_be_visible()

    # the link from the page's link box, opened in a new browser context, shows that review
    link = main(page).get_by_test_id("stCode").first.inner_text().strip()
    assert link.startswith(f"{server.url}/overview?") and f"run={run}" in link and f"query={quote(worst)}" in link
    other_context, other = new_page(browser)
    try:
        goto(other, link)
        expect(main(other).get_by_text("Review history (1)", exact=True)).to_be_visible()
        history = grid_text(grids(other).last)
        assert reviewer in history and "needs-work" in history and comment in history
        assert urlsplit(other.url).query == urlsplit(link).query
        assert_no_exception(other)
        screenshot(other, "overview-review-history")
    finally:
        other_context.close()


# -- 3. deep links --------------------------------------------------------------------------------

@pytest.fixture
def fresh_server(tmp_path: Path, cache: Path) -> Iterator[Server]:
    """A server that has served nobody yet, with its own store holding the sample run."""
    sample_run(tmp_path / "home" / "runs", cache)
    srv = start_server(tmp_path / "home", tmp_path / "streamlit.log")
    try:
        yield srv
    finally:
        stop_server(srv)


def test_deep_link_to_an_inner_page_on_a_fresh_server(fresh_server: Server, page: Any, sample: Comparison) -> None:
    """The legacy ``pages/`` trap: without ui.bootstrap.page_guard the first session runs the page
    file alone — Streamlit's own file-name navigation instead of the app's sidebar, no page config."""
    ranking = query_list(sample)  # any query will do: one from the middle of the ranking, not pre-selected
    query = str(ranking["query_id"].iat[len(ranking) // 2])
    goto(page, f"{fresh_server.url}/queries?{urlencode({'run': sample.run_id, 'query': query})}")
    expect(main(page).get_by_role("heading", name="Queries", exact=True)).to_be_visible()
    expect(selectbox(page, "Query")).to_have_value(query)
    expect(main(page).get_by_text(f"base top-{sample.k}", exact=True)).to_be_visible()
    # the app's navigation, not the legacy one
    expect(sidebar_link(page, "Cluster collapse")).to_be_visible()
    assert page.get_by_test_id("stSidebarNav").count() == 0
    expect(page.get_by_test_id("stSidebar").get_by_test_id("stText")).to_contain_text(sample.run_id)
    assert urlsplit(page.url).path == "/queries"
    assert f"query={quote(query)}" in page.url and f"run={sample.run_id}" in page.url
    assert_no_exception(page)
    screenshot(page, "queries-deep-link-fresh-server")


def test_a_renamed_page_s_old_link_still_opens_it_on_a_fresh_server(fresh_server: Server, page: Any,
                                                                    sample: Comparison) -> None:
    """``/neighbourhoods`` became ``/neighborhoods`` (one spelling, issue 13): a saved review link with the old
    path, opened as the server's very first session (legacy ``pages/`` mode, no such file), lands on the page,
    with its query string."""
    domain = str(sample.manifest["dataset"]["domains"][-1])
    goto(page, f"{fresh_server.url}/neighbourhoods?{urlencode({'run': sample.run_id, 'domain': domain})}")
    expect(main(page).get_by_role("heading", name="Neighborhoods", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/neighborhoods\?"))
    assert f"run={sample.run_id}" in page.url and f"domain={quote(domain)}" in page.url
    expect(selectbox(page, "Domain")).to_have_value(domain)
    assert page.get_by_test_id("stSidebarNav").count() == 0
    assert_no_exception(page)


def test_a_frontier_link_on_a_fresh_server_leads_to_a_candidate_s_worst_domain(
    tmp_path: Path, cache: Path, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: a reviewer opens the link to a comparison of candidates as the server's first session, sees the
    frontier and the best candidate, and clicks from the candidate that forgets to its worst domain's queries."""
    from diagnostics.candidates import load_candidate_set

    home = tmp_path / "home"
    set_id = candidate_set(home, cache)
    monkeypatch.setenv("EMBDIFF_HOME", str(home))
    made = load_candidate_set(set_id)
    table = made.frontier().set_index("candidate")
    worst = str(table.loc["forgets", "worst_domain"])
    srv = start_server(home, tmp_path / "streamlit.log")
    try:
        goto(page, f"{srv.url}/overview?{urlencode({'set': set_id, 'target': CANDIDATE_TARGET})}")
        expect(main(page).get_by_role("heading", name="Overview: choose between candidates")).to_be_visible()
        expect(main(page).get_by_text(f"Best candidate: {made.best()}")).to_be_visible()
        expect(main(page).locator(".js-plotly-plot")).to_have_count(2)  # the frontier and the heatmap
        assert "forgets" in main(page).locator(".js-plotly-plot").first.inner_text()
        assert page.get_by_test_id("stSidebarNav").count() == 0  # the app's navigation, not the legacy one
        assert_no_exception(page)
        screenshot(page, "overview-candidates-frontier")
        main(page).get_by_role("link", name=f"forgets: queries of its worst domain, {worst}").click()
        wait_idle(page)
        expect(main(page).get_by_role("heading", name="Queries", exact=True)).to_be_visible()
        assert urlsplit(page.url).path == "/queries"
        assert f"run={made.runs['forgets'].run_id}" in page.url and f"domain={quote(worst)}" in page.url
        expect(selectbox(page, "Domain")).to_have_value(worst)
        assert_no_exception(page)
    finally:
        stop_server(srv)


def test_a_run_diff_link_opens_on_a_fresh_server(tmp_path: Path, cache: Path, page: Any) -> None:
    """Issue 14: the on-call link ``/diff?a=<then>&b=<now>`` as a server's first session: both runs lined up,
    the changed verdicts and the queries whose tuned top-k moved."""
    from diagnostics.rundiff import diff_runs

    home = tmp_path / "home"
    candidate_set(home, cache)
    runs = {p.name: open_result(home / "runs", p.name) for p in (home / "runs").iterdir()}
    then = next(r for r in runs.values() if r.verdict == "PASS" and r.manifest["models"]["tuned"] != "base.parquet")
    now = next(r for r in runs.values() if r.verdict == "FAIL")
    diff = diff_runs(then, now)
    srv = start_server(home, tmp_path / "streamlit.log")
    try:
        goto(page, f"{srv.url}/diff?{urlencode({'a': then.run_id, 'b': now.run_id})}")
        expect(main(page).get_by_role("heading", name="Run diff", exact=True)).to_be_visible()
        changed = main(page).get_by_role("heading", name=re.compile(r"Queries whose tuned top-\d+ differs"))
        expect(changed).to_contain_text(f"({len(diff.queries)} of {diff.n_probes})")
        table = grid_text(grids(page).first)
        assert "FAIL" in table and "PASS" in table
        assert urlsplit(page.url).path == "/diff" and page.get_by_test_id("stSidebarNav").count() == 0
        assert_no_exception(page)
        screenshot(page, "run-diff-fresh-server")
    finally:
        stop_server(srv)


def test_one_click_from_the_verdicts_to_the_known_item_checks(server: Server, page: Any, sample: Comparison) -> None:
    """The evidence column on the Overview, then one click to the synthesised checks behind the verdicts, and
    one more to a check: its held-out text and the document it came from, as text."""
    goto(page, f"{server.url}/overview?run={sample.run_id}")
    table = grid_text(grids(page).first)
    assert "evidence" in table and "judged" in table and "checked docs" in table  # (wide: the grid draws what fits)
    main(page).get_by_role("link", name="Open every known-item check").click()
    wait_idle(page)
    expect(main(page).get_by_role("heading", name="Queries", exact=True)).to_be_visible()
    assert urlsplit(page.url).path == "/queries" and "source=synthetic" in page.url
    expect(main(page).get_by_text("Known-item checks (synthesised)")).to_be_visible()
    checks = sample.tables["known_items"]
    worst = checks.sort_values(["ndcg@10_delta", "rank_tuned", "check_id"], ascending=[True, False, True]).iloc[0]
    assert str(worst["check_id"]) in grid_text(grids(page).first)
    click_grid_row(page, grids(page).first, 0)
    expect(selectbox(page, "Check")).to_have_value(str(worst["check_id"]))
    expect(main(page).get_by_test_id("stText").filter(has_text=str(worst["query"])).first).to_be_visible()
    assert f"query={quote(str(worst['check_id']))}" in page.url
    assert_no_exception(page)
    screenshot(page, "queries-known-item-check")


def test_bad_run_ids_in_the_url_are_clear_messages(server: Server, page: Any) -> None:
    goto(page, f"{server.url}/overview?run=..%2Fx")
    expect(main(page).get_by_test_id("stAlertContentError")).to_contain_text("is not valid")
    expect(main(page).get_by_text("No run selected", exact=False)).to_be_visible()
    assert str(server.home) not in main(page).inner_text()
    assert_no_exception(page)
    screenshot(page, "overview-malformed-run")
    goto(page, f"{server.url}/queries?run=0123456789abcdef")
    expect(main(page).get_by_test_id("stAlertContentError")).to_contain_text(
        "no saved run has the id '0123456789abcdef'")
    expect(main(page).get_by_role("link", name="Go to Load")).to_be_visible()
    assert str(server.home) not in main(page).inner_text()
    assert_no_exception(page)
    screenshot(page, "queries-unknown-run")


# -- 4. box selection on the projection -----------------------------------------------------------

def test_box_selection_fills_the_selection_table(server: Server, page: Any, sample: Comparison) -> None:
    goto(page, f"{server.url}/projection?run={sample.run_id}")
    expect(main(page).get_by_role("heading", name="Selection (0)")).to_be_visible()
    plot = page.locator(".js-plotly-plot .nsewdrag").first  # the base map's drag layer
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.1)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.9, steps=8)
    page.mouse.up()
    wait_idle(page, settle=1.5)
    title = main(page).get_by_role("heading", name=re.compile(r"^Selection \(\d+\)$"))
    expect(title).not_to_have_text("Selection (0)")
    n_selected = int(re.search(r"\d+", title.inner_text()).group())  # type: ignore[union-attr]
    assert 0 < n_selected <= len(sample.projection)  # type: ignore[arg-type]
    table = grids(page).first
    expect(table).to_be_visible()
    shown = grid_text(table)
    ids = set(sample.projection["id"].astype(str))  # type: ignore[index]
    assert any(i in shown for i in ids), shown[:300]
    assert_no_exception(page)
    screenshot(page, "projection-selection")

    # a selected query opens in Queries
    link = main(page).get_by_role("link", name=re.compile(r"^Open .+ in Queries$"))
    if link.count():
        picked = link.inner_text().removeprefix("Open ").removesuffix(" in Queries")
        link.click()
        page.wait_for_url(re.compile(r"/queries\?"))
        wait_idle(page)
        expect(selectbox(page, "Query")).to_have_value(picked)


def _map(page: Any) -> Any:
    return main(page).locator("canvas.points")  # inside the component's (open) shadow root


def _in_view(page: Any) -> tuple[int, int]:
    left, right = (int(v) for v in _map(page).get_attribute("data-in-view").split(","))
    return left, right


def _drag(page: Any, corners: list[tuple[float, float]], panel: tuple[float, float, float, float]) -> None:
    """Press at the first corner, move through the others in small steps, release at the last."""
    x0, y0, w, h = panel
    page.mouse.move(x0 + w * corners[0][0], y0 + h * corners[0][1])
    page.mouse.down()
    for fx, fy in corners[1:]:
        page.mouse.move(x0 + w * fx, y0 + h * fy, steps=8)
    page.mouse.up()


def _selection_heading(page: Any) -> Any:
    return main(page).get_by_role("heading", name=re.compile(r"^Selection \(\d+\)$"))


def _selected(page: Any) -> int:
    return int(re.search(r"\d+", _selection_heading(page).inner_text()).group())  # type: ignore[union-attr]


def _open_fast_map(page: Any, server: Server, sample: Comparison) -> tuple[Any, tuple[float, float, float, float]]:
    """Open the sample's projection as the canvas map, every point drawn; its points and the base (left)
    map's box on screen: x, y, width, height."""
    points = sample.projection.reset_index(drop=True)  # type: ignore[union-attr]
    goto(page, f"{server.url}/projection?run={sample.run_id}")
    main(page).get_by_text("Fast map", exact=True).click()
    wait_idle(page)
    expect(_map(page)).to_have_attribute("data-drawn", str(len(points)))
    sketch = main(page).locator("canvas.sketch")
    sketch.scroll_into_view_if_needed()
    box = sketch.bounding_box()
    assert box is not None
    return points, (box["x"], box["y"] + 22, box["width"] / 2, box["height"] - 34)


def test_fast_map_draws_every_point_and_selects_by_box_click_and_hover(
    server: Server, page: Any, sample: Comparison
) -> None:
    points, base_map = _open_fast_map(page, server, sample)
    expect(_map(page)).to_have_attribute("data-color", "domain")
    expect(main(page).locator(".fm .legend span:not(.key)")).to_have_count(len(set(points["domain"])))

    # hovering finds a point and shows its id as text
    ids = set(points["id"].astype(str))
    tip = main(page).locator(".fm .tip")
    for fx in np.linspace(0.2, 0.8, 13):
        for fy in np.linspace(0.2, 0.8, 13):
            page.mouse.move(base_map[0] + base_map[2] * fx, base_map[1] + base_map[3] * fy)
            if tip.is_visible():
                break
        if tip.is_visible():
            break
    expect(tip).to_be_visible()
    assert tip.inner_text().split("\n")[0] in ids

    # a box over the middle of the base map selects the points under it; the table lists them
    _drag(page, [(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)], base_map)
    wait_idle(page, settle=1.5)
    expect(_selection_heading(page)).not_to_have_text("Selection (0)")
    n_selected = _selected(page)
    assert 0 < n_selected <= len(points)
    shown = grid_text(grids(page).first)
    assert any(i in shown for i in ids), shown[:300]
    assert_no_exception(page)
    screenshot(page, "projection-fast-map-selection")

    # double-click clears it; coloring by overlap redraws the map with that color
    page.mouse.dblclick(base_map[0] + base_map[2] * 0.5, base_map[1] + base_map[3] * 0.5)
    wait_idle(page, settle=1.5)
    expect(main(page).get_by_role("heading", name="Selection (0)")).to_be_visible()
    main(page).get_by_test_id("stRadio").get_by_text("overlap (documents)", exact=True).click()
    wait_idle(page)
    expect(_map(page)).to_have_attribute("data-color", "overlap")
    assert int(_map(page).get_attribute("data-drawn")) == int(points["overlap"].notna().sum())
    assert_no_exception(page)


def test_fast_map_zooms_both_maps_together_and_selects_by_lasso(
    server: Server, page: Any, sample: Comparison
) -> None:
    """The wheel over the base map zooms the tuned map with it (one shared view); Reset restores the full
    extent; a lasso drawn as the lower-left half of a box selects some, but fewer, of the box's points,
    and that selection reaches Python (the table's heading counts it)."""
    points, base_map = _open_fast_map(page, server, sample)
    expect(_map(page)).to_have_attribute("data-zoom", "1.000")
    full = _in_view(page)
    assert full == (len(points), len(points))  # the home view shows every point in both maps

    # linked zoom: the wheel over the base map zooms in on both
    page.mouse.move(base_map[0] + base_map[2] * 0.5, base_map[1] + base_map[3] * 0.5)
    for _ in range(4):
        page.mouse.wheel(0, -400)
        time.sleep(0.1)
    expect(_map(page)).not_to_have_attribute("data-zoom", "1.000")
    assert float(_map(page).get_attribute("data-zoom")) > 1.5
    zoomed = _in_view(page)
    assert zoomed[0] < full[0] and zoomed[1] < full[1], (full, zoomed)
    main(page).locator(".fm button[data-act=reset]").click()
    expect(_map(page)).to_have_attribute("data-zoom", "1.000")
    assert _in_view(page) == full

    # a box, then a lasso over its lower-left half: fewer points, but some
    corners = [(0.1, 0.1), (0.9, 0.9)]
    _drag(page, corners, base_map)
    wait_idle(page, settle=1.5)
    in_box = _selected(page)
    assert in_box > 0
    page.mouse.dblclick(base_map[0] + base_map[2] * 0.5, base_map[1] + base_map[3] * 0.5)
    wait_idle(page, settle=1.5)
    assert _selected(page) == 0
    main(page).locator(".fm button[data-mode=lasso]").click()
    _drag(page, [(0.1, 0.1), (0.1, 0.9), (0.9, 0.9), (0.1, 0.1)], base_map)
    wait_idle(page, settle=1.5)
    in_lasso = _selected(page)
    assert 0 < in_lasso < in_box, (in_lasso, in_box)
    assert_no_exception(page)


# -- 5. untrusted text ----------------------------------------------------------------------------

class Trap:
    """Records dialogs and requests that hostile text could cause."""

    def __init__(self, page: Any) -> None:
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        page.on("dialog", self._dialog)
        page.on("request", self._request)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _request(self, request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.netloc == "127.0.0.1:9" or parts.path.endswith("x.png") or parts.scheme == "javascript":
            self.requests.append(request.url)

    def check(self, page: Any) -> None:
        time.sleep(0.5)
        assert self.dialogs == [], f"a dialog fired: {self.dialogs}"
        assert self.requests == [], f"hostile text made the browser fetch: {self.requests}"
        assert page.locator('img[src="x"]').count() == 0
        assert page.locator('[href^="javascript:"]').count() == 0
        assert page.locator('img[src*="x.png"]').count() == 0
        assert page.locator('a[href*="127.0.0.1:9/"], a[href*="x.png"]').count() == 0  # not even a link


def test_untrusted_text_stays_text(server: Server, page: Any, untrusted: tuple[Comparison, dict[str, str]]) -> None:
    result, ids = untrusted
    trap = Trap(page)
    run = result.run_id

    # Queries: the hostile query, its text, the hostile documents in its top-k
    goto(page, f"{server.url}/queries?{urlencode({'run': run, 'query': ids['query']})}")
    expect(selectbox(page, "Query")).to_have_value(ids["query"])
    texts = main(page).get_by_test_id("stText")
    expect(texts.filter(has_text=f"{EVIL} alpha question 0")).to_have_count(1)
    main(page).get_by_text("Full texts").first.click()
    wait_idle(page)
    expect(texts.filter(has_text=f"#1 {ids['doc']} (alpha")).to_be_visible()
    expect(texts.filter(has_text=f"{EVIL} alpha document 0").first).to_be_visible()
    assert EVIL_HTML in grid_text(grids(page).nth(1))
    assert ids["doc"] in grid_text(grids(page).nth(1))
    trap.check(page)
    screenshot(page, "untrusted-queries")

    # Neighborhoods: the hostile document is the most changed; open it
    assert most_changed_doc(result) == ids["doc"]
    goto(page, f"{server.url}/neighborhoods?run={run}")
    worst = grids(page).nth(1)
    assert ids["doc"] in grid_text(worst) and EVIL in grid_text(worst)
    click_grid_row(page, worst, 0)
    expect(texts.filter(has_text=f"{ids['doc']}: gained and lost neighbors")).to_be_visible()
    expect(grids(page)).to_have_count(4)
    assert EVIL in grid_text(grids(page).nth(2))
    trap.check(page)
    screenshot(page, "untrusted-neighborhoods")

    # Load: the hostile vector file names in the saved-runs list
    goto(page, server.url)
    expect(main(page).get_by_role("heading", name="Saved runs")).to_be_visible()
    trap.check(page)
    expect(main(page).get_by_role("link", name=re.compile(re.escape(EVIL_TUNED_FILE)))).to_be_visible()
    screenshot(page, "untrusted-load")

    # hostile URL parameters end up in warnings as text
    goto(page, f"{server.url}/queries?{urlencode({'run': run, 'domain': EVIL_IMAGE, 'query': EVIL_LINK + '!'})}")
    alerts = main(page).get_by_test_id("stAlertContentWarning")
    expect(alerts.filter(has_text=EVIL_IMAGE)).to_have_count(1)
    expect(alerts.filter(has_text=EVIL_LINK + "!")).to_have_count(1)
    trap.check(page)
    screenshot(page, "untrusted-url-parameters")


# -- 6. every page, as a screenshot ---------------------------------------------------------------

@pytest.mark.parametrize(("name", "title", "charts"), [
    ("overview", "Overview", 1),
    ("projection", "Projection", 1),
    ("neighborhoods", "Neighborhoods", 2),
    ("collapse", "Cluster collapse", 2),
    ("queries", "Queries", 0),
])
def test_every_page_renders(server: Server, page: Any, sample: Comparison, name: str, title: str,
                            charts: int) -> None:
    params = {"run": sample.run_id}
    if name == "queries":
        params["query"] = most_regressed_query(sample)
    goto(page, f"{server.url}/{name}?{urlencode(params)}")
    expect(main(page).get_by_role("heading", name=title, exact=True)).to_be_visible()
    expect(main(page).locator(".js-plotly-plot")).to_have_count(charts)
    for chart in main(page).locator(".js-plotly-plot").all():
        expect(chart.locator(".main-svg").first).to_be_visible()
    if name != "projection":  # its only table lists a selection
        expect(grids(page).first).to_be_visible()
    assert_no_exception(page)
    path = screenshot(page, name)
    assert path.is_file() and path.stat().st_size > 10_000
    assert path.parent == ARTIFACTS
