"""Exports of a comparison: a self-contained HTML report, JSON, CSV, and the terminal table.

The HTML inlines plotly.js, so it opens offline. All dataset text in it is HTML-escaped; none is
interpreted as markup.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from diagnostics import plots
from diagnostics._validation import InputError, display_path
from diagnostics.metrics import label
from diagnostics.result import Comparison
from diagnostics.reviews import Review

__all__ = [
    "check_output_path", "domain_table_text", "per_query_csv", "write_csv", "write_html", "write_json", "write_text",
    "html_report",
    "summary_frame", "verdict_metric", "worst_known_items",
]


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Check that an export can be written to ``path`` (its directory exists, it is not a directory).

    Raises
    ------
    InputError
        The directory is missing, or ``path`` is a directory.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{display_path(p)} is a directory: give the path of the file to write")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(
            f"cannot write {display_path(p)}: the directory {parent.name!r} does not exist; create it first"
        )
    return p


def write_text(path: Path, data: str) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file beside it, then a rename)."""
    _atomic_write(path, data)


def _atomic_write(path: Path, data: str) -> None:
    """Write text to ``path`` through a temporary file in the same folder, then rename."""
    path = check_output_path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent if str(path.parent) else ".")
    except OSError as err:
        raise InputError(f"cannot write {display_path(path)} ({err.strerror}); choose a writable directory") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write {display_path(path)} ({err.strerror}); nothing was written") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def verdict_metric(result: Comparison) -> str:
    """The metric the run's verdicts were decided on (its config's ``retrieval_metric``)."""
    return result.metric


def _ci(low: pd.Series, high: pd.Series) -> list[str]:
    return ["" if pd.isna(lo) else f"[{lo:+.3f}, {hi:+.3f}]" for lo, hi in zip(low, high, strict=True)]


def summary_frame(result: Comparison, *, metric: str | None = None) -> pd.DataFrame:
    """The per-domain table as people read it: verdict and its evidence, the metric base/tuned/Δ with
    CI and p (Holm) on judged queries, the same on known-item checks when the run has them (with
    BM25's score on those checks), overlap and collapse flags. ``metric`` defaults to the verdict's."""
    metric = metric or verdict_metric(result)
    t = result.domains
    k = result.k
    columns: dict[str, Any] = {
        "domain": t["domain"],
        "verdict": t["verdict"],
        "evidence": t["evidence"] if "evidence" in t.columns else "none",
        "queries": t["n_queries"],
        "docs": t["n_docs"],
        f"{metric} base": t[f"{metric}_base"].round(3),
        f"{metric} tuned": t[f"{metric}_tuned"].round(3),
        "Δ": t[f"{metric}_delta"].round(3),
        "95% CI": _ci(t[f"{metric}_ci_low"], t[f"{metric}_ci_high"]),
        "p (Holm)": t[f"{metric}_p_holm"].round(4),
    }
    if f"ki_{metric}_delta" in t.columns and t[f"ki_{metric}_delta"].notna().any():
        columns.update({
            "checked docs": t["ki_n_docs"].fillna(0).astype(int),
            "known-item base": t[f"ki_{metric}_base"].round(3),
            "known-item tuned": t[f"ki_{metric}_tuned"].round(3),
            "known-item Δ": t[f"ki_{metric}_delta"].round(3),
            "known-item CI": _ci(t[f"ki_{metric}_ci_low"], t[f"ki_{metric}_ci_high"]),
            "known-item p (Holm)": t[f"ki_{metric}_p_holm"].round(4),
            "BM25 on checks": t[f"ki_{metric}_bm25"].round(3),
        })
    columns[f"overlap@{k}"] = t["overlap_median"].round(2)
    columns["collapse"] = [
        ("collapsed " if c else "") + (f"merged:{m}" if isinstance(m, str) and m else "")
        for c, m in zip(t["collapsed"], t["merged_with"], strict=True)
    ]
    return pd.DataFrame(columns)


def domain_table_text(result: Comparison) -> str:
    """The per-domain table for a terminal."""
    return summary_frame(result).to_string(index=False, na_rep="–")


def per_query_csv(result: Comparison) -> str:
    """The per-query changes as CSV (one row per probe: metrics base/tuned/Δ, overlap, consistency, text).

    Probes are the queries, or the documents when the dataset has no queries; ``text`` is theirs.
    """
    table = result.per_query.copy()
    queries = result.tables.get("queries")
    source = queries if queries is not None and len(queries) else result.tables.get("docs")
    if source is not None and len(source):
        texts = dict(zip(source["id"].astype(str), source["text"], strict=True))
        table.insert(2, "text", table["query_id"].astype(str).map(texts))
    return str(table.to_csv(index=False))


def write_csv(result: Comparison, path: Path) -> None:
    _atomic_write(path, per_query_csv(result))


