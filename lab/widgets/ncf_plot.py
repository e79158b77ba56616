"""log10 ||theta_k|| per tracked neuron and log10 ||theta|| against step, with the near-origin
growth the NCF predicts.

From a small initialisation a neuron heading for a KKT direction of value N* grows like
exp(2 N* t), t = step * lr: a straight line on this axis. The dotted line is that prediction for
the fastest neuron, started from ||theta(0)||.
"""

from __future__ import annotations

import numpy as np
from textual_plotext.plot import Plot

from lab.frame import RunFrame
from lab.widgets.run_plot import LINE, RunPlot, neuron_label, thin

FLOOR = 1e-300
PREDICTION_MARKER = "·"
TOTAL_MARKER = "•"


class NcfPlot(RunPlot):
    """log10 ||theta_k|| = log10 sqrt(||W_k||^2 + ||v_k||^2) of the tracked neurons."""

    def draw(self, plt: Plot, frame: RunFrame) -> None:
        s = frame.series
        keep = thin(len(s), max(10, self.size.width // 4))
        step = s.step[keep].astype(float)
        squares = s.w_norm[keep] ** 2 + s.v[keep] ** 2
        size = np.log10(np.maximum(np.sqrt(squares), FLOOR))
        # ||theta|| of the tracked neurons: all of them unless the layer is wide.
        total = np.log10(np.maximum(np.sqrt(squares.sum(axis=1)), FLOOR))
        x_max = max(float(frame.total_steps), float(s.step[-1]), 1.0)
        plt.xlim(0.0, x_max)
        values = [size[np.isfinite(size)], total[np.isfinite(total)]]
        ncf = frame.ncf
        predicted = None
        if ncf is not None and ncf.rate is not None and ncf.theta0 > 0:
            # ||theta|| ~ ||theta(0)|| exp(2 N* t) until it leaves the origin (drawn up to ||theta|| = 1).
            end = min(x_max, ncf.escape_step(1.0) or x_max)
            xs = np.linspace(0.0, end, 20)
            predicted = (xs, np.log10(ncf.theta0) + ncf.rate * ncf.lr * xs / np.log(10))
            values.append(predicted[1])
        values = np.concatenate(values)
        if len(values):
            low, high = float(values.min()), float(values.max())
            pad = max(0.05 * (high - low), 0.1)
            plt.ylim(low - pad, high + pad)
        colors = self.series_colors()
        for j, k in enumerate(s.neurons):
            ok = np.isfinite(size[:, j])
            if ok.any():
                plt.plot(step[ok].tolist(), size[ok, j].tolist(), marker=LINE, color=colors[j % len(colors)],
                         label=neuron_label(int(k)))
        ok = np.isfinite(total)
        if ok.any():
            plt.plot(step[ok].tolist(), total[ok].tolist(), marker=TOTAL_MARKER, color=self.color("foreground"),
                     label="‖θ‖" if len(s.neurons) == s.hidden else "‖θ‖ tracked")
        if predicted is not None:
            plt.plot(predicted[0].tolist(), predicted[1].tolist(), marker=PREDICTION_MARKER,
                     color=self.color("foreground", dim=True))
        self.title(plt, "log10 ‖θ_k‖ and ‖θ‖", " · ·· ‖θ(0)‖ exp(2N* t) predicted")
