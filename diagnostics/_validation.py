"""Shared input validation: the one place that raises the errors a user sees.

Why one module past ~500 lines: it is the one validation module by design (issue 13); every argument
rule and every reader of untrusted files is defined once here, so that all messages share one wording.

Every public entry point of :mod:`diagnostics` validates its input through this module, so that
every message has the same shape: what (file / parameter / record), what was expected, what was
found, and how to fix it. ``assert`` is never used for input checks (``python -O`` strips it).
"""

from __future__ import annotations

import codecs
import io
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "InputError",
    "check_run_id",
    "check_candidate_name",
    "check_k",
    "check_seed",
    "check_unit_rows",
    "check_whole",
    "is_run_id",
    "NORM_TOLERANCE",
    "describe_ids",
    "display_path",
    "check_file",
    "read_utf8",
    "read_json_lines",
    "read_table",
    "table_format",
    "check_record_id",
    "short_error",
    "RawTable",
    "check_column_names",
    "arrow_values",
    "MAX_ID_LENGTH",
]

RUN_ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")

#: Longest record id accepted (characters). Ids travel into URLs, messages and every table of a run.
MAX_ID_LENGTH = 1024
#: Longest id shown in a message; longer ones are cut with an ellipsis.
_SHOWN_ID_LENGTH = 60
# A JSON escape of a UTF-16 surrogate: paired ones decode to one character, lone ones cannot be stored.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class InputError(ValueError):
    """Bad user input: a file, a record, a parameter.

    The message names the file or parameter, what was expected, what was found and the fix.
    Pages catch exactly this type and show ``st.error``; the command line exits 2 with it.
    """


def describe_ids(ids: Iterable[str], *, limit: int = 3, noun: str = "id", plural: str | None = None) -> str:
    """Return ``"12 ids (first: 'a', 'b', 'c')"`` for an error message (``noun``/``plural`` name them)."""
    seen = list(ids)
    head = ", ".join(repr(_clip(str(i))) for i in seen[:limit])
    many = plural or f"{noun}s"
    word = noun if len(seen) == 1 else many
    return f"{len(seen)} {word} (first: {head})" if seen else f"0 {many}"


def _clip(text: str, limit: int = _SHOWN_ID_LENGTH) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut), for messages."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as shown in a message: the file name and its parent, never more of the tree."""
    p = Path(path)
    return str(Path(p.parent.name) / p.name) if p.parent.name else p.name


def check_run_id(run_id: object) -> str:
    """Validate a run id from a URL, a command line or a file name.

    Run ids are 16 lower-case hex characters, so no path (``../x``, ``/etc``) can pass.
    The message never echoes more than a short, sanitised prefix of the input.
    """
    if not is_run_id(run_id):
        shown = re.sub(r"[^0-9A-Za-z_-]", "?", str(run_id)[:20]) if run_id is not None else "nothing"
        raise InputError(
            f"run id {shown!r} is not valid: a run id is 16 lower-case hexadecimal characters "
            "as printed by `embdiff compare`; copy it from there or from the app's Load page"
        )
    return str(run_id)


#: How far from 1 a row's L2 norm may be for the row to count as unit-length (float32 encoders, rounding).
NORM_TOLERANCE = 1e-3
#: Largest seed accepted: numpy and umap both take 32-bit unsigned seeds.
SEED_MAX = 2**32 - 1


def check_whole(
    value: object, *, name: str, low: int = 1, high: int | None = None, hint: str = "", strict: bool = False
) -> int:
    """Validate a whole number in ``[low, high]`` (``high`` None: no upper bound): a count, a cut-off, ``k``.

    Accepts ints, integral floats and digit strings (URL parameters, command-line values), or with
    ``strict`` only ints (numeric kernels, where a float or string means a caller's bug); the message
    names the parameter, the range, the value given (cut short) and, with ``hint``, what is usual.

    >>> check_whole("10", name="k", high=100)
    10
    """
    span = f"from {low} to {high}" if high is not None else f"of at least {low}"
    hint = f" ({hint})" if hint else ""
    shown = str(value)[:20] if isinstance(value, int | float | np.integer | np.floating) else repr(str(value)[:20])
    allowed = (int, np.integer) if strict else (int, float, str, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, allowed):
        raise InputError(f"{name} must be a whole number {span}{hint}; got {type(value).__name__}")
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"{name} must be a whole number {span}{hint}; got {shown}") from None
    if not math.isfinite(number) or number != int(number) or number < low or (high is not None and number > high):
        raise InputError(f"{name} must be a whole number {span}{hint}; got {shown}")
    return int(number)


def check_k(k: object, *, name: str = "k", low: int = 1, high: int = 100) -> int:
    """Validate a neighbor count or rank cut-off ``k`` (a whole number in ``[low, high]``)."""
    return check_whole(k, name=name, low=low, high=high)


