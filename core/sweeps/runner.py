"""Running a sweep's members: grouped by what they share, chunked, each chunk one batched `Sweep`.

Members whose configs agree on everything but [init] share data, architecture and optimizer, so
they train as one set of tensors (`core.train.Sweep`). A group is cut into chunks by memory and by
a target chunk time, both estimated from shapes alone: the chunking is a function of the spec, the
device and the options, never of the machine's load. `train_chunk` is a pure function of its
payload (configs and data arrays), which is what a worker gets; it returns arrays only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from core.config import Config, config_from_dict, config_to_dict
from core.data import Dataset, load_dataset
from core.init import initial_params
from core.invariants import classify, hops_between, status_codes

# Rough rates for the chunk-time estimate (multiply-adds of the training GEMMs per second). Only
# chunk sizes depend on them, never a number a chunk computes.
RATES = {"cpu": 4e9, "cuda": 4e11}
DEFAULT_CHUNK_SECONDS = 60.0
DEFAULT_CHUNK_BYTES = {"cpu": 2 << 30, "cuda": 8 << 30}
# A group is cut into at least `parallel` chunks (one per worker), but never into chunks of less
# than this much estimated work: below it, batching members beats spreading them.
MIN_SPLIT_SECONDS = 10.0

# Per-member results: (name, what it is). Scalars per member; the per-neuron c vectors are
# returned as (N, l) arrays; the series as (N, points).
RESULTS = (
    ("status", "completed, or diverged (the loss went non-finite; final values are from the last finite snapshot)"),
    ("steps", "steps trained (the last finite snapshot's step for a diverged member)"),
    ("diverged_at", "first snapshot step with a non-finite loss (-1: none)"),
    ("loss", "final train loss"),
    ("test_loss", "final test loss (NaN without a test split)"),
    ("accuracy", "final train accuracy (NaN for mse)"),
    ("test_accuracy", "final test accuracy (NaN for mse or without a test split)"),
    ("pathological_init", "l_- at initialisation"),
    ("effective_init", "effective components of H(c) at initialisation"),
    ("components_log2_init", "log2 of the number of components at initialisation"),
    ("signs_init", "output signs of the pathological neurons at initialisation"),
    ("pathological", "l_- at the end"),
    ("effective", "effective components at the end"),
    ("components_log2", "log2 of the number of components at the end"),
    ("signs", "output signs of the pathological neurons at the end"),
    ("hops", "component hops seen at the snapshot cadence"),
    ("max_drift", "largest |c_k(t) - c_k(0)| over neurons and snapshots (with weight decay under gd, sgd, projected_gd: from c_k(0)(1 - lr lambda)^(2t))"),
)
RESULT_NAMES = tuple(name for name, _ in RESULTS)


def group_key(config: Config) -> str:
    """Members with equal keys train in one batched Sweep: everything but [init] agrees."""
    return json.dumps({s: vars(getattr(config, s)) for s in ("model", "data", "train")}, sort_keys=True)


@dataclass
class Chunk:
    index: int
    group: int
    members: list[int]  # indices into the spec's members


def network_cost(config: Config, inputs: int, samples: int) -> tuple[float, float]:
    """(multiply-adds to train one network, bytes one network occupies while training)."""
    m, t = config.model, config.train
    d_eff = inputs + m.bias
    batch = min(t.batch_size or samples, samples)
    per_step = 3 * m.hidden * batch * (d_eff + m.outputs)  # forward, and two backward products
    evals = t.steps // t.log_every + 2
    flops = t.steps * per_step + evals * m.hidden * samples * (d_eff + m.outputs)
    item = 8 if t.dtype == "float64" else 4
    params = m.hidden * (d_eff + m.outputs) + m.outputs
    values = 6 * params + 4 * m.hidden * samples + 4 * m.outputs * samples  # weights, grads, state; z, h, dh
    return float(flops), float(values * item)


def probe(configs: list[Config], dataset: Dataset, seconds: float = 0.3) -> tuple[float, int]:
    """(measured / nominal time, steps timed): a few training steps of these members (one chunk),
    timed on this machine, against their nominal time at RATES. Only --dry-run's time estimate
    uses it; nothing it computes is kept."""
    import time

    import torch

    from core.train import Sweep, one_thread, resolve_device

    config = configs[0]
    device = resolve_device(config.train.device)
    s = Sweep(config, [initial_params(c, dataset.inputs) for c in configs], dataset, device)
    flops, _ = network_cost(config, dataset.inputs, len(dataset.x_train))
    nominal = len(configs) * flops / config.train.steps / RATES.get(device.type, RATES["cpu"])
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with one_thread():
        s.step()  # warm-up: first-call allocations
        sync()
        steps, started = 0, time.perf_counter()
        while steps < 3 or (time.perf_counter() - started < seconds and steps < 200):
            s.step()
            sync()
            steps += 1
        measured = (time.perf_counter() - started) / steps
    return measured / nominal, steps


def group_members(configs: list[Config]) -> dict[str, list[int]]:
    """Group key -> member indices, groups in order of their first member."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault(group_key(c), []).append(i)
    return groups


