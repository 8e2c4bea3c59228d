"""Login and sign-off against a real OpenID Connect provider, in a real browser.

``oidc-provider-mock`` (PyPI) runs as its own process on loopback: a real provider with discovery,
authorization code flow and signed ID tokens; its login form lets the test pick the user. The app runs
with an ``[auth]`` section pointing at its discovery URL and an ``[embdiff.access]`` role config:
ana is a reviewer, vic a viewer. In Chromium: a deep link asks for login and lands on the exact view
after it; ana approves; vic sees no approve button and the engine refuses his forged write; logout
brings the login screen back.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from _browser import (
    Server,
    free_port,
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
from _runs import open_result, run_cache, sample_run
from playwright.sync_api import expect, sync_playwright

from diagnostics.access import AccessDenied, Identity, load_policy
from diagnostics.drilldown import query_list
from diagnostics.result import Comparison
from diagnostics.reviews import ReviewStore
from diagnostics.runs import RunStore

pytestmark = pytest.mark.browser

REVIEWER = {"sub": "ana-4711", "email": "ana@lab.example.com", "name": "Ana Reviewer"}
VIEWER = {"sub": "vic-0815", "email": "vic@lab.example.com", "name": "Vic Viewer"}
ROLES = {"viewers": ["@lab.example.com"], "reviewers": ["ana@lab.example.com"], "approvals_required": 1}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real OpenID Connect provider (oidc-provider-mock) on a free loopback port; its issuer URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    cmd = [sys.executable, "-m", "oidc_provider_mock", "--port", str(port),
           "--user-claims", json.dumps(REVIEWER), "--user-claims", json.dumps(VIEWER)]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    issuer = f"http://127.0.0.1:{port}"
    try:
        _wait_for_discovery(issuer, process, log)
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for_discovery(issuer: str, process: subprocess.Popen[bytes], log: Path) -> None:
    import time
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the OIDC provider exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=2) as r:  # noqa: S310
                if json.load(r).get("issuer", "").rstrip("/") == issuer:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError("the OIDC provider did not answer its discovery URL within 60 s")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_cache(tmp_path_factory)


@pytest.fixture(scope="module")
def app(provider: str, tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Iterator[tuple[Server, str]]:
    """The app with login (the provider above) and roles; returns the server and the sample run id."""
    root = tmp_path_factory.mktemp("login-app")
    run_id = sample_run(root / "home" / "runs", cache)
    port = free_port()
    secrets = root / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "a-long-random-test-secret-0123456789abcdef"\n'
        'client_id = "embdiff-test"\n'
        'client_secret = "embdiff-test-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
        "\n[embdiff.access]\n"
        + "".join(f"{key} = {json.dumps(value)}\n" for key, value in ROLES.items()),
        encoding="utf-8",
    )
    srv = start_server(root / "home", root / "streamlit.log", port=port, args=("--secrets.files", str(secrets)))
    try:
        yield srv, run_id
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


def _log_in(page: Any, provider: str, who: dict[str, str]) -> None:
    """On the login screen: click Log in, pick the user at the provider, come back logged in."""
    main(page).get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_url(re.compile(re.escape(provider) + r"/oauth2/authorize"))
    page.get_by_role("button", name=who["sub"], exact=True).click()
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/(?!oauth2callback)"))
    wait_idle(page)


def _sidebar_identity(page: Any) -> str:
    return str(page.get_by_test_id("stSidebar").get_by_test_id("stText").last.inner_text())


def test_reviewer_logs_in_through_a_deep_link_approves_and_logs_out(
    app: tuple[Server, str], provider: str, browser: Any, cache: Path
) -> None:
    server, run_id = app
    sample: Comparison = open_result(server.home / "runs", run_id)
    ranking = query_list(sample)
    query = str(ranking["query_id"].iat[len(ranking) // 3])
    deep = f"{server.url}/queries?{urlencode({'run': run_id, 'query': query, 'k': '5'})}"
    context, page = new_page(browser)
    try:
        goto(page, deep)
        # nothing of the run before login
        expect(main(page).get_by_role("button", name="Log in", exact=True)).to_be_visible()
        assert main(page).get_by_role("heading", name="Queries", exact=True).count() == 0
        assert grids(page).count() == 0
        screenshot(page, "login-required")

        _log_in(page, provider, REVIEWER)
        # back on the exact view the link named
        page.wait_for_url(re.compile(r"/queries\?"))
        wait_idle(page)
        expect(main(page).get_by_role("heading", name="Queries", exact=True)).to_be_visible()
        landed = urlsplit(page.url)
        assert landed.path == "/queries"
        assert parse_qs(landed.query) == {"run": [run_id], "query": [query], "k": ["5"]}
        assert _sidebar_identity(page) == "ana@lab.example.com\nreviewer"

        # approve on the Overview, as the identity the provider asserted
        goto(page, f"{server.url}/overview?run={run_id}")
        assert main(page).get_by_label("Reviewer").count() == 0  # no free-text name behind a login
        expect(main(page).get_by_text(f"Reviewing as ana@lab.example.com (verified by {provider}).")).to_be_visible()
        expect(main(page).get_by_role("radiogroup")).to_have_count(1)  # the Decision choice a viewer lacks
        main(page).get_by_text("approve", exact=True).click()
        main(page).get_by_label("Comment").fill("looked at legal and support; fine for the pilot")
        justification = main(page).get_by_label(re.compile(r"^Justification"))
        if justification.count():
            justification.fill("the losses are in domains the pilot does not serve")
        main(page).get_by_role("button", name="Record review").click()
        expect(main(page).get_by_text("Review recorded.", exact=True)).to_be_visible()
        expect(main(page).get_by_text("Review history (1)", exact=True)).to_be_visible()
        # the history grid comes a moment after its heading: wait for it (until then .last is the domain table)
        expect(grids(page).last.locator('[role="grid"]').first).to_contain_text("ana@lab.example.com")
        history = grid_text(grids(page).last)
        assert "ana@lab.example.com" in history and "verified" in history and "approve" in history
        screenshot(page, "login-reviewer-approved")

        (review,) = ReviewStore(server.home / "reviews.sqlite3").history(run_id)
        assert (review.identity, review.subject, review.email, review.issuer.rstrip("/")) == (
            "verified", REVIEWER["sub"], REVIEWER["email"], provider)
        assert review.run_digest == RunStore(server.home / "runs").open(run_id).digest

        # log out: the login screen again, on every page
        page.get_by_test_id("stSidebar").get_by_role("button", name="Log out").click()
        # Streamlit ends the session at the provider too (its end_session_endpoint), which asks to confirm
        page.wait_for_url(re.compile(re.escape(provider) + r"/oauth2/end_session"))
        page.get_by_role("button", name="End session").click()
        page.wait_for_load_state()
        goto(page, f"{server.url}/overview?run={run_id}")
        expect(main(page).get_by_role("button", name="Log in", exact=True)).to_be_visible()
        assert main(page).get_by_role("heading", name="Overview", exact=True).count() == 0
    finally:
        context.close()


def test_viewer_sees_the_evidence_but_cannot_approve(app: tuple[Server, str], provider: str, browser: Any) -> None:
    server, run_id = app
    context, page = new_page(browser)
    try:
        goto(page, f"{server.url}/overview?run={run_id}")
        _log_in(page, provider, VIEWER)
        page.wait_for_url(re.compile(r"/overview\?"))
        wait_idle(page)
        expect(main(page).get_by_role("heading", name="Overview", exact=True)).to_be_visible()
        assert _sidebar_identity(page) == "vic@lab.example.com\nviewer"
        viewer_note = main(page).get_by_text("a viewer: you can read the evidence and the history", exact=False)
        expect(viewer_note).to_be_visible()
        assert main(page).get_by_role("button", name="Record review").count() == 0
        assert main(page).get_by_role("radiogroup").count() == 0  # no Decision choice either
        assert grids(page).count() >= 1  # the evidence is there
        screenshot(page, "login-viewer")
    finally:
        context.close()

    # a forged write through the engine, with the identity the provider asserts for vic: refused, nothing written
    secrets = {"embdiff": {"access": ROLES}}
    store = ReviewStore(server.home / "reviews.sqlite3", policy=load_policy(secrets, environ={}))
    before = store.count()
    vic = Identity(subject=VIEWER["sub"], email=VIEWER["email"], issuer=provider, verified=True)
    with pytest.raises(AccessDenied, match="vic@lab.example.com is not a reviewer"):
        store.record(run_id, decision="approve", identity=vic, justification="forged",
                     runs=RunStore(server.home / "runs"))
    assert store.count() == before and store.verify().ok
