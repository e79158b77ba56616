"""Sweeps: a user's spec against the built-in experiment, and Ray against local, in one process.

1. The breast-cancer grid (widths 2..16 step 2, l_+ = 0..l, 20 seeds: 1,600 networks) written as
   a user spec (one [[sweep]] table per width) and run through the sweep runner, local backend,
   against `experiments.run("breast-cancer")` on the same grid. Target: within 10 %. The two
   alternate over --rounds; both compute the same networks (the bench checks the test losses,
   which must be bitwise equal: the largest difference printed is 0).
2. The same spec on Ray (a local Ray with --ray-cpus CPUs, started before the clock) against the
   local backend. Target: overhead under 25 % for a grid of at least 30 s.
3. Per-chunk overhead of Ray: N one-member, one-step chunks; and what the driver's store absorbs:
   chunk records of 100 members written into a session, members per second.

    python bench/bench_sweeps.py [--steps 2000] [--rounds 2] [--ray-cpus 2] [--no-ray]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

WIDTHS = (2, 4, 6, 8, 10, 12, 14, 16)


def load() -> str:
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average n/a"


def grid_spec(steps: int, seeds: int, lr: float = 0.1) -> str:
    """The built-in breast-cancer grid as a user would write it."""
    lines = [
        "[model]\nhidden = 2\nbias = true\nactivation = \"relu\"",
        "[init]\nscheme = \"xavier_normal\"",
        "[data]\nname = \"breast_cancer\"",
        f"[train]\nloss = \"bce\"\noptimizer = \"gd\"\ndtype = \"float32\"\ndevice = \"cpu\"\nsteps = {steps}\n"
        f"lr = {lr}\nlog_every = {max(1, steps // 50)}",
    ]
    for l in WIDTHS:
        pairs = ", ".join(f'[{k}, "{"-" * k}"]' for k in range(1, l + 1))
        lines.append(f'[[sweep]]\n"model.hidden" = [{l}]\n"init.pathological,init.signs" = [{pairs}]\n'
                     f'"init.seed" = "0-{seeds - 1}"')
        lines.append(f'[[sweep]]\n"model.hidden" = [{l}]\n"init.pathological" = [0]\n"init.seed" = "0-{seeds - 1}"')
    return "\n\n".join(lines) + "\n"


def run_spec(spec, backend: str, chunk_seconds: float = 60.0, max_members=None, in_flight=None):
    from core.sweeps import backends, plan_sweep

    started = time.perf_counter()
    # As `relulab sweep` plans and runs it: on the local backend a chunk per CPU, worker processes
    # when the grid is big enough.
    cpus = backends.default_workers("cpu") if backend == "local" else 1
    plan = plan_sweep(spec, chunk_seconds, max_members, parallel=cpus)
    out = {}

    def done(k, arrays):
        for j, i in enumerate(plan.chunks[k].members):
            out[i] = float(arrays["test_loss"][j])

    if backend == "ray":
        backends.run_ray(plan.payloads(), done, in_flight=in_flight)
    else:
        backends.run_local(plan.payloads(), done,
                           workers=backends.local_workers(None, "cpu", len(plan.chunks), sum(plan.estimates)))
    return time.perf_counter() - started, out, len(plan.chunks)


def builtin(steps: int, seeds: int):
    from core import experiments as E

    started = time.perf_counter()
    grid = E.run("breast-cancer", E.parameters("breast-cancer", widths=WIDTHS, seeds=seeds, steps=steps, lr=0.1), "cpu")
    return time.perf_counter() - started, grid


def compare_numbers(spec, mine: dict, grid) -> float:
    """Largest relative difference of a member's test loss against the built-in's same network."""
    worst = 0.0
    widths = list(grid.widths)
    seeds = list(grid.seeds)
    for m in spec.members:
        c = m.config
        l, k, s = c.model.hidden, c.init.pathological, c.init.seed
        ref = grid.test_loss[widths.index(l), l - k, seeds.index(s)]
        worst = max(worst, abs(mine[m.index] - ref) / abs(ref))
    return worst


def per_chunk_overhead(chunks: int) -> float:
    """Seconds of Ray bookkeeping per chunk: tiny chunks (one member, one step) through Ray one at a
    time (in_flight=1, so parallel workers hide nothing) minus the same chunks run locally."""
    from core.sweeps import parse_spec

    spec = parse_spec(f"""
