"""Encoding and exact top-k search on a Ray cluster (``embdiff compare --ray ADDRESS``).

Why one module past ~500 lines: the rule that nothing imports Ray without ``--ray`` holds only if every line
that touches Ray lives behind one import; connecting, encoding and search share the cluster's resources.

All of embdiff's Ray code is here, and this module imports ``ray`` only inside :func:`connect` and the
functions that run after it: without ``--ray`` nothing imports Ray. Everything but the two costs that
grow with the corpus stays on the machine that runs embdiff (the *driver*).

* **Encoding** (:meth:`RayCluster.encode`): the texts missing from the encoding cache go through Ray Data,
  ``map_batches`` over an autoscaling pool of at most ``actors`` actors, each holding the model and
  declaring ``actor_cpus`` CPUs and ``actor_memory`` bytes. The texts are cut into the same model batches
  as a local run (longest first, ``batch_size`` texts each) and a block holds whole batches, so each
  model call sees exactly the batch it would see locally and the vectors are bitwise equal. Each finished
  block comes back to the driver, which writes it as a Parquet shard under
  ``<cache>/<fingerprint>/ray-shards/`` at once; when all are in, they are merged into the cache
  (:mod:`diagnostics.encode_cache`) and deleted. A run that stopped half-way (driver killed, cluster lost)
  leaves its shards: the next run reads them and encodes only the rest. A worker node lost during the run
  costs nothing more than its blocks in flight: Ray Data restarts the actor elsewhere and retries them.
* **Search** (:meth:`RayCluster.top_k`, :meth:`RayCluster.knn_rows`): the document matrix goes into the
  object store once (``ray.put``); each block of query rows is one task (``task_cpus`` CPUs, memory
  declared from the block's size) calling the very function a local run calls,
  :func:`diagnostics.knn.exact_top_k` or :func:`diagnostics.knn.knn_rows`; the blocks are put back in order.
  The scores of a matrix product depend, in their last bit, on how many query rows one call holds and on how
  many threads share it (the BLAS splits the work between threads). So a block is a whole number of the local
  engine's own search calls (16,384 rows, aligned at row 0), and a task runs with the driver's number of search
  threads (numpy's BLAS threads; it declares that many CPUs): each call is then the call a local run makes, and
  ranks and scores are bitwise equal to a local run's.

The run id does not depend on where the work ran: a run made with ``--ray`` has the id, metrics and
verdict of the same run made locally, and both use one encoding cache (a Ray run after a local one
encodes nothing, and the other way round).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from diagnostics._validation import InputError, check_whole
from diagnostics.encode_cache import _CHUNK_ROWS, _store
from diagnostics.fingerprints import LazyModel
from diagnostics.knn import (
    _QUERY_BLOCK,
    exact_top_k,
    knn_rows,
    search_memory_bytes,
    search_threads,
    set_search_threads,
)

__all__ = ["ADDRESS_ENV", "RaySettings", "RayCluster", "connect", "settings_from_env"]

logger = logging.getLogger(__name__)

#: The environment variable ``--ray`` defaults to.
ADDRESS_ENV = "EMBDIFF_RAY_ADDRESS"

#: Directory, under a model's cache directory, of the Parquet shards of a Ray encoding in progress.
SHARD_DIR = "ray-shards"

_MIB = 1024 * 1024
#: Document matrices a run keeps in the object store at once: the two sides of the comparison being made.
_PLACED_KEPT = 2

#: Each setting: (environment variable, default, low, high).
_SETTINGS: dict[str, tuple[str, int, int, int]] = {
    "actors": ("EMBDIFF_RAY_ACTORS", 2, 1, 1024),
    "actor_cpus": ("EMBDIFF_RAY_ACTOR_CPUS", 1, 1, 256),
    "actor_memory_mb": ("EMBDIFF_RAY_ACTOR_MEMORY_MB", 2048, 256, 1_048_576),
    "shard_texts": ("EMBDIFF_RAY_SHARD_TEXTS", 1024, 1, 1_000_000),
    "task_cpus": ("EMBDIFF_RAY_TASK_CPUS", 0, 0, 256),
    "search_rows": ("EMBDIFF_RAY_SEARCH_ROWS", _QUERY_BLOCK, _QUERY_BLOCK, 64 * _QUERY_BLOCK),
    "connect_timeout": ("EMBDIFF_RAY_CONNECT_TIMEOUT", 15, 1, 600),
}


@dataclass(frozen=True)
class RaySettings:
    """What embdiff asks of a Ray cluster; every value is declared to Ray, nothing is taken beyond it.

    Attributes
    ----------
    actors : int, default 2
        Most encoding actors at once (the pool starts with one and grows to this while work waits).
    actor_cpus : int, default 1
        CPUs each encoding actor declares (and the torch threads it uses).
    actor_memory_mb : int, default 2048
        Memory each encoding actor declares (model, tokenizer, one batch of activations).
    shard_texts : int, default 1024
        Texts per block of work and per Parquet shard (rounded to whole model batches).
    task_cpus : int, default 0
        CPUs each search task declares and threads it searches with; 0: as many as the search uses on the driver
        (another number changes the last bit of some scores, see the module docstring).
    search_rows : int, default 16384
        Query rows per search task: a multiple of 16384, the rows of one local search call.
    connect_timeout : int, default 15
        Seconds to wait for the cluster's address to answer, and twice that (at least 5) for Ray's handshake,
        before giving up.
    """

    actors: int = 2
    actor_cpus: int = 1
    actor_memory_mb: int = 2048
    shard_texts: int = 1024
    task_cpus: int = 0
    search_rows: int = _QUERY_BLOCK
    connect_timeout: int = 15

    def __post_init__(self) -> None:
        if self.search_rows < 1 or self.search_rows % _QUERY_BLOCK:
            raise InputError(
                f"EMBDIFF_RAY_SEARCH_ROWS must be a multiple of {_QUERY_BLOCK} (the query rows of one local "
                f"search call, so that each block is searched as a local run searches it); got {self.search_rows}"
            )

    @property
    def search_threads(self) -> int:
        """Threads (and CPUs) of a search task: ``task_cpus``, or by default the driver's search threads."""
        return self.task_cpus or search_threads()


