"""The paper's evidence (and one step beyond it), as pure numerics: parameters in, arrays out.

    toy            the obstruction in its simplest form: y = |x| with two ReLU neurons
    breast_cancer  test loss over hidden width l and the number l_+ of non-pathological neurons
    probability    P(obstructed initialisation) over inputs d and width l: closed form vs Monte Carlo
    mitigation     the breast-cancer grid again, every neuron rescaled to c_k >= 0 at init

Source: Nurisso, Leroy & Vaccarino, "Topological obstruction to the training of shallow ReLU
neural networks" (NeurIPS 2024); DESIGN.md section 1 has the theory. Training always goes through
the batched engine (`core.train.sweep`): one call per hidden width, every seed and every l_+ of
that width trained as one set of tensors. No terminal and no files here: lab/experiment_cli.py
and lab/experiment_screen.py show the results, the session store keeps them.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from core.config import Config, config_from_dict, config_to_dict, replace
from core.data import load_dataset
from core.errors import UserError
from core.init import NORMAL_SCHEMES, initial_params, rebalance, scheme_spread
from core.invariants import classify, classify_params
from core.probability import closed_form
from core.snapshot import Params
from core.train import Sweep, device_label, resolve_device, sweep

NAMES = ("toy", "breast-cancer", "probability", "mitigation")

# Default and --quick parameters of every experiment. Seeds are a count here (seeds 0..n-1).
PRESETS: dict[str, dict[str, dict]] = {
    "toy": {
        "full": dict(steps=3000, lr=0.05),
        "quick": dict(steps=1500, lr=0.05),
    },
    "breast-cancer": {
        "full": dict(widths=(2, 4, 6, 8, 10, 12, 14, 16), seeds=20, steps=2000, lr=0.1),
        "quick": dict(widths=(2, 4, 8), seeds=8, steps=1000, lr=0.1),
    },
    "probability": {
        "full": dict(max_inputs=30, max_hidden=30, samples=100_000),
        "quick": dict(max_inputs=10, max_hidden=10, samples=20_000),
    },
    "mitigation": {
        "full": dict(widths=(2, 4, 6, 8, 10, 12, 14, 16), seeds=20, steps=2000, lr=0.1),
        "quick": dict(widths=(2, 4, 8), seeds=8, steps=1000, lr=0.1),
    },
}

Progress = Callable[[float, str], None]  # (fraction done, what is running now)


class Stopped(Exception):
    """Raised when the caller's stop event is set between two training calls."""


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise Stopped("stopped")


def _say(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)


# ------------------------------------------------------------------------------------------------
# toy: y = |x| on [-1, 1], 1 input + bias, 2 hidden ReLU neurons, MSE, full-batch GD
# ------------------------------------------------------------------------------------------------

# The explicit weights of examples/abs_obstructed.toml. Both neurons start with ||W_k|| = 0.6 <
# ||v_k|| = 1, so c_k = -0.64: pathological, the sign of v_k is frozen. |x| needs both output
# weights positive. A random prescribed "++" init is not used: there the two neurons can end on
# the same side of x = 0, a local minimum that has nothing to do with topology.
TOY_BASE = {
    "model": {"hidden": 2, "bias": True, "activation": "relu"},
    "init": {"hidden_weight": [[0.6], [-0.6]], "hidden_bias_values": [0.0, 0.0]},
    "data": {"name": "abs", "samples": 64},
    "train": {"loss": "mse", "optimizer": "gd", "dtype": "float64"},
}
TOY_RUNS = {
    # label: [init] values on top of TOY_BASE
    "obstructed (+,-)": {"output_weight": [[1.0, -1.0]]},
    "free (+,+)": {"output_weight": [[1.0, 1.0]]},
    # The control is the obstructed network rescaled neuron by neuron (||W_k|| = 1, |v_k| = 0.6):
    # the same function at init, the same output signs, but c_k = +0.64: no frozen sign.
    "control: rebalanced (+,-)": {"output_weight": [[1.0, -1.0]], "rebalance": True},
}


@dataclass
class ToyResult:
    labels: list[str]
    configs: list[Config]  # one per run, exactly what was trained
    steps: np.ndarray  # (T,) training step of each record
    loss: np.ndarray  # (T, runs) train MSE
    w_norm: np.ndarray  # (T, runs, 2) ||W_k|| (bias included)
    v: np.ndarray  # (T, runs, 2) v_k
    c: np.ndarray  # (T, runs, 2) c_k = ||W_k||^2 - v_k^2
    initial: list[dict]  # classification of each run at init (Classification.to_dict)
    final: list[dict]  # ... and at the end
    final_loss: np.ndarray  # (runs,)
    device: str
    seconds: float

    def summary(self) -> list[dict]:
        return [
            {"run": label, "final_loss": float(self.final_loss[i]), "initial_c": self.initial[i]["c"],
             "final_c": self.final[i]["c"], "initial_status": self.initial[i]["status"],
             "final_status": self.final[i]["status"], "initial_v_sign": self.initial[i]["v_sign"],
             "final_v_sign": self.final[i]["v_sign"], "initial_signs": self.initial[i]["signs"],
             "final_signs": self.final[i]["signs"], "components": self.initial[i]["components"]}
            for i, label in enumerate(self.labels)
        ]


