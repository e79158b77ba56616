"""The neural correlation function beside a run, for the console's NCF pane (live and replay).

`NcfTrack` holds, for one run whose network the theory covers, the KKT table of its NCF and the
prediction for its initial point (core.ncf.analyse), and the alignment of the neurons at the
newest checkpoint. The analysis is computed once, in a background thread: from the start of a
run for a small problem, else when the pane is first shown. It is recorded with the session as
its "ncf" result when the run ends. The analysis is
recorded with the session as its "ncf" result, so replay shows what the live run showed; a
session recorded without it gets it computed from its config (the analysis depends on the
config only). No Textual here.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from core.config import Config
from core.errors import UserError
from core.snapshot import Params

RESULT_NAME = "ncf"
WAIT_SECONDS = 60.0  # how long closing a session waits for an analysis still being computed
# A run computes an analysis nobody asked for (niced, from its start, so that it is ready to be
# recorded when the run ends) only below this many multiply-adds of ascent (starts x samples x
# d_eff x iterations): a tenth of a second of CPU. The examples abs and small_init are ~1e7,
# breast cancer ~2.5e8 (computed when the pane is shown, else by replay from the config).
UNASKED_WORK = 1e8
ANALYSIS_NICE = 10


@dataclass(frozen=True)
class NcfView:
    """What the NCF pane draws at one moment."""

    status: str  # "computing", "ready", or why there is nothing to show
    source: str  # "recorded" | "computed now" | "live"
    kkt: list[dict]
    prediction: list[dict]
    lr: float
    theta0: float  # ||theta(0)||
    checkpoint: int | None  # the step the alignment is of
    cosine_predicted: np.ndarray | None
    nearest: np.ndarray | None
    nearest_cosine: np.ndarray | None
    request: Callable[[], None] | None = None  # starts the analysis (status "not started")

    @property
    def rate(self) -> float | None:
        """The fastest predicted growth rate 2 N* (per unit of time t = step * lr)."""
        rates = [n["rate"] for n in self.prediction if n["kkt"] is not None]
        return max(rates) if rates else None

    def escape_step(self, norm: float = 1.0) -> float | None:
        """Near 0, ||theta|| ~ ||theta(0)|| exp(2 N* t): the step at which it would reach `norm`."""
        rate = self.rate
        if rate is None or rate <= 0 or self.theta0 <= 0:
            return None
        return max(0.0, math.log(norm / self.theta0) / (rate * self.lr))


def analysis_record(config: Config, params: Params | None = None, dataset=None) -> dict:
    """core.ncf.analyse as a JSON-ready dict: the session's "ncf" result."""
    from core import ncf

    report = ncf.analyse(config, dataset=dataset, params=params)
    return {"kkt": [k.to_dict() for k in report.kkt], "prediction": report.prediction.neurons(),
            "theta0": report.initial.theta_norm, "lr": config.train.lr,
            "classification": report.classification}


