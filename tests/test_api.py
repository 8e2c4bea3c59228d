"""The public API: ``diagnostics.__all__`` is pinned, every name imports, and the engine never
imports streamlit (checked in a fresh interpreter)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import diagnostics

REPO = Path(__file__).resolve().parents[1]

EXPORTED = [
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


def test_all_is_pinned() -> None:
    assert sorted(diagnostics.__all__) == EXPORTED
    assert len(set(diagnostics.__all__)) == len(diagnostics.__all__)


def test_every_exported_name_imports() -> None:
    namespace: dict[str, object] = {}
    exec("from diagnostics import *", namespace)  # noqa: S102 - the star import a user would write
    for name in EXPORTED:
        assert getattr(diagnostics, name) is not None, name
        assert namespace[name] is getattr(diagnostics, name), name


def test_exported_errors_are_value_errors() -> None:
    assert issubclass(diagnostics.InputError, ValueError)
    assert issubclass(diagnostics.RunNotFoundError, diagnostics.InputError)
    assert issubclass(diagnostics.RunCorruptError, diagnostics.InputError)


def test_the_engine_never_imports_streamlit() -> None:
    code = (
        "import json, sys\n"
        "import diagnostics, diagnostics.cli, diagnostics.report, diagnostics.drilldown, diagnostics.plots\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'streamlit' or m.startswith('streamlit.'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_no_engine_module_names_streamlit_in_an_import() -> None:
    for path in sorted((REPO / "diagnostics").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n == "streamlit" or n.startswith("streamlit.") for n in names), path.name


def test_a_long_module_says_at_its_top_why_it_is_one_module() -> None:
    """Issue 13: no module over ~500 lines without a reason written at its top."""
    for path in sorted(p for folder in ("diagnostics", "ui", "pages") for p in (REPO / folder).glob("*.py")):
        source = path.read_text(encoding="utf-8")
        if source.count("\n") > 500:
            doc = ast.get_docstring(ast.parse(source)) or ""
            head = "\n".join(doc.split("\n\n")[:2])
            assert "Why one module past ~500 lines:" in head, f"{path.relative_to(REPO)} has no reason at its top"
