"""Exports: the self-contained HTML report (escaped text, inlined plotly), JSON, CSV, terminal table."""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from test_compare import DEGRADED, DOMAINS, degrade, synthetic, without_qrels, without_queries

from diagnostics._validation import InputError
from diagnostics.compare import compare
from diagnostics.dataset import Dataset
from diagnostics.report import (
    domain_table_text,
    html_report,
    per_query_csv,
    write_csv,
    write_html,
    write_json,
)
from diagnostics.result import Comparison, load_comparison, save_comparison
from diagnostics.vectors import Embeddings

EVIL = "<img src=x onerror=alert(1)>"


def _hostile(dataset: Dataset, *, domain_too: bool = False) -> Dataset:
    """The dataset with markup in the degraded domain's query texts, in a document text and in the source
    (and, optionally, as the degraded domain's name)."""
    docs, queries = dataset.docs.copy(), dataset.queries.copy()
    queries.loc[queries["domain"] == DEGRADED, "text"] = EVIL + " what is a tort?"
    docs.loc[docs["domain"] == DEGRADED, "text"] = EVIL + " a contract"
    if domain_too:
        docs.loc[docs["domain"] == DEGRADED, "domain"] = EVIL
        queries.loc[queries["domain"] == DEGRADED, "domain"] = EVIL
    return Dataset(docs, queries, dataset.qrels, source=EVIL)


@pytest.fixture(scope="module")
def data() -> tuple[Dataset, Embeddings, Embeddings]:
    dataset, base = synthetic()
    return _hostile(dataset), base, degrade(dataset, base, DEGRADED)


@pytest.fixture(scope="module")
def result(data: tuple[Dataset, Embeddings, Embeddings]) -> Comparison:
    return compare(*data, projection=False)


@pytest.fixture(scope="module")
def report(result: Comparison) -> str:
    return html_report(result)


# --------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------


