"""Embeddings of a dataset under one model: L2-normalised float32 matrices in dataset row order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Embeddings"]


@dataclass(frozen=True, eq=False)
class Embeddings:
    """The vectors of one model for one :class:`~diagnostics.Dataset`.

    Attributes
    ----------
    docs : ndarray of shape (n_docs, dim), float32
        Row ``i`` is ``dataset.docs.iloc[i]``; every row has unit L2 norm.
    queries : ndarray of shape (n_queries, dim), float32
        Row ``i`` is ``dataset.queries.iloc[i]`` (``(0, dim)`` when there are no queries).
    model_id : str
        What produced them: a model name or path, or a vector file name.
    fingerprint : str
        Model fingerprint (weights hash) or the vector file's SHA-256.
    """

    docs: NDArray[np.float32]
    queries: NDArray[np.float32]
    model_id: str
    fingerprint: str

    @property
    def dim(self) -> int:
        return int(self.docs.shape[1])
