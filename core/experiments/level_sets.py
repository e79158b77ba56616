"""level-sets: Freeman & Bruna's polynomial-regression study of level-set connectivity, with
relulab's networks.

Pairs of independently trained shallow ReLU networks (one input plus a hidden bias, MSE,
full-batch GD) fit a quadratic and a cubic target on [-1, 1]. Each pair is joined by dynamic
string sampling (core/connect.py, full space, neurons aligned) at several loss levels; measured
are the normalised geodesic length and the number of beads against the level, for several widths.
Levels are fractions of the target's variance (the loss of the best constant), so quadratic and
cubic read on one scale; a level at or below a pair's own losses is not asked (NaN).
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np

from core.config import Config, config_from_dict
from core.connect import ConnectSettings, connect
from core.data import Dataset
from core.errors import UserError
from core.experiments.common import Progress, check_stop, say
from core.train import device_label, resolve_device, sweep, unstack

TARGETS = {"quadratic": lambda x: x**2, "cubic": lambda x: x**3}
SAMPLES = 64
LEVELS = (0.1, 0.03, 0.01, 0.003, 0.001, 0.0003)  # L0 / Var(y)
CONNECT = dict(max_beads=48, steps=2000, points=16)  # string sampling's budget per connection

LEVEL_SETS_BASE = {
    "model": {"inputs": 1, "hidden": 4, "bias": True, "activation": "relu"},
    "init": {"scheme": "xavier_normal"},
    "data": {"name": "abs", "samples": SAMPLES},  # the inputs only; targets are set per target below
    "train": {"loss": "mse", "optimizer": "gd", "dtype": "float64"},
}


def target_dataset(target: str) -> Dataset:
    """y = x^2 or x^3 on SAMPLES evenly spaced points of [-1, 1]."""
    x = np.linspace(-1.0, 1.0, SAMPLES)[:, None]
    return Dataset(target, x, TARGETS[target](x), None, None)


@dataclass
class LevelSetsResult:
    targets: list[str]
    widths: np.ndarray  # (W,)
    seeds: np.ndarray  # (2 P,) network i of pair p has seed seeds[2 p + i]
    levels: np.ndarray  # (V,) L0 / Var(y)
    variance: np.ndarray  # (T,) Var(y) of each target
    final_loss: np.ndarray  # (T, W, P, 2) train MSE of both networks of each pair
    normalized_length: np.ndarray  # (T, W, P, V) NaN where not asked or not connected
    beads: np.ndarray  # (T, W, P, V) beads used (NaN where not asked)
    connected: np.ndarray  # (T, W, P, V) 1 connected, 0 not found, NaN not asked
    barrier: np.ndarray  # (T, W, P, V)
    config: Config  # the base network (hidden varies per width); the data are `target_dataset`
    steps: int
    lr: float
    device: str
    seconds: float

    def mean(self, key: str) -> np.ndarray:
        """(T, W, V) mean over pairs, ignoring NaN."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(getattr(self, key), axis=2)

    def cells(self) -> list[dict]:
        rows = []
        length, beads, connected = self.mean("normalized_length"), self.mean("beads"), self.mean("connected")
        asked = np.isfinite(self.connected).sum(axis=2)
        for t, target in enumerate(self.targets):
            for w, width in enumerate(self.widths):
                for v, level in enumerate(self.levels):
                    rows.append({"target": target, "hidden": int(width), "level_fraction": float(level),
                                 "level": float(level * self.variance[t]), "pairs_asked": int(asked[t, w, v]),
                                 "connected_fraction": float(connected[t, w, v]),
                                 "normalized_length": float(length[t, w, v]), "beads": float(beads[t, w, v])})
        return rows

    def findings(self) -> dict:
        """What the numbers say about Freeman & Bruna's two claims, per target: the length grows
        as the level drops (per width: the lowest level measured against the highest), and wider
        networks give straighter paths (per level: each width against the next wider one, where
        both were measured)."""
        length = self.mean("normalized_length")
        out = {}
        for t, target in enumerate(self.targets):
            grows, total = 0, 0
            for w in range(len(self.widths)):
                row = length[t, w][np.isfinite(length[t, w])]
                if len(row) >= 2:
                    total += 1
                    grows += bool(row[-1] > row[0])
            pairs = [(length[t, w, v], length[t, w + 1, v]) for v in range(len(self.levels))
                     for w in range(len(self.widths) - 1)
                     if np.isfinite(length[t, w, v]) and np.isfinite(length[t, w + 1, v])]
            straighter = int(sum(bool(wide <= narrow) for narrow, wide in pairs))
            asked = np.isfinite(self.connected[t])
            out[target] = {
                "verdict": (f"normalised length grows as the level drops for {grows} of {total} widths; "
                            f"the wider network's path is as straight or straighter in {straighter} of "
                            f"{len(pairs)} comparisons of neighbouring widths at one level"),
                "length_grows_as_level_drops": [grows, total],
                "wider_straighter": [straighter, len(pairs)],
                "connected_fraction": float(self.connected[t][asked].mean()) if asked.any() else None,
            }
        return out


