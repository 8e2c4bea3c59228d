"""Two saved runs of the same dataset side by side: what differs in their inputs, verdicts and top-k.

Why one module past ~500 lines: the three comparisons (inputs, domains, queries) and the one object that
carries them to the CLI, the JSON and the page are read together when the question "what changed" changes.

The on-call question after an incident: the run that was signed off against the run of the model that
shipped — did the inputs change (model fingerprints, the stored vectors, the config, the parameters, the
library versions), did a domain's verdict or Δ move, and which queries now retrieve other documents?
:func:`diff_runs` answers it from the two runs alone (their manifests, tables and arrays), with no model
and no dataset file, so it works on any machine that holds the run store.

Run A is "then" (e.g. the signed-off run), run B "now". Both must be on the same dataset (equal dataset
fingerprints: the same documents, queries and judgements); otherwise the figures would line up rows that
mean different things, so :func:`diff_runs` refuses with an :class:`~diagnostics._validation.InputError`
that names both datasets.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from diagnostics._validation import InputError, check_k
from diagnostics.metrics import label as metric_label
from diagnostics.result import Comparison, _clean, _clean_tree
from diagnostics.verdict import KNOWN_ITEM_PREFIX

__all__ = ["RunDiff", "diff_runs", "diff_topk", "DOMAIN_COLUMNS", "QUERY_COLUMNS", "INPUT_SECTIONS"]

#: Columns of :attr:`RunDiff.domains`, one row per domain and ``overall`` last.
DOMAIN_COLUMNS = (
    "domain", "verdict_a", "verdict_b", "evidence_a", "evidence_b",
    "delta_a", "ci_low_a", "ci_high_a", "delta_b", "ci_low_b", "ci_high_b", "changed",
)
#: Columns of :attr:`RunDiff.queries`, one row per probe whose tuned top-k differs.
QUERY_COLUMNS = ("query_id", "domain", "text", "jaccard", "only_a", "only_b", "tuned_a", "tuned_b")
#: Manifest sections compared, in the order :attr:`RunDiff.inputs` lists them. ``vectors`` are the SHA-256
#: of the document vectors each run stored (``docs_base`` / ``docs_tuned``); ``engine`` the run format.
INPUT_SECTIONS = ("models", "vectors", "config", "params", "versions", "dataset", "engine")
#: Arrays whose file hashes are inputs (the vectors the runs searched), not results.
_VECTOR_ARRAYS = ("docs_base", "docs_tuned")
_REQUIRED_TABLES = ("domains", "per_query", "docs")
_REQUIRED_ARRAYS = ("rank_tuned",)
_SHOWN_HASH = 12


@dataclass(frozen=True, eq=False)
class RunDiff:
    """Run A ("then") and run B ("now") of the same dataset, lined up. Make one with :func:`diff_runs`.

    Attributes
    ----------
    run_a, run_b : str
        The run ids.
    verdict_a, verdict_b : str
        Each run's overall verdict.
    metric_a, metric_b : str
        Each run's verdict metric (its config's ``retrieval_metric``); each run's Δ and per-query figures
        are of its own metric.
    k : int
        The top-k compared: the smaller of the two runs' ``k``.
    dataset : dict
        ``source``, ``fingerprint``, ``n_docs``, ``n_queries``, ``n_qrels`` of the shared dataset (run A's
        manifest).
    domains : DataFrame
        :data:`DOMAIN_COLUMNS`: per domain and ``overall``, each run's verdict, its evidence
        (``judged``, ``synthetic``, ``none``) and the Δ (tuned − base) of its verdict metric with the 95 % CI
        that the verdict rests on — of the judged queries, or of the known-item checks where the evidence
        is synthetic; ``changed`` when the verdict or the evidence differs.
    inputs : list of dict
        ``{"section", "key", "a", "b"}`` for every input that differs, sections :data:`INPUT_SECTIONS`;
        nested keys are dotted (``known_item.status``); ``None`` where a run has no such key.
    queries : DataFrame
        :data:`QUERY_COLUMNS`: every probe whose tuned top-``k`` list differs (other documents, or the same
        in another order), fewest shared documents first: the Jaccard of the two lists, the document ids only
        in A's and only in B's list (in rank order), and each run's tuned verdict metric for the probe (NaN
        when not judged).
    n_probes : int
        Probes compared (queries, or documents when the dataset has no queries).
    notes : list of str
        What a reader must know to read the tables (a smaller k used, different verdict metrics).
    """

    run_a: str
    run_b: str
    verdict_a: str
    verdict_b: str
    metric_a: str
    metric_b: str
    k: int
    dataset: dict[str, Any]
    domains: pd.DataFrame
    inputs: list[dict[str, Any]]
    queries: pd.DataFrame
    n_probes: int
    notes: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """True when nothing differs: no input, no verdict or evidence, no Δ, no tuned top-k (a run with itself)."""
        return not self.inputs and not len(self.queries) and not self.domains["changed"].any() and not any(
            _differs(a, b) for a, b in zip(self.domains["delta_a"], self.domains["delta_b"], strict=True))

    @property
    def changed_domains(self) -> list[str]:
        """Domains (not ``overall``) whose verdict or evidence differs."""
        rows = self.domains[self.domains["changed"] & (self.domains["domain"] != "overall")]
        return [str(d) for d in rows["domain"]]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``run_a``, ``run_b``, ``verdict_a``, ``verdict_b``, ``metric_a``, ``metric_b``,
        ``k``, ``dataset``, ``is_empty``, ``notes``, ``domains`` (list of rows, :data:`DOMAIN_COLUMNS`),
        ``inputs`` (list of ``{section, key, a, b}``), ``n_probes``, ``n_queries_changed`` and ``queries``
        (list of rows, :data:`QUERY_COLUMNS`; ``only_a`` / ``only_b`` are lists of document ids).
        NaN becomes ``null``."""
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "verdict_a": self.verdict_a,
            "verdict_b": self.verdict_b,
            "metric_a": self.metric_a,
            "metric_b": self.metric_b,
            "k": self.k,
            "dataset": _clean_tree(self.dataset),
            "is_empty": self.is_empty,
            "notes": list(self.notes),
            "domains": _records(self.domains),
            "inputs": _clean_tree(self.inputs),
            "n_probes": self.n_probes,
            "n_queries_changed": len(self.queries),
            "queries": _records(self.queries),
        }

    def summary_text(self, *, n_queries: int = 5) -> str:
        """The diff for a terminal: the runs, notes, the domains then and now, the inputs that differ, and
        how many tuned top-k lists changed with the ``n_queries`` that changed most."""
        lines = [
            f"run A {self.run_a}  verdict {self.verdict_a}",
            f"run B {self.run_b}  verdict {self.verdict_b}",
            f"dataset {self.dataset.get('source', '')!s}: {self.dataset.get('n_docs')} documents, "
            f"{self.dataset.get('n_queries')} queries, {self.dataset.get('n_qrels')} judgements",
        ]
        lines += [f"note: {note}" for note in self.notes]
        if self.is_empty:
            lines.append(f"the two runs agree: same inputs, verdicts and Δ, and the same tuned top-{self.k} "
                         f"for all {self.n_probes} probes")
            return "\n".join(lines)
        frame = self.domain_frame()
        for column in (c for c in frame.columns if c.startswith("Δ ")):
            frame[column] = ["–" if pd.isna(x) else f"{x:+.3f}" for x in frame[column]]
        lines += ["", f"Domains: verdict and Δ {self._metric_words()}, then (A) and now (B)",
                  frame.to_string(index=False)]
        lines += ["", f"Inputs that differ ({len(self.inputs)})" if self.inputs else "Inputs: none differ"]
        lines += [f"  {row['section']}.{row['key']}: {_short(row['a'])} → {_short(row['b'])}" for row in self.inputs]
        lines += ["", f"Queries whose tuned top-{self.k} differs: {len(self.queries)} of {self.n_probes}"]
        for row in self.queries.head(n_queries).to_dict(orient="records"):
            lines.append(f"  {row['query_id']} ({row['domain']}) overlap {row['jaccard']:.2f}: "
                         f"only in A {', '.join(row['only_a']) or '–'}; only in B {', '.join(row['only_b']) or '–'}")
        if len(self.queries) > n_queries:
            lines.append(f"  … and {len(self.queries) - n_queries} more (--json FILE lists them all)")
        return "\n".join(lines)

    def domain_frame(self) -> pd.DataFrame:
        """The domain table as people read it: verdicts A → B, evidence, Δ with CI of each run."""
        t = self.domains
        return pd.DataFrame({
            "domain": t["domain"],
            "verdict A": t["verdict_a"],
            "verdict B": t["verdict_b"],
            "evidence A": t["evidence_a"],
            "evidence B": t["evidence_b"],
            f"Δ A ({metric_label(self.metric_a)})": t["delta_a"].round(3),
            "95% CI A": _ci(t["ci_low_a"], t["ci_high_a"]),
            f"Δ B ({metric_label(self.metric_b)})": t["delta_b"].round(3),
            "95% CI B": _ci(t["ci_low_b"], t["ci_high_b"]),
            "changed": np.where(t["changed"], "yes", ""),
        })

    def _metric_words(self) -> str:
        if self.metric_a == self.metric_b:
            return f"of {metric_label(self.metric_a)}"
        return f"of {metric_label(self.metric_a)} in A and {metric_label(self.metric_b)} in B"


