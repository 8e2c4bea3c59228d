"""Untrusted text (file names, record ids, URL parameters, engine messages that quote them) in
Streamlit elements that render markdown: alerts, captions, page-link labels."""

from __future__ import annotations

import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark; escaping all that carry
# meaning in Streamlit's markdown (links, images, raw HTML, emphasis, LaTeX, :color[...] and
# :material/...: directives, tables, headings, lists) leaves the text exactly as typed.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")
# GitHub-style autolinks (http://…, www.…, name@host) are found in the text after escapes are
# resolved; a zero-width space after the scheme, "www" or "@" keeps them plain text.
_AUTOLINK = re.compile(r"(?i)(\\:)(?=//)|(www)(?=\\\.)|(@)")
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")
_ZWSP = "\u200b"


def _escape(text: str) -> str:
    escaped = _SPECIAL.sub(r"\\\1", text)
    return _AUTOLINK.sub(lambda m: m.group(0) + _ZWSP, escaped)


def escape_markdown(text: object) -> str:
    """``text`` escaped so that a markdown element shows it literally: no link, image, HTML or style.

    Back-quoted spans (the engine quotes commands that way) stay code spans: their content is
    shown literally by markdown itself.

    >>> escape_markdown("![t](x.png) <b> run `embdiff compare --k 5`")
    '\\\\!\\\\[t\\\\]\\\\(x\\\\.png\\\\) \\\\<b\\\\> run `embdiff compare --k 5`'
    """
    parts = _CODE_SPAN.split(str(text))
    return "".join(part if i % 2 else _escape(part) for i, part in enumerate(parts))
