"""Wall time and peak memory of one benchmark stage: a background VmRSS sampler per stage."""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

_PAGE = 1024 * 1024


def rss_mb() -> float:
    """Current resident set size of this process in MB (``VmRSS`` of ``/proc/self/status``)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def hwm_mb() -> float:
    """Peak RSS of this process so far as the kernel keeps it (``VmHWM``), in MB. Unlike ``ru_maxrss``, a child
    does not start from its parent's peak (Linux carries that across fork and exec)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def max_rss_mb() -> float:
    """Peak RSS of the whole process so far, ``getrusage(RUSAGE_SELF).ru_maxrss`` (kB on Linux), in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Measure:
    """What :func:`measure` fills in: wall and process CPU seconds (all threads), RSS before, peak RSS (MB)."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    rss_before: float = 0.0
    rss_peak: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def rss_delta(self) -> float:
        return self.rss_peak - self.rss_before


@contextmanager
def measure(interval: float = 0.01) -> Iterator[Measure]:
    """Time a block and sample its process RSS every ``interval`` seconds in a background thread."""
    out = Measure(rss_before=rss_mb())
    out.rss_peak = out.rss_before
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            out.rss_peak = max(out.rss_peak, rss_mb())
            stop.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    c0 = time.process_time()
    try:
        yield out
    finally:
        out.seconds = time.perf_counter() - t0
        out.cpu_seconds = time.process_time() - c0
        stop.set()
        thread.join()
        out.rss_peak = max(out.rss_peak, rss_mb())