def diff_runs(a: Comparison, b: Comparison) -> RunDiff:
    """Line up two runs of the same dataset: inputs, per-domain verdicts and Δ, and tuned top-k lists.

    Parameters
    ----------
    a, b : Comparison
        Run A ("then", e.g. the signed-off run) and run B ("now"), as :func:`~diagnostics.load_comparison`
        opens them (every table; arrays may be memory-mapped).

    Returns
    -------
    RunDiff
        Empty (:attr:`RunDiff.is_empty`) for a run diffed with itself.

    Raises
    ------
    InputError
        The runs are on different datasets (the message names both, with their sizes, and what differs);
        or a run lacks a table or array the diff reads.

    Notes
    -----
    The top-k compared is the smaller of the two runs' ``k``. A probe's tuned top-k lists are compared as
    ranked lists of document ids; their Jaccard is :math:`|A \\cap B| / |A \\cup B|` (1 for the same documents
    in another order).
    """
    _check_runs(a, b)
    _check_same_dataset(a, b)
    k = _shared_k(a, b)
    notes: list[str] = []
    if a.k != b.k:
        notes.append(f"the runs have different k (A {a.k}, B {b.k}): top-{k} lists are compared")
    if a.metric != b.metric:
        notes.append(f"the runs decide verdicts on different metrics (A {metric_label(a.metric)}, "
                     f"B {metric_label(b.metric)}): each run's Δ is of its own metric")
    inputs = _input_rows(a, b)
    if a.metric != b.metric and not any(r["section"] == "config" and r["key"] == "retrieval_metric" for r in inputs):
        inputs.append({"section": "config", "key": "retrieval_metric", "a": a.metric, "b": b.metric})
    queries, n_probes = _query_rows(a, b, k=k)
    dataset = a.manifest.get("dataset", {})
    return RunDiff(
        run_a=a.run_id, run_b=b.run_id, verdict_a=a.verdict, verdict_b=b.verdict, metric_a=a.metric,
        metric_b=b.metric, k=k,
        dataset={key: dataset.get(key) for key in ("source", "fingerprint", "n_docs", "n_queries", "n_qrels")},
        domains=_domain_rows(a, b), inputs=inputs, queries=queries, n_probes=n_probes, notes=notes,
    )


