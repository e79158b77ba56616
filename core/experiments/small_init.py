"""small-init: directional convergence to the KKT points of the neural correlation function.

Two measurements (Kumar & Haupt, 2024; docs/science.md, "Small initialisation"):

- alignment: X = {e1, e2}, y = (+1, -1), relu without bias, l = 6 neurons drawn N(0, scale^2),
  full-batch GD on MSE stopped when ||theta|| first reaches STOP_NORM. For every neuron that grows
  (the NCF flow from its initial point does not leave it dead: core.ncf.predict), 1 - cos between
  W_k and the KKT direction of its sign nearest to it, and the balance |c_k| / (||W_k||^2 + ||v_k||^2).
  The theory says both go to 0 as the scale does.
- saddles: X = {e1, e2}, y = (1, -0.5), relu without bias, initial scale 1e-6. The neurons headed
  for e1 (rate 2N* = 1) escape the origin first and fit sample 1; the loss rests on a plateau
  until the neurons headed for e2 (rate 0.5) escape. At every plateau the residual NCF
  (core.ncf.saddle) predicts which neuron escapes next and in which direction; the run shows
  which one did.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from core import ncf
from core.config import Config, config_from_dict
from core.data import Dataset
from core.experiments.common import Progress, check_stop, say
from core.init import initial_params
from core.snapshot import Params
from core.train import Sweep, device_label, resolve_device

STOP_NORM = 0.05  # the alignment runs stop when ||theta|| first reaches this
ESCAPED_NORM = 0.1  # saddles: a neuron has escaped once ||theta_k|| reaches this
PLATEAU_FALL = 1e-4  # saddles: on a plateau the loss falls by less than this fraction per step

ALIGNMENT_DATA = (np.eye(2), np.array([[1.0], [-1.0]]))
SADDLE_DATA = (np.eye(2), np.array([[1.0], [-0.5]]))


def small_config(hidden: int, scale: float, seed: int, lr: float, steps: int, device: str = "cpu") -> Config:
    """A relu network without bias, N(0, scale^2) initialisation, float64 GD on MSE."""
    return config_from_dict({
        "model": {"hidden": hidden, "bias": False, "activation": "relu"},
        "init": {"scheme": "normal", "std": scale, "seed": seed},
        # The data are given directly (ALIGNMENT_DATA / SADDLE_DATA); the name is a placeholder
        # the schema needs and nothing loads.
        "data": {"name": "teacher"},
        "train": {"loss": "mse", "optimizer": "gd", "lr": lr, "steps": steps, "dtype": "float64", "device": device},
    }, "small-init experiment")


def dataset_of(data: tuple[np.ndarray, np.ndarray], name: str) -> Dataset:
    return Dataset(name, data[0].copy(), data[1].copy(), None, None)


def theta_norms(w) -> np.ndarray:
    """||theta_k|| of every network and neuron: (N, l)."""
    return np.sqrt((w.incoming_sq() + w.outgoing_sq()).cpu().numpy())


def train_to_norm(config: Config, dataset: Dataset, params: list[Params], stop_norm: float = STOP_NORM,
                  max_steps: int = 100_000) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """GD on every network (one batched Sweep) until ||theta|| first reaches stop_norm; returns each
    network's (W, V) at that step and the step."""
    s = Sweep(config, params, dataset, resolve_device(config.train.device))
    N = s.networks
    stopped = np.full(N, -1)
    points: list = [None] * N
    for step in range(max_steps + 1):
        total = np.sqrt((theta_norms(s.w) ** 2).sum(1))
        for i in np.flatnonzero((stopped < 0) & (total >= stop_norm)):
            stopped[i] = step
            points[i] = (s.w.W[i].cpu().numpy().copy(), s.w.V[i].cpu().numpy().copy())
        if (stopped >= 0).all() or step == max_steps:
            break
        s.step()
    for i in np.flatnonzero(stopped < 0):
        points[i] = (s.w.W[i].cpu().numpy().copy(), s.w.V[i].cpu().numpy().copy())
    return points, stopped


@dataclass
class SaddleStep:
    """One plateau of the saddle-to-saddle run: the prediction made there and what happened next."""

    step: int  # where the prediction was made
    loss: float
    grown: list[int]
    predicted_neuron: int
    predicted_direction: list[float]
    predicted_value: float  # N* of the residual NCF's KKT direction
    escaped_neuron: int  # the neuron that escaped next (-1: none within the budget)
    escaped_step: int
    predicted_escape_step: float  # where the linearised residual flow said it would reach ESCAPED_NORM
    cosine: float  # between the escaped neuron's W at its escape and the predicted direction

    def to_dict(self) -> dict:
        return dict(vars(self))


