"""`RunFrame`: everything the live view draws at one moment, whether from a live run or a replay.

Building a frame is the only place numbers are turned into what the panes show, so the live
view and replay cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from core.invariants import classify
from core.snapshot import Classification
from lab.atlas_report import component_floor_line
from lab.live_run import InitProbability, LiveRun
from lab.ncf_track import NcfView
from lab.series import SeriesView


@dataclass(frozen=True)
class RunFrame:
    """One moment of a run, for the plots, the classification panel and the status line."""

    series: SeriesView | None
    step: int
    total_steps: int
    loss: float | None
    test_loss: float | None
    c: np.ndarray  # (hidden,) every neuron at `step`
    w_norm: np.ndarray
    v: np.ndarray
    classification: Classification | None
    probability: InitProbability | None
    max_drift: float
    hops: int
    hops_per_neuron: dict[int, int] = field(default_factory=dict)
    component_floor: str | None = None  # "floor of this component ..." once an atlas of this config and c exists
    ncf: NcfView | None = None  # the NCF pane's data (lab/ncf_track.py), None where not computed

    @property
    def hidden(self) -> int:
        return len(self.c)


def classify_point(c: np.ndarray, w_norm: np.ndarray, v: np.ndarray, v_sign: np.ndarray, d_eff: int,
                   outputs: int, activation: str = "relu", name: str | None = None) -> Classification:
    """The component classification of one recorded point (scale ||W_k||^2 + ||v_k||^2 sets 'balanced').

    `activation` merges the components its sign symmetry makes compute the same functions, as
    `relulab run` counts them. `name`, the component's name as recorded, stands in where the point
    cannot name it: with d_eff = 1 a free neuron's piece is told by the sign of w_k, which the
    snapshots do not keep."""
    cl = classify(c, v_sign, d_eff, outputs, np.asarray(w_norm) ** 2 + np.asarray(v) ** 2, activation=activation)
    return replace(cl, signs=name) if name and "?" in cl.signs else cl


def live_frame(run: LiveRun) -> RunFrame | None:
    """The newest state of a live run (None before its first snapshot)."""
    snap = run.latest
    if snap is None:
        return None
    classification = None
    if run.d_eff is not None:
        classification = classify_point(snap.c, snap.w_norm, snap.v, snap.v_sign, run.d_eff, run.config.model.outputs,
                                        run.config.model.activation, snap.signs)
    return RunFrame(
        series=run.series.view(), step=snap.step, total_steps=run.total_steps, loss=snap.loss,
        test_loss=snap.test_loss, c=snap.c, w_norm=snap.w_norm, v=snap.v, classification=classification,
        probability=run.probability, max_drift=snap.max_drift, hops=run.hop_count,
        hops_per_neuron=run.hops_per_neuron,
        component_floor=component_floor_line(getattr(run.store, "path", None), run.config, run.initial),
        ncf=run.ncf.view() if run.ncf is not None else None,
    )
