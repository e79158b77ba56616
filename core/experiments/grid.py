"""The breast-cancer grid that breast_cancer and mitigation share: prescribed pathological neurons over
(hidden width l, number l_+ of non-pathological neurons, seed), one member config per network,
trained through the sweep runner (core/sweeps) as `relulab sweep` trains a user's grid."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np

from core.config import Config, config_from_dict, replace
from core.data import load_dataset
from core.errors import UserError
from core.experiments.common import check_stop, say
from core.init import initial_params, rebalance
from core.snapshot import Params
from core.train import device_label, resolve_device

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
    ratio: float | None = None  # rebalanced to ||W_k|| / ||v_k|| = ratio; None: norms swapped (or not rebalanced)
    # Lower bound on the test BCE at l_+ = 0 as prescribed: every v_k < 0 and frozen, so f <= 0 and
    # each positive example costs at least log 2 (docs/science.md): mean(y_test) log 2.
    l_plus_0_bound: float = float("nan")

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
                row = {"rebalanced": self.rebalanced, "ratio": self.ratio, "l": int(l), "l_plus": lp, "fraction": lp / int(l),
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
                    rows.append({"rebalanced": self.rebalanced, "ratio": self.ratio, "l": int(l), "l_plus": lp, "seed": int(seed),
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
    bound = grid.l_plus_0_bound if key == "test_loss" and not grid.rebalanced else float("nan")
    return {
        "key": key,
        "bound_at_l_plus_0": float(bound),
        "largest_width": l_max,
        "loss_by_l_plus": [float(x) for x in curve],
        "loss_by_l_plus_se": [float(x) for x in curve_se],
        "drop": float(curve[0] - curve[-1]),
        "rank_correlation": rank_correlation(np.arange(l_max + 1), curve),
        "largest_rise": float(max(0.0, np.max(steps_up, initial=0.0))),
        "non_increasing_within_tolerance": bool(np.all(steps_up <= tolerance)),
        "spread_at_equal_number": spread(by_number),
        "spread_at_equal_fraction": spread(by_fraction),
        "loss_by_positive_at_init": by_positive,
        "networks_by_positive_at_init": {int(k): int(np.sum(ok & (positive == k))) for k in np.unique(positive[ok])},
    }


def rank_correlation(x: np.ndarray, y: np.ndarray) -> float:
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


def grid_members(config: Config, widths: list[int], seeds: list[int], variants) -> tuple[list[Config], list[tuple]]:
    """One member config per (width, variant, l_+, seed), and its cell (variant index, width
    index, l_+, seed index). Neurons 0..l_- - 1 are prescribed pathological with v_k < 0; a
    variant other than "prescribed" rebalances them ([init] rebalance, rebalance_ratio: "swap"
    swaps the norms, a number r >= 1 rescales to ||W_k|| / ||v_k|| = r)."""
    configs, cells = [], []
    for i, l in enumerate(widths):
        width = replace(config, "model", hidden=l)
        for v, variant in enumerate(variants):
            for lp in range(l + 1):
                k = l - lp
                cell = replace(width, "init", pathological=k, signs="-" * k if k else None)
                if variant != "prescribed":
                    cell = replace(cell, "init", rebalance=True, rebalance_ratio=None if variant == "swap" else float(variant))
                for j, seed in enumerate(seeds):
                    configs.append(replace(cell, "init", seed=seed))
                    cells.append((v, i, lp, j))
    return configs, cells


def train_grid(widths, seeds, steps, lr, device, variants, stop, progress):
    """Train every (variant, l_+, seed) of each width through the sweep runner; returns
    GridResults keyed by variant, and the rebalancing check (None without a rebalanced variant).

    variants: "prescribed" trains the prescribed networks; "swap" their copies with the norms
    swapped, a number r >= 1 their copies rebalanced to ||W_k|| / ||v_k|| = r (`core.init.rebalance`).
    Every member of a width is one group (they differ in [init] only), cut into chunks by memory
    and, on a grid big enough, into one chunk per CPU run by the local backend's worker processes.
    A member's numbers do not depend on the chunking (core.sweeps.runner.train_chunk)."""
    from core.sweeps import backends
    from core.sweeps.runner import chunk_payload, group_members, plan_chunks

    config = grid_config(steps, lr, device)
    dataset = load_dataset(config)
    widths, seeds = [int(w) for w in widths], [int(s) for s in seeds]
    W, L, S = len(widths), max(widths) + 1, len(seeds)
    check = rebalance_check(config, dataset, widths, seeds, [v for v in variants if v != "prescribed"])
    configs, cells = grid_members(config, widths, seeds, variants)
    samples = len(dataset.x_train) + len(dataset.x_test)
    device_type = resolve_device(device).type
    _, chunks, estimates = plan_chunks(configs, group_members(configs), lambda c: (dataset.inputs, samples), device_type,
                                       chunk_seconds=math.inf, parallel=backends.default_workers(device_type))
    workers = backends.local_workers(None, device_type, len(chunks), sum(estimates))
    snapshots = len(range(0, steps, config.train.log_every)) + 1
    arrays = {v: {k: np.full((W, L, S), np.nan) for k in (*GRID_KEYS, "min_initial_c")} for v in variants}
    curve_sum = np.zeros((len(variants), W, L, snapshots))
    curve_n = np.zeros((len(variants), W, L, snapshots))
    curve_steps = np.array(list(range(0, steps, config.train.log_every)) + [steps])
    total = sum(len(c.members) * configs[c.members[0]].model.hidden for c in chunks)
    done = [0]
    started = time.perf_counter()

    def record(k: int, out: dict) -> None:
        chunk = chunks[k]
        diverged = out["status"] == "diverged"
        values = {
            "test_loss": np.where(diverged, np.nan, out["test_loss"]),
            "train_loss": np.where(diverged, np.nan, out["loss"]),
            "test_accuracy": np.where(diverged, np.nan, out["test_accuracy"]),
            "sign_flips": np.sum(out["v_sign"] != out["v_sign_init"], axis=1),
            "pathological": out["pathological_init"],
            "positive": np.sum(out["v_sign_init"] > 0, axis=1),
            "diverged": diverged.astype(np.float64),
            "min_initial_c": out["c_init"].min(axis=1),
        }
        test_curve = out["series_test_loss"]  # (members, points); shorter if every member diverged early
        for row, m in enumerate(chunk.members):
            v, i, lp, j = cells[m]
            for key, value in values.items():
                arrays[variants[v]][key][i, lp, j] = value[row]
            finite = np.isfinite(test_curve[row])
            curve_sum[v, i, lp, : len(finite)] += np.where(finite, test_curve[row], 0.0)
            curve_n[v, i, lp, : len(finite)] += finite
        done[0] += len(chunk.members) * configs[chunk.members[0]].model.hidden
        say(progress, done[0] / total, f"{done[0] / total:.0%} of the work done")

    def started_chunk(k: int) -> None:
        chunk = chunks[k]
        say(progress, done[0] / total, f"l = {configs[chunk.members[0]].model.hidden}: {len(chunk.members)} networks, "
                                        f"{steps} steps" + (f" ({workers} chunks at a time)" if workers > 1 else ""))

    check_stop(stop)
    payloads = (chunk_payload(configs, chunk, dataset, snapshots) for chunk in chunks)
    backends.run_local(payloads, record, started_chunk, workers=workers,
                       should_stop=stop.is_set if stop is not None else None)
    check_stop(stop)
    say(progress, 1.0, "done")
    seconds = time.perf_counter() - started
    with np.errstate(invalid="ignore", divide="ignore"):
        curves = np.where(curve_n > 0, curve_sum / curve_n, np.nan)  # mean over seeds
    grids = {
        variant: GridResult(
            widths=np.array(widths), seeds=np.array(seeds), rebalanced=variant != "prescribed", **arrays[variant],
            curve_steps=curve_steps, test_curve=curves[v], config=config,
            device=device_label(resolve_device(device)), seconds=seconds,
            ratio=None if isinstance(variant, str) else float(variant),
            l_plus_0_bound=l_plus_0_bound(dataset.y_test),
        )
        for v, variant in enumerate(variants)
    }
    return grids, check