def settings_from_env(environ: Mapping[str, str] | None = None) -> RaySettings:
    """:class:`RaySettings` from ``EMBDIFF_RAY_*`` variables (see ``docs/DEPLOY.md``); defaults otherwise."""
    env = os.environ if environ is None else environ
    values: dict[str, int] = {}
    for name, (variable, default, low, high) in _SETTINGS.items():
        raw = env.get(variable, "").strip()
        values[name] = default if not raw else check_whole(raw, name=variable, low=low, high=high)
    return RaySettings(**values)


def connect(address: str, *, settings: RaySettings | None = None) -> RayCluster:
    """Connect this process to the Ray cluster at ``address`` as its driver.

    Parameters
    ----------
    address : str
        ``HOST:PORT`` of the head's GCS (``ray start --head`` prints it; port 6379 by default), or ``auto``
        for the cluster this machine belongs to. Never starts a cluster of its own. Ray Client
        (``ray://HOST:PORT``) is refused: Ray Data, which encodes, does not run through it (measured with
        Ray 2.60: its streaming executor needs the driver's core worker, which a client has not;
        ray-project/ray#48682).
    settings : RaySettings, optional
        Resources to declare; default :func:`settings_from_env`.

    Raises
    ------
    InputError
        Ray is not installed, the address is malformed or a Ray Client one, it does not answer within
        ``settings.connect_timeout`` seconds, no Ray head answers there within twice that, or Ray refuses the
        connection (e.g. a version mismatch).
    """
    settings = settings or settings_from_env()
    address = str(address).strip()
    if not address or address in ("local", "None"):
        raise InputError(
            f"--ray needs the address of a running cluster (HOST:PORT or auto); got {address!r}; "
            "embdiff never starts a cluster of its own"
        )
    # "auto" is RAY_ADDRESS when that is set (ray.init reads it), which may be a Ray Client address too.
    client = address if address.lower().startswith("ray://") else ""
    if address == "auto" and os.environ.get("RAY_ADDRESS", "").strip().lower().startswith("ray://"):
        client = f"auto (RAY_ADDRESS={os.environ['RAY_ADDRESS'].strip()})"
    if client:
        raise InputError(
            f"--ray {client} is Ray Client, through which Ray Data (the encoding) does not run; run embdiff on a "
            "node of the cluster instead (ray start --address HEAD:6379 --num-cpus=0, then --ray HEAD:6379 or auto) "
            "or submit it as a Ray job (docs/DEPLOY.md)"
        )
    try:
        import ray
    except ImportError:
        raise InputError(
            "--ray needs Ray, which is not installed here; pip install 'embdiff[ray]' (on every node of the cluster "
            "too), or run without --ray"
        ) from None
    if address != "auto":
        _check_reachable(address, timeout=settings.connect_timeout)
    env_vars = {name: os.environ[name] for name in ("HF_HUB_OFFLINE", "HF_HOME", "TOKENIZERS_PARALLELISM")
                if name in os.environ}
    failure: list[BaseException] = []

    def init() -> None:
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False,
                     runtime_env={"env_vars": env_vars} if env_vars else None, ignore_reinit_error=True)
        except BaseException as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError, ...: reported below
            failure.append(exc)

    # ray.init retries for minutes when the address answers but is no Ray head (or the head's GCS gives out
    # another address): bounded here, in a daemon thread, so the command fails instead of hanging.
    thread = threading.Thread(target=init, name="embdiff-ray-connect", daemon=True)
    logging.getLogger("ray._private.worker").addFilter(_NoSignalHandlerNote())
    thread.start()
    wait = max(5, 2 * settings.connect_timeout)
    thread.join(wait)
    if thread.is_alive():
        raise InputError(f"cannot connect to the Ray cluster at {address}: no Ray head answered within "
                         f"{wait} s; check --ray / EMBDIFF_RAY_ADDRESS (the head's GCS address, port 6379 by default)")
    if failure:
        raise InputError(f"cannot connect to the Ray cluster at {address}: {_first_line(failure[0])}; "
                         "check --ray / EMBDIFF_RAY_ADDRESS and that the cluster runs the same Ray version")
    from ray.data import DataContext

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # its per-dataset INFO lines; embdiff says what runs
    context = DataContext.get_current()
    context.enable_progress_bars = False  # embdiff reports its own progress, per shard
    context.execution_options.preserve_order = False  # shards are written as they finish
    return RayCluster(address=address, settings=settings)


