"""Wall times of the built-in experiments against their targets, each with a baseline run in the same process.

    breast-cancer --quick   target < 60 s on a 2-core CPU
    breast-cancer (full)    target < 10 min          (--full; minutes)
    mitigation (full)       both grids               (--full)
    probability             target < 30 s: closed form + 1e5-network Monte Carlo on 30 x 30 cells

Baselines, measured here on a slice and extrapolated, so the ratios hold whatever the machine:
- grids: one `sweep` call per network (a Python loop over networks) on the widest width's l_+
  cells for one seed, against the batched call that trains the whole grid of that width;
- probability: `core.probability.monte_carlo` (which draws whole networks through the init
  code, one cell at a time) on one row of cells, against the fast shared-draw Monte Carlo.

    python bench/bench_experiments.py [--device cpu] [--full]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from core import experiments as E  # noqa: E402
from core.config import replace  # noqa: E402
from core.data import load_dataset  # noqa: E402
from core.probability import monte_carlo  # noqa: E402
from core.train import sweep  # noqa: E402


def load() -> str:
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average n/a"


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def grid_loop_baseline(params: dict, device: str) -> tuple[float, float]:
    """(seconds per network-step in a per-network sweep loop, the same in the batched call), widest width."""
    config = E.grid_config(params["steps"], params["lr"], device)
    dataset = load_dataset(config)
    width = max(params["widths"])
    cfg = replace(config, "model", hidden=width)
    one_seed = E.prescribed_params(config, dataset.inputs, width, [0])  # l_+ = 0..l, seed 0
    steps = min(200, params["steps"])
    cfg = replace(cfg, "train", steps=steps, log_every=max(1, steps // 50))
    _, loop = timed(lambda: [sweep(cfg, params=[p], dataset=dataset, log_every=cfg.train.log_every) for p in one_seed])
    batch = E.prescribed_params(config, dataset.inputs, width, list(range(len(params["seeds"]))))
    _, batched = timed(lambda: sweep(cfg, params=batch, dataset=dataset, log_every=cfg.train.log_every))
    return loop / (len(one_seed) * steps), batched / (len(batch) * steps)


def bench_grid(name: str, quick: bool, device: str, target: float | None) -> None:
    params = E.parameters(name, quick)
    networks = sum((w + 1) * len(params["seeds"]) for w in params["widths"]) * (2 if name == "mitigation" else 1)
    print(f"{name}{' --quick' if quick else ''}: widths {params['widths']}, {len(params['seeds'])} seeds, "
          f"{params['steps']} steps, {networks} networks; {load()}")
    result, seconds = timed(lambda: E.run(name, params, device))
    per_loop, per_batched = grid_loop_baseline(params, device)
    extrapolated = per_loop * networks * params["steps"]
    verdict = ""
    if target:
        verdict = f", target < {target:.0f} s: {'met' if seconds < target else 'MISSED'} ({seconds / target:.2f} of it)"
    print(f"  {seconds:8.1f} s{verdict}")
    print(f"  a per-network sweep loop would take ~{extrapolated:,.0f} s (measured on the widest width, 1 seed): "
          f"the batched grid is {extrapolated / seconds:.1f}x faster; per network-step "
          f"{per_loop * 1e6:.1f} us looped vs {per_batched * 1e6:.2f} us batched")
    f = E.summary(result)
    key = f["test"] if "test" in f else f["prescribed"]["test"]
    print(f"  test loss at l = {key['largest_width']}: " + " ".join(f"{x:.3f}" for x in key["loss_by_l_plus"]))


def bench_probability(device: str) -> None:
    params = E.parameters("probability")
    print(f"probability: {params['max_inputs']} x {params['max_hidden']} cells, {params['samples']} networks per cell, "
          f"2 schemes; {load()}")
    E.probability(max_inputs=4, max_hidden=4, samples=1000, device=device)  # warm-up
    result, seconds = timed(lambda: E.run("probability", params, device))
    print(f"  {seconds:8.2f} s (Monte Carlo {result.mc_seconds:.2f} s), target < 30 s: "
          f"{'met' if seconds < 30 else 'MISSED'} ({seconds / 30:.2f} of it)")
    # Baseline: the whole-network sampler on one row (d = max, every l) at 1e4 networks, extrapolated.
    d, samples = params["max_inputs"], 10_000
    _, row = timed(lambda: [monte_carlo("xavier_normal", d, l, samples=samples, bias=True)
                            for l in range(1, params["max_hidden"] + 1)])
    # Rows cost about the same for every d at this size (d = 30 is the dearest): an upper-end estimate.
    extrapolated = row * params["max_inputs"] * 2 * params["samples"] / samples
    print(f"  core.probability.monte_carlo would take ~{extrapolated:,.0f} s for the same grid: "
          f"{extrapolated / result.mc_seconds:.0f}x slower than the shared-draw Monte Carlo")
    f = result.findings()
    print("  max |z| closed form vs MC: " + ", ".join(f"{k} {v:.2f}" for k, v in f["max_abs_z"].items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--full", action="store_true", help="also the full breast-cancer and mitigation grids (minutes)")
    ap.add_argument("--only", choices=("quick", "probability", "full"), help="run one part")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, device {args.device}")
    if args.only in (None, "probability"):
        bench_probability(args.device)
    if args.only in (None, "quick"):
        bench_grid("breast-cancer", True, args.device, 60.0)
    if args.full or args.only == "full":
        bench_grid("breast-cancer", False, args.device, 600.0)
        bench_grid("mitigation", False, args.device, None)


if __name__ == "__main__":
    main()
