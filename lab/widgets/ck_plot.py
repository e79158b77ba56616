"""c_k = ||W_k||^2 - ||v_k||^2 for every neuron against step, with the zero line.

A line below zero is a pathological neuron (drawn with • markers and the error colour): its
output sign is frozen. Wide layers show the neurons nearest zero plus the min / max band of all.
"""

from __future__ import annotations

import numpy as np

from lab.canvas import Canvas
from lab.frame import RunFrame
from lab.widgets.run_plot import PATHOLOGICAL_MARKER, RunPlot, neuron_label, thin

BAND_MARKER = "·"


class CkPlot(RunPlot):
    """One line per tracked neuron, labelled with its index at its newest point."""

    def draw(self, canvas: Canvas, frame: RunFrame) -> None:
        s = frame.series
        keep = thin(len(s), 2 * max(10, self.size.width))
        step = s.step[keep].astype(float)
        last_step = float(s.step[-1])
        c = s.c[keep]
        parts = [c.ravel(), [0.0]]
        if s.band is not None:
            parts.append(s.band[keep].ravel())
        values = np.concatenate(parts)
        values = values[np.isfinite(values)]
        canvas.set_x(0.0, max(float(frame.total_steps), last_step, 1.0))
        canvas.set_y(float(values.min()), float(values.max()))
        dim = self.theme_style("foreground", dim=True)
        canvas.hline(0.0, dim)
        if s.band is not None:
            for j in range(2):
                canvas.line(step, s.band[keep, j], dim, marker=BAND_MARKER)
        styles = self.series_styles()
        pathological = self.theme_style("error", bold=True)
        for j, k in enumerate(s.neurons):
            if frame.c[k] < 0:
                canvas.line(step, c[:, j], pathological, marker=PATHOLOGICAL_MARKER)
            else:
                canvas.line(step, c[:, j], styles[j % len(styles)])
        for j, k in enumerate(s.neurons):
            style = pathological if frame.c[k] < 0 else styles[j % len(styles)]
            canvas.text(last_step, float(s.c[-1, j]), neuron_label(int(k)), style)
        tracked = len(s.neurons)
        title = f"c_k: {tracked} nearest 0 of {s.hidden} · band ··" if tracked < s.hidden else "c_k per neuron"
        canvas.title = f"{title} · • c<0 (pathological)"
