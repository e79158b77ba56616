"""Base of the three live plots: a textual-plotext `PlotextPlot` that draws a `RunFrame`.

The plots redraw a few times a second while the trainer shares the interpreter (and its GIL)
with the UI, so a plot is rebuilt only when it has to be: `show(frame)` refreshes the widget
only when the frame's data differ from what is drawn (a finished run or a paused replay costs
nothing), a hidden pane (a tab at 80x24) is drawn when it is next shown, and the series handed
to plotext are downsampled to about one point per column (`thin`).

Without colour (NO_COLOR) plotext draws with its colourless theme and lines still differ:
braille dots for free neurons and the train loss, a marker character for pathological neurons
and the test loss.
"""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.app import RenderResult
from textual.color import Color
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from lab.frame import RunFrame

PATHOLOGICAL_MARKER = "•"
LINE = "braille"


def thin(n: int, limit: int) -> np.ndarray:
    """Indices of at most `limit` evenly spread rows of `n`, first and last included."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max(2, limit)).round().astype(int))


def neuron_label(k: int) -> str:
    """A one-character name for neuron k on a plot (0-9, then a-z)."""
    return "0123456789abcdefghijklmnopqrstuvwxyz"[k] if k < 36 else "*"


def frame_key(frame: RunFrame | None) -> tuple | None:
    """What a plot's picture depends on in `frame`: equal keys, equal pictures."""
    if frame is None or frame.series is None or len(frame.series) == 0:
        return None
    s = frame.series
    return (len(s), int(s.step[0]), int(s.step[-1]), float(s.loss[-1]), frame.step, frame.total_steps,
            frame.c.tobytes(), frame.w_norm.tobytes(), frame.v.tobytes())


class RunPlot(PlotextPlot):
    """A plot of the current `RunFrame`; subclasses implement `draw(plt, frame)`."""

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
        self._key: tuple | None = None
        self._built: tuple | None = None
        self._text: RenderResult = Text("")
        self.empty = self.EMPTY  # what an empty plot says (a run that ended before its first snapshot)

    def on_mount(self) -> None:
        super().on_mount()
        if self.app.no_color:
            self.theme = "clear"  # plotext's colourless theme: no colour codes at all

    def show(self, frame: RunFrame | None, empty: str | None = None) -> None:
        """Draw `frame`, if it differs from the one drawn (a hidden plot draws when shown);
        with no frame, `empty` says why (default: still waiting)."""
        key = frame_key(frame)
        self.frame = frame
        self.empty = empty or self.EMPTY
        if key != self._key or key is None:
            self._key = key
            self.refresh()

    def redraw(self) -> None:
        self._built = None
        self.refresh()

    # -- colours from the theme -------------------------------------------------------------------

    def color(self, name: str, dim: bool = False) -> tuple[int, int, int] | str:
        """An RGB colour for plotext from the app theme's variable `name` ("default" without colour)."""
        if self.app.no_color:
            return "default"
        variables = self.app.theme_variables
        try:
            color = Color.parse(variables.get(name) or variables.get("foreground", "white"))
            if dim:
                color = color.blend(Color.parse(variables.get("surface", "black")), 0.45)
        except Exception:  # a theme variable that is not a colour
            return "default"
        return color.rgb

    def series_colors(self) -> list[tuple[int, int, int] | str]:
        return [self.color(n) for n in ("primary", "accent", "success", "secondary", "warning", "foreground")]

    def title(self, plt: Plot, *parts: str) -> None:
        """The plot's title: as many of `parts` as fit the width (plotext drops a title too wide)."""
        text = parts[0]
        for part in parts[1:]:
            if len(text) + len(part) > self.size.width - 2:
                break
            text += part
        plt.title(text[: self.size.width - 2])

    # -- rendering --------------------------------------------------------------------------------

    def render(self) -> RenderResult:
        frame = self.frame
        width, height = self.size
        if self._key is None or frame is None:
            return Text(self.empty, style="dim")
        if width < 12 or height < 5:
            return Text("")
        built = (self._key, width, height, self.app.theme, self.app.no_color)
        if built != self._built:
            plt: Plot = self.plt
            plt.clear_figure()
            # The theme first: plotext gives text labels the canvas colour as their background.
            plt.theme(self._get_plotext_theme_name(self.app.theme))
            self.draw(plt, frame)
            self._text = super().render()
            self._built = built
        return self._text

    def draw(self, plt: Plot, frame: RunFrame) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