def level_sets(widths=(4, 8, 16), seeds=range(6), steps: int = 5000, lr: float = 0.05, device: str = "auto", *,
               levels=LEVELS, stop: threading.Event | None = None, progress: Progress | None = None) -> LevelSetsResult:
    """Train the networks of each (target, width) as one batched sweep, then connect each pair
    (seeds 0 and 1, 2 and 3, ...) at every level above both of its losses."""
    widths, seeds = [int(w) for w in widths], [int(s) for s in seeds]
    if len(seeds) < 2:
        raise UserError("--seeds: level-sets needs at least 2 seeds (one pair of networks)")
    pairs = len(seeds) // 2
    seeds = seeds[:2 * pairs]
    started = time.perf_counter()
    dev = resolve_device(device)
    T, W, P, V = len(TARGETS), len(widths), pairs, len(levels)
    shape = (T, W, P, V)
    final_loss = np.full((T, W, P, 2), np.nan)
    length, beads, connected, barrier = (np.full(shape, np.nan) for _ in range(4))
    variance = np.zeros(T)
    jobs, done = T * W * (1 + P * V), 0
    base = None
    for t, target in enumerate(TARGETS):
        data = target_dataset(target)
        variance[t] = float(np.var(data.y_train))
        for w, width in enumerate(widths):
            check_stop(stop)
            config = network_config(width, steps, lr, device)
            base = base or config
            say(progress, done / jobs, f"level-sets: training {target}, l = {width}")
            trained = sweep(config, seeds=seeds, dataset=data, stop=stop)
            check_stop(stop)
            done += 1
            nets = [unstack(trained.final_weights, i, config.model.bias) for i in range(len(seeds))]
            final_loss[t, w] = trained.final_loss.reshape(P, 2)
            for p in range(P):
                for v, fraction in enumerate(levels):
                    done += 1
                    level = fraction * variance[t]
                    if not level > np.nanmax(final_loss[t, w, p]):
                        continue
                    check_stop(stop)
                    say(progress, done / jobs, f"level-sets: {target}, l = {width}, pair {p}, L0 = {level:.3g}")
                    settings = ConnectSettings(level=level, lr=lr, **CONNECT)
                    found = connect(config, data, nets[2 * p], nets[2 * p + 1], settings, device=str(dev), stop=stop)
                    connected[t, w, p, v] = float(found.connected)
                    beads[t, w, p, v] = found.beads
                    barrier[t, w, p, v] = found.barrier
                    if found.connected:
                        length[t, w, p, v] = found.normalized_length
    return LevelSetsResult(
        targets=list(TARGETS), widths=np.array(widths), seeds=np.array(seeds), levels=np.array(levels, float),
        variance=variance, final_loss=final_loss, normalized_length=length, beads=beads, connected=connected,
        barrier=barrier, config=base, steps=steps, lr=lr, device=device_label(dev),
        seconds=time.perf_counter() - started,
    )


def network_config(width: int, steps: int, lr: float, device: str) -> Config:
    data = {s: dict(v) for s, v in LEVEL_SETS_BASE.items()}
    data["model"]["hidden"] = width
    data["train"].update(steps=steps, lr=lr, device=device, log_every=max(1, steps // 10))
    return config_from_dict(data, "level-sets experiment")
