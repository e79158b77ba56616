"""Replay: a recorded session drawn by the live view, with play / pause, step, speed and jumps."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from core.errors import UserError
from lab.replay_model import ReplayModel
from lab.widgets.experiment_results import ExperimentResults
from lab.widgets.key_bar import KeyBar
from lab.widgets.live_view import PANE_BINDINGS, LiveView, PaneKeys
from lab.widgets.mode_bar import ModeBar
from lab.widgets.replay_controls import ReplayControls
from lab.widgets.status_line import StatusLine

FOLLOW_SECONDS = 1.0  # how often a session that is still recording is read again


class ReplayScreen(PaneKeys, Screen):
    """Replays session `session_id` from the app's store."""

    TITLE = "Replay"
    HELP = """
The recorded snapshots of a session, drawn as they were live. The classification shown is the
one at the cursor's step; h jumps to the next component hop (a pathological neuron whose output
sign changed between two snapshots — which gradient flow forbids, so a hop means the step size
was too large or the optimizer does not conserve c_k). `.` / `,` step like → / ←, `>` / `<` play faster /
slower. Neuron labels on the plots: 0-9, then a-z for neurons 10 to 35, `*` beyond. A session still
recording is followed: paused at its end, the replay moves on with it. An experiment's session shows
its recorded figures and tables instead.
"""

    BINDINGS = [
        Binding("space", "play", "Play/pause", priority=True),
        # Textual names `.` full_stop, `>` greater_than_sign, `<` less_than_sign.
        Binding("right,full_stop", "step(1)", "Step +1", key_display="→", priority=True),
        Binding("left,comma", "step(-1)", "Step −1", key_display="←", priority=True),
        Binding("shift+right", "step(10)", "Step +10", show=False, priority=True),
        Binding("shift+left", "step(-10)", "Step −10", show=False, priority=True),
        Binding("plus,equals_sign,greater_than_sign", "speed(1)", "Faster", show=False),
        Binding("minus,less_than_sign", "speed(-1)", "Slower", show=False),
        Binding("home", "jump('start')", "Start", show=False, priority=True),
        Binding("end", "jump('end')", "End", show=False, priority=True),
        Binding("h", "next_hop", "Next hop"),
        Binding("l", "toggle_log", "Log y"),
        Binding("left_square_bracket", "zoom_in", "Zoom in", key_display="["),
        Binding("right_square_bracket", "zoom_out", "Zoom out", key_display="]"),
        Binding("escape,backspace", "close", "Back"),
    ] + PANE_BINDINGS

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.zooms: list[tuple[float, float]] = []  # [ pushes a narrower step range, ] pops it
        self.model: ReplayModel | None = None
        self.playing = False
        self._budget = 0.0  # snapshots owed to the timer (fractions carry over)
        self._timer = None
        self._follow_timer = None  # re-reads a session that is still recording
        self._following = False

    def compose(self) -> ComposeResult:
        yield ModeBar("sessions", id="mode-bar")
        yield Static(Text(f"loading session {self.session_id}…", style="dim"), id="replay-message")
        yield LiveView(id="live-view")
        yield ExperimentResults(id="exp-results")  # shown instead for a recorded experiment
        yield ReplayControls(id="replay-controls")
        yield StatusLine(id="status")
        yield KeyBar()

    def on_mount(self) -> None:
        store = self.app.store
        if store is None:
            self._fail(f"no session store: {self.app.store_error}")
            return
        self._load(store)

    @work(thread=True, exclusive=True, group="replay-load", exit_on_error=False)
    def _load(self, store) -> None:
        try:
            model = ReplayModel(store.load(self.session_id))
            error = None
        except UserError as e:
            model, error = None, str(e)
        except Exception as e:  # a damaged file must not take the app down
            model, error = None, f"session {self.session_id} cannot be replayed: {type(e).__name__}: {e}"
        self.app.call_from_thread(self._loaded, model, error)

    def _fail(self, error: str) -> None:
        self.query_one("#replay-message", Static).update(Text(error, style="bold red"))
        self.notify(error, title="Cannot replay", severity="error", timeout=10)

    def _loaded(self, model: ReplayModel | None, error: str | None) -> None:
        if model is None:
            self._fail(error or "cannot replay")
            return
        self.model = model
        session = model.session
        name = session.name or session.info.summary
        shown_id = "–" if self.app.redact else session.id
        self.query_one(ModeBar).set_context(f"replay {shown_id} · {name}")
        message = self.query_one("#replay-message", Static)
        if model.experiment is not None:
            self._show_experiment(model.experiment)
            return
        if not len(model):
            message.update(Text(f"session {shown_id} has no snapshots recorded", style="yellow"))
        else:
            message.display = False
        self._timer = self.set_interval(1.0 / self.app.refresh_hz, self._tick, pause=True)
        if session.status == "running":
            self._follow_timer = self.set_interval(FOLLOW_SECONDS, self._follow)
        self.redraw()

    def _show_experiment(self, experiment: tuple[str, object, dict]) -> None:
        """A recorded experiment: its figures, table and headline in place of the run panes."""
        name, result, summary = experiment
        for widget in (self.query_one(LiveView), self.query_one(ReplayControls), self.query_one("#replay-message")):
            widget.display = False
        results = self.query_one(ExperimentResults)
        results.display = True
        try:
            results.show(name, result, summary)
        except Exception as e:  # a record from another version: say so, never crash
            results.clear(f"experiment {name}: cannot draw this record ({type(e).__name__}: {e})")
        self.query_one(StatusLine).show(state=self.model.session.status, session_id=self.model.session.id,
                                        extra=f"experiment {name}", redact=self.app.redact)

    # -- following a session that is still recording -----------------------------------------------

    def _follow(self) -> None:
        store = self.app.store
        if store is not None and self.model is not None and not self._following:
            self._following = True
            self._reread(store, self.model)

    @work(thread=True, exclusive=True, group="replay-follow", exit_on_error=False)
    def _reread(self, store, previous: ReplayModel) -> None:
        try:
            model = ReplayModel(store.load(self.session_id), previous)
        except Exception:  # deleted or damaged meanwhile: keep what is shown
            model = None
        self.app.call_from_thread(self._reread_done, model)

    def on_screen_resume(self) -> None:
        # Back from a screen pushed on top (the atlas: F7) something shown may have changed, e.g.
        # the floor of this run's component now that an atlas of its config is recorded.
        if self.model is not None:
            self.redraw()

    def _reread_done(self, model: ReplayModel | None) -> None:
        self._following = False
        if model is None or self.model is None:
            return
        if self.playing or not self.model.at_end:
            model.seek(self.model.index)  # the cursor moved while reading: keep it
        self.model = model
        if model.session.status != "running" and self._follow_timer is not None:
            self._follow_timer.stop()
            self._follow_timer = None
        if len(model):
            self.query_one("#replay-message", Static).display = False
        self.redraw()

    # -- drawing --------------------------------------------------------------------------------

    def redraw(self) -> None:
        model = self.model
        if model is None or model.experiment is not None:
            return
        frame = model.frame()
        self.query_one(LiveView).show(frame)
        self.query_one(ReplayControls).show(
            playing=self.playing, speed=model.speed, index=model.index, count=len(model), step=model.step,
            hops_seen=len(model.hops_upto(model.step)), hops_total=len(model.hops), readout=readout(frame),
            zoom=self.zooms[-1] if self.zooms else None)
        self.query_one(StatusLine).show(
            state="playing" if self.playing else model.session.status,
            device=model.session.environment.get("device"), step=model.step, total=model.total_steps,
            elapsed=model.elapsed(), session_id=model.session.id, redact=self.app.redact,
        )

    def _tick(self) -> None:
        model = self.model
        if model is None or not self.playing:
            return
        self._budget += model.speed / self.app.refresh_hz
        advance = int(self._budget)
        if advance:
            self._budget -= advance
            model.seek(model.index + advance)
        if model.at_end:
            self._pause()
        self.redraw()

    def _pause(self) -> None:
        self.playing = False
        if self._timer is not None:
            self._timer.pause()

    # -- actions --------------------------------------------------------------------------------

    def action_play(self) -> None:
        if self.model is None or not len(self.model):
            return
        if self.playing:
            self._pause()
        else:
            if self.model.at_end:
                self.model.seek(0)
            self.playing = True
            self._budget = 0.0
            self._timer.resume()
        self.redraw()

    def action_step(self, delta: int) -> None:
        if self.model is None:
            return
        self._pause()
        self.model.seek(self.model.index + delta)
        self.redraw()

    def action_speed(self, delta: int) -> None:
        if self.model is None:
            return
        self.model.faster(delta)
        self.redraw()

    def action_jump(self, where: str) -> None:
        if self.model is None:
            return
        self._pause()
        self.model.seek(0 if where == "start" else len(self.model) - 1)
        self.redraw()

    def action_next_hop(self) -> None:
        if self.model is None:
            return
        self._pause()
        if not self.model.next_hop():
            self.notify("no further hop in this session", timeout=3)
        self.redraw()

    def action_zoom_in(self) -> None:
        """Half the shown step range, centred on the cursor's step (the loss and c_k plots)."""
        model = self.model
        if model is None or model.experiment is not None:
            return
        low, high = self.zooms[-1] if self.zooms else (0.0, float(max(model.total_steps, model.step, 1)))
        half = (high - low) / 4
        if half < 1:
            return
        new_low = max(0.0, model.step - half)
        self.zooms.append((new_low, new_low + 2 * half))
        self.query_one(LiveView).set_zoom(self.zooms[-1])
        self.redraw()

    def action_zoom_out(self) -> None:
        if self.model is None or not self.zooms:
            return
        self.zooms.pop()
        self.query_one(LiveView).set_zoom(self.zooms[-1] if self.zooms else None)
        self.redraw()

    def action_toggle_log(self) -> None:
        self.query_one(LiveView).toggle_log()

    def action_close(self) -> None:
        self.app.pop_screen()


def readout(frame) -> str:
    """The values at the replay's cursor: loss, test loss, l_- and the component's name."""
    if frame is None:
        return ""
    parts = []
    if frame.loss is not None:
        parts.append(f"loss {frame.loss:.6g}")
    if frame.test_loss is not None:
        parts.append(f"test {frame.test_loss:.6g}")
    if frame.classification is not None:
        parts.append(f"l_- {frame.classification.pathological}")
        if frame.classification.signs:
            parts.append(f"signs {frame.classification.signs}")
    return " · ".join(parts)
