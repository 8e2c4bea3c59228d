"""Model fingerprints: a content hash that names what a model computes.

A model's *fingerprint* is a content hash of the files that define what it computes (weights,
tokenizer, configuration), so the same model in two directories has one fingerprint and a changed
file gives a new one. A model object not loaded from a directory is hashed in memory instead.
:class:`LazyModel` holds a model given by name, path or object: it is fingerprinted without
loading the model, which is loaded only on first need.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from diagnostics._validation import InputError
from diagnostics.models import _SOURCE_ATTR, _adapter_base, _is_adapter_dir, _locate, load_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["LazyModel", "ModelSpec", "model_fingerprint"]

ModelSpec: TypeAlias = "str | os.PathLike[str] | SentenceTransformer | LazyModel"

# Files that never change what a model computes: documentation, training leftovers, and weights of
# other frameworks or back-ends that a torch SentenceTransformer does not read.
_IGNORED_NAMES = frozenset(
    {
        "data_config.json",
        "train_script.py",
        "training_args.bin",
        "trainer_state.json",
        "optimizer.pt",
        "scheduler.pt",
        "rng_state.pth",
    }
)
_IGNORED_SUFFIXES = (".md", ".h5", ".msgpack", ".ot", ".onnx", ".gguf", ".lock", ".metadata")


@lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of one file; memoised on (path, size, mtime) so an unchanged file is read once."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_hashed(path: Path) -> bool:
    name = path.name
    return not (name.startswith(".") or name in _IGNORED_NAMES or name.lower().endswith(_IGNORED_SUFFIXES))


def _module_dirs(root: Path) -> list[Path]:
    """Sub-directories named in ``modules.json`` (e.g. ``1_Pooling``), the other parts of the model."""
    try:
        modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
        paths = [str(entry.get("path", "")) for entry in modules if isinstance(entry, dict)]
    except (OSError, ValueError, AttributeError, TypeError):
        return []
    found = []
    for rel in paths:
        parts = Path(rel).parts
        if rel and not Path(rel).is_absolute() and ".." not in parts and (root / rel).is_dir():
            found.append(root / rel)
    return found


def _level_files(directory: Path) -> list[Path]:
    files = [p for p in directory.iterdir() if p.is_file() and _is_hashed(p)]
    if any(p.suffix == ".safetensors" for p in files):  # torch reads these, not the pickled copy
        files = [p for p in files if not (p.name.startswith("pytorch_model") and p.suffix == ".bin")]
    return files


def _model_files(root: Path) -> Iterator[Path]:
    """Files that define the model: the root level, and the module directories with their sub-trees."""
    yield from _level_files(root)
    for module_dir in _module_dirs(root):
        for current, dirs, _ in os.walk(module_dir):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            yield from _level_files(Path(current))


def _directory_fingerprint(root: Path) -> str:
    entries: dict[str, str] = {}
    for file in _model_files(root):
        stat = file.stat()  # follows symlinks, as in a hub-cache snapshot
        key = file.relative_to(root).as_posix()
        entries[key] = _file_digest(str(file.resolve()), stat.st_size, stat.st_mtime_ns)
    h = hashlib.sha256(b"embdiff-model-dir-v1\n")
    for rel in sorted(entries):
        h.update(f"{rel}\x00{entries[rel]}\n".encode())
    if _is_adapter_dir(root):  # an adapter computes nothing without its base: the base is part of it
        base_dir, _ = _locate(_adapter_base(root), device="cpu")
        h.update(f"base\x00{_directory_fingerprint(base_dir)}\n".encode())
    return h.hexdigest()


def _memory_fingerprint(model: Any) -> str:
    """Content hash of a model object not loaded by :func:`load_model` (e.g. fine-tuned in memory)."""
    import torch

    h = hashlib.sha256(b"embdiff-model-memory-v1\n")
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        h.update(f"{name}\x00{flat.dtype}\x00{tuple(tensor.shape)}\n".encode())
        h.update(flat.view(torch.uint8).numpy().tobytes())
    for index, module in enumerate(model):
        get_config = getattr(module, "get_config_dict", None)
        config = get_config() if callable(get_config) else {}
        h.update(f"{index}\x00{type(module).__name__}\x00".encode())
        h.update(json.dumps(config, sort_keys=True, default=str).encode())
    tokenizer = getattr(model, "tokenizer", None)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        h.update(backend.to_str().encode())
    elif tokenizer is not None and hasattr(tokenizer, "get_vocab"):
        h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    settings = {
        "max_seq_length": getattr(model, "max_seq_length", None),
        "prompts": getattr(model, "prompts", None),
        "default_prompt_name": getattr(model, "default_prompt_name", None),
        "truncate_dim": getattr(model, "truncate_dim", None),
    }
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return h.hexdigest()


def model_fingerprint(model: ModelSpec) -> str:
    """A stable content hash of a model.

    For a directory (or a hub name, through its local snapshot) this is the SHA-256 over the sorted
    relative paths and SHA-256 digests of the files that define the model: the files at its root and
    in the module directories named by ``modules.json``, except documentation (``*.md``, hidden
    files), training leftovers and other frameworks' weights (``*.onnx``, ``*.h5``, ...). The same
    model in another directory therefore has the same fingerprint. File digests are memoised on
    (path, size, modification time), so a second call only stats the files.

    A model object returned by :func:`load_model` is fingerprinted through its directory; any other
    ``SentenceTransformer`` object by hashing its weights, module configurations and tokenizer in
    memory (its fingerprint then differs from its directory's: its cache entries are not shared).

    Parameters
    ----------
    model : str, path-like or SentenceTransformer
        As for :func:`load_model`, or a loaded model.

    Returns
    -------
    str
        64 lower-case hexadecimal characters.

    Raises
    ------
    InputError
        As :func:`load_model`.
    """
    return (model if isinstance(model, LazyModel) else LazyModel(model)).fingerprint()


@dataclass
class LazyModel:
    """A model given by name, path or object: fingerprinted without loading, loaded on first need.

    Pass one to :func:`encode_texts` several times to load the model at most once.
    """

    spec: ModelSpec
    device: str = "cpu"
    _model: Any = field(default=None, init=False)
    _directory: Path | None = field(default=None, init=False)
    _fingerprint: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.spec, str | os.PathLike):
            if not callable(getattr(self.spec, "encode", None)):
                raise InputError(
                    "model must be a local directory, a hub name or a loaded SentenceTransformer; "
                    f"got {type(self.spec).__name__}"
                )
            self._model = self.spec

    @property
    def model_id(self) -> str:
        if isinstance(self.spec, str | os.PathLike):
            return os.fspath(self.spec)
        source = getattr(self.spec, _SOURCE_ATTR, None)
        return str(source) if source else f"<in-memory {type(self.spec).__name__}>"

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            if self._model is not None:
                source = getattr(self._model, _SOURCE_ATTR, None)
                self._fingerprint = _directory_fingerprint(Path(source)) if source else _memory_fingerprint(self._model)
            else:
                spec: str | os.PathLike[str] = self.spec  # type: ignore[assignment]
                self._directory, self._model = _locate(spec, device=self.device)
                self._fingerprint = _directory_fingerprint(self._directory)
        return self._fingerprint

    def get(self) -> Any:
        if self._model is None:
            spec = os.fspath(self._directory) if self._directory is not None else self.spec
            self._model = load_model(spec, device=self.device)  # type: ignore[arg-type]
        return self._model
