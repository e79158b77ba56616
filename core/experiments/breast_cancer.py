"""breast_cancer: test loss over hidden width l and the number l_+ of non-pathological neurons (the paper's Fig. 4).

Trained through the sweep runner (core/sweeps), as `relulab sweep` trains a user's grid
(core.experiments.grid.train_grid, which mitigation shares): one member config per (l, l_+, seed).
"""

from __future__ import annotations

import threading

from core.experiments.common import PRESETS, Progress
from core.experiments.grid import GridResult, check_grid_args, train_grid


def breast_cancer(widths=PRESETS["breast-cancer"]["full"]["widths"], seeds=range(20), steps: int = 2000,
                  lr: float = 0.1, device: str = "auto", *, stop: threading.Event | None = None,
                  progress: Progress | None = None) -> GridResult:
    """For each width l and l_+ = 0..l, one network per seed with l_- = l - l_+ pathological neurons
    of negative output sign; full-batch GD on BCE, standardised breast-cancer data, fixed split."""
    check_grid_args(widths, list(seeds), steps)
    grids, _ = train_grid(widths, list(seeds), steps, lr, device, ("prescribed",), stop, progress)
    return grids["prescribed"]
