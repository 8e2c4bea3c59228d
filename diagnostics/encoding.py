"""Encoding texts with a sentence-transformers model, with an on-disk cache.

A model is a local directory or a hub name (:mod:`diagnostics.models` locates and loads it). Its
*fingerprint* (:mod:`diagnostics.fingerprints`) is a content hash of the files that define what it
computes, so the same model in two directories has one fingerprint and a changed file gives a new
one. Vectors are cached on disk (:mod:`diagnostics.encode_cache`, which describes the layout) under
``embdiff_home()/cache/embeddings/<fingerprint>/``, keyed by the SHA-256 of ``prefix + text``:
a second run over the same texts encodes nothing and does not even load the model.

Every name importable from here before model loading, fingerprints and the cache moved out of this
module still is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from numpy.typing import NDArray

from diagnostics._validation import InputError, check_k
from diagnostics.dataset import Dataset
from diagnostics.encode_cache import _CHUNK_ROWS, _cache_directory, _compact, _lookup_with_seed, _store, _text_key
from diagnostics.fingerprints import LazyModel, model_fingerprint
from diagnostics.fingerprints import ModelSpec as ModelSpec
from diagnostics.fingerprints import _file_digest as _file_digest
from diagnostics.models import ADAPTER_CONFIG as ADAPTER_CONFIG
from diagnostics.models import BUNDLED_MODEL_NAMES as BUNDLED_MODEL_NAMES
from diagnostics.models import DEFAULT_HUB_ORGANIZATION as DEFAULT_HUB_ORGANIZATION
from diagnostics.models import _shown as _shown
from diagnostics.models import adapter_base, load_model
from diagnostics.vectors import Embeddings

if TYPE_CHECKING:  # never imported at run time: diagnostics.distributed is loaded only for --ray
    from diagnostics.distributed import RayCluster

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

ProgressCallback: TypeAlias = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called after every batch with the number of texts done so far."""


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


def _encode_cached(
    texts: list[str],
    handle: LazyModel,
    *,
    prefix: str,
    batch_size: int,
    progress: ProgressCallback | None,
    cache_dir: str | os.PathLike[str] | None,
    stage: str,
    cluster: RayCluster | None = None,
) -> NDArray[np.float32]:
    fingerprint = handle.fingerprint()
    directory = _cache_directory(cache_dir, fingerprint)
    keys = [_text_key(prefix, text) for text in texts]
    unique_keys = set(keys)
    found, dim = _lookup_with_seed(directory, fingerprint, unique_keys)
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

    encoding = bool(order)
    if cluster is not None and order:  # the same batches, encoded on the cluster (diagnostics.distributed)

        def encoded(batch: Sequence[bytes]) -> None:
            nonlocal done
            done += sum(position_counts[k] for k in batch)
            if progress is not None:
                progress(stage, done, total)

        found.update(cluster.encode(directory, [(k, missing[k]) for k in order], handle, batch_size=batch_size,
                                    on_encoded=encoded))
        order = []
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
    if encoding:
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
    cluster: RayCluster | None = None,
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
    cluster : RayCluster, optional
        Encode the texts missing from the cache on this Ray cluster (:func:`diagnostics.distributed.connect`),
        in the same batches, into the same cache; the vectors are the ones a local run makes.

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
        cluster=cluster,
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
    cluster: RayCluster | None = None,
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
    cluster : RayCluster, optional
        As for :func:`encode_texts`.

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
        cluster=cluster,
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
            cluster=cluster,
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
