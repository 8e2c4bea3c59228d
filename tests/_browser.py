"""Helpers for the real-browser tests: a Streamlit server on a free port, Debian's chromium through
Playwright, waiting for reruns, reading Streamlit's canvas data grids, full-page screenshots."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WIDTH, HEIGHT = 1400, 900
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
TIMEOUT_MS = 60_000
GRID_HEADER_PX = 35  # Streamlit's data grid: header and row height
GRID_ROW_PX = 35


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    home: Path

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(home: Path, log: Path, *, timeout: float = 120.0, port: int | None = None,
                 args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Server:
    """``streamlit run app.py`` on a free port (or ``port``) with ``EMBDIFF_HOME=home`` and any further
    Streamlit ``args`` and environment; returns once it is healthy."""
    port = port or free_port()
    env = {**os.environ, "EMBDIFF_HOME": str(home), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           **(env or {})}
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
           "--server.headless", "true", "--server.address", "127.0.0.1",
           "--browser.gatherUsageStats", "false", *args]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    server = Server(f"http://127.0.0.1:{port}", process, log, home)
    try:
        wait_healthy(server.url, process, timeout=timeout)
    except RuntimeError as err:
        stop_server(server)
        raise RuntimeError(f"{err}:\n{server.log_tail()}") from None
    return server


def wait_healthy(url: str, process: subprocess.Popen[Any], *, timeout: float = 120.0) -> None:
    """Return once the Streamlit server at ``url`` answers its health check; raise if ``process`` exits or
    ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the streamlit server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the streamlit server was not healthy after {timeout:.0f} s")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


def launch_browser(playwright: Any) -> Any:
    if not CHROMIUM.is_file():
        raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium (`make chromium`)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


def new_page(browser: Any) -> tuple[Any, Any]:
    """A new browser context (no shared cookies or storage) and a page in it."""
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


def wait_idle(page: Any, *, settle: float = 0.75) -> None:
    """Wait until the script has finished, give a possible rerun a moment to start, wait again."""
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)
    time.sleep(settle)
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)


def goto(page: Any, url: str) -> None:
    page.goto(url)
    wait_idle(page, settle=1.0)


def main(page: Any) -> Any:
    return page.get_by_test_id("stMain")


def grids(page: Any) -> Any:
    """The data grids (``st.dataframe``) of the main area, in page order."""
    return main(page).get_by_test_id("stDataFrame")


def grid_text(grid: Any) -> str:
    """The text of a data grid's visible cells. The grid draws on a canvas; its accessible table
    (hidden, ``role="grid"``) holds the same cells as text nodes."""
    table = grid.locator('[role="grid"]').first
    table.wait_for(state="attached", timeout=TIMEOUT_MS)
    return str(table.evaluate("e => e.textContent"))


def click_grid_row(page: Any, grid: Any, row: int) -> None:
    """Tick the row-selection box of data row ``row`` (0-based) of a selectable grid."""
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None, "the data grid is not laid out"
    page.mouse.click(box["x"] + 15, box["y"] + GRID_HEADER_PX + GRID_ROW_PX * row + GRID_ROW_PX / 2)
    wait_idle(page, settle=1.0)


def screenshot(page: Any, name: str) -> Path:
    """A full-page screenshot, 1400 px wide, into ``test-artifacts/<name>.png``.

    Streamlit scrolls inside its main area, not the document, so the viewport is stretched to the
    main area's height for the shot and restored afterwards.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    height = int(page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], "
        "[data-testid=\"stSidebarContent\"]')].map(e => e.scrollHeight), 0)"
    ))
    page.set_viewport_size({"width": WIDTH, "height": min(max(height, HEIGHT), 8000)})
    time.sleep(1.0)  # let charts and grids lay out at the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    return path
