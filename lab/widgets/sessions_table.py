"""The store's sessions as a table: one row per session, its key the session id."""

from __future__ import annotations

import math
import time

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from core.snapshot import count_text
from lab.widgets.status_line import REDACTED, STATE_STYLE

MARK = "✓"
COLUMNS = (("mark", " "), ("id", "id"), ("name", "name"), ("status", "status"), ("loss", "final loss"), ("l_", "l₋"),
           ("components", "comp."), ("created", "created"), ("summary", "config"), ("tags", "tags"))


def matches(info, words: list[str]) -> bool:
    """Every word of the filter appears in the session's id, name, status, config summary or tags."""
    haystack = " ".join([info.id, info.name or "", info.status, info.kind, info.summary, *info.tags]).lower()
    return all(w in haystack for w in words)


def _loss(info) -> str:
    loss = (info.final or {}).get("loss")
    if loss is None:
        return "—"
    return f"{loss:.4g}" if math.isfinite(loss) else str(loss)


class SessionsTable(DataTable):
    """`show(infos)` fills it; the cursor stays on the same session across reloads, or on the
    first / last row after home / end (so home after a reload is the newest session)."""

    BINDINGS = [
        Binding("home", "first_row", "First session", show=False),
        Binding("end", "last_row", "Last session", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id)
        self.redact = False
        self.marked: list[str] = []  # session ids marked for comparison, in the order marked
        self._edge: str | None = None  # "first" / "last" after home / end, until the cursor moves

    def action_first_row(self) -> None:
        self._edge = "first"
        self.move_cursor(row=0, animate=False)

    def action_last_row(self) -> None:
        self._edge = "last"
        self.move_cursor(row=max(0, self.row_count - 1), animate=False)

    def _edge_row(self) -> int | None:
        if self._edge == "first":
            return 0
        if self._edge == "last":
            return max(0, self.row_count - 1)
        return None

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def selected_id(self) -> str | None:
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key((self.cursor_row, 0))
        return row_key.value

    def shown_ids(self) -> list[str]:
        return [row.value for row in self.rows]

    def set_marked(self, ids: list[str]) -> None:
        """Mark exactly `ids` (kept in order, each once) and redraw the mark column."""
        self.marked = list(dict.fromkeys(ids))
        for session_id in self.shown_ids():
            self.update_cell(session_id, "mark", Text(MARK if session_id in self.marked else ""))

    def show(self, infos: list, select: str | None = None) -> None:
        if self._edge is not None and self.cursor_row != self._edge_row():
            self._edge = None  # moved away from the edge since
        keep = select or self.selected_id
        if select is not None:
            self._edge = None
        self.clear()
        for info in infos:
            created = REDACTED if self.redact else time.strftime("%Y-%m-%d %H:%M", time.localtime(info.created))
            # Every cell a Text: a DataTable reads a plain str as markup, and names, tags and
            # summaries are the user's own strings (`[paper] run` must keep its bracketed word).
            self.add_row(
                Text(MARK if info.id in self.marked else ""), Text(REDACTED if self.redact else info.id),
                Text(info.name or ""), Text(info.status, style=STATE_STYLE.get(info.status, "")),
                Text(_loss(info)), Text("—" if info.pathological is None else str(info.pathological)),
                Text("—" if info.components is None else count_text(info.components)), Text(created),
                Text(info.summary), Text(", ".join(info.tags)), key=info.id,
            )
        edge = self._edge_row()
        if edge is not None:
            self.move_cursor(row=edge, animate=False)
        elif keep is not None:
            try:
                self.move_cursor(row=self.get_row_index(keep), animate=False)
            except Exception:  # the session is gone (deleted, filtered out)
                pass
