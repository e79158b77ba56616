"""String sampling between two breast-cancer solutions: beads descended as one batch vs one at a time.

Two networks of width 16 (xavier_normal seeds 0 and 1, full-batch GD on BCE, lr 0.1) are trained,
then connected in the full space at L0 = 1.2 x max(L(A), L(B)), neurons aligned, with each round's
beads descended together (batched) and one after another (the baseline), same settings, same
process, alternating order over the rounds. Prints wall times, beads, beads per second and the ratio.
Then the descent alone, where batching matters: the interpolants at t = 1/(M+1) .. M/(M+1) of the
aligned segment A-B, descended below alpha L0 (L0 = 1.05 x max) together and one at a time.

    python bench/bench_connect.py [--rounds 3] [--steps 2000] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from core.config import config_from_dict
from core.connect import ConnectSettings, NetworkLandscape, align, connect, descend, permute
from core.data import load_dataset
from core.train import sweep, threads_for, unstack


def trained_pair(steps: int, device: str):
    config = config_from_dict({
        "model": {"hidden": 16},
        "init": {"scheme": "xavier_normal"},
        "data": {"name": "breast_cancer"},
        "train": {"loss": "bce", "optimizer": "gd", "lr": 0.1, "steps": steps, "dtype": "float64", "device": device},
    })
    dataset = load_dataset(config)
    result = sweep(config, seeds=[0, 1], dataset=dataset)
    return config, dataset, [unstack(result.final_weights, i, True) for i in range(2)], result.final_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000, help="training steps of the two networks")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--beads", type=int, default=16, help="M: interpolants in the descent-only measurement")
    args = parser.parse_args()
    config, dataset, (a, b), losses = trained_pair(args.steps, args.device)
    print(f"breast_cancer, l = 16, trained {args.steps} GD steps: L(A) = {losses[0]:.5f}, L(B) = {losses[1]:.5f}")
    times = {True: [], False: []}
    found = {}
    for r in range(args.rounds):
        for batched in ((True, False) if r % 2 == 0 else (False, True)):
            settings = ConnectSettings(level_factor=1.2, lr=0.1, batched=batched)
            result = connect(config, dataset, a, b, settings, device=args.device)
            times[batched].append(result.seconds)
            found[batched] = result
    for batched, label in ((False, "one at a time"), (True, "batched")):
        r = found[batched]
        t = statistics.median(times[batched])
        print(f"{label:>14}: {t:7.2f} s (median of {args.rounds})  connected {r.connected}  beads {r.beads}  "
              f"rounds {r.rounds}  normalised length {r.normalized_length:.4f}  barrier {r.barrier:.4g}  "
              f"beads/s {r.beads / t:.2f}  gradient evaluations/s {r.descent_steps / t:.0f}")
    ratio = statistics.median(times[False]) / statistics.median(times[True])
    print(f"batched / one at a time: {ratio:.2f}x faster (same beads: {found[True].beads == found[False].beads})")
    descent_only(config, dataset, a, b, args)


def descent_only(config, dataset, a, b, args) -> None:
    landscape = NetworkLandscape(config, dataset, a, torch.device(args.device))
    pa, pb = landscape.flatten(a), landscape.flatten(permute(b, align(a, b)))
    level = 1.05 * float(landscape.losses(torch.stack([pa, pb])).max())
    t = torch.arange(1, args.beads + 1, dtype=torch.float64)[:, None] / (args.beads + 1)
    starts = (1 - t) * pa + t * pb
    times = {True: [], False: []}
    out = {}
    with threads_for(landscape.size * dataset.x_train.shape[0]):
        for r in range(args.rounds):
            for batched in ((True, False) if r % 2 == 0 else (False, True)):
                settings = ConnectSettings(lr=0.1, batched=batched)
                started = time.perf_counter()
                out[batched] = descend(landscape, starts, 0.8 * level, settings, torch.Generator().manual_seed(0))
                times[batched].append(time.perf_counter() - started)
    for batched, label in ((False, "one at a time"), (True, "batched")):
        t = statistics.median(times[batched])
        below = int((out[batched][1] < 0.8 * level).sum())
        print(f"descent of {args.beads} interpolants, {label:>13}: {t:6.2f} s  beads/s {args.beads / t:7.2f}  "
              f"gradient evaluations {out[batched][2]}  reached alpha L0: {below}/{args.beads}")
    same = torch.allclose(out[True][0], out[False][0], rtol=1e-9, atol=1e-12)
    print(f"batched / one at a time: {statistics.median(times[False]) / statistics.median(times[True]):.2f}x "
          f"faster (same beads to 1e-9: {same})")


if __name__ == "__main__":
    main()
