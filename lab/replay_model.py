"""A recorded session read back for replay: its series, a cursor, and the frame at the cursor.

No Textual here: the replay screen moves the cursor, this builds the `RunFrame` the live view
draws, so a replayed run looks exactly like it did live.
"""

from __future__ import annotations

import numpy as np

from lab.atlas_report import component_floor_line
from lab.frame import RunFrame, classify_point
from lab.live_run import InitProbability, init_probability
from lab.ncf_track import ReplayNcf
from lab.series import SeriesView

# Rows of (n x hidden) arrays kept in memory for scrubbing: whole sessions up to this many cells.
MAX_CELLS = 20_000_000
MAX_POINTS = 20_000
SPEEDS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)  # snapshots per second


class ReplayModel:
    """The series of `session` and a cursor over its rows."""

    def __init__(self, session, previous: "ReplayModel | None" = None) -> None:
        """`previous`: the same session read a moment ago (following a recording one); its
        cursor, speed and init-time probability carry over."""
        self.session = session
        self.config = session.config
        hidden = session.hidden or 1
        max_points = int(max(100, min(MAX_POINTS, MAX_CELLS // hidden)))
        self.arrays = session.series(max_points=max_points)
        self.steps = np.asarray(self.arrays["step"])
        self.view = SeriesView.from_arrays(self.arrays) if len(self.steps) else None
        self.hops = sorted(session.hops, key=lambda h: h.step)
        self.d_eff = session.d_eff()
        self.outputs = session.outputs or 1
        self.total_steps = self.config.train.steps if self.config is not None else int(self.steps[-1] if len(self.steps) else 0)
        self.probability: InitProbability | None = previous.probability if previous is not None else None
        if previous is None and self.config is not None and session.inputs:
            try:
                self.probability = init_probability(self.config, session.inputs)
            except Exception:  # only a figure on the panel
                self.probability = None
        self.ncf = ReplayNcf(session)  # the recorded NCF analysis (or one computed now from the config)
        # An experiment records results, not snapshots: drawn as the experiments screen drew them.
        self.experiment = recorded_experiment(session) if not len(self.steps) else None
        self.index = 0
        self._names: dict[int, str | None] = {}
        # Start the default speed so a whole replay takes about 10 seconds.
        self.speed = next((s for s in SPEEDS if s * 10 >= len(self)), SPEEDS[-1])
        if previous is not None:
            self.speed = previous.speed
            # Paused at the newest snapshot: stay at the newest, as `tail -f` does.
            self.seek(len(self) - 1 if previous.at_end else previous.index)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def step(self) -> int:
        return int(self.steps[self.index]) if len(self) else 0

    @property
    def at_end(self) -> bool:
        return self.index >= len(self) - 1

    def seek(self, index: int) -> None:
        self.index = int(min(max(0, index), max(0, len(self) - 1)))

    def seek_step(self, step: int) -> None:
        """The newest row at or before `step`."""
        self.seek(int(np.searchsorted(self.steps, step, side="right")) - 1)

    def next_hop(self) -> bool:
        """Jump to the next component hop after the cursor; False when there is none."""
        hop = next((h for h in self.hops if h.step > self.step), None)
        if hop is None:
            return False
        self.seek(int(np.searchsorted(self.steps, hop.step, side="left")))
        return True

    def faster(self, delta: int) -> int:
        i = SPEEDS.index(self.speed) if self.speed in SPEEDS else 0
        self.speed = SPEEDS[min(max(0, i + delta), len(SPEEDS) - 1)]
        return self.speed

    def hops_upto(self, step: int) -> list:
        return [h for h in self.hops if h.step <= step]

    def frame(self) -> RunFrame | None:
        """What the live view shows at the cursor."""
        if not len(self):
            return None
        i = self.index
        a = self.arrays
        c = np.asarray(a["c"][i], np.float64)
        w = np.asarray(a["w_norm"][i], np.float64)
        v = np.asarray(a["v"][i], np.float64)
        activation = self.config.model.activation if self.config is not None else "relu"
        classification = classify_point(c, w, v, np.sign(v).astype(np.int8), self.d_eff, self.outputs, activation,
                                        self.recorded_name(self.step) if self.d_eff == 1 else None)
        hops = self.hops_upto(self.step)
        per_neuron: dict[int, int] = {}
        for h in hops:
            per_neuron[h.neuron] = per_neuron.get(h.neuron, 0) + 1
        test = a.get("test_loss")
        test_value = float(test[i]) if test is not None and np.isfinite(test[i]) else None
        drift = a.get("max_drift")
        return RunFrame(
            series=self.view.upto(i), step=self.step, total_steps=self.total_steps, loss=float(a["loss"][i]),
            test_loss=test_value, c=c, w_norm=w, v=v, classification=classification, probability=self.probability,
            max_drift=float(drift[i]) if drift is not None else 0.0, hops=len(hops), hops_per_neuron=per_neuron,
            component_floor=component_floor_line(self.session.database.store_path, self.config, self.session.initial),
            ncf=self.ncf.view(self.step),
        )

    def recorded_name(self, step: int) -> str | None:
        """The component's name recorded at `step` (read from the store once per step)."""
        if step not in self._names:
            try:
                self._names[step] = self.session.classification_at(step).signs
            except Exception:  # damaged or gone: the frame names what it can
                self._names[step] = None
        return self._names[step]

    def elapsed(self) -> float | None:
        e = self.arrays.get("elapsed")
        return float(e[self.index]) if e is not None and len(self) else None


class RecordedGrid:
    """A breast-cancer grid read back from the store: the arrays its drawing reads."""

    def __init__(self, arrays: dict, prefix: str = "") -> None:
        self.widths = np.asarray(arrays[prefix + "widths"])
        self.seeds = np.asarray(arrays[prefix + "seeds"])
        self._arrays = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    def mean(self, key: str = "test_loss") -> np.ndarray:
        """(widths, l_+) mean over seeds, NaN where l_+ > l (as GridResult.mean)."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(np.asarray(self._arrays[key], np.float64), axis=2)


def recorded_experiment(session) -> tuple[str, object, dict] | None:
    """(name, result, summary) of a session recorded by an experiment, read back from its named
    results so the console draws it as the experiments screen did; None for a training run."""
    from types import SimpleNamespace

    names = set(session.result_names())
    if "experiment" not in names:
        return None
    record = session.json("experiment")
    name, summary = record["name"], record.get("summary") or {}
    arrays = {n: session.array(n) for n in names if n not in ("experiment", "provenance", "cells", "runs")}
    if name == "toy":
        runs = summary.get("runs") or session.json("runs")
        result = SimpleNamespace(labels=[r["run"] for r in runs], steps=arrays["steps"], loss=arrays["loss"],
                                 w_norm=arrays["w_norm"], v=arrays["v"], c=arrays["c"],
                                 final_loss=np.array([r["final_loss"] for r in runs]), summary=lambda: runs)
    elif name == "mitigation":
        ratios = sorted({float(n[5:].split("_")[0]) for n in arrays if n.startswith("ratio") and n.endswith("_widths")})
        result = SimpleNamespace(prescribed=RecordedGrid(arrays, "prescribed_"),
                                 rebalanced=RecordedGrid(arrays, "rebalanced_"),
                                 by_ratio={r: RecordedGrid(arrays, f"ratio{r:g}_") for r in ratios},
                                 check=SimpleNamespace(**summary["check"]))
    elif name == "probability":
        schemes = list(summary.get("monotone_in_d") or ("xavier_normal", "kaiming_normal"))  # in recorded order
        result = SimpleNamespace(schemes=schemes, samples=summary.get("samples"), **arrays)
    elif name == "breast-cancer":
        result = RecordedGrid(arrays)
    else:  # drawn from its summary's verdicts
        result = None
    return name, result, summary
