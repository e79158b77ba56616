"""mitigation: the breast-cancer grid again with every neuron rescaled to c_k >= 0 at init."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from core.experiments.common import PRESETS, Progress
from core.experiments.grid import GridResult, RebalanceCheck, check_grid_args, train_grid

@dataclass
class MitigationResult:
    prescribed: GridResult  # the breast-cancer grid
    rebalanced: GridResult  # the same initial networks, every neuron rescaled to c_k >= 0
    check: RebalanceCheck

    def findings(self) -> dict:
        """Per width: how much the mean test loss varies over l_+ (max - min), with and without."""
        out = {"widths": [int(w) for w in self.prescribed.widths]}
        for name, grid in (("prescribed", self.prescribed), ("rebalanced", self.rebalanced)):
            mean = grid.mean("test_loss")
            out[name + "_range_over_l_plus"] = [float(np.nanmax(m) - np.nanmin(m)) for m in mean]
            out[name + "_loss_at_l_plus_0"] = [float(m[0]) for m in mean]
            out[name + "_sign_flips"] = float(np.nanmean(grid.sign_flips))
        return out


def mitigation(widths=PRESETS["mitigation"]["full"]["widths"], seeds=range(20), steps: int = 2000,
               lr: float = 0.1, device: str = "auto", *, stop: threading.Event | None = None,
               progress: Progress | None = None) -> MitigationResult:
    """The breast-cancer grid twice, from the same initial networks: as prescribed, and rebalanced
    (`core.init.rebalance`, what `[init] rebalance = true` does): each pathological neuron's norms
    are swapped, (W_k, v_k) -> (a W_k, v_k / a) with a = ||v_k|| / ||W_k||, so c_k -> -c_k > 0 and
    the network computes exactly the same function. Both variants train in the same sweep calls."""
    check_grid_args(widths, list(seeds), steps)
    grids, check = train_grid(widths, list(seeds), steps, lr, device, (False, True), stop, progress)
    return MitigationResult(prescribed=grids[False], rebalanced=grids[True], check=check)
