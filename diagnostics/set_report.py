"""The self-contained HTML report of several candidates: which one to ship, and why.

The frontier (gain on the targets vs worst significant loss elsewhere, CIs as whiskers), the candidates ×
domains heatmap of Δ and verdicts, each candidate's compositional probe and its per-domain table. plotly.js
is inlined once, so the file opens offline; all dataset text is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from diagnostics import plots
from diagnostics.candidates import HOLM_FAMILY, CandidateSet
from diagnostics.frontier import PROBE_TARGET
from diagnostics.metrics import label
from diagnostics.report import _atomic_write, probe_table, summary_frame

__all__ = ["set_html_report", "write_set_html"]

_FRONTIER = ["candidate", "run_id", "verdict", "gain", "gain_ci_low", "gain_ci_high", "gain_evidence", "loss",
             "loss_ci_low", "loss_ci_high", "loss_domain", "n_significant_losses", "worst_domain", "dominated_by"]


def _table(frame: pd.DataFrame) -> str:
    return frame.round(3).to_html(index=False, na_rep="–", escape=True, border=0, classes="t")


def set_html_report(made: CandidateSet, *, targets: Sequence[str] | None = None) -> str:
    """The report of ``made`` on ``targets`` (default: the set's own)."""
    e = html.escape
    chosen = tuple(made.targets if targets is None else targets)
    metric = made.metric
    figures = []
    front = ""
    if chosen:
        table = made.frontier(chosen)
        gain_label = "Δ ranked right (probe), 95 % CI" if chosen == (PROBE_TARGET,) else None
        figures.append(plots.frontier_figure(table, metric=metric, targets=chosen, gain_label=gain_label))
        front = f"<h2>Frontier on {e(', '.join(chosen))}</h2>{_table(table[_FRONTIER])}"
    figures.append(plots.candidates_heatmap(made.matrix(), metric=metric))
    charts = "".join(fig.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, fig in enumerate(figures))
    best = made.best(chosen)
    sections = []
    for name, run in made.runs.items():
        probe = run.tables.get("probe")
        probe_html = (f"<h4>Compositional probe</h4>{_table(probe_table(probe))}" if probe is not None else
                      "<p class='note'>No compositional probe (it needs the models, not only their vectors).</p>")
        sections.append(f"<h3>{e(name)} · run <code>{e(run.run_id)}</code> · {e(run.verdict)}</h3>"
                        f"<p>Tuned: <code>{e(str(run.manifest.get('models', {}).get('tuned', '')))}</code></p>"
                        f"{_table(summary_frame(run))}{probe_html}")
    base = next(iter(made.runs.values())).manifest.get("models", {}).get("base", "")
    color = plots.VERDICT_COLORS.get(made.runs[best].verdict, "#555")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>embdiff candidates {e(made.set_id)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}}
.v{{display:inline-block;padding:.3em .8em;border-radius:4px;color:#fff;background:{color};font-weight:bold}}
table.t{{border-collapse:collapse;font-size:13px}} .t td,.t th{{border-bottom:1px solid #ddd;padding:4px 8px;
text-align:left}} .note{{color:#555;font-size:13px}}</style></head><body>
<h1>embdiff: choose between candidates</h1>
<p>Set <code>{e(made.set_id)}</code> · {e(made.created_at)} · {len(made.runs)} candidates against base
<code>{e(str(base))}</code> · verdicts on {e(label(metric))}</p>
<h2>Best candidate: {e(best)} <span class="v">{e(made.runs[best].verdict)}</span></h2>
<p class="note">Best: the least severe verdict, then a candidate no other dominates, then the larger gain on the
targets and the smaller loss elsewhere. Gain: the Δ on the target domains (or on the compositional probe); loss:
the smallest significant Δ elsewhere (0 when none). {e(HOLM_FAMILY)}</p>
{front}
{charts}
<h2>Each candidate</h2>
{"".join(sections)}
</body></html>
"""


def write_set_html(made: CandidateSet, path: Path, *, targets: Sequence[str] | None = None) -> None:
    _atomic_write(path, set_html_report(made, targets=targets))
