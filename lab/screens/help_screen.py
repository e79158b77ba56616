"""`?` / F1: the keys of the screen underneath and of the app, read from their bindings.

Listing the live bindings (rather than a hand-written table) keeps the help true as keys change.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


# Textual's own screen keys (focus next, copy): the same on every screen, not worth a line.
GENERIC_ACTIONS = {b.action for b in Screen.BINDINGS if isinstance(b, Binding)}


def screen_bindings(screen: Screen) -> list[tuple[str, str, str]]:
    """(keys, description, where) for every described binding of `screen` and the app."""
    app = screen.app
    grouped: dict[tuple[str, str], list[str]] = {}
    for key, active in screen.active_bindings.items():
        node, binding = active.node, active.binding
        if not isinstance(node, (App, Screen)) or not binding.description or binding.action in GENERIC_ACTIONS:
            continue
        where = "app" if isinstance(node, App) else "screen"
        grouped.setdefault((binding.description, where), []).append(app.get_key_display(binding))
    rows = [(" / ".join(dict.fromkeys(keys)), description, where) for (description, where), keys in grouped.items()]
    # In the order the screen and the app declare them (the key bar's order), not alphabetical.
    declared = [b.description for owner in (type(screen), type(app)) for b in Binding.make_bindings(owner.BINDINGS)]
    return sorted(rows, key=lambda r: (r[2] == "app", declared.index(r[1]) if r[1] in declared else len(declared)))


class HelpScreen(ModalScreen[None]):
    """Keys of `target` (the screen help was asked on), its notes, and the app-wide keys."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "close", "Close help")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 84; max-width: 98%; height: auto; max-height: 95%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, target: Screen) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
        table.add_column("keys", style="bold", no_wrap=True)
        table.add_column("action", ratio=1)
        last_where = None
        for keys, description, where in screen_bindings(self.target):
            if where != last_where:
                table.add_row(Text("this screen" if where == "screen" else "everywhere", style="underline"), "")
                last_where = where
            table.add_row(Text(keys), Text(description))  # `[` is a key: never markup
        notes = getattr(self.target, "HELP", "") or ""
        with VerticalScroll():
            yield Static(Text(f"Keys — {getattr(self.target, 'TITLE', None) or 'relulab'}", style="bold"))
            if notes:
                yield Static(Text(" ".join(notes.split()), style="dim"))  # reflowed to the box
            yield Static(table)
            yield Static(Text("ctrl+p lists every action by name · escape closes this help", style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)
