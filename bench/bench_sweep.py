"""Batched sweep vs the per-network PyTorch loop a researcher would write, same work, one process.

breast_cancer, hidden = 8, 128 networks, 300 full-batch GD steps, BCE, float32, CPU.
Prints wall times, the ratio, and the sweep's share of this CPU's measured matmul peak.
Also: a single live run's throughput with log_every = 10 vs log_every = steps.

    python bench/bench_sweep.py [--networks 128] [--steps 300] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from core.config import config_from_dict
from core.data import load_dataset
from core.init import initial_params
from core.train import Trainer, sweep


def sweep_config(networks_steps: int, device: str, log_every: int | None = None):
    return config_from_dict({
        "model": {"hidden": 8},
        "init": {"scheme": "xavier_normal"},
        "data": {"name": "breast_cancer"},
        "train": {"loss": "bce", "optimizer": "gd", "lr": 0.1, "steps": networks_steps, "dtype": "float32",
                  "device": device, "log_every": log_every or networks_steps},
    })


def per_network_loop(config, params, dataset) -> float:
    """The straightforward loop: nn.Sequential + torch.optim.SGD, one network after another."""
    x = torch.as_tensor(dataset.x_train, dtype=torch.float32)
    y = torch.as_tensor(dataset.y_train, dtype=torch.float32)
    started = time.perf_counter()
    for p in params:
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 8), torch.nn.ReLU(), torch.nn.Linear(8, 1, bias=False))
        with torch.no_grad():
            net[0].weight.copy_(torch.as_tensor(p.hidden_weight))
            net[0].bias.copy_(torch.as_tensor(p.hidden_bias))
            net[2].weight.copy_(torch.as_tensor(p.output_weight))
        opt = torch.optim.SGD(net.parameters(), lr=config.train.lr)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        for _ in range(config.train.steps):
            opt.zero_grad()
            loss_fn(net(x), y).backward()
            opt.step()
    return time.perf_counter() - started


def batched_autograd(config, params, dataset) -> float:
    """The plain batched version: one tensor set, torch.bmm and autograd."""
    x = torch.as_tensor(dataset.x_train, dtype=torch.float32)
    y = torch.as_tensor(dataset.y_train, dtype=torch.float32)
    W = torch.tensor(np.stack([p.hidden_weight for p in params]), dtype=torch.float32, requires_grad=True)
    b = torch.tensor(np.stack([p.hidden_bias for p in params]), dtype=torch.float32, requires_grad=True)
    V = torch.tensor(np.stack([p.output_weight for p in params]), dtype=torch.float32, requires_grad=True)
    opt = torch.optim.SGD([W, b, V], lr=config.train.lr)
    started = time.perf_counter()
    for _ in range(config.train.steps):
        opt.zero_grad()
        h = torch.relu(torch.einsum("nd,Nld->Nnl", x, W) + b[:, None, :])
        out = torch.einsum("Nnl,Nel->Nne", h, V)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out, y.expand_as(out), reduction="none").mean((1, 2)).sum()
        loss.backward()
        opt.step()
    return time.perf_counter() - started


def matmul_peak(device: str = "cpu", size: int = 1024, repeat: int = 20) -> float:
    """Measured float32 GEMM rate of this machine, FLOP/s."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b
    started = time.perf_counter()
    for _ in range(repeat):
        a @ b
    if device != "cpu":
        torch.cuda.synchronize()
    return 2 * size**3 * repeat / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--networks", type=int, default=128)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-loop", action="store_true", help="skip the per-network loop (large sweeps)")
    args = ap.parse_args()
    config = sweep_config(args.steps, args.device)
    dataset = load_dataset(config)
    params = [initial_params(config, dataset.inputs, seed=s) for s in range(args.networks)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"{args.networks} networks x {args.steps} steps, n = {len(dataset.x_train)}")

    sweep(config, params=params[:2], dataset=dataset)  # warm-up
    best = min(sweep(config, params=params, dataset=dataset).seconds for _ in range(3))
    n, d, l = len(dataset.x_train), dataset.inputs, 8
    # Useful FLOPs per step: forward x W^T, backward dZ^T x (2 n d l each), plus the output layer.
    flops = args.steps * args.networks * (4 * n * d * l + 6 * n * l)
    peak = matmul_peak(args.device)
    print(f"batched sweep (hand-derived):   {best:8.3f} s   {flops / best / 1e9:6.1f} GFLOP/s = "
          f"{100 * flops / best / peak:.0f}% of measured matmul peak {peak / 1e9:.0f} GFLOP/s")
    if args.skip_loop:
        return
    autograd = batched_autograd(config, params, dataset)
    print(f"batched autograd:               {autograd:8.3f} s")
    loop = per_network_loop(config, params, dataset)
    print(f"per-network nn.Sequential loop: {loop:8.3f} s")
    print(f"speed-up of the sweep over the loop:     {loop / best:6.1f}x  (target >= 30x)")
    print(f"speed-up of batched autograd over loop:  {loop / autograd:6.1f}x")

    rates = {}
    for every in (10, 2000, 10, 2000):
        cfg = sweep_config(2000, args.device, every)
        trainer = Trainer(cfg, dataset=dataset)
        for _ in trainer.run():
            pass
        rates.setdefault(every, []).append(trainer.steps_per_second)
    r10, rall = max(rates[10]), max(rates[2000])
    print(f"single run: log_every=10 {r10:,.0f} steps/s, log_every=steps {rall:,.0f} steps/s: "
          f"ratio {r10 / rall:.3f} (target >= 0.90)")


if __name__ == "__main__":
    main()
