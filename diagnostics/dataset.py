"""The dataset: documents, queries and relevance judgements, each with a domain.

Why one module past ~500 lines: the three ways in (a BEIR folder, tables in JSON lines, CSV or Parquet,
a folder of them) meet in one schema through the same per-field checks, whose error messages name the
file, the row and the field; split apart, every error path would run through two files. A third of it is
the schema and its rules, written here once.

Frames use one schema everywhere in the engine:

* ``docs``    — columns ``id``, ``title``, ``text``, ``domain`` (all ``str``), ids unique;
* ``queries`` — columns ``id``, ``text``, ``domain`` (may have no rows: documents then serve as probes);
* ``qrels``   — columns ``query_id``, ``doc_id`` (``str``), ``score`` (``int``; > 0 is relevant;
  may have no rows: only label-free signals are then available).

Row order is meaningful: row ``i`` of ``docs`` is row ``i`` of every document matrix.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from diagnostics._validation import (
    MAX_ID_LENGTH,
    TABLE_SUFFIXES,
    InputError,
    RawTable,
    check_directory,
    check_record_id,
    describe_ids,
    display_path,
    read_table,
    read_utf8,
    table_format,
)

__all__ = [
    "Dataset",
    "DOC_COLUMNS",
    "QUERY_COLUMNS",
    "QREL_COLUMNS",
    "MIN_JUDGED_QUERIES",
    "load_beir",
    "load_tables",
    "load_dataset",
    "keep_judgements",
]

DOC_COLUMNS = ("id", "title", "text", "domain")
QUERY_COLUMNS = ("id", "text", "domain")
QREL_COLUMNS = ("query_id", "doc_id", "score")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated multi-domain retrieval dataset.

    Build it with :func:`diagnostics.load_dataset` (or the other loaders), which validate every
    record; the constructor itself trusts its frames.

    Attributes
    ----------
    docs, queries, qrels : pandas.DataFrame
        See the module docstring for the schema.
    source : str
        Human-readable origin (directory or file names), for manifests and messages.
    warnings : tuple of str
        Non-fatal findings (queries without judgements, domains with few queries, ...).
    """

    docs: pd.DataFrame
    queries: pd.DataFrame
    qrels: pd.DataFrame
    source: str = ""
    warnings: tuple[str, ...] = field(default=())

    @property
    def domains(self) -> list[str]:
        """Sorted domains of the documents and queries."""
        return sorted(set(self.docs["domain"]).union(self.queries["domain"]))

    @property
    def has_queries(self) -> bool:
        return len(self.queries) > 0

    @property
    def has_qrels(self) -> bool:
        return len(self.qrels) > 0

    def fingerprint(self) -> str:
        """SHA-256 (hex) of every id, text, domain and judgement, in order."""
        h = hashlib.sha256()
        for name, frame, cols in (
            ("docs", self.docs, DOC_COLUMNS),
            ("queries", self.queries, QUERY_COLUMNS),
            ("qrels", self.qrels, QREL_COLUMNS),
        ):
            h.update(f"\x00{name}\x00{len(frame)}\x00".encode())
            for col in cols:
                for value in frame[col].astype(str):
                    h.update(value.encode("utf-8", "surrogatepass"))
                    h.update(b"\x1f")
        return h.hexdigest()

    def summary(self) -> pd.DataFrame:
        """Per-domain counts: ``domain``, ``n_docs``, ``n_queries``, ``n_judged_queries``, ``n_qrels``."""
        doc_counts = self.docs.groupby("domain").size()
        query_counts = self.queries.groupby("domain").size()
        positive = self.qrels[self.qrels["score"] > 0]
        query_domain = dict(zip(self.queries["id"], self.queries["domain"], strict=True))
        judged = positive.assign(domain=positive["query_id"].map(query_domain))
        judged_counts = judged.groupby("domain")["query_id"].nunique()
        qrel_counts = judged.groupby("domain").size()
        rows = []
        for domain in self.domains:
            rows.append(
                {
                    "domain": domain,
                    "n_docs": int(doc_counts.get(domain, 0)),
                    "n_queries": int(query_counts.get(domain, 0)),
                    "n_judged_queries": int(judged_counts.get(domain, 0)),
                    "n_qrels": int(qrel_counts.get(domain, 0)),
                }
            )
        return pd.DataFrame(rows, columns=["domain", "n_docs", "n_queries", "n_judged_queries", "n_qrels"])