@dataclass
class SmallInitResult:
    scales: np.ndarray  # (S,)
    seeds: np.ndarray  # (R,)
    one_minus_cos: np.ndarray  # (S, R, l) per neuron; NaN where the neuron did not grow
    balance: np.ndarray  # (S, R, l) |c_k| / (||W_k||^2 + ||v_k||^2) at the stop; NaN where it did not grow
    predicted_cosine: np.ndarray  # (S, R, l) cos(W_k, predicted limit direction); NaN where it did not grow
    stop_step: np.ndarray  # (S, R)
    kkt: list[dict]
    saddle_steps: np.ndarray  # (T,)
    saddle_loss: np.ndarray  # (T,)
    saddle_norms: np.ndarray  # (T, l) ||theta_k||
    sequence: list[SaddleStep]
    saddle_kkt: list[dict]  # KKT directions of the NCF at the origin (first plateau)
    lr: float
    device: str
    seconds: float
    configs: dict = field(default_factory=dict)

    def alignment(self) -> list[dict]:
        out = []
        for i, scale in enumerate(self.scales):
            values = self.one_minus_cos[i]
            balance = self.balance[i]
            grown = np.isfinite(values)
            out.append({
                "scale": float(scale),
                "max_one_minus_cos": float(np.max(values[grown])) if grown.any() else None,
                "median_one_minus_cos": float(np.median(values[grown])) if grown.any() else None,
                "max_balance": float(np.max(balance[grown])) if grown.any() else None,
                "min_predicted_cosine": float(np.nanmin(self.predicted_cosine[i])) if grown.any() else None,
                "grown": int(grown.sum()),
                "neurons": int(values.size),
            })
        return out

    def findings(self) -> dict:
        """Conclusions computed from the measurements."""
        rows = self.alignment()
        have = [r for r in rows if r["max_one_minus_cos"] is not None and r["max_one_minus_cos"] > 0]
        slope = None
        if len(have) >= 2:
            x = np.log10([r["scale"] for r in have])
            y = np.log10([r["max_one_minus_cos"] for r in have])
            slope = float(np.polyfit(x, y, 1)[0])
        errors = [r["max_one_minus_cos"] for r in rows if r["max_one_minus_cos"] is not None]
        decreasing = all(b < a for a, b in zip(errors, errors[1:])) if len(errors) >= 2 else None
        correct = [s.predicted_neuron == s.escaped_neuron for s in self.sequence if s.escaped_neuron >= 0]
        return {
            "alignment_decreases_with_scale": decreasing,
            "log_log_slope": slope,
            "saddles": len(self.sequence),
            "next_escape_predicted": int(sum(correct)),
            "escapes_seen": len(correct),
            "min_escape_cosine": float(min((s.cosine for s in self.sequence if s.escaped_neuron >= 0),
                                           default=float("nan"))),
        }


def alignment_runs(scales, seeds, hidden: int, lr: float, stop: threading.Event | None,
                   progress: Progress | None, device: str = "cpu"):
    dataset = dataset_of(ALIGNMENT_DATA, "e1, e2 -> +1, -1")
    problem = ncf.Problem(dataset.x_train, ncf.correlation_targets(dataset.y_train, "mse", 1), 1.0, 0.0, "relu")
    table = ncf.kkt_directions(problem)
    S, R = len(scales), len(seeds)
    one_minus_cos = np.full((S, R, hidden), np.nan)
    balance = np.full((S, R, hidden), np.nan)
    predicted = np.full((S, R, hidden), np.nan)
    stop_step = np.zeros((S, R), dtype=np.int64)
    for i, scale in enumerate(scales):
        check_stop(stop)
        say(progress, 0.6 * i / S, f"small-init: scale {scale:g}")
        configs = [small_config(hidden, scale, seed, lr, 1, device) for seed in seeds]
        params = [initial_params(c, dataset.inputs) for c in configs]
        points, stopped = train_to_norm(configs[0], dataset, params)
        stop_step[i] = stopped
        for r, ((W, V), p) in enumerate(zip(points, params)):
            W0, V0 = ncf.params_arrays(p)
            prediction = ncf.predict(problem, W0, V0, table, step=lr)
            found = ncf.alignment(W, V, table, prediction)
            grown = prediction.kkt >= 0
            one_minus_cos[i, r] = np.where(grown, 1.0 - found.nearest_cosine, np.nan)
            balance[i, r] = np.where(grown, found.balance, np.nan)
            predicted[i, r] = np.where(grown, found.cosine_predicted, np.nan)
    return one_minus_cos, balance, predicted, stop_step, table


