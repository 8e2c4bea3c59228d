"""Where the six published BEIR collections are: ``../shared/data/beir`` beside the repository.

They are used from there, never copied in. A clone made elsewhere (``git clone /work/main /tmp/x``)
finds them beside the repository it was cloned from; ``EMBDIFF_BEIR_ROOT`` overrides both.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_RELATIVE = Path("shared") / "data" / "beir"


def beir_root() -> Path:
    """The BEIR directory (it may not exist: callers say so where they need it)."""
    override = os.environ.get("EMBDIFF_BEIR_ROOT")
    if override:
        return Path(override)
    beside = REPO.parent / _RELATIVE
    if beside.is_dir():
        return beside
    try:  # a local clone: look beside the repository it came from
        origin = subprocess.run(["git", "-C", str(REPO), "config", "--get", "remote.origin.url"],  # noqa: S607
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        origin = ""
    if origin and Path(origin).is_dir():
        cloned_from = Path(origin).resolve().parent / _RELATIVE
        if cloned_from.is_dir():
            return cloned_from
    return beside
