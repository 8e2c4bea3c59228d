"""Start a comparison from the Load page: progress bars per stage, errors as messages."""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from diagnostics._validation import InputError
from diagnostics.compare import compare_inputs, load_inputs
from diagnostics.dataset import keep_judgements
from diagnostics.encoding import adapter_base
from diagnostics.result import Comparison
from diagnostics.sample import SAMPLE_DIR
from ui.data import bundled_sample

STAGES = ("check base model", "check tuned model", "encode base", "encode tuned", "retrieve", "statistics",
          "neighbors", "known-item", "collapse", "projection", "verdict")
DEFAULT_MAX_UPLOAD_MB = 200


class StageProgress:
    """One progress bar per stage, created as the stage starts."""

    def __init__(self, container: Any) -> None:
        self._container = container
        self._bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        name = next((s for s in STAGES if stage.startswith(s)), stage)
        label = f"{stage}: {done}/{total}"
        fraction = min(1.0, done / total) if total else 1.0
        if name not in self._bars:
            self._bars[name] = self._container.progress(fraction, text=label)
        else:
            self._bars[name].progress(fraction, text=label)


def data_roots() -> list[Path]:
    """Where paths typed into the app may point: ``EMBDIFF_DATA_ROOTS`` (os.pathsep-separated),
    default the server's working directory and the bundled sample."""
    raw = os.environ.get("EMBDIFF_DATA_ROOTS")
    roots = [Path(p) for p in raw.split(os.pathsep) if p] if raw else [Path.cwd(), SAMPLE_DIR]
    return [r.resolve() for r in roots]


def _inside(resolved: Path, roots: Sequence[Path]) -> bool:
    return any(resolved == root or resolved.is_relative_to(root) for root in roots)


def confine(path_text: str) -> Path:
    """Resolve a typed path and refuse anything outside the configured data roots.

    For a directory, every file the loaders may open in it (and in its ``qrels/``) is checked too, so
    a symbolic link inside an allowed folder cannot reach a file outside; for a ``.npy`` file, its
    sibling ids files as well.
    """
    text = path_text.strip()
    if not text:
        raise InputError("an empty path was given; type the path of a file or directory on the server")
    if "\x00" in text:
        raise InputError("the path contains a NUL character; type the path of a file or directory on the server")
    path = Path(text).expanduser()
    resolved = (Path.cwd() / path).resolve() if not path.is_absolute() else path.resolve()
    roots = data_roots()
    outside = InputError(
        f"{path.name or text[:40]!r} is outside the data folders this server allows; ask the admin to add "
        "its folder to EMBDIFF_DATA_ROOTS, or upload the files instead"
    )
    if not _inside(resolved, roots):
        raise outside
    if resolved.is_dir():
        members = [*resolved.iterdir(), *((resolved / "qrels").iterdir() if (resolved / "qrels").is_dir() else [])]
    else:
        members = list(resolved.parent.glob(f"{resolved.stem}.ids.*")) if resolved.suffix == ".npy" else []
    if any(not _inside(member.resolve(), roots) for member in members):
        raise outside
    return resolved


def _looks_like_path(text: str) -> bool:
    """A model given as a path (absolute, relative, home) rather than a hub name ``org/name``."""
    t = text.strip()
    return t.startswith(("/", ".", "~")) or Path(t).expanduser().exists()


def model_or_path(text: str) -> str:
    """A typed model: a path is confined to the data roots, a hub name passes as it is. A PEFT adapter's
    base model, when the adapter names it by a path, must lie in the data roots too."""
    if not _looks_like_path(text):
        return text.strip()
    path = confine(text)
    base = adapter_base(path)
    if base is not None and (Path(base).is_absolute() or Path(base).exists()):
        confine(base)
    return str(path)


def run_sample(container: Any, *, k: int, projection: bool, judged_domains: Sequence[str] | None = None) -> Comparison:
    """Compare on the bundled sample; ``judged_domains`` keeps only those domains' judgements."""
    dataset, base, tuned = bundled_sample()
    if judged_domains is not None:
        dataset = keep_judgements(dataset, judged_domains)
    return compare_inputs(dataset, base, tuned, k=k, projection=projection, progress=StageProgress(container))