# --------------------------------------------------------------------------------------------------
# Loaders. Each validates every record before it returns; the errors name the file, the line or row,
# and the fix (see diagnostics._validation).
# --------------------------------------------------------------------------------------------------

#: Domain names that would collide with the all-domains row of the tables (compared case-folded).
RESERVED_DOMAINS = frozenset({"overall", "(overall)"})

#: Fewer judged queries than this in a domain gives a warning: its confidence interval will be wide.
MIN_JUDGED_QUERIES = 10

_ID_COLUMNS = ("id", "_id")
_QREL_QUERY_COLUMNS = ("query-id", "query_id", "qid")
_QREL_DOC_COLUMNS = ("corpus-id", "doc_id", "corpus_id", "doc-id", "docid")
_SPLIT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TABLE_FORMATS = ("csv", "parquet", "jsonl")
_QRELS_FORMATS = ("csv", "tsv", "parquet", "jsonl")

PathLike = str | os.PathLike[str]


@dataclass
class _Parts:
    """A loaded but not yet namespaced or merged piece of a dataset."""

    docs: pd.DataFrame
    queries: pd.DataFrame
    qrels: pd.DataFrame
    source: str
    warnings: list[str]


def _as_text(value: object, *, where: str, what: str = "text") -> str:
    if value is None:
        raise InputError(f"{where}: the record has no {what}; give every record a non-empty {what!r} field")
    if not isinstance(value, str):
        raise InputError(
            f"{where}: the {what} must be a string, found {type(value).__name__}; write it as a (quoted) string"
        )
    if not value.strip():
        raise InputError(f"{where}: the {what} is empty; give every record some text or remove the record")
    return value


def _as_domain(value: object, default: str | None, *, where: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            raise InputError(
                f"{where}: the record has no domain; add a 'domain' field (or 'metadata.domain' in JSON) "
                "to every record, or pass default_domain (loading a directory uses its name)"
            )
        return default
    if not isinstance(value, str):
        raise InputError(
            f"{where}: the domain must be a string, found {type(value).__name__}; write it as a (quoted) string"
        )
    if len(value.strip()) > MAX_ID_LENGTH:
        raise InputError(
            f"{where}: the domain is {len(value.strip())} characters long; a domain is a short name "
            f"(at most {MAX_ID_LENGTH} characters) such as 'legal'; shorten it"
        )
    if value.strip().casefold() in RESERVED_DOMAINS:
        raise InputError(
            f"{where}: the domain {value.strip()!r} is reserved for the row of all domains together; "
            "rename that domain (e.g. 'overall-docs')"
        )
    return value.strip()


def _records(
    table: RawTable, *, kind: str, default_domain: str | None, id_columns: Sequence[str] = _ID_COLUMNS
) -> pd.DataFrame:
    """Validate the documents (``kind="doc"``) or queries of a raw table into the engine's schema."""
    ids = table.column(id_columns, what=f"{kind} ids")
    texts = table.column(("text",), what=f"{kind} texts")
    titles = table.optional(("title",)) if kind == "doc" else None
    domains = table.optional(("domain",))
    metadata = table.optional(("metadata",))
    seen: dict[str, int] = {}
    out_ids: list[str] = []
    out_domains: list[str] = []
    out_titles: list[str] = []
    out_texts: list[str] = []
    for row in range(table.n_rows):
        where = table.where(row)
        record_id = check_record_id(ids[row], where=where, what=f"{kind} id")
        if record_id in seen:
            raise InputError(
                f"{where}: duplicate {kind} id {record_id!r} (first seen at {table.where(seen[record_id])}); "
                f"{kind} ids must be unique: remove or rename one of them"
            )
        seen[record_id] = row
        where = f"{where} ({kind} {record_id!r})"
        out_texts.append(_as_text(texts[row], where=where))
        domain = domains[row] if domains is not None else None
        if domain is None and metadata is not None and isinstance(metadata[row], dict):
            domain = metadata[row].get("domain")
        out_domains.append(_as_domain(domain, default_domain, where=where))
        title = titles[row] if titles is not None else None
        if title is not None and not isinstance(title, str):
            raise InputError(
                f"{where}: the title must be a string, found {type(title).__name__}; write it as a (quoted) string"
            )
        out_titles.append(title or "")
        out_ids.append(record_id)
    columns: dict[str, list[str]] = {"id": out_ids, "title": out_titles, "text": out_texts, "domain": out_domains}
    names = DOC_COLUMNS if kind == "doc" else QUERY_COLUMNS
    return pd.DataFrame({name: pd.Series(columns[name], dtype=str) for name in names})


#: Relevance grades are small integers; anything outside this range is a broken file, not a grade.
_MAX_SCORE = 2**31 - 1


def _as_score(value: object, *, where: str) -> int:
    score: int | None = None
    if isinstance(value, float):
        score = int(value) if math.isfinite(value) and value.is_integer() else None
    elif isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        score = int(value)
    elif isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,12}", value.strip()):
        score = int(value.strip())
    if score is not None and -_MAX_SCORE <= score <= _MAX_SCORE:
        return score
    raise InputError(
        f"{where}: the score {str(value)[:20]!r} is not a whole number within ±{_MAX_SCORE}; "
        "relevance scores are integers (0 = not relevant, 1 or more = relevant)"
    )