def check_seed(value: object, *, name: str = "random_state", allow_generator: bool = False) -> Any:
    """Validate a random seed: a whole number from 0 to :data:`SEED_MAX` (results must be reproducible),
    or, where ``allow_generator``, a ``numpy.random.Generator`` (returned as is)."""
    if allow_generator and isinstance(value, np.random.Generator):
        return value
    what = " or a numpy Generator" if allow_generator else ""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"{name} must be an int seed from 0 to {SEED_MAX}{what} (results must be reproducible); "
                         f"got {type(value).__name__}")
    if not 0 <= int(value) <= SEED_MAX:
        raise InputError(f"{name} must be an int seed from 0 to {SEED_MAX}{what}; got {int(value)}")
    return int(value)


def check_unit_rows(m: np.ndarray[Any, Any], name: str, *, chunk: int = 65536) -> None:
    """Every row of the float32 matrix ``m`` finite and of unit L2 norm (to :data:`NORM_TOLERANCE`).

    Scans in chunks (no full-size temporary). The message names the first bad row and the fix.
    """
    for start in range(0, m.shape[0], chunk):
        part = m[start : start + chunk]
        finite = np.isfinite(part).all(axis=1)
        if not finite.all():
            raise InputError(
                f"{name} row {start + int(np.argmin(finite))} contains NaN or infinity; every vector must be "
                "finite (re-encode that record or drop it)"
            )
        norms = np.sqrt(np.einsum("ij,ij->i", part, part, dtype=np.float64))
        off = np.abs(norms - 1.0) > NORM_TOLERANCE
        if off.any():
            row = int(np.argmax(off))
            raise InputError(
                f"{name} must be L2-normalised (cosine similarity is a dot product of unit vectors), "
                f"but row {start + row} has norm {norms[row]:.4g}; divide each row by its norm (or encode with "
                "normalize_embeddings=True); an all-zero vector cannot be normalised and must be dropped"
            )


def is_run_id(text: object) -> bool:
    """Whether ``text`` is a well-formed run id (for listings and links, where a bad one is skipped)."""
    return isinstance(text, str) and RUN_ID_PATTERN.fullmatch(text) is not None


_CANDIDATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


def check_candidate_name(name: object) -> str:
    """A candidate's name (``--tuned NAME=PATH``): 1–40 letters, digits, ``_``, ``.``, ``-``, starting with a
    letter or digit; it appears in tables, JSON keys and URLs."""
    if not isinstance(name, str) or not _CANDIDATE_NAME.match(name) or name == "overall":
        raise InputError(f"candidate name {_clip(str(name))!r} is not valid: use 1-40 letters, digits, '_', '.' "
                         "or '-', starting with a letter or digit (and not 'overall')")
    return name


def check_same_length(name_a: str, a: Sequence[object], name_b: str, b: Sequence[object]) -> None:
    """Raise when two parallel sequences differ in length."""
    if len(a) != len(b):
        raise InputError(f"{name_a} has {len(a)} entries but {name_b} has {len(b)}; they must match one to one")


# --------------------------------------------------------------------------------------------------
# Reading user files: every failure becomes an InputError that names the file (never its full path),
# the line or row, and the fix.
# --------------------------------------------------------------------------------------------------

TABLE_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

_PARQUET_ERRORS = (pa.ArrowException, OSError, ValueError)


def short_error(exc: BaseException, *, limit: int = 160) -> str:
    """The first line of a library exception's message, without any file-system path in it."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"(?:[A-Za-z]:)?(?:/[^\s/:'\"]+){2,}/?", "<path>", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_file(path: str | os.PathLike[str], *, label: str | None = None) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path` after checking that it is an existing, non-empty file."""
    p = Path(path)
    shown = label or display_path(p)
    if not p.exists():
        raise InputError(f"{shown} does not exist: expected a file there; check the path and the file name")
    if not p.is_file():
        raise InputError(f"{shown} is not a file (a directory?): pass the path of the file itself")
    if p.stat().st_size == 0:
        raise InputError(f"{shown} is empty (0 bytes): it holds no records; write the file again")
    return p


def check_directory(path: str | os.PathLike[str], *, what: str = "the dataset directory",
                    hint: str = "pass the directory that holds corpus.jsonl") -> Path:
    """Return ``path`` as a :class:`~pathlib.Path` after checking that it is an existing directory."""
    root = Path(path)
    if not root.exists():
        raise InputError(f"{display_path(root)} does not exist: check the path of {what}")
    if not root.is_dir():
        raise InputError(f"{display_path(root)} is not a directory: {hint}")
    return root


