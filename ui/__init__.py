"""The Streamlit layer: navigation, URL state and cached calls into :mod:`diagnostics`.

Only this package, ``app.py`` and ``pages/`` import streamlit.
"""
