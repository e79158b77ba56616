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


def nice_step(span: float, count: int = 5) -> float:
    """A 1-2-5 step giving about `count` ticks over `span`."""
    raw = span / max(1, count)
    if not np.isfinite(raw) or raw <= 0:
        return 1.0
    magnitude = 10.0 ** np.floor(np.log10(raw))
    return float(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def tick_label(value: float, step: float) -> str:
    """A tick in at most 7 characters: plain with as many decimals as the step needs, else
    significant digits in e-form (`-4.1e11`, `2e-5`); never `0.00000000000` nor `-410713228979.2`."""
    if value == 0 or abs(value) < step * 1e-6:
        return "0"
    decimals = max(0, int(-np.floor(np.log10(step) + 1e-9)))
    text = f"{value:.{decimals}f}"
    if len(text) <= 7 and 1e-3 <= abs(value) < 1e6:
        return text
    digits = int(np.floor(np.log10(abs(value)) + 1e-9) - np.floor(np.log10(step) + 1e-9)) + 1
    return e_form(f"{value:.{min(3, max(1, digits))}g}")


def e_form(text: str) -> str:
    """`4e+11` -> `4e11`, `1e-05` -> `1e-5`: the exponent without padding."""
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return f"{mantissa}e{int(exponent)}"


def linear_ticks(low: float, high: float, count: int = 5) -> tuple[list[float], list[str]]:
    """Ticks at multiples of a 1-2-5 step inside [low, high], with their labels."""
    step = nice_step(high - low, count)
    first = np.ceil(low / step) * step
    ticks = [float(t) for t in np.arange(first, high + step * 1e-9, step)][: 4 * count]
    return ticks, [tick_label(t, step) for t in ticks]


def log_ticks(low: float, high: float, count: int = 5) -> tuple[list[float], list[str]]:
    """Ticks for an axis drawn in log10 units over [low, high]: positions in log10, labels the
    values they stand for (`1e-8`, `0.01`, `0.18`)."""
    if high - low >= 2:
        step = max(1.0, np.ceil((high - low) / count))
        ticks = [float(t) for t in np.arange(np.ceil(low), high + 1e-9, step)]
        return ticks, [tick_label(10.0 ** t, 10.0 ** t) for t in ticks]
    ticks, _ = linear_ticks(low, high, count)
    values = [10.0 ** t for t in ticks]
    return ticks, [short_value(v) for v in values]


def short_value(value: float) -> str:
    """Two significant digits, e-form only when needed: 0.18, 3.2, 4.1e-5."""
    return e_form(f"{value:.2g}")


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
        self.zoom: tuple[float, float] | None = None  # the x (step) range shown; None: the whole run

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

    def set_zoom(self, zoom: tuple[float, float] | None) -> None:
        self.zoom = zoom
        self.redraw()

    def window(self, steps: np.ndarray, full: tuple[float, float], points: int) -> tuple[np.ndarray, tuple]:
        """(indices of at most `points` snapshots inside the shown x range, that range): the zoom
        when one is set and holds snapshots, else `full`."""
        if self.zoom is not None:
            inside = np.flatnonzero((steps >= self.zoom[0]) & (steps <= self.zoom[1]))
            if inside.size:
                return inside[thin(inside.size, points)], self.zoom
        return thin(len(steps), points), full

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

    def axes(self, plt: Plot, x: tuple[float, float], y: tuple[float, float], log_y: bool = False) -> None:
        """Limits and readable ticks (see `tick_label`); with `log_y` the y data are log10 values."""
        plt.xlim(*x)
        plt.ylim(*y)
        rows = max(4, (self.size.height - 4) // 2)
        plt.xticks(*linear_ticks(x[0], x[1], max(3, min(6, self.size.width // 9))))
        plt.yticks(*(log_ticks(y[0], y[1], rows) if log_y else linear_ticks(y[0], y[1], rows)))

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
