"""breast_cancer: test loss over hidden width l and the number l_+ of non-pathological neurons (the paper's Fig. 4).

Trained through the sweep runner (core/sweeps), as `relulab sweep` trains a user's grid: one
member config per (l, l_+, seed), members of one width form one group, cut into chunks by memory
and, on a grid big enough, into one chunk per CPU, run by the local backend's worker processes.
A member's numbers do not depend on the chunking (core.sweeps.runner.train_chunk).
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

from core.config import replace
from core.data import load_dataset
from core.experiments.common import PRESETS, Progress, check_stop, say
from core.experiments.grid import GRID_KEYS, GridResult, check_grid_args, grid_config, l_plus_0_bound
from core.sweeps import backends
from core.sweeps.runner import chunk_payload, group_members, plan_chunks
from core.train import device_label, resolve_device


def breast_cancer(widths=PRESETS["breast-cancer"]["full"]["widths"], seeds=range(20), steps: int = 2000,
                  lr: float = 0.1, device: str = "auto", *, stop: threading.Event | None = None,
                  progress: Progress | None = None) -> GridResult:
    """For each width l and l_+ = 0..l, one network per seed with l_- = l - l_+ pathological neurons
    of negative output sign; full-batch GD on BCE, standardised breast-cancer data, fixed split."""
    check_grid_args(widths, list(seeds), steps)
    config = grid_config(steps, lr, device)
    dataset = load_dataset(config)
    widths, seeds = [int(w) for w in widths], [int(s) for s in seeds]
    W, L, S = len(widths), max(widths) + 1, len(seeds)
    # Members in the order (l, l_+, seed); neurons 0..l_- - 1 pathological with v_k < 0.
    configs, cells = [], []
    for i, l in enumerate(widths):
        width = replace(config, "model", hidden=l)
        for lp in range(l + 1):
            k = l - lp
            prescribed = replace(width, "init", pathological=k, signs="-" * k if k else None)
            for j, seed in enumerate(seeds):
                configs.append(replace(prescribed, "init", seed=seed))
                cells.append((i, lp, j))
    samples = len(dataset.x_train) + len(dataset.x_test)
    device_type = resolve_device(device).type
    cpus = backends.default_workers(device_type)
    _, chunks, estimates = plan_chunks(configs, group_members(configs), lambda c: (dataset.inputs, samples),
                                       device_type, chunk_seconds=math.inf, parallel=cpus)
    workers = backends.local_workers(None, device_type, len(chunks), sum(estimates))
    snapshots = len(range(0, steps, config.train.log_every)) + 1
    arrays = {k: np.full((W, L, S), np.nan) for k in (*GRID_KEYS, "min_initial_c")}
    curve_sum = np.zeros((W, L, snapshots))
    curve_n = np.zeros((W, L, snapshots))
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
            i, lp, j = cells[m]
            for key, v in values.items():
                arrays[key][i, lp, j] = v[row]
            finite = np.isfinite(test_curve[row])
            curve_sum[i, lp, : len(finite)] += np.where(finite, test_curve[row], 0.0)
            curve_n[i, lp, : len(finite)] += finite
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
    with np.errstate(invalid="ignore", divide="ignore"):
        test_curve = np.where(curve_n > 0, curve_sum / curve_n, np.nan)  # mean over seeds
    return GridResult(
        widths=np.array(widths), seeds=np.array(seeds), rebalanced=False, **arrays,
        curve_steps=curve_steps, test_curve=test_curve, config=config,
        device=device_label(resolve_device(device)), seconds=time.perf_counter() - started,
        l_plus_0_bound=l_plus_0_bound(dataset.y_test),
    )
