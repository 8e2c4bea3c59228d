"""Shared input validation: the one place that raises the errors a user sees.

Every public entry point of :mod:`diagnostics` validates its input through this module, so that
every message has the same shape: what (file / parameter / record), what was expected, what was
found, and how to fix it. ``assert`` is never used for input checks (``python -O`` strips it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "InputError",
    "check_run_id",
    "check_k",
    "describe_ids",
]

RUN_ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")


class InputError(ValueError):
    """Bad user input: a file, a record, a parameter.

    The message names the file or parameter, what was expected, what was found and the fix.
    Pages catch exactly this type and show ``st.error``; the command line exits 2 with it.
    """


def describe_ids(ids: Iterable[str], *, limit: int = 3) -> str:
    """Return ``"12 ids (first: 'a', 'b', 'c')"`` for an error message."""
    seen = list(ids)
    head = ", ".join(repr(str(i)) for i in seen[:limit])
    noun = "id" if len(seen) == 1 else "ids"
    return f"{len(seen)} {noun} (first: {head})" if seen else "0 ids"


def display_path(path: str | Path) -> str:
    """A path as shown in a message: the file name and its parent, never more of the tree."""
    p = Path(path)
    return str(Path(p.parent.name) / p.name) if p.parent.name else p.name


def check_run_id(run_id: object) -> str:
    """Validate a run id from a URL, a command line or a file name.

    Run ids are 16 lower-case hex characters, so no path (``../x``, ``/etc``) can pass.
    The message never echoes more than a short, sanitised prefix of the input.
    """
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        shown = re.sub(r"[^0-9A-Za-z_-]", "?", str(run_id)[:20]) if run_id is not None else "nothing"
        raise InputError(
            f"run id {shown!r} is not valid: a run id is 16 lower-case hexadecimal characters "
            "as printed by `embdiff compare`; copy it from there or from the app's Load page"
        )
    return run_id


def check_k(k: object, *, name: str = "k", low: int = 1, high: int = 100) -> int:
    """Validate a neighbour count ``k`` (an int in ``[low, high]``)."""
    if isinstance(k, bool) or not isinstance(k, int | float | str):
        raise InputError(f"{name} must be a whole number from {low} to {high}; got {type(k).__name__}")
    try:
        value = float(k)
    except ValueError:
        raise InputError(f"{name} must be a whole number from {low} to {high}; got {str(k)[:20]!r}") from None
    if not math.isfinite(value) or value != int(value) or not low <= value <= high:
        raise InputError(f"{name} must be a whole number from {low} to {high}; got {str(k)[:20]!r}")
    return int(value)


def check_same_length(name_a: str, a: Sequence[object], name_b: str, b: Sequence[object]) -> None:
    """Raise when two parallel sequences differ in length."""
    if len(a) != len(b):
        raise InputError(f"{name_a} has {len(a)} entries but {name_b} has {len(b)}; they must match one to one")