def plan_chunks(configs: list[Config], groups: dict[str, list[int]], inputs_of: Callable[[Config], tuple[int, int]],
                device_type: str, chunk_seconds: float = DEFAULT_CHUNK_SECONDS, max_members: int | None = None,
                chunk_bytes: int | None = None, parallel: int = 1) -> tuple[list[list[int]], list[Chunk], list[float]]:
    """(groups as member-index lists, chunks, estimated seconds per chunk).

    `inputs_of(config)` gives (inputs, samples) of the config's data. `parallel`: the workers that
    will take chunks at once; a big enough group is cut into at least that many."""
    rate = RATES.get(device_type, RATES["cpu"])
    budget = chunk_bytes or DEFAULT_CHUNK_BYTES.get(device_type, DEFAULT_CHUNK_BYTES["cpu"])
    chunks, estimates = [], []
    for g, members in enumerate(groups.values()):
        inputs, samples = inputs_of(configs[members[0]])
        flops, nbytes = network_cost(configs[members[0]], inputs, samples)
        size = min(len(members), max(1, int(min(chunk_seconds * rate / flops, len(members)))),
                   max(1, int(budget // nbytes)))
        if parallel > 1:
            smallest = math.ceil(MIN_SPLIT_SECONDS * rate / flops)
            size = min(size, max(math.ceil(len(members) / parallel), smallest))
        if max_members:
            size = min(size, max_members)
        count = math.ceil(len(members) / size)
        # Equal shares, so the last chunk is not a sliver.
        bounds = [round(k * len(members) / count) for k in range(count + 1)]
        for a, b in zip(bounds, bounds[1:]):
            chunks.append(Chunk(len(chunks), g, members[a:b]))
            estimates.append((b - a) * flops / rate)
    return list(groups.values()), chunks, estimates


def chunk_payload(configs: list[Config], chunk: Chunk, dataset: Dataset, series: int) -> dict:
    """Everything a worker needs, as plain data: config dicts and the dataset's arrays."""
    return {
        "chunk": chunk.index,
        "configs": [config_to_dict(configs[i]) for i in chunk.members],
        "data": {"name": dataset.name, "x_train": dataset.x_train, "y_train": dataset.y_train,
                 "x_test": dataset.x_test, "y_test": dataset.y_test},
        "series": series,
    }


def run_payload(payload: dict, on_progress: Callable[[float], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> dict[str, np.ndarray]:
    """A worker's whole job: rebuild the configs (validated) and the dataset, train the chunk."""
    configs = [config_from_dict(c, f"chunk {payload['chunk']}") for c in payload["configs"]]
    d = payload["data"]
    dataset = Dataset(d["name"], d["x_train"], d["y_train"], d["x_test"], d["y_test"])
    return train_chunk(configs, dataset, payload["series"], on_progress, should_stop)


def _classified(w2: np.ndarray, v2: np.ndarray, v0: np.ndarray, w0: np.ndarray, d_eff: int, outputs: int,
                activation: str):
    """Classification of each network from float64 norms and first entries, as core.train.Trainer
    classifies a run (w0 names the pieces of free neurons when d_eff = 1)."""
    sign, w_sign = np.sign(v0).astype(np.int8), np.sign(w0).astype(np.int8)
    return [classify(w2[i] - v2[i], sign[i], d_eff, outputs, w2[i] + v2[i], w_sign=w_sign[i], activation=activation)
            for i in range(len(w2))]


def _log2(components: int) -> int:
    return int(components).bit_length() - 1  # components are powers of two


def train_chunk(configs: list[Config], dataset: Dataset, series: int = 0,
                on_progress: Callable[[float], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> dict[str, np.ndarray]:
    """Train one chunk (members of one group) as one batched Sweep; per-member result arrays.

    A member's numbers do not depend on the chunk it is in (bitwise, on one device and dtype):
    every product is per network and the samples are padded (core/model.py), and the chunk
    trains on one CPU thread (core.train.one_thread). `should_stop` ends it early: the arrays then
    describe an unfinished chunk, which callers discard.

    Mirrors what a single run (`core.train.Trainer`) records: snapshots every log_every steps and
    at the end, the loss checked at each; a member whose loss goes non-finite is diverged, and its
    final values are those of its last finite snapshot. Other members train on unaffected."""
    import torch

    from core.train import Sweep, drift_from_law, one_thread, resolve_device

    config = configs[0]
    m, t = config.model, config.train
    device = resolve_device(t.device)
    params = [initial_params(c, dataset.inputs) for c in configs]
    s = Sweep(config, params, dataset, device)
    n, d_eff, outputs = s.networks, dataset.inputs + m.bias, m.outputs
    every = t.log_every

    def norms():
        packed = torch.cat([s.w.incoming_sq(), s.w.outgoing_sq(), s.w.V[:, 0, :], s.w.W[:, :, 0]], dim=1)
        values = packed.cpu().numpy().astype(np.float64)
        l = m.hidden
        return values[:, :l], values[:, l:2 * l], values[:, 2 * l:3 * l], values[:, 3 * l:]

    w2, v2, v0, w0 = norms()
    initial = _classified(w2, v2, v0, w0, d_eff, outputs, m.activation)
    c0 = w2 - v2
    alive = np.ones(n, bool)
    steps_done = np.zeros(n, np.int64)
    diverged_at = np.full(n, -1, np.int64)
    final = {k: np.full(n, np.nan) for k in ("loss", "test_loss", "accuracy", "test_accuracy")}
    last_w2, last_v2, last_v0, last_w0 = w2.copy(), v2.copy(), v0.copy(), w0.copy()
    drift = np.zeros(n)
    hops = np.zeros(n, np.int64)

    def signs(v0, w0):
        return np.sign(np.nan_to_num(v0)).astype(np.int8), np.sign(np.nan_to_num(w0)).astype(np.int8)

    # Hops as a single run counts them (core.train.Trainer): between consecutive snapshots.
    prev_codes, (prev_sign, prev_w_sign) = status_codes(c0, w2 + v2), signs(v0, w0)
    snapshot_steps = list(range(0, t.steps, every)) + [t.steps]
    # The thinned series: `series` snapshots evenly spread from the first to the last.
    picked = np.unique(np.linspace(0, len(snapshot_steps) - 1, series).round().astype(int)) if series else []
    keep = {snapshot_steps[j] for j in picked}
    series_steps, series_loss, series_test_loss, series_c = [], [], [], []
    with one_thread():
        for step in range(t.steps + 1):
            if step % every == 0 or step == t.steps:
                ev = {k: v.cpu().numpy().astype(np.float64) for k, v in s.evaluate().items()}
                w2, v2, v0, w0 = norms()
                finite = np.isfinite(ev["train_loss"])
                newly = alive & ~finite
                diverged_at[newly] = step
                alive &= finite
                a = alive
                steps_done[a] = step
                for key, name in (("train_loss", "loss"), ("test_loss", "test_loss"),
                                  ("train_accuracy", "accuracy"), ("test_accuracy", "test_accuracy")):
                    if key in ev:
                        final[name][a] = ev[key][a]
                last_w2[a], last_v2[a], last_v0[a], last_w0[a] = w2[a], v2[a], v0[a], w0[a]
                c = w2 - v2
                sign, w_sign = signs(v0, w0)
                drift[a] = np.maximum(drift[a], drift_from_law(c[a], c0[a], t, step).max(axis=1, initial=0.0))
                hopped = hops_between(prev_codes, prev_sign, prev_w_sign, sign, w_sign, d_eff, outputs)[0]
                hops[a] += hopped[a].sum(axis=1)
                codes = status_codes(c, w2 + v2)
                prev_codes[a], prev_sign[a], prev_w_sign[a] = codes[a], sign[a], w_sign[a]
                if step in keep:
                    series_steps.append(step)
                    series_loss.append(ev["train_loss"])
                    if "test_loss" in ev:
                        series_test_loss.append(ev["test_loss"])
                    series_c.append(c)
                if on_progress is not None:
                    on_progress(step / t.steps)
            if step == t.steps or not alive.any() or (should_stop is not None and should_stop()):
                break
            s.step()
    end = _classified(last_w2, last_v2, last_v0, last_w0, d_eff, outputs, m.activation)
    out = {
        "status": np.array(["completed" if ok else "diverged" for ok in alive]),
        "steps": steps_done, "diverged_at": diverged_at, **final,
        "pathological_init": np.array([k.pathological for k in initial]),
        "effective_init": np.array([k.effective_components for k in initial]),
        "components_log2_init": np.array([_log2(k.components) for k in initial]),
        "signs_init": np.array([k.signs for k in initial], dtype=str),
        "pathological": np.array([k.pathological for k in end]),
        "effective": np.array([k.effective_components for k in end]),
        "components_log2": np.array([_log2(k.components) for k in end]),
        "signs": np.array([k.signs for k in end], dtype=str),
        "hops": hops, "max_drift": drift,
        "c_init": c0, "c": last_w2 - last_v2,
        "v_sign_init": np.array([k.v_sign for k in initial], np.int8),
        "v_sign": np.array([k.v_sign for k in end], np.int8),
    }
    if series:
        out["series_steps"] = np.array(series_steps, np.int64)
        out["series_loss"] = np.array(series_loss).T  # (N, points)
        if series_test_loss:
            out["series_test_loss"] = np.array(series_test_loss).T
        out["series_c"] = np.stack(series_c, axis=1) if series_c else np.zeros((n, 0, m.hidden))  # (N, points, l)
    return out


def load_group_data(configs: list[Config], groups: list[list[int]]) -> list[Dataset]:
    """One dataset per group, loaded by the driver (workers never read a user's files)."""
    cache: dict[str, Dataset] = {}
    out = []
    for members in groups:
        config = configs[members[0]]
        key = json.dumps(config_to_dict(config)["data"], sort_keys=True)
        if key not in cache:
            cache[key] = load_dataset(config)
        out.append(cache[key])
    return out
