"""The top line: the app's name, the screens and their keys, the current one highlighted."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from lab.screens.modes import MODES


class ModeBar(Static):
    """`relulab  F2 set-up  F3 live  F4 sessions  F5 experiments  <context>`."""

    DEFAULT_CSS = """
    ModeBar { height: 1; background: $primary-background; padding: 0 1; }
    """

    def __init__(self, current: str, context: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.current = current
        self.context = context

    def on_mount(self) -> None:
        self.set_context(self.context)

    def set_context(self, context: str) -> None:
        if context == self.context and self.content:
            return
        self.context = context
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("relulab", style="bold")
        text.append("  ")
        for mode in MODES:
            style = "bold reverse" if mode.name == self.current else "dim"
            text.append(f" {mode.key.upper()} {mode.label} ", style=style)
            text.append(" ")
        if context:
            text.append(" " + context)
        self.update(text, layout=False)
