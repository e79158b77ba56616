"""A small modal asking for one line of text, with an inline error from a check function."""

from __future__ import annotations

from typing import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class TextPrompt(ModalScreen[str | None]):
    """Returns the text (after `check` accepts it) or None on escape.

    `check(text)` returns an error message to show, or None to accept.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    TextPrompt { align: center middle; }
    TextPrompt > Vertical {
        width: 70; max-width: 95%; height: auto; border: round $primary; padding: 0 1; background: $surface;
    }
    TextPrompt Input { margin: 1 0 0 0; }
    TextPrompt .error { color: $text-error; height: auto; }
    TextPrompt .hint { color: $text-muted; }
    """

    def __init__(self, title: str, value: str = "", *, placeholder: str = "",
                 check: Callable[[str], str | None] | None = None, hint: str = "enter: accept · escape: cancel") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.check = check
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, markup=False)
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static("", classes="error", markup=False)
            yield Static(self.hint, classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        error = self.check(text) if self.check else None
        if error:
            self.query_one(".error", Static).update(error)
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
