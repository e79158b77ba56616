"""How much memory a config needs, estimated before anything is allocated.

A config is a few lines of text, and `hidden = 100000` with `inputs = 100000` asks for 75 GiB
of initial weights alone: such a config is refused with the figure, instead of the machine
swapping or the allocator failing halfway through.
"""

from __future__ import annotations

import os

from core.config import Config, ConfigError

HOST_FLOAT = 8  # data and initial weights are drawn as float64 numpy arrays
PENDING_BYTES = 64 << 20  # the trainer's snapshot batch stays within this (core/train.py)


def training_bytes(config: Config, inputs: int, samples: int) -> int:
    """Bytes a run of `config` holds at once, roughly: the data (numpy, then as tensors), the
    initial weights, the parameters with their gradients and optimizer state, and one forward
    and backward pass over all `samples` (full batch; a minibatch needs less)."""
    m, t = config.model, config.train
    item = 4 if t.dtype == "float32" else 8
    params = m.hidden * (inputs + 1) + m.outputs * (m.hidden + 1)
    batch = min(samples, t.batch_size or samples)
    data = samples * (inputs + m.outputs)
    host = 2 * HOST_FLOAT * (data + params)  # drawn, then split or copied once
    device = item * (data + 4 * params + 3 * batch * (m.hidden + m.outputs))
    return host + device + PENDING_BYTES


def available_memory() -> int | None:
    """Bytes of memory this process can still take (Linux MemAvailable; None where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(config: Config, inputs: int, samples: int) -> None:
    """ConfigError naming the field that asks too much, with the estimate, when `config` cannot
    fit in the memory available (with `samples` = 0: one network's weights alone)."""
    need, have = training_bytes(config, inputs, samples), available_memory()
    if have is None or need <= have:
        return
    m = config.model
    weights = training_bytes(config, inputs, 0)
    if samples and need - weights >= weights:
        field = f"[data] samples = {samples}"
    else:
        field = f"[model] hidden = {m.hidden}, inputs = {inputs}, outputs = {m.outputs}"
    raise ConfigError(f"{field}: needs about {need / 1e9:,.1f} GB of memory (data, weights, optimizer state "
                      f"and one step's activations), {have / 1e9:,.1f} GB is available")
