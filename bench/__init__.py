"""Benchmarks of the embdiff engine against its references (FAISS flat search, plain UMAP); see ``bench/run.py``."""
