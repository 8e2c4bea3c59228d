"""embdiff's engine: compare a base and a tuned embedding model per domain.

Never imports streamlit. Takes arrays and frames, returns numbers, frames and frozen result objects,
so everything the app shows can be computed, tested and exported without a browser.

>>> from diagnostics import load_dataset, load_vectors, pair_vectors, compare_inputs
"""

from diagnostics._validation import InputError
from diagnostics.collapse import (
    anisotropy,
    centroid_cosines,
    collapse_flags,
    collapse_table,
    effective_rank,
    linear_cka,
    mean_intra_cosine,
    silhouette_by_domain,
    uniformity,
)
from diagnostics.compare import compare, compare_inputs, load_inputs
from diagnostics.config import Config, load_config
from diagnostics.dataset import Dataset, load_beir, load_dataset, load_tables
from diagnostics.encoding import ProgressCallback, encode_dataset, encode_texts, load_model, model_fingerprint
from diagnostics.knn import exact_top_k, knn_rows
from diagnostics.neighbors import (
    neighbor_changes,
    neighbor_flow,
    neighborhood_overlap,
    overlap_by_domain,
    overlap_ci,
    stratified_sample,
)
from diagnostics.projection import Projection, project_pair, warm_up
from diagnostics.result import METRICS, Comparison, load_comparison, save_comparison
from diagnostics.retrieval import (
    jaccard_at_k,
    label_free_signals,
    ndcg_at_k,
    rank_biased_overlap,
    recall_at_k,
    reciprocal_rank_at_k,
    retrieval_metrics,
)
from diagnostics.reviews import Review, ReviewStore
from diagnostics.runs import RunCorruptError, RunNotFoundError, RunStore, run_id_for
from diagnostics.statistics import holm, paired_bootstrap_ci, sign_flip_pvalue
from diagnostics.vectors import (
    Embeddings,
    VectorFile,
    attach_vectors,
    load_vector_pair,
    load_vectors,
    pair_vectors,
    write_vectors,
)

__all__ = [
    "Comparison",
    "Config",
    "Dataset",
    "Embeddings",
    "InputError",
    "METRICS",
    "ProgressCallback",
    "Projection",
    "Review",
    "ReviewStore",
    "RunCorruptError",
    "RunNotFoundError",
    "RunStore",
    "VectorFile",
    "anisotropy",
    "attach_vectors",
    "centroid_cosines",
    "collapse_flags",
    "collapse_table",
    "compare",
    "compare_inputs",
    "effective_rank",
    "encode_dataset",
    "encode_texts",
    "exact_top_k",
    "holm",
    "jaccard_at_k",
    "knn_rows",
    "label_free_signals",
    "linear_cka",
    "load_beir",
    "load_comparison",
    "load_config",
    "load_dataset",
    "load_inputs",
    "load_model",
    "load_tables",
    "load_vector_pair",
    "load_vectors",
    "mean_intra_cosine",
    "model_fingerprint",
    "ndcg_at_k",
    "neighbor_changes",
    "neighbor_flow",
    "neighborhood_overlap",
    "overlap_by_domain",
    "overlap_ci",
    "pair_vectors",
    "paired_bootstrap_ci",
    "project_pair",
    "rank_biased_overlap",
    "recall_at_k",
    "reciprocal_rank_at_k",
    "retrieval_metrics",
    "run_id_for",
    "save_comparison",
    "sign_flip_pvalue",
    "silhouette_by_domain",
    "stratified_sample",
    "uniformity",
    "warm_up",
    "write_vectors",
]
