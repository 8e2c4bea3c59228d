"""The projection as a canvas map: a Streamlit component (``st.components.v2``) around
``projection_map.js``.

Measured on a saved run with 2 x 50k points in headless Chromium: plotly needs 3-4 s from opening the
link until both maps are drawn (its 4.7 MB bundle, a second full render after mount, software WebGL);
the canvas draws them in about 60 ms, so the maps are drawn 1.0-1.7 s after the link is opened. The page
offers it as "Fast map" (on by default above :data:`FAST_MAP_POINTS` points); plotly stays for
smaller maps and for its zoom box and image export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

FAST_MAP_POINTS = 10_000
HEIGHT = 560  # px, the maps; the tool bar and the legend come on top

_JS = (Path(__file__).with_name("projection_map.js")).read_text(encoding="utf-8")
_HTML = """
<div class="fm">
  <div class="bar">
    <button type="button" data-mode="box" title="Drag a box to select points">Box</button>
    <button type="button" data-mode="lasso" title="Draw around points to select them">Lasso</button>
    <button type="button" data-mode="pan" title="Drag to move both maps">Pan</button>
    <button type="button" data-act="reset" title="Back to the full extent">Reset view</button>
    <span class="hint">wheel: zoom · click: one point · double-click: clear the selection</span>
  </div>
  <div class="stage">
    <canvas class="points"></canvas>
    <canvas class="sketch"></canvas>
    <div class="tip"></div>
  </div>
  <div class="legend"></div>
</div>
"""
_CSS = """
.fm { font-family: var(--st-font, sans-serif); font-size: 13px; color: var(--st-text-color, #31333f); }
.bar { display: flex; gap: 6px; align-items: center; margin-bottom: 4px; }
.bar button { border: 1px solid #d0d0d6; background: #fff; border-radius: 6px; padding: 2px 10px;
  cursor: pointer; font: inherit; color: inherit; }
.bar button.on { border-color: #ff4b4b; color: #ff4b4b; }
.hint { color: #808495; margin-left: 8px; }
.stage { position: relative; }
.stage canvas { display: block; width: 100%; }
.stage canvas.sketch { position: absolute; left: 0; top: 0; cursor: crosshair; touch-action: none; }
.tip { position: absolute; display: none; pointer-events: none; white-space: pre; background: #fff;
  border: 1px solid #d0d0d6; border-radius: 4px; padding: 4px 6px; max-width: 360px; overflow: hidden;
  text-overflow: ellipsis; box-shadow: 0 1px 4px rgba(0, 0, 0, 0.15); }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin-top: 4px; }
.legend .key { color: #808495; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; }
"""

_MAP = st.components.v2.component("embdiff.projection_map", html=_HTML, css=_CSS, js=_JS)


def projection_map(data: dict[str, Any], *, key: str) -> list[int]:
    """Draw the maps of :func:`diagnostics.plots.projection_map_data`; return the selected rows.

    The selection comes back from the browser, so it is checked: only a list of row positions
    (``0 <= row < data["n"]``) made on this very data (same ``version``) counts; anything else,
    including a selection made before the view changed, is no selection.
    """
    result = _MAP(data={**data, "height": HEIGHT}, key=key, default={"selection": None},
                  on_selection_change=lambda: None)  # as tall as its content: a long legend wraps
    return selected_rows(result.get("selection"), data)


def selected_rows(selection: object, data: dict[str, Any]) -> list[int]:
    """The valid, sorted, unique rows of a selection sent by the map (see :func:`projection_map`)."""
    if not isinstance(selection, dict) or selection.get("version") != data["version"]:
        return []
    rows = selection.get("rows")
    if not isinstance(rows, list):
        return []
    n = int(data["n"])
    return sorted({r for r in rows if isinstance(r, int) and not isinstance(r, bool) and 0 <= r < n})
