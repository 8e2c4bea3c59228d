"""embdiff — diff two embedding models before you ship one.

Entry point: ``streamlit run app.py`` or ``embdiff app``. Every page goes through the
``st.navigation`` call below (see ``ui/bootstrap.py`` for why deep links need that).
"""

from __future__ import annotations

import streamlit as st

from ui.bootstrap import leave_legacy_pages_mode
from ui.home import home

leave_legacy_pages_mode()
st.set_page_config(page_title="embdiff", layout="wide")

pages = [st.Page(home, title="Home", url_path="home", default=True)]
st.navigation(pages).run()
