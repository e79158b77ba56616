"""Snapshots as columns: packing a run of snapshots into fixed-size blocks and back.

A block holds BLOCK consecutive snapshots (the newest block may hold fewer and is rewritten as it
fills). Every column is a raw little-endian buffer; nothing here can run code when read. Each
block also carries a summary (first, min, max and last value of every series), so a plot of a
million snapshots reads a few thousand summaries instead of the data.
"""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass

import numpy as np

from core import strict_json
from core.snapshot import Snapshot, SnapshotBatch

BLOCK = 128
SCALARS = ("loss", "test_loss", "accuracy", "test_accuracy", "max_drift", "elapsed")
OPTIONAL = ("test_loss", "accuracy", "test_accuracy")  # may be None in a Snapshot
NEURON = ("c", "w_norm", "v")  # per-neuron float series
DTYPES = ("<f4", "<f8")  # per-neuron arrays keep the run's precision
STATS = 4  # summary rows: first, min, max, last

_scalars = operator.attrgetter(*SCALARS)


class BlockError(ValueError):
    """A stored block whose bytes do not add up; the store turns it into a StoreError."""


@dataclass
class Columns:
    """Consecutive snapshots of one run, one array per field."""

    step: np.ndarray  # (n,) int64
    scalars: np.ndarray  # (n, 6) float64, SCALARS order; NaN where absent
    present: np.ndarray  # (n, 3) uint8: was each OPTIONAL scalar given?
    c: np.ndarray  # (n, hidden)
    w_norm: np.ndarray  # (n, hidden)
    v: np.ndarray  # (n, hidden)
    v_sign: np.ndarray  # (n, hidden) int8
    signs: list[str]  # (n,) sign vector over the pathological neurons

    def __len__(self) -> int:
        return len(self.step)

    @classmethod
    def from_snapshots(cls, snaps: list[Snapshot], hidden: int, dtype: str) -> "Columns":
        n = len(snaps)
        # None becomes NaN here; `present` remembers which were None.
        scalars = np.array(list(map(_scalars, snaps)), dtype="<f8").reshape(n, len(SCALARS))
        present = np.array(
            [(s.test_loss is not None, s.accuracy is not None, s.test_accuracy is not None) for s in snaps],
            dtype="u1",
        ).reshape(n, len(OPTIONAL))

        def stack(name: str, kind) -> np.ndarray:
            # Stack in the snapshots' own dtype, then cast the block once: casting row by row
            # inside np.array(list, dtype) costs a quarter of the recorder's time.
            out = np.array([getattr(s, name) for s in snaps]).astype(kind, copy=False)
            if out.shape != (n, hidden):
                raise ValueError(f"{name} has shape {out.shape[1:]}, expected ({hidden},)")
            return out

        return cls(
            step=np.array([s.step for s in snaps], dtype="<i8"),
            scalars=scalars,
            present=present,
            c=stack("c", dtype),
            w_norm=stack("w_norm", dtype),
            v=stack("v", dtype),
            v_sign=stack("v_sign", "i1"),
            signs=[s.signs for s in snaps],
        )

    @classmethod
    def from_batch(cls, batch: SnapshotBatch, hidden: int, dtype: str) -> "Columns":
        n = len(batch)
        nan = np.full(n, np.nan)
        optional = [getattr(batch, name) for name in OPTIONAL]
        scalars = np.column_stack([batch.loss] + [nan if a is None else a for a in optional]
                                  + [batch.max_drift, batch.elapsed]).astype("<f8", copy=False)
        present = np.empty((n, len(OPTIONAL)), "u1")
        present[:] = [a is not None for a in optional]

        def column(name: str, kind) -> np.ndarray:
            out = np.asarray(getattr(batch, name)).astype(kind, copy=False)
            if out.shape != (n, hidden):
                raise ValueError(f"{name} has shape {out.shape[1:]}, expected ({hidden},)")
            return out

        return cls(
            step=np.asarray(batch.step).astype("<i8", copy=False), scalars=scalars, present=present,
            c=column("c", dtype), w_norm=column("w_norm", dtype), v=column("v", dtype),
            v_sign=column("v_sign", "i1"), signs=list(batch.signs),
        )

    @classmethod
    def concat(cls, parts: list["Columns"]) -> "Columns":
        if len(parts) == 1:
            return parts[0]
        arrays = {
            name: np.concatenate([getattr(p, name) for p in parts])
            for name in ("step", "scalars", "present", "c", "w_norm", "v", "v_sign")
        }
        return cls(**arrays, signs=[s for p in parts for s in p.signs])

    def slice(self, start: int, stop: int | None = None) -> "Columns":
        return Columns(
            step=self.step[start:stop],
            scalars=self.scalars[start:stop],
            present=self.present[start:stop],
            c=self.c[start:stop],
            w_norm=self.w_norm[start:stop],
            v=self.v[start:stop],
            v_sign=self.v_sign[start:stop],
            signs=self.signs[start:stop],
        )

    def snapshot(self, i: int) -> Snapshot:
        """The i-th snapshot (without hops or params, which live in their own tables)."""
        row = self.scalars[i]
        has = self.present[i]
        return Snapshot(
            step=int(self.step[i]),
            loss=float(row[0]),
            test_loss=float(row[1]) if has[0] else None,
            accuracy=float(row[2]) if has[1] else None,
            test_accuracy=float(row[3]) if has[2] else None,
            c=self.c[i].copy(),
            w_norm=self.w_norm[i].copy(),
            v=self.v[i].copy(),
            v_sign=self.v_sign[i].copy(),
            signs=self.signs[i],
            max_drift=float(row[4]),
            elapsed=float(row[5]),
        )


