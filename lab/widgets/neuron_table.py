"""The per-neuron table of the classification panel: k, c_k, ||W_k||, v_k, status, sign, hops.

Drawn with Textual's line API from a list of rows: refilling it a few times a second costs a
few string formats per neuron, where a DataTable would rebuild and re-measure every cell.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

STATUS_STYLE = {"pathological": Style(color="red", bold=True), "balanced": Style(color="yellow"),
                "free": Style(color="green")}
PLAIN = Style()  # never a None style: the NO_COLOR filter reads every segment's style
HEADER = ("k", "c_k", "‖W_k‖", "v_k", "status", "±", "hop")


def fit(value: float, width: int, signed: bool = True) -> str:
    """`value` in at most `width` characters: three decimals when they fit, fewer, then e-notation."""
    sign = "+" if signed else ""
    for spec in (f"{sign}.3f", f"{sign}.2f", f"{sign}.1f", f"{sign}.0f", f"{sign}.1e", f"{sign}.0e"):
        text = format(value, spec)
        if len(text) <= width:
            return text.rjust(width)
    return text[:width]


class NeuronTable(Widget):
    """`show(rows)` with rows of (k, c, w_norm, v, status, hops); one line each under a header."""

    DEFAULT_CSS = """
    NeuronTable { height: auto; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._strips: list[Strip] = []

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self._strips)

    def show(self, rows: list[tuple[int, float, float, float, str, int]]) -> None:
        kw = max([1] + [len(str(r[0])) for r in rows])
        header_style = Style(bold=True, underline=True)
        widths = (kw, 6, 5, 6, 12, 1, 3)
        header = "  ".join(h.rjust(w) if i < 4 else h.ljust(w) for i, (h, w) in enumerate(zip(HEADER, widths)))
        strips = [Strip([Segment(header, header_style)])]
        for k, c, w, v, status, hops in rows:
            left = f"{k:>{kw}}  {fit(c, 6)}  {fit(w, 5, signed=False)}  {fit(v, 6)}  "
            right = f"  {'+' if v >= 0 else '-'}  {hops:>3d}"
            strips.append(Strip([Segment(left, PLAIN), Segment(status.ljust(12), STATUS_STYLE.get(status, PLAIN)),
                                 Segment(right, PLAIN)]))
        resized = len(strips) != len(self._strips)
        self._strips = strips
        self.refresh(layout=resized)

    def render_line(self, y: int) -> Strip:
        return self._strips[y] if y < len(self._strips) else Strip.blank(self.size.width)
