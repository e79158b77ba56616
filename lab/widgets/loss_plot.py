"""Train and test loss against step, with a log-y toggle."""

from __future__ import annotations

import numpy as np
from textual.reactive import reactive
from textual_plotext.plot import Plot

from lab.frame import RunFrame
from lab.widgets.run_plot import LINE, PATHOLOGICAL_MARKER, RunPlot, thin

# Log scale needs positive values; an exact zero loss is drawn at this floor.
LOG_FLOOR = 1e-12


class LossPlot(RunPlot):
    """The loss curve (train: line, test: dots); `log_y` toggles a logarithmic axis."""

    log_y: reactive[bool] = reactive(True)

    def watch_log_y(self) -> None:
        self.redraw()

    def draw(self, plt: Plot, frame: RunFrame) -> None:
        s = frame.series
        keep = thin(len(s), max(10, self.size.width))
        step = s.step[keep].astype(float)
        colors = self.series_colors()
        lines = [(s.loss[keep], LINE, colors[0], plt.plot)]
        if s.test_loss is not None:
            lines.append((s.test_loss[keep], PATHOLOGICAL_MARKER, colors[1], plt.scatter))
        plt.xlim(0.0, max(float(frame.total_steps), float(s.step[-1]), 1.0))
        values = np.concatenate([y[np.isfinite(y)] for y, _, _, _ in lines])
        if self.log_y:
            plt.yscale("log")
            values = np.log10(np.maximum(values, LOG_FLOOR))
        if len(values):
            low, high = float(values.min()), float(values.max())
            if not self.log_y:
                low = min(0.0, low)
            pad = 0.05 * (high - low) if high - low > 1e-9 else max(0.1 * abs(high), 0.02 if self.log_y else 1e-3)
            low, high = low - pad, high + pad
            plt.ylim(low, high)  # with a log axis plotext takes the limits as log10 values
        for y, marker, color, draw in lines:
            if self.log_y:
                y = np.maximum(y, LOG_FLOOR)
            ok = np.isfinite(y)
            if ok.any():
                draw(step[ok].tolist(), y[ok].tolist(), marker=marker, color=color)
        latest = "" if frame.loss is None else f" {frame.loss:.4g}"
        test = "" if frame.test_loss is None else f" · test {frame.test_loss:.4g} (•)"
        self.title(plt, f"loss{latest}", test, " · log" if self.log_y else "")
