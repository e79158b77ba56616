"""toy: the obstruction in its simplest form, y = |x| on [-1, 1] with two ReLU neurons, 1 input + bias,
MSE, full-batch GD."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from core.config import Config, config_from_dict
from core.data import load_dataset
from core.experiments.common import Progress, check_stop, say
from core.init import initial_params
from core.invariants import classify, classify_params
from core.train import Sweep, device_label, resolve_device

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
    # Still (+,-), but neuron 0 starts as a constant (w = 0, b = 0.6): GD fits the best constant,
    # well below the first run's 0.172. So 0.172 is a local minimum inside the (+,-) component,
    # not the component's floor; the floor is what the topology bounds.
    "(+,-) from a constant": {"hidden_weight": [[0.0], [-0.6]], "hidden_bias_values": [0.6, 0.0],
                              "output_weight": [[1.0, -1.0]]},
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
    constant_fit: float = float("nan")  # MSE of the best constant fit, mean((y - mean y)^2)

    def findings(self) -> list[str]:
        """What the runs show, from the measured losses."""
        loss = dict(zip(self.labels, self.final_loss.tolist()))
        stall, free = loss["obstructed (+,-)"], loss["free (+,+)"]
        control, floor = loss["control: rebalanced (+,-)"], loss["(+,-) from a constant"]
        return [
            f"(+,-) from the paper's start stalls at {stall:.3g}; (+,+) fits to {free:.2g}; the rebalanced "
            f"control (same function, c_k > 0) reaches {control:.2g}.",
            f"(+,-) from a constant start reaches {floor:.4g} (best constant fit: {self.constant_fit:.4g}) and "
            f"stays in (+,-): {stall:.3g} is a local minimum inside the component, not its floor.",
            "What the topology bounds: in (+,-) the output is at most one non-negative ReLU, so |x| is out "
            f"of reach; the lowest loss found there is the best constant fit's, {self.constant_fit:.4g}.",
        ]

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
    """Train the toy networks of TOY_RUNS side by side (one batch)."""
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
                say(progress, t / steps, f"toy: step {t}/{steps}")
        if t == steps or (stop is not None and stop.is_set()):
            break
        s.step()
    check_stop(stop)
    w2, v = np.array(w2s), np.array(vs)
    c = w2 - v**2
    d_eff = dataset.inputs + first.model.bias
    initial = [classify_params(p, first.model.activation).to_dict() for p in params]
    final = [classify(c[-1, i], np.sign(v[-1, i]), d_eff, 1, w2[-1, i] + v[-1, i] ** 2,
                      activation=first.model.activation).to_dict()
             for i in range(len(params))]
    y = np.asarray(dataset.y_train, np.float64)
    return ToyResult(
        labels=list(configs), configs=list(configs.values()), steps=np.array(steps_seen), loss=np.array(losses),
        w_norm=np.sqrt(w2), v=v, c=c, initial=initial, final=final, final_loss=np.array(losses[-1]),
        device=device_label(dev), seconds=time.perf_counter() - started,
        constant_fit=float(np.mean((y - y.mean()) ** 2)),
    )
