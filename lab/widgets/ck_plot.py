"""c_k = ||W_k||^2 - ||v_k||^2 for every neuron against step, with the zero line.

A line below zero is a pathological neuron (drawn with • markers and the error colour): its
output sign is frozen. Wide layers show the neurons nearest zero plus the min / max band of all.
"""

from __future__ import annotations

import numpy as np
from textual_plotext.plot import Plot

from lab.frame import RunFrame
from lab.widgets.run_plot import LINE, PATHOLOGICAL_MARKER, RunPlot, neuron_label

BAND_MARKER = "·"


class CkPlot(RunPlot):
    """One line per tracked neuron, labelled with its index at its newest point."""

    def draw(self, plt: Plot, frame: RunFrame) -> None:
        s = frame.series
        x_max = max(float(frame.total_steps), float(s.step[-1]), 1.0)
        keep, (x_low, x_max) = self.window(s.step, (0.0, x_max), max(10, self.size.width // 2))
        step = s.step[keep].astype(float).tolist()
        last_step = step[-1]  # the newest point shown (zoomed: the window's last)
        c = s.c[keep]
        parts = [c.ravel(), [0.0]]
        if s.band is not None:
            parts.append(s.band[keep].ravel())
        values = np.concatenate(parts)
        values = values[np.isfinite(values)]
        low, high = float(values.min()), float(values.max())
        pad = max(0.05 * (high - low), 1e-3)
        low, high = low - pad, high + pad
        self.axes(plt, (x_low, x_max), (low, high))
        dim = self.color("foreground", dim=True)
        plt.horizontal_line(0.0, color=dim)
        if s.band is not None:
            for j in range(2):
                plt.plot(step, s.band[keep, j].tolist(), marker=BAND_MARKER, color=dim)
        colors = self.series_colors()
        pathological = self.color("error")
        for j, k in enumerate(s.neurons):
            if frame.c[k] < 0:
                plt.plot(step, c[:, j].tolist(), marker=PATHOLOGICAL_MARKER, color=pathological)
            else:
                plt.plot(step, c[:, j].tolist(), marker=LINE, color=colors[j % len(colors)])
        # Labels at the newest point; neurons ending on the same text row share one label ("10").
        rows = max(1, self.size.height - 4)
        labels: dict[int, list[tuple[str, float, object]]] = {}
        for j, k in enumerate(s.neurons):
            value = float(c[-1, j])
            if not np.isfinite(value):
                continue
            color = pathological if frame.c[k] < 0 else colors[j % len(colors)]
            row = int(round((value - low) / (high - low) * (rows - 1)))
            labels.setdefault(row, []).append((neuron_label(int(k)), value, color))
        for group in labels.values():
            text = "".join(label for label, _, _ in group)
            plt.text(text, last_step, group[0][1], color=group[0][2],
                     alignment="right" if last_step > x_max / 2 else "left")
        tracked = len(s.neurons)
        if tracked < s.hidden:
            self.title(plt, f"c_k: {tracked} nearest 0 of {s.hidden}", " · band ··", " · • c<0", " (pathological)")
        else:
            self.title(plt, "c_k per neuron", " · • c<0", " (pathological)")
