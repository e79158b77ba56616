"""The NCF pane: small-initialisation theory beside a run (Kumar & Haupt; docs/science.md).

A plot of log10 ||theta_k|| (NcfPlot) over a table: per neuron the KKT direction the NCF flow
predicts from the initial point (a prediction), the cosine of W_k to it and the KKT direction
W_k is nearest at the newest checkpoint, the balance |c_k| / (||W_k||^2 + ||v_k||^2), and which
directions its frozen output sign lets it reach; above it the escape-time estimate.
"""

from __future__ import annotations

import numpy as np
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from lab.frame import RunFrame
from lab.widgets.ncf_plot import NcfPlot

MAX_ROWS = 32


def ncf_summary(frame: RunFrame) -> Text:
    ncf = frame.ncf
    text = Text()
    if ncf is None:
        text.append("NCF: not available for this run", style="dim")
        return text
    if ncf.status != "ready":
        text.append(f"NCF: {ncf.status}", style="dim")
        return text
    values = ", ".join(f"{k['value']:.4g}{'+' if k.get('sign') == 1 else '-' if k.get('sign') == -1 else ''}"
                       for k in ncf.kkt[:6])
    text.append(f"{len(ncf.kkt)} KKT directions", style="bold")
    text.append(f" (N*: {values}{' …' if len(ncf.kkt) > 6 else ''})")
    theta = float(np.sqrt(np.sum(frame.w_norm**2) + np.sum(frame.v**2)))
    text.append(f"\n‖θ‖ {theta:.3g} (‖θ(0)‖ {ncf.theta0:.3g})")
    escape = ncf.escape_step(1.0)
    if escape is not None:
        text.append(f" · escape ‖θ‖=1 predicted near step {escape:.0f} (2N* = {ncf.rate:.3g})")
    where = f"at checkpoint step {ncf.checkpoint}" if ncf.checkpoint is not None else "no checkpoint yet"
    text.append(f"\nalignment {where} · {ncf.source}", style="dim")
    return text


def alignment_table(frame: RunFrame) -> Table:
    ncf = frame.ncf
    table = Table(box=None, padding=(0, 1), expand=True)
    for name in ("k", "v", "heads to", "cos", "nearest", "cos ", "|c|/‖θ_k‖²", "reach"):
        table.add_column(name, justify="left" if name in ("v", "reach") else "right")
    if ncf is None or ncf.status != "ready":
        return table
    w2, v2 = frame.w_norm**2, frame.v**2
    total = w2 + v2
    balance = np.where(total > 0, np.abs(frame.c) / np.maximum(total, 1e-300), np.nan)
    everyone = len(ncf.kkt)
    for k, n in enumerate(ncf.prediction[:MAX_ROWS]):
        heads = "dead" if n["kkt"] is None else str(n["kkt"])
        cos = nearest = near_cos = "…"
        if ncf.cosine_predicted is not None:
            cos = "" if not np.isfinite(ncf.cosine_predicted[k]) else f"{ncf.cosine_predicted[k]:.6f}"
            nearest = "-" if ncf.nearest[k] < 0 else str(int(ncf.nearest[k]))
            near_cos = "" if not np.isfinite(ncf.nearest_cosine[k]) else f"{ncf.nearest_cosine[k]:.6f}"
        reach = "all" if len(n["reachable"]) == everyone else ",".join(map(str, n["reachable"])) or "none"
        sign = "+" if frame.v[k] >= 0 else "-"
        table.add_row(str(k), sign + (" frozen" if n["frozen"] else ""), heads, cos, nearest, near_cos,
                      f"{balance[k]:.2g}", Text(reach))
    return table


class NcfPane(Vertical):
    """The NCF of the run: growth plot, escape estimate, alignment per neuron."""

    DEFAULT_CSS = """
    NcfPane { height: 1fr; border: round $primary 40%; border-title-color: $text-primary; }
    NcfPane NcfPlot { height: 1fr; min-height: 6; }
    NcfPane #ncf-summary { height: auto; padding: 0 1; }
    NcfPane #ncf-table-box { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield NcfPlot(id="ncf-plot")
        yield Static(id="ncf-summary")
        with VerticalScroll(id="ncf-table-box"):
            yield Static(id="ncf-table")

    frame: RunFrame | None = None

    def show(self, frame: RunFrame | None) -> None:
        self.frame = frame
        if not self.display:
            return  # drawn when selected
        if frame is not None and frame.ncf is not None and frame.ncf.request is not None:
            frame.ncf.request()  # computed when first looked at (or when the session closes)
        self.query_one(NcfPlot).show(frame)
        if frame is None:
            return
        self.query_one("#ncf-summary", Static).update(ncf_summary(frame))
        self.query_one("#ncf-table", Static).update(alignment_table(frame))
