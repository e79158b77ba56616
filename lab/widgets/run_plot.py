"""Base of the three live plots: draws a `RunFrame` on a `Canvas`, and only what changed.

Textual's line API: `render_line` hands out strips cached per (frame, size, theme), so a plot
costs nothing on repaints caused by other widgets. A new frame is rasterised at once and
compared row by row with the last one: only rows that differ are refreshed (a stalled loss
curve changes a few cells a second), which keeps the compositor's share of the GIL small.
"""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from lab.canvas import PLAIN, Canvas
from lab.frame import RunFrame

# Without colour (NO_COLOR) lines still differ: braille dots for free neurons and the train
# loss, a marker character for pathological neurons and the test loss.
PATHOLOGICAL_MARKER = "•"


def thin(n: int, limit: int) -> np.ndarray:
    """Indices of at most `limit` evenly spread rows of `n`, first and last included."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max(2, limit)).round().astype(int))


def neuron_label(k: int) -> str:
    """A one-character name for neuron k on a plot (0-9, then a-z)."""
    return "0123456789abcdefghijklmnopqrstuvwxyz"[k] if k < 36 else "*"


class RunPlot(Widget):
    """A plot of the current `RunFrame`; subclasses implement `draw(canvas, frame)`."""

    DEFAULT_CSS = """
    RunPlot {
        width: 1fr;
        height: 1fr;
        min-height: 5;
    }
    """

    EMPTY = "waiting for the first snapshot…"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.frame: RunFrame | None = None
        self._version = 0
        self._drawn_key: tuple | None = None
        self._rows: list[list[Segment]] = []
        self._strips: list[Strip] = []

    def show(self, frame: RunFrame | None) -> None:
        """Draw `frame`: now if the plot is on screen (repainting only the rows that changed),
        else when it is next shown."""
        self.frame = frame
        self._version += 1
        if self.display and self.size.area:
            self._update(partial=True)

    def redraw(self) -> None:
        self._version += 1
        self._update(partial=False)

    def on_show(self) -> None:
        self._update(partial=False)

    def on_resize(self) -> None:
        self._update(partial=False)

    def _update(self, partial: bool) -> None:
        """Rebuild the strips; with `partial`, refresh only the rows that differ from before."""
        key = (self._version, self.size, self.app.theme)
        if key == self._drawn_key:
            return
        old = self._rows
        rows = self._build_rows()
        width = self.size.width
        strips = []
        changed = []
        for y, row in enumerate(rows):
            if partial and y < len(old) and old[y] == row:
                strips.append(self._strips[y])  # the same Strip object: nothing to re-render
            else:
                strips.append(Strip(row, width))
                changed.append(y)
        self._rows, self._strips, self._drawn_key = rows, strips, key
        if not partial or len(rows) != len(old):
            self.refresh()
        elif changed:
            self.refresh(*(Region(0, y, width, 1) for y in changed))

    # -- colours from the theme -------------------------------------------------------------------

    def theme_style(self, name: str, **extra) -> Style:
        value = self.app.theme_variables.get(name) or self.app.theme_variables.get("foreground", "white")
        try:
            color = Color.parse(value).rich_color
        except Exception:  # a theme variable that is not a colour
            color = None
        return Style(color=color, **extra)

    def series_styles(self) -> list[Style]:
        return [self.theme_style(n) for n in ("primary", "accent", "success", "secondary", "warning", "foreground")]

    # -- rendering --------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        if (self._version, self.size, self.app.theme) != self._drawn_key:
            self._update(partial=False)
        return self._strips[y] if y < len(self._strips) else Strip.blank(self.size.width)

    def _build_rows(self) -> list[list[Segment]]:
        width, height = self.size.width, self.size.height
        frame = self.frame
        if frame is None or frame.series is None or len(frame.series) == 0:
            message = self.EMPTY[:width]
            return [[Segment(message, Style(dim=True)), Segment(" " * (width - len(message)), PLAIN)]] + [
                [Segment(" " * width, PLAIN)] for _ in range(height - 1)]
        if width < 12 or height < 5:
            return [[Segment(" " * width, PLAIN)] for _ in range(height)]
        canvas = Canvas(width, height, axis_style=self.theme_style("foreground", dim=True),
                        title_style=self.theme_style("foreground", bold=True))
        self.draw(canvas, frame)
        return canvas.render_rows()

    def draw(self, canvas: Canvas, frame: RunFrame) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
