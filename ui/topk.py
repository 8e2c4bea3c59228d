"""Base and tuned top-k lists side by side, as the Queries page shows them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

#: How a document's rank movement reads.
MOVE = {"up": "▲ up", "down": "▼ down", "same": "= same", "new": "★ new", "dropped": "✖ dropped", "kept": "kept"}
TEXT_COLUMN = st.column_config.TextColumn("text", width="large")
NUMBER = st.column_config.NumberColumn(format="%.3f", width=95)
TOPK_COLUMNS = {  # narrow columns, so that the text keeps some room in half the page
    "rank": st.column_config.NumberColumn("#", width=40),
    "doc_id": st.column_config.TextColumn("doc_id", width=110),
    "domain": st.column_config.TextColumn("domain", width=85),
    "relevance": st.column_config.NumberColumn("rel.", width=45),
    "score": st.column_config.NumberColumn("score", format="%.3f", width=60),
    "movement": st.column_config.TextColumn("movement", width=95),
    "text": TEXT_COLUMN,
}


def show_topk(lists: pd.DataFrame, *, k: int, relevance_label: str = "relevance") -> None:
    """Two columns, base and tuned top-``k``, with relevance, score and rank movement; full texts as text."""
    left, right = st.columns(2)
    for side, col in (("base", left), ("tuned", right)):
        part = lists[lists["side"] == side].assign(movement=lambda f: f["movement"].map(MOVE))
        col.markdown(f"**{side} top-{k}**")
        col.dataframe(part[["rank", "doc_id", "domain", "relevance", "score", "movement", "text"]],
                      hide_index=True, width="stretch", column_config=TOPK_COLUMNS, key=f"topk_{side}")
        with col.expander("Full texts"):
            for rec in part.to_dict(orient="records"):
                st.text(f"#{rec['rank']} {rec['doc_id']} ({rec['domain']}, {relevance_label} {rec['relevance']})")
                title, text = str(rec["title"]), str(rec["text"])
                st.text(f"{title}\n{text}" if title else text)
