"""The paper's picture: each neuron as a point (||W_k||, v_k) on its quadric v^2 = ||W_k||^2 - c_k.

c_k > 0: one curve crossing v = 0, the neuron can change its output sign. c_k < 0: two sheets
that never meet; a pathological neuron stays on the sheet of its sign. The bright trail shows
where the point has been; the character is the neuron's index.
"""

from __future__ import annotations

import numpy as np

from lab.canvas import Canvas
from lab.frame import RunFrame
from lab.widgets.run_plot import RunPlot, neuron_label, thin

OTHERS = "·"  # neurons of a wide layer that are not tracked: their current point only
MAX_OTHERS = 2000


class QuadricPlot(RunPlot):
    """Curves v = ±sqrt(x² - c_k) (dim), trails and current points of the tracked neurons."""

    def draw(self, canvas: Canvas, frame: RunFrame) -> None:
        s = frame.series
        keep = thin(len(s), 2 * max(10, self.size.width))
        neurons = s.neurons
        w_now, v_now = frame.w_norm, frame.v
        x_max = 1.1 * max(float(np.max(w_now, initial=0.0)), float(np.max(s.w_norm[keep], initial=0.0)), 1e-6)
        y_max = 1.1 * max(float(np.max(np.abs(v_now), initial=0.0)), float(np.max(np.abs(s.v[keep]), initial=0.0)),
                          1e-6)
        canvas.set_x(0.0, x_max)
        canvas.set_y(-y_max, y_max)
        dim = self.theme_style("foreground", dim=True)
        canvas.hline(0.0, dim)
        styles = self.series_styles()
        xs = np.linspace(0.0, x_max, 4 * max(10, self.size.width))
        for j, k in enumerate(neurons):
            curve = styles[j % len(styles)] + dim
            with np.errstate(invalid="ignore"):
                v = np.sqrt(xs**2 - frame.c[k])  # NaN where the quadric has no point: a gap
            canvas.line(xs, v, curve)
            canvas.line(xs, -v, curve)
        for j in range(len(neurons)):
            canvas.line(s.w_norm[keep, j], s.v[keep, j], styles[j % len(styles)])
        if len(neurons) < len(frame.c):
            others = np.setdiff1d(np.arange(len(frame.c)), neurons)
            others = others[thin(len(others), MAX_OTHERS)]
            canvas.scatter(w_now[others], v_now[others], dim, OTHERS)
        bold = self.theme_style("foreground", bold=True)
        for j, k in enumerate(neurons):
            canvas.scatter([float(w_now[k])], [float(v_now[k])], styles[j % len(styles)] + bold, neuron_label(int(k)))
        canvas.title = "(‖W_k‖, v_k) on v² = ‖W_k‖² − c_k"
