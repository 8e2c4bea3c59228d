"""Where the app (``app.py``, ``pages/``, ``ui/``) and the bundled sample (``sample_data/``) are.

A source checkout keeps them beside ``diagnostics/`` at the repository root. The wheel installs the same
files as package data of ``embdiff_app``, beside ``diagnostics`` in ``site-packages`` (pyproject.toml maps
``embdiff_app`` to the repository root), so an installed embdiff has its app and its sample without any
checkout. Both layouts put them in the same place relative to this package, looked up in that order.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["app_dir"]

_PARENT = Path(__file__).resolve().parents[1]


def app_dir() -> Path:
    """The directory holding ``app.py``, ``pages/``, ``ui/`` and ``sample_data/``.

    ``site-packages/embdiff_app`` for an installed wheel, else the repository root of a checkout (an
    editable install included).
    """
    for candidate in (_PARENT / "embdiff_app", _PARENT):
        if (candidate / "app.py").is_file():
            return candidate
    return _PARENT / "embdiff_app"  # a broken install: callers then name the missing file