def summaries(cols: Columns, size: int) -> list[bytes]:
    """first / min / max / last of every series for each run of `size` snapshots (len(cols) is
    a multiple of `size`). All blocks and all per-neuron series in one call each: on arrays this
    small the calls, not the arithmetic, are the cost."""
    k, hidden = len(cols) // size, cols.c.shape[1]

    def stats(data: np.ndarray, low, high) -> np.ndarray:  # (k * size, m) -> (k, 4, m)
        runs = data.reshape(k, size, data.shape[1])
        out = np.empty((k, STATS, data.shape[1]), data.dtype)
        out[:, 0], out[:, 3] = runs[:, 0], runs[:, -1]
        low.reduce(runs, axis=1, out=out[:, 1])
        high.reduce(runs, axis=1, out=out[:, 2])
        return out

    scalars = stats(cols.scalars, np.fmin, np.fmax)  # NaN means "not measured" there: skipped
    # Per-neuron values are NaN only in a run gone non-finite, where NaN is the honest summary
    # (and np.minimum is twice as fast as np.fmin).
    neuron = stats(np.concatenate([cols.c, cols.w_norm, cols.v], axis=1), np.minimum, np.maximum)
    neuron = neuron.reshape(k, STATS, len(NEURON), hidden)
    return [scalars[i].tobytes() + neuron[i].tobytes() for i in range(k)]


def encode(cols: Columns, summary: bytes | None = None) -> dict:
    """A block's columns as the blobs of one `block_data` row, plus its `blocks` row."""
    return {  # the arrays are already in their stored dtypes (Columns.from_snapshots)
        "count": len(cols),
        "step_first": int(cols.step[0]),
        "step_last": int(cols.step[-1]),
        "steps": cols.step.tobytes(),
        "scalars": cols.scalars.tobytes(),
        "present": cols.present.tobytes(),
        "c": cols.c.tobytes(),
        "w_norm": cols.w_norm.tobytes(),
        "v": cols.v.tobytes(),
        "v_sign": cols.v_sign.tobytes(),
        "signs": encode_signs(cols.signs),
        "summary": summary if summary is not None else summaries(cols, len(cols))[0],
    }


def encode_blocks(cols: Columns) -> list[dict]:
    """Full blocks, len(cols) a multiple of BLOCK, encoded."""
    sums = summaries(cols, BLOCK)
    return [encode(cols.slice(i * BLOCK, (i + 1) * BLOCK), sums[i]) for i in range(len(sums))]


def encode_signs(signs: list[str]) -> str:
    """Run-length JSON [[index, signs], ...]: the sign vector changes rarely."""
    if signs and signs.count(signs[0]) == len(signs):  # the usual block: one sign vector throughout
        return json.dumps([[0, signs[0]]], separators=(",", ":"))
    runs = []
    for i, s in enumerate(signs):
        if not runs or runs[-1][1] != s:
            runs.append([i, s])
    return json.dumps(runs, separators=(",", ":"))


