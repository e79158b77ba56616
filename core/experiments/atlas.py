"""atlas: the lowest loss each effective component of H(c) reaches (core/atlas.py), on the toy |x|
network and on breast cancer at l = 8 with every neuron pathological (l_- = 8, prescribed as in the
breast-cancer experiment): floors per number of positive neurons, the own component and the gap."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from core.atlas import Atlas, atlas
from core.config import Config, config_from_dict, replace
from core.data import load_dataset
from core.experiments.common import Progress, check_stop, say
from core.experiments.grid import grid_config
from core.experiments.toy import TOY_BASE, TOY_RUNS

BREAST_CANCER_WIDTH = 8
LABELS = ("toy", "breast-cancer")


def atlas_configs(steps: int, lr: float, device: str) -> list[Config]:
    """The obstructed toy of examples/abs_obstructed.toml, and breast cancer with l = l_- = 8 (every
    output sign negative, as the breast-cancer experiment prescribes its pathological neurons)."""
    toy = {s: dict(v) for s, v in TOY_BASE.items()}
    toy["init"].update(TOY_RUNS["obstructed (+,-)"])
    toy["train"].update(steps=steps, lr=lr, device=device)
    bc = grid_config(steps, lr, device)
    bc = replace(bc, "model", hidden=BREAST_CANCER_WIDTH)
    bc = replace(bc, "init", pathological=BREAST_CANCER_WIDTH, signs="-" * BREAST_CANCER_WIDTH)
    return [config_from_dict(toy, "atlas experiment"), bc]


@dataclass
class AtlasExperimentResult:
    labels: list[str]
    configs: list[Config]
    atlases: list[Atlas]
    restarts: int
    negative_bound: list[float]  # lowest loss any f <= 0 can have on each training set (no output bias)
    positive_bound: list[float]  # ... any f >= 0
    best_constant_loss: list[float]  # loss of the best constant on each (MSE: variance of y; BCE: entropy)
    device: str
    seconds: float

    def cells(self) -> list[dict]:
        """One row per (experiment part, component): the table the CSV holds."""
        rows = []
        for label, a in zip(self.labels, self.atlases):
            for i, r in enumerate(a.components + [a.reference]):
                d = r.to_dict()
                rows.append({"part": label, "component": d["name"], "positive": d["positive"], "floor": d["floor"],
                             "median": d["median"], "spread": d["spread"], "kept": d["kept"], "members": d["members"],
                             "hopped": d["hopped"], "diverged": d["diverged"], "own": i == a.own, "best": i == a.best})
        return rows

    def floors_by_positive(self, i: int) -> dict[int, float]:
        return {r.positive: r.floor for r in self.atlases[i].components}

    def findings(self) -> dict:
        out = {}
        for i, label in enumerate(self.labels):
            a = self.atlases[i]
            floors = self.floors_by_positive(i)
            n = max(floors)
            interior = [floors[k] for k in range(1, n)]
            out[label] = {
                "floors_by_positive": floors,
                "medians_by_positive": {r.positive: r.median for r in a.components},
                "own": a.components[a.own].name, "own_floor": a.components[a.own].floor,
                "best": a.components[a.best].name, "best_floor": a.components[a.best].floor,
                "gap": a.gap, "reference_floor": a.reference.floor,
                "reference_at_most_best": bool(a.reference.floor <= a.components[a.best].floor + 1e-6),
                "negative_bound": self.negative_bound[i], "positive_bound": self.positive_bound[i],
                "best_constant_loss": self.best_constant_loss[i],
                "interior_floor_range": [min(interior), max(interior)] if interior else None,
                "hopped": int(sum(r.hopped for r in a.components)), "diverged": int(sum(r.diverged for r in a.components)),
            }
        return out

    def conclusions(self) -> list[str]:
        """What the numbers say, written from them (nothing here is a fixed sentence about a result)."""
        f = self.findings()
        lines = []
        toy = f["toy"]
        t = toy["floors_by_positive"]
        lines.append(
            f"toy: both neurons positive reaches {t[2]:.2g}; one positive {t[1]:.4g} "
            f"({'equal to' if abs(t[1] - toy['best_constant_loss']) <= 1e-4 * toy['best_constant_loss'] else 'against'} "
            f"the best constant fit {toy['best_constant_loss']:.4g}); none positive {t[0]:.4g} "
            f"({'equal to' if abs(t[0] - toy['negative_bound']) <= 1e-6 * toy['negative_bound'] else 'against'} "
            f"the loss of f = 0, {toy['negative_bound']:.4g}, the best any f <= 0 can do). "
            f"The example's own component {toy['own']} "
            f"costs a gap of {toy['gap']:.4g}.")
        bc = f["breast-cancer"]
        b = bc["floors_by_positive"]
        n = max(b)
        lo, hi = bc["interior_floor_range"]
        lines.append(
            f"breast cancer, l = l_- = {n}: with 1..{n - 1} positive neurons the floors lie in "
            f"[{lo:.3g}, {hi:.3g}]; all {n} positive {b[n]:.3g} (the best any f >= 0 can do: "
            f"{bc['positive_bound']:.3g}), none positive {b[0]:.3g} (the best any f <= 0 can do: "
            f"{bc['negative_bound']:.3g}; best constant: {bc['best_constant_loss']:.3g}). "
            + ("One neuron of each sign is enough to reach the interior floors; the obstruction bites only "
               "when every pathological neuron has the same sign." if hi < min(b[0], b[n]) else
               "The interior floors overlap an extreme class.")
            + f" The own component {bc['own']} has gap {bc['gap']:.3g}.")
        for label in self.labels:
            x = f[label]
            lines.append(f"{label}: the rebalanced reference (every c_k -> |c_k|) reaches {x['reference_floor']:.3g}, "
                         + ("as low as (within 1e-6)" if x["reference_at_most_best"] else "above")
                         + f" the best component's {x['best_floor']:.3g} in the same number of steps.")
        return lines


def atlas_experiment(restarts: int = 32, steps: int = 2000, lr: float = 0.1, device: str = "auto", *,
                     stop: threading.Event | None = None, progress: Progress | None = None) -> AtlasExperimentResult:
    """Both atlases, one batched sweep each."""
    configs = atlas_configs(steps, lr, device)
    started = time.perf_counter()
    atlases, negative, positive, constant = [], [], [], []
    for i, (label, config) in enumerate(zip(LABELS, configs)):
        check_stop(stop)
        say(progress, i / len(configs), f"atlas of {label}: {restarts} restarts per component, {steps} steps")

        def step_progress(done: int, total: int, i=i) -> None:
            say(progress, (i + done / total) / len(configs), f"atlas of {label}: step {done}/{total}")

        dataset = load_dataset(config)
        result = atlas(config, restarts=restarts, dataset=dataset, stop=stop, progress=step_progress)
        check_stop(stop)
        atlases.append(result)
        y = np.asarray(dataset.y_train, np.float64)
        if config.train.loss == "mse":
            # f <= 0: each target y > 0 is missed by at least y (f = 0 there), y <= 0 can be hit.
            negative.append(float(np.mean(np.maximum(y, 0) ** 2)))
            positive.append(float(np.mean(np.minimum(y, 0) ** 2)))
            constant.append(float(np.mean((y - y.mean(axis=0)) ** 2)))
        else:  # bce on logits: f <= 0 costs at least log 2 on each y = 1 (at f = 0), ~0 on y = 0
            p = float(y.mean())
            negative.append(p * float(np.log(2.0)))
            positive.append((1 - p) * float(np.log(2.0)))
            constant.append(float(-(p * np.log(p) + (1 - p) * np.log(1 - p))))
    say(progress, 1.0, "done")
    return AtlasExperimentResult(labels=list(LABELS), configs=configs, atlases=atlases, restarts=restarts,
                                 negative_bound=negative, positive_bound=positive, best_constant_loss=constant, device=atlases[-1].device,
                                 seconds=time.perf_counter() - started)