def _read_qrels_tsv(path: Path, *, label: str) -> RawTable:
    """A BEIR qrels file: ``query-id <TAB> corpus-id <TAB> score`` per line, the header line optional."""
    text = read_utf8(path, label=label)
    queries: list[str] = []
    docs: list[str] = []
    scores: list[str] = []
    lines: list[int] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        fields = [f.strip() for f in raw.rstrip("\r").split("\t")]
        if not lines and _is_qrels_header(fields):
            continue
        if len(fields) != 3:
            hint = "separate the fields with tabs"
            if len(fields) == 4:
                hint = "TREC qrels (query 0 doc score)? drop the second column"
            elif len(fields) == 1 and " " in raw.strip():
                hint = "separate the fields with tabs, not spaces"
            raise InputError(
                f"{label}, line {number}: expected 3 tab-separated fields (query-id, corpus-id, score), "
                f"found {len(fields)}; {hint}"
            )
        queries.append(fields[0])
        docs.append(fields[1])
        scores.append(fields[2])
        lines.append(number)
    if not lines:
        raise InputError(f"{label} holds no judgements (only a header); add judgements or remove the file")
    return RawTable(label, {"query-id": queries, "corpus-id": docs, "score": scores}, len(lines), lines)


def _is_qrels_header(fields: Sequence[str]) -> bool:
    lowered = [f.lower() for f in fields]
    return bool(lowered) and (lowered[0] in _QREL_QUERY_COLUMNS or lowered[-1] == "score")


def _qrels(table: RawTable, docs: pd.DataFrame, queries: pd.DataFrame) -> pd.DataFrame:
    """Validate judgements against the documents and queries they name."""
    query_ids = table.column(_QREL_QUERY_COLUMNS, what="query ids")
    doc_ids = table.column(_QREL_DOC_COLUMNS, what="document ids")
    scores = table.column(("score",), what="relevance scores (integers)")
    known_queries = set(queries["id"])
    known_docs = set(docs["id"])
    seen: dict[tuple[str, str], int] = {}
    out_q: list[str] = []
    out_d: list[str] = []
    out_s: list[int] = []
    unknown_q: dict[str, int] = {}
    unknown_d: dict[str, int] = {}
    for row in range(table.n_rows):
        where = table.where(row)
        q = check_record_id(query_ids[row], where=where, what="query id")
        d = check_record_id(doc_ids[row], where=where, what="document id")
        score = _as_score(scores[row], where=where)
        if (q, d) in seen:
            raise InputError(
                f"{where}: query {q!r} and document {d!r} are judged twice (also at "
                f"{table.where(seen[q, d])}); keep one judgement per pair"
            )
        seen[q, d] = row
        if q not in known_queries:
            unknown_q.setdefault(q, row)
        if d not in known_docs:
            unknown_d.setdefault(d, row)
        out_q.append(q)
        out_d.append(d)
        out_s.append(score)
    if unknown_q:
        first = table.where(next(iter(unknown_q.values())))
        raise InputError(
            f"{table.label} names {describe_ids(unknown_q, noun='query id')} that are not queries of the dataset "
            f"(first at {first}); add those queries or remove their judgements"
        )
    if unknown_d:
        first = table.where(next(iter(unknown_d.values())))
        raise InputError(
            f"{table.label} names {describe_ids(unknown_d, noun='document id')} that are not documents of the corpus "
            f"(first at {first}); add those documents or remove their judgements"
        )
    return _qrels_frame(out_q, out_d, out_s)


