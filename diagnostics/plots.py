"""Plotly figure builders over a :class:`~diagnostics.result.Comparison`'s tables.

They take frames and return ``go.Figure``; no Streamlit, so the app and the static HTML report
draw the same charts. Untrusted text (ids, domains) only ever reaches plotly as data, which
plotly renders as text.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from diagnostics.metrics import DEFAULT_METRIC, label

__all__ = [
    "VERDICT_COLORS",
    "delta_ci_figure",
    "overlap_figure",
    "flow_figure",
    "collapse_figure",
    "centroid_figure",
    "projection_figure",
    "projection_map_data",
    "domain_colors",
    "frontier_figure",
    "candidates_heatmap",
]

VERDICT_COLORS = {"PASS": "#2e7d32", "WARN": "#f9a825", "UNVERIFIED": "#5e35b1", "FAIL": "#c62828"}
_SECOND_OPINION = "#9e9e9e"
_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)
WEBGL_THRESHOLD = 5000


def _safe(values: Iterable[object]) -> list[str]:
    """Labels as plain text: plotly renders a subset of HTML (``<b>``, ``<a href>``) in labels, hover text
    and legends, so untrusted ids and domain names are escaped first."""
    return [html.escape(str(v), quote=False) for v in values]


def domain_colors(domains: list[str]) -> dict[str, str]:
    """A stable color per domain (sorted order), cycling the palette."""
    return {d: _PALETTE[i % len(_PALETTE)] for i, d in enumerate(sorted(domains))}


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      template="plotly_white", legend={"orientation": "h", "y": -0.15})
    return fig


def delta_ci_figure(domains: pd.DataFrame, *, metric: str = DEFAULT_METRIC) -> go.Figure:
    """Δ = tuned − base per domain (and overall) with its bootstrap 95 % CI.

    Two series where they exist: judged queries (circles) and known-item checks (diamonds, just
    below). The series a domain's verdict rests on is colored by its verdict; the other one, a
    second opinion, is grey. A domain with neither has no marker (it is UNVERIFIED).
    """
    table = domains.iloc[::-1].reset_index(drop=True)
    evidence = table["evidence"].astype(str) if "evidence" in table.columns else \
        pd.Series(["judged" if n else "none" for n in table["n_queries"]])
    fig = go.Figure()
    series = (("judged queries", "", "circle", 0.0, "judged"), ("known-item checks", "ki_", "diamond", -0.25,
                                                                   "synthetic"))
    for name, prefix, symbol, offset, deciding in series:
        column = f"{prefix}{metric}_delta"
        if column not in table.columns or not table[column].notna().any():
            continue
        shown = table[column].notna().to_numpy()
        part = table[shown]
        delta = part[column].to_numpy(float)
        colors = [VERDICT_COLORS.get(v, "#555") if e == deciding else _SECOND_OPINION
                  for v, e in zip(part["verdict"], evidence[shown], strict=True)]
        fig.add_trace(go.Scatter(
            x=delta, y=np.flatnonzero(shown) + offset, mode="markers", name=name,
            marker={"size": 12, "symbol": symbol, "color": colors},
            error_x={"type": "data", "symmetric": False,
                     "array": part[f"{prefix}{metric}_ci_high"].to_numpy(float) - delta,
                     "arrayminus": delta - part[f"{prefix}{metric}_ci_low"].to_numpy(float)},
            customdata=np.stack([_safe(part["domain"]), part["verdict"], part[f"{prefix}{metric}_p_holm"].round(4)],
                                axis=1),
            hovertemplate=f"%{{customdata[0]}} ({name}): Δ %{{x:+.3f}}<br>%{{customdata[1]}}, p (Holm) "
                          "%{customdata[2]}<extra></extra>",
        ))
    fig.add_vline(x=0, line_dash="dash", line_color="#888")
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(table))),
                     ticktext=[f"{d} ({v})" for d, v in zip(_safe(table["domain"]), table["verdict"], strict=True)],
                     range=[-0.7, len(table) - 0.4])
    fig.update_xaxes(title=f"Δ {label(metric)} (tuned − base), 95 % CI")
    return _layout(fig, f"Δ {label(metric)} per domain", height=max(260, 60 * len(table) + 120))


def overlap_figure(per_doc: pd.DataFrame, *, k: int = 10) -> go.Figure:
    """Distribution of neighborhood overlap (Jaccard@k, base vs tuned) per domain."""
    data = per_doc.dropna(subset=["overlap"])
    colors = domain_colors(sorted(data["domain"].astype(str).unique()))
    fig = go.Figure()
    for domain in sorted(colors):
        values = data.loc[data["domain"] == domain, "overlap"]
        fig.add_trace(
            go.Box(y=values, name=_safe([domain])[0], marker_color=colors[domain], boxmean=True, boxpoints=False)
        )
    fig.update_yaxes(title=f"Jaccard@{k} of base vs tuned neighbors", range=[0, 1.02])
    return _layout(fig, "Neighborhood overlap per domain (1 = unchanged)")


def flow_figure(flow_base: pd.DataFrame, flow_tuned: pd.DataFrame) -> go.Figure:
    """Side-by-side heatmaps: share of domain A's neighbors (rows) that live in domain B (columns)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("base", "tuned"), horizontal_spacing=0.12)
    for col, flow in ((1, flow_base), (2, flow_tuned)):
        z = flow.to_numpy(float)
        fig.add_trace(
            go.Heatmap(
                z=z, x=_safe(flow.columns), y=_safe(flow.index), zmin=0, zmax=1,
                colorscale="Blues", showscale=col == 2, text=np.round(z, 2), texttemplate="%{text}",
                hovertemplate="%{y} → %{x}: %{z:.2f}<extra></extra>",
            ),
            row=1, col=col,
        )
        fig.update_yaxes(autorange="reversed", row=1, col=col)
    return _layout(fig, "Where each domain's neighbors live (rows sum to 1)", height=460)


