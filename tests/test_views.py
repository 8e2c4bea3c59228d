"""The cached views of the pages (``ui/views.py``) and the projection figure they hold: the same
points and numbers as the run, reused across reruns, and every Streamlit cache bounded."""

from __future__ import annotations

import base64
import importlib
import pkgutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _runs import open_result, run_cache, sample_run
from streamlit.runtime.caching.cache_utils import CachedFunc

import ui
from diagnostics import plots
from diagnostics.drilldown import most_changed_docs
from diagnostics.neighbors import stratified_sample
from diagnostics.result import Comparison
from ui.data import open_run
from ui.projection_map import selected_rows
from ui.views import changed_docs, overlap_figure, projection_map_view, projection_view


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    for cached in (open_run, projection_view, projection_map_view, overlap_figure, changed_docs):
        cached.clear()


@pytest.fixture
def sample(_isolated_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    runs = _isolated_home / "runs"
    return open_result(runs, sample_run(runs, run_cache(tmp_path_factory)))


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


def _decode(text: str, dtype: type) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def _side(trace: object, *, color_by: str, overlay: bool) -> str:
    """Which map a marker trace draws: named by side when colored by a number, else the hollow (overlay)
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


def test_projection_view_is_the_pages_selection_and_is_cached(sample: Comparison) -> None:
    points = sample.projection
    assert points is not None
    domain = str(sample.manifest["dataset"]["domains"][0])
    cap = len(points) - 100
    shown, fig = projection_view(sample.run_id, color="overlap", overlay=False, cap=cap, domain=domain)
    expected = points.iloc[stratified_sample(points["domain"].astype(str).to_numpy(), max_items=cap, random_state=0)]
    expected = expected[expected["domain"] == domain].dropna(subset=["overlap"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(shown, expected)
    base = next(t for t in fig.data if t.name == "base")
    rows = np.asarray(base.customdata, dtype=int)
    pd.testing.assert_series_equal(shown["id"].iloc[rows].reset_index(drop=True),
                                   expected["id"].reset_index(drop=True), check_names=False)
    again = projection_view(sample.run_id, color="overlap", overlay=False, cap=cap, domain=domain)
    assert again[0] is shown and again[1] is fig  # a rerun reuses the view
    all_shown, _ = projection_view(sample.run_id, color="domain", overlay=False, cap=len(points), domain=None)
    assert len(all_shown) == len(points)


def test_neighborhood_views_match_the_engine(sample: Comparison) -> None:
    domain = str(sample.manifest["dataset"]["domains"][1])
    pd.testing.assert_frame_equal(changed_docs(sample.run_id, domain, n=50),
                                  most_changed_docs(sample, domain=domain, n=50))
    fig = overlap_figure(sample.run_id)
    assert fig is overlap_figure(sample.run_id)
    per_doc = sample.tables["per_doc"].dropna(subset=["overlap"])
    assert sum(len(t.y) for t in fig.data) == len(per_doc)


def test_every_streamlit_cache_of_the_ui_is_bounded() -> None:
    cached: dict[str, CachedFunc] = {}
    for info in pkgutil.iter_modules(ui.__path__):
        module = importlib.import_module(f"ui.{info.name}")
        cached |= {f"{f._info.func.__module__}.{name}": f for name, f in vars(module).items()
                   if isinstance(f, CachedFunc)}
    assert len(cached) >= 10, sorted(cached)
    unbounded = [name for name, f in cached.items() if f._info.max_entries is None]
    assert not unbounded, f"caches without max_entries: {unbounded}"


# -- the canvas map's data ------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", [False, True])
def test_map_data_carries_every_point_as_its_row(overlay: bool) -> None:
    points = _points()
    data = plots.projection_map_data(points, overlay=overlay)
    assert data["n"] == len(points) and data["overlay"] is overlay
    for side in ("base", "tuned"):
        xy = _decode(data[f"xy_{side}"], np.float32).reshape(-1, 2)
        np.testing.assert_array_equal(xy, points[[f"x_{side}", f"y_{side}"]].to_numpy(np.float32))
    np.testing.assert_array_equal(_decode(data["kind"], np.uint8), (points["kind"] == "query").to_numpy())
    domain = _decode(data["domain"], np.uint16)
    assert [data["domains"][d] for d in domain] == points["domain"].tolist()
    # ids and domains travel as they are (the browser sets them as text, never as HTML)
    assert data["ids"] == points["id"].tolist() and "<b>3</b>" in data["ids"]
    # each point's color is its domain's, as in the plotly figure
    colors = plots.domain_colors(data["domains"])
    color = _decode(data["color"], np.uint8)
    assert [data["palette"][c] for c in color] == [colors[d] for d in points["domain"]]
    assert data["legend"] == [[d, colors[d]] for d in sorted(colors)]


def test_map_data_numeric_colors_span_the_scale() -> None:
    points = _points().dropna(subset=["overlap"]).reset_index(drop=True)
    data = plots.projection_map_data(points, color_by="overlap")
    color = _decode(data["color"], np.uint8)
    values = points["overlap"].to_numpy()
    assert color[values.argmin()] == 0 and color[values.argmax()] == len(data["palette"]) - 1 == 63
    assert (np.diff(color[np.argsort(values)].astype(int)) >= 0).all()  # monotone in the value
    assert data["values"] == [round(float(v), 4) for v in values]
    # Δ: a diverging scale centred on 0
    points["delta"] = np.linspace(-0.2, 0.1, len(points))
    delta = plots.projection_map_data(points, color_by="delta")
    d_color = _decode(delta["color"], np.uint8)
    assert d_color[0] == 0 and d_color[-1] == round(63 * 0.75)  # 0.1 sits three quarters up [-0.2, 0.2]
    # the Δ is of the run's verdict metric, and says so (never a hard-coded nDCG@10)
    assert delta["color_label"] == "Δ nDCG@10" and delta["legend"][0][0].startswith("Δ nDCG@10 ")
    mrr = plots.projection_map_data(points, color_by="delta", metric="mrr@10")
    assert mrr["color_label"] == "Δ MRR@10" and mrr["legend"][0][0].startswith("Δ MRR@10 ")
    assert data["color_label"] == "neighborhood overlap"
    figure = plots.projection_figure(points, color_by="delta", metric="recall@100")
    assert {t.marker.colorbar.title.text for t in figure.data if t.marker.showscale} == {"Δ Recall@100"}


def test_map_data_version_follows_the_data() -> None:
    points = _points()
    version = plots.projection_map_data(points)["version"]
    assert plots.projection_map_data(points.copy())["version"] == version
    assert plots.projection_map_data(points, overlay=True)["version"] != version
    assert plots.projection_map_data(points.iloc[1:].reset_index(drop=True))["version"] != version
    moved = points.copy()
    moved.loc[5, "x_tuned"] += 1
    assert plots.projection_map_data(moved)["version"] != version


def test_selection_from_the_browser_is_checked() -> None:
    data = plots.projection_map_data(_points(10))
    ok = {"version": data["version"]}
    assert selected_rows({**ok, "rows": [4, 1, 4, 9]}, data) == [1, 4, 9]
    assert selected_rows({**ok, "rows": [10, -1, True, "2", 2.0, None, 3]}, data) == [3]
    assert selected_rows({**ok, "rows": "1,2"}, data) == []
    assert selected_rows({"version": "stale", "rows": [1]}, data) == []
    assert selected_rows(None, data) == [] and selected_rows([1, 2], data) == []


def test_projection_map_view_matches_the_plotly_view(sample: Comparison) -> None:
    kwargs = {"color": "overlap", "overlay": False, "cap": 60, "domain": None}
    shown, data = projection_map_view(sample.run_id, **kwargs)  # type: ignore[arg-type]
    same, _ = projection_view(sample.run_id, **kwargs)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(shown, same)
    assert data["n"] == len(shown) and data["ids"] == shown["id"].astype(str).tolist()
    assert projection_map_view(sample.run_id, **kwargs)[1] is data  # type: ignore[arg-type]  # cached
