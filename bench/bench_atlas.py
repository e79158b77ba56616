"""The breast-cancer atlas at l = 8, l_- = 8: 9 components x 32 restarts (+ 32 reference members) x
2000 steps of projected GD, trained as one batched sweep, against the same members trained one
by one with the same engine (a Sweep of one network each, same steps, same hop check).

One by one, every member takes the same time, so by default only every k-th member is trained
alone (--sample, default 32 of the 320) and the per-member time is scaled to all of them; the
final losses of those members are compared with the batched ones (same numbers up to float32
rounding of a different GEMM blocking).

    python bench/bench_atlas.py [--restarts 32] [--steps 2000] [--sample 32] [--device cpu] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.atlas import atlas, plan_atlas, train_members
from core.config import load_config, replace
from core.train import Sweep, resolve_device


def breast_cancer_config(steps: int, device: str):
    config = load_config(REPO / "examples" / "breast_cancer.toml")
    config = replace(config, "init", pathological=8, signs="-" * 8)
    return replace(config, "train", steps=steps, device=device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--restarts", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--sample", type=int, default=32, help="members trained one by one (0: all)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = breast_cancer_config(args.steps, args.device)

    started = time.perf_counter()
    result = atlas(config, restarts=args.restarts)
    batched = time.perf_counter() - started
    members = (len(result.components) + 1) * args.restarts
    print(f"batched atlas: {len(result.components)} components x {args.restarts} restarts + {args.restarts} "
          f"reference = {members} networks x {args.steps} steps on {result.device}: {batched:.2f} s "
          f"(training alone {result.seconds:.2f} s; torch threads {torch.get_num_threads()})")

    plan = plan_atlas(config, restarts=args.restarts)
    dev = resolve_device(plan.config.train.device)
    d_eff = plan.dataset.inputs + plan.config.model.bias
    chosen = range(members) if args.sample <= 0 else np.linspace(0, members - 1, min(args.sample, members)).astype(int)
    batched_losses = np.concatenate([r.losses for r in result.components + [result.reference]])
    gaps = []
    started = time.perf_counter()
    for i in chosen:
        sweep = Sweep(plan.config, [plan.members[i]], plan.dataset, dev)
        hopped, _ = train_members(sweep, plan.start_signs[i:i + 1], d_eff, plan.config.train.steps, None, None)
        loss = float(sweep.evaluate()["train_loss"][0])
        if not hopped[0] and np.isfinite(batched_losses[i]):
            gaps.append(abs(loss - batched_losses[i]) / max(abs(batched_losses[i]), 1e-12))
    alone = (time.perf_counter() - started) / len(chosen)
    print(f"one by one: {len(chosen)} members, {alone * 1e3:.0f} ms each -> {alone * members:.1f} s for all {members}")
    print(f"ratio one-by-one / batched: {alone * members / batched:.1f}x")
    print(f"largest relative difference of a final loss, batched vs alone: {max(gaps, default=0.0):.2g}")
    for r in sorted(result.components, key=lambda r: r.floor):
        print(f"  {r.name:>6}  floor {r.floor:.4g}  median {r.median:.4g}  kept {r.kept}/{args.restarts}")
    print(f"  reference floor {result.reference.floor:.4g}; own {result.components[result.own].name}, "
          f"gap {result.gap:.4g}")


if __name__ == "__main__":
    main()
