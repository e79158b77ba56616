"""One training run driven from the console, with no Textual in it.

The app calls `execute` in a worker thread. The loop does only what a headless run does (step,
record every snapshot in the store) plus one cheap append to a bounded `SeriesBuffer`; it tells
the UI about progress through a callback at most `refresh_hz` times a second, and the UI reads
whatever is newest when it gets round to drawing. The trainer never waits for the screen.
"""

from __future__ import annotations

import threading
import time
from contextlib import closing
from dataclasses import dataclass
from typing import Callable

from core.config import Config
from core.errors import UserError
from core.snapshot import Classification, Snapshot
from lab.ncf_track import NcfTrack
from lab.series import SeriesBuffer

# Monte Carlo budget for the init-time probability (neurons x samples drawn): ~0.1 s of numpy.
PROBABILITY_BUDGET = 2_000_000


@dataclass
class InitProbability:
    """P(a neuron is pathological at initialisation) for this architecture and scheme."""

    value: float
    stderr: float | None  # None for the closed form
    source: str  # "closed form" or "monte carlo"

    def describe(self) -> str:
        if self.stderr is None:
            return f"{self.value:.4f}"
        return f"{self.value:.4f} ± {self.stderr:.4f} (MC)"


def probability_samples(config: Config, inputs: int) -> int:
    """Networks to sample for the Monte Carlo estimate: as many as the budget allows, 100 to 4000."""
    m = config.model
    return max(100, min(4000, PROBABILITY_BUDGET // max(1, m.hidden * (inputs + 1 + m.outputs))))


def init_probability(config: Config, inputs: int) -> InitProbability:
    """The closed form where docs/science.md has one, else a Monte Carlo estimate sized to stay quick."""
    from core.probability import obstruction

    m, i = config.model, config.init
    samples = probability_samples(config, inputs)
    result = obstruction(i.scheme, inputs, m.hidden, m.outputs, bias=m.bias, hidden_bias=i.hidden_bias,
                         samples=samples, seed=i.seed)
    if result.pathological is not None:
        return InitProbability(result.pathological, None, result.source)
    return InitProbability(result.pathological_mc, result.pathological_mc_stderr, result.source)


class LiveRun:
    """A run of `config`: prepared and executed in a worker thread, read by the UI at any time.

    Attributes the UI reads (each replaced whole, so a reader never sees half an update):
    `state`, `latest`, `series`, `initial`, `probability`, `session_id`, `device`, `error`.
    """

    def __init__(self, config: Config, store=None, refresh_hz: float = 4.0, name: str | None = None,
                 threads: int | None = None):
        self.config = config
        self.threads = threads
        self.store = store
        self.name = name
        self.refresh_interval = 1.0 / max(0.1, refresh_hz)
        self.state = "preparing"  # preparing | running | completed | interrupted | diverged | failed
        self.latest: Snapshot | None = None
        self.series = SeriesBuffer()
        self.initial: Classification | None = None
        self.final: Classification | None = None
        self.probability: InitProbability | None = None
        self.session_id: str | None = None
        self.device = "…"
        self.inputs: int | None = None
        self.d_eff: int | None = None
        self.error: str | None = None  # why it failed, one line
        self.store_error: str | None = None  # why it is not (or no longer) recorded
        self.hop_count = 0
        self.hops_per_neuron: dict[int, int] = {}
        self.ncf: NcfTrack | None = None  # the NCF pane's analysis, recorded with the session
        self.steps_per_second = 0.0
        self._trainer = None
        self._writer = None
        self._stop = threading.Event()

    @property
    def total_steps(self) -> int:
        return self.config.train.steps

    @property
    def finished(self) -> bool:
        return self.state in ("completed", "interrupted", "diverged", "failed")

    def stop(self) -> None:
        """Ask the run to end (within one step); safe from any thread, before or during training."""
        self._stop.set()
        trainer = self._trainer
        if trainer is not None:
            trainer.stop()

    def execute(self, report: Callable[[], None], notify: Callable[[str], None]) -> None:
        """Prepare, train and record; call `report()` now and then and once at the end.

        User mistakes (a missing data file, CUDA without CUDA) end the run as `failed` with
        `error` set; a store that cannot be written is reported through `notify` and training
        goes on unrecorded.
        """
        try:
            self._prepare(notify)
        except UserError as e:
            self.error = str(e)
            self.state = "failed"
            report()
            return
        report()
        self._writer = self._open_session(notify)
        try:
            self._train(report, notify)
        except Exception as e:  # a fault inside the engine: keep the app and the record
            self.error = f"training failed: {type(e).__name__}: {e}"
            self.state = "failed"
            raise
        finally:
            self._close_session(notify)
            report()

    def _prepare(self, notify: Callable[[str], None]) -> None:
        from core.train import Trainer  # torch: imported here, in the worker, never for the first frame

        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)
        trainer = Trainer(self.config)
        self._trainer = trainer
        if self._stop.is_set():
            trainer.stop()
        self.device = trainer.environment.get("device", str(trainer.device))
        self.inputs = trainer.inputs
        self.d_eff = trainer.d_eff
        self.initial = trainer.initial
        self.ncf = NcfTrack.for_run(self.config, trainer.initial_params, trainer.dataset)
        try:
            self.probability = init_probability(self.config, trainer.inputs)
        except Exception as e:  # only a figure on the panel: never worth failing the run for
            notify(f"probability at init not available: {e}")

    def _open_session(self, notify: Callable[[str], None]):
        if self.store is None:
            return None
        trainer = self._trainer
        try:
            writer = self.store.create_session(self.config, trainer.environment, name=self.name)
            writer.set_initial(trainer.initial)
        except (UserError, OSError) as e:
            self.store_error = str(e)
            notify(f"this run is not recorded: {e}")
            return None
        self.session_id = writer.id
        return writer

    def _train(self, report: Callable[[], None], notify: Callable[[str], None]) -> None:
        trainer = self._trainer
        writer = self._writer
        series = self.series
        interval = self.refresh_interval
        clock = time.monotonic
        next_report = 0.0
        hops = 0
        self.state = "running"
        with closing(trainer.batches()) as batches:
            for batch in batches:
                if writer is not None:
                    try:
                        writer.append_batch(batch)
                    except (UserError, OSError) as e:
                        self.store_error = str(e)
                        notify(f"recording stopped, training goes on: {e}")
                        writer = self._writer = None
                if batch.params and self.ncf is not None:
                    newest = max(batch.params)
                    self.ncf.observe(newest, batch.params[newest])
                for snap in batch:
                    series.append(snap)
                    if snap.hops:
                        counts = dict(self.hops_per_neuron)  # replaced whole: the UI may be reading the old one
                        for hop in snap.hops:
                            counts[hop.neuron] = counts.get(hop.neuron, 0) + 1
                        self.hops_per_neuron = counts
                        hops += len(snap.hops)
                        self.hop_count = hops
                    self.latest = snap
                    now = clock()
                    if now >= next_report:
                        next_report = now + interval
                        report()
        self.steps_per_second = trainer.steps_per_second
        if writer is not None and self.ncf is not None:
            self.ncf.save(writer)  # before the run counts as finished, so its record is whole by then
        self.final = trainer.final
        self.state = trainer.status if trainer.status != "running" else "interrupted"

    def _close_session(self, notify: Callable[[str], None]) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        status = self.state if self.state in ("completed", "interrupted", "diverged", "failed") else "interrupted"
        try:
            writer.finish(status, self.final)
        except (UserError, OSError) as e:
            self.store_error = str(e)
            notify(f"could not close the session record: {e}")
