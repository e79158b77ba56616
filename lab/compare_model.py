"""What the compare view draws: several sessions' series, read from the store and kept fresh.

The first frame draws every run from its block summaries (milliseconds for 100,000 snapshots);
then each run's series are read in full (downsampled to at most SERIES_POINTS, each bucket keeping
its extremes) and drawn again, and read again while a session is still recording, so a run in
another process grows on screen. Smoothing is applied to these series before they are thinned
to the plot's width.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.compare import smooth
from core.invariants import count_components, neuron_status

SERIES_POINTS = 20_000
# What the metric key cycles through: (name, label, is a loss).
METRICS = (("loss", "loss", True), ("accuracy", "accuracy", False), ("max_drift", "max drift of c_k from its law", True),
           ("pathological", "pathological neurons l_-", False), ("components", "components of H(c)", False))
SMOOTHING = (0.0, 0.6, 0.9, 0.99)


@dataclass
class CompareRun:
    """One session as the compare view holds it."""

    id: str
    label: str
    status: str
    series: dict[str, np.ndarray] = field(default_factory=dict)
    d_eff: int | None = None
    outputs: int = 1

    def topology(self) -> tuple[np.ndarray, np.ndarray]:
        """l_- and the number of components of H(c) at every point of the series."""
        c = self.series.get("c")
        if c is None or c.size == 0 or self.d_eff is None:
            n = len(self.series.get("step", ()))
            return np.full(n, np.nan), np.full(n, np.nan)
        scale = self.series["w_norm"] ** 2 + self.series["v"] ** 2
        pathological, components = [], []
        for row, s in zip(c, scale):
            status = neuron_status(row, s)
            pathological.append(status.count("pathological"))
            components.append(count_components(status, self.d_eff, self.outputs)[0])
        return np.array(pathological, float), np.array(components, float)

    def values(self, metric: str, test: bool = False) -> np.ndarray:
        if metric in ("pathological", "components"):
            pathological, components = self.topology()
            return pathological if metric == "pathological" else components
        key = ("test_" + metric) if test else metric
        return self.series.get(key, np.zeros(0))


def load_run(session, raw_cells: int | None = None) -> CompareRun:
    """One loaded session's series (in a worker thread). `raw_cells=0` reads only the block
    summaries of a long run (two points per block of snapshots): the quick first frame."""
    try:
        d_eff = session.d_eff()
    except Exception:  # no config or inputs recorded: topology is not drawn
        d_eff = None
    series = session.series(SERIES_POINTS) if raw_cells is None else session.series(SERIES_POINTS, raw_cells)
    return CompareRun(id=session.id, label=session.name or session.id, status=session.status, series=series,
                      d_eff=d_eff, outputs=session.config.model.outputs if session.config else 1)


def x_values(run: CompareRun, wall: bool) -> np.ndarray:
    """The x axis: steps, or seconds since the run started (`elapsed`)."""
    return run.series.get("elapsed" if wall else "step", np.zeros(0)).astype(float)


def smoothed(values: np.ndarray, weight: float) -> np.ndarray:
    return smooth(values, weight) if weight > 0 and values.size else values


def value_at(run: CompareRun, metric: str, x: float, wall: bool, weight: float) -> float | None:
    """The run's (smoothed) value at the last point with x <= `x`; None before its first point."""
    xs = x_values(run, wall)
    ys = smoothed(run.values(metric), weight)
    if xs.size == 0 or ys.size == 0:
        return None
    i = int(np.searchsorted(xs, x, side="right")) - 1
    if i < 0:
        return None
    value = float(ys[i])
    return value if np.isfinite(value) else None