def rebalance_check(config: Config, dataset, widths: list[int], seeds: list[int], variants) -> RebalanceCheck | None:
    """That every rebalancing keeps the function (outputs on every input before and after) and
    moves every neuron to c_k >= 0, over all the grid's networks; None without a variant."""
    if not variants:
        return None
    x_all = np.concatenate([dataset.x_train, dataset.x_test])
    check = dict(min_c_before=np.inf, min_c_after=np.inf, max_output_change=0.0, max_output=0.0, networks=0)
    for l in widths:
        raw = prescribed_params(config, dataset.inputs, l, seeds)
        before = network_outputs(raw, x_all)
        for variant in variants:
            balanced = [rebalance(p, None if variant == "swap" else float(variant)) for p in raw]
            after = network_outputs(balanced, x_all)
            check["min_c_before"] = min(check["min_c_before"], min(float(np.min(neuron_c(p))) for p in raw))
            check["min_c_after"] = min(check["min_c_after"], min(float(np.min(neuron_c(p))) for p in balanced))
            check["max_output_change"] = max(check["max_output_change"], float(np.max(np.abs(after - before))))
            check["max_output"] = max(check["max_output"], float(np.max(np.abs(before))))
            check["networks"] += len(raw)
    return RebalanceCheck(**check)


def l_plus_0_bound(y: np.ndarray) -> float:
    """BCE on logits f <= 0: softplus(f) - y f >= 0 for y = 0 and >= log 2 for y = 1 (equality at
    f = 0 and f -> -inf), so the mean is at least (fraction of y = 1) x log 2."""
    return float(np.mean(np.asarray(y, np.float64) == 1) * math.log(2))


def neuron_c(p: Params) -> np.ndarray:
    return np.sum(p.incoming**2, axis=1) - np.sum(np.asarray(p.output_weight, np.float64) ** 2, axis=0)


def check_grid_args(widths, seeds, steps) -> None:
    if not widths or any(int(w) < 1 for w in widths):
        raise UserError(f"--widths {','.join(map(str, widths))}: every width must be an integer >= 1")
    if not seeds:
        raise UserError("--seeds: at least one seed")
    if steps < 1:
        raise UserError(f"--steps {steps}: must be an integer >= 1")


def grid_arrays(grid: GridResult, prefix: str) -> dict[str, np.ndarray]:
    out = {prefix + k: getattr(grid, k) for k in (*GRID_KEYS, "min_initial_c", "test_curve")}
    out[prefix + "widths"] = grid.widths
    out[prefix + "seeds"] = grid.seeds
    out[prefix + "curve_steps"] = grid.curve_steps
    return out