def diff_topk(a: Comparison, b: Comparison, query_id: str, *, k: int | None = None) -> pd.DataFrame:
    """One probe's tuned top-k in run A and in run B, side by side, with the documents.

    Parameters
    ----------
    a, b : Comparison
        Runs A and B (of the same dataset: see :func:`diff_runs`).
    query_id : str
        A probe of both runs.
    k : int, optional
        How many ranks; default and largest the smaller of the runs' ``k``.

    Returns
    -------
    DataFrame
        One row per (side, rank): ``side`` (``A``/``B``), ``rank`` (1-based), ``doc_id``, ``domain``,
        ``title``, ``text``, ``score`` (cosine of the run's tuned model), ``other_rank`` (the document's rank
        in the other run's tuned top-k, NaN if absent) and ``change``: ``kept`` or, when the other run's top-k
        lacks it, ``only in A`` / ``only in B``.

    Raises
    ------
    InputError
        ``query_id`` is not a probe of a run, or ``k`` is out of range.
    """
    _check_runs(a, b)
    limit = _shared_k(a, b)
    k = limit if k is None else check_k(k, high=limit)
    lists = {side: _tuned_list(run, query_id, k) for side, run in (("A", a), ("B", b))}
    position = {side: {doc_id: i + 1 for i, (_, doc_id, _) in enumerate(lists[side])} for side in lists}
    records: list[dict[str, Any]] = []
    for side, other, run in (("A", "B", a), ("B", "A", b)):
        docs = run.tables["docs"]
        for rank, (row, doc_id, score) in enumerate(lists[side], start=1):
            other_rank = position[other].get(doc_id)
            records.append({
                "side": side, "rank": rank, "doc_id": doc_id, "domain": str(docs["domain"].iat[row]),
                "title": str(docs["title"].iat[row]) if "title" in docs.columns else "",
                "text": str(docs["text"].iat[row]), "score": score,
                "other_rank": float(other_rank) if other_rank is not None else np.nan,
                "change": "kept" if other_rank is not None else f"only in {side}",
            })
    return pd.DataFrame.from_records(records)


