"""Make every entry into the app go through ``app.py``.

Streamlit decides once per server process, on the first session, whether the app uses the legacy
``pages/`` folder (``PagesManager.uses_pages_directory``). Until ``st.navigation`` first runs, a
deep link straight to an inner page (``/queries?run=…``) on a freshly started server executes that
page file on its own, skipping ``app.py`` and with it the session defaults and the navigation.
Review links depend on deep links, so each page calls :func:`page_guard` first: in that legacy run
it switches the flag off and reruns, and the rerun goes through ``app.py``'s ``st.navigation``,
which resolves the same page (same ``url_path``) with the same query string.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def leave_legacy_pages_mode() -> bool:
    """Switch Streamlit out of legacy ``pages/`` mode; True when it was on."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        return True
    return False


def page_guard() -> None:
    """First call of every page script: reroute a legacy-mode run through ``app.py``."""
    if leave_legacy_pages_mode():
        st.rerun()
