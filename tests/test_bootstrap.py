"""The one place that touches Streamlit's private internals (ui/bootstrap.py) fails here, loudly and
fast, if a Streamlit upgrade moves what it relies on; the browser test on a fresh server
(test_browser.test_deep_link_to_an_inner_page_on_a_fresh_server) proves the behaviour end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit

from ui import bootstrap

ROOT = Path(__file__).resolve().parent.parent
BROKEN = (
    f"Streamlit {streamlit.__version__} changed PagesManager.uses_pages_directory, which ui/bootstrap.py "
    "switches off so that deep links to inner pages work on a fresh server: read its docstring, check "
    "whether the workaround is still needed, and adapt or retire it"
)


@pytest.fixture
def flag() -> Iterator[None]:
    """Leave the process-wide flag as it was found."""
    before = bootstrap.PagesManager.uses_pages_directory
    yield
    bootstrap.PagesManager.uses_pages_directory = before


def test_the_flag_the_workaround_flips_is_still_streamlit_s(flag: None) -> None:
    manager = bootstrap.PagesManager
    assert "uses_pages_directory" in vars(manager), BROKEN
    assert manager.__annotations__.get("uses_pages_directory") in ("bool | None", bool | None), BROKEN


def test_a_pages_folder_still_turns_legacy_mode_on_and_the_guard_turns_it_off(flag: None) -> None:
    # the trap: the first PagesManager of a process looks for pages/ beside the main script
    bootstrap.PagesManager.uses_pages_directory = None
    bootstrap.PagesManager(str(ROOT / "app.py"))
    assert bootstrap.PagesManager.uses_pages_directory is True, BROKEN
    # the way out
    assert bootstrap.leave_legacy_pages_mode() is True
    assert bootstrap.PagesManager.uses_pages_directory is False
    assert bootstrap.leave_legacy_pages_mode() is False  # once off, it stays off