# -- checks ----------------------------------------------------------------------------------------

def _check_runs(a: Comparison, b: Comparison) -> None:
    for name, run in (("a", a), ("b", b)):
        if not isinstance(run, Comparison):
            raise TypeError(f"{name} must be a Comparison (from load_comparison); got {type(run).__name__}")
        _check_complete(run)


def _shared_k(a: Comparison, b: Comparison) -> int:
    """The top-k both runs hold: the smaller ``k`` (never deeper than either run's ranked lists)."""
    return min(a.k, b.k, int(a.arrays["rank_tuned"].shape[1]), int(b.arrays["rank_tuned"].shape[1]))


def _check_complete(run: Comparison) -> None:
    missing = [f"table {t!r}" for t in _REQUIRED_TABLES if t not in run.tables]
    missing += [f"array {n!r}" for n in _REQUIRED_ARRAYS if n not in run.arrays]
    if missing:
        raise InputError(f"run {run.run_id} has no {', '.join(missing)}; open it with load_comparison(run_id) "
                         "(every table) to diff it")


def _describe_dataset(run: Comparison) -> str:
    d = run.manifest.get("dataset", {})
    fingerprint = str(d.get("fingerprint") or "")[:_SHOWN_HASH] or "none"
    return (f"{str(d.get('source') or 'unnamed')[:80]!r} ({d.get('n_docs', '?')} documents, "
            f"{d.get('n_queries', '?')} queries, {d.get('n_qrels', '?')} judgements; fingerprint {fingerprint}…)")


def _check_same_dataset(a: Comparison, b: Comparison) -> None:
    fa, fb = (run.manifest.get("dataset", {}).get("fingerprint") for run in (a, b))
    if fa and fa == fb:
        return
    parts = _differing_parts(a, b)
    what = f"; {' and '.join(parts)} differ" if parts else ""
    raise InputError(
        f"runs {a.run_id} and {b.run_id} are on different datasets: A on {_describe_dataset(a)}, "
        f"B on {_describe_dataset(b)}{what}. A run diff lines up runs of the same dataset (the same documents, "
        "queries and judgements); to compare these, make both runs again on one dataset, or read each "
        "with `embdiff report`"
    )


def _differing_parts(a: Comparison, b: Comparison) -> list[str]:
    """Which of documents, queries and judgements differ between the runs' copies of their datasets."""
    from diagnostics.dataset import DOC_COLUMNS, QREL_COLUMNS, QUERY_COLUMNS

    parts = []
    for name, noun, columns in (("docs", "the documents", DOC_COLUMNS), ("queries", "the queries", QUERY_COLUMNS),
                                ("qrels", "the judgements", QREL_COLUMNS)):
        ta, tb = a.tables.get(name), b.tables.get(name)
        if ta is None or tb is None:
            continue
        cols = [c for c in columns if c in ta.columns and c in tb.columns]
        same = len(ta) == len(tb) and ta[cols].astype(str).reset_index(drop=True).equals(
            tb[cols].astype(str).reset_index(drop=True))
        if not same:
            parts.append(noun)
    return parts