def test_html_is_self_contained(report: str) -> None:
    assert report.startswith("<!doctype html>") and report.rstrip().endswith("</html>")
    assert re.search(r"plotly\.js v\d+\.\d+\.\d+", report), "the plotly.js bundle is not inlined"
    assert len(report) > 1_000_000  # the bundle itself, not a link to it
    assert not re.search(r"<script[^>]*\bsrc\s*=", report, flags=re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//", report, flags=re.I)
    assert not re.search(r"<img[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//", report, flags=re.I)
    assert report.count("Plotly.newPlot") >= 4  # Δ with CI, overlap, flow, collapse, centroid charts
    assert report.count("plotly.js v") == 1  # inlined once, not once per chart


def test_html_shows_the_verdict_and_every_domain(report: str, result: Comparison) -> None:
    assert '<span class="v">FAIL</span>' in report
    assert f"<code>{result.run_id}</code>" in report
    for domain in DOMAINS:
        assert f"<td>{domain}</td>" in report
    for reason in result.reasons:
        assert f"<li>{html.escape(reason)}</li>" in report
    assert "else nothing — and then the domain is UNVERIFIED, never PASS" in report


def test_html_escapes_dataset_text(report: str) -> None:
    assert EVIL not in report
    assert "<img" not in report.lower()
    assert html.escape(EVIL) + " what is a tort?" in report  # the regressed queries' text, as text
    assert f"<code>{html.escape(EVIL)}</code>" in report  # the dataset source


def test_html_escapes_a_hostile_domain_name(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    result = compare(_hostile(dataset, domain_too=True), base, tuned, projection=False)
    assert EVIL in set(result.domains["domain"])
    page = html_report(result)
    assert EVIL not in page and "<img" not in page.lower()
    assert f"<td>{html.escape(EVIL)}</td>" in page


def test_html_lists_the_most_regressed_queries_worst_first(report: str, result: Comparison) -> None:
    section = report.split("Most regressed queries")[1]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>[^<]*</td><td>[^<]*</td><td>([\d.]+)</td><td>([\d.]+)</td>"
                      r"<td>([-+][\d.]+)</td></tr>", section)
    judged = result.per_query.dropna(subset=["ndcg@10_delta"])
    assert len(rows) == min(20, int((judged["ndcg@10_delta"] < 1).sum()))
    deltas = [float(r[3]) for r in rows]
    assert deltas == sorted(deltas) and deltas[0] == pytest.approx(judged["ndcg@10_delta"].min(), abs=1e-3)
    assert all(r[0].startswith(f"{DEGRADED}-q") for r in rows if float(r[3]) < 0)


def test_html_of_a_label_free_run(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    ds, b = without_queries(dataset, base)
    _, t = without_queries(dataset, tuned)
    page = html_report(compare(ds, b, t, projection=False))
    assert '<span class="v">UNVERIFIED</span>' in page and EVIL not in page


def test_write_html_is_the_report_and_leaves_no_temporary_file(tmp_path: Path, result: Comparison) -> None:
    target = tmp_path / "report.html"
    write_html(result, target)
    def without_ids(page: str) -> str:  # plotly names each chart's div with a fresh uuid
        return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", page)

    assert without_ids(target.read_text(encoding="utf-8")) == without_ids(html_report(result))
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


# --------------------------------------------------------------------------------------------------
# JSON, CSV, terminal
# --------------------------------------------------------------------------------------------------


def test_json_file_equals_to_dict(tmp_path: Path, result: Comparison) -> None:
    target = tmp_path / "run.json"
    write_json(result, target)
    assert json.loads(target.read_text(encoding="utf-8")) == json.loads(json.dumps(result.to_dict(), allow_nan=False))


def test_csv_has_one_row_per_query_with_its_text(tmp_path: Path, result: Comparison) -> None:
    target = tmp_path / "queries.csv"
    write_csv(result, target)
    table = pd.read_csv(target, keep_default_na=False, na_values=[""])
    assert len(table) == len(result.per_query) == 150
    assert list(table["query_id"]) == list(result.per_query["query_id"])
    assert list(table.columns[:3]) == ["query_id", "domain", "text"]
    assert {"ndcg@10_base", "ndcg@10_tuned", "ndcg@10_delta", "jaccard", "rbo"} <= set(table.columns)
    texts = dict(zip(result.tables["queries"]["id"], result.tables["queries"]["text"], strict=True))
    assert list(table["text"]) == [texts[q] for q in table["query_id"]]
    assert (table.loc[table["domain"] == DEGRADED, "text"] == EVIL + " what is a tort?").all()
    pd.testing.assert_series_equal(table["ndcg@10_delta"], result.per_query["ndcg@10_delta"], check_names=False)


def test_csv_of_document_probes_carries_document_text(data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    dataset, base, tuned = data
    ds, b = without_queries(dataset, base)
    _, t = without_queries(dataset, tuned)
    table = pd.read_csv(io.StringIO(per_query_csv(compare(ds, b, t, projection=False))))
    assert len(table) == len(ds.docs)
    assert list(table["text"]) == list(ds.docs["text"])


def test_terminal_table(result: Comparison, data: tuple[Dataset, Embeddings, Embeddings]) -> None:
    text = domain_table_text(result)
    lines = text.splitlines()
    assert len(lines) == len(DOMAINS) + 2  # header, domains, overall
    assert "95% CI" in lines[0] and "p (Holm)" in lines[0] and "nDCG@10" not in lines[0]
    for domain, line in zip([*DOMAINS, "overall"], lines[1:], strict=True):
        assert line.split()[0] == domain
    bad = next(line for line in lines if line.split()[0] == DEGRADED)
    assert "FAIL" in bad and re.search(r"\[-\d\.\d{3}, -\d\.\d{3}\]", bad)
    dataset, base, tuned = data
    label_free = domain_table_text(compare(without_qrels(dataset), base, tuned, projection=False))
    assert "–" in label_free and "FAIL" not in label_free


def test_exports_of_a_reopened_run_match_the_fresh_ones(tmp_path: Path, result: Comparison) -> None:
    save_comparison(result)
    reopened = load_comparison(result.run_id)
    assert per_query_csv(reopened) == per_query_csv(result)
    assert json.loads(reopened.to_json()) == json.loads(
        json.dumps({**result.to_dict(), "created_at": reopened.manifest["created_at"]}, allow_nan=False)
    )
    assert EVIL not in html_report(reopened)


def test_writing_into_a_missing_directory_is_an_input_error(tmp_path: Path, result: Comparison) -> None:
    for writer in (write_html, write_json, write_csv):
        with pytest.raises(InputError, match=r"the directory 'nowhere' does not exist; create it first"):
            writer(result, tmp_path / "nowhere" / "out.file")
    with pytest.raises(InputError, match="is a directory: give the path of the file to write"):
        write_json(result, tmp_path)
    assert list(tmp_path.iterdir()) == []
