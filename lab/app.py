"""The relulab console: set up a network, watch it train, browse and replay recorded runs.

Screens are Textual modes (set-up, live, sessions) so each keeps its state while another is
shown; replay is pushed over the sessions screen. Training runs in a worker thread owned by the
app, so it goes on whichever screen is shown, and the app stops it (recording it as
`interrupted`) when it quits.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.command import CommandPalette
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from core.config import Config, replace
from core.errors import UserError
from lab.live_run import LiveRun
from lab.messages import RunNotice, RunProgress
from lab.screens.help_screen import GENERIC_ACTIONS, HelpScreen
from lab.screens import modes

DEFAULT_REFRESH_HZ = 2.0
REFRESH_ENV = "RELULAB_REFRESH_HZ"


def training_threads() -> int:
    """torch threads for a run in the console: every core but one, which the UI keeps.

    With all cores busy, torch's worker threads and the UI thread preempt one another and a
    small network trains many times slower than headless; one core left free avoids that.
    """
    return max(1, (os.cpu_count() or 2) - 1)


def refresh_rate(value: float | None = None) -> float:
    """Plot refreshes per second: the argument, else $RELULAB_REFRESH_HZ, else 2 (0.2 to 30)."""
    if value is None:
        try:
            value = float(os.environ.get(REFRESH_ENV, DEFAULT_REFRESH_HZ))
        except ValueError:
            value = DEFAULT_REFRESH_HZ
    return min(30.0, max(0.2, value))


class RelulabApp(App):
    """The console. `config` / `raw` pre-fill the form; `replay` opens a session's replay."""

    TITLE = "relulab"
    CSS_PATH = "app.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (28, "-tall")]
    # One instance of each screen, installed by name, is the base of its mode (lab/screens/modes.py
    # lists them): the app can reach the live screen to feed it, whichever mode is shown.
    SCREENS = {mode.name: mode.factory() for mode in modes.MODES}
    MODES = {mode.name: mode.name for mode in modes.MODES}
    BINDINGS = [
        Binding("f1", "help", "Help", show=False, priority=True),
        # A priority key, so that `?` opens help even from a form field or the sessions filter
        # (their FormInput leaves `?` to it); text prompts for names and paths type it.
        Binding("question_mark", "help", "Help", priority=True),
        *[Binding(mode.key, f"mode('{mode.name}')", mode.label.capitalize(), show=False, priority=True,
                  tooltip=mode.help) for mode in modes.MODES],
        Binding("f7", "atlas", "Atlas", show=False, priority=True,
                tooltip="The floor of every component of H(c) for the live or replayed run's config"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, config: Config | None = None, *, raw: dict | None = None, config_path: Path | None = None,
                 store_path: str | None = None, replay: str | None = None, refresh_hz: float | None = None,
                 redact: bool = False, prewarm: bool = True, threads: int | None = None) -> None:
        super().__init__()
        self.initial_config = config or Config()
        self.initial_raw = raw
        self.initial_path = config_path
        self.store_path = store_path
        self.replay_id = replay
        self.refresh_hz = refresh_rate(refresh_hz)
        self.redact = redact  # hide timings, dates and ids (snapshot tests)
        self.prewarm = prewarm
        self.threads = threads or training_threads()
        self.live_run: LiveRun | None = None
        self._run_worker: Worker | None = None
        self._store = None
        self._store_error: str | None = None
        self._pending_config: Config | None = None  # started once the running one has stopped
        self.previous_mode: str | None = None  # where escape on a mode screen goes back to

    def notify(self, message: str, *, title: str = "", severity: str = "information", timeout: float | None = None,
               markup: bool = False) -> None:
        """A toast, always plain text: messages quote names, paths and values the user typed
        (`[model] hidden`, `run [/b] x`), which must read as typed and never be parsed as markup."""
        if timeout is None:
            super().notify(str(message), title=str(title), severity=severity, markup=False)
        else:
            super().notify(str(message), title=str(title), severity=severity, timeout=timeout, markup=False)

    # -- start-up ---------------------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.replay_id:
            self.switch_mode("sessions")
            self.open_replay(self.replay_id)
        else:
            self.switch_mode("setup")
        if self.prewarm:
            # torch takes seconds to import: do it after the first frame, before the first run.
            self.call_after_refresh(self._prewarm)

    @work(thread=True, group="prewarm", exit_on_error=False)
    def _prewarm(self) -> None:
        import core.train  # noqa: F401

    def action_mode(self, mode: str) -> None:
        """Show `mode` (an F-key); a modal over the current screen (help, a prompt) is closed."""
        if mode == self.current_mode:
            while len(self.screen_stack) > 1 and isinstance(self.screen, ModalScreen):
                self.pop_screen()
            return
        # The command palette has a fixed id: left open on this mode's stack, ctrl+p on the next
        # mode would insert a second one (DuplicateIds; the monkey found it). Close it first.
        while len(self.screen_stack) > 1 and isinstance(self.screen, CommandPalette):
            self.pop_screen()
        self.previous_mode = self.current_mode
        self.switch_mode(mode)

    def action_back(self) -> None:
        """Back to the mode shown before this one (escape on a mode screen)."""
        target = self.previous_mode if self.previous_mode in self.MODES else "setup"
        if target == self.current_mode:
            target = "setup" if self.current_mode != "setup" else None
        if target is not None:
            self.action_mode(target)

    def mode_screen(self, mode: str) -> Screen | None:
        """The base screen of a mode once it has been shown (None before: nothing to update)."""
        screen = self.get_screen(mode)
        return screen if screen.is_mounted else None

    # -- the session store ------------------------------------------------------------------------

    @property
    def store(self):
        """The session store, opened on first use; None (after one notification) when it cannot be."""
        if self._store is None and self._store_error is None:
            try:
                from sessions import open_store

                self._store = open_store(self.store_path)
            except (UserError, OSError, ImportError) as e:
                self._store_error = str(e)
                self.notify(f"session store unavailable: {e}; runs are not recorded", severity="warning",
                            timeout=10)
        return self._store

    @property
    def store_error(self) -> str | None:
        return self._store_error

    # -- runs -----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.live_run is not None and not self.live_run.finished

    def start_run(self, config: Config, name: str | None = None) -> None:
        """Start training `config` (after stopping a run in progress) and show the live screen."""
        if self.running:
            self._pending_config = config
            self.live_run.stop()
            self.notify("stopping the current run first…", timeout=3)
            return
        run = LiveRun(config, store=self.store, refresh_hz=self.refresh_hz, name=name, threads=self.threads)
        self.live_run = run
        self._run_worker = self._execute(run)
        self.action_mode("live")
        live = self.mode_screen("live")
        if live is not None:
            live.show_run(run)  # else its on_mount shows it

    def stop_run(self) -> None:
        if self.running:
            self.live_run.stop()
            self.notify("stopping…", timeout=2)
        else:
            self.notify("no run in progress", timeout=2)

    def restart_run(self, new_seed: bool) -> None:
        """Run the last config again, with the next seed when `new_seed`."""
        setup = self.mode_screen("setup")
        config = self.live_run.config if self.live_run else None
        if config is None:
            if setup is None:
                self.notify("nothing to restart: set up a run first (F2)", severity="warning")
                return
            setup.action_run()
            return
        if new_seed:
            config = replace(config, "init", "restart", seed=config.init.seed + 1)
            if config.init.hidden_weight is not None:
                self.notify("explicit weights: a new seed changes nothing in the initial weights", timeout=4)
            if setup is not None:
                setup.field("init", "seed").set_value(config.init.seed)
        self.start_run(config)

    @work(thread=True, group="run", exit_on_error=False)
    def _execute(self, run: LiveRun) -> None:
        run.execute(report=lambda: self.post_message(RunProgress(run)),
                    notify=lambda text: self.post_message(RunNotice(text)))

    def on_run_progress(self, message: RunProgress) -> None:
        run = message.run
        if run is not self.live_run:
            return
        live = self.mode_screen("live")
        if live is not None and live in self.screen_stack:
            live.show_run(run)  # drawn only where it is seen (also under the palette or help); on_screen_resume catches up
        if run.finished:
            self._run_finished(run)

    def _run_finished(self, run: LiveRun) -> None:
        if self._pending_config is not None:
            config, self._pending_config = self._pending_config, None
            self.start_run(config)
            return
        if run.state == "failed" and run.error:
            self.notify(run.error, title="Run failed", severity="error", timeout=10)
        sessions = self.mode_screen("sessions")
        if sessions is not None:
            sessions.reload()

    def on_run_notice(self, message: RunNotice) -> None:
        self.notify(message.text, severity=message.severity, timeout=8)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A fault inside the engine ends the run, not the app."""
        if event.worker is self._run_worker and event.state == WorkerState.ERROR:
            run = self.live_run
            if run is not None:
                self.post_message(RunProgress(run))
            self.notify(f"{event.worker.error}", title="Training failed", severity="error", timeout=10)

    async def action_quit(self) -> None:
        """Stop a run in progress and wait for its record to be closed (`interrupted`), then quit."""
        await self.stop_and_wait()
        self.exit()

    async def stop_and_wait(self) -> None:
        worker = self._run_worker
        if self.live_run is not None:
            self.live_run.stop()
        if worker is not None and not worker.is_finished:
            await worker.wait()

    def on_unmount(self) -> None:
        # Any way out: stop the trainer so its thread ends and the writer closes the record.
        if self.live_run is not None:
            self.live_run.stop()

    # -- replay, help, palette ----------------------------------------------------------------

    def open_replay(self, session_id: str) -> None:
        from lab.screens.replay_screen import ReplayScreen

        if self.current_mode != "sessions":
            self.action_mode("sessions")
        self.push_screen(ReplayScreen(session_id))

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)  # `?` and F1 close it again
            return
        self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action of the app and of the current screen, by name, plus the screens."""
        yield from super().get_system_commands(screen)
        seen = {"Quit", "Keys", "Theme", "Screenshot", "Maximize", "Minimize"}
        for mode in modes.MODES:
            title = mode.label.capitalize()
            seen.add(title)
            yield SystemCommand(title, f"{mode.help} ({mode.key.upper()})",
                                lambda name=mode.name: self.action_mode(name))
        for active in screen.active_bindings.values():
            node, binding = active.node, active.binding
            if (not binding.description or binding.description in seen or not isinstance(node, (App, Screen))
                    or binding.action in GENERIC_ACTIONS):
                continue
            seen.add(binding.description)
            yield SystemCommand(
                binding.description, binding.tooltip or f"key: {self.get_key_display(binding)}",
                lambda node=node, action=binding.action: self.run_action(action, node),
            )

    def action_atlas(self) -> None:
        """Open the atlas screen (lab/screens/atlas_screen.py) for the live or replayed run."""
        from lab.screens.atlas_screen import AtlasScreen, open_atlas

        if not isinstance(self.screen, AtlasScreen):
            open_atlas(self)