def write_json(result: Comparison, path: Path) -> None:
    _atomic_write(path, result.to_json() + "\n")


def _matrix(result: Comparison, name: str) -> pd.DataFrame:
    """A saved domain × domain table (its row labels in the ``from`` column) as a labelled matrix."""
    table = result.tables[name]
    return table.set_index("from") if "from" in table.columns else table


_EVIDENCE_NOTE = (
    "Each domain's verdict rests on evidence: the user's judgements (judged), else known-item checks "
    "synthesised from the domain's own documents (synthetic: a held-out sentence or the unique title is the "
    "query, the rest of the document the one right answer), else nothing — and then the domain is UNVERIFIED, "
    "never PASS. Synthetic checks reward word overlap (BM25's score on them is shown) and tend to penalise the "
    "model that departs from the rest. Neighborhood overlap, displacement and collapse measure how much the "
    "space moved, not whether retrieval got worse: they show where to look."
)


def worst_known_items(result: Comparison, *, n: int = 20, metric: str | None = None) -> pd.DataFrame:
    """The ``n`` known-item checks that lost most (Δ of the verdict metric, then the tuned rank)."""
    checks = result.tables.get("known_items")
    if checks is None or not len(checks):
        return pd.DataFrame()
    metric = metric or verdict_metric(result)
    return checks.sort_values([f"{metric}_delta", "rank_tuned", "check_id"], ascending=[True, False, True],
                              kind="stable").head(n).reset_index(drop=True)


def _signoff_html(reviews: Sequence[Review] | None) -> str:
    """The review history as an HTML section; every review says whether its identity was verified."""
    if reviews is None:
        return ""
    e = html.escape
    if not reviews:
        return "<h2>Sign-off</h2><p>No reviews recorded when this report was written.</p>"
    rows = "".join(
        f"<tr><td>{r.seq}</td><td>{e(r.created_at)}</td><td>{e(r.reviewer)}</td><td>{e(r.identity)}"
        f"{' (' + e(r.issuer) + ')' if r.verified and r.issuer else ''}</td><td>{e(r.decision)}</td>"
        f"<td>{e(r.comment)}</td><td>{e(r.justification)}</td><td>{e(r.run_verdict)}</td>"
        f"<td><code>{e(r.run_digest[:16]) or 'before digests'}</code></td>"
        f"<td><code>{e(r.row_hash[:16])}</code></td></tr>"
        for r in reviews
    )
    return f"""<h2>Sign-off</h2>
<p class="note">Reviews recorded when this report was written. "unverified": a typed name or automation, not a
login. Each review is bound to the run's content digest and is a row of the review hash chain
(<code>embdiff reviews verify</code>).</p>
<table class="w"><tr><th>#</th><th>time (UTC)</th><th>reviewer</th><th>identity</th><th>decision</th><th>comment</th>
<th>justification</th><th>verdict then</th><th>run digest</th><th>row hash</th></tr>{rows}</table>"""


def probe_table(summary: pd.DataFrame, *, domain: str | None = "overall") -> pd.DataFrame:
    """Compositional-probe cells as the app and the report show them: for one ``domain``, a row per edit rule;
    with ``domain=None``, a row per domain (all rules pooled). Pairs, share ranked right and mean cosine of
    original vs edit for both models, with Δ and its CI."""
    if domain is None:
        part, label, by = summary[(summary["rule"] == "all") & (summary["domain"] != "overall")], "domain", "domain"
    else:
        part, label, by = summary[summary["domain"] == domain], "edit rule", "rule"
    return pd.DataFrame({
        label: part[by], "pairs": part["n_pairs"],
        "ranked right, base": part["prefers_original_base"], "ranked right, tuned": part["prefers_original_tuned"],
        "Δ ranked right": part["prefers_original_delta"],
        "CI": _ci(part["prefers_original_ci_low"], part["prefers_original_ci_high"]),
        "cos(original, edit), base": part["cos_edit_base"], "cos(original, edit), tuned": part["cos_edit_tuned"],
        "Δ cos": part["cos_edit_delta"],
    }).reset_index(drop=True)


def _probe_html(result: Comparison) -> str:
    summary = result.tables.get("probe")
    if summary is None:
        return ""
    table = probe_table(summary).round(3).to_html(index=False, na_rep="–", escape=True, border=0, classes="t")
    return f"""<h2>Compositional probe (all domains)</h2>
<p class="note">Minimal pairs made from the corpus's own sentences by negation, swapped roles, word order and
relational edits (docs/PROBE.md). Ranked right: the share of pairs whose context is closer to the original
than to the edit (higher is better); cos(original, edit): lower tells them apart more. It never decides a
verdict.</p>{table}"""


