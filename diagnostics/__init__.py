"""embdiff's engine: compare a base and a tuned embedding model per domain. Never imports streamlit."""
