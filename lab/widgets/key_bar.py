"""The bottom line: the screen's keys, drawn once.

Textual's Footer recomposes itself whenever focus moves between widgets with different bindings,
which in a form of fifty fields costs a relayout per keystroke; the screen's own keys never
change, so this bar renders them once (the command palette and `?` list the rest).
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Static


class KeyBar(Static):
    """`key description` for every shown binding of the screen, then the app's."""

    DEFAULT_CSS = """
    KeyBar { height: 1; background: $footer-background; color: $footer-foreground; padding: 0 1; }
    """

    def on_mount(self) -> None:
        self.call_after_refresh(self.draw)

    def draw(self) -> None:
        """The screen's declared bindings in their order (not the focused widget's), then the app's."""
        screen, app = self.screen, self.app
        entries: list[tuple[str, str]] = []
        seen: set[str] = set()
        for owner in (type(screen), type(app)):
            for binding in Binding.make_bindings(owner.BINDINGS):
                if not binding.show or not binding.description or binding.description in seen:
                    continue
                seen.add(binding.description)
                entries.append((app.get_key_display(binding), binding.description))
        text = Text(no_wrap=True, overflow="ellipsis")
        for key, description in entries:
            text.append(key, style="bold")
            text.append(f" {description}  ")
        text.append("^p palette", style="dim")
        self.update(text, layout=False)