def toy_configs(steps: int = 3000, lr: float = 0.05, device: str = "auto") -> dict[str, Config]:
    configs = {}
    for label, init in TOY_RUNS.items():
        data = {s: dict(v) for s, v in TOY_BASE.items()}
        data["init"].update(init)
        data["train"].update(steps=steps, lr=lr, device=device, log_every=max(1, steps // 300))
        configs[label] = config_from_dict(data, "toy experiment")
    return configs


def toy(steps: int = 3000, lr: float = 0.05, device: str = "auto", *, stop: threading.Event | None = None,
        progress: Progress | None = None) -> ToyResult:
    """Train the obstructed, the free and the rebalanced toy networks side by side (one batch of 3)."""
    configs = toy_configs(steps, lr, device)
    first = next(iter(configs.values()))
    dataset = load_dataset(first)
    params = [initial_params(c, dataset.inputs) for c in configs.values()]
    started = time.perf_counter()
    dev = resolve_device(device)
    # Sweep is driven by hand here (not core.train.sweep) to record every neuron's (||W_k||, v_k)
    # along the way for the quadric view; all three networks still step as one batch.
    s = Sweep(first, params, dataset, dev)
    every = first.train.log_every
    steps_seen, losses, w2s, vs = [], [], [], []
    for t in range(steps + 1):
        if t % every == 0 or t == steps:
            steps_seen.append(t)
            losses.append(s.evaluate()["train_loss"].cpu().numpy().astype(np.float64))
            w2s.append(s.w.incoming_sq().cpu().numpy().astype(np.float64))
            vs.append(s.w.V[:, 0, :].cpu().numpy().astype(np.float64))
            if t % (every * 50) == 0:
                _say(progress, t / steps, f"toy: step {t}/{steps}")
        if t == steps or (stop is not None and stop.is_set()):
            break
        s.step()
    _check_stop(stop)
    w2, v = np.array(w2s), np.array(vs)
    c = w2 - v**2
    d_eff = dataset.inputs + first.model.bias
    initial = [classify_params(p).to_dict() for p in params]
    final = [classify(c[-1, i], np.sign(v[-1, i]), d_eff, 1, w2[-1, i] + v[-1, i] ** 2).to_dict()
             for i in range(len(params))]
    return ToyResult(
        labels=list(configs), configs=list(configs.values()), steps=np.array(steps_seen), loss=np.array(losses),
        w_norm=np.sqrt(w2), v=v, c=c, initial=initial, final=final, final_loss=np.array(losses[-1]),
        device=device_label(dev), seconds=time.perf_counter() - started,
    )


# ------------------------------------------------------------------------------------------------
# breast-cancer and mitigation: a grid over hidden width l and l_+ = 0..l, many seeds per cell
# ------------------------------------------------------------------------------------------------

BREAST_CANCER_BASE = {
    "model": {"hidden": 2, "bias": True, "activation": "relu"},
    "init": {"scheme": "xavier_normal"},
    "data": {"name": "breast_cancer"},
    "train": {"loss": "bce", "optimizer": "gd", "dtype": "float32"},
}
GRID_KEYS = ("test_loss", "train_loss", "test_accuracy", "sign_flips", "pathological", "positive", "diverged")


@dataclass
class GridResult:
    """Per-network outcomes on a (width, l_+, seed) grid; cells with l_+ > l are NaN."""

    widths: np.ndarray  # (W,) hidden widths l
    seeds: np.ndarray  # (S,)
    rebalanced: bool  # every neuron rescaled to c_k >= 0 before training
    test_loss: np.ndarray  # (W, max_l + 1, S) final BCE on the held-out 30 %
    train_loss: np.ndarray  # (W, max_l + 1, S)
    test_accuracy: np.ndarray  # (W, max_l + 1, S)
    sign_flips: np.ndarray  # (W, max_l + 1, S) neurons whose output sign changed during training
    pathological: np.ndarray  # (W, max_l + 1, S) l_- at init, as the engine measured it
    positive: np.ndarray  # (W, max_l + 1, S) neurons with v_k > 0 at init (free neurons draw their sign)
    diverged: np.ndarray  # (W, max_l + 1, S) 1.0 where the loss went non-finite
    min_initial_c: np.ndarray  # (W, max_l + 1, S) smallest c_k at init, as the engine measured it
    curve_steps: np.ndarray  # (T,)
    test_curve: np.ndarray  # (W, max_l + 1, T) test loss along training, mean over seeds
    config: Config  # the base config (hidden and [init] pathological / signs vary per cell)
    device: str
    seconds: float

    @property
    def l_plus(self) -> np.ndarray:
        return np.arange(self.test_loss.shape[1])

    def mean(self, key: str = "test_loss") -> np.ndarray:
        """(W, max_l + 1) mean over seeds, NaN where l_+ > l."""
        a = getattr(self, key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # cells with l_+ > l are all NaN
            return np.nanmean(a, axis=2)

    def stderr(self, key: str = "test_loss") -> np.ndarray:
        """(W, max_l + 1) standard error of the mean over seeds."""
        a = getattr(self, key)
        n = np.sum(np.isfinite(a), axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(np.nansum((a - self.mean(key)[..., None]) ** 2, axis=2) / np.maximum(n - 1, 1))
            return np.where(n > 0, sd / np.sqrt(np.maximum(n, 1)), np.nan)

    def cells(self) -> list[dict]:
        """One row per (l, l_+): the table the CLI prints and the CSV holds."""
        rows = []
        means = {k: self.mean(k) for k in GRID_KEYS}
        errors = {k: self.stderr(k) for k in ("test_loss", "train_loss", "test_accuracy")}
        for i, l in enumerate(self.widths):
            for lp in range(int(l) + 1):
                row = {"rebalanced": self.rebalanced, "l": int(l), "l_plus": lp, "fraction": lp / int(l),
                       "networks": int(np.sum(np.isfinite(self.test_loss[i, lp])))}
                for k in ("test_loss", "train_loss", "test_accuracy"):
                    row[k] = float(means[k][i, lp])
                    row[k + "_se"] = float(errors[k][i, lp])
                row["sign_flips"] = float(means["sign_flips"][i, lp])
                row["positive_at_init"] = float(means["positive"][i, lp])
                row["diverged"] = int(np.nansum(self.diverged[i, lp]))
                rows.append(row)
        return rows

    def runs(self) -> list[dict]:
        """One row per trained network."""
        rows = []
        for i, l in enumerate(self.widths):
            for lp in range(int(l) + 1):
                for j, seed in enumerate(self.seeds):
                    rows.append({"rebalanced": self.rebalanced, "l": int(l), "l_plus": lp, "seed": int(seed),
                                 **{k: float(getattr(self, k)[i, lp, j]) for k in GRID_KEYS},
                                 "min_initial_c": float(self.min_initial_c[i, lp, j])})
        return rows


def grid_findings(grid: GridResult, key: str = "test_loss") -> dict:
    """The numbers behind the paper's claim: does the loss follow the number l_+ or the fraction l_+/l?

    - at the largest width: the loss per l_+, its drop from l_+ = 0 to l_+ = l, the rank
      correlation with l_+ (-1: strictly decreasing), the largest rise from one l_+ to the next and
      whether every rise is within tolerance (2 s.e. of the difference, or 5 % of the drop);
    - spread_at_equal_number: cells with the same l_+ > 0 at different widths, mean absolute
      deviation from their group mean; spread_at_equal_fraction: the same for cells sharing an
      exact fraction l_+/l in (0, 1]. If the number is what matters, the first is the smaller.
    """
    mean, se = grid.mean(key), grid.stderr(key)
    last = len(grid.widths) - 1
    l_max = int(grid.widths[last])
    curve = mean[last, : l_max + 1]
    curve_se = se[last, : l_max + 1]
    by_number: dict[int, list[float]] = {}
    by_fraction: dict[tuple[int, int], list[float]] = {}
    for i, l in enumerate(grid.widths):
        for lp in range(1, int(l) + 1):
            value = float(mean[i, lp])
            by_number.setdefault(lp, []).append(value)
            g = math.gcd(lp, int(l))
            by_fraction.setdefault((lp // g, int(l) // g), []).append(value)

    def spread(groups) -> float:
        devs = [abs(x - np.mean(g)) for g in groups.values() if len(g) > 1 for x in g]
        return float(np.mean(devs)) if devs else float("nan")

    # Every network pooled, by how many neurons start with v_k > 0 (pathological ones are v_k < 0,
    # free ones draw their sign): separates "non-pathological" from "able to output positive".
    values, positive = getattr(grid, key).ravel(), grid.positive.ravel()
    ok = np.isfinite(values) & np.isfinite(positive)
    by_positive = {int(k): float(np.mean(values[ok & (positive == k)])) for k in np.unique(positive[ok])}
    steps_up = np.diff(curve)
    # Past saturation the curve is flat up to noise and small optimisation-speed effects: a step up
    # counts only beyond two standard errors of the difference and 5 % of the total drop.
    tolerance = np.maximum(2 * np.sqrt(curve_se[1:] ** 2 + curve_se[:-1] ** 2), 0.05 * abs(curve[0] - curve[-1]))
    return {
        "key": key,
        "largest_width": l_max,
        "loss_by_l_plus": [float(x) for x in curve],
        "loss_by_l_plus_se": [float(x) for x in curve_se],
        "drop": float(curve[0] - curve[-1]),
        "rank_correlation": _rank_correlation(np.arange(l_max + 1), curve),
        "largest_rise": float(max(0.0, np.max(steps_up, initial=0.0))),
        "non_increasing_within_tolerance": bool(np.all(steps_up <= tolerance)),
        "spread_at_equal_number": spread(by_number),
        "spread_at_equal_fraction": spread(by_fraction),
        "loss_by_positive_at_init": by_positive,
        "networks_by_positive_at_init": {int(k): int(np.sum(ok & (positive == k))) for k in np.unique(positive[ok])},
    }


def _rank_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho (average ranks for ties)."""
    def ranks(a):
        a = np.asarray(a, np.float64)
        order = np.argsort(a, kind="stable")
        r = np.empty(len(a))
        r[order] = np.arange(len(a))
        for value in np.unique(a):  # average the ranks of ties
            tied = a == value
            r[tied] = r[tied].mean()
        return r

    if len(x) < 2:
        return float("nan")
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def grid_config(steps: int, lr: float, device: str) -> Config:
    data = {s: dict(v) for s, v in BREAST_CANCER_BASE.items()}
    data["train"].update(steps=steps, lr=lr, device=device, log_every=max(1, steps // 50))
    return config_from_dict(data, "breast-cancer experiment")


def prescribed_params(config: Config, inputs: int, width: int, seeds: list[int]) -> list[Params]:
    """Initial networks of one width, ordered (l_+ = 0..l, seed): neurons 0..l_- - 1 pathological
    with negative output sign, the others free. The same seed gives the same raw draw for every l_+."""
    cfg = replace(config, "model", hidden=width)
    params = []
    for lp in range(width + 1):
        k = width - lp
        cfg_k = replace(cfg, "init", pathological=k, signs="-" * k if k else None)
        params += [initial_params(cfg_k, inputs, seed=s) for s in seeds]
    return params


def network_outputs(params: list[Params], x: np.ndarray) -> np.ndarray:
    """f(x) for a list of same-shape ReLU networks, in float64: (N, n). Used to check rescalings."""
    W = np.stack([p.incoming for p in params])  # (N, l, d_eff)
    v = np.stack([np.asarray(p.output_weight, np.float64)[0] for p in params])  # (N, l)
    xb = np.concatenate([x, np.ones((len(x), 1))], axis=1) if W.shape[2] == x.shape[1] + 1 else x
    h = np.maximum(np.einsum("nd,Nld->Nnl", xb, W), 0.0)
    return np.einsum("Nnl,Nl->Nn", h, v)


@dataclass
class RebalanceCheck:
    """What rebalancing did at init, over every network of the grid."""

    min_c_before: float  # smallest c_k before (negative: pathological neurons were there)
    min_c_after: float  # smallest c_k after, float64 (must be >= 0)
    max_output_change: float  # max |f_after(x) - f_before(x)| over networks and all inputs
    max_output: float  # max |f_before(x)|, the scale of the change above
    networks: int


def _train_grid(widths, seeds, steps, lr, device, rebalanced_variants, stop, progress):
    """Train every (variant, l_+, seed) of each width in one sweep call; returns GridResults + check.

    rebalanced_variants: (False,) trains the prescribed networks; (False, True) also their
    rebalanced copies, in the same sweep calls."""
    config = grid_config(steps, lr, device)
    dataset = load_dataset(config)
    x_all = np.concatenate([dataset.x_train, dataset.x_test])
    widths, seeds = [int(w) for w in widths], [int(s) for s in seeds]
    W, L, S = len(widths), max(widths) + 1, len(seeds)
    arrays = {v: {k: np.full((W, L, S), np.nan) for k in (*GRID_KEYS, "min_initial_c")} for v in rebalanced_variants}
    curves = {v: None for v in rebalanced_variants}
    check = dict(min_c_before=np.inf, min_c_after=np.inf, max_output_change=0.0, max_output=0.0, networks=0)
    total_work = sum(w * (w + 1) for w in widths)
    done_work = 0
    started = time.perf_counter()
    label = None
    curve_steps = None
    for i, l in enumerate(widths):
        _check_stop(stop)
        _say(progress, done_work / total_work,
             f"l = {l}: {len(rebalanced_variants) * (l + 1) * S} networks, {steps} steps")
        raw = prescribed_params(config, dataset.inputs, l, seeds)
        params = []
        for variant in rebalanced_variants:
            if variant:
                balanced = [rebalance(p) for p in raw]
                before, after = network_outputs(raw, x_all), network_outputs(balanced, x_all)
                check["min_c_before"] = min(check["min_c_before"], min(float(np.min(_c(p))) for p in raw))
                check["min_c_after"] = min(check["min_c_after"], min(float(np.min(_c(p))) for p in balanced))
                check["max_output_change"] = max(check["max_output_change"], float(np.max(np.abs(after - before))))
                check["max_output"] = max(check["max_output"], float(np.max(np.abs(before))))
                check["networks"] += len(raw)
                params += balanced
            else:
                params += raw
        result = sweep(replace(config, "model", hidden=l), params=params, dataset=dataset,
                       log_every=config.train.log_every, stop=stop)
        _check_stop(stop)
        label = result.device
        curve_steps = result.curve_steps
        n = (l + 1) * S
        for j, variant in enumerate(rebalanced_variants):
            part = slice(j * n, (j + 1) * n)

            def cell(a):
                return np.asarray(a[part], np.float64).reshape(l + 1, S)

            a = arrays[variant]
            a["test_loss"][i, : l + 1] = cell(result.final_test_loss)
            a["train_loss"][i, : l + 1] = cell(result.final_loss)
            a["test_accuracy"][i, : l + 1] = cell(result.final_test_accuracy)
            a["sign_flips"][i, : l + 1] = cell(np.sum(result.final_v_sign != result.initial_v_sign, axis=1))
            a["pathological"][i, : l + 1] = cell(result.pathological)
            a["positive"][i, : l + 1] = cell(np.sum(result.initial_v_sign > 0, axis=1))
            a["diverged"][i, : l + 1] = cell(result.diverged)
            a["min_initial_c"][i, : l + 1] = cell(result.initial_c.min(axis=1))
            if curves[variant] is None:
                curves[variant] = np.full((W, L, len(result.curve_steps)), np.nan)
            tc = result.test_loss_curve[:, part].reshape(len(result.curve_steps), l + 1, S)
            curves[variant][i, : l + 1] = np.nanmean(tc, axis=2).T
        done_work += l * (l + 1)
    _say(progress, 1.0, "done")
    seconds = time.perf_counter() - started
    grids = {
        variant: GridResult(
            widths=np.array(widths), seeds=np.array(seeds), rebalanced=variant, **arrays[variant],
            curve_steps=np.asarray(curve_steps), test_curve=curves[variant], config=config,
            device=label or device_label(resolve_device(device)), seconds=seconds,
        )
        for variant in rebalanced_variants
    }
    return grids, RebalanceCheck(**check) if check["networks"] else None


def _c(p: Params) -> np.ndarray:
    return np.sum(p.incoming**2, axis=1) - np.sum(np.asarray(p.output_weight, np.float64) ** 2, axis=0)


def _check_grid_args(widths, seeds, steps) -> None:
    if not widths or any(int(w) < 1 for w in widths):
        raise UserError(f"--widths {','.join(map(str, widths))}: every width must be an integer >= 1")
    if not seeds:
        raise UserError("--seeds: at least one seed")
    if steps < 1:
        raise UserError(f"--steps {steps}: must be an integer >= 1")


def breast_cancer(widths=PRESETS["breast-cancer"]["full"]["widths"], seeds=range(20), steps: int = 2000,
                  lr: float = 0.1, device: str = "auto", *, stop: threading.Event | None = None,
                  progress: Progress | None = None) -> GridResult:
    """For each width l and l_+ = 0..l, one network per seed with l_- = l - l_+ pathological neurons
    of negative output sign; full-batch GD on BCE, standardised breast-cancer data, fixed split."""
    _check_grid_args(widths, list(seeds), steps)
    grids, _ = _train_grid(widths, list(seeds), steps, lr, device, (False,), stop, progress)
    return grids[False]


@dataclass
class MitigationResult:
    prescribed: GridResult  # the breast-cancer grid
    rebalanced: GridResult  # the same initial networks, every neuron rescaled to c_k >= 0
    check: RebalanceCheck

    def findings(self) -> dict:
        """Per width: how much the mean test loss varies over l_+ (max - min), with and without."""
        out = {"widths": [int(w) for w in self.prescribed.widths]}
        for name, grid in (("prescribed", self.prescribed), ("rebalanced", self.rebalanced)):
            mean = grid.mean("test_loss")
            out[name + "_range_over_l_plus"] = [float(np.nanmax(m) - np.nanmin(m)) for m in mean]
            out[name + "_loss_at_l_plus_0"] = [float(m[0]) for m in mean]
            out[name + "_sign_flips"] = float(np.nanmean(grid.sign_flips))
        return out


def mitigation(widths=PRESETS["mitigation"]["full"]["widths"], seeds=range(20), steps: int = 2000,
               lr: float = 0.1, device: str = "auto", *, stop: threading.Event | None = None,
               progress: Progress | None = None) -> MitigationResult:
    """The breast-cancer grid twice, from the same initial networks: as prescribed, and rebalanced
    (`core.init.rebalance`, what `[init] rebalance = true` does): each pathological neuron's norms
    are swapped, (W_k, v_k) -> (a W_k, v_k / a) with a = ||v_k|| / ||W_k||, so c_k -> -c_k > 0 and
    the network computes exactly the same function. Both variants train in the same sweep calls."""
    _check_grid_args(widths, list(seeds), steps)
    grids, check = _train_grid(widths, list(seeds), steps, lr, device, (False, True), stop, progress)
    return MitigationResult(prescribed=grids[False], rebalanced=grids[True], check=check)


# ------------------------------------------------------------------------------------------------
# probability: P(obstructed initialisation) over inputs d and hidden width l
# ------------------------------------------------------------------------------------------------

PROBABILITY_SCHEMES = ("xavier_normal", "kaiming_normal")
PROBABILITY_KEYS = ("pathological", "disconnected", "all_pathological")


@dataclass
class ProbabilityResult:
    """Closed form and Monte Carlo on an (inputs d) x (hidden l) grid, one output, zero hidden bias.

    With a hidden bias that starts at zero d_eff = d + 1 >= 2, so a neuron's quadric splits only
    when it is pathological and H(c) is disconnected as soon as one neuron is.
    """

    schemes: list[str]
    inputs: np.ndarray  # (D,) d
    hidden: np.ndarray  # (L,) l
    pathological: np.ndarray  # (schemes, D, L) closed form p = P(F(1, d) > d s_w^2 / s_v^2)
    disconnected: np.ndarray  # 1 - (1 - p)^l
    all_pathological: np.ndarray  # p^l
    expected_effective: np.ndarray  # 1 + l p
    pathological_mc: np.ndarray  # fraction of sampled neurons (one per sampled network) with c < 0
    disconnected_mc: np.ndarray  # fraction of sampled networks with at least one c_k < 0
    all_pathological_mc: np.ndarray  # fraction of sampled networks with every c_k < 0
    expected_effective_mc: np.ndarray  # 1 + l * pathological_mc (neurons are iid)
    samples: int  # networks sampled per cell
    seed: int
    device: str
    seconds: float
    mc_seconds: float

    def stderr(self, key: str) -> np.ndarray:
        """Binomial standard error of the Monte Carlo fraction, at the closed-form value."""
        p = getattr(self, key)
        return np.sqrt(p * (1 - p) / self.samples)

    def z(self, key: str) -> np.ndarray:
        """(MC - closed form) in standard errors; 0 where both are exactly 0 or 1."""
        diff = getattr(self, key + "_mc") - getattr(self, key)
        se = self.stderr(key)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(se > 0, diff / np.where(se > 0, se, 1), np.where(diff == 0, 0.0, np.inf))

    def cells(self) -> list[dict]:
        rows = []
        zs = {k: self.z(k) for k in PROBABILITY_KEYS}
        for s, scheme in enumerate(self.schemes):
            for i, d in enumerate(self.inputs):
                for j, l in enumerate(self.hidden):
                    row = {"scheme": scheme, "d": int(d), "l": int(l)}
                    for k in PROBABILITY_KEYS:
                        row[k] = float(getattr(self, k)[s, i, j])
                        row[k + "_mc"] = float(getattr(self, k + "_mc")[s, i, j])
                        row[k + "_z"] = float(zs[k][s, i, j])
                    row["expected_effective"] = float(self.expected_effective[s, i, j])
                    row["expected_effective_mc"] = float(self.expected_effective_mc[s, i, j])
                    rows.append(row)
        return rows

    def findings(self) -> dict:
        p = self.pathological
        ok = {k: float(np.max(np.abs(self.z(k)))) for k in PROBABILITY_KEYS}
        # Kaiming's threshold is l, Xavier's d (l + 1) / (d + l): Kaiming is lower exactly where l^2 > d.
        out = {"max_abs_z": ok, "samples": self.samples}
        out["monotone_in_d"] = {s: bool(np.all(np.diff(p[i], axis=0) <= 1e-12)) for i, s in enumerate(self.schemes)}
        if "xavier_normal" in self.schemes and "kaiming_normal" in self.schemes:
            x, k = p[self.schemes.index("xavier_normal")], p[self.schemes.index("kaiming_normal")]
            d, l = np.meshgrid(self.inputs, self.hidden, indexing="ij")
            out["kaiming_lower_fraction"] = float(np.mean(k < x))
            out["kaiming_lower_where_l2_gt_d"] = bool(np.all((k < x)[l * l > d]))
        for i, s in enumerate(self.schemes):
            out[s] = {"p_at_d1": [float(x) for x in p[i, 0]], "p_at_dmax": [float(x) for x in p[i, -1]],
                      "disconnected_max": float(self.disconnected[i].max()),
                      "disconnected_at_dmax_lmax": float(self.disconnected[i, -1, -1])}
        return out


def _thresholds(schemes, inputs, hidden) -> np.ndarray:
    """(schemes, D, L) of s_w^2 / s_v^2: a neuron is pathological iff z_v^2 / ||z_w||^2 exceeds it."""
    t = np.empty((len(schemes), len(inputs), len(hidden)))
    for s, scheme in enumerate(schemes):
        for i, d in enumerate(inputs):
            for j, l in enumerate(hidden):
                _, s_w = scheme_spread(scheme, int(d), int(l))
                _, s_v = scheme_spread(scheme, int(l), 1)
                t[s, i, j] = s_w**2 / s_v**2
    return t


def obstruction_monte_carlo(schemes, inputs, hidden, samples: int, seed: int = 0, device: str = "cpu",
                            stop: threading.Event | None = None) -> dict[str, np.ndarray]:
    """Counts of pathological neurons, disconnected and all-pathological networks on the whole grid.

    Actual weights are drawn: w = s_w z_w (d entries), v = s_v z_v, zero hidden bias. Their neuron
    is pathological iff s_w^2 ||z_w||^2 < s_v^2 z_v^2, i.e. R = z_v^2 / ||z_w||^2 > s_w^2 / s_v^2,
    so one standard draw serves every scheme. Each of the `samples` networks draws max(l) neurons
    with max(d) inputs; the network of width l and d inputs is its first l neurons and their first
    d inputs (prefix sums give ||z_w||^2 for every d, running max / min over neurons give "any" and
    "every" for every l). Each cell is therefore an honest `samples`-network estimate; cells share
    draws (common random numbers), which makes neighbouring cells correlated, not biased.
    """
    dev = resolve_device(device)
    inputs, hidden = np.asarray(inputs), np.asarray(hidden)
    D, L = int(inputs.max()), int(hidden.max())
    d_index = torch.as_tensor(inputs - 1, device=dev)
    l_index = torch.as_tensor(hidden - 1, device=dev)

    def on_grid(a: torch.Tensor, neurons: bool = True) -> torch.Tensor:
        # Slicing is free; index_select copies, so it is used only for a grid with gaps.
        a = a[:D] if len(inputs) == D else a.index_select(0, d_index)
        return a if not neurons or len(hidden) == L else a.index_select(1, l_index)
    t = torch.as_tensor(_thresholds(schemes, inputs, hidden), dtype=torch.float32, device=dev)[..., None]
    counts = {k: torch.zeros(t.shape[:3], dtype=torch.int64, device=dev) for k in PROBABILITY_KEYS}
    g = torch.Generator(device=dev).manual_seed(seed)
    chunk = max(1, min(samples, (1 << 23) // (D * L)))  # ~32 MB per float32 (D, L, chunk) tensor
    done = 0
    while done < samples:
        _check_stop(stop)
        n = min(chunk, samples - done)
        z_w = torch.randn(D, L, n, generator=g, device=dev)
        z_v = torch.randn(L, n, generator=g, device=dev)
        ratio = torch.cumsum(z_w.square_(), dim=0).reciprocal_().mul_(z_v.square_())  # (D, L, n)
        hi, lo = ratio.clone(), ratio.clone()  # running max / min over the first l neurons
        for k in range(1, L):
            torch.maximum(hi[:, k], hi[:, k - 1], out=hi[:, k])
            torch.minimum(lo[:, k], lo[:, k - 1], out=lo[:, k])
        first = on_grid(ratio[:, :1], neurons=False)  # neuron 0 of each network: one neuron sample each
        hi, lo = on_grid(hi), on_grid(lo)  # (D', L', n): the grid's cells only
        counts["pathological"] += (first > t).sum(-1)
        counts["disconnected"] += (hi > t).sum(-1)
        counts["all_pathological"] += (lo > t).sum(-1)
        done += n
    return {k: v.cpu().numpy() for k, v in counts.items()}


def probability(max_inputs: int = 30, max_hidden: int = 30, samples: int = 100_000, seed: int = 0,
                device: str = "auto", schemes=PROBABILITY_SCHEMES, *, inputs=None, hidden=None,
                stop: threading.Event | None = None, progress: Progress | None = None) -> ProbabilityResult:
    """Closed form and Monte Carlo of P(neuron pathological), P(H(c) disconnected), P(all
    pathological) and E[effective components] for d = 1..max_inputs, l = 1..max_hidden."""
    inputs = np.arange(1, max_inputs + 1) if inputs is None else np.asarray(sorted(set(inputs)))
    hidden = np.arange(1, max_hidden + 1) if hidden is None else np.asarray(sorted(set(hidden)))
    if len(inputs) == 0 or inputs.min() < 1 or len(hidden) == 0 or hidden.min() < 1:
        raise UserError("probability: inputs and hidden widths must be integers >= 1")
    if samples < 2:
        raise UserError(f"--samples {samples}: must be an integer >= 2")
    for s in schemes:
        if s not in NORMAL_SCHEMES:
            raise UserError(f"probability: scheme {s!r} has no closed form; use one of {', '.join(NORMAL_SCHEMES)}")
    schemes = list(schemes)
    started = time.perf_counter()
    _say(progress, 0.0, "closed form")
    p = np.array([[[closed_form(s, int(d), int(l), 1) for l in hidden] for d in inputs] for s in schemes])
    _say(progress, 0.1, f"Monte Carlo: {samples} networks per cell, {len(inputs)} x {len(hidden)} cells")
    mc_started = time.perf_counter()
    counts = obstruction_monte_carlo(schemes, inputs, hidden, samples, seed, device, stop)
    mc_seconds = time.perf_counter() - mc_started
    l = hidden[None, None, :]
    p_mc = counts["pathological"] / samples
    _say(progress, 1.0, "done")
    return ProbabilityResult(
        schemes=schemes, inputs=inputs, hidden=hidden,
        pathological=p, disconnected=1 - (1 - p) ** l, all_pathological=p**l, expected_effective=1 + l * p,
        pathological_mc=p_mc, disconnected_mc=counts["disconnected"] / samples,
        all_pathological_mc=counts["all_pathological"] / samples, expected_effective_mc=1 + l * p_mc,
        samples=samples, seed=seed, device=device_label(resolve_device(device)),
        seconds=time.perf_counter() - started, mc_seconds=mc_seconds,
    )


# ------------------------------------------------------------------------------------------------
# one entry point for the CLI and the TUI
# ------------------------------------------------------------------------------------------------


def parameters(name: str, quick: bool = False, **overrides) -> dict:
    """The parameters an experiment will run with: its preset, then every override that is not None."""
    if name not in PRESETS:
        raise UserError(f"experiment {name!r}: must be one of {', '.join(NAMES)}")
    params = dict(PRESETS[name]["quick" if quick else "full"])
    params.update({k: v for k, v in overrides.items() if v is not None})
    if "seeds" in params and isinstance(params["seeds"], int):
        params["seeds"] = list(range(params["seeds"]))
    return params


def run(name: str, params: dict, device: str = "auto", *, stop: threading.Event | None = None,
        progress: Progress | None = None):
    """Run experiment `name` with `params` (see `parameters`); returns its result dataclass."""
    p = dict(params)
    if name == "toy":
        return toy(p["steps"], p["lr"], device, stop=stop, progress=progress)
    if name == "breast-cancer":
        return breast_cancer(p["widths"], p["seeds"], p["steps"], p["lr"], device, stop=stop, progress=progress)
    if name == "mitigation":
        return mitigation(p["widths"], p["seeds"], p["steps"], p["lr"], device, stop=stop, progress=progress)
    if name == "probability":
        seeds = p.get("seeds") or [0]
        return probability(p["max_inputs"], p["max_hidden"], p["samples"], int(seeds[0]), device,
                           stop=stop, progress=progress)
    raise UserError(f"experiment {name!r}: must be one of {', '.join(NAMES)}")


def summary(result) -> dict:
    """The headline numbers of a result, JSON-ready."""
    if isinstance(result, ToyResult):
        return {"runs": result.summary()}
    if isinstance(result, GridResult):
        return {"test": grid_findings(result, "test_loss"), "train": grid_findings(result, "train_loss")}
    if isinstance(result, MitigationResult):
        return {
            **{name: {"test": grid_findings(grid), "train": grid_findings(grid, "train_loss")}
               for name, grid in (("prescribed", result.prescribed), ("rebalanced", result.rebalanced))},
            "comparison": result.findings(),
            "check": vars(result.check),
        }
    if isinstance(result, ProbabilityResult):
        return result.findings()
    raise TypeError(type(result))


def arrays(result) -> dict[str, np.ndarray]:
    """Every array of a result by name (for the session store and JSON)."""
    if isinstance(result, ToyResult):
        return {"steps": result.steps, "loss": result.loss, "w_norm": result.w_norm, "v": result.v, "c": result.c}
    if isinstance(result, GridResult):
        return _grid_arrays(result, "")
    if isinstance(result, MitigationResult):
        return {**_grid_arrays(result.prescribed, "prescribed_"), **_grid_arrays(result.rebalanced, "rebalanced_")}
    if isinstance(result, ProbabilityResult):
        out = {"inputs": result.inputs, "hidden": result.hidden}
        for k in PROBABILITY_KEYS + ("expected_effective",):
            out[k] = getattr(result, k)
            out[k + "_mc"] = getattr(result, k + "_mc")
        return out
    raise TypeError(type(result))


def _grid_arrays(grid: GridResult, prefix: str) -> dict[str, np.ndarray]:
    out = {prefix + k: getattr(grid, k) for k in (*GRID_KEYS, "min_initial_c", "test_curve")}
    out[prefix + "widths"] = grid.widths
    out[prefix + "seeds"] = grid.seeds
    out[prefix + "curve_steps"] = grid.curve_steps
    return out


def result_config(result) -> Config | None:
    """The config a result was trained from (the obstructed run for the toy); None for probability,
    which trains nothing."""
    if isinstance(result, ToyResult):
        return result.configs[0]
    if isinstance(result, GridResult):
        return result.config
    if isinstance(result, MitigationResult):
        return result.prescribed.config
    return None


def result_configs(result) -> dict[str, dict]:
    """Every config a result ran, as TOML-ready dicts, for provenance."""
    if isinstance(result, ToyResult):
        return {label: config_to_dict(c) for label, c in zip(result.labels, result.configs)}
    if isinstance(result, (GridResult, MitigationResult)):
        return {"base": config_to_dict(result_config(result)),
                "per_cell": "[model] hidden = l; [init] pathological = l - l_plus, signs = '-' * (l - l_plus); "
                            "init seed = each seed" + ("; mitigation: core.init.rebalance applied to each"
                                                        if isinstance(result, MitigationResult) else "")}
    return {}