class NcfTrack:
    """The NCF analysis of one run and the alignment at its newest checkpoint (thread-safe)."""

    def __init__(self, record: dict | None = None, status: str = "computing", source: str = "live"):
        self.record = record
        self.status = status if record is None else "ready"
        self.source = source
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._inputs: tuple | None = None
        self.small = True  # cheap enough to compute unasked when the session closes
        self._checkpoint: tuple[int, Params] | None = None
        self._aligned: tuple[int, object] | None = None
        self._kkt_objects = None

    # -- making one ---------------------------------------------------------------------------------

    @classmethod
    def for_config(cls, config: Config, params: Params | None = None, source: str = "live",
                   dataset=None, start: bool = True) -> "NcfTrack":
        """A track for `config` (unless the theory does not cover the network: then its status says
        why); its analysis starts in a background thread now, or on `request()` when not `start`."""
        from core import ncf

        try:
            ncf.check_covered(config)
        except UserError as e:
            return cls(None, f"not covered: {e}", source)
        track = cls(None, "not started", source)
        track._inputs = (config, params, dataset)
        if dataset is not None:
            d_eff = dataset.inputs + config.model.bias
            track.small = (2 * 64 + config.model.hidden) * len(dataset.x_train) * d_eff * 150 <= UNASKED_WORK
        if start:
            track.request()
        return track

    def request(self) -> None:
        """Start the analysis in a background thread, once (any thread)."""
        with self._lock:
            if self._thread is not None or self._inputs is None:
                return
            self.status = "computing"
            self._thread = threading.Thread(target=self._compute, args=self._inputs, daemon=True,
                                            name="ncf-analysis")
            self._thread.start()

    @classmethod
    def for_run(cls, config: Config, params: Params, dataset) -> "NcfTrack":
        """The track of a live run: a small problem's analysis starts now, a big one's on request."""
        track = cls.for_config(config, params, dataset=dataset, start=False)
        if track.small:
            track.request()
        return track

    @classmethod
    def for_session(cls, session) -> "NcfTrack":
        """The recorded analysis of a session, else one computed now from its config."""
        if RESULT_NAME in session.result_names():
            try:
                return cls(session.json(RESULT_NAME), source="recorded")
            except Exception:  # a damaged record: compute it instead of failing the replay
                pass
        if session.config is None:
            return cls(None, "no config recorded", "recorded")
        params = None
        steps = session.checkpoint_steps()
        if steps and steps[0] == 0:
            params = session.checkpoint(0)
        track = cls.for_config(session.config, params, source="computed now")
        return track

    def _compute(self, config: Config, params: Params | None, dataset=None) -> None:
        try:  # the training thread goes first when they compete for a core (Linux: a nice per thread)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ANALYSIS_NICE)
        except (AttributeError, OSError):
            pass
        try:
            self.record = analysis_record(config, params, dataset)
            self.status = "ready"
        except UserError as e:
            self.status = f"not available: {e}"
        except Exception as e:  # only a pane: never worth failing the run for
            self.status = f"failed: {type(e).__name__}: {e}"

    def wait(self, seconds: float = WAIT_SECONDS) -> bool:
        """Start the analysis if nobody has yet, and wait for it; True when it is there."""
        self.request()
        if self._thread is not None:
            self._thread.join(seconds)
        return self.record is not None

    # -- feeding and reading ------------------------------------------------------------------------

    def observe(self, step: int, params: Params) -> None:
        """The newest checkpoint of the run (any thread)."""
        self._checkpoint = (step, params)

    def save(self, writer) -> None:
        """Record the analysis with the session, waiting for it if it is still being computed;
        one nobody asked for and never started (a big problem) is not recorded."""
        if writer is None or self._thread is None:
            return
        if self.wait():
            writer.put_json(RESULT_NAME, self.record)

    def view(self, checkpoint: tuple[int, Params] | None = None) -> NcfView:
        """What to draw; `checkpoint` (step, params) overrides the newest observed one (replay)."""
        record = self.record
        if record is None:
            return NcfView(self.status, self.source, [], [], 0.0, 0.0, None, None, None, None, self.request)
        checkpoint = checkpoint or self._checkpoint
        step = cos = nearest = nearest_cos = None
        if checkpoint is not None:
            step, aligned = self._alignment(checkpoint)
            cos, nearest, nearest_cos = aligned.cosine_predicted, aligned.nearest, aligned.nearest_cosine
        return NcfView("ready", self.source, record["kkt"], record["prediction"], float(record["lr"]),
                       float(record["theta0"]), step, cos, nearest, nearest_cos)

    def _alignment(self, checkpoint: tuple[int, Params]):
        from core import ncf

        step, params = checkpoint
        cached = self._aligned
        if cached is not None and cached[0] == step:
            return cached
        table = self._table()
        W, V = ncf.params_arrays(params)
        predicted = self._predicted_directions(W.shape[1])
        aligned = ncf.alignment(W, V, table, predicted)
        self._aligned = (step, aligned)
        return self._aligned

    def _table(self):
        """The recorded KKT table as core.ncf objects."""
        from core import ncf

        if self._kkt_objects is None:
            self._kkt_objects = [
                ncf.KKTDirection(np.asarray(k["direction"], np.float64), k.get("sign"),
                                 np.asarray(k.get("v_direction", [float(k.get("sign") or 1)]), np.float64),
                                 float(k["value"]), float(k["residual"]), int(k.get("basin", 0)))
                for k in self.record["kkt"]]
        return self._kkt_objects

    def _predicted_directions(self, d_eff: int):
        """A Prediction-shaped object whose W rows are the predicted KKT directions (recorded by index)."""
        table = self._table()
        rows = self.record["prediction"]
        index = np.array([-1 if n["kkt"] is None else int(n["kkt"]) for n in rows])
        W = np.array([table[i].direction if i >= 0 else np.zeros(d_eff) for i in index]).reshape(len(rows), d_eff)
        return _Predicted(W, index)


@dataclass
class _Predicted:
    W: np.ndarray
    kkt: np.ndarray


class ReplayNcf:
    """A session's NCF track and its checkpoints, for the replay cursor."""

    def __init__(self, session) -> None:
        self.session = session
        self.track = NcfTrack.for_session(session)
        self.steps = list(session.checkpoint_steps())
        self._params: dict[int, Params] = {}

    def view(self, step: int) -> NcfView:
        at = [s for s in self.steps if s <= step]
        checkpoint = None
        if at:
            s = at[-1]
            if s not in self._params:
                self._params[s] = self.session.checkpoint(s)
            checkpoint = (s, self._params[s])
        return self.track.view(checkpoint)