class _NoSignalHandlerNote(logging.Filter):
    """Drops Ray's note that a driver connected outside the main thread sets no SIGTERM handler (embdiff's
    command line handles its own signals)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("SIGTERM handler is not set")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _check_reachable(address: str, *, timeout: float) -> None:
    """A TCP connection to ``HOST:PORT`` within ``timeout`` seconds, so a dead address fails at once."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise InputError(f"--ray must be HOST:PORT or auto; got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), timeout=timeout):
            pass
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        raise InputError(
            f"cannot reach the Ray cluster at {address}: {reason} (after at most {timeout:g} s); start it "
            "(ray start --head) or fix --ray / EMBDIFF_RAY_ADDRESS"
        ) from None


@dataclass
class RayCluster:
    """A connection to a Ray cluster, made by :func:`connect`; pass it as ``cluster=`` to the engine.

    It counts what it did (``encoded``, ``resumed``, ``shards``, ``search_tasks``) for the summary line, and
    keeps each document matrix it placed in the object store for the rest of the run.
    """

    address: str
    settings: RaySettings
    encoded: int = 0
    resumed: int = 0
    shards: int = 0
    search_tasks: int = 0
    _placed: list[tuple[NDArray[np.float32], Any]] = field(default_factory=list, repr=False)

    def describe(self) -> list[str]:
        """What the cluster offers, and a warning for each kind of work no node can take yet (it would wait for
        a node: an autoscaler may add one, a fixed cluster never will)."""
        import ray

        listed: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
        nodes = [n.get("Resources", {}) for n in listed if n.get("Alive")]
        cpus = sum(n.get("CPU", 0.0) for n in nodes)
        ask = self.settings
        lines = [f"ray {self.address}: {len(nodes)} nodes, {cpus:g} CPUs; encoding actors: up to {ask.actors} "
                 f"x ({ask.actor_cpus} CPU, {ask.actor_memory_mb} MB), search tasks: {ask.search_threads} CPU each"]
        for what, need_cpu, need_mb in (("an encoding actor", self.settings.actor_cpus, self.settings.actor_memory_mb),
                                        ("a search task", self.settings.search_threads, 256)):
            if not any(n.get("CPU", 0.0) >= need_cpu and n.get("memory", 0.0) >= need_mb * _MIB for n in nodes):
                lines.append(f"warning: no node of the cluster has {need_cpu} CPU and {need_mb} MB for {what}; the "
                             "run waits until one joins (set EMBDIFF_RAY_ACTOR_CPUS / EMBDIFF_RAY_ACTOR_MEMORY_MB / "
                             "EMBDIFF_RAY_TASK_CPUS to fit the cluster)")
        return lines

    def summary(self) -> str:
        return (f"ray {self.address}: encoded {self.encoded} texts in {self.shards} shards "
                f"({self.resumed} resumed from shards of an earlier run), {self.search_tasks} search tasks")

    def shutdown(self) -> None:
        """Disconnect (the cluster keeps running)."""
        import ray

        self._placed.clear()
        ray.shutdown()

    # -- encoding -------------------------------------------------------------------------------

    def encode(
        self,
        directory: Path,
        pending: Sequence[tuple[bytes, str]],
        model: LazyModel,
        *,
        batch_size: int,
        on_encoded: Callable[[Sequence[bytes]], None] | None = None,
    ) -> dict[bytes, NDArray[np.float32]]:
        """Vectors of the ``(key, prefix + text)`` pairs ``pending`` (in local encoding order), stored in the
        cache ``directory`` on return; ``on_encoded(keys)`` after each shard."""
        import ray

        shard_dir = directory / SHARD_DIR
        earlier, paths = _read_shards(shard_dir)  # left by a run that stopped half-way
        wanted = {key for key, _ in pending}
        found = {key: vector for key, vector in earlier.items() if key in wanted}
        self.resumed += len(found)
        if found and on_encoded is not None:
            on_encoded(list(found))
        todo = [(key, text) for key, text in pending if key not in found]
        if todo:
            if not isinstance(model.spec, str | os.PathLike):
                raise InputError("encoding on Ray needs the model as a directory or hub name (each worker loads "
                                 "it), not a model object; pass its path, or run without --ray")
            batches_per_block = max(1, self.settings.shard_texts // batch_size)
            blocks = _blocks(todo, batch_size=batch_size, batches_per_block=batches_per_block)
            dataset = ray.data.from_pandas(blocks).map_batches(
                _Encoder,
                fn_constructor_kwargs={"model": os.fspath(model.spec), "fingerprint": model.fingerprint(),
                                       "batch_size": batch_size},
                batch_size=None,  # one block at a time: whole model batches, never split
                batch_format="pandas",
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=min(self.settings.actors, len(blocks))),
                num_cpus=self.settings.actor_cpus,
                memory=self.settings.actor_memory_mb * _MIB,
            )
            try:
                for out in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                    keys = [bytes(k) for k in out["key"]]
                    vectors = np.ascontiguousarray(out["vec"], dtype=np.float32)
                    paths.append(_write_shard(shard_dir, keys, vectors))
                    self.shards += 1
                    self.encoded += len(keys)
                    for key, vector in zip(keys, vectors, strict=True):
                        found[key] = vector
                    if on_encoded is not None:
                        on_encoded(keys)
            except Exception as exc:  # noqa: BLE001 - Ray wraps the worker's error; report it in one line
                raise InputError(f"encoding on the Ray cluster at {self.address} failed: {_first_line(exc)}; "
                                 f"the shards written so far are kept and a re-run encodes only the rest") from None
        _merge(directory, shard_dir, {**earlier, **found}, paths)
        return found

    # -- search ---------------------------------------------------------------------------------

    def top_k(self, queries: NDArray[np.float32], docs: NDArray[np.float32], *, k: int,
              exclude_self: bool = False) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """:func:`diagnostics.knn.exact_top_k`, one task per block of query rows; the same answer."""
        if exclude_self:
            if queries is not docs and (queries.shape != docs.shape or not np.array_equal(queries, docs)):
                exact_top_k(queries, docs, k=k, exclude_self=True)  # raises the local error
            return self.knn_rows(docs, np.arange(docs.shape[0], dtype=np.int64), k=k)
        return self._search(queries, docs, None, k=k)

    def knn_rows(self, vectors: NDArray[np.float32], rows: NDArray[np.int64], *, k: int
                 ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """:func:`diagnostics.knn.knn_rows`, one task per block of rows; the same answer."""
        return self._search(None, vectors, np.asarray(rows, dtype=np.int64), k=k)

    def _search(self, queries: NDArray[np.float32] | None, docs: NDArray[np.float32], rows: NDArray[np.int64] | None,
                *, k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        import ray

        # Validated on the driver (on at most one row), so bad input raises the local InputError.
        if rows is not None:
            n = rows.shape[0]
            knn_rows(docs, rows[:1], k=k)
        else:
            assert queries is not None
            n = queries.shape[0]
            exact_top_k(queries[:1], docs, k=k)
        if n == 0:
            return np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32)
        docs_ref = self._place(docs)
        block_rows = min(n, self.settings.search_rows)
        threads = self.settings.search_threads
        task = ray.remote(_search_block).options(
            num_cpus=threads,
            # one local search call's working memory, the block's results (rank and score per row), Python's own
            memory=int(search_memory_bytes(min(block_rows, _QUERY_BLOCK), docs.shape[0], docs.shape[1], k)
                       + block_rows * k * 12 + 256 * _MIB),
            max_retries=3,
        )
        refs = []
        for start in range(0, n, self.settings.search_rows):  # aligned with the local search calls
            stop = min(start + self.settings.search_rows, n)
            if rows is not None:
                refs.append(task.remote(None, docs_ref, rows[start:stop], k, threads))
            else:
                assert queries is not None
                refs.append(task.remote(np.ascontiguousarray(queries[start:stop]), docs_ref, None, k, threads))
        self.search_tasks += len(refs)
        try:
            results = ray.get(refs)
        except Exception as exc:  # noqa: BLE001 - Ray wraps the task's error
            raise InputError(f"search on the Ray cluster at {self.address} failed: {_first_line(exc)}") from None
        return (np.concatenate([r[0] for r in results]).astype(np.int64, copy=False),
                np.concatenate([r[1] for r in results]).astype(np.float32, copy=False))

    def _place(self, docs: NDArray[np.float32]) -> Any:
        """The object ref of ``docs``, put in the object store the first time this run searches it."""
        import ray

        for i, (held, ref) in enumerate(self._placed):
            if held is docs:
                self._placed.append(self._placed.pop(i))  # the most recently used last
                return ref
        ref = ray.put(np.ascontiguousarray(docs, dtype=np.float32))
        # The least recently used is dropped past _PLACED_KEPT: with several candidates, an earlier candidate's
        # matrix leaves the object store once the next one is placed (the base's searches are shared, done once).
        self._placed = [*self._placed, (docs, ref)][-_PLACED_KEPT:]
        return ref


def _search_block(queries: NDArray[np.float32] | None, docs: NDArray[np.float32], rows: NDArray[np.int64] | None,
                  k: int, threads: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """One search task: the local function on one block (``docs`` arrives read-only from the object store),
    with the driver's number of threads."""
    from threadpoolctl import threadpool_limits

    set_search_threads(threads)
    with threadpool_limits(limits=threads, user_api="blas"):
        if rows is not None:
            return knn_rows(docs, rows, k=k)
        assert queries is not None
        return exact_top_k(queries, docs, k=k)


# -- encoding helpers --------------------------------------------------------------------------------

class _Encoder:
    """A Ray Data actor holding the model; it checks that its copy is the driver's (same fingerprint)."""

    def __init__(self, model: str, fingerprint: str, batch_size: int) -> None:
        import torch

        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))  # what Ray granted
        self._handle = LazyModel(model)
        here = self._handle.fingerprint()
        if here != fingerprint:
            raise RuntimeError(f"the model {model!r} on node {socket.gethostname()} has fingerprint {here[:12]}, "
                               f"the driver's has {fingerprint[:12]}; install the same model files on every node")
        self._model = self._handle.get()
        self._batch_size = batch_size

    def __call__(self, block: Any) -> dict[str, Any]:
        keys: list[bytes] = []
        parts: list[NDArray[np.float32]] = []
        for _, batch in block.groupby("batch", sort=False):  # whole local batches, in order
            encoded = self._model.encode(list(batch["text"]), batch_size=self._batch_size, show_progress_bar=False,
                                         convert_to_numpy=True, normalize_embeddings=True)
            parts.append(np.ascontiguousarray(encoded, dtype=np.float32).reshape(len(batch), -1))
            keys.extend(bytes(k) for k in batch["key"])
        return {"key": np.array(keys, dtype=object), "vec": np.concatenate(parts)}


