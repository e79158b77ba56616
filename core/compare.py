"""Comparing runs: which config keys differ, and TensorBoard's smoothing of a noisy series.

Pure numerics and dictionaries; the session store reads the runs and lab/ draws them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MISSING = "(absent)"


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 0.1}} -> {"train.lr": 0.1}; lists stay values."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def differences(configs: list[dict | None]) -> dict[str, list]:
    """The dotted config keys whose values are not all equal, each with one value per config
    (MISSING where a config lacks the key, or has no config at all), in key order."""
    flat = [flatten(c) if c else {} for c in configs]
    keys = sorted(set().union(*flat)) if flat else []
    out = {}
    for key in keys:
        values = [f.get(key, MISSING) for f in flat]
        if any(not same(values[0], v) for v in values[1:]):
            out[key] = values
    return out


def same(a, b) -> bool:
    """Equality that treats NaN as equal to NaN and 1 as equal to 1.0 (TOML keeps the type)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b or (
        isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool)
        and not isinstance(b, bool) and a == b)


def smooth(values, weight: float) -> np.ndarray:
    """TensorBoard's scalar smoothing: an exponential moving average with bias correction.

    last = weight * last + (1 - weight) * x over the finite points, divided by 1 - weight^n so the
    first points are not pulled towards zero. Non-finite points pass through unchanged (and do not
    enter the average), and so does a constant series. weight 0 is the series itself."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight {weight}: must be in [0, 1)")
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    if values.size == 0 or weight == 0.0 or np.all(values == values[0]):
        return out
    last, count = 0.0, 0
    for i, x in enumerate(values):
        if not math.isfinite(x):
            continue
        last = last * weight + (1.0 - weight) * x
        count += 1
        out[i] = last / (1.0 - weight**count)
    return out
