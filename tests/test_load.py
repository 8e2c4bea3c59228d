"""A shared server: the deployment settings, no pickle or remote code anywhere, and 10 sessions at once.

* ``deploy/streamlit-config.toml`` holds only options the installed Streamlit knows, with XSRF and CORS
  protection on, error details hidden and the upload limit equal to ``EMBDIFF_MAX_UPLOAD_MB``.
* The code never unpickles, never runs a model's remote code and never renders HTML it was given.
* Load (browser): a Streamlit server started with the deployment settings on a free 127.0.0.1 port,
  one saved run, 10 concurrent browser sessions (Playwright contexts in Debian's chromium) on its
  Overview and Queries pages; every session gets the right page, and the server's resident memory with
  11 open sessions stays within 1.5x of its memory with one.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'
N_SESSIONS = 10
SESSION_TIMEOUT_S = 240
MEMORY_RATIO = 1.5


# ----------------------------------------------------------------------------- deployment settings


def _deploy_config() -> dict[str, Any]:
    return tomllib.loads((DEPLOY / "streamlit-config.toml").read_text(encoding="utf-8"))


def test_deploy_config_uses_only_known_options() -> None:
    from streamlit import config

    known = set(config._config_options_template)
    used = {f"{section}.{name}" for section, values in _deploy_config().items() for name in values}
    assert used and used <= known, f"unknown Streamlit options: {sorted(used - known)}"


def test_deploy_config_is_hardened() -> None:
    cfg = _deploy_config()
    server, client = cfg["server"], cfg["client"]
    assert server["enableXsrfProtection"] is True
    assert server["enableCORS"] is True and server["corsAllowedOrigins"]
    assert all(o.startswith("https://") for o in server["corsAllowedOrigins"])
    assert server["allowedHosts"] and "*" not in server["allowedHosts"]
    assert client["showErrorDetails"] == "none"
    assert client["toolbarMode"] in ("minimal", "viewer")
    assert server["address"] == "127.0.0.1"
    assert server["runOnSave"] is False and server["fileWatcherType"] == "none"
    assert server["enableStaticServing"] is False
    assert "cookieSecret" not in server, "the cookie secret belongs in the environment, not in a config file"
    env = dict(line.split("=", 1) for line in (DEPLOY / "embdiff.env").read_text().splitlines()
               if line and not line.startswith("#"))
    assert int(env["EMBDIFF_MAX_UPLOAD_MB"]) == server["maxUploadSize"]
    assert {"EMBDIFF_HOME", "EMBDIFF_DATA_ROOTS", "HF_HUB_OFFLINE"} <= set(env)
    nginx = (DEPLOY / "nginx-embdiff.conf").read_text()
    assert f"client_max_body_size {server['maxUploadSize']}m;" in nginx


def test_secrets_example_configures_oidc_login() -> None:
    auth = tomllib.loads((DEPLOY / "secrets.example.toml").read_text(encoding="utf-8"))["auth"]
    assert set(auth) >= {"redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url"}
    assert auth["redirect_uri"].startswith("https://") and auth["redirect_uri"].endswith("/oauth2callback")
    assert auth["server_metadata_url"].endswith("/.well-known/openid-configuration")
    assert all(v.startswith("REPLACE") for k, v in auth.items() if k in ("cookie_secret", "client_id",
                                                                            "client_secret"))


def test_docs_name_every_setting() -> None:
    text = (REPO / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    for name in ("EMBDIFF_DATA_ROOTS", "EMBDIFF_MAX_UPLOAD_MB", "EMBDIFF_HOME", "enableXsrfProtection", "enableCORS",
                 "showErrorDetails", "maxUploadSize", "st.login", "[auth]", "trust_remote_code=False",
                 "secrets.example.toml", "streamlit-config.toml"):
        assert name in text, f"docs/DEPLOY.md does not mention {name}"


# ---------------------------------------------------------------------- no pickle, no remote code

SOURCES = sorted([*(REPO / "diagnostics").rglob("*.py"), *(REPO / "ui").rglob("*.py"), *(REPO / "pages").rglob("*.py"),
                  REPO / "app.py"])
FORBIDDEN_TEXT = ("allow_pickle=True", "trust_remote_code=True", "unsafe_allow_html=True", "import pickle",
                  "from pickle", "cPickle", "cloudpickle", "import dill", "import joblib", "import shelve",
                  "read_pickle", "to_pickle", "pickle.load", "torch.load(")
FORBIDDEN_MODULES = {"pickle", "cPickle", "cloudpickle", "dill", "joblib", "shelve", "marshal"}


def test_no_pickle_and_no_remote_code_in_the_text() -> None:
    """The literal grep: none of these strings in diagnostics/, ui/, pages/ or app.py."""
    found = [f"{path.relative_to(REPO)}:{n}: {needle}"
             for path in SOURCES
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             for needle in FORBIDDEN_TEXT if needle in line]
    assert found == []


def test_no_pickle_and_no_remote_code_in_the_code() -> None:
    """The same through the syntax tree, so no spelling escapes: every np.load passes allow_pickle=False,
    every trust_remote_code / allow_pickle keyword is the constant False, no pickling module is imported,
    no eval/exec, and untrusted text is never rendered as HTML."""
    problems: list[str] = []
    n_np_load = 0
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(REPO)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and
                                                        node.module else [])
                problems += [f"{where}:{node.lineno}: imports {n}" for n in names
                             if n.split(".")[0] in FORBIDDEN_MODULES]
            if not isinstance(node, ast.Call):
                continue
            func = ast.unparse(node.func)
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            for name in ("trust_remote_code", "allow_pickle"):
                value = keywords.get(name)
                if value is not None and not (isinstance(value, ast.Constant) and value.value is False):
                    problems.append(f"{where}:{node.lineno}: {func}({name}={ast.unparse(value)})")
            if func in ("np.load", "numpy.load"):
                n_np_load += 1
                if "allow_pickle" not in keywords:
                    problems.append(f"{where}:{node.lineno}: np.load without allow_pickle=False")
            if func.split(".")[-1] in ("SentenceTransformer", "CrossEncoder", "from_pretrained") and \
                    "trust_remote_code" not in keywords:
                problems.append(f"{where}:{node.lineno}: {func} without trust_remote_code=False")
            if func in ("eval", "exec", "torch.load", "pd.read_pickle", "yaml.load"):
                problems.append(f"{where}:{node.lineno}: {func}(...)")
            value = keywords.get("unsafe_allow_html")
            if value is not None and not (isinstance(value, ast.Constant) and value.value is False):
                problems.append(f"{where}:{node.lineno}: {func}(unsafe_allow_html=...)")
            if func in ("st.html", "components.html", "st.components.v1.html"):
                problems.append(f"{where}:{node.lineno}: {func}(...) renders HTML")
    assert problems == []
    assert n_np_load >= 2, "the check found no np.load call: is it still looking at the code?"


def test_the_check_catches_a_violation(tmp_path: Path) -> None:
    """The syntax-tree check is not vacuous: it flags a planted pickle load."""
    planted = "import numpy as np\nx = np.load('a.npy', allow_pickle=True)\nimport pickle\n"
    tree = ast.parse(planted)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert any(k.arg == "allow_pickle" and ast.unparse(k.value) == "True" for c in calls for k in c.keywords)
    assert any(isinstance(n, ast.Import) and n.names[0].name == "pickle" for n in ast.walk(tree))


# -------------------------------------------------------------------------------------------- load


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, *, origin: str | None = None, timeout: float = 5) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers={"Origin": origin} if origin else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (a local test URL)
        return response.status, dict(response.headers), response.read().decode("utf-8", "replace")


def _rss(pid: int) -> int:
    """Resident memory of a process in bytes (psutil if installed, else /proc/<pid>/status)."""
    try:
        import psutil
    except ImportError:
        text = Path(f"/proc/{pid}/status").read_text()
        return int(re.search(r"^VmRSS:\s+(\d+) kB", text, re.M).group(1)) * 1024  # type: ignore[union-attr]
    return int(psutil.Process(pid).memory_info().rss)


def _settle(pid: int, *, timeout: float = 180) -> float:
    """Wait until the server is idle (UMAP warm-up compiled, sessions rendered): 3 quiet seconds in a row."""
    try:
        import psutil
    except ImportError:  # no way to watch the CPU: give the warm-up its usual time
        time.sleep(45)
        return 45.0

    process = psutil.Process(pid)
    start = time.monotonic()
    quiet = 0
    while time.monotonic() - start < timeout and quiet < 3:
        quiet = quiet + 1 if process.cpu_percent(interval=1.0) < 10 else 0
    return time.monotonic() - start


def _make_run(home: Path, data: Path) -> dict[str, Any]:
    """A saved run of a small synthetic dataset (2 domains, 200 documents, 20 judged queries, vectors)."""
    from diagnostics.compare import compare_inputs, load_inputs
    from diagnostics.runs import RunStore
    from diagnostics.vectors import write_vectors

    ds = data / "ds"
    (ds / "qrels").mkdir(parents=True)
    docs, queries, qrels = [], [], []
    for domain in ("legal", "support"):
        docs += [{"_id": f"{domain}-{i}", "title": f"{domain} {i}", "text": f"a {domain} text {i}", "domain": domain}
                 for i in range(100)]
        queries += [{"_id": f"{domain}-q{j}", "text": f"{domain} question {j}", "domain": domain} for j in range(10)]
        qrels += [f"{domain}-q{j}\t{domain}-{j}\t1\n" for j in range(10)]
    (ds / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (ds / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (ds / "qrels" / "test.tsv").write_text("".join(qrels))
    ids = [d["_id"] for d in docs] + [q["_id"] for q in queries]
    kinds = ["doc"] * len(docs) + ["query"] * len(queries)
    rng = np.random.default_rng(7)
    base = rng.standard_normal((len(ids), 32)).astype(np.float32)
    write_vectors(data / "base.parquet", ids, kinds, base)
    write_vectors(data / "tuned.parquet", ids, kinds, base + 0.5 * rng.standard_normal(base.shape).astype(np.float32))
    dataset, b, t = load_inputs([ds], base_vectors=data / "base.parquet", tuned_vectors=data / "tuned.parquet")
    result = compare_inputs(dataset, b, t, k=10, projection=False, store=RunStore(home / "runs"))
    worst = result.per_query.sort_values("ndcg@10_delta", kind="stable").iloc[0]
    return {"run_id": result.run_id, "verdict": result.verdict, "query": str(worst["query_id"]),
            "domain": str(worst["domain"])}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app under the deployment settings (host names replaced by 127.0.0.1), with one saved run."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Debian's chromium is missing at {CHROMIUM}: `make chromium` installs it")
    root = tmp_path_factory.mktemp("load")
    home, service_home = root / "embdiff", root / "service-home"
    run = _make_run(home, root / "data")
    port = _free_port()
    cfg = (DEPLOY / "streamlit-config.toml").read_text(encoding="utf-8")
    local = {'"https://embdiff.example.com"': f'"http://127.0.0.1:{port}"', '"embdiff.example.com"': '"127.0.0.1"',
             "port = 8501": f"port = {port}", "serverPort = 443": f"serverPort = {port}"}
    for public, replacement in local.items():
        cfg = cfg.replace(public, replacement)
    (service_home / ".streamlit").mkdir(parents=True)
    (service_home / ".streamlit" / "config.toml").write_text(cfg, encoding="utf-8")
    log = (root / "server.log").open("w")
    env = {**os.environ, "EMBDIFF_HOME": str(home), "HOME": str(service_home), "HF_HUB_OFFLINE": "1",
           "EMBDIFF_DATA_ROOTS": str(root / "data"), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO / "app.py")], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _get(f"{base}/_stcore/health")[2].strip() == "ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start: {(root / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield {"base": base, "pid": proc.pid, "log": root / "server.log", **run}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def _session(browser: Any, server: dict[str, Any], *, number: int) -> tuple[Any, dict[str, Any]]:
    """One user: the Overview of the run, then one query on the Queries page. Returns the open context."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(SESSION_TIMEOUT_S * 1000)
    started = time.monotonic()
    await page.goto(f"{server['base']}/overview?run={server['run_id']}")
    await page.get_by_text(f"Verdict: {server['verdict']}", exact=True).wait_for()
    await page.locator(READY).wait_for()
    overview = {"run_shown": await page.get_by_text(f"Run {server['run_id']}").count() > 0,
                "exceptions": await page.locator('[data-testid="stException"]').count()}
    await page.goto(f"{server['base']}/queries?run={server['run_id']}&query={server['query']}")
    await page.get_by_text(f"{server['query']} · {server['domain']} · ").first.wait_for()
    await page.locator(READY).wait_for()
    queries = {"exceptions": await page.locator('[data-testid="stException"]').count(),
               "title": await page.get_by_role("heading", name="Queries").count() > 0}
    cookies = {c["name"] for c in await context.cookies()}
    return context, {"number": number, "seconds": time.monotonic() - started, "overview": overview,
                     "queries": queries, "cookies": cookies}


