r"""Known-item checks synthesised from each domain's own documents: evidence where there are no judgements.

Why one module past ~500 lines: the construction of the checks, its reference and its limits are
documented next to the code that builds and scores them, so the one can be checked against the other.

Teams have relevance judgements for the domain they tuned on and rarely for the others — exactly the
domains that break. For every domain embdiff builds queries whose answer it knows, from the corpus
itself, and ranks them with both models over the whole corpus, with the same paired statistics as
judged queries (reported apart from them, never mixed in).

Construction (per sampled document :math:`d`, at most ``docs_per_domain`` per domain, seeded):

* **passage** (inverse cloze, Lee, Chang & Toutanova 2019, "Latent Retrieval for Weakly Supervised
  Open Domain Question Answering", ACL — the ORQA paper): one sentence of :math:`d` is held out and
  becomes the query; the known item is :math:`d` *without* that sentence, re-encoded, so the check
  cannot be won by string identity. The sentence has at least :data:`MIN_WORDS` words and occurs in
  no other document (a sentence shared by several documents has no single answer). A document with
  no such sentence but at least :data:`MIN_SPAN_TEXT_WORDS` words gives up a contiguous span of a
  quarter of its words instead. The title is kept in the known item unless it overlaps the held-out
  text.
* **title**: where a document's title is unique in the corpus, the title is the query and the known
  item is the document's body without any copy of the title.
* **keywords** (known-item query simulation, Azzopardi, de Rijke & Balog 2007, "Building simulated
  queries for known-item topics", SIGIR): :data:`KEYWORD_TERMS` of the document's content terms drawn
  with probability proportional to tf · idf are the query — short, keyword-style, like a searcher's —
  and the known item is the document as stored.

Scoring: with :math:`q` the query's vector, :math:`v` the re-encoded known item and :math:`D_j` the
stored vectors of every other document, the known item's rank is
:math:`r = 1 + |\{ j \ne d : q \cdot D_j \ge q \cdot v \}|` (ties count against it), and its per-check
metrics are those of a query with one relevant document: nDCG@k :math:`= 1/\log_2(r + 1)` and
MRR@k :math:`= 1/r` when :math:`r \le k`, Recall@k :math:`= [r \le k]`, else 0.

Blind spots (see ``docs/KNOWN_ITEM.md``): such queries already know their answer and reward word
overlap — the ORQA paper found BM25 enough for them, so :mod:`diagnostics.lexical` BM25 is scored
on the same checks as a reference line; and judgement-free evaluation tends to penalise whichever
system departs from the rest (Soboroff, Nicholas & Cahan 2001, "Ranking retrieval systems without
relevance judgments", SIGIR) — here the tuned model.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from diagnostics._validation import InputError, check_seed, check_whole
from diagnostics.dataset import Dataset

__all__ = [
    "CONSTRUCTIONS",
    "KnownItems",
    "KnownItemRun",
    "build_known_items",
    "run_known_items",
    "rank_known_items",
    "known_item_metrics",
    "document_scores",
]

#: The constructions, in the order they are built.
CONSTRUCTIONS = ("passage", "title", "keywords")
#: Terms of a keyword query, and the fewest distinct content terms a document needs to give one.
KEYWORD_TERMS = 4
MIN_KEYWORD_VOCABULARY = 8
#: Documents whose terms give the document frequencies of the keyword draw (all of them in smaller corpora).
DF_SAMPLE = 20_000
#: Fewest words of a held-out sentence (shorter ones are rarely answerable).
MIN_WORDS = 5
#: Fewest words a document needs to give up a span when it has no usable sentence.
MIN_SPAN_TEXT_WORDS = 20
#: Fewest words left in the known item after the query is removed.
MIN_REST_WORDS = 5
#: Longest held-out span (words).
MAX_SPAN_WORDS = 30

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"\w+")
_TERM = re.compile(r"[^\W\d_]{3,}")  # content-term candidates: letters only, 3+ of them
_BLOCK = 128  # checks per matrix product: 128 x n_docs float32 scores in memory at once


@dataclass(frozen=True)
class KnownItems:
    """The synthesised checks of a corpus and what each domain could give.

    Attributes
    ----------
    checks : pandas.DataFrame
        One row per check: ``check_id`` (``"passage:<doc_id>"`` / ``"title:<doc_id>"``),
        ``doc_id``, ``doc_row`` (row of the document in ``dataset.docs``), ``domain``,
        ``construction`` (``"passage"`` or ``"title"``), ``query`` (the held-out text or the title),
        ``item_text`` (the document as re-encoded: without the held-out text).
    coverage : pandas.DataFrame
        One row per domain: ``domain``, ``n_docs`` (in the corpus), ``n_examined`` (documents looked
        at, in a seeded random order, until ``docs_per_domain`` gave checks — all of them when fewer
        do), ``n_eligible`` (those of them that give at least one check), ``n_sampled`` (documents
        checked), ``n_checks``.
    """

    checks: pd.DataFrame
    coverage: pd.DataFrame


def _norm(text: str) -> str:
    """Words only, lower case: to compare a title with the held-out text."""
    return " ".join(_WORD.findall(text.lower()))


def _key(text: str) -> str:
    """Case folded: the identity of a sentence or a title across the corpus (cheap: it runs on every one)."""
    return text.casefold()


def _seed(random_state: int, key: str) -> NDArray[np.uint32]:
    """A per-key seed: a document's held-out sentence does not depend on the rest of the corpus."""
    return np.array([random_state & 0xFFFFFFFF, zlib.crc32(key.encode("utf-8", "surrogatepass"))], dtype=np.uint32)