def collapse_figure(domains: pd.DataFrame) -> go.Figure:
    """Base vs tuned per domain: mean intra-domain cosine, effective rank, silhouette, uniformity."""
    table = domains[domains["domain"] != "overall"]
    figures = [("intra_cosine", "mean intra-domain cosine"), ("effective_rank", "effective rank"),
               ("silhouette", "silhouette (cosine)"), ("uniformity", "uniformity (lower = more spread)")]
    fig = make_subplots(rows=2, cols=2, subplot_titles=[t for _, t in figures], vertical_spacing=0.18)
    for i, (name, _) in enumerate(figures):
        r, c = divmod(i, 2)
        for side, color in (("base", "#90a4ae"), ("tuned", "#1565c0")):
            fig.add_trace(
                go.Bar(x=_safe(table["domain"]), y=table[f"{name}_{side}"], name=side, marker_color=color,
                       showlegend=i == 0, legendgroup=side),
                row=r + 1, col=c + 1,
            )
    fig.update_layout(barmode="group")
    return _layout(fig, "Cluster shape per domain, base vs tuned", height=620)


def centroid_figure(centroids_base: pd.DataFrame, centroids_tuned: pd.DataFrame) -> go.Figure:
    """Cosine between domain centroids, base and tuned (which domains drew together)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("base", "tuned"), horizontal_spacing=0.12)
    for col, table in ((1, centroids_base), (2, centroids_tuned)):
        z = table.to_numpy(float)
        fig.add_trace(
            go.Heatmap(z=z, x=_safe(table.columns), y=_safe(table.index), zmin=-1, zmax=1,
                       colorscale="RdBu", reversescale=True, showscale=col == 2, text=np.round(z, 2),
                       texttemplate="%{text}", hovertemplate="%{y} · %{x}: %{z:.2f}<extra></extra>"),
            row=1, col=col,
        )
        fig.update_yaxes(autorange="reversed", row=1, col=col)
    return _layout(fig, "Domain centroid cosine", height=460)


def projection_figure(
    points: pd.DataFrame,
    *,
    color_by: str = "domain",
    overlay: bool = False,
    webgl: bool | None = None,
    metric: str = DEFAULT_METRIC,
) -> go.Figure:
    """The two aligned maps side by side (or overlaid with displacement lines).

    Every point carries its row position in ``points`` as ``customdata`` (a selection maps back to
    the rows with ``points.iloc``) and hovers as ``id``, ``kind · domain``. Built from whole numpy
    columns, with one marker symbol per trace: 2 x 50k points take about 0.1 s.

    Parameters
    ----------
    points : DataFrame
        ``id``, ``kind``, ``domain``, ``x_base``, ``y_base``, ``x_tuned``, ``y_tuned``, ``displacement``
        and, for ``color_by`` other than ``domain``, that column (e.g. ``overlap`` or ``delta``).
    color_by : str
        ``"domain"`` (categorical) or a numeric column.
    overlay : bool
        One panel: base points hollow, tuned points filled, a line from each base to tuned position.
    webgl : bool, optional
        ``Scattergl``; by default when there are more than 5,000 points.
    metric : str
        The metric whose Δ the ``delta`` column holds (the run's verdict metric), for its label.
    """
    use_gl = len(points) > WEBGL_THRESHOLD if webgl is None else webgl
    scatter = go.Scattergl if use_gl else go.Scatter
    cols = 1 if overlay else 2
    fig = make_subplots(rows=1, cols=cols, subplot_titles=None if overlay else ("base", "tuned"),
                        horizontal_spacing=0.04)
    domains = points["domain"].astype(str).to_numpy(object)
    rows = np.arange(len(points))
    hover_text = np.array(
        [f"{i}<br>{k} · {d}" for i, k, d in zip(_safe(points["id"]), _safe(points["kind"]), _safe(domains),
                                                  strict=True)],
        dtype=object,
    )
    hover = "%{hovertext}<extra></extra>"
    xy = {side: (points[f"x_{side}"].to_numpy(), points[f"y_{side}"].to_numpy())
          for side in ("base", "tuned")}
    sides = [("base", 1), ("tuned", 1 if overlay else 2)]
    if color_by == "domain":
        colors = domain_colors(sorted(set(domains)))
        for domain, color in colors.items():
            mask = domains == domain
            for side, col in sides:
                hollow = overlay and side == "base"
                fig.add_trace(
                    scatter(
                        x=xy[side][0][mask], y=xy[side][1][mask], mode="markers",
                        name=_safe([domain])[0], legendgroup=domain, showlegend=side == "base",
                        marker={"size": 5, "color": color, "opacity": 0.4 if hollow else 0.8,
                                "symbol": "circle-open" if hollow else "circle"},
                        customdata=rows[mask], hovertext=hover_text[mask], hovertemplate=hover,
                    ),
                    row=1, col=col,
                )
    else:
        values = points[color_by].to_numpy(float)
        for side, col in sides:
            fig.add_trace(
                scatter(
                    x=xy[side][0], y=xy[side][1], mode="markers", name=side,
                    marker={"size": 5, "color": values, "colorscale": "RdYlGn" if "delta" in color_by else "Viridis",
                            "showscale": side == "tuned", "colorbar": {"title": color_label(color_by, metric)}},
                    customdata=rows, hovertext=hover_text, hovertemplate=hover,
                ),
                row=1, col=col,
            )
    if overlay:
        gap = np.full(len(points), np.nan)
        xs = np.column_stack([xy["base"][0], xy["tuned"][0], gap]).ravel()
        ys = np.column_stack([xy["base"][1], xy["tuned"][1], gap]).ravel()
        fig.add_trace(scatter(x=xs, y=ys, mode="lines", line={"width": 0.5, "color": "rgba(80,80,80,0.35)"},
                              name="displacement", hoverinfo="skip"), row=1, col=1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(dragmode="select")
    return _layout(fig, "Aligned 2-D maps of the base and tuned spaces", height=560)


_SCALE_STEPS = 64


def color_label(color_by: str, metric: str = DEFAULT_METRIC) -> str:
    """How a projection color reads: ``domain``, ``neighborhood overlap`` or ``Δ <metric's label>``."""
    return {"overlap": "neighborhood overlap", "delta": f"Δ {label(metric)}"}.get(color_by, color_by)


def projection_map_data(points: pd.DataFrame, *, color_by: str = "domain", overlay: bool = False,
                        metric: str = DEFAULT_METRIC) -> dict[str, Any]:
    """What the app's canvas map (``ui/projection_map.js``) draws: the same maps as
    :func:`projection_figure`, as compact JSON.

    Coordinates travel as base64 float32 (8 bytes a point per map), each point's color as an index
    into ``palette``: the domain's color, or for a numeric ``color_by`` one of 64 steps of Viridis
    (RdYlGn, symmetric around 0, for a ``delta``) between the column's extremes. Ids and domain
    names are plain strings the browser only ever sets as text.

    Parameters
    ----------
    points : DataFrame
        As for :func:`projection_figure`; row ``i`` is point ``i`` (selections come back as rows).
    color_by : str
        ``"domain"`` or a numeric column; points where it is NaN are not expected here (the page
        drops them) and take the first color.
    overlay : bool
    metric : str
        The metric whose Δ the ``delta`` column holds (the run's verdict metric), for its label.

    Returns
    -------
    dict
        ``n``, ``overlay``, ``color_by``, ``color_label``, ``xy_base``, ``xy_tuned`` (base64 float32,
        x and y interleaved), ``color`` (base64 uint8), ``kind`` (base64 uint8, 1 for a query),
        ``domain`` (base64 uint16 index into ``domains``), ``domains``, ``ids``, ``palette``,
        ``legend`` (``[label, color]`` pairs), ``values`` (rounded ``color_by`` values, or None)
        and ``version``, a digest of all of it that a selection carries back.
    """
    n = len(points)
    domains = points["domain"].astype(str).to_numpy(object)
    names = sorted(set(domains))
    domain_index = pd.Index(names).get_indexer(domains).astype(np.uint16)
    values: list[float | None] | None = None
    if color_by == "domain":
        colors = domain_colors(names)
        palette = list(dict.fromkeys(colors.values()))
        color = np.array([palette.index(colors[d]) for d in names], dtype=np.uint8)[domain_index]
        legend = [[d, colors[d]] for d in names]
    else:
        raw = points[color_by].to_numpy(float)
        finite = raw[np.isfinite(raw)]
        diverging = "delta" in color_by
        if diverging:
            bound = float(np.abs(finite).max()) if len(finite) else 1.0
            low, high = -(bound or 1.0), bound or 1.0
        else:
            low = float(finite.min()) if len(finite) else 0.0
            high = float(finite.max()) if len(finite) else 1.0
        span = high - low if high > low else 1.0
        steps = np.linspace(0.0, 1.0, _SCALE_STEPS)
        palette = [str(c) for c in sample_colorscale("RdYlGn" if diverging else "Viridis", steps.tolist())]
        position = np.clip(np.nan_to_num((raw - low) / span, nan=0.0), 0.0, 1.0)
        color = np.rint(position * (_SCALE_STEPS - 1)).astype(np.uint8)
        name = color_label(color_by, metric)
        legend = [[f"{name} {low:+.3g}" if diverging else f"{name} {low:.3g}", palette[0]],
                  [f"{high:+.3g}" if diverging else f"{high:.3g}", palette[-1]]]
        values = [None if not np.isfinite(v) else round(float(v), 4) for v in raw]
    kind = (points["kind"].astype(str).to_numpy(object) == "query").astype(np.uint8)

    def b64(array: np.ndarray) -> str:
        return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")

    data: dict[str, Any] = {
        "n": n,
        "overlay": bool(overlay),
        "color_by": color_by,
        "color_label": color_label(color_by, metric),
        "xy_base": b64(points[["x_base", "y_base"]].to_numpy(np.float32)),
        "xy_tuned": b64(points[["x_tuned", "y_tuned"]].to_numpy(np.float32)),
        "color": b64(color),
        "kind": b64(kind),
        "domain": b64(domain_index),
        "domains": names,
        "ids": points["id"].astype(str).tolist(),
        "palette": palette,
        "legend": legend,
        "values": values,
    }
    digest = hashlib.sha256()
    for key in ("xy_base", "xy_tuned", "color", "kind", "domain"):
        digest.update(data[key].encode("ascii"))
    digest.update("\x00".join([*data["ids"], *names, color_by, str(overlay)]).encode("utf-8"))
    data["version"] = digest.hexdigest()[:16]
    return data


_LABEL_PLACES = ("top right", "bottom right", "top left", "bottom left", "middle right", "middle left")


def frontier_figure(table: pd.DataFrame, *, metric: str = DEFAULT_METRIC, targets: Iterable[str] = (),
                    gain_label: str | None = None) -> go.Figure:
    """The gain-vs-forgetting frontier of :func:`diagnostics.frontier.frontier`: one point per candidate,
    x the worst significant loss elsewhere, y the gain on the target domains (or ``gain_label``: what the
    gain measures, e.g. the compositional probe), both with their CIs as whiskers; colored by verdict,
    hollow when dominated. Up and to the right is better."""
    known = table[table["gain"].notna()].reset_index(drop=True)
    fig = go.Figure()
    if len(known):
        gain, loss = known["gain"].to_numpy(float), known["loss"].to_numpy(float)
        loss_high = np.where(known["loss_ci_high"].notna(), known["loss_ci_high"].to_numpy(float) - loss, 0.0)
        loss_low = np.where(known["loss_ci_low"].notna(), loss - known["loss_ci_low"].to_numpy(float), 0.0)
        colors = [VERDICT_COLORS.get(str(v), "#555") for v in known["verdict"]]
        dominated = known["dominated"].astype(bool).to_numpy()
        where = [f"in {d}" if d else "none significant" for d in known["loss_domain"].fillna("")]
        fig.add_trace(go.Scatter(
            x=loss, y=gain, mode="markers+text", text=_safe(known["candidate"]),
            # candidates often share a point (no significant loss: x = 0): their names go round it, not on top
            textposition=[_LABEL_PLACES[i % len(_LABEL_PLACES)] for i in range(len(known))],
            marker={"size": 14, "color": ["white" if d else c for d, c in zip(dominated, colors, strict=True)],
                    "line": {"width": 2, "color": colors}},
            error_x={"type": "data", "symmetric": False, "array": loss_high, "arrayminus": loss_low},
            error_y={"type": "data", "symmetric": False,
                     "array": known["gain_ci_high"].to_numpy(float) - gain,
                     "arrayminus": gain - known["gain_ci_low"].to_numpy(float)},
            customdata=np.stack([_safe(known["candidate"]), known["verdict"].astype(str), _safe(where),
                                 _safe(known["dominated_by"].fillna("").replace("", "nobody"))], axis=1),
            hovertemplate="%{customdata[0]} (%{customdata[1]})<br>gain %{y:+.3f}<br>worst significant loss "
                          "%{x:+.3f} %{customdata[2]}<br>dominated by %{customdata[3]}<extra></extra>",
            showlegend=False,
        ))
        low = float(np.nanmin(np.append(loss - loss_low, 0.0)))
        span = max(-low, 0.02)  # all at 0 (nothing significant): a narrow axis around 0, not plotly's ±1
        fig.update_xaxes(range=[-1.15 * span, 0.25 * span])
    fig.add_vline(x=0, line_dash="dash", line_color="#888")
    fig.add_hline(y=0, line_dash="dash", line_color="#888")
    names = ", ".join(_safe(targets)) or "the targets"
    fig.update_xaxes(title=f"worst significant Δ {label(metric)} elsewhere (0: none), 95 % CI")
    fig.update_yaxes(title=gain_label or f"Δ {label(metric)} on {names}, 95 % CI")
    return _layout(fig, "Gain on the targets vs worst significant loss elsewhere (hollow: dominated)", height=460)


def candidates_heatmap(matrix: pd.DataFrame, *, metric: str = DEFAULT_METRIC) -> go.Figure:
    """Candidates × domains of :func:`diagnostics.frontier.domain_deltas`: Δ as color (red a loss, blue a gain,
    white none; the scale is symmetric), the verdict and Δ written in each cell ("synthetic" marks a Δ
    from known-item checks, a blank cell a domain without evidence)."""
    candidates = list(dict.fromkeys(matrix["candidate"]))
    domains = list(dict.fromkeys(matrix["domain"]))
    cells = matrix.set_index(["candidate", "domain"])
    z = np.full((len(candidates), len(domains)), np.nan)
    text = [["" for _ in domains] for _ in candidates]
    for i, c in enumerate(candidates):
        for j, d in enumerate(domains):
            row = cells.loc[(c, d)]
            z[i, j] = float(row["delta"])
            mark = " (synthetic)" if row["evidence"] == "synthetic" else ""
            value = f"{row['delta']:+.3f}{mark}" if np.isfinite(z[i, j]) else "no evidence"
            text[i][j] = f"{row['verdict']}<br>{value}"
    bound = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    fig = go.Figure(go.Heatmap(
        z=z, x=_safe(domains), y=_safe(candidates), text=text, texttemplate="%{text}", colorscale="RdBu",
        zmin=-bound or -1.0, zmax=bound or 1.0, colorbar={"title": f"Δ {label(metric)}"},
        hovertemplate="%{y} on %{x}: %{text}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, f"Δ {label(metric)} and verdict, candidates × domains",
                   height=max(260, 70 * len(candidates) + 140))
