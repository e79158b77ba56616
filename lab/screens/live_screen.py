"""Live: the current run's plots, classification and status, drawn from the newest snapshot.

The screen draws when the worker says there is something new (at most `refresh_hz` times a
second, coalesced); it never sees every step.
"""

from __future__ import annotations


from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from core.config import summary
from lab.frame import live_frame
from lab.live_run import LiveRun
from lab.widgets.key_bar import KeyBar
from lab.widgets.live_view import PANE_BINDINGS, LiveView, PaneKeys
from lab.widgets.mode_bar import ModeBar
from lab.widgets.status_line import StatusLine

IDLE = "No run yet: set up a network (F2) and press ctrl+r, or replay one from the sessions (F4)."


class LiveScreen(PaneKeys, Screen):
    """The live view of `app.live_run`."""

    TITLE = "Live"
    HELP = """
Loss (train, test), c_k per neuron (dotted: pathological, c_k < 0, whose output sign is frozen),
the quadric picture (each neuron a point (‖W_k‖, v_k) on v² = ‖W_k‖² − c_k) and the
classification: l_- pathological neurons, connected components of H(c), effective components.
On the c_k and quadric plots a neuron is labelled by one character: 0-9 for neurons 0 to 9, a-z for
10 to 35, `*` beyond (the classification table lists every index).
"""

    BINDINGS = [
        Binding("s", "stop", "Stop"),
        Binding("r", "restart", "Restart"),
        Binding("n", "new_seed", "New seed"),
        Binding("l", "toggle_log", "Log y"),
        Binding("e", "app.mode('setup')", "Edit"),
    ] + PANE_BINDINGS

    def __init__(self) -> None:
        super().__init__(id="live")
        self._said: str | None = None

    def compose(self) -> ComposeResult:
        yield ModeBar("live", id="mode-bar")
        yield Static(Text(IDLE, style="dim"), id="run-message")
        yield LiveView(id="live-view")
        yield StatusLine(id="status")
        yield KeyBar()

    def on_mount(self) -> None:
        run = getattr(self.app, "live_run", None)
        if run is not None:
            self.show_run(run)
        else:
            self.query_one(StatusLine).show(state="ready")

    def on_screen_resume(self) -> None:
        run = getattr(self.app, "live_run", None)
        if run is not None:
            self.show_run(run)

    def show_run(self, run: LiveRun) -> None:
        """Draw the newest state of `run`."""
        redact = getattr(self.app, "redact", False)
        if run.error:
            self._say(run.error, "bold red")
        elif run.state == "diverged":
            self._say("diverged: the loss stopped being finite; the last finite state is kept", "bold red")
        elif run.store_error:
            self._say(f"not recorded: {run.store_error}", "yellow")
        else:
            self._say("")
        empty = None
        if run.finished and run.latest is None:
            empty = "no snapshot: the run failed (see above)" if run.state == "failed" else f"no snapshot: {run.state}"
        self.query_one(LiveView).show(live_frame(run), empty)
        latest = run.latest
        rate = None
        if latest is not None and latest.elapsed > 0:
            rate = run.steps_per_second if run.finished and run.steps_per_second else latest.step / latest.elapsed
        self.query_one(StatusLine).show(
            state=run.state, device=run.device, steps_per_second=rate,
            step=latest.step if latest else 0, total=run.total_steps,
            elapsed=latest.elapsed if latest else None, session_id=run.session_id, redact=redact,
        )
        self.query_one(ModeBar).set_context(run.name or summary(run.config))

    def _say(self, text: str, style: str = "dim") -> None:
        """The line above the plots: why a run failed, or why it is not recorded; hidden when empty."""
        message = self.query_one("#run-message", Static)
        if text == self._said:
            return
        self._said = text
        message.update(Text(text, style=style))
        message.display = bool(text)

    def action_stop(self) -> None:
        self.app.stop_run()

    def action_restart(self) -> None:
        self.app.restart_run(new_seed=False)

    def action_new_seed(self) -> None:
        self.app.restart_run(new_seed=True)

    def action_toggle_log(self) -> None:
        on = self.query_one(LiveView).toggle_log()
        self.notify(f"loss axis: {'log' if on else 'linear'}", timeout=2)