def read_utf8(path: str | os.PathLike[str], *, label: str | None = None) -> str:
    """Read a whole text file as UTF-8 (a leading byte-order mark is dropped).

    Raises
    ------
    InputError
        The file is missing, empty (or only white space), not UTF-8 (the message gives the line),
        or binary (it holds NUL characters).
    """
    p = check_file(path, label=label)
    shown = label or display_path(p)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{shown} cannot be read ({exc.strerror}); check its permissions") from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{shown}, line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file with UTF-8 encoding (e.g. `iconv -f latin1 -t utf-8`)"
        ) from None
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise InputError(
            f"{shown}, line {line}: holds a NUL character, so it looks like a binary file, not text; "
            "pass the text file itself"
        )
    if not text.strip():
        raise InputError(f"{shown} is empty (only white space): it holds no records; write the file again")
    return text


def read_json_lines(text: str, *, label: str) -> list[tuple[int, dict[str, Any]]]:
    """Parse JSON Lines: one JSON object per line, blank lines skipped.

    Returns ``(line_number, record)`` pairs, line numbers counted from 1.
    """
    records: list[tuple[int, dict[str, Any]]] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{label}, line {number}: not valid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno}); "
                "JSON Lines needs one complete JSON object per line"
            ) from None
        except RecursionError:
            raise InputError(f"{label}, line {number}: JSON nested too deeply; write one flat object") from None
        except ValueError as exc:  # e.g. an integer of more than 4300 digits
            raise InputError(
                f"{label}, line {number}: not valid JSON ({short_error(exc, limit=80)}); "
                "write ids and numbers of ordinary size"
            ) from None
        if not isinstance(record, dict):
            raise InputError(
                f"{label}, line {number}: expected a JSON object ({{...}}), found {_json_kind(record)}; "
                "write one object per line"
            )
        if _SURROGATE_ESCAPE.search(line) and not _encodable(record):
            raise InputError(
                f"{label}, line {number}: holds an unpaired UTF-16 surrogate escape (\\ud800-\\udfff), "
                "which is not a character; fix the text that produced it (it was cut in the middle of a character)"
            )
        records.append((number, record))
    if not records:
        raise InputError(f"{label} holds no JSON records; write one JSON object per line")
    return records


def _encodable(record: dict[str, Any]) -> bool:
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_kind(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


@dataclass(frozen=True, eq=False)
class RawTable:
    """Columns of a user table as read, before validation (values are Python objects).

    ``lines`` holds the line number of each row in the file (JSON Lines, tab-separated qrels);
    without it rows are numbered from 1 (CSV data rows after the header, Parquet rows).
    """

    label: str
    columns: dict[str, list[Any]]
    n_rows: int
    lines: list[int] | None = None
    unit: str = "row"

    def where(self, row: int) -> str:
        """``"docs.csv, data row 3"`` / ``"corpus.jsonl, line 12"`` for record ``row`` (0-based)."""
        if self.lines is not None:
            return f"{self.label}, line {self.lines[row]}"
        return f"{self.label}, {self.unit} {row + 1}"

    def optional(self, names: Sequence[str]) -> list[Any] | None:
        """The first column among ``names`` (aliases), ``None`` when there is none."""
        for name in names:
            if name in self.columns:
                return self.columns[name]
        return None

    def column(self, names: Sequence[str], *, what: str) -> list[Any]:
        """The first column among ``names`` (aliases); an InputError that names the fix when absent."""
        found_column = self.optional(names)
        if found_column is not None:
            return found_column
        found = ", ".join(repr(c) for c in list(self.columns)[:12]) or "none"
        also = f" (or {', '.join(repr(n) for n in names[1:])})" if len(names) > 1 else ""
        raise InputError(
            f"{self.label} has no {names[0]!r} column{also}; found columns: {found}; "
            f"add the column {names[0]!r} with the {what}"
        )


def table_format(path: str | os.PathLike[str], *, label: str | None = None, allowed: Iterable[str] = ()) -> str:
    """The table format of ``path`` from its extension: ``csv``, ``tsv``, ``parquet`` or ``jsonl``."""
    p = Path(path)
    fmt = TABLE_SUFFIXES.get(p.suffix.lower())
    allowed = tuple(allowed) or ("csv", "tsv", "parquet", "jsonl")
    if fmt is None or fmt not in allowed:
        shown = label or display_path(p)
        exts = ", ".join(s for s, f in TABLE_SUFFIXES.items() if f in allowed)
        raise InputError(
            f"{shown}: unsupported file type {p.suffix or '(no extension)'!r}; expected one of {exts}; "
            "convert the table or rename it with the right extension"
        )
    return fmt


def read_table(path: str | os.PathLike[str], *, label: str | None = None, allowed: Iterable[str] = ()) -> RawTable:
    """Read a CSV, TSV, Parquet or JSON Lines table by its extension; column names are lower-cased.

    Every value is returned as read (CSV: ``str``; JSON Lines and Parquet: Python objects, ``None``
    for a missing field). An empty table (no rows) is an InputError.
    """
    p = Path(path)
    shown = label or display_path(p)
    fmt = table_format(p, label=shown, allowed=allowed)
    if fmt == "parquet":
        table = _read_parquet_columns(p, label=shown)
    elif fmt == "jsonl":
        records = read_json_lines(read_utf8(p, label=shown), label=shown)
        names: dict[str, None] = {}
        for _, record in records:
            names.update(dict.fromkeys(record))
        check_column_names(list(names), label=shown)
        columns = {str(k).strip().lower(): [r.get(k) for _, r in records] for k in names}
        table = RawTable(shown, columns, len(records), [n for n, _ in records])
    else:
        table = _read_delimited(read_utf8(p, label=shown), sep="," if fmt == "csv" else "\t", label=shown)
    if table.n_rows == 0:
        raise InputError(f"{shown} holds no records (0 rows); add records or leave the file out")
    return table


def check_column_names(names: Sequence[object], *, label: str) -> None:
    """Refuse column names that become equal once lower-cased and stripped (``id`` and ``ID``)."""
    seen: dict[str, str] = {}
    for name in names:
        key = str(name).strip().lower()
        if key in seen:
            raise InputError(
                f"{label} has the columns {_clip(seen[key], 40)!r} and {_clip(str(name), 40)!r}, which embdiff "
                "cannot tell apart (column names ignore case and surrounding spaces); rename or drop one of them"
            )
        seen[key] = str(name)


def _read_delimited(text: str, *, sep: str, label: str) -> RawTable:
    kind = "CSV" if sep == "," else "tab-separated"
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{label} is empty: it holds no header and no records; write the file again") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(
            f"{label}: not a valid {kind} table ({short_error(exc)}); "
            "every row needs as many fields as the header; quote fields that hold the separator"
        ) from None
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas silently turns the first field into an index when the first data row has more
        # fields than the header, shifting every column by one.
        raise InputError(
            f"{label}, data row 1: more fields than the header has ({len(frame.columns)}); "
            f"every row of a {kind} table needs as many fields as the header; quote fields that hold the separator"
        )
    check_column_names(list(frame.columns), label=label)
    columns = {str(c).strip().lower(): frame[c].tolist() for c in frame.columns}
    return RawTable(label, columns, len(frame), unit="data row")


