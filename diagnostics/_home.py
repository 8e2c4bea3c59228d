"""Where embdiff keeps its data: ``$EMBDIFF_HOME``, by default ``~/.embdiff``."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = Path("~/.embdiff")


def embdiff_home() -> Path:
    """The root of the run store, the review database and the encoding cache.

    ``$EMBDIFF_HOME`` when set, else ``~/.embdiff``. Created on first use.
    """
    raw = os.environ.get("EMBDIFF_HOME")
    home = Path(raw).expanduser() if raw else DEFAULT_HOME.expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home
