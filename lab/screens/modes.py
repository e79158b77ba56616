"""The console's modes: one full screen each, reached with its F-key from anywhere.

A new screen (an analysis, a comparison) becomes a mode by adding one `Mode` line here: the app
installs it, binds its key, lists it in the command palette and in every screen's mode bar. The
screen module is imported the first time the mode is shown, so a heavy one costs nothing at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Callable

from textual.screen import Screen


@dataclass(frozen=True)
class Mode:
    name: str  # the mode's (and its screen's) name
    key: str  # the key that shows it, from any screen
    label: str  # in the mode bar
    screen: str  # "module:Class"; the class takes no arguments
    help: str  # in the command palette

    def factory(self) -> Callable[[], Screen]:
        module, _, cls = self.screen.partition(":")
        return lambda: getattr(import_module(module), cls)()


MODES: tuple[Mode, ...] = (
    Mode("setup", "f2", "set-up", "lab.screens.setup_screen:SetupScreen", "Show the set-up form"),
    Mode("live", "f3", "live", "lab.screens.live_screen:LiveScreen", "Show the live view of the current run"),
    Mode("sessions", "f4", "sessions", "lab.screens.sessions_screen:SessionsScreen", "Browse recorded sessions"),
    Mode("experiments", "f5", "experiments", "lab.screens.experiment_screen:ExperimentScreen",
         "The paper's experiments: run one, see its plots and tables"),
)
