"""Vectors and a model together: check that the model really made the vectors before using both.

With ``--base-vectors FILE --base MODEL`` the vectors serve the corpus and the user's queries, and the
model encodes any new text (synthesised known-item checks, the live probe). That is only sound when
the model is the one that made the vectors, with the same prefix and normalisation: otherwise a
synthesised query and the stored documents live in two different spaces and every check fails for
a reason that has nothing to do with fine-tuning. So a seeded sample of documents is re-encoded and
compared with the stored vectors first.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from diagnostics._validation import InputError
from diagnostics.dataset import Dataset
from diagnostics.encoding import LazyModel, ModelSpec, ProgressCallback, _shown, document_texts, encode_texts
from diagnostics.vectors import Embeddings

__all__ = ["attach_model", "MIN_MEAN_COSINE", "N_CHECK_DOCS"]

#: Re-encoded documents must agree with the stored vectors at least this well (mean cosine).
MIN_MEAN_COSINE = 0.999
#: Documents re-encoded for the check.
N_CHECK_DOCS = 32


def attach_model(
    dataset: Dataset,
    embeddings: Embeddings,
    model: ModelSpec,
    *,
    vectors_label: str,
    role: str,
    doc_prefix: str = "",
    query_prefix: str = "",
    n_docs: int = N_CHECK_DOCS,
    min_cosine: float = MIN_MEAN_COSINE,
    random_state: int = 0,
    progress: ProgressCallback | None = None,
) -> Embeddings:
    """Attach ``model`` to vectors read from a file, after checking that it made them.

    A seeded sample of ``n_docs`` documents (all when there are fewer) is encoded as
    :func:`diagnostics.encoding.encode_dataset` encodes documents (``doc_prefix`` + title + text,
    normalised) and compared with the stored vectors row by row; then as many queries
    (``query_prefix`` + text), since the known-item checks encode their queries with that prefix.

    Parameters
    ----------
    dataset : Dataset
    embeddings : Embeddings
        The vectors as read from the file, in dataset order.
    model : str, path-like, SentenceTransformer or LazyModel
    vectors_label : str
        The vector file as named in messages.
    role : {"base", "tuned"}
    doc_prefix, query_prefix : str, default ""
    n_docs : int, default 32
        Documents re-encoded, and as many queries.
    min_cosine : float, default 0.999
        The mean cosine below which the model is refused.
    random_state : int, default 0
    progress : ProgressCallback, optional
        Receives the stage ``f"check {role} model"``.

    Returns
    -------
    Embeddings
        The same vectors with ``model`` and ``model_fingerprint`` set.

    Raises
    ------
    InputError
        The mean cosine is below ``min_cosine`` (the message names the model, the file and the
        figure), or the dimensions differ, or the model cannot be loaded.
    """
    handle = model if isinstance(model, LazyModel) else LazyModel(model)
    shown_model = _shown(handle.model_id)
    rng = np.random.default_rng(random_state)
    n, n_queries = len(dataset.docs), len(dataset.queries)
    doc_rows = np.sort(rng.choice(n, size=min(n_docs, n), replace=False))
    query_rows = np.sort(rng.choice(n_queries, size=min(n_docs, n_queries), replace=False))
    sides = [("documents", doc_rows, document_texts(dataset, doc_rows.tolist()), doc_prefix, embeddings.docs,
              "--doc-prefix", "documents are encoded as title + ' ' + text")]
    if len(query_rows):
        texts = [str(t) for t in dataset.queries["text"].iloc[query_rows]]
        sides.append(("queries", query_rows, texts, query_prefix, embeddings.queries, "--query-prefix",
                      "queries as their text"))
    for what, rows, texts, prefix, matrix, flag, how in sides:
        vectors = encode_texts(texts, handle, prefix=prefix, progress=progress, stage=f"check {role} model")
        stored = np.asarray(matrix[rows], dtype=np.float32)
        if vectors.shape[1] != stored.shape[1]:
            raise InputError(
                f"--{role} {shown_model!r} makes {vectors.shape[1]}-dimensional vectors but {vectors_label} holds "
                f"{stored.shape[1]}-dimensional ones: the vectors were not made by this model; pass the model "
                "that made them, or leave the model out"
            )
        cosine = float(np.mean(np.einsum("ij,ij->i", vectors, stored)))
        if not cosine >= min_cosine:
            raise InputError(
                f"--{role} {shown_model!r} did not make the vectors in {vectors_label}: re-encoding {len(rows)} "
                f"sampled {what} gives a mean cosine of {cosine:.4f} with the stored vectors ({min_cosine} "
                f"needed). The vectors were made by another model, or with another prefix ({flag}) or "
                f"normalisation ({how}); pass the model and prefix that made them"
            )
    return replace(embeddings, model=handle, model_fingerprint=handle.fingerprint())