def _assert_correct(report: dict[str, Any]) -> None:
    assert report["overview"] == {"run_shown": True, "exceptions": 0}, report
    assert report["queries"] == {"exceptions": 0, "title": True}, report
    assert "_streamlit_xsrf" in report["cookies"], "XSRF protection is off: no _streamlit_xsrf cookie"


@pytest.mark.browser
def test_ten_concurrent_sessions_share_the_server(server: dict[str, Any]) -> None:
    from playwright.async_api import async_playwright

    async def scenario() -> dict[str, Any]:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                first, report = await asyncio.wait_for(_session(browser, server, number=0), SESSION_TIMEOUT_S)
                _assert_correct(report)
                settled_one = _settle(server["pid"])
                rss_one = _rss(server["pid"])
                started = time.monotonic()
                results = await asyncio.wait_for(
                    asyncio.gather(*(_session(browser, server, number=n + 1) for n in range(N_SESSIONS))),
                    SESSION_TIMEOUT_S,
                )
                wall = time.monotonic() - started
                for _, rep in results:
                    _assert_correct(rep)
                _settle(server["pid"])
                rss_many = _rss(server["pid"])
                for context, _ in results:
                    await context.close()
                await first.close()
                return {"rss_one": rss_one, "rss_many": rss_many, "wall": wall, "settled_one": settled_one,
                        "first": report["seconds"], "sessions": sorted(r["seconds"] for _, r in results)}
            finally:
                await browser.close()

    numbers = asyncio.run(scenario())
    ratio = numbers["rss_many"] / numbers["rss_one"]
    print(f"\nload: first session {numbers['first']:.1f} s (server idle {numbers['settled_one']:.0f} s later); "
          f"{N_SESSIONS} concurrent sessions in {numbers['wall']:.1f} s "
          f"(each {numbers['sessions'][0]:.1f}-{numbers['sessions'][-1]:.1f} s); server RSS with 1 session "
          f"{numbers['rss_one'] / 2**20:.0f} MiB, with {N_SESSIONS + 1} sessions {numbers['rss_many'] / 2**20:.0f} MiB "
          f"(x{ratio:.2f})")
    assert ratio <= MEMORY_RATIO, f"memory grew x{ratio:.2f} with {N_SESSIONS} more sessions: per-session copies?"
    log = server["log"].read_text()
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.browser
def test_cross_origin_requests_are_not_allowed(server: dict[str, Any]) -> None:
    """CORS protection on: a foreign origin gets no `Access-Control-Allow-Origin`, the allowed one does."""
    status, headers, _ = _get(f"{server['base']}/_stcore/health", origin="https://evil.example")
    assert status == 200
    assert headers.get("Access-Control-Allow-Origin") in (None, server["base"])
    assert headers.get("Access-Control-Allow-Origin") != "*"