def run_paths(
    container: Any,
    datasets: Sequence[str],
    *,
    base: str,
    tuned: str,
    base_is_vectors: bool,
    tuned_is_vectors: bool,
    k: int,
    projection: bool,
    base_model: str = "",
    tuned_model: str = "",
) -> Comparison:
    """Compare files on this server. A side given as vectors may also name its model (``base_model`` /
    ``tuned_model``), which then encodes new text after a check that it made those vectors."""
    progress = StageProgress(container)
    dataset_paths = [confine(p) for p in datasets if p.strip()]
    if not dataset_paths:
        raise InputError("no dataset path was given; type at least one BEIR or table directory")
    dataset, b, t = load_inputs(
        dataset_paths,
        base=model_or_path(base_model) if base_is_vectors and base_model.strip() else
        None if base_is_vectors else model_or_path(base),
        base_vectors=confine(base) if base_is_vectors else None,
        tuned=model_or_path(tuned_model) if tuned_is_vectors and tuned_model.strip() else
        None if tuned_is_vectors else model_or_path(tuned),
        tuned_vectors=confine(tuned) if tuned_is_vectors else None,
        progress=progress,
    )
    return compare_inputs(dataset, b, t, k=k, projection=projection, progress=progress)


_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")
_QRELS = re.compile(r"^(qrels|test|dev|train)[A-Za-z0-9._-]*\.(tsv|csv|parquet|jsonl)$")


def max_upload_bytes() -> int:
    """The per-file upload limit from ``EMBDIFF_MAX_UPLOAD_MB`` (megabytes, default 200)."""
    raw = os.environ.get("EMBDIFF_MAX_UPLOAD_MB", str(DEFAULT_MAX_UPLOAD_MB))
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0 or value > 1e6:
        raise InputError(
            f"the server setting EMBDIFF_MAX_UPLOAD_MB is {raw[:20]!r}; it must be a number of megabytes above 0 "
            "(ask the admin to fix it)"
        )
    return int(value * 1024 * 1024)


def run_uploads(container: Any, dataset_files: Sequence[Any], base_file: Any, tuned_file: Any, *,
                k: int, projection: bool) -> Comparison:
    """Write uploads into a private temporary folder (plain names only), then compare."""
    if not dataset_files or base_file is None or tuned_file is None:
        raise InputError("upload the dataset files and both vector files")
    limit = max_upload_bytes()
    with tempfile.TemporaryDirectory(prefix="embdiff-upload-") as tmp:
        root = Path(tmp) / "dataset"
        (root / "qrels").mkdir(parents=True)
        for f in [*dataset_files, base_file, tuned_file]:
            if f.size > limit:
                raise InputError(
                    f"{f.name[:60]!r} is {f.size / 1e6:.0f} MB; uploads are limited to {limit / 1e6:.0f} MB"
                )
            if not _SAFE.fullmatch(f.name):
                raise InputError(f"file name {f.name[:60]!r} is not allowed; use letters, digits, . _ - only")
        names = {f.name for f in dataset_files}
        beir = "corpus.jsonl" in names
        for f in dataset_files:
            if beir and _QRELS.match(f.name) and f.name.endswith(".tsv"):
                split = f.name.removesuffix(".tsv")
                target = root / "qrels" / ("test.tsv" if split == "qrels" else f.name)
            else:
                target = root / f.name
            target.write_bytes(f.getvalue())
        if not any((root / "qrels").iterdir()):
            (root / "qrels").rmdir()
        vec = Path(tmp) / "vectors"
        vec.mkdir()
        base_path = vec / f"base-{base_file.name}"
        tuned_path = vec / f"tuned-{tuned_file.name}"
        base_path.write_bytes(base_file.getvalue())
        tuned_path.write_bytes(tuned_file.getvalue())
        progress = StageProgress(container)
        dataset, b, t = load_inputs([root], base_vectors=base_path, tuned_vectors=tuned_path, progress=progress)
        return compare_inputs(dataset, b, t, k=k, projection=projection, progress=progress)
