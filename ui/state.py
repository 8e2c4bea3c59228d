"""The view lives in the URL: ``?run=<id>&domain=…&query=…&k=…&color=…&source=…`` (the page is the path).

The Run diff page reads two runs instead of one: ``/diff?a=<id>&b=<id>`` (A then, B now; see ``ui/diff.py``).

``source`` is what the Queries page lists: ``queries`` (default, omitted) or ``synthetic`` (the
known-item checks); ``query`` is then a query id or a check id.

Every page reads its state from the query string through :func:`view` and writes changes back
with :func:`set_params`, so a copied link reopens the same view for someone else, on another
session or a restarted server. Malformed values get a clear message, never a traceback or a path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlencode

import streamlit as st

from diagnostics._validation import InputError, check_k, check_run_id, is_run_id
from diagnostics.result import Comparison
from diagnostics.runs import RunCorruptError
from ui.auth import account_box
from ui.data import open_run
from ui.safe import escape_markdown

PARAMS = ("run", "domain", "query", "k", "color", "source", "a", "b", "set", "target")
COLORS = ("domain", "overlap", "delta")
SOURCES = ("queries", "synthetic")
PAGES = {
    "load": ("pages/load.py", "Load"),
    "overview": ("pages/overview.py", "Overview"),
    "projection": ("pages/projection.py", "Projection"),
    "neighborhoods": ("pages/neighborhoods.py", "Neighborhoods"),
    "collapse": ("pages/collapse.py", "Cluster collapse"),
    "queries": ("pages/queries.py", "Queries"),
    "diff": ("pages/diff.py", "Run diff"),
}
#: Page paths that were renamed, old → new: links people saved keep working (see ui.bootstrap.run_app).
RENAMED_PAGES = {"neighbourhoods": "neighborhoods"}
_MAX_PARAM = 200


class PageStop(Exception):  # noqa: N818 - a control-flow signal, like Streamlit's StopException
    """A page ends itself after showing a message (see :func:`stop_page`)."""


def stop_page() -> NoReturn:
    """End the current page here. Unlike ``st.stop()``, which ends the whole run, this returns to
    :func:`ui.bootstrap.run_app`, which still draws the sidebar with the URL as the page left it."""
    raise PageStop


@dataclass(frozen=True)
class View:
    """The validated view state of the current URL."""

    run_id: str | None
    domain: str | None
    query: str | None
    k: int | None
    color: str
    source: str = "queries"


def raw_params() -> dict[str, str]:
    """The known query parameters, first value only, truncated."""
    out: dict[str, str] = {}
    for key in PARAMS:
        value = st.query_params.get(key)
        if value is not None and value != "":
            out[key] = str(value)[:_MAX_PARAM]
    return out


def set_params(**changes: Any) -> None:
    """Write view changes to the URL (``None`` removes a parameter); unchanged values are not rewritten."""
    for key, value in changes.items():
        if key not in PARAMS:
            raise KeyError(key)
        current = st.query_params.get(key)
        if value is None or value == "":
            if current is not None:
                del st.query_params[key]
        elif current != str(value):
            st.query_params[key] = str(value)


def view() -> View:
    """Parse and validate the URL's view state; a bad value shows a message and is dropped."""
    raw = raw_params()
    run_id = raw.get("run")
    if run_id is not None:
        try:
            run_id = check_run_id(run_id)
        except InputError as err:
            st.error(escape_markdown(err))
            run_id = None
    k: int | None = None
    if "k" in raw:
        try:
            k = check_k(raw["k"], low=1, high=100)
        except InputError as err:
            st.warning(escape_markdown(f"{err}; showing the default instead"))
    color = raw.get("color", "domain")
    if color not in COLORS:
        st.warning(f"color must be one of {', '.join(COLORS)}; showing by domain")
        color = "domain"
    source = raw.get("source", "queries")
    if source not in SOURCES:
        st.warning(f"source must be one of {', '.join(SOURCES)}; showing the queries")
        source = "queries"
    return View(run_id=run_id, domain=raw.get("domain"), query=raw.get("query"), k=k, color=color, source=source)


def require_run() -> tuple[View, Comparison]:
    """The current run, or a message (no run / unknown / damaged) and stop. Its tables are read when first
    used, so a page reads only what it shows."""
    state = view()
    if state.run_id is None:
        st.info("No run selected. Open the bundled sample or make a comparison on the Load page.")
        st.page_link(PAGES["load"][0], label="Go to Load", query_params={})
        stop_page()
    try:
        result = open_run(state.run_id)
    except RunCorruptError as err:
        st.error(escape_markdown(f"{err}. Other runs are not affected."))
        stop_page()
    except InputError as err:
        st.error(escape_markdown(err))
        st.page_link(PAGES["load"][0], label="Go to Load", query_params={})
        stop_page()
    domains = result.manifest["dataset"]["domains"]
    if state.domain is not None and state.domain not in domains:
        st.warning(escape_markdown(f"domain {state.domain[:40]!r} is not in this run; showing all domains"))
        state = View(state.run_id, None, state.query, state.k, state.color, state.source)
    return state, result


def synced(key: str, url_value: Any) -> str:
    """Give the keyed widget ``key`` the URL's value whenever the URL changed since the widget wrote it.

    A widget whose default comes from the URL needs a key and no default argument: without a key
    its id changes with the default, so Streamlit would make a new widget on the next run and drop
    the user's next change. Call this just before creating the widget (``key=synced(...)``) and
    :func:`wrote` after writing the widget's value to the URL. Returns ``key``.
    """
    marker = f"_url:{key}"
    if key not in st.session_state or st.session_state.get(marker) != url_value:
        st.session_state[key] = url_value
        st.session_state[marker] = url_value
    return key


def wrote(key: str, value: Any) -> None:
    """Record that the widget ``key``'s ``value`` is now in the URL (see :func:`synced`)."""
    st.session_state[f"_url:{key}"] = value


def link_params(**overrides: Any) -> dict[str, str]:
    """The current view's parameters with overrides, for ``st.page_link`` / ``st.switch_page``."""
    params = raw_params()
    for key, value in overrides.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return params


def share_url(page: str) -> str:
    """The full URL of the current view on ``page``, to copy into a review or a ticket."""
    base = (st.context.url or "").split("?")[0].rstrip("/")
    root = base.rsplit("/", 1)[0] if base.rsplit("/", 1)[-1] in PAGES else base
    query = urlencode(raw_params())
    return f"{root}/{page}" + (f"?{query}" if query else "")


def sidebar() -> None:
    """Page links that keep the view's query string (the built-in navigation drops it)."""
    params = raw_params()
    with st.sidebar:
        st.markdown("### embdiff")
        for path, label in PAGES.values():
            st.page_link(path, label=label, query_params=params)
        if is_run_id(params.get("run", "")):
            st.caption("Run")
            # text, not st.code: a code block makes every page fetch and run a 1.5 MB highlighter
            st.text(params["run"])
        account_box()
