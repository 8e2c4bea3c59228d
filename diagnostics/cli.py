"""The ``embdiff`` command line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

APP_PATH = Path(__file__).resolve().parents[1] / "app.py"


def _cmd_app(args: argparse.Namespace) -> int:
    """Start the Streamlit app (a child process, so this package never imports streamlit)."""
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.port", str(args.port), "--server.address", args.address,
    ]
    return subprocess.call(command, cwd=APP_PATH.parent)  # noqa: S603


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="embdiff", description="Diff two embedding models before you ship one.")
    sub = parser.add_subparsers(dest="command", required=True)
    app = sub.add_parser("app", help="start the web app")
    app.add_argument("--port", type=int, default=8501)
    app.add_argument("--address", default="127.0.0.1")
    app.set_defaults(func=_cmd_app)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
