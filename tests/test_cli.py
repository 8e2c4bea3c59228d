"""The `embdiff` command line: compare, check (exit codes), report, app; bad input exits 2 cleanly."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_compare import DEGRADED, DOMAINS, degrade, synthetic, without_qrels, write_inputs
from test_result import check_schema

from diagnostics.cli import build_parser, main
from diagnostics.dataset import Dataset
from diagnostics.result import load_comparison
from diagnostics.vectors import Embeddings, write_vectors

REPO = Path(__file__).resolve().parents[1]
RUN_LINE = re.compile(r"^run ([0-9a-f]{16})  verdict (PASS|WARN|UNVERIFIED|FAIL)$")


class Inputs:
    """Files on disk: one dataset directory and three vector files (base, planted tuned, identical)."""

    def __init__(self, root: Path) -> None:
        dataset, base = synthetic()
        tuned = degrade(dataset, base, DEGRADED)
        self.data, self.base, self.tuned = write_inputs(dataset, base, tuned, root / "planted")
        self.same = write_vectors(root / "planted" / "same.parquet", *_vector_columns(dataset, base))
        self.label_free, _, _ = write_inputs(without_qrels(dataset), base, tuned, root / "label_free")
        self.n_queries = len(dataset.queries)

    def args(self, command: str, *extra: str, tuned: Path | None = None, data: Path | None = None) -> list[str]:
        return [command, "--dataset", str(data or self.data), "--base-vectors", str(self.base),
                "--tuned-vectors", str(tuned or self.tuned), "--no-projection", *extra]


def _vector_columns(dataset: Dataset, emb: Embeddings) -> tuple[list[str], list[str], np.ndarray]:
    ids = list(dataset.docs["id"]) + list(dataset.queries["id"])
    kinds = ["doc"] * len(dataset.docs) + ["query"] * len(dataset.queries)
    return ids, kinds, np.vstack([emb.docs, emb.queries])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    return Inputs(tmp_path_factory.mktemp("cli-inputs"))


def _runs() -> list[str]:
    root = Path(os.environ["EMBDIFF_HOME"]) / "runs"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def _run_id(stdout: str) -> str:
    match = RUN_LINE.match(stdout.splitlines()[0])
    assert match, stdout[:200]
    return match.group(1)


# --------------------------------------------------------------------------------------------------
# compare / check
# --------------------------------------------------------------------------------------------------


def test_compare_prints_the_run_id_and_table_and_writes_json(
    inputs: Inputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.json"
    assert main(inputs.args("compare", "--json", str(out))) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    run_id = _run_id(captured.out)
    assert RUN_LINE.match(lines[0]).group(2) == "FAIL"  # type: ignore[union-attr]
    header = lines[1].split()
    assert header[:5] == ["domain", "verdict", "evidence", "queries", "docs"]
    table_rows = {line.split()[0]: line.split() for line in lines[2:2 + len(DOMAINS) + 1]}
    assert set(table_rows) == {*DOMAINS, "overall"}
    assert table_rows[DEGRADED][1:3] == ["FAIL", "judged"] and table_rows["finance"][1] == "PASS"
    assert any(line.startswith(f"  {DEGRADED}: nDCG@10 −") and "after Holm" in line for line in lines)
    # the JSON of the run, in the documented schema
    doc = json.loads(out.read_text(encoding="utf-8"))
    check_schema(doc, DOMAINS)
    assert doc["run_id"] == run_id and doc["verdict"] == "FAIL"
    # saved, without a projection
    assert _runs() == [run_id]
    saved = load_comparison(run_id)
    assert saved.projection is None and saved.manifest["params"]["projection"] is False
    # progress went to stderr, not stdout
    assert "retrieve: 2/2 (100%)" in captured.err and "verdict: 1/1 (100%)" in captured.err
    assert "neighbors" not in captured.out


def test_compare_twice_reuses_the_saved_run(inputs: Inputs, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(inputs.args("compare")) == 0
    first = _run_id(capsys.readouterr().out)
    created = load_comparison(first).manifest["created_at"]
    assert main(inputs.args("compare")) == 0
    assert _run_id(capsys.readouterr().out) == first
    assert _runs() == [first] and load_comparison(first).manifest["created_at"] == created


def test_check_exit_status(inputs: Inputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(inputs.args("check", tuned=inputs.same)) == 0
    assert RUN_LINE.match(capsys.readouterr().out.splitlines()[0]).group(2) == "PASS"  # type: ignore[union-attr]
    assert main(inputs.args("check")) == 1
    assert RUN_LINE.match(capsys.readouterr().out.splitlines()[0]).group(2) == "FAIL"  # type: ignore[union-attr]
    lenient = tmp_path / "lenient.toml"
    lenient.write_text("[retrieval]\nfail_relative_drop = 0.95\n", encoding="utf-8")
    assert main(inputs.args("check", "--config", str(lenient))) == 0
    assert RUN_LINE.match(capsys.readouterr().out.splitlines()[0]).group(2) == "WARN"  # type: ignore[union-attr]
    assert main(inputs.args("check", data=inputs.label_free)) == 3  # no judgements, no models: UNVERIFIED
    out = capsys.readouterr().out
    assert RUN_LINE.match(out.splitlines()[0]).group(2) == "UNVERIFIED"  # type: ignore[union-attr]
    assert "no judgements and no models to synthesise checks: pass --base/--tuned" in out
    assert main(inputs.args("check", "--allow-unverified", data=inputs.label_free)) == 0
    assert main(inputs.args("compare", data=inputs.label_free)) == 0
    assert main(inputs.args("compare")) == 0  # compare never fails the build
    assert len(_runs()) == 4  # PASS, FAIL, WARN (other config), label-free; compare reused the FAIL run


# --------------------------------------------------------------------------------------------------
# bad input: exit 2, one message line, no traceback, no run
# --------------------------------------------------------------------------------------------------


def _bad_inputs(inputs: Inputs, tmp: Path) -> dict[str, tuple[list[str], str]]:
    corrupt = tmp / "corrupt.parquet"
    corrupt.write_bytes(b"this is not a parquet file at all")
    frame = pd.read_parquet(inputs.tuned)
    partial = tmp / "partial.parquet"
    write_vectors(partial, frame["id"][1:], frame["kind"][1:], np.vstack(list(frame["embedding"][1:])))
    bad_toml = tmp / "bad.toml"
    bad_toml.write_text("[retrieval]\nalpha = 'x'\n", encoding="utf-8")
    return {
        "missing dataset": (inputs.args("compare", data=tmp / "nowhere"), "nowhere does not exist"),
        "missing vectors": (inputs.args("check", tuned=tmp / "absent.parquet"), "absent.parquet does not exist"),
        "corrupt vectors": (inputs.args("check", tuned=corrupt), "corrupt.parquet is not a readable Parquet file"),
        "vectors for other ids": (inputs.args("compare", tuned=partial), "cover different ids"),
        "bad config": (inputs.args("check", "--config", str(bad_toml)), r"\[retrieval\] alpha must be float"),
        "k out of range": (inputs.args("compare", "--k", "0"), "k must be a whole number from 1 to 100"),
        "json into a missing directory": (
            inputs.args("compare", "--json", str(tmp / "no" / "run.json")), "the directory 'no' does not exist"
        ),
    }


@pytest.mark.parametrize(
    "case",
    ["missing dataset", "missing vectors", "corrupt vectors", "vectors for other ids", "bad config",
     "k out of range", "json into a missing directory"],
)
def test_bad_input_exits_2_with_one_line_and_no_run(
    case: str, inputs: Inputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, match = _bad_inputs(inputs, tmp_path)[case]
    assert main(argv) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if not re.match(r"^(neighbors|metrics): ", line)]
    assert len(errors) == 1, captured.err
    assert errors[0].startswith("embdiff: error: ")
    assert re.search(match, errors[0]), errors[0]
    assert "Traceback" not in captured.err and str(tmp_path) not in captured.err
    assert captured.out == ""
    assert _runs() == []


# --------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------


def test_report_exports_a_saved_run(inputs: Inputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first_json = tmp_path / "compare.json"
    assert main(inputs.args("compare", "--json", str(first_json))) == 0
    run_id = _run_id(capsys.readouterr().out)
    page, doc, table = tmp_path / "r.html", tmp_path / "r.json", tmp_path / "r.csv"
    assert main(["report", run_id, "--html", str(page)]) == 0
    assert main(["report", run_id, "--json", str(doc)]) == 0
    assert main(["report", run_id, "--csv", str(table)]) == 0
    err = capsys.readouterr().err
    assert f"wrote {page}" in err and f"wrote {table}" in err
    text = page.read_text(encoding="utf-8")
    assert re.search(r"plotly\.js v\d", text) and not re.search(r"<script[^>]*\bsrc\s*=", text)
    assert '<span class="v">FAIL</span>' in text
    assert json.loads(doc.read_text(encoding="utf-8")) == json.loads(first_json.read_text(encoding="utf-8"))
    rows = pd.read_csv(table)
    assert len(rows) == inputs.n_queries and "text" in rows.columns
    assert rows.loc[rows["domain"] == DEGRADED, "ndcg@10_delta"].mean() < -0.3


@pytest.mark.parametrize(
    ("run_id", "match"),
    [
        ("../x", r"run id '\?\?\?x' is not valid: a run id is 16 lower-case hexadecimal characters"),
        ("/etc/passwd", "is not valid"),
        ("", "is not valid"),
        ("0123456789abcdef", "no saved run has the id '0123456789abcdef'"),
    ],
)
def test_report_of_a_bad_run_id_exits_2(
    run_id: str, match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "r.html"
    assert main(["report", run_id, "--html", str(target)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and re.search(match, err) and "Traceback" not in err
    assert str(Path(os.environ["EMBDIFF_HOME"])) not in err  # never a file-system path
    assert not target.exists()


def test_report_needs_exactly_one_format(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["report", "0123456789abcdef"], ["report", "0123456789abcdef", "--html", "a", "--csv", "b"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    assert "usage: embdiff report" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# the interface itself, app, a real process
# --------------------------------------------------------------------------------------------------


def test_the_documented_options_parse() -> None:
    parser = build_parser()
    args = parser.parse_args(["check", "--dataset", "a", "--dataset", "b", "--base", "m1", "--tuned-vectors", "t.npy",
                              "--k", "5", "--split", "dev", "--config", "c.toml", "--json", "o.json",
                              "--no-projection"])
    # --tuned / --tuned-vectors repeat for several candidates (NAME=PATH): they collect lists
    assert (args.command, args.dataset, args.base, args.tuned_vectors) == ("check", ["a", "b"], "m1", ["t.npy"])
    assert (args.k, args.split, args.config, args.json, args.no_projection) == ("5", "dev", "c.toml", "o.json", True)
    defaults = parser.parse_args(["compare", "--dataset", "a", "--base", "m", "--tuned", "n"])
    assert (defaults.k, defaults.split, defaults.no_projection) == ("10", "test", False)  # check_k validates
    both = parser.parse_args(["compare", "--dataset", "a", "--base", "m", "--base-vectors", "v", "--tuned", "n",
                              "--known-item-docs", "50", "--qrels-domain", "x", "--qrels-domain", "y",
                              "--allow-unverified"])
    assert (both.base, both.base_vectors, both.known_item_docs, both.qrels_domain, both.allow_unverified) == \
        ("m", "v", "50", ["x", "y"], True)
    assert parser.parse_args(["compare", "--sample"]).sample
    for bad in (["compare", "--base", "m", "--tuned", "n"], ["compare", "--sample", "--dataset", "a"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


def test_each_side_needs_a_model_or_vectors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--dataset", "a", "--tuned", "n"]) == 2
    assert "give --base MODEL, --base-vectors FILE, or both" in capsys.readouterr().err
    assert main(["compare", "--sample", "--base", "m"]) == 2
    assert "--sample brings its own models and vectors; drop --base" in capsys.readouterr().err
    assert main(["check", "--dataset", "a", "--base", "m", "--tuned", "n", "--known-item-docs", "-1"]) == 2
    assert "--known-item-docs must be a whole number from 0" in capsys.readouterr().err
    assert main(["compare", "--dataset", "a", "--base", "m", "--tuned", "n", "--max-overlap-docs", "0"]) == 2
    assert "--max-overlap-docs must be a whole number from 1" in capsys.readouterr().err


def test_max_overlap_docs_sets_the_neighborhood_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from diagnostics.sample import sample_paths

    paths = sample_paths()
    args = ["compare", "--dataset", str(paths.corpus), "--base-vectors", str(paths.base_vectors),
            "--tuned-vectors", str(paths.tuned_vectors), "--no-projection", "--json", str(tmp_path / "r.json")]
    assert main([*args, "--max-overlap-docs", "120"]) == 0
    params = json.loads((tmp_path / "r.json").read_text())["params"]
    assert (params["overlap_n"], params["overlap_sampled"], params["max_overlap_docs"]) == (120, True, 120)
    assert main(args) == 0  # the default keeps every one of the sample's 420 documents
    params = json.loads((tmp_path / "r.json").read_text())["params"]
    assert (params["overlap_n"], params["overlap_sampled"], params["max_overlap_docs"]) == (420, False, 20_000)


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_stopping_embdiff_app_stops_its_server(signal_name: str, tmp_path: Path) -> None:
    """``embdiff app`` becomes the Streamlit server (exec): the signal a service manager, a container runtime
    or Ctrl-C sends it stops the server, and the port is free again."""
    import signal
    import socket
    import urllib.request

    from _browser import wait_healthy

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "EMBDIFF_HOME": str(tmp_path / "home")}
    embdiff = Path(sys.executable).with_name("embdiff")
    process = subprocess.Popen([str(embdiff), "app", "--port", str(port)], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        process.send_signal(getattr(signal, signal_name))
        assert process.wait(timeout=30) is not None
        with socket.socket() as again:  # nothing is left holding the port
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            again.bind(("127.0.0.1", port))
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"embdiff {version('embdiff')}"


def test_a_real_process(inputs: Inputs, tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "ci.json"
    done = subprocess.run(
        [sys.executable, "-m", "diagnostics.cli", *inputs.args("check", "--json", str(out))],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 1, done.stderr
    run_id = _run_id(done.stdout)
    assert "Traceback" not in done.stderr and "statistics: 2/2 (100%)" in done.stderr
    check_schema(json.loads(out.read_text(encoding="utf-8")), DOMAINS)
    assert _runs() == [run_id]
    bad = subprocess.run(
        [sys.executable, "-m", "diagnostics.cli", "report", "../x", "--csv", str(tmp_path / "x.csv")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("embdiff: error: run id") and len(bad.stderr.splitlines()) == 1


@pytest.mark.slow
def test_projection_is_saved_unless_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset, base = synthetic(domains=("alpha", "beta", "gamma"), n_docs=40, n_queries=10, seed=3)
    data, base_path, tuned_path = write_inputs(dataset, base, degrade(dataset, base, "beta"), tmp_path)
    argv = ["compare", "--dataset", str(data), "--base-vectors", str(base_path), "--tuned-vectors", str(tuned_path)]
    assert main(argv) == 0
    with_map = load_comparison(_run_id(capsys.readouterr().out))
    points = with_map.projection
    assert points is not None and len(points) == len(dataset.docs) + len(dataset.queries)
    assert {"id", "kind", "domain", "x_base", "y_base", "x_tuned", "y_tuned", "displacement"} <= set(points.columns)
    assert np.isfinite(points[["x_base", "y_base", "x_tuned", "y_tuned"]].to_numpy()).all()
    assert 0.5 < with_map.manifest["global"]["trustworthiness_base"] <= 1.0
    assert main([*argv, "--no-projection"]) == 0
    without = load_comparison(_run_id(capsys.readouterr().out))
    assert without.run_id != with_map.run_id and without.projection is None


def _sample_corpus(tmp_path: Path, *, qrels: bool) -> Path:
    """The bundled sample's BEIR directory, copied with or without its qrels file."""
    import shutil

    from diagnostics.sample import sample_paths

    target = tmp_path / ("with-qrels" if qrels else "no-qrels")
    shutil.copytree(sample_paths().corpus, target)
    if not qrels:
        shutil.rmtree(target / "qrels")
    return target