[model]
hidden = 2
[data]
name = "abs"
samples = 16
[train]
steps = 1
device = "cpu"
[sweep]
"init.seed" = "0-{chunks - 1}"
""")
    local, _, _ = run_spec(spec, "local", max_members=1)
    ray, _, n = run_spec(spec, "ray", max_members=1, in_flight=1)
    return (ray - local) / n


def store_rate(members_per_chunk: int = 100, chunks: int = 200) -> float:
    """Members per second the driver records (chunk records as `relulab sweep` writes them)."""
    from core.config import config_from_dict
    from sessions import open_store

    rng = np.random.default_rng(0)
    results = {name: rng.standard_normal(members_per_chunk).tolist() for name in
               ("loss", "test_loss", "accuracy", "test_accuracy", "max_drift")}
    results.update({name: [3] * members_per_chunk for name in ("steps", "pathological", "effective", "hops")})
    results["c"] = rng.standard_normal((members_per_chunk, 16)).tolist()
    results["c_init"] = results["c"]
    results["status"] = ["completed"] * members_per_chunk
    with tempfile.TemporaryDirectory() as d:
        store = open_store(d)
        writer = store.create_session(config_from_dict({}), {}, kind="sweep")
        started = time.perf_counter()
        for k in range(chunks):
            writer.put_json(f"chunk {k:05d}", {"members": list(range(k * members_per_chunk, (k + 1) * members_per_chunk)),
                                               "results": results})
        seconds = time.perf_counter() - started
        writer.finish()
    return members_per_chunk * chunks / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ray-cpus", type=int, default=2)
    ap.add_argument("--no-ray", action="store_true", help="skip parts 2 and 3")
    ap.add_argument("--no-builtin", action="store_true", help="skip part 1")
    args = ap.parse_args()
    import torch

    from core.sweeps import parse_spec

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, {load()}")
    spec = parse_spec(grid_spec(args.steps, args.seeds), "breast-cancer grid spec")
    print(f"grid: {len(spec.members)} networks, {args.steps} steps")
    builtin(min(args.steps, 20), 2)  # warm-up: dataset, threads
    mine_t, theirs_t = [], []
    for r in range(0 if args.no_builtin else args.rounds):
        order = ("spec", "builtin") if r % 2 == 0 else ("builtin", "spec")
        for which in order:
            if which == "spec":
                t, mine, nchunks = run_spec(spec, "local")
                mine_t.append(t)
            else:
                t, grid = builtin(args.steps, args.seeds)
                theirs_t.append(t)
            print(f"  round {r + 1} {which:8s} {t:7.1f} s  ({load()})", flush=True)
    if mine_t:
        ratio = statistics.median(m / b for m, b in zip(mine_t, theirs_t))
        print(f"user spec (local, {nchunks} chunks) vs built-in: median {statistics.median(mine_t):.1f} s vs "
              f"{statistics.median(theirs_t):.1f} s, ratio {ratio:.3f} (target <= 1.10)")
        print(f"largest relative difference of a test loss against the built-in: {compare_numbers(spec, mine, grid):.2e}")
    if args.no_ray:
        return
    from core.sweeps import backends

    backends.start_ray(None, num_cpus=args.ray_cpus)
    run_spec(parse_spec(grid_spec(10, 2)), "ray")  # warm-up: workers started, imports done
    local_t, ray_t = [], []
    for r in range(args.rounds):
        order = ("local", "ray") if r % 2 == 0 else ("ray", "local")
        for backend in order:
            t, out, nchunks = run_spec(spec, backend)
            (ray_t if backend == "ray" else local_t).append(t)
            print(f"  round {r + 1} {backend:8s} {t:7.1f} s  ({load()})", flush=True)
    ratio = statistics.median(b / a for a, b in zip(local_t, ray_t))
    print(f"ray ({args.ray_cpus} CPUs) vs local: median {statistics.median(ray_t):.1f} s vs "
          f"{statistics.median(local_t):.1f} s, ratio {ratio:.3f} (target <= 1.25)")
    overhead = per_chunk_overhead(200)
    print(f"Ray per-chunk overhead: {overhead * 1e3:.1f} ms per chunk (200 one-member chunks)")
    print(f"driver store: {store_rate():,.0f} members recorded per second (chunks of 100 members)")


if __name__ == "__main__":
    main()
