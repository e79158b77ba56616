"""Atlas: the floor of every component of H(c) for the current run's config, computed in a worker.

Opened with F7 from the live screen (the running config) or a replay (the session's config), with
the config's steps (at most CONSOLE_MAX_STEPS) and lr and CONSOLE_RESTARTS restarts. A bar
per effective component shows its floor; the run's own component is highlighted and its current
loss is marked on its bar. The numbers are core/atlas.py, the same as `relulab atlas CONFIG.toml`;
the atlas is recorded in the session store as a session of kind "atlas".
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import ProgressBar, Static

from core.config import Config, summary
from core.errors import UserError
from lab.widgets.key_bar import KeyBar

CONSOLE_RESTARTS = 16  # half the CLI's default: the console's atlas should come back in seconds
CONSOLE_MAX_STEPS = 5000  # a run of millions of steps still gets its atlas in seconds
PROGRESS_SECONDS = 0.2  # at most this often a progress message to the UI thread


class AtlasScreen(Screen):
    """The atlas of `config`; `current_loss()` reads the run's loss now (None when there is none)."""

    TITLE = "Atlas"
    HELP = """
For the run's config and its c vector: every effective component of the invariant set H(c) (how
many split neurons sit on their positive piece), each trained from several starting points inside
it by projected GD. A bar is the lowest loss the component reached (its floor); the run's own
component is highlighted and '|' marks the run's loss now. The obstruction gap is the own floor
minus the lowest floor; the reference is the same network with every c_k made >= 0.
"""

    BINDINGS = [
        Binding("r", "recompute", "Recompute"),
        Binding("escape,backspace", "close", "Back"),
    ]

    DEFAULT_CSS = """
    AtlasScreen #atlas-title { height: 1; background: $primary-background; padding: 0 1; }
    AtlasScreen #atlas-progress { margin: 1 1 0 1; }
    AtlasScreen #atlas-status { height: auto; padding: 0 1; }
    AtlasScreen #atlas-bars { height: auto; padding: 1 1; }
    AtlasScreen #atlas-summary { height: auto; padding: 0 1; }
    """

    def __init__(self, config: Config, current_loss: Callable[[], float | None] | None = None, store=None,
                 restarts: int = CONSOLE_RESTARTS) -> None:
        super().__init__()
        self.config = config
        self.steps = min(config.train.steps, CONSOLE_MAX_STEPS)
        self.current_loss = current_loss or (lambda: None)
        self.store = store
        self.restarts = restarts
        self.report: dict | None = None
        self.stop_event = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static(Text(f"relulab · atlas of {summary(self.config)}", style="bold"), id="atlas-title")
        yield ProgressBar(total=self.steps, show_eta=False, id="atlas-progress")
        yield Static("", id="atlas-status")
        yield Static("", id="atlas-bars")
        yield Static("", id="atlas-summary")
        yield KeyBar()

    def on_mount(self) -> None:
        self.compute()
        self.set_interval(1.0, self.draw)

    def on_unmount(self) -> None:
        self.stop_event.set()

    def action_close(self) -> None:
        self.stop_event.set()
        self.app.pop_screen()

    def action_recompute(self) -> None:
        self.stop_event.set()
        self.stop_event = threading.Event()
        self.report = None
        self.compute()

    @work(thread=True, exclusive=True, group="atlas", exit_on_error=False)
    def compute(self) -> None:
        """Runs off the UI thread; talks to the screen only through call_from_thread."""
        from core.atlas import atlas, atlas_config
        from lab.atlas_report import record_atlas

        stop = self.stop_event
        threads = getattr(self.app, "threads", None)
        if threads is not None:  # as a live run does: the UI keeps a core (lab/app.py training_threads)
            import torch

            torch.set_num_threads(threads)
        capped = f" (capped from {self.config.train.steps:,})" if self.steps < self.config.train.steps else ""
        self.app.call_from_thread(self.set_status, f"training {self.restarts} starting points per component for "
                                                   f"{self.steps:,} steps{capped}…")
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_SECONDS and not stop.is_set():
                last[0] = now
                self.app.call_from_thread(self.set_progress, done)

        try:
            result = atlas(self.config, restarts=self.restarts, steps=self.steps, stop=stop, progress=progress)
        except UserError as e:
            self.app.call_from_thread(self.set_status, str(e), "bold red")
            return
        except Exception as e:  # shown in place; the console keeps running
            self.app.call_from_thread(self.set_status, f"the atlas failed: {type(e).__name__}: {e}", "bold red")
            return
        if stop.is_set() and result.status == "interrupted":
            return  # closed or restarted: nothing to show, nothing to record
        report = result.to_dict()
        note = f"{result.status} in {result.seconds:.1f} s on {result.device}"
        if self.store is not None:
            try:
                sid = record_atlas(self.store, atlas_config(self.config, steps=self.steps), result, report,
                                   default_name=f"atlas of {summary(self.config)}")
                note += f"; recorded as session {sid}"
            except Exception as e:  # the atlas is still shown
                note += f"; not recorded: {e}"
        self.app.call_from_thread(self.finished, report, note)

    def set_status(self, text: str, style: str = "") -> None:
        if self.is_attached:
            self.query_one("#atlas-status", Static).update(Text(text, style=style))

    def set_progress(self, done: int) -> None:
        if self.is_attached:
            self.query_one("#atlas-progress", ProgressBar).update(progress=done)

    def finished(self, report: dict, note: str) -> None:
        if not self.is_attached:
            return
        self.report = report
        self.query_one("#atlas-progress", ProgressBar).update(progress=self.steps)
        self.set_status(note)
        self.draw()

    def draw(self) -> None:
        """The bars (with the run's loss now) and the summary lines."""
        if self.report is None or not self.is_attached:
            return
        from lab.views.atlas import atlas_bars, atlas_summary

        loss = self.current_loss()
        width = max(10, self.size.width - 50)
        bars = Text("\n").join(atlas_bars(self.report, width=width, current_loss=loss))
        self.query_one("#atlas-bars", Static).update(bars)
        self.query_one("#atlas-summary", Static).update(Text("\n").join(atlas_summary(self.report)))


def open_atlas(app) -> None:
    """F7: the atlas of the replayed session's config, else of the live run's; a note when neither."""
    model = getattr(app.screen, "model", None)  # a replay screen's ReplayModel
    if model is not None and getattr(model, "config", None) is not None:
        config = model.config

        def current_loss() -> float | None:
            loss = model.arrays.get("loss")
            return float(loss[model.index]) if loss is not None and len(loss) else None
    elif getattr(app, "live_run", None) is not None:
        run = app.live_run
        config = run.config

        def current_loss() -> float | None:
            return float(run.latest.loss) if run.latest is not None else None
    else:
        app.notify("No run to map yet: start one (F2, ctrl+r) or replay one (F4), then press F7.", severity="warning")
        return
    app.push_screen(AtlasScreen(config, current_loss, app.store))
