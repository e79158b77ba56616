"""What every experiment shares: the presets, progress reports and the stop signal."""

from __future__ import annotations

import threading
from typing import Callable

NAMES = ("toy", "breast-cancer", "probability", "mitigation", "level-sets", "atlas")


# Default and --quick parameters of every experiment. Seeds are a count here (seeds 0..n-1).
PRESETS: dict[str, dict[str, dict]] = {
    "toy": {
        "full": dict(steps=3000, lr=0.05),
        "quick": dict(steps=1500, lr=0.05),
    },
    "breast-cancer": {
        "full": dict(widths=(2, 4, 6, 8, 10, 12, 14, 16), seeds=20, steps=2000, lr=0.1),
        "quick": dict(widths=(2, 4, 8), seeds=8, steps=1000, lr=0.1),
    },
    "probability": {
        "full": dict(max_inputs=30, max_hidden=30, samples=100_000),
        "quick": dict(max_inputs=10, max_hidden=10, samples=20_000),
    },
    "mitigation": {
        "full": dict(widths=(2, 4, 6, 8, 10, 12, 14, 16), seeds=20, steps=2000, lr=0.1, ratios=(2, 3, 4, 8)),
        "quick": dict(widths=(2, 4, 8), seeds=8, steps=1000, lr=0.1, ratios=(2, 3, 4, 8)),
    },
    "level-sets": {
        "full": dict(widths=(4, 8, 16, 32), seeds=8, steps=20000, lr=0.1),
        "quick": dict(widths=(4, 16), seeds=4, steps=5000, lr=0.1),
    },
    "atlas": {
        "full": dict(restarts=32, steps=2000, lr=0.1),
        "quick": dict(restarts=8, steps=1000, lr=0.1),
    },
}


Progress = Callable[[float, str], None]  # (fraction done, what is running now)


class Stopped(Exception):
    """Raised when the caller's stop event is set between two training calls."""


def check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise Stopped("stopped")


def say(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)
