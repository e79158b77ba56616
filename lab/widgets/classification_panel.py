"""Where the run is in the invariant set: l_-, components, sign vector, and a per-neuron table."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from core.snapshot import count_text
from lab.frame import RunFrame
from lab.widgets.neuron_table import NeuronTable

MAX_ROWS = 32  # wider layers list the neurons nearest c = 0


def table_rows(frame: RunFrame) -> list[int]:
    """The neurons the table lists: all of a small layer, else the MAX_ROWS nearest c = 0."""
    if frame.hidden <= MAX_ROWS:
        return list(range(frame.hidden))
    return sorted(np.argsort(np.abs(frame.c), kind="stable")[:MAX_ROWS].tolist())


def plural(count: int, noun: str) -> str:
    """`1 component`, `4 components`, `2^33 components` (count_text shortens huge counts)."""
    return f"{count_text(count)} {noun}" + ("" if count == 1 else "s")


def summary_text(frame: RunFrame) -> Text:
    k = frame.classification
    text = Text()
    if k is None:
        text.append("classification pending…", style="dim")
        return text
    text.append(f"{k.pathological} pathological", style="bold")
    text.append(f" · {plural(k.components, 'component')} · {k.effective_components} effective\n")
    text.append(f"signs '{k.signs}'" if k.signs else "signs —")
    p = frame.probability
    text.append(" · P(path. at init) " + (p.describe() if p is not None else "…"))
    text.append(f"\ndrift {frame.max_drift:.3g} · hops {frame.hops}")
    if frame.hidden > MAX_ROWS:
        text.append(f" · table: {MAX_ROWS} nearest c=0 of {frame.hidden}", style="dim")
    if frame.component_floor:
        text.append("\n" + frame.component_floor, style="bold")
    return text


class ClassificationPanel(VerticalScroll):
    """Summary lines over the per-neuron table; scrolls when the table is taller than the pane."""

    DEFAULT_CSS = """
    ClassificationPanel { height: 1fr; }
    ClassificationPanel > #summary { height: auto; padding: 0 1; }
    ClassificationPanel > NeuronTable { padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._pending: RunFrame | None = None
        self._stale = False
        self._summary_lines = -1
        self._empty = "waiting for the first snapshot…"

    def compose(self) -> ComposeResult:
        yield Static(Text("classification pending…", style="dim"), id="summary")
        yield NeuronTable(id="neurons")

    def show(self, frame: RunFrame | None, empty: str | None = None) -> None:
        """Fill the panel with `frame`; while the panel is hidden (a tab not shown) only remember it."""
        self._pending, self._stale = frame, True
        self._empty = empty or "waiting for the first snapshot…"
        if self.display:
            self._fill()

    def on_show(self) -> None:
        if self._stale:
            self._fill()

    def _fill(self) -> None:
        frame, self._stale = self._pending, False
        summary = self.query_one("#summary", Static)
        table = self.query_one(NeuronTable)
        if frame is None:
            summary.update(Text(self._empty, style="dim"))
            table.show([])
            return
        text = summary_text(frame)
        # Relayout only when the summary changes height: this runs a few times a second.
        lines = text.plain.count("\n")
        summary.update(text, layout=lines != self._summary_lines)
        self._summary_lines = lines
        status = frame.classification.status if frame.classification else ["?"] * frame.hidden
        table.show([(k, float(frame.c[k]), float(frame.w_norm[k]), float(frame.v[k]), status[k],
                     frame.hops_per_neuron.get(k, 0)) for k in table_rows(frame)])
