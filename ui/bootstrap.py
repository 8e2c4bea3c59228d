"""Make every entry into the app go through the app's own ``st.navigation``.

Streamlit decides once per server process, on the first session, whether the app uses the legacy
``pages/`` folder (``PagesManager.uses_pages_directory``). Until ``st.navigation`` first runs, a
deep link straight to an inner page (``/queries?run=…``) on a freshly started server executes that
page file on its own, skipping ``app.py`` and with it the page config, the navigation and the
sidebar. Review links depend on deep links, so each page calls :func:`page_guard` first: in that
legacy run it switches the flag off and runs the app (:func:`run_app`) in place, whose
``st.navigation`` resolves the same page (same ``url_path``) with the same query string; then it
stops the legacy run. Running in place rather than rerunning keeps the run's widget events
(Streamlit's ``AppTest`` resets the flag before every run, so a rerun would drop each click).
"""

from __future__ import annotations

import contextlib

import streamlit as st
from streamlit.navigation.page import StreamlitPage
from streamlit.runtime.pages_manager import PagesManager


def leave_legacy_pages_mode() -> bool:
    """Switch Streamlit out of legacy ``pages/`` mode; True when it was on."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        return True
    return False


def run_app() -> None:
    """The app: page config, UMAP warm-up, navigation (``?page=`` honoured), the current page, sidebar.

    Pages end early with :func:`ui.state.stop_page`, not ``st.stop()``, so the sidebar is always drawn.
    """
    import ui.projection_map  # noqa: F401  # registers the canvas map now, not on the first projection link
    from ui.auth import gate
    from ui.state import PAGES, RENAMED_PAGES, PageStop, sidebar
    from ui.warmup import start_warmup

    leave_legacy_pages_mode()
    st.set_page_config(page_title="embdiff", layout="wide")
    start_warmup()
    pages = [
        st.Page(path, title=title, url_path=name, default=(name == "load"))
        for name, (path, title) in PAGES.items()
    ]
    pages += [_renamed(old, new, PAGES) for old, new in RENAMED_PAGES.items()]
    page = st.navigation(pages, position="hidden")
    if not gate():  # login required and not (yet) allowed: the login screen is all this run shows
        return
    requested = st.query_params.get("page")
    requested = RENAMED_PAGES.get(requested, requested) if requested is not None else None
    if requested is not None:  # ?page=queries&run=… also works, as in the design's link format
        del st.query_params["page"]
        if requested in PAGES and requested != page.url_path:
            st.switch_page(PAGES[requested][0], query_params=dict(st.query_params))
    with contextlib.suppress(PageStop):  # the page showed why it ended early
        page.run()
    sidebar()  # after the page, so that its links carry the URL as the page's widgets left it


def _renamed(old: str, new: str, pages: dict[str, tuple[str, str]]) -> StreamlitPage:
    """A hidden page at a renamed page's old path that forwards to the new one with the same query."""

    def forward() -> None:
        st.switch_page(pages[new][0], query_params=dict(st.query_params))

    forward.__name__ = f"renamed_{old}"
    return st.Page(forward, title=pages[new][1], url_path=old)


def page_guard() -> None:
    """First call of every page script: route a legacy-mode run through :func:`run_app`."""
    if leave_legacy_pages_mode():
        run_app()
        st.stop()
