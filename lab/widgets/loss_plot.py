"""Train and test loss against step, with a log-y toggle."""

from __future__ import annotations

import numpy as np
from textual.reactive import reactive

from lab.canvas import Canvas
from lab.frame import RunFrame
from lab.widgets.run_plot import PATHOLOGICAL_MARKER, RunPlot, thin

# Log scale needs positive values; an exact zero loss is drawn at this floor.
LOG_FLOOR = 1e-12


class LossPlot(RunPlot):
    """The loss curve (train: line, test: dots); `log_y` toggles a logarithmic axis."""

    log_y: reactive[bool] = reactive(True)

    def watch_log_y(self) -> None:
        self.redraw()

    def draw(self, canvas: Canvas, frame: RunFrame) -> None:
        s = frame.series
        keep = thin(len(s), 2 * max(10, self.size.width))
        step = s.step[keep].astype(float)
        lines = [(s.loss[keep], None)]
        if s.test_loss is not None:
            lines.append((s.test_loss[keep], PATHOLOGICAL_MARKER))
        values = np.concatenate([y[np.isfinite(y)] for y, _ in lines])
        canvas.set_x(0.0, max(float(frame.total_steps), float(s.step[-1]), 1.0))
        if len(values):
            if self.log_y:
                values = np.maximum(values, LOG_FLOOR)
                canvas.set_y(float(values.min()), float(values.max()), log=True)
            else:
                canvas.set_y(min(0.0, float(values.min())), float(values.max()))
        styles = self.series_styles()
        for (y, marker), style in zip(lines, styles):
            y = np.maximum(y, LOG_FLOOR) if self.log_y else y
            canvas.line(step, y, style, marker=marker)
        latest = "" if frame.loss is None else f" {frame.loss:.4g}"
        test = "" if frame.test_loss is None else f" · test {frame.test_loss:.4g} (•)"
        canvas.title = f"loss{latest}{test}{' · log' if self.log_y else ''}"