def _qrels_frame(query_ids: list[str], doc_ids: list[str], scores: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "query_id": pd.Series(query_ids, dtype=str),
            "doc_id": pd.Series(doc_ids, dtype=str),
            "score": pd.Series(scores, dtype=np.int64),
        }
    )


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=str) for name in columns})


def _check_split(split: object) -> str:
    if not isinstance(split, str) or not _SPLIT_PATTERN.fullmatch(split):
        shown = re.sub(r"[^0-9A-Za-z_.-]", "?", str(split)[:20])
        raise InputError(
            f"split {shown!r} is not valid: a split is the name of a file in qrels/ without '.tsv', "
            "such as 'test', 'dev' or 'train'"
        )
    return split


def _load_beir_parts(root: Path, *, split: str, default_domain: str | None) -> _Parts:
    corpus_path = root / "corpus.jsonl"
    queries_path = root / "queries.jsonl"
    qrels_dir = root / "qrels"
    if not corpus_path.is_file():
        raise InputError(
            f"{display_path(root)} has no corpus.jsonl: a BEIR directory holds corpus.jsonl, "
            "queries.jsonl and qrels/<split>.tsv; check the directory"
        )
    qrels_path: Path | None = None
    if qrels_dir.is_dir():
        qrels_path = qrels_dir / f"{split}.tsv"
        if not qrels_path.is_file():
            found = sorted(p.stem for p in qrels_dir.glob("*.tsv") if p.is_file())
            splits = ", ".join(repr(s) for s in found) if found else "none"
            raise InputError(
                f"{root.name}/qrels has no {split}.tsv (splits found: {splits}); "
                "pass one of those splits, or remove qrels/ to load the dataset without judgements"
            )
    label = display_path(corpus_path)
    corpus = _records(
        _table_from_json_lines(corpus_path, label=label),
        kind="doc",
        default_domain=default_domain,
        id_columns=("_id", "id"),
    )
    warnings: list[str] = []
    if queries_path.is_file():
        queries = _records(
            _table_from_json_lines(queries_path, label=display_path(queries_path)),
            kind="query",
            default_domain=default_domain,
            id_columns=("_id", "id"),
        )
    elif qrels_path is not None:
        raise InputError(
            f"{display_path(root)} has judgements in qrels/ but no queries.jsonl; add queries.jsonl "
            "(one {'_id', 'text'} object per line) or remove qrels/"
        )
    else:
        queries = _empty(QUERY_COLUMNS)
    qrels = _qrels_frame([], [], [])
    if qrels_path is not None:
        qrels_label = f"{root.name}/qrels/{split}.tsv"
        qrels = _qrels(_read_qrels_tsv(qrels_path, label=qrels_label), corpus, queries)
        judged = queries["id"].isin(set(qrels["query_id"]))
        n_dropped = int((~judged).sum())
        if n_dropped:
            queries = queries[judged].reset_index(drop=True)
            warnings.append(
                f"{display_path(queries_path)}: kept the {len(queries)} queries judged in {qrels_label}, "
                f"dropped {n_dropped} without a judgement in split {split!r}"
            )
    return _Parts(corpus, queries, qrels, root.name, warnings)