def _draw_order(random_state: int, doc_ids: Sequence[str]) -> NDArray[np.intp]:
    """The order in which a domain's documents are examined: by a seeded hash of each document's id, so
    adding or removing a document never reorders the others (a stable sample as a corpus grows)."""
    salt = f"{random_state}\x00".encode()
    keys = [hashlib.blake2b(salt + i.encode("utf-8", "surrogatepass"), digest_size=8).digest() for i in doc_ids]
    return np.array(sorted(range(len(doc_ids)), key=keys.__getitem__), dtype=np.intp)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _leaks(held: str, item: str) -> bool:
    """True when the held-out text is still in the known item (case, spacing and punctuation aside)."""
    return bool(_norm(held)) and _norm(held) in _norm(item)


def _passage(
    title: str, text: str, *, shared: Counter[str], rng: np.random.Generator
) -> tuple[str, str] | None:
    """(held-out text, known item) for one document, or None when it gives no passage check.

    A sentence qualifies when it occurs once in the whole corpus (``shared`` counts every occurrence,
    repeats inside one document included). A document none of whose sentences is shared elsewhere but that
    has no qualifying sentence (too short, or a single one) gives up a span instead; a document that shares
    a sentence with another gives no span, since a duplicated document has no single answer.
    """
    sentences = _sentences(text)
    counts = [shared[_key(s)] for s in sentences]
    usable = [
        i for i, s in enumerate(sentences)
        if len(sentences) > 1 and counts[i] == 1 and len(_WORD.findall(s)) >= MIN_WORDS
    ]
    if usable:
        i = usable[int(rng.integers(len(usable)))]
        held, rest = sentences[i], " ".join(sentences[:i] + sentences[i + 1 :])
    else:
        words = text.split()
        if len(words) < MIN_SPAN_TEXT_WORDS or any(c > 1 for c in counts):
            return None
        size = min(MAX_SPAN_WORDS, max(MIN_WORDS, len(words) // 4))
        start = int(rng.integers(len(words) - size + 1))
        held = " ".join(words[start : start + size])
        rest = " ".join(words[:start] + words[start + size :])
    n_title, n_held = _norm(title), _norm(held)
    keep_title = bool(n_title) and n_title not in n_held and n_held not in n_title
    item = f"{title} {rest}" if keep_title else rest
    if len(_WORD.findall(rest)) < MIN_REST_WORDS or _leaks(held, item):
        return None
    return held, item


def _title(title: str, text: str, *, titles: Counter[str]) -> tuple[str, str] | None:
    """(title, body without any copy of it) for one document whose title is unique, or None."""
    key = _norm(title)
    if not key or titles[_key(title)] != 1 or len(_WORD.findall(title)) < 2:
        return None
    body = " ".join(re.sub(re.escape(title.strip()), " ", text, flags=re.IGNORECASE).split())
    if len(_WORD.findall(body)) < MIN_REST_WORDS or _leaks(title, body):
        return None
    return title, body


def _terms(text: str) -> list[str]:
    """Lower-case content terms of a text: letters only, 3+ characters, no English stop word."""
    return [t for t in _TERM.findall(text.lower()) if t not in ENGLISH_STOP_WORDS]


def _keywords(
    title: str, text: str, *, df: Counter[str], n_docs: int, rng: np.random.Generator
) -> tuple[str, str] | None:
    """(keyword query, the document as stored) for one document, or None when it has too few terms.

    ``KEYWORD_TERMS`` distinct terms are drawn without replacement with probability proportional to
    tf · idf, idf = ln(N / df) — the discriminative term selection of Azzopardi, de Rijke & Balog 2007 —
    and written in document order. The document is not changed: the query is its own words, not a string
    of it, and the check asks whether a model still finds a document from a few of its distinctive terms.
    """
    document = f"{title} {text}" if title else text
    terms = _terms(document)
    counts = Counter(terms)
    if len(counts) < MIN_KEYWORD_VOCABULARY:
        return None
    vocabulary = list(counts)  # first-occurrence order
    weights = np.array([counts[t] * np.log((n_docs + 1) / max(df[t], 1)) for t in vocabulary], dtype=np.float64)
    if not (weights > 0).sum() >= KEYWORD_TERMS:
        return None
    picked = rng.choice(len(vocabulary), size=KEYWORD_TERMS, replace=False, p=weights / weights.sum())
    return " ".join(vocabulary[i] for i in sorted(picked)), document


def build_known_items(
    dataset: Dataset,
    *,
    docs_per_domain: int = 300,
    random_state: int = 0,
    constructions: Sequence[str] = CONSTRUCTIONS,
) -> KnownItems:
    """Synthesise known-item checks from the documents of every domain (see the module docstring).

    Parameters
    ----------
    dataset : Dataset
        Its documents (``id``, ``title``, ``text``, ``domain``); queries and judgements are not used.
    docs_per_domain : int, default 300
        Documents sampled per domain, uniformly among those that give at least one check (all of
        them when a domain has fewer): documents are examined in a seeded random order until this
        many gave checks. 0 builds no checks.
    random_state : int, default 0
        Seed of the sample and of the held-out sentences. Draws are keyed by document id: the same
        document gives the same check whatever else the corpus holds, and adding a document to a domain
        changes its sample by at most that document.
    constructions : sequence of {"passage", "title", "keywords"}, default all three

    Returns
    -------
    KnownItems
        The checks (domains in :attr:`Dataset.domains` order, documents in corpus order) and the
        per-domain coverage.
    """
    docs_per_domain = check_whole(docs_per_domain, name="known-item docs_per_domain", low=0)
    random_state = check_seed(random_state)
    unknown = sorted(set(constructions) - set(CONSTRUCTIONS))
    if unknown:
        raise InputError(f"unknown known-item construction {unknown[0]!r}; use {', '.join(CONSTRUCTIONS)}")
    docs = dataset.docs
    ids = docs["id"].astype(str).tolist()
    titles = docs["title"].fillna("").astype(str).tolist()
    texts = docs["text"].fillna("").astype(str).tolist()
    domains = docs["domain"].astype(str).tolist()
    shared: Counter[str] = Counter()
    if "passage" in constructions:
        shared.update(_key(s) for text in texts for s in _sentences(text))
    title_counts: Counter[str] = Counter(_key(t) for t in titles) if "title" in constructions else Counter()
    df: Counter[str] = Counter()
    n_df = min(len(ids), DF_SAMPLE)
    if "keywords" in constructions:  # idf only weighs the draw of terms: a seeded sample of documents will do
        rows_df = np.random.default_rng(random_state).choice(len(ids), size=n_df, replace=False)
        df.update(t for r in rows_df for t in set(_terms(f"{titles[r]} {texts[r]}")))

    by_domain: dict[str, list[int]] = {}
    for row, domain in enumerate(domains):
        by_domain.setdefault(domain, []).append(row)
    records: list[dict[str, object]] = []
    coverage: list[dict[str, object]] = []
    for domain in dataset.domains:
        rows = by_domain.get(domain, [])
        order = _draw_order(random_state, [ids[r] for r in rows])
        picked: list[tuple[int, list[tuple[str, str, str]]]] = []
        n_eligible = n_examined = 0
        for position in order if docs_per_domain else ():
            n_examined += 1
            row = rows[int(position)]
            made: list[tuple[str, str, str]] = []
            if "passage" in constructions:
                rng = np.random.default_rng(_seed(random_state, f"doc:{ids[row]}"))
                passage = _passage(titles[row], texts[row], shared=shared, rng=rng)
                if passage is not None:
                    made.append(("passage", *passage))
            if "title" in constructions:
                title = _title(titles[row], texts[row], titles=title_counts)
                if title is not None:
                    made.append(("title", *title))
            if "keywords" in constructions:
                rng = np.random.default_rng(_seed(random_state, f"keywords:{ids[row]}"))
                keywords = _keywords(titles[row], texts[row], df=df, n_docs=n_df, rng=rng)
                if keywords is not None:
                    made.append(("keywords", *keywords))
            if made:
                n_eligible += 1
                picked.append((row, made))
                if len(picked) == docs_per_domain:
                    break
        for row, made in sorted(picked):
            for construction, query, item in made:
                records.append({"check_id": f"{construction}:{ids[row]}", "doc_id": ids[row], "doc_row": row,
                                "domain": domain, "construction": construction, "query": query,
                                "item_text": item})
        coverage.append({"domain": domain, "n_docs": len(rows), "n_examined": n_examined, "n_eligible": n_eligible,
                         "n_sampled": len(picked), "n_checks": sum(len(m) for _, m in picked)})
    columns = ["check_id", "doc_id", "doc_row", "domain", "construction", "query", "item_text"]
    checks = pd.DataFrame.from_records(records, columns=columns)
    checks["doc_row"] = checks["doc_row"].astype(np.int64)
    return KnownItems(checks=checks, coverage=pd.DataFrame(coverage))


def rank_known_items(
    queries: NDArray[np.float32],
    items: NDArray[np.float32],
    docs: NDArray[np.float32],
    item_rows: NDArray[np.int64],
    *,
    k: int = 10,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
    r"""Rank each check's known item among all documents, its own stored vector replaced by ``items``.

    Parameters
    ----------
    queries : ndarray of shape (n_checks, dim), float32
        Unit vectors of the checks' queries.
    items : ndarray of shape (n_checks, dim), float32
        Unit vectors of the known items as re-encoded (without the held-out text).
    docs : ndarray of shape (n_docs, dim), float32
        Unit vectors of the corpus as stored.
    item_rows : ndarray of shape (n_checks,), int
        The known item's row in ``docs``; that row's stored vector is not used for its own check.
    k : int, default 10
        Length of the top lists returned (capped at ``n_docs``).
    progress : callable, optional
        ``progress(done, total)`` after every block of checks.

    Returns
    -------
    ranks : ndarray of shape (n_checks,), int64
        :math:`r = 1 + |\{j \ne d : q \cdot D_j \ge q \cdot v\}|`, 1-based; ties count against the item.
    top : ndarray of shape (n_checks, k), int64
        The top-``k`` document rows of each check (the known item at its own row), by decreasing
        score, ties by increasing row with the known item after the others (as its rank counts them).
    top_scores : ndarray of shape (n_checks, k), float32
        Their cosines.
    """
    n, n_docs = len(item_rows), docs.shape[0]
    if queries.shape[0] != n or items.shape[0] != n:
        raise InputError(f"{queries.shape[0]} query and {items.shape[0]} item vectors for {n} checks; pass one each")
    if n and (item_rows.min() < 0 or item_rows.max() >= n_docs):
        raise InputError(f"known-item rows must index the {n_docs} documents")
    depth = min(k, n_docs)
    ranks = np.empty(n, dtype=np.int64)
    top = np.empty((n, depth), dtype=np.int64)
    top_scores = np.empty((n, depth), dtype=np.float32)
    for start in range(0, n, _BLOCK):
        stop = min(n, start + _BLOCK)
        scores = queries[start:stop] @ docs.T
        own = np.einsum("ij,ij->i", queries[start:stop], items[start:stop])
        local = np.arange(stop - start)
        scores[local, item_rows[start:stop]] = own
        # ties count against the known item: rank = 1 + other documents scoring at least as high
        ranks[start:stop] = (scores >= own[:, None]).sum(axis=1)
        part = np.argpartition(-scores, depth - 1, axis=1)[:, :depth] if depth < n_docs else \
            np.tile(np.arange(n_docs), (stop - start, 1))
        part_scores = np.take_along_axis(scores, part, axis=1)
        is_item = part == item_rows[start:stop, None]  # among equal scores the known item comes last, as ranked
        order = np.lexsort((part, is_item, -part_scores), axis=1)
        top[start:stop] = np.take_along_axis(part, order, axis=1)
        top_scores[start:stop] = np.take_along_axis(part_scores, order, axis=1)
        if progress is not None:
            progress(stop, n)
    return ranks, top, top_scores


def known_item_metrics(ranks: NDArray[np.int64], metrics: Sequence[str]) -> dict[str, NDArray[np.float64]]:
    """Per-check metrics of a query with one relevant document at rank ``ranks`` (1-based).

    ``"ndcg@k"`` is :math:`1/\\log_2(r+1)`, ``"mrr@k"`` is :math:`1/r` and ``"recall@k"`` is 1 when
    :math:`r \\le k`; all are 0 beyond ``k`` — the values :func:`diagnostics.retrieval.retrieval_metrics`
    gives for such a query.
    """
    r = np.asarray(ranks, dtype=np.float64)
    out: dict[str, NDArray[np.float64]] = {}
    for metric in metrics:
        name, _, cut = metric.partition("@")
        if not cut.isdigit() or name not in ("ndcg", "mrr", "recall"):
            raise InputError(f"unknown metric {metric!r}; use ndcg@k, mrr@k or recall@k")
        within = r <= int(cut)
        value = 1.0 / np.log2(r + 1.0) if name == "ndcg" else 1.0 / r if name == "mrr" else np.ones_like(r)
        out[metric] = np.where(within, value, 0.0)
    return out


def document_scores(checks: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """One row per checked document: the mean of its checks' ``columns`` (the unit of the statistics).

    A document with a passage and a title check counts once, so that its two checks do not enter
    the bootstrap and the sign-flip test as two independent queries. Returns ``query_id`` (the
    document id), ``domain`` and ``columns``, documents in first-check order.
    """
    grouped = checks.groupby(["doc_id", "domain"], sort=False)[list(columns)].mean().reset_index()
    return grouped.rename(columns={"doc_id": "query_id"})


@dataclass(frozen=True)
class KnownItemRun:
    """The known-item checks of one comparison, scored with both models (and BM25).

    Attributes
    ----------
    checks : pandas.DataFrame
        :attr:`KnownItems.checks` plus ``rank_base``, ``rank_tuned`` and ``rank_bm25`` (0 when BM25
        was not run) and, per metric ``m``, ``m_base``, ``m_tuned``, ``m_delta`` and ``m_bm25``.
    coverage : pandas.DataFrame
        As :attr:`KnownItems.coverage`.
    top_base, top_tuned : ndarray of shape (n_checks, k), int
        Each check's top-k document rows per model (the known item at its own row).
    score_base, score_tuned : ndarray of shape (n_checks, k), float32
        Their cosines.
    """

    checks: pd.DataFrame
    coverage: pd.DataFrame
    top_base: NDArray[np.int64]
    top_tuned: NDArray[np.int64]
    score_base: NDArray[np.float32]
    score_tuned: NDArray[np.float32]


def run_known_items(
    dataset: Dataset,
    base_docs: NDArray[np.float32],
    tuned_docs: NDArray[np.float32],
    *,
    base_model: object,
    tuned_model: object,
    metrics: Sequence[str],
    docs_per_domain: int = 300,
    random_state: int = 0,
    bm25: bool = True,
    query_prefix: str = "",
    doc_prefix: str = "",
    k: int = 10,
    progress: Callable[[str, int, int], None] | None = None,
) -> KnownItemRun:
    """Build the checks, encode their queries and known items with both models, rank and score them.

    ``base_model`` / ``tuned_model`` are what :func:`diagnostics.encoding.encode_texts` takes (a
    :class:`~diagnostics.encoding.LazyModel` loads each model at most once); queries are encoded
    with ``query_prefix`` and known items with ``doc_prefix``, as the corpus was. Every encoded text
    goes through the disk cache, so a second run encodes nothing. Progress stages:
    ``known-item: encode base``, ``known-item: encode tuned``, ``known-item: rank``,
    ``known-item: bm25``.
    """
    from diagnostics.encoding import LazyModel, document_texts, encode_texts

    def report(stage: str) -> Callable[[int, int], None]:
        return lambda done, total: progress(stage, done, total) if progress is not None else None

    built = build_known_items(dataset, docs_per_domain=docs_per_domain, random_state=random_state)
    checks = built.checks.copy()
    rows = checks["doc_row"].to_numpy(np.int64)
    queries, items = checks["query"].tolist(), checks["item_text"].tolist()
    stored_as_is = (checks["construction"] == "keywords").to_numpy(np.int8)
    tops: dict[str, NDArray[np.int64]] = {}
    scores: dict[str, NDArray[np.float32]] = {}
    for side, model, docs in (("base", base_model, base_docs), ("tuned", tuned_model, tuned_docs)):
        handle = model if isinstance(model, LazyModel) else LazyModel(model)  # type: ignore[arg-type]
        stage = f"known-item: encode {side}"
        q = encode_texts(queries, handle, prefix=query_prefix, progress=progress, stage=f"{stage} queries")
        # a keyword check's known item is the document as stored: only the other kinds re-encode theirs
        v = np.array(docs[rows], dtype=np.float32, copy=True)
        changed = np.flatnonzero(stored_as_is == 0)
        if len(changed):
            v[changed] = encode_texts([items[i] for i in changed], handle, prefix=doc_prefix, progress=progress,
                                      stage=f"{stage} items")
        if len(checks):
            ranks, tops[side], scores[side] = rank_known_items(q, v, docs, rows, k=k,
                                                               progress=report(f"known-item: rank {side}"))
        else:
            ranks, tops[side] = np.empty(0, np.int64), np.empty((0, min(k, len(docs))), np.int64)
            scores[side] = np.empty((0, min(k, len(docs))), np.float32)
        checks[f"rank_{side}"] = ranks
    checks["rank_bm25"] = 0
    if bm25 and len(checks):
        from diagnostics.lexical import BM25

        index = BM25(document_texts(dataset))
        checks["rank_bm25"] = index.rank_known_items(queries, items, rows, progress=report("known-item: bm25"))
    for side in ("base", "tuned", "bm25"):
        if side == "bm25" and not (bm25 and len(checks)):
            for metric in metrics:
                checks[f"{metric}_bm25"] = np.nan
            continue
        values = known_item_metrics(checks[f"rank_{side}"].to_numpy(np.int64), metrics)
        for metric, column in values.items():
            checks[f"{metric}_{side}"] = column
    for metric in metrics:
        checks[f"{metric}_delta"] = checks[f"{metric}_tuned"] - checks[f"{metric}_base"]
    return KnownItemRun(checks=checks, coverage=built.coverage, top_base=tops["base"], top_tuned=tops["tuned"],
                        score_base=scores["base"], score_tuned=scores["tuned"])
