"""The curves a run draws: a bounded history of its snapshots, shared by the live view and replay.

A run may log millions of snapshots and have thousands of neurons; the terminal shows a few
hundred points and a handful of lines. `SeriesBuffer` keeps at most `max_points` rows by
halving its resolution when full, and follows only the `tracked` neurons (all of a small
layer, else the ones nearest c = 0) plus a min / max band over every neuron.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from core.snapshot import Snapshot

# Lines one c_k plot can show and still be read; wider layers get a band plus these.
MAX_TRACKED = 8
MAX_POINTS = 2048


def pick_tracked(c: np.ndarray, limit: int = MAX_TRACKED) -> np.ndarray:
    """Every neuron of a small layer, else the `limit` nearest c = 0 (the ones that can change side)."""
    c = np.asarray(c, np.float64)
    if len(c) <= limit:
        return np.arange(len(c))
    return np.sort(np.argsort(np.abs(c), kind="stable")[:limit])


@dataclass(frozen=True)
class SeriesView:
    """Arrays ready to plot: one row per kept snapshot."""

    hidden: int
    neurons: np.ndarray  # (t,) indices of the tracked neurons
    step: np.ndarray  # (n,)
    loss: np.ndarray  # (n,)
    test_loss: np.ndarray | None  # (n,)
    c: np.ndarray  # (n, t) c_k of the tracked neurons
    w_norm: np.ndarray  # (n, t)
    v: np.ndarray  # (n, t)
    band: np.ndarray | None  # (n, 2) min and max of c over all neurons, when not all are tracked

    def __len__(self) -> int:
        return len(self.step)

    def upto(self, index: int) -> "SeriesView":
        """The first `index + 1` rows (replay draws the run up to its cursor)."""
        end = index + 1
        return SeriesView(
            self.hidden, self.neurons, self.step[:end], self.loss[:end],
            None if self.test_loss is None else self.test_loss[:end],
            self.c[:end], self.w_norm[:end], self.v[:end], None if self.band is None else self.band[:end],
        )

    @classmethod
    def from_arrays(cls, series: dict, max_tracked: int = MAX_TRACKED) -> "SeriesView":
        """From a stored session's `series()` dict (step, loss, test_loss, c, w_norm, v: (n, hidden))."""
        c = np.atleast_2d(np.asarray(series["c"], np.float64))
        hidden = c.shape[1]
        neurons = pick_tracked(c[0], max_tracked) if len(c) else np.arange(min(hidden, max_tracked))
        test = series.get("test_loss")
        if test is not None:
            test = np.asarray(test, np.float64)
            if not np.any(np.isfinite(test)):
                test = None
        w = np.atleast_2d(np.asarray(series["w_norm"], np.float64))
        v = np.atleast_2d(np.asarray(series["v"], np.float64))
        band = None if len(neurons) == hidden else np.stack([c.min(axis=1), c.max(axis=1)], axis=1)
        return cls(hidden, neurons, np.asarray(series["step"]), np.asarray(series["loss"], np.float64), test,
                   c[:, neurons], w[:, neurons], v[:, neurons], band)


class SeriesBuffer:
    """Thread-safe, bounded history of a live run: the worker appends, the UI takes views.

    Rows live in preallocated arrays, so an append is a few item assignments and a view is a
    few slices: both stay cheap however long the run.
    """

    def __init__(self, max_points: int = MAX_POINTS, max_tracked: int = MAX_TRACKED):
        self.max_points = max(4, max_points)
        self.max_tracked = max_tracked
        self.stride = 1  # keep every stride-th snapshot
        self.seen = 0
        self.hidden = 0
        self.neurons: np.ndarray | None = None
        self._n = 0  # rows kept
        self._last: tuple | None = None  # the newest snapshot always shows, kept or not
        self._lock = threading.Lock()

    def _allocate(self, snap: Snapshot) -> None:
        self.hidden = len(snap.c)
        self.neurons = pick_tracked(snap.c, self.max_tracked)
        n, t = self.max_points, len(self.neurons)
        self._step = np.zeros(n, np.int64)
        self._loss = np.zeros(n)
        self._test = np.full(n, np.nan)
        self._has_test = False
        self._c, self._w, self._v = np.zeros((n, t)), np.zeros((n, t)), np.zeros((n, t))
        self._band = np.zeros((n, 2)) if t < self.hidden else None

    def append(self, snap: Snapshot) -> None:
        """Record one snapshot; O(tracked) work, plus a min / max over a wide layer."""
        if self.neurons is None:
            self._allocate(snap)
        idx = self.neurons
        c, w, v = snap.c[idx], snap.w_norm[idx], snap.v[idx]
        band = None if self._band is None else (snap.c.min(), snap.c.max())
        with self._lock:
            self._last = (snap.step, snap.loss, snap.test_loss, c, w, v, band)
            if self.seen % self.stride == 0:
                i = self._n
                self._step[i], self._loss[i] = snap.step, snap.loss
                if snap.test_loss is not None:
                    self._test[i] = snap.test_loss
                    self._has_test = True
                self._c[i], self._w[i], self._v[i] = c, w, v
                if band is not None:
                    self._band[i] = band
                self._n += 1
                if self._n == self.max_points:
                    self._halve()
            self.seen += 1

    def _halve(self) -> None:
        """Keep every other row and double the stride: the history's resolution halves when full."""
        half = self.max_points // 2
        for array in (self._step, self._loss, self._test, self._c, self._w, self._v, self._band):
            if array is not None:
                array[:half] = array[: 2 * half : 2].copy()
        self._n = half
        self.stride *= 2

    def view(self) -> SeriesView | None:
        with self._lock:
            n, last = self._n, self._last
            if last is None:
                return None
            step, loss, c, w, v = (a[:n].copy() for a in (self._step, self._loss, self._c, self._w, self._v))
            test = self._test[:n].copy() if self._has_test else None
            band = self._band[:n].copy() if self._band is not None else None
        if n == 0 or step[-1] != last[0]:
            # The newest snapshot was not kept (stride > 1): show it anyway, at the end.
            step = np.append(step, last[0])
            loss = np.append(loss, last[1])
            if test is not None:
                test = np.append(test, np.nan if last[2] is None else last[2])
            c, w, v = (np.vstack([a, row[None, :]]) for a, row in ((c, last[3]), (w, last[4]), (v, last[5])))
            if band is not None:
                band = np.vstack([band, np.asarray(last[6])[None, :]])
        return SeriesView(self.hidden, self.neurons, step, loss, test, c, w, v, band)