def html_report(result: Comparison, *, reviews: Sequence[Review] | None = None) -> str:
    """A self-contained HTML report: verdict, evidence, reasons, tables and charts, and (given ``reviews``)
    the sign-off history; readable offline."""
    e = html.escape
    metric = verdict_metric(result)
    figures = [plots.delta_ci_figure(result.domains, metric=metric)]
    if "per_doc" in result.tables:
        figures.append(plots.overlap_figure(result.tables["per_doc"], k=result.k))
    if "flow_base" in result.tables:
        figures.append(plots.flow_figure(_matrix(result, "flow_base"), _matrix(result, "flow_tuned")))
    figures.append(plots.collapse_figure(result.domains))
    if "centroids_base" in result.tables:
        figures.append(plots.centroid_figure(_matrix(result, "centroids_base"), _matrix(result, "centroids_tuned")))
    charts = [fig.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, fig in enumerate(figures)]
    table = summary_frame(result).to_html(index=False, na_rep="–", escape=True, border=0, classes="t")
    worst = result.per_query.dropna(subset=[f"{metric}_delta"]).nsmallest(20, f"{metric}_delta")
    queries = result.tables.get("queries")
    texts = dict(zip(queries["id"], queries["text"], strict=True)) if queries is not None else {}
    rows = []
    for r in worst.to_dict(orient="records"):
        qid = str(r["query_id"])
        rows.append(
            f"<tr><td>{e(qid)}</td><td>{e(str(r['domain']))}</td><td>{e(str(texts.get(qid, '')))}</td>"
            f"<td>{r[f'{metric}_base']:.3f}</td><td>{r[f'{metric}_tuned']:.3f}</td>"
            f"<td>{r[f'{metric}_delta']:+.3f}</td></tr>"
        )
    worst_rows = "".join(rows)
    checks = worst_known_items(result, metric=metric)
    ki_section = ""
    if len(checks):
        ki_rows = "".join(
            f"<tr><td>{e(str(r['check_id']))}</td><td>{e(str(r['domain']))}</td><td>{e(str(r['construction']))}</td>"
            f"<td>{e(str(r['query']))}</td><td>{int(r['rank_base'])}</td><td>{int(r['rank_tuned'])}</td>"
            f"<td>{int(r['rank_bm25']) if r['rank_bm25'] else '–'}</td><td>{r[f'{metric}_delta']:+.3f}</td>"
            f"<td>{e(str(r['item_text'])[:400])}</td></tr>"
            for r in checks.to_dict(orient="records")
        )
        n_checks = len(result.tables["known_items"])
        ki_section = f"""<h2>Known-item checks that lost most ({n_checks} checks in all)</h2>
<p class="note">Each check holds a sentence or the unique title out of a document (the document is searched
re-encoded without it), or takes four of its distinctive terms (the document as stored), and asks both models to
find that document among all documents. Rank 1 is best.</p>
<table class="w"><tr><th>check</th><th>domain</th><th>kind</th><th>the query</th><th>rank base</th>
<th>rank tuned</th><th>rank BM25</th><th>Δ {e(label(metric))}</th><th>the document it came from (as searched)</th></tr>
{ki_rows}</table>"""
    m = result.manifest
    models = m.get("models", {})
    color = plots.VERDICT_COLORS.get(result.verdict, "#555")
    reasons = "".join(f"<li>{e(r)}</li>" for r in result.reasons)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>embdiff report {e(result.run_id)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}}
.v{{display:inline-block;padding:.3em .8em;border-radius:4px;color:#fff;background:{color};font-weight:bold}}
table.t,table.w{{border-collapse:collapse;font-size:13px}} .t td,.t th,.w td,.w th{{border-bottom:1px solid #ddd;
padding:4px 8px;text-align:left}} .note{{color:#555;font-size:13px}}</style></head><body>
<h1>embdiff report</h1>
<p>Run <code>{e(result.run_id)}</code> · {e(str(m.get("created_at", "")))}</p>
<p>Base: <code>{e(str(models.get("base", "")))}</code> · Tuned: <code>{e(str(models.get("tuned", "")))}</code>
· Dataset: <code>{e(str(m.get("dataset", {}).get("source", "")))}</code></p>
<h2>Verdict <span class="v">{e(result.verdict)}</span></h2><ul>{reasons}</ul>
<p class="note">{e(_EVIDENCE_NOTE)}</p>
<h2>Per domain</h2>{table}
{"".join(charts)}
<h2>Most regressed queries ({e(label(metric))})</h2>
<table class="w"><tr><th>query</th><th>domain</th><th>text</th><th>base</th><th>tuned</th><th>Δ</th></tr>
{worst_rows}</table>
{ki_section}
{_probe_html(result)}
{_signoff_html(reviews)}
</body></html>
"""


def write_html(result: Comparison, path: Path, *, reviews: Sequence[Review] | None = None) -> None:
    _atomic_write(path, html_report(result, reviews=reviews))