def _table_from_json_lines(path: Path, *, label: str) -> RawTable:
    return read_table(path, label=label, allowed=("jsonl",))


def _load_table_parts(
    docs: PathLike,
    queries: PathLike | None,
    qrels: PathLike | None,
    *,
    default_domain: str | None,
) -> _Parts:
    doc_frame = _records(read_table(docs, allowed=_TABLE_FORMATS), kind="doc", default_domain=default_domain)
    names = [Path(docs).name]
    query_frame = _empty(QUERY_COLUMNS)
    if queries is not None:
        query_frame = _records(read_table(queries, allowed=_TABLE_FORMATS), kind="query", default_domain=default_domain)
        names.append(Path(queries).name)
    qrel_frame = _qrels_frame([], [], [])
    if qrels is not None:
        if queries is None:
            raise InputError(
                f"{display_path(qrels)} holds judgements but no queries table was given; "
                "pass the queries too (queries=...) or leave the judgements out"
            )
        label = display_path(qrels)
        if table_format(qrels, allowed=_QRELS_FORMATS) == "tsv":
            table = _read_qrels_tsv(Path(qrels), label=label)
        else:
            table = read_table(qrels, allowed=_QRELS_FORMATS)
        qrel_frame = _qrels(table, doc_frame, query_frame)
        names.append(Path(qrels).name)
    return _Parts(doc_frame, query_frame, qrel_frame, ", ".join(names), [])


def _namespace(parts: _Parts, namespace: str | None) -> _Parts:
    if namespace is None:
        return parts
    if not isinstance(namespace, str) or not namespace.strip() or "/" in namespace:
        raise InputError(
            f"namespace {str(namespace)[:30]!r} is not valid: give a non-empty name without '/', "
            "such as the collection's name"
        )
    prefix = f"{namespace}/"
    docs = parts.docs.assign(id=prefix + parts.docs["id"])
    queries = parts.queries.assign(id=prefix + parts.queries["id"])
    qrels = parts.qrels.assign(query_id=prefix + parts.qrels["query_id"], doc_id=prefix + parts.qrels["doc_id"])
    return _Parts(docs, queries, qrels, parts.source, parts.warnings)


def _finish(parts: Sequence[_Parts]) -> Dataset:
    """Concatenate loaded pieces and add the dataset-wide warnings."""
    docs = pd.concat([p.docs for p in parts], ignore_index=True)
    queries = pd.concat([p.queries for p in parts], ignore_index=True)
    qrels = pd.concat([p.qrels for p in parts], ignore_index=True)
    for name, frame in (("document", docs), ("query", queries)):
        duplicated = frame["id"][frame["id"].duplicated()]
        if len(duplicated):
            raise InputError(
                f"{describe_ids(duplicated.unique())} appear as {name} ids in more than one input; "
                "ids must be unique across inputs: load them as several directories, which namespaces them"
            )
    warnings = [w for p in parts for w in p.warnings]
    dataset = Dataset(docs, queries, qrels, source=", ".join(p.source for p in parts))
    warnings.extend(_judgement_warnings(dataset))
    return Dataset(docs, queries, qrels, source=dataset.source, warnings=tuple(warnings))


def _judgement_warnings(dataset: Dataset) -> list[str]:
    if not dataset.has_qrels:
        return []
    warnings: list[str] = []
    relevant = set(dataset.qrels.loc[dataset.qrels["score"] > 0, "query_id"])
    unjudged = dataset.queries.loc[~dataset.queries["id"].isin(relevant), "id"]
    if len(unjudged):
        warnings.append(
            f"{describe_ids(unjudged, noun='query', plural='queries')} "
            f"{'has' if len(unjudged) == 1 else 'have'} no judged relevant document; "
            "only the label-free signals cover them"
        )
    summary = dataset.summary()
    for domain, n_judged in zip(summary["domain"], summary["n_judged_queries"], strict=True):
        if int(n_judged) == 0:
            warnings.append(
                f"domain {domain!r} has no judged queries: its retrieval change cannot be measured, "
                "only the label-free signals apply to it"
            )
        elif int(n_judged) < MIN_JUDGED_QUERIES:
            warnings.append(
                f"domain {domain!r} has only {n_judged} judged queries "
                f"(fewer than {MIN_JUDGED_QUERIES}): the confidence interval will be wide"
            )
    return warnings