def decode_signs(text: str, count: int) -> list[str]:
    try:
        runs = strict_json.loads(text, max_depth=2)  # [[index, signs], ...]
    except (ValueError, TypeError):
        raise BlockError("sign vectors are not valid JSON") from None
    ok = isinstance(runs, list) and all(
        isinstance(r, list) and len(r) == 2 and isinstance(r[0], int) and isinstance(r[1], str) for r in runs
    )
    starts = [r[0] for r in runs] if ok else []
    if not ok or (count and (not runs or starts[0] != 0)) or starts != sorted(set(starts)) or (starts and starts[-1] >= count):
        raise BlockError("sign vectors are malformed")
    out: list[str] = []
    for (start, s), nxt in zip(runs, starts[1:] + [count]):
        out.extend([s] * (nxt - start))
    return out


def _array(blob, dtype: str, shape: tuple, what: str) -> np.ndarray:
    expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if not isinstance(blob, bytes) or len(blob) != expected:
        raise BlockError(f"{what}: {len(blob) if isinstance(blob, bytes) else 'no'} bytes, expected {expected}")
    return np.frombuffer(blob, dtype=dtype).reshape(shape)


def decode(row: dict, count: int, hidden: int, dtype: str) -> Columns:
    """Columns from one `block_data` row; BlockError if any buffer has the wrong size."""
    n, h = count, hidden
    return Columns(
        step=_array(row["steps"], "<i8", (n,), "steps"),
        scalars=_array(row["scalars"], "<f8", (n, len(SCALARS)), "scalars"),
        present=_array(row["present"], "u1", (n, len(OPTIONAL)), "present"),
        c=_array(row["c"], dtype, (n, h), "c"),
        w_norm=_array(row["w_norm"], dtype, (n, h), "w_norm"),
        v=_array(row["v"], dtype, (n, h), "v"),
        v_sign=_array(row["v_sign"], "i1", (n, h), "v_sign"),
        signs=decode_signs(row["signs"], n),
    )


def summary_size(hidden: int, dtype: str) -> int:
    return STATS * (len(SCALARS) * 8 + len(NEURON) * hidden * np.dtype(dtype).itemsize)


def decode_summaries(blobs: list[bytes], hidden: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """(scalars (blocks, 4, 6), neuron (blocks, 4, 3, hidden)) from summary blobs."""
    size = summary_size(hidden, dtype)
    if any(len(b) != size for b in blobs):
        raise BlockError(f"block summary has the wrong size (expected {size} bytes)")
    raw = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), size)
    cut = STATS * len(SCALARS) * 8
    scalars = raw[:, :cut].copy().view("<f8").reshape(len(blobs), STATS, len(SCALARS))
    neuron = raw[:, cut:].copy().view(dtype).reshape(len(blobs), STATS, len(NEURON), hidden)
    return scalars, neuron


def downsample(step_first, step_last, first, low, high, last, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge rows into `groups` buckets and keep each bucket's extremes.

    Rows are snapshots (first = low = high = last) or block summaries. Each bucket becomes two
    points, its minimum and its maximum, placed at its first and last step in the order the
    series went (falling buckets put the maximum first), so peaks and dips survive at any zoom.
    Returns (steps (2g,), values (2g, ...)); a bucket of a single step gives one point.
    """
    rows = len(step_first)
    starts = np.unique(np.linspace(0, rows, groups + 1).astype(np.int64)[:-1])
    ends = np.append(starts[1:], rows) - 1
    # A loop of contiguous reductions: several times faster than reduceat over axis 0 here.
    lo = np.stack([np.fmin.reduce(low[a : b + 1], axis=0) for a, b in zip(starts, ends)])
    hi = np.stack([np.fmax.reduce(high[a : b + 1], axis=0) for a, b in zip(starts, ends)])
    rising = last[ends] >= first[starts]
    values = np.empty((2 * len(starts),) + low.shape[1:], dtype=low.dtype)
    values[0::2] = np.where(rising, lo, hi)
    values[1::2] = np.where(rising, hi, lo)
    steps = np.empty(2 * len(starts), dtype=np.int64)
    steps[0::2] = step_first[starts]
    steps[1::2] = step_last[ends]
    keep = np.ones(len(steps), dtype=bool)
    keep[1::2] = steps[1::2] != steps[0::2]
    return steps[keep], values[keep]
