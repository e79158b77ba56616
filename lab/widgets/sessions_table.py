"""The store's sessions as a table: one row per session, its key the session id."""

from __future__ import annotations

import math
import time

from rich.text import Text
from textual.widgets import DataTable

from lab.widgets.status_line import REDACTED, STATE_STYLE

COLUMNS = (("id", "id"), ("name", "name"), ("status", "status"), ("loss", "final loss"), ("l_", "l₋"),
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
    """`show(infos)` fills it; the cursor stays on the same session across reloads."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id)
        self.redact = False

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def selected_id(self) -> str | None:
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key((self.cursor_row, 0))
        return row_key.value

    def show(self, infos: list, select: str | None = None) -> None:
        keep = select or self.selected_id
        self.clear()
        for info in infos:
            created = REDACTED if self.redact else time.strftime("%Y-%m-%d %H:%M", time.localtime(info.created))
            # Every cell a Text: a DataTable reads a plain str as markup, and names, tags and
            # summaries are the user's own strings (`[paper] run` must keep its bracketed word).
            self.add_row(
                Text(REDACTED if self.redact else info.id), Text(info.name or ""),
                Text(info.status, style=STATE_STYLE.get(info.status, "")),
                Text(_loss(info)), Text("—" if info.pathological is None else str(info.pathological)),
                Text("—" if info.components is None else str(info.components)), Text(created), Text(info.summary),
                Text(", ".join(info.tags)), key=info.id,
            )
        if keep is not None:
            try:
                self.move_cursor(row=self.get_row_index(keep), animate=False)
            except Exception:  # the session is gone (deleted, filtered out)
                pass