def load_beir(
    path: PathLike,
    *,
    split: str = "test",
    namespace: str | None = None,
    default_domain: str | None = None,
) -> Dataset:
    """Load a BEIR directory: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.

    Parameters
    ----------
    path : str or path-like
        The directory. ``corpus.jsonl`` holds one ``{"_id", "title", "text"}`` object per line,
        ``queries.jsonl`` one ``{"_id", "text"}`` object per line (optional when there is no
        ``qrels/``), ``qrels/<split>.tsv`` the lines ``query-id <TAB> corpus-id <TAB> score``
        (header line optional).
    split : str, default "test"
        Which judgements to read. With a qrels file for the split only the queries judged in it
        are kept (the number dropped is reported in :attr:`Dataset.warnings`). Without a
        ``qrels/`` folder the dataset has no judgements (label-free); a ``qrels/`` folder without
        ``<split>.tsv`` is an error that names the splits it has.
    namespace : str, optional
        Prefix every document and query id (also in the judgements) as ``"<namespace>/<id>"``,
        so that several collections can be combined.
    default_domain : str, optional
        Domain of records without a ``domain`` field or ``metadata.domain``; by default the
        directory's name.

    Returns
    -------
    Dataset

    Raises
    ------
    InputError
        Any malformed, missing or inconsistent input; the message names the file, the line and the fix.

    References
    ----------
    Thakur et al., "BEIR: A Heterogeneous Benchmark for Zero-shot Evaluation of Information
    Retrieval Models", NeurIPS Datasets and Benchmarks 2021 (the directory layout).
    """
    root = check_directory(path)
    split = _check_split(split)
    domain = default_domain if default_domain is not None else root.resolve().name
    parts = _load_beir_parts(root, split=split, default_domain=domain)
    return _finish([_namespace(parts, namespace)])


def load_tables(
    docs: PathLike,
    *,
    queries: PathLike | None = None,
    qrels: PathLike | None = None,
    namespace: str | None = None,
    default_domain: str | None = None,
) -> Dataset:
    """Load documents, queries and judgements from plain tables.

    Parameters
    ----------
    docs : str or path-like
        A CSV, Parquet or JSON Lines file (by extension) with columns ``id``, ``text``,
        ``domain`` and optionally ``title``.
    queries : str or path-like, optional
        The same format with columns ``id``, ``text``, ``domain``. Without it there are no
        queries and the documents serve as probes.
    qrels : str or path-like, optional
        A CSV, TSV, Parquet or JSON Lines table with columns ``query-id``, ``corpus-id``, ``score``
        (``query_id``/``doc_id`` are accepted too); needs ``queries``. A ``.tsv`` file is read
        like a BEIR qrels file (header optional).
    namespace : str, optional
        Prefix every id as ``"<namespace>/<id>"``.
    default_domain : str, optional
        Domain of records whose ``domain`` is missing or empty; without it every record needs one.

    Returns
    -------
    Dataset
        Queries without a judged relevant document are kept and reported in its ``warnings``.

    Raises
    ------
    InputError
        Any malformed, missing or inconsistent input; the message names the file, the row and the fix.
    """
    parts = _load_table_parts(docs, queries, qrels, default_domain=default_domain)
    return _finish([_namespace(parts, namespace)])


