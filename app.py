"""embdiff — diff two embedding models before you ship one.

Entry point: ``streamlit run app.py`` or ``embdiff app``. Every page goes through the
``st.navigation`` call of :func:`ui.bootstrap.run_app`; see ``ui/bootstrap.py`` for why deep links
need that.
"""

from __future__ import annotations

from ui.bootstrap import run_app

run_app()
