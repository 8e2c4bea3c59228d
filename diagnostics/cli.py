"""The ``embdiff`` command line.

Why one module past ~500 lines: every subcommand's options and the handler that reads them sit side by side,
so a flag is added, validated and passed on in one file; the work itself is in the engine's modules.

* ``embdiff compare (--dataset PATH [--dataset PATH …] | --sample) [--base MODEL] [--base-vectors FILE]
  [--tuned MODEL] [--tuned-vectors FILE] [--k 10] [--split test] [--config FILE] [--json FILE]
  [--no-projection] [--known-item-docs N] [--qrels-domain D …] [--max-overlap-docs N]`` — make and save a run
  and print its id and the per-domain table. Each side needs a model, a vector file or both (then the vectors serve
  the corpus and the model encodes new text, after a check that it made them).
* ``embdiff check`` — the same; exit 0 on PASS or WARN, 1 on FAIL, 2 on bad input, 3 when the worst
  verdict is UNVERIFIED (0 with ``--allow-unverified``).
* ``--ray ADDRESS|auto`` (default ``$EMBDIFF_RAY_ADDRESS``) on both: encode and search on a Ray cluster
  (:mod:`diagnostics.distributed`), same run id and result; an unreachable cluster exits 2.
* ``embdiff report RUN_ID (--html FILE | --json FILE | --csv FILE)`` — export a saved run; given the id of a
  set of candidates (``compare`` with several ``--tuned NAME=…``), ``--html`` / ``--json`` export the set.
* ``embdiff diff RUN_A RUN_B [--json FILE]`` — two saved runs of the same dataset side by side: verdict and Δ
  per domain then (A) and now (B), the inputs that differ, the queries whose tuned top-k differs. Exit 0;
  2 for a bad or unknown run id or runs of different datasets.
* ``embdiff reviews add RUN_ID --decision D [--comment C] [--justification J] [--reviewer NAME]`` — record
  a review from automation (``identity: unverified``), bound to the run's content digest;
  ``embdiff reviews list RUN_ID [--json]`` — its history and sign-off state;
  ``embdiff reviews verify [--export FILE]`` — walk the review chain (exit 0 intact, 1 naming the first
  broken row), or check a sign-off export offline; ``embdiff reviews export RUN_ID --out FILE``.
  All honour ``EMBDIFF_HOME``.
* ``embdiff app [--port N] [--address A]`` — start the web app (this process becomes the server).
* ``embdiff --version``.

Progress goes to stderr; bad input prints one message (no traceback) and exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diagnostics._install import app_dir
from diagnostics._validation import InputError, check_k

if TYPE_CHECKING:
    from diagnostics.candidates import Candidate

APP_PATH = app_dir() / "app.py"

EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_UNVERIFIED = 0, 1, 2, 3


class _Progress:
    """Stage progress on stderr: one line per stage, updated in place on a terminal."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._last: tuple[str, int] = ("", -1)

    def __call__(self, stage: str, done: int, total: int) -> None:
        pct = int(100 * done / total) if total else 100
        if self._tty:
            end = "\n" if done >= total else ""
            print(f"\r{stage}: {done}/{total} ({pct}%)", end=end, file=sys.stderr, flush=True)
        elif (stage, pct // 25) != self._last or done >= total:
            self._last = (stage, pct // 25)
            print(f"{stage}: {done}/{total} ({pct}%)", file=sys.stderr, flush=True)


def _add_compare_options(p: argparse.ArgumentParser) -> None:
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--dataset", action="append", metavar="PATH",
                      help="BEIR directory, table directory or docs table; repeat for one directory per domain")
    data.add_argument("--sample", action="store_true",
                      help="the bundled sample: its corpus, vectors and both models (no other inputs)")
    data.add_argument("--sample-candidates", action="store_true",
                      help="the bundled sample with every fine-tune it ships (sample, mild, strong, structure) as "
                      "candidates against its base; target: its training domain unless --target")
    p.add_argument("--base", metavar="MODEL", help="base model: local directory or hub name")
    p.add_argument("--base-vectors", metavar="FILE", help="base vectors: Parquet (id, kind, embedding) or .npy; "
                   "with --base too, the model encodes new text after a check that it made these vectors")
    p.add_argument("--tuned", metavar="[NAME=]MODEL", action="append",
                   help="tuned model: local directory, PEFT adapter or hub name; repeat as NAME=MODEL for several "
                   "candidates against the one base")
    p.add_argument("--tuned-vectors", metavar="[NAME=]FILE", action="append",
                   help="tuned vectors, same formats as --base-vectors; NAME=FILE pairs them with --tuned NAME=MODEL")
    p.add_argument("--target", action="append", metavar="DOMAIN",
                   help="a domain the candidates were tuned for (repeatable): the frontier's gain is measured there")
    p.add_argument("--gate", metavar="NAME",
                   help="check: exit by this candidate's verdict (default: the best candidate's)")
    p.add_argument("--k", default="10", help="neighbors / top-k for the label-free signals (default 10)")
    p.add_argument("--split", default="test", help="qrels split of BEIR directories (default test)")
    p.add_argument("--config", metavar="FILE", help="TOML file overriding the verdict thresholds")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    p.add_argument("--no-projection", action="store_true", help="skip the 2-D projection (faster)")
    p.add_argument("--max-overlap-docs", metavar="N", default=None, help="neighborhoods of a stratified sample of "
                   "N documents (default: sized to the query search; 20,000 below 50,000 documents)")
    p.add_argument("--query-prefix", default="", help="prefix for queries when encoding (e.g. 'query: ')")
    p.add_argument("--doc-prefix", default="", help="prefix for documents when encoding (e.g. 'passage: ')")
    p.add_argument("--known-item-docs", metavar="N", default=None,
                   help="documents per domain made into known-item checks (default 300, from the config; 0: none)")
    p.add_argument("--qrels-domain", action="append", metavar="DOMAIN",
                   help="use only this domain's judgements (repeatable): what embdiff says without the others")
    p.add_argument("--allow-unverified", action="store_true",
                   help="check: exit 0 instead of 3 when the worst verdict is UNVERIFIED")
    p.add_argument("--ray", metavar="ADDRESS", default=os.environ.get("EMBDIFF_RAY_ADDRESS") or None,
                   help="encode and search on the Ray cluster at HOST:PORT (or auto; default $EMBDIFF_RAY_ADDRESS); "
                   "needs embdiff[ray]; the same run id and result as without it (docs/DEPLOY.md)")


def _cmd_compare(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from diagnostics.compare import MAX_OVERLAP_DOCS_LIMIT, compare_inputs, load_inputs
    from diagnostics.config import load_config
    from diagnostics.report import check_output_path, domain_table_text, write_json

    progress = _Progress()
    args.k = check_k(args.k)  # before any loading or encoding: a bad --k costs nothing
    if args.max_overlap_docs is not None:
        args.max_overlap_docs = check_k(args.max_overlap_docs, name="--max-overlap-docs", high=MAX_OVERLAP_DOCS_LIMIT)
    config = load_config(args.config)
    if args.known_item_docs is not None:
        docs = check_k(args.known_item_docs, name="--known-item-docs", low=0, high=1_000_000)
        config = replace(config, known_item_docs_per_domain=docs)
    if args.json:
        check_output_path(args.json)
    if args.sample_candidates:
        return _compare_candidates(args, [], config, progress)
    candidates = [] if args.sample else parse_candidates(args.tuned or [], args.tuned_vectors or [])
    if args.gate is not None and len(candidates) < 2:
        raise InputError("--gate names one of several candidates (--tuned NAME=MODEL, given at least twice)")
    if len(candidates) > 1:
        return _compare_candidates(args, candidates, config, progress)
    if args.sample:
        from diagnostics.sample import load_sample

        given = [f for f in ("base", "base_vectors", "tuned", "tuned_vectors") if getattr(args, f)]
        if given:
            raise InputError(f"--sample brings its own models and vectors; drop --{given[0].replace('_', '-')}")
        dataset, base, tuned = load_sample(progress=progress, qrels_domains=args.qrels_domain)
    else:
        only = candidates[0] if candidates else None
        dataset, base, tuned = load_inputs(
            args.dataset, split=args.split, base=args.base, base_vectors=args.base_vectors,
            tuned=only.model if only else None, tuned_vectors=only.vectors if only else None,
            query_prefix=args.query_prefix, doc_prefix=args.doc_prefix, progress=progress,
            qrels_domains=args.qrels_domain, cluster=getattr(args, "cluster", None),
        )
    for warning in dataset.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    result = compare_inputs(
        dataset, base, tuned, k=args.k, config=config, projection=not args.no_projection, progress=progress,
        query_prefix=args.query_prefix, doc_prefix=args.doc_prefix, cluster=getattr(args, "cluster", None),
        max_overlap_docs=args.max_overlap_docs,
    )
    print(f"run {result.run_id}  verdict {result.verdict}")
    print(domain_table_text(result))
    for reason in result.reasons:
        print(f"  {reason}")
    if args.json:
        write_json(result, Path(args.json))
        print(f"wrote {args.json}", file=sys.stderr)
    if args.target:
        from diagnostics.frontier import frontier

        print(frontier_text(frontier({"tuned": result}, args.target)))
    if args.command == "check":
        return check_exit_code(result.verdict, allow_unverified=args.allow_unverified)
    return EXIT_OK


def _cmd_compare_on_ray(args: argparse.Namespace) -> int:
    """``compare`` / ``check``; with ``--ray``, connected to the cluster (before any loading) for the whole
    command, every candidate's encoding and searches included, and disconnected after. Without it, Ray is never
    imported."""
    if not args.ray:
        return _cmd_compare(args)
    from diagnostics.distributed import connect

    args.cluster = connect(args.ray)
    try:
        for line in args.cluster.describe():
            print(line, file=sys.stderr)
        code = _cmd_compare(args)
    finally:
        args.cluster.shutdown()
    print(args.cluster.summary(), file=sys.stderr)
    return code


def parse_candidates(models: Sequence[str], vectors: Sequence[str]) -> list[Candidate]:
    """The candidates of ``--tuned`` and ``--tuned-vectors``, in order of first mention.

    A value ``NAME=PATH`` names its candidate (a model and a vector file with the same name are one
    candidate); a bare value is the one candidate ``tuned``, allowed only when there is no other.
    """
    from diagnostics.candidates import Candidate

    given: dict[str, dict[str, str]] = {}
    for flag, values in (("model", models), ("vectors", vectors)):
        for value in values:
            name, path = _named(value)
            slot = given.setdefault(name or "tuned", {})
            if flag in slot:
                option = "--tuned" if flag == "model" else "--tuned-vectors"
                raise InputError(f"{option} is given twice for candidate {name or 'tuned'!r}; "
                                 "name each candidate once (NAME=PATH)")
            slot[flag] = path
            slot.setdefault("named", "yes" if name else "")
    if len(given) > 1 and any(not slot["named"] for slot in given.values()):
        raise InputError("with several candidates, name each one: --tuned NAME=MODEL / --tuned-vectors NAME=FILE")
    return [Candidate(name, model=slot.get("model"), vectors=slot.get("vectors")) for name, slot in given.items()]


def _named(value: str) -> tuple[str | None, str]:
    """``("strong", "out/strong")`` for ``strong=out/strong``; ``(None, value)`` when the part before ``=``
    is not a candidate name (a hub name or a path that holds ``=``)."""
    from diagnostics._validation import check_candidate_name

    head, sep, tail = value.partition("=")
    if not sep or not tail:
        return None, value
    try:
        return check_candidate_name(head), tail
    except InputError:
        return None, value


def frontier_text(table: Any) -> str:
    """The frontier as a plain-text table (one line per candidate)."""
    lines = [f"{'candidate':<16} {'verdict':<10} {'gain on targets':>28} {'worst significant loss':>34}  dominated by"]
    for row in table.to_dict(orient="records"):
        gain = (f"{row['gain']:+.3f} [{row['gain_ci_low']:+.3f}, {row['gain_ci_high']:+.3f}]"
                if row["gain"] == row["gain"] else "unknown")
        loss = (f"{row['loss']:+.3f} [{row['loss_ci_low']:+.3f}, {row['loss_ci_high']:+.3f}] {row['loss_domain']}"
                if row["loss_domain"] else "none significant")
        lines.append(f"{row['candidate']:<16} {row['verdict']:<10} {gain:>28} {loss:>34}  "
                     f"{row['dominated_by'] or '-'}")
    return "\n".join(lines)


def _compare_candidates(args: argparse.Namespace, candidates: Sequence[Candidate], config: Any,
                        progress: _Progress) -> int:
    """``compare`` / ``check`` with several candidates: one run each against the one base, then the set."""
    from diagnostics.candidates import compare_candidates, load_candidates
    from diagnostics.report import domain_table_text, write_text

    if args.sample_candidates:
        from diagnostics.candidates import load_sample_candidates

        given = [f for f in ("base", "base_vectors", "tuned", "tuned_vectors") if getattr(args, f)]
        if given:
            raise InputError(f"--sample-candidates brings its own models and vectors; drop "
                             f"--{given[0].replace('_', '-')}")
        dataset, base, tuned, trained_on = load_sample_candidates(progress=progress, qrels_domains=args.qrels_domain)
        args.target = args.target or [trained_on]
    else:
        dataset, base, tuned = load_candidates(
            args.dataset, candidates, split=args.split, base=args.base, base_vectors=args.base_vectors,
            query_prefix=args.query_prefix, doc_prefix=args.doc_prefix, progress=progress,
            qrels_domains=args.qrels_domain, cluster=getattr(args, "cluster", None))
    for warning in dataset.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    made = compare_candidates(dataset, base, tuned, targets=args.target or (), k=args.k, config=config,
                              projection=not args.no_projection, progress=progress, query_prefix=args.query_prefix,
                              doc_prefix=args.doc_prefix, max_overlap_docs=args.max_overlap_docs,
                              cluster=getattr(args, "cluster", None))
    if args.gate is not None:
        made.gate(args.gate)  # an unknown --gate fails here, before anything is printed
    table = made.frontier() if made.targets else None
    best = made.best(frontier=table)
    chosen = args.gate or best
    verdict = made.runs[chosen].verdict
    for name, result in made.runs.items():
        print(f"candidate {name}  run {result.run_id}  verdict {result.verdict}")
        print(domain_table_text(result))
        for reason in result.reasons:
            print(f"  {reason}")
        print()
    if made.targets:
        print(f"frontier on {', '.join(made.targets)} ({made.metric}):")
        print(frontier_text(table))
    print(f"set {made.set_id}  best {best}  gate {chosen}  verdict {verdict}")
    from diagnostics.candidates import HOLM_FAMILY

    print(f"  {HOLM_FAMILY}")
    if args.json:
        write_text(Path(args.json), made.to_json(gate=args.gate) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.command == "check":
        return check_exit_code(verdict, allow_unverified=args.allow_unverified)
    return EXIT_OK


def check_exit_code(verdict: str, *, allow_unverified: bool = False) -> int:
    """``embdiff check``'s exit status: 0 on PASS or WARN, 1 on FAIL, 3 on UNVERIFIED (0 if allowed)."""
    if verdict == "FAIL":
        return EXIT_FAIL
    if verdict == "UNVERIFIED" and not allow_unverified:
        return EXIT_UNVERIFIED
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from diagnostics.candidates import is_saved_set
    from diagnostics.compare import load_comparison
    from diagnostics.report import write_csv, write_html, write_json

    if is_saved_set(args.run_id):  # a set of candidates: the frontier report, or the set's JSON
        return _report_set(args)
    result = load_comparison(args.run_id)
    if args.html:  # with the sign-off history as it stands
        from diagnostics.reviews import ReviewStore

        write_html(result, Path(args.html), reviews=ReviewStore().history(args.run_id))
        print(f"wrote {args.html}", file=sys.stderr)
    for flag, writer in (("json", write_json), ("csv", write_csv)):
        target = getattr(args, flag)
        if target:
            writer(result, Path(target))
            print(f"wrote {target}", file=sys.stderr)
    return EXIT_OK


def _report_set(args: argparse.Namespace) -> int:
    from diagnostics.candidates import load_candidate_set
    from diagnostics.report import write_text
    from diagnostics.set_report import write_set_html

    made = load_candidate_set(args.run_id)
    if args.csv:
        raise InputError(f"{args.run_id} is a set of candidates: export --html or --json (--csv is one run's "
                         "per-query table; report each candidate's run id for that)")
    if args.html:
        write_set_html(made, Path(args.html))
    else:
        write_text(Path(args.json), made.to_json() + "\n")
    print(f"wrote {args.html or args.json}", file=sys.stderr)
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    import json

    from diagnostics.report import check_output_path, write_text
    from diagnostics.result import load_comparison
    from diagnostics.rundiff import diff_runs

    if args.json:
        check_output_path(args.json)
    runs = []
    for side, run_id in (("RUN_A", args.run_a), ("RUN_B", args.run_b)):
        try:
            runs.append(load_comparison(run_id))
        except InputError as err:
            raise InputError(f"{side}: {err}") from None
    diff = diff_runs(runs[0], runs[1])
    print(diff.summary_text())
    if args.json:
        write_text(Path(args.json), json.dumps(diff.to_dict(), indent=2, allow_nan=False) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return EXIT_OK


def _cmd_reviews(args: argparse.Namespace) -> int:
    import json

    from diagnostics.access import Identity
    from diagnostics.report import write_text
    from diagnostics.reviews import ReviewStore, signoff_status, verify_export
    from diagnostics.runs import RunStore

    store = ReviewStore()
    if args.action == "add":
        review = store.record(args.run_id, decision=args.decision, identity=Identity.unverified(args.reviewer),
                              comment=args.comment, justification=args.justification)
        print(f"recorded review #{review.seq} of run {review.run_id}: {review.decision} by {review.reviewer} "
              f"(identity unverified), digest {review.run_digest[:16]}")
        return EXIT_OK
    if args.action == "list":
        history = store.history(args.run_id)
        current = RunStore().open(args.run_id).current_digest() if RunStore().exists(args.run_id) else None
        status = signoff_status(history, current_digest=current)
        if args.json:
            print(json.dumps({"run_id": args.run_id, "run_digest_now": current, "signoff": status.state,
                              "reviews": [r.__dict__ for r in history]}, indent=2))
            return EXIT_OK
        for r in history:
            bound = "this content" if current and r.run_digest == current else (
                "before digests" if not r.run_digest else "OTHER content")
            print(f"#{r.seq}  {r.created_at}  {r.decision:<10}  {r.reviewer}  [{r.identity}]  on {bound}"
                  + (f"  — {r.comment}" if r.comment else "") + (f"  (justification: {r.justification})"
                                                                 if r.justification else ""))
        print(f"sign-off: {status.state} ({status.approvals} of {status.required} approvals)"
              + "".join(f"; {n}" for n in status.notes))
        return EXIT_OK
    if args.action == "export":
        current = RunStore().open(args.run_id).current_digest()
        write_text(Path(args.out), json.dumps(store.export(args.run_id, current_digest=current), indent=2))
        print(f"wrote {args.out}", file=sys.stderr)
        return EXIT_OK
    if args.export:  # verify an export offline
        from diagnostics._validation import read_utf8

        try:
            doc = json.loads(read_utf8(args.export, label="--export"))
        except ValueError:
            raise InputError(f"--export: {args.export} is not JSON") from None
        report = verify_export(doc)
    else:
        report = store.verify()
    print(report.describe(), file=sys.stdout if report.ok else sys.stderr)
    return EXIT_OK if report.ok else EXIT_FAIL


def _cmd_app(args: argparse.Namespace) -> int:
    """Start the Streamlit app in this very process (``exec``), so this package never imports streamlit
    and a SIGTERM or Ctrl-C to ``embdiff app`` reaches the server itself: nothing is left holding the
    port, under systemd or a container runtime as much as in a shell."""
    if not APP_PATH.is_file():
        raise InputError(f"the app is missing from this installation ({APP_PATH.name} not found); reinstall embdiff")
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.port", str(args.port), "--server.address", args.address,
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    os.chdir(APP_PATH.parent)  # the app's .streamlit/config.toml
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, env)  # noqa: S606 - our own interpreter, fixed arguments
    return EXIT_OK  # not reached


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("embdiff")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="embdiff", description="Diff two embedding models before you ship one.")
    parser.add_argument("--version", action="version", version=f"embdiff {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("compare", "make and save a run, print the per-domain table"),
                       ("check", "like compare; exit 1 on FAIL, 3 on UNVERIFIED, 0 otherwise (for CI)")):
        p = sub.add_parser(name, help=text, description=text)
        _add_compare_options(p)
        p.set_defaults(func=_cmd_compare_on_ray)
    report = sub.add_parser("report", help="export a saved run, or a set of candidates (its frontier)")
    report.add_argument("run_id", metavar="RUN_ID|SET_ID")
    out = report.add_mutually_exclusive_group(required=True)
    out.add_argument("--html", metavar="FILE", help="self-contained HTML report (readable offline)")
    out.add_argument("--json", metavar="FILE", help="the result as JSON")
    out.add_argument("--csv", metavar="FILE", help="the per-query table as CSV")
    report.set_defaults(func=_cmd_report)
    diff = sub.add_parser("diff", help="two saved runs of one dataset side by side: verdicts, inputs, top-k",
                          description="Line up two saved runs of the same dataset: verdict and Δ per domain then "
                          "(RUN_A) and now (RUN_B), the inputs that differ, the queries whose tuned top-k differs.")
    diff.add_argument("run_a", metavar="RUN_A", help="the run then (e.g. the one signed off)")
    diff.add_argument("run_b", metavar="RUN_B", help="the run now (e.g. the model that shipped)")
    diff.add_argument("--json", metavar="FILE", help="also write the diff as JSON")
    diff.set_defaults(func=_cmd_diff)
    reviews = sub.add_parser("reviews", help="sign-off reviews: add, list, verify the chain, export")
    actions = reviews.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="record a review from automation (identity: unverified)")
    add.add_argument("run_id")
    add.add_argument("--decision", required=True, choices=("approve", "reject", "needs-work"))
    add.add_argument("--comment", default="")
    add.add_argument("--justification", default="", help="required to approve a FAIL or UNVERIFIED run")
    add.add_argument("--reviewer", default=os.environ.get("USER") or "automation",
                     help="name recorded with the review (default: $USER); never a verified identity")
    listing = actions.add_parser("list", help="a run's review history and sign-off state")
    listing.add_argument("run_id")
    listing.add_argument("--json", action="store_true")
    verify = actions.add_parser("verify", help="check the review chain; exit 1 naming the first broken row")
    verify.add_argument("--export", metavar="FILE", help="check a sign-off export offline instead")
    export = actions.add_parser("export", help="a run's sign-off record with its chain, verifiable offline")
    export.add_argument("run_id")
    export.add_argument("--out", required=True, metavar="FILE")
    reviews.set_defaults(func=_cmd_reviews)
    app = sub.add_parser("app", help="start the web app")
    app.add_argument("--port", type=int, default=8501)
    app.add_argument("--address", default="127.0.0.1")
    app.set_defaults(func=_cmd_app)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except InputError as err:
        print(f"embdiff: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("embdiff: interrupted; nothing was saved", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
