"""How much memory a config needs, estimated before anything is allocated.

A config is a few lines of text, and `hidden = 100000` with `inputs = 100000` asks for 75 GiB
of initial weights alone: such a config is refused with the figure, instead of the machine
swapping or the allocator failing halfway through.
"""

from __future__ import annotations

import os

from core.config import Config, ConfigError

GIB = 1 << 30
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


def available_bytes() -> int:
    """Physical memory of this machine (0 where it cannot be asked)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def check_memory(config: Config, inputs: int, samples: int) -> None:
    """ConfigError naming the sizes and the estimate when `config` cannot fit in memory (with
    `samples` = 0: one network's weights alone)."""
    need = training_bytes(config, inputs, samples)
    have = available_bytes()
    if have and need > have:
        m = config.model
        data = f" and [data] samples = {samples:,}" if samples else ""
        raise ConfigError(
            f"[model] hidden = {m.hidden}, inputs = {inputs}, outputs = {m.outputs}{data} need about "
            f"{need / GIB:,.1f} GiB of memory; this machine has {have / GIB:,.1f} GiB: make the network or "
            f"the dataset smaller"
        )