def saddle_run(hidden: int, scale: float, seed: int, lr: float, steps: int, stop: threading.Event | None,
               progress: Progress | None, device: str = "cpu"):
    """Train one small network through its saddles; at each plateau, predict the next escape."""
    dataset = dataset_of(SADDLE_DATA, "e1, e2, e3 -> 1, -0.5, 0.25")
    config = small_config(hidden, scale, seed, lr, steps, device)
    params = initial_params(config, dataset.inputs)
    problem = ncf.Problem(dataset.x_train, ncf.correlation_targets(dataset.y_train, "mse", 1), 1.0, 0.0, "relu")
    s = Sweep(config, [params], dataset, resolve_device(device))
    every = max(1, steps // 2000)
    record_steps, losses, norms, Ws, Vs = [], [], [], [], []
    for t in range(steps + 1):
        if t % every == 0 or t == steps:
            record_steps.append(t)
            losses.append(float(s.evaluate()["train_loss"][0]))
            norms.append(theta_norms(s.w)[0])
            Ws.append(s.w.W[0].cpu().numpy().copy())
            Vs.append(s.w.V[0].cpu().numpy().copy())
            if t % (every * 200) == 0:
                check_stop(stop)
                say(progress, 0.6 + 0.3 * t / steps, f"small-init: saddles, step {t}/{steps}")
        if t == steps:
            break
        s.step()
    norms, losses = np.array(norms), np.array(losses)
    reached = norms >= ESCAPED_NORM
    escaped_at = np.where(reached.any(0), np.argmax(reached, 0), len(norms))  # record index, len: never
    # Walk the plateaus: the origin first, then the flattest stretch after each escape.
    falling = np.abs(np.diff(losses)) / (np.maximum(np.abs(losses[:-1]), 1e-300) * np.diff(record_steps))
    sequence, at = [], 0
    while True:
        grown = norms[at] >= ESCAPED_NORM
        found = ncf.saddle(problem, dataset.y_train, "mse", Ws[at], Vs[at], step=lr, small=~grown,
                           escape_norm=ESCAPED_NORM)
        later = [k for k in range(hidden) if not grown[k] and at < escaped_at[k] < len(norms)]
        escaped = min(later, key=lambda k: (escaped_at[k], -norms[escaped_at[k], k])) if later else -1
        direction = found.kkt[found.next_kkt].direction if found.next_kkt >= 0 else np.full(problem.d_eff, np.nan)
        index = escaped_at[escaped] if escaped >= 0 else len(norms) - 1
        w_escape = Ws[index][escaped] if escaped >= 0 else np.full(problem.d_eff, np.nan)
        sequence.append(SaddleStep(
            step=int(record_steps[at]), loss=float(losses[at]), grown=[int(k) for k in np.flatnonzero(grown)],
            predicted_neuron=int(found.next_neuron), predicted_direction=[float(a) for a in direction],
            predicted_value=float(found.kkt[found.next_kkt].value) if found.next_kkt >= 0 else float("nan"),
            escaped_neuron=int(escaped), escaped_step=int(record_steps[index]) if escaped >= 0 else -1,
            predicted_escape_step=float(record_steps[at] + found.escape_steps[found.next_neuron])
            if found.next_neuron >= 0 else float("nan"),
            cosine=float(w_escape @ direction / max(float(np.linalg.norm(w_escape)), 1e-300)),
        ))
        if escaped < 0:
            break
        # The next plateau: the flattest point of the loss between this escape and the next one.
        grown_now = norms[index] >= ESCAPED_NORM
        upcoming = [escaped_at[k] for k in range(hidden) if not grown_now[k] and escaped_at[k] < len(norms)]
        if not upcoming or min(upcoming) <= index + 1:
            break
        at = index + 1 + int(np.argmin(falling[index + 1:min(upcoming)]))
        if falling[at] > PLATEAU_FALL:  # no plateau: the next neurons escape with this group
            break
    table = ncf.kkt_directions(problem)
    return np.array(record_steps), np.array(losses), norms, sequence, [k.to_dict() for k in table], config


def small_init(scales=(1e-2, 1e-3, 1e-4, 1e-6), seeds=(0, 1, 2, 3), hidden: int = 6, lr: float = 0.05,
               saddle_steps: int = 4000, saddle_scale: float = 1e-6, device: str = "cpu", *,
               stop: threading.Event | None = None, progress: Progress | None = None) -> SmallInitResult:
    """Alignment error against the initialisation scale, and the saddle-to-saddle sequence."""
    started = time.perf_counter()
    scales = sorted({float(s) for s in scales}, reverse=True)
    one_minus_cos, balance, predicted, stop_step, table = alignment_runs(scales, list(seeds), hidden, lr, stop, progress,
                                                                         device)
    steps, loss, norms, sequence, saddle_kkt, saddle_config = saddle_run(
        hidden, saddle_scale, int(seeds[0]), lr, saddle_steps, stop, progress, device)
    say(progress, 1.0, "small-init: done")
    configs = {"alignment": small_config(hidden, scales[0], int(seeds[0]), lr, 1, device), "saddles": saddle_config}
    return SmallInitResult(
        scales=np.array(scales), seeds=np.array(list(seeds)), one_minus_cos=one_minus_cos, balance=balance,
        predicted_cosine=predicted, stop_step=stop_step, kkt=[k.to_dict() for k in table], saddle_steps=steps,
        saddle_loss=loss, saddle_norms=norms, sequence=sequence, saddle_kkt=saddle_kkt, lr=lr,
        device=device_label(resolve_device(device)), seconds=time.perf_counter() - started, configs=configs,
    )
