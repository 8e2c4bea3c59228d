r"""BM25, the lexical reference line of the known-item checks.

Known-item queries already know their answer and reward word overlap (the ORQA paper found BM25
enough for them), so embdiff scores BM25 on the same checks: when BM25 finds nearly every known item,
the checks measure lexical matching more than the models' grasp of the domain.

The score of document :math:`d` for query :math:`q` (Robertson & Zaragoza 2009, "The Probabilistic
Relevance Framework: BM25 and Beyond", with Lucene's non-negative idf) is

.. math::

   \mathrm{BM25}(q, d) = \sum_{t \in q} \mathrm{idf}(t)\,
   \frac{f_{t,d}\,(k_1 + 1)}{f_{t,d} + k_1 (1 - b + b\,|d| / \overline{|d|})},\qquad
   \mathrm{idf}(t) = \ln\Bigl(1 + \frac{N - n_t + 0.5}{n_t + 0.5}\Bigr),

with :math:`N` documents, :math:`n_t` of them containing :math:`t`, :math:`|d|` the number of
tokens of :math:`d` and a query term counted as often as it occurs. Tokens are scikit-learn's
``CountVectorizer`` words (lower case, ``\w\w+``) without its English stop words; documents are
``title + " " + text``. Defaults ``k1 = 0.9, b = 0.4`` (Anserini's BEIR baseline).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.feature_extraction.text import CountVectorizer

from diagnostics._validation import InputError

__all__ = ["BM25"]

_BLOCK = 256  # queries per sparse product: their dense scores over the corpus are 256 x n_docs floats


class BM25:
    """A BM25 index of a corpus (see the module docstring for the formula).

    Parameters
    ----------
    documents : sequence of str
        The corpus, in row order.
    k1, b : float, default 0.9, 0.4
    """

    def __init__(self, documents: Sequence[str], *, k1: float = 0.9, b: float = 0.4) -> None:
        if not k1 >= 0 or not 0 <= b <= 1:
            raise InputError(f"BM25 needs k1 >= 0 and 0 <= b <= 1; got k1={k1}, b={b}")
        self.k1, self.b = float(k1), float(b)
        self._vectorizer = CountVectorizer(lowercase=True, stop_words="english", dtype=np.float32)
        try:
            counts = self._vectorizer.fit_transform(documents).tocsr()
        except ValueError:  # an empty vocabulary: every document is stop words or empty
            self._vectorizer = CountVectorizer(lowercase=True, dtype=np.float32, token_pattern=r"(?u)\b\w+\b")  # noqa: S106
            counts = self._vectorizer.fit_transform(list(documents) or [""]).tocsr()
        n_docs = counts.shape[0]
        df = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float64)
        self.idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        self.avgdl = float(lengths.mean()) if n_docs and lengths.mean() > 0 else 1.0
        self._weights = self._weigh(counts)  # n_docs x vocabulary, BM25 term weights

    def _weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Per (document, term) BM25 weights of a count matrix, with this index's idf and mean length."""
        counts = counts.tocsr().astype(np.float32)
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        norm = self.k1 * (1.0 - self.b + self.b * lengths / self.avgdl)
        row_of = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
        tf = counts.data
        weights = counts.copy()
        weights.data = (self.idf[counts.indices] * tf * (self.k1 + 1.0) / (tf + norm[row_of])).astype(np.float32)
        return weights

    def _queries(self, texts: Sequence[str]) -> sp.csr_matrix:
        matrix: sp.csr_matrix = self._vectorizer.transform(texts).tocsr()
        return matrix

    def scores(self, queries: Sequence[str]) -> NDArray[np.float32]:
        """Dense ``(len(queries), n_docs)`` BM25 scores (for small query sets and tests)."""
        return np.asarray((self._queries(queries) @ self._weights.T).toarray(), dtype=np.float32)

    def rank_known_items(
        self,
        queries: Sequence[str],
        items: Sequence[str],
        item_rows: NDArray[np.int64],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> NDArray[np.int64]:
        """Rank of each known item among all documents, its own row scored on ``items`` instead.

        Same rule as :func:`diagnostics.known_item.rank_known_items`: 1 + the number of other
        documents that score at least as high (ties count against the item, so a check whose words
        match no document ranks last rather than first). The index's idf and mean length are kept (the held-out
        text's words still count in them: a negligible leak at corpus scale).
        """
        n = len(queries)
        if len(items) != n or len(item_rows) != n:
            raise InputError(f"{len(items)} items and {len(item_rows)} rows for {n} queries; pass one each")
        q = self._queries(queries)
        own = np.asarray(q.multiply(self._weigh(self._vectorizer.transform(items))).sum(axis=1)).ravel()
        ranks = np.empty(n, dtype=np.int64)
        weights_t = self._weights.T.tocsr()
        for start in range(0, n, _BLOCK):
            stop = min(n, start + _BLOCK)
            block = np.asarray((q[start:stop] @ weights_t).toarray(), dtype=np.float32)
            local = np.arange(stop - start)
            block[local, item_rows[start:stop]] = own[start:stop]
            # ties count against the item: a query that matches nothing scores 0 everywhere and ranks last
            ranks[start:stop] = (block >= own[start:stop, None].astype(np.float32)).sum(axis=1)
            if progress is not None:
                progress(stop, n)
        return ranks
