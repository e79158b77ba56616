"""Train and test loss against step, with a log-y toggle."""

from __future__ import annotations

import numpy as np
from textual.reactive import reactive
from textual_plotext.plot import Plot

from lab.frame import RunFrame
from lab.widgets.run_plot import LINE, PATHOLOGICAL_MARKER, RunPlot

# Log scale needs positive values; an exact zero loss is drawn at this floor.
LOG_FLOOR = 1e-12


class LossPlot(RunPlot):
    """The loss curve (train: line, test: dots); `log_y` toggles a logarithmic axis."""

    log_y: reactive[bool] = reactive(True)

    def watch_log_y(self) -> None:
        self.redraw()

    def draw(self, plt: Plot, frame: RunFrame) -> None:
        s = frame.series
        keep, x_range = self.window(s.step, (0.0, max(float(frame.total_steps), float(s.step[-1]), 1.0)),
                                    max(10, self.size.width))
        step = s.step[keep].astype(float)
        colors = self.series_colors()
        lines = [(s.loss[keep], LINE, colors[0], plt.plot)]
        if s.test_loss is not None:
            lines.append((s.test_loss[keep], PATHOLOGICAL_MARKER, colors[1], plt.scatter))
        # A log axis is drawn as log10 values on a linear one, with ticks labelled by the values
        # they stand for: plotext's own log axis prints `0.17982425884 ... 0.00000000000`.
        if self.log_y:
            lines = [(np.log10(np.maximum(y, LOG_FLOOR)), marker, color, draw) for y, marker, color, draw in lines]
        values = np.concatenate([y[np.isfinite(y)] for y, _, _, _ in lines])
        low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
        if not self.log_y:
            low = min(0.0, low)
        pad = 0.05 * (high - low) if high - low > 1e-9 else max(0.1 * abs(high), 0.02 if self.log_y else 1e-3)
        self.axes(plt, x_range, (low - pad, high + pad), log_y=self.log_y)
        for y, marker, color, draw in lines:
            ok = np.isfinite(y)
            if ok.any():
                draw(step[ok].tolist(), y[ok].tolist(), marker=marker, color=color)
        latest = "" if frame.loss is None else f" {frame.loss:.4g}"
        test = "" if frame.test_loss is None else f" · test {frame.test_loss:.4g} (•)"
        self.title(plt, f"loss{latest}", test, " · log" if self.log_y else "")