def _blocks(todo: Sequence[tuple[bytes, str]], *, batch_size: int, batches_per_block: int) -> list[Any]:
    """The texts cut into the local run's model batches (``batch_size`` each, in order), whole batches per block."""
    import pandas as pd

    per_block = batch_size * batches_per_block
    out = []
    for start in range(0, len(todo), per_block):
        chunk = todo[start : start + per_block]
        out.append(pd.DataFrame({
            "key": [key for key, _ in chunk],
            "text": [text for _, text in chunk],
            "batch": [(start + i) // batch_size for i in range(len(chunk))],
        }))
    return out


def _write_shard(shard_dir: Path, keys: Sequence[bytes], vectors: NDArray[np.float32]) -> Path:
    """One Parquet shard (``key`` binary, ``vec`` fixed-size list of float32), written atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    shard_dir.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(b"".join(keys)).hexdigest()[:32]
    dim = vectors.shape[1]
    table = pa.table({"key": pa.array(keys, type=pa.binary(32)),
                      "vec": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), dim)})
    final = shard_dir / f"shard-{name}.parquet"
    tmp = shard_dir / f".tmp-{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex}.parquet"
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def _read_shards(shard_dir: Path) -> tuple[dict[bytes, NDArray[np.float32]], list[Path]]:
    """The vectors in the shards an earlier run left, and the shards read; unreadable ones are skipped."""
    import pyarrow.parquet as pq

    found: dict[bytes, NDArray[np.float32]] = {}
    read: list[Path] = []
    for path in sorted(shard_dir.glob("shard-*.parquet")) if shard_dir.is_dir() else []:
        try:
            table = pq.read_table(path)
            column = table.column("vec").combine_chunks()
            dim = column.type.list_size
            vectors = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)
            keys = table.column("key").to_pylist()
        except Exception as exc:  # noqa: BLE001 - a torn or foreign file only costs its texts again
            logger.warning("skipping unreadable Ray shard %s: %s", path.name, exc)
            continue
        read.append(path)
        for key, vector in zip(keys, vectors, strict=True):
            if np.isfinite(vector).all():
                found.setdefault(key, vector)
    return found, read


def _merge(directory: Path, shard_dir: Path, vectors: dict[bytes, NDArray[np.float32]], paths: Sequence[Path]
           ) -> None:
    """Store ``vectors`` in the cache, then delete the shards they came from (``paths``: the ones this run read
    or wrote, never those another run may be writing now)."""
    keys = list(vectors)
    for start in range(0, len(keys), _CHUNK_ROWS):
        part = keys[start : start + _CHUNK_ROWS]
        _store(directory, part, np.stack([vectors[key] for key in part]))
    if paths:
        for path in paths:
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # a shard some other run is writing: left for it
            shard_dir.rmdir()
