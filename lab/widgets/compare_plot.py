"""Several runs on one plotext chart: one colour per run, train solid, test dotted, a cursor line."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from lab.widgets.run_plot import LINE, PATHOLOGICAL_MARKER, linear_ticks, log_ticks, thin

LOG_FLOOR = 1e-12
# Distinct colours for up to 12 runs (then they repeat); the legend uses the same ones.
RUN_COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
              (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120))


def run_color(i: int) -> tuple[int, int, int]:
    return RUN_COLORS[i % len(RUN_COLORS)]


@dataclass
class Curve:
    """One run's line (and optional test line) as the chart draws it."""

    color: tuple[int, int, int]
    x: np.ndarray
    y: np.ndarray
    test: np.ndarray | None = None


@dataclass
class Chart:
    """Everything the picture depends on; equal charts draw equal pictures."""

    title: str
    curves: list[Curve]
    log_y: bool
    x_range: tuple[float, float] | None
    cursor: float | None
    x_label: str


class ComparePlot(PlotextPlot):
    """Draws a `Chart`; rebuilt only when the chart or the size changes."""

    DEFAULT_CSS = """
    ComparePlot { width: 1fr; height: 1fr; min-height: 6; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.chart: Chart | None = None
        self._built: tuple | None = None
        self._text: RenderResult = Text("")

    def show(self, chart: Chart) -> None:
        self.chart = chart
        self._built = None
        self.refresh()

    def render(self) -> RenderResult:
        chart = self.chart
        width, height = self.size
        if chart is None or not chart.curves:
            return Text("loading…", style="dim")
        if width < 12 or height < 5:
            return Text("")
        built = (id(chart), width, height, self.app.theme)
        if built == self._built:
            return self._text
        plt = self.plt
        plt.clear_figure()
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        low_x, high_x = chart.x_range or (None, None)
        drawn = []
        for curve in chart.curves:
            for y, marker, draw in ((curve.y, LINE, plt.plot), (curve.test, PATHOLOGICAL_MARKER, plt.scatter)):
                if y is None or y.size == 0:
                    continue
                x = curve.x[: y.size]
                ok = np.isfinite(x) & np.isfinite(y)
                if low_x is not None:
                    ok &= (x >= low_x) & (x <= high_x)
                if chart.log_y:  # drawn in log10 units on a linear axis, ticks labelled by value
                    y = np.log10(np.maximum(y, LOG_FLOOR))
                keep = np.flatnonzero(ok)[thin(int(ok.sum()), max(10, width))]
                if keep.size:
                    draw(x[keep].tolist(), y[keep].tolist(), marker=marker, color=curve.color)
                    drawn.append(y[keep])
        if not drawn:
            self._text = Text("no recorded series to draw for this metric", style="dim")
            self._built = built
            return self._text
        values = np.concatenate(drawn)
        low, high = float(values.min()), float(values.max())
        pad = 0.05 * (high - low) if high - low > 1e-12 else max(0.1 * abs(high), 0.02)
        low, high = low - pad, high + pad
        plt.ylim(low, high)
        rows = max(4, (height - 4) // 2)
        plt.yticks(*(log_ticks(low, high, rows) if chart.log_y else linear_ticks(low, high, rows)))
        if low_x is not None and high_x > low_x:
            plt.xlim(low_x, high_x)
            plt.xticks(*linear_ticks(low_x, high_x, max(3, min(6, width // 9))))
        if chart.cursor is not None and drawn:
            plt.vline(chart.cursor, "gray")
        plt.xlabel(chart.x_label)
        plt.title(chart.title[: width - 2])
        self._text = super().render()
        self._built = built
        return self._text