def test_removing_every_qrels_file_turns_pass_into_unverified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sample from its vector files alone: with its qrels every domain passes on judgements; without them
    and without models nothing backs a verdict, and the gate says so with exit 3."""
    from diagnostics.sample import sample_paths

    paths = sample_paths()
    vectors = ["--base-vectors", str(paths.base_vectors), "--tuned-vectors", str(paths.tuned_vectors),
               "--no-projection"]
    assert main(["check", "--dataset", str(_sample_corpus(tmp_path, qrels=True)), *vectors]) == 0
    judged = capsys.readouterr().out
    assert RUN_LINE.match(judged.splitlines()[0]).group(2) == "PASS"  # type: ignore[union-attr]
    assert main(["check", "--dataset", str(_sample_corpus(tmp_path, qrels=False)), *vectors]) == 3
    out = capsys.readouterr().out
    assert RUN_LINE.match(out.splitlines()[0]).group(2) == "UNVERIFIED"  # type: ignore[union-attr]
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:9]}
    assert {r[1] for d, r in rows.items()} == {"UNVERIFIED"} and {r[2] for r in rows.values()} == {"none"}
    assert out.count("no judgements and no models to synthesise checks: pass --base/--tuned") == 6


@pytest.mark.slow
def test_check_on_the_sample_judged_only_on_its_tuned_domain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Vectors and models together (--sample): the unjudged domains rest on known-item checks, in the table
    and in the JSON, and the gate can pass."""
    out_json = tmp_path / "run.json"
    code = main(["check", "--sample", "--qrels-domain", "clinical", "--known-item-docs", "30", "--no-projection",
                 "--json", str(out_json)])
    out = capsys.readouterr().out
    doc = json.loads(out_json.read_text(encoding="utf-8"))
    assert code == (1 if doc["verdict"] == "FAIL" else 0)
    assert doc["domains"]["clinical"]["evidence"] == "judged"
    for name, entry in doc["domains"].items():
        assert entry["known_item"]["n_docs"] == 30, name
        if name != "clinical":
            assert entry["evidence"] == "synthetic" and entry["n_queries"] == 0, name
    assert doc["models"]["tuned_source"] == "vectors+model" and doc["models"]["tuned_model"].endswith("tuned_adapter")
    assert doc["params"]["known_item"] == {"status": "checked", "docs_per_domain": 30, "random_state": 0,
                                           "bm25": True, "n_checks": len(load_comparison(doc["run_id"])
                                                                         .tables["known_items"])}
    assert "evidence: judged for clinical; synthetic for engineering, finance, hr, legal, support" in out
    assert "calibration — where both exist (clinical: checks " in out  # how the checks read against the truth


