"""The run store: one immutable directory per comparison under ``$EMBDIFF_HOME/runs``.

A run directory holds ``manifest.json`` (dataset fingerprint, model ids and fingerprints or
vector-file hashes, every parameter, library versions, time), arrays as ``.npy`` and tables as
Parquet. It is written into a temporary sibling directory (``.tmp-…``) and renamed into place in
one ``os.rename``, so a crash or a kill never leaves a visible half run: a run either exists
complete or not at all. Temporary leftovers of killed writers are never listed and are removed
by :meth:`RunStore.cleanup` once stale.

The run id derives from the inputs (:func:`run_id_for`): the same comparison maps to the same id
and is not computed twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from diagnostics._home import embdiff_home
from diagnostics._validation import InputError, check_run_id, is_run_id, short_error

__all__ = ["RunStore", "RunCorruptError", "RunNotFoundError", "SavedRun", "content_digest", "run_id_for"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,63}$")
_TMP_PREFIX = ".tmp-"
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
#: Manifest key listing every array and table of a run with its size in bytes, checked on open.
CONTENTS = "contents"
#: Manifest key with the SHA-256 of every array and table file, and the key of the run's content digest.
HASHES = "contents_sha256"
DIGEST = "digest"
_FOLDERS = {"arrays": ".npy", "tables": ".parquet"}


class RunNotFoundError(InputError):
    """No saved run has this id."""


class RunCorruptError(InputError):
    """A saved run exists but cannot be read (damaged on disk)."""


def run_id_for(inputs: Mapping[str, Any]) -> str:
    """Derive a run id from everything that determines a comparison's result.

    Parameters
    ----------
    inputs : mapping
        JSON-serialisable: dataset fingerprint, both models' fingerprints, every parameter.

    Returns
    -------
    str
        The first 16 hex characters of the SHA-256 of the canonical JSON of ``inputs``.

    Examples
    --------
    >>> run_id_for({"a": 1}) == run_id_for({"a": 1})
    True
    """
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_digest(manifest: Mapping[str, Any], hashes: Mapping[str, Mapping[str, str]]) -> str:
    """The run's content digest: SHA-256 of the canonical JSON of its manifest (every parameter, the
    verdict, the inputs' fingerprints) with the SHA-256 of each array and table file, ``digest`` left out.

    A review stores it (:mod:`diagnostics.reviews`): a run whose files or manifest changed after the review
    no longer matches it.
    """
    body = {key: value for key, value in manifest.items() if key not in (DIGEST, HASHES)}
    body[HASHES] = {folder: dict(sorted(files.items())) for folder, files in sorted(hashes.items())}
    canonical = json.dumps(json.loads(json.dumps(body, default=str)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InputError(f"array or table name {name[:40]!r} is not valid: use lower-case letters, digits, _ . @ -")
    return name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _listed(manifest: Mapping[str, Any], folder: str) -> dict[str, Any] | None:
    """The ``{name: size}`` list of ``folder`` in a manifest; ``None`` for runs written without one."""
    contents = manifest.get(CONTENTS)
    listed = contents.get(folder) if isinstance(contents, dict) else None
    return listed if isinstance(listed, dict) else None


@dataclass(frozen=True)
class SavedRun:
    """Read access to one saved run. Arrays open memory-mapped.

    The manifest lists every array and table with the size it was written with: a file that is
    listed but missing, or whose size changed (truncated, overwritten), raises
    :class:`RunCorruptError` when it is read, before any parsing.
    """

    run_id: str
    path: Path
    manifest: dict[str, Any]

    def _file(self, folder: str, name: str) -> Path:
        noun = folder[:-1]
        file = self.path / folder / f"{_check_name(name)}{_FOLDERS[folder]}"
        try:
            size = file.stat().st_size if file.is_file() else None
        except OSError:
            size = None
        if size is None:
            raise RunCorruptError(f"run {self.run_id} has no {noun} {name!r}; the run is incomplete or damaged")
        written = (_listed(self.manifest, folder) or {}).get(name)
        if written is not None and written != size:
            raise RunCorruptError(
                f"run {self.run_id}: {noun} {name!r} cannot be read: it has {size} bytes but {written} were "
                "written (truncated or overwritten); the run is damaged: delete it and make it again"
            )
        return file

    def array(self, name: str, *, mmap: bool = True) -> NDArray[Any]:
        """Load array ``name`` (memory-mapped by default: a page reads only what it shows)."""
        file = self._file("arrays", name)
        try:
            loaded: NDArray[Any] = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise RunCorruptError(
                f"run {self.run_id}: array {name!r} cannot be read ({short_error(err)}); the run is damaged: "
                "delete it and make it again"
            ) from None
        return loaded

    def check_table(self, name: str) -> None:
        """Check table ``name`` without reading its data: there, of the size it was written with, and with a
        readable Parquet footer (what :meth:`table` raises for a damaged file, raised at opening)."""
        import pyarrow.parquet as pq

        file = self._file("tables", name)
        try:
            pq.read_metadata(file)
        except Exception as err:  # pyarrow raises many types for damaged files
            raise RunCorruptError(f"run {self.run_id}: table {name!r} cannot be read ({type(err).__name__})") from None

    def table(self, name: str, *, columns: list[str] | None = None) -> pd.DataFrame:
        """Load table ``name`` (Parquet), optionally only some columns."""
        file = self._file("tables", name)
        try:
            return pd.read_parquet(file, columns=columns)
        except Exception as err:  # pyarrow raises many types for damaged files
            raise RunCorruptError(f"run {self.run_id}: table {name!r} cannot be read ({type(err).__name__})") from None

    def has_array(self, name: str) -> bool:
        """Whether the run has array ``name`` (listed in its manifest, or on disk for older runs)."""
        listed = _listed(self.manifest, "arrays")
        return name in listed if listed is not None else (self.path / "arrays" / f"{_check_name(name)}.npy").is_file()

    def has_table(self, name: str) -> bool:
        """Whether the run has table ``name`` (listed in its manifest, or on disk for older runs)."""
        listed = _listed(self.manifest, "tables")
        if listed is not None:
            return name in listed
        return (self.path / "tables" / f"{_check_name(name)}.parquet").is_file()

    @property
    def digest(self) -> str:
        """The content digest written with the run (:func:`content_digest`); for runs saved before
        digests existed, the digest of their files as they are now."""
        stored = self.manifest.get(DIGEST)
        return str(stored) if isinstance(stored, str) and stored else self.current_digest()

    def current_digest(self) -> str:
        """The content digest recomputed from the files on disk now (reads every array and table)."""
        hashes: dict[str, dict[str, str]] = {}
        for folder, suffix in _FOLDERS.items():
            listed = _listed(self.manifest, folder)
            names = list(listed) if listed is not None else sorted(
                p.name[: -len(suffix)] for p in (self.path / folder).glob(f"*{suffix}"))
            files: dict[str, str] = {}
            for name in names:
                file = self.path / folder / f"{_check_name(str(name))}{suffix}"
                files[str(name)] = _sha256_file(file) if file.is_file() else "missing"
            hashes[folder] = files
        return content_digest(self.manifest, hashes)

    def verify(self) -> None:
        """Check that every array and table the manifest lists is present with its written size.

        Raises
        ------
        RunCorruptError
            Naming the first missing or resized file.
        """
        for folder in _FOLDERS:
            for name in _listed(self.manifest, folder) or {}:
                self._file(folder, str(name))


class RunStore:
    """Saved runs under ``root`` (default ``$EMBDIFF_HOME/runs``)."""

    def __init__(self, root: Path | str | None = None) -> None:
        try:
            self.root = Path(root) if root is not None else embdiff_home() / "runs"
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(
                f"the run store cannot be created ({err.strerror or type(err).__name__}); "
                "set EMBDIFF_HOME to a writable directory"
            ) from None

    def path(self, run_id: str) -> Path:
        """The directory of a run; ``run_id`` is validated first, so no path can escape the store."""
        return self.root / check_run_id(run_id)

    def exists(self, run_id: str) -> bool:
        return (self.path(run_id) / MANIFEST).is_file()

    def list_runs(self) -> list[dict[str, Any]]:
        """Manifests of every complete run, newest first; damaged runs are listed with ``error``."""
        runs: list[dict[str, Any]] = []
        for entry in self.root.iterdir():
            if not is_run_id(entry.name) or not entry.is_dir():
                continue  # temporary directories of writers (.tmp-…) and anything that is not a run
            try:
                runs.append(self.open(entry.name).manifest)
            except RunNotFoundError:
                continue
            except InputError as err:
                runs.append({"run_id": entry.name, "error": str(err), "created_at": ""})
        return sorted(runs, key=lambda m: str(m.get("created_at", "")), reverse=True)

    def open(self, run_id: str) -> SavedRun:
        """Open a saved run for reading.

        Raises
        ------
        InputError
            The id is malformed.
        RunNotFoundError
            No run has this id.
        RunCorruptError
            The run's manifest is missing or unreadable.
        """
        path = self.path(run_id)
        if not path.is_dir():
            raise RunNotFoundError(
                f"no saved run has the id {run_id!r}: it may have been made on another server or deleted; "
                "make it again with `embdiff compare` or the Load page"
            )
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise RunCorruptError(
                f"saved run {run_id} is damaged: its manifest cannot be read; delete it and make it again"
            ) from None
        if not isinstance(manifest, dict) or manifest.get("run_id") != run_id:
            raise RunCorruptError(f"saved run {run_id} is damaged: its manifest does not describe this run")
        return SavedRun(run_id=run_id, path=path, manifest=manifest)

    def write(
        self,
        run_id: str,
        manifest: Mapping[str, Any],
        *,
        arrays: Mapping[str, NDArray[Any]] | None = None,
        tables: Mapping[str, pd.DataFrame] | None = None,
    ) -> SavedRun:
        """Write a run atomically: everything into a temporary directory, fsync, one rename.

        If the run already exists it is left untouched and returned (runs are immutable).
        On any error the temporary directory is removed and nothing is visible. Temporary directories
        of writers killed more than an hour ago are removed first (:meth:`cleanup`).
        """
        final = self.path(run_id)
        if self.exists(run_id):
            return self.open(run_id)
        self.cleanup()  # leftovers of writers killed more than an hour ago
        tmp = self.root / f"{_TMP_PREFIX}{run_id}-{uuid.uuid4().hex[:8]}"
        contents: dict[str, dict[str, int]] = {"arrays": {}, "tables": {}}
        hashes: dict[str, dict[str, str]] = {"arrays": {}, "tables": {}}
        try:
            (tmp / "arrays").mkdir(parents=True)
            (tmp / "tables").mkdir()
            for name, array in (arrays or {}).items():
                file = tmp / "arrays" / f"{_check_name(name)}.npy"
                with open(file, "wb") as fh:
                    np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
                    fh.flush()
                    os.fsync(fh.fileno())
                contents["arrays"][name] = file.stat().st_size
                hashes["arrays"][name] = _sha256_file(file)
            for name, table in (tables or {}).items():
                file = tmp / "tables" / f"{_check_name(name)}.parquet"
                table.to_parquet(file, index=False)
                with open(file, "rb") as fh:
                    os.fsync(fh.fileno())
                contents["tables"][name] = file.stat().st_size
                hashes["tables"][name] = _sha256_file(file)
            body = {**manifest, "run_id": run_id, "format_version": FORMAT_VERSION, CONTENTS: contents}
            body.setdefault("created_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            body[HASHES] = hashes
            body[DIGEST] = content_digest(body, hashes)
            with open(tmp / MANIFEST, "w", encoding="utf-8") as fh:
                json.dump(body, fh, indent=2, sort_keys=True, default=str)
                fh.flush()
                os.fsync(fh.fileno())
            _fsync_dir(tmp)
            try:
                os.rename(tmp, final)
            except OSError:
                if not self.exists(run_id):  # not a lost race with an identical writer
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
            _fsync_dir(self.root)
        except OSError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            # numpy reports a short write (disk full, file size limit) without an errno
            reason = err.strerror or f"a file was written only in part ({short_error(err)}): is the disk full?"
            raise InputError(
                f"could not save run {run_id}: {reason} — free disk space or set EMBDIFF_HOME "
                "to a writable directory; nothing was saved"
            ) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.open(run_id)

    def cleanup(self, *, max_age_seconds: float = 3600.0) -> int:
        """Remove temporary directories of writers that died more than ``max_age_seconds`` ago."""
        removed = 0
        now = time.time()
        for entry in self.root.glob(f"{_TMP_PREFIX}*"):
            try:
                age = now - entry.stat().st_mtime
            except OSError:  # another process removed it meanwhile
                continue
            if age > max_age_seconds:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        return removed