# -- inputs ----------------------------------------------------------------------------------------

def _flatten(section: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in section.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{name}.")
        else:
            yield name, value


def _sections(run: Comparison) -> dict[str, dict[str, Any]]:
    """The manifest's inputs, flattened per section of :data:`INPUT_SECTIONS`."""
    m = run.manifest
    hashes = m.get("contents_sha256", {}).get("arrays", {}) if isinstance(m.get("contents_sha256"), dict) else {}
    dataset = {k: v for k, v in (m.get("dataset") or {}).items() if k != "fingerprint"}
    raw: dict[str, Mapping[str, Any]] = {
        "models": m.get("models") or {},
        "vectors": {name: hashes[name] for name in _VECTOR_ARRAYS if name in hashes},
        "config": m.get("config") or {},
        "params": m.get("params") or {},
        "versions": m.get("versions") or {},
        "dataset": dataset,
        "engine": {"format_version": m.get("format_version")},
    }
    return {name: dict(_flatten(_clean_tree(dict(section)))) for name, section in raw.items()}


def _input_rows(a: Comparison, b: Comparison) -> list[dict[str, Any]]:
    sa, sb = _sections(a), _sections(b)
    rows: list[dict[str, Any]] = []
    for section in INPUT_SECTIONS:
        left, right = sa[section], sb[section]
        for key in [*left, *(k for k in right if k not in left)]:
            va, vb = left.get(key), right.get(key)
            if va != vb:
                rows.append({"section": section, "key": key, "a": va, "b": vb})
    return rows


# -- domains ---------------------------------------------------------------------------------------

def _verdict_figures(row: Mapping[str, Any], metric: str) -> tuple[str, float, float, float]:
    """A domain row's evidence and the Δ with CI its verdict rests on (known-item figures when synthetic)."""
    evidence = str(row.get("evidence", "none") or "none")
    prefix = KNOWN_ITEM_PREFIX if evidence == "synthetic" else ""
    figures = (_number(row.get(f"{prefix}{metric}_{f}")) for f in ("delta", "ci_low", "ci_high"))
    delta, low, high = figures
    return evidence, delta, low, high


def _domain_rows(a: Comparison, b: Comparison) -> pd.DataFrame:
    rows = {side: {str(r["domain"]): {str(k): v for k, v in r.items()} for r in run.domains.to_dict(orient="records")}
            for side, run in (("a", a), ("b", b))}
    names = [d for d in rows["a"] if d != "overall"]
    names += [d for d in rows["b"] if d != "overall" and d not in rows["a"]]
    names.append("overall")
    records = []
    for domain in names:
        record: dict[str, Any] = {"domain": domain}
        for side, run in (("a", a), ("b", b)):
            row = rows[side].get(domain)  # the overall row's verdict is the run's (stages.verdict)
            if row is None:
                record.update({f"verdict_{side}": "", f"evidence_{side}": "", f"delta_{side}": np.nan,
                               f"ci_low_{side}": np.nan, f"ci_high_{side}": np.nan})
                continue
            evidence, delta, low, high = _verdict_figures(row, run.metric)
            record.update({f"verdict_{side}": str(row.get("verdict", "")), f"evidence_{side}": evidence,
                           f"delta_{side}": delta, f"ci_low_{side}": low, f"ci_high_{side}": high})
        record["changed"] = (record["verdict_a"] != record["verdict_b"]
                             or record["evidence_a"] != record["evidence_b"])
        records.append(record)
    return pd.DataFrame.from_records(records, columns=list(DOMAIN_COLUMNS))


# -- queries ---------------------------------------------------------------------------------------

def _probe_texts(run: Comparison) -> dict[str, str]:
    queries = run.tables.get("queries")
    source = queries if queries is not None and len(queries) else run.tables["docs"]
    return dict(zip(source["id"].astype(str), source["text"].astype(str), strict=True))


def _tuned_ids(run: Comparison, k: int) -> np.ndarray[Any, Any]:
    """Every probe's tuned top-``k`` as document ids (probes × k, object)."""
    ids = run.tables["docs"]["id"].astype(str).to_numpy(object)
    ranks = np.asarray(run.arrays["rank_tuned"][:, :k])
    out: np.ndarray[Any, Any] = ids[ranks]
    return out


def _query_rows(a: Comparison, b: Comparison, *, k: int) -> tuple[pd.DataFrame, int]:
    """The probes whose tuned top-``k`` differs, aligned by probe id; and how many probes were compared."""
    ids_a = a.per_query["query_id"].astype(str).to_numpy(object)
    position_b = {q: i for i, q in enumerate(b.per_query["query_id"].astype(str))}
    rows_b = np.array([position_b.get(q, -1) for q in ids_a], dtype=np.int64)
    shared = np.flatnonzero(rows_b >= 0)
    top_a, top_b = _tuned_ids(a, k)[shared], _tuned_ids(b, k)[rows_b[shared]]
    differs = np.flatnonzero((top_a != top_b).any(axis=1)) if len(shared) else np.empty(0, dtype=np.int64)
    texts = _probe_texts(a)
    metric_a, metric_b = f"{a.metric}_tuned", f"{b.metric}_tuned"
    records: list[dict[str, Any]] = []
    for i in differs:
        row_a, row_b = int(shared[i]), int(rows_b[shared[i]])
        list_a, list_b = [str(d) for d in top_a[i]], [str(d) for d in top_b[i]]
        set_a, set_b = set(list_a), set(list_b)
        query_id = str(ids_a[row_a])
        records.append({
            "query_id": query_id,
            "domain": str(a.per_query["domain"].iat[row_a]),
            "text": texts.get(query_id, ""),
            "jaccard": len(set_a & set_b) / len(set_a | set_b),
            "only_a": [d for d in list_a if d not in set_b],
            "only_b": [d for d in list_b if d not in set_a],
            "tuned_a": _number(a.per_query[metric_a].iat[row_a]) if metric_a in a.per_query.columns else np.nan,
            "tuned_b": _number(b.per_query[metric_b].iat[row_b]) if metric_b in b.per_query.columns else np.nan,
        })
    table = pd.DataFrame.from_records(records, columns=list(QUERY_COLUMNS))
    if len(table):
        table = table.sort_values(["jaccard", "query_id"], kind="stable").reset_index(drop=True)
    return table, len(shared)


def _tuned_list(run: Comparison, query_id: str, k: int) -> list[tuple[int, str, float]]:
    """A probe's tuned top-``k``: (document row, document id, cosine) in rank order."""
    ids = run.per_query["query_id"].astype(str).to_numpy()
    hits = np.flatnonzero(ids == str(query_id))
    if not len(hits):
        raise InputError(f"query {str(query_id)[:40]!r} is not in run {run.run_id}; pick one from the list")
    row = int(hits[0])
    doc_ids = run.tables["docs"]["id"]
    ranks = [int(d) for d in np.asarray(run.arrays["rank_tuned"][row, :k])]
    scores = (np.asarray(run.arrays["score_tuned"][row, :k], dtype=np.float64) if "score_tuned" in run.arrays
              else np.full(len(ranks), np.nan))
    return [(d, str(doc_ids.iat[d]), float(s)) for d, s in zip(ranks, scores, strict=True)]


# -- helpers ---------------------------------------------------------------------------------------

def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _differs(a: Any, b: Any) -> bool:
    x, y = _number(a), _number(b)
    if math.isnan(x) and math.isnan(y):
        return False
    return x != y


def _ci(low: pd.Series, high: pd.Series) -> list[str]:
    return ["" if pd.isna(lo) or pd.isna(hi) else f"[{lo:+.3f}, {hi:+.3f}]" for lo, hi in zip(low, high, strict=True)]


def _short(value: Any) -> str:
    text = "–" if value is None else str(value)
    return text if len(text) <= 70 else text[:69] + "…"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for record in frame.to_dict(orient="records"):
        out.append({str(k): _clean_tree(list(v)) if isinstance(v, list | tuple | np.ndarray) else _clean(v)
                    for k, v in record.items()})
    return out