def keep_judgements(dataset: Dataset, domains: Sequence[str]) -> Dataset:
    """The same dataset with only the judgements of queries in ``domains``.

    What a team that judged only the domain it tuned on has: the other domains' queries stay (as
    unjudged probes), their judgements go. Used to see what embdiff says without them
    (``embdiff compare --qrels-domain D``).

    Raises
    ------
    InputError
        A domain that is not in the dataset.
    """
    wanted = [str(d) for d in domains]
    unknown = sorted(set(wanted) - set(dataset.domains))
    if unknown:
        raise InputError(
            f"--qrels-domain {unknown[0][:60]!r} is not a domain of the dataset; its domains are "
            f"{', '.join(dataset.domains[:20])}"
        )
    query_domain = dict(zip(dataset.queries["id"], dataset.queries["domain"], strict=True))
    keep = dataset.qrels["query_id"].map(query_domain).isin(wanted)
    note = f"judgements kept only for {', '.join(sorted(set(wanted)))}: {int((~keep).sum())} others were set aside"
    return Dataset(docs=dataset.docs, queries=dataset.queries, qrels=dataset.qrels[keep].reset_index(drop=True),
                   source=dataset.source, warnings=(*dataset.warnings, note))


def load_dataset(paths: PathLike | Sequence[PathLike], *, split: str = "test") -> Dataset:
    """Load a dataset from one or several directories, or from one table file.

    Parameters
    ----------
    paths : path or sequence of paths
        Each directory is read by what it holds: ``corpus.jsonl`` makes it a BEIR directory
        (:func:`load_beir`); ``docs.csv``, ``docs.parquet`` or ``docs.jsonl`` (with optional
        ``queries.*`` and ``qrels.*`` beside it) makes it a table directory (:func:`load_tables`).
        Records without a domain take the directory's name. A single table file is read as
        documents only. With several directories every id becomes ``"<directory name>/<id>"``
        and the datasets are concatenated in the order given (directory names must differ).
    split : str, default "test"
        The qrels split of BEIR directories.

    Returns
    -------
    Dataset

    Raises
    ------
    InputError
        Any malformed, missing or inconsistent input; the message names the file, the line and the fix.

    Examples
    --------
    >>> load_dataset(["beir/cisi", "beir/cacm"]).docs["id"].iloc[0]  # doctest: +SKIP
    'cisi/1'
    """
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not items:
        raise InputError("no dataset path was given: pass a directory or a table file")
    split = _check_split(split)
    if len(items) == 1:
        path = Path(items[0])
        if path.is_file():
            return _finish([_load_table_parts(path, None, None, default_domain=None)])
        root = check_directory(path)
        return _finish([_load_directory(root, split=split, domain=root.resolve().name)])
    roots = []
    for item in items:
        root = Path(item)
        if root.is_file():
            raise InputError(
                f"{display_path(root)} is a file: several inputs must each be a directory "
                "(a BEIR directory or one with docs.csv / docs.parquet / docs.jsonl)"
            )
        roots.append(check_directory(root))
    names = [root.resolve().name for root in roots]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(
            f"several directories are called {repeated[0]!r}: with several directories each name becomes "
            "the id prefix and default domain, so names must differ; rename or copy one of them"
        )
    parts = [
        _namespace(_load_directory(root, split=split, domain=name), name)
        for root, name in zip(roots, names, strict=True)
    ]
    return _finish(parts)


def _load_directory(root: Path, *, split: str, domain: str) -> _Parts:
    if (root / "corpus.jsonl").is_file():
        return _load_beir_parts(root, split=split, default_domain=domain)
    docs = _one_table(root, "docs", _TABLE_FORMATS)
    if docs is None:
        raise InputError(
            f"{display_path(root)} holds neither corpus.jsonl (a BEIR directory) nor docs.csv, "
            "docs.parquet or docs.jsonl (a table directory); check the directory"
        )
    queries = _one_table(root, "queries", _TABLE_FORMATS)
    qrels = _one_table(root, "qrels", _QRELS_FORMATS)
    parts = _load_table_parts(docs, queries, qrels, default_domain=domain)
    parts.source = root.name
    return parts


def _one_table(root: Path, stem: str, formats: Sequence[str]) -> Path | None:
    found = [
        root / f"{stem}{suffix}"
        for suffix, fmt in TABLE_SUFFIXES.items()
        if fmt in formats and (root / f"{stem}{suffix}").is_file()
    ]
    if len(found) > 1:
        listed = ", ".join(p.name for p in found)
        raise InputError(f"{display_path(root)} holds several {stem} tables ({listed}); keep only one of them")
    return found[0] if found else None