# --------------------------------------------------------------------------------------------------
# reviews
# --------------------------------------------------------------------------------------------------


def test_reviews_add_list_verify_export(inputs: Inputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    assert main(inputs.args("compare")) == 0
    run_id = _run_id(capsys.readouterr().out)  # a FAIL run
    assert main(["reviews", "add", run_id, "--decision", "approve", "--reviewer", "ci-bot"]) == 2
    assert "verdict is FAIL: approving it needs a written justification" in capsys.readouterr().err
    assert main(["reviews", "add", run_id, "--decision", "needs-work", "--comment", "check legal"]) == 0
    assert main(["reviews", "add", run_id, "--decision", "approve", "--reviewer", "ci-bot",
                 "--justification", "legal is out of scope for this release"]) == 0
    out = capsys.readouterr().out
    assert "recorded review #2" in out and "by ci-bot (identity unverified)" in out
    db = Path(os.environ["EMBDIFF_HOME"]) / "reviews.sqlite3"
    assert db.is_file()  # EMBDIFF_HOME honoured
    assert main(["reviews", "list", run_id]) == 0
    out = capsys.readouterr().out
    assert "approve     ci-bot  [unverified]  on this content" in out and "justification: legal is out" in out
    assert main(["reviews", "list", run_id, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["decision"] for r in listed["reviews"]] == ["needs-work", "approve"]
    assert listed["reviews"][1]["run_verdict"] == "FAIL"
    assert listed["run_digest_now"] == listed["reviews"][1]["run_digest"]
    assert main(["reviews", "verify"]) == 0
    assert "review chain intact: 2 rows" in capsys.readouterr().out
    page = tmp_path / "report.html"
    assert main(["report", run_id, "--html", str(page)]) == 0
    html_text = page.read_text(encoding="utf-8")
    assert "<h2>Sign-off</h2>" in html_text and "<td>ci-bot</td><td>unverified</td><td>approve</td>" in html_text
    assert "legal is out of scope for this release" in html_text
    export = tmp_path / "signoff.json"
    assert main(["reviews", "export", run_id, "--out", str(export)]) == 0
    assert main(["reviews", "verify", "--export", str(export)]) == 0
    capsys.readouterr()
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER reviews_no_update")
    conn.execute("UPDATE reviews SET decision = 'approve' WHERE seq = 1")
    conn.commit()
    conn.close()
    assert main(["reviews", "verify"]) == 1
    assert "review chain BROKEN at row #1 (id 1): its fields do not match its hash" in capsys.readouterr().err
    assert main(["reviews", "verify", "--export", str(export)]) == 0  # the export kept the record as it was
    doc = json.loads(export.read_text())
    doc["reviews"][1]["justification"] = "none needed"
    export.write_text(json.dumps(doc))
    assert main(["reviews", "verify", "--export", str(export)]) == 1
    assert main(["reviews", "add", "0123456789abcdef", "--decision", "approve"]) == 2
    assert "no saved run has the id" in capsys.readouterr().err
