"""What it costs that a network's numbers do not depend on its batch, and what worker processes buy.

1. One training step (forward, BCE or MSE gradient, backward, GD update) of N networks on one CPU
   thread: core.model as it is (a `bmm` per network, samples padded to whole vectors) against the
   engine before (one GEMM over all N*l rows for the pre-activations and for dW, samples not
   padded), written out below as the baseline. Rounds alternate; the ratio is new / old.
2. A breast-cancer grid through the local backend with --workers 1 (one process) and with one
   worker process per CPU: the same chunks, bitwise the same numbers (checked), wall times.

    python bench/bench_batching.py [--rounds 5] [--grid-steps 1500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.config import config_from_dict  # noqa: E402
from core.data import load_dataset  # noqa: E402
from core.init import initial_params  # noqa: E402
from core.model import Weights, backward, design, forward, output_grad, pad_columns  # noqa: E402

CASES = [  # (label, config, networks, steps per timing)
    ("breast cancer, l = 8, N = 200", {"model": {"hidden": 8}, "data": {"name": "breast_cancer"}, "train": {"loss": "bce"}}, 200, 100),
    ("breast cancer, l = 64, N = 100", {"model": {"hidden": 64}, "data": {"name": "breast_cancer"}, "train": {"loss": "bce"}}, 100, 30),
    ("abs, l = 16, n = 100, N = 1000", {"model": {"hidden": 16}, "data": {"name": "abs", "samples": 100}}, 1000, 100),
    ("abs, l = 2, N = 1 (a single run)", {"model": {"hidden": 2}, "data": {"name": "abs"}}, 1, 2000),
    ("teacher, l = 512, n = 1000, N = 1", {"model": {"hidden": 512}, "data": {"name": "teacher", "samples": 1000}}, 1, 100),
]


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def old_step(w: Weights, xt, y, loss: str, lr: float) -> None:
    """The engine before: one GEMM over N*l rows each way, unpadded samples."""
    N, l, d = w.W.shape
    z = (w.W.view(N * l, d) @ xt).view(N, l, -1)
    h = torch.relu(z)
    out = torch.bmm(w.V, h)
    g = output_grad(out, y, loss)
    dV = torch.bmm(g, h.transpose(1, 2))
    dh = torch.bmm(w.V.transpose(1, 2), g)
    dz = torch.ops.aten.threshold_backward(dh, z, 0.0)
    dW = (dz.view(N * l, -1) @ xt.T).view(N, l, d)
    w.W.sub_(dW, alpha=lr)
    w.V.sub_(dV, alpha=lr)


def new_step(w: Weights, xt, y, n: int, loss: str, lr: float) -> None:
    fw = forward(w, xt, "relu")
    grads = backward(w, xt, fw, output_grad(fw.out, y, loss, n), "relu")
    w.W.sub_(grads.W, alpha=lr)
    w.V.sub_(grads.V, alpha=lr)


def step_costs(rounds: int) -> None:
    torch.set_num_threads(1)
    print("1. a training step, one thread: new (bmm per network, padded samples) / old (one GEMM, unpadded)")
    for label, d, N, steps in CASES:
        config = config_from_dict(d, "bench")
        data = load_dataset(config)
        params = [initial_params(config, data.inputs, seed=s) for s in range(N)]
        W = torch.tensor(np.stack([np.column_stack([p.hidden_weight, p.hidden_bias]) for p in params]), dtype=torch.float32)
        V = torch.tensor(np.stack([p.output_weight for p in params]), dtype=torch.float32)
        xt = design(torch.as_tensor(data.x_train, dtype=torch.float32), True)
        y = torch.as_tensor(data.y_train, dtype=torch.float32).T.contiguous()
        n = xt.shape[1]
        xp, yp = pad_columns(xt), pad_columns(y)
        loss, lr = config.train.loss, config.train.lr
        old_w, new_w = Weights(W.clone(), V.clone(), None), Weights(W.clone(), V.clone(), None)
        times = {"old": [], "new": []}
        for r in range(rounds + 1):
            for which in (("old", "new") if r % 2 else ("new", "old")):
                started = time.perf_counter()
                for _ in range(steps):
                    if which == "old":
                        old_step(old_w, xt, y, loss, lr)
                    else:
                        new_step(new_w, xp, yp, n, loss, lr)
                if r:  # round 0 warms up
                    times[which].append((time.perf_counter() - started) / steps)
        ratio = statistics.median(a / b for a, b in zip(times["new"], times["old"]))
        print(f"  {label:36s} old {statistics.median(times['old']) * 1e3:7.3f} ms  new "
              f"{statistics.median(times['new']) * 1e3:7.3f} ms  ratio {ratio:.2f}  (n {n} -> {xp.shape[1]})", flush=True)


def workers_speedup(steps: int, rounds: int) -> None:
    from core.sweeps import backends, parse_spec, plan_sweep

    cpus = backends.default_workers("cpu")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = parse_spec(f'base = "{root}/examples/breast_cancer.toml"\n[train]\nsteps = {steps}\nlog_every = 50\n'
                      '[sweep]\n"init.seed" = "0-63"\n"model.hidden" = [8, 16, 32]\n')
    plan = plan_sweep(spec, parallel=cpus)
    print(f"2. {len(spec.members)} breast-cancer networks, {steps} steps, {len(plan.chunks)} chunks: "
          f"--workers 1 vs {cpus} worker processes (spawn and imports included)")
    results, times = {}, {1: [], cpus: []}
    for r in range(rounds):
        for workers in ((1, cpus) if r % 2 == 0 else (cpus, 1)):
            got = {}
            started = time.perf_counter()
            backends.run_local(plan.payloads(), got.__setitem__, workers=workers)
            times[workers].append(time.perf_counter() - started)
            print(f"  round {r + 1} workers {workers}: {times[workers][-1]:6.1f} s  ({load()})", flush=True)
            if workers in results:
                continue
            results[workers] = got
    same = all(np.array_equal(results[1][k][key], results[cpus][k][key], equal_nan=results[1][k][key].dtype.kind == "f")
               for k in results[1] for key in results[1][k])
    print(f"  median {statistics.median(times[1]):.1f} s vs {statistics.median(times[cpus]):.1f} s: speed-up "
          f"{statistics.median(times[1]) / statistics.median(times[cpus]):.2f}x; bitwise the same numbers: {same}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--grid-steps", type=int, default=1500)
    ap.add_argument("--grid-rounds", type=int, default=2)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {load()}")
    step_costs(args.rounds)
    workers_speedup(args.grid_steps, args.grid_rounds)


if __name__ == "__main__":
    main()