def _read_parquet_columns(path: Path, *, label: str) -> RawTable:
    check_file(path, label=label)
    try:
        table = pq.read_table(path)
    except _PARQUET_ERRORS as exc:
        raise InputError(
            f"{label} is not a readable Parquet file ({short_error(exc)}): it may be truncated or corrupt; "
            "write it again"
        ) from None
    check_column_names(table.column_names, label=label)
    columns = {
        str(name).strip().lower(): arrow_values(table.column(name), label=label, name=name)
        for name in table.column_names
    }
    return RawTable(label, columns, table.num_rows)


# Converting Arrow values to Python objects fails in many ways on damaged or unusual columns
# (a date out of range, invalid UTF-8, an unknown time zone).
_ARROW_VALUE_ERRORS = (pa.ArrowException, ValueError, OverflowError, TypeError, KeyError, UnicodeDecodeError)


def arrow_values(column: pa.ChunkedArray | pa.Array, *, label: str, name: str) -> list[Any]:
    """The values of one Arrow column as Python objects; an InputError naming the column when they cannot be."""
    try:
        values: list[Any] = column.to_pylist()
    except _ARROW_VALUE_ERRORS as exc:
        raise InputError(
            f"{label}: the column {_clip(str(name), 40)!r} cannot be read ({short_error(exc)}): it is damaged "
            "or of an unusual type (such as a date out of range); write it again with plain strings and numbers"
        ) from None
    return values


def check_record_id(value: object, *, where: str, what: str = "id") -> str:
    """A record id as ``str``, surrounding white space removed.

    Strings and integers (``7`` becomes ``"7"``) pass; empty, missing and other values raise.
    """
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise InputError(f"{where}: the {what} is empty; give every record a unique, non-empty {what}")
    elif isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        text = str(value)
    else:
        text = ""
    if text:
        if len(text) > MAX_ID_LENGTH:
            raise InputError(
                f"{where}: the {what} is {len(text)} characters long (starts {_clip(text, 30)!r}); "
                f"ids may have at most {MAX_ID_LENGTH} characters: use a shorter id, e.g. a hash of the long one"
            )
        return text
    if value is None:
        raise InputError(f"{where}: the record has no {what}; give every record a unique, non-empty {what}")
    raise InputError(
        f"{where}: the {what} must be a string or a whole number, found {type(value).__name__} "
        f"{str(value)[:30]!r}; write the {what} as text"
    )
