"""The wheel is the product: built, inspected, installed into a fresh virtual environment and run from a
directory that holds no checkout — the version, a run on the bundled sample, and the app serving every page.

The new environment gets the wheel itself (``--no-deps``) and borrows its dependencies (torch and the rest,
several GB) from this test's own environment through a ``.pth`` line, which adds that ``site-packages`` as a
plain path: its editable hook for embdiff is not run, so ``diagnostics`` and the app come from the wheel.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import pytest
from _browser import free_port, wait_healthy

REPO = Path(__file__).resolve().parents[1]
PAGES = {"overview": "Overview", "projection": "Projection", "neighborhoods": "Neighborhoods",
         "collapse": "Cluster collapse", "queries": "Queries"}

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out)], check=True, capture_output=True)
    [built] = out.glob("embdiff-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the wheel installed; returns its ``bin`` directory."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    bin_dir = venv / "bin"
    subprocess.run([str(bin_dir / "pip"), "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True)
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(subprocess.run([str(bin_dir / "python"), "-c", purelib], check=True, capture_output=True,
                               text=True).stdout.strip())
    (site / "_borrowed_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    return bin_dir


def _run(bin_dir: Path, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / "embdiff"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


def test_the_wheel_carries_the_app_the_pages_and_the_sample(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    required = {
        "diagnostics/cli.py", "diagnostics/default_config.toml", "diagnostics/py.typed",
        "embdiff_app/app.py", "embdiff_app/.streamlit/config.toml", "embdiff_app/ui/projection_map.js",
        "embdiff_app/sample_data/manifest.json", "embdiff_app/sample_data/corpus/corpus.jsonl",
        "embdiff_app/sample_data/corpus/queries.jsonl", "embdiff_app/sample_data/corpus/qrels/test.tsv",
        "embdiff_app/sample_data/vectors/base.parquet", "embdiff_app/sample_data/vectors/tuned.parquet",
        "embdiff_app/sample_data/tuned_adapter/adapter_config.json",
        "embdiff_app/sample_data/tuned_adapter/adapter_model.safetensors",
        *(f"embdiff_app/pages/{p.name}" for p in (REPO / "pages").glob("*.py")),
        *(f"embdiff_app/ui/{p.name}" for p in (REPO / "ui").glob("*.py")),
    }
    assert required <= names, sorted(required - names)
    assert not any(n.startswith(("tests/", "bench/", "embdiff_app/tests", "embdiff_app/bench")) for n in names)
    top = {n.split("/")[0] for n in names}
    assert top == {"diagnostics", "embdiff_app", next(t for t in top if t.endswith(".dist-info"))}


def test_installed_from_the_wheel_it_runs_without_a_checkout(
    installed: Path, tmp_path: Path, base_model_path: str
) -> None:
    from _browser import IDLE, launch_browser, main, new_page
    from playwright.sync_api import sync_playwright

    work = tmp_path / "somewhere-else"
    work.mkdir()
    env = {**{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}, "EMBDIFF_HOME": str(tmp_path / "home"),
           "HF_HUB_OFFLINE": "1"}
    where = subprocess.run([str(installed / "python"), "-c", "import diagnostics, sys; print(diagnostics.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(installed.parent)), where  # the wheel's copy, not this checkout

    version = _run(installed, "--version", cwd=work, env=env)
    assert version.returncode == 0 and re.fullmatch(r"embdiff \d+\.\d+\.\d+\n", version.stdout), version

    compared = _run(installed, "compare", "--sample", "--no-projection", cwd=work, env=env)
    assert compared.returncode == 0, compared.stderr[-2000:]
    run_id = re.match(r"run ([0-9a-f]{16})  verdict (PASS|WARN|UNVERIFIED|FAIL)", compared.stdout).group(1)  # type: ignore[union-attr]
    assert "known-item" in compared.stdout  # the sample's models came along: its checks ran

    port = free_port()
    server = subprocess.Popen([str(installed / "embdiff"), "app", "--port", str(port)], cwd=work, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server, timeout=180)
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            try:
                context, page = new_page(browser)
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector(IDLE, timeout=120_000)
                assert main(page).get_by_role("heading", name="embdiff", exact=True).count() == 1
                for path, title in PAGES.items():
                    page.goto(f"http://127.0.0.1:{port}/{path}?run={run_id}")
                    page.wait_for_selector(IDLE, timeout=120_000)
                    heading: Any = main(page).get_by_role("heading", name=title, exact=True)
                    assert heading.count() == 1, path
                    assert page.locator('[data-testid="stException"]').count() == 0, path
                context.close()
            finally:
                browser.close()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) is not None
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
