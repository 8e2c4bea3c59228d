"""The projection figure at scale: every point once per map, its row in customdata, escaped hover text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from diagnostics import plots


def _points(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "id": [f"<b>{i}</b>" if i == 3 else f"p{i}" for i in range(n)],
        "kind": np.where(np.arange(n) % 4 == 0, "query", "doc"),
        "domain": np.array(["alpha", "beta", "<i>gamma</i>"])[np.arange(n) % 3],
        "x_base": rng.random(n, dtype=np.float32), "y_base": rng.random(n, dtype=np.float32),
        "x_tuned": rng.random(n, dtype=np.float32), "y_tuned": rng.random(n, dtype=np.float32),
        "displacement": rng.random(n, dtype=np.float32),
        "overlap": np.where(np.arange(n) % 2 == 0, rng.random(n), np.nan),
    })


def _side(trace: object, *, color_by: str, overlay: bool) -> str:
    """Which map a marker trace draws: named by side when coloured by a number, else the hollow (overlay)
    or the left (side by side) markers are the base map."""
    if color_by != "domain":
        return str(trace.name)  # type: ignore[attr-defined]
    if overlay:
        return "base" if trace.marker.symbol == "circle-open" else "tuned"  # type: ignore[attr-defined]
    return "base" if trace.xaxis == "x" else "tuned"  # type: ignore[attr-defined]


@pytest.mark.parametrize("color_by", ["domain", "overlap"])
@pytest.mark.parametrize("overlay", [False, True])
@pytest.mark.parametrize("webgl", [False, True])
def test_projection_figure_customdata_is_the_row_of_each_point(color_by: str, overlay: bool, webgl: bool) -> None:
    points = _points()
    fig = plots.projection_figure(points, color_by=color_by, overlay=overlay, webgl=webgl)
    seen: dict[str, list[int]] = {"base": [], "tuned": []}
    for trace in fig.data:
        if trace.mode != "markers":
            continue
        side = _side(trace, color_by=color_by, overlay=overlay)
        rows = np.asarray(trace.customdata, dtype=int)
        np.testing.assert_array_equal(np.asarray(trace.x), points[f"x_{side}"].to_numpy()[rows])
        np.testing.assert_array_equal(np.asarray(trace.y), points[f"y_{side}"].to_numpy()[rows])
        if color_by != "domain":
            np.testing.assert_array_equal(np.asarray(trace.marker.color), points[color_by].to_numpy()[rows])
        seen[side] += rows.tolist()
    for side, rows in seen.items():
        assert sorted(rows) == list(range(len(points))), f"every point once on the {side} map"


def test_projection_figure_hover_is_escaped_text_and_one_symbol_per_trace() -> None:
    fig = plots.projection_figure(_points(), color_by="domain", overlay=True)
    hover = [h for t in fig.data if t.mode == "markers" for h in t.hovertext]
    assert "&lt;b&gt;3&lt;/b&gt;<br>doc · alpha" in hover
    assert all("<b>" not in h and "<i>" not in h for h in hover)
    # one marker symbol per trace: a per-point list costs seconds of validation at 50k points
    assert {t.marker.symbol for t in fig.data if t.mode == "markers"} == {"circle", "circle-open"}
