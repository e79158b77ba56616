"""Each neuron's point (||W_k||, v_k) on its quadric v^2 = ||W_k||^2 - c_k.

c_k is conserved by gradient flow, so a neuron moves along its curve. A pathological neuron
(c_k < 0) has two sheets, v > 0 and v < 0, that never meet: it cannot change the sign of v_k.
A free neuron's curve crosses v = 0 at ||W_k|| = sqrt(c_k).
"""

from __future__ import annotations

import numpy as np
from textual_plotext.plot import Plot

from lab.frame import RunFrame
from lab.widgets.run_plot import LINE, RunPlot, neuron_label, thin

OTHERS = "·"  # neurons of a wide layer that are not tracked: their current point only
MAX_OTHERS = 2000
CURVE_POINTS = 16  # a smooth curve: plotext joins the points with braille lines


def quadric_curves(c: float, x_max: float, points: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The curve v² = x² − c for 0 <= x <= x_max: two sheets when c < 0, else one arc through (√c, 0)."""
    if c < 0:
        xs = np.linspace(0.0, x_max, points)
        v = np.sqrt(xs**2 - c)
        return [(xs, v), (xs, -v)]
    root = float(np.sqrt(c))
    if root >= x_max:
        return []
    xs = np.linspace(root, x_max, max(2, points // 2))
    v = np.sqrt(np.maximum(xs**2 - c, 0.0))
    return [(np.concatenate([xs[::-1], xs[1:]]), np.concatenate([-v[::-1], v[1:]]))]


class QuadricPlot(RunPlot):
    """Curves v = ±sqrt(x² - c_k) (dim), trails and current points of the tracked neurons."""

    def draw(self, plt: Plot, frame: RunFrame) -> None:
        s = frame.series
        width = max(10, self.size.width)
        keep = thin(len(s), width // 3)
        neurons = s.neurons
        w_now, v_now = frame.w_norm, frame.v
        x_max = 1.1 * max(float(np.max(w_now, initial=0.0)), float(np.max(s.w_norm[keep], initial=0.0)), 1e-6)
        y_max = 1.1 * max(float(np.max(np.abs(v_now), initial=0.0)), float(np.max(np.abs(s.v[keep]), initial=0.0)),
                          1e-6)
        self.axes(plt, (0.0, x_max), (-y_max, y_max))
        dim = self.color("foreground", dim=True)
        plt.horizontal_line(0.0, color=dim)
        colors = self.series_colors()
        dims = [self.color(n, dim=True) for n in ("primary", "accent", "success", "secondary", "warning",
                                                    "foreground")]
        for j, k in enumerate(neurons):
            for xs, v in quadric_curves(float(frame.c[k]), x_max, CURVE_POINTS):
                inside = np.abs(v) <= y_max
                if inside.sum() > 1:
                    plt.plot(xs[inside].tolist(), v[inside].tolist(), marker=LINE, color=dims[j % len(dims)])
        for j in range(len(neurons)):
            plt.plot(s.w_norm[keep, j].tolist(), s.v[keep, j].tolist(), marker=LINE, color=colors[j % len(colors)])
        if len(neurons) < len(frame.c):
            others = np.setdiff1d(np.arange(len(frame.c)), neurons)
            others = others[thin(len(others), MAX_OTHERS)]
            plt.scatter(w_now[others].tolist(), v_now[others].tolist(), marker=OTHERS, color=dim)
        for j, k in enumerate(neurons):
            plt.scatter([float(w_now[k])], [float(v_now[k])], marker=neuron_label(int(k)),
                        color=colors[j % len(colors)], style="bold")
        self.title(plt, "(‖W_k‖, v_k) on v² = ‖W_k‖² − c_k")
