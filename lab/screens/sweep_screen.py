"""A recorded sweep: the member table (sort, filter) and a heatmap of a result over two axes.

Opened from the sessions list (F4) for a session recorded by `relulab sweep`. Enter on a member
re-runs its config as a live run (F3), with every series the live screen shows.
"""

from __future__ import annotations

import math

import numpy as np
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Select, Static

from core.errors import UserError
from lab import sweep_results
from lab.views.experiments import heat_color

NUMERIC_DEFAULT = "test_loss"


class SweepScreen(Screen):
    """Members of one sweep session; `s` / `r` sort, `/` filters, enter re-runs a member."""

    BINDINGS = [
        Binding("s", "sort", "Sort by next column"),
        Binding("r", "reverse", "Reverse"),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "close", "Back"),
    ]

    DEFAULT_CSS = """
    SweepScreen #sweep-title { height: auto; background: $primary-background; padding: 0 1; }
    SweepScreen #sweep-filter { width: 1fr; }
    SweepScreen #sweep-members { height: 1fr; min-height: 6; }
    SweepScreen #sweep-choices { height: auto; }
    SweepScreen #sweep-choices Select { width: 1fr; }
    SweepScreen #sweep-heat { height: auto; max-height: 20; padding: 0 1; }
    """

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.columns: list[str] = []
        self.rows: list[list] = []
        self.axes: list[str] = []
        self.configs: list[dict] = []
        self.sort_column = 0
        self.descending = False
        self.heat = None  # (x values, y values, mean, standard error, count) on show

    def compose(self) -> ComposeResult:
        yield Static(Text(f"loading sweep {self.session_id}…", style="dim"), id="sweep-title")
        yield Input(placeholder="filter: text in a row (e.g. diverged), or column=value (e.g. train.lr=0.1)", id="sweep-filter")
        yield DataTable(id="sweep-members", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="sweep-choices"):
            yield Select([], prompt="result", id="sweep-value", allow_blank=True)
            yield Select([], prompt="x axis", id="sweep-x", allow_blank=True)
            yield Select([], prompt="y axis", id="sweep-y", allow_blank=True)
        yield Static(id="sweep-heat")
        yield Footer()

    def on_mount(self) -> None:
        store = self.app.store
        if store is None:
            self.query_one("#sweep-title", Static).update(Text(f"no session store: {self.app.store_error}", style="red"))
            return
        self._load(store)

    @work(thread=True, exclusive=True, group="sweep-load", exit_on_error=False)
    def _load(self, store) -> None:
        try:
            session = store.load(self.session_id)
            if not sweep_results.is_user_sweep(session):
                raise UserError(f"session {session.id} is not a sweep recorded by 'relulab sweep'")
            columns, rows = sweep_results.member_table(session)
            info = session.json(sweep_results.SWEEP)
            configs = session.json("member_configs")
            lines = sweep_results.summary_lines(session)
            result = (session, columns, rows, info["spec"]["axis_keys"], configs, lines, None)
        except UserError as e:
            result = (None, [], [], [], [], [], str(e))
        except Exception as e:  # a damaged file must not take the app down
            result = (None, [], [], [], [], [], f"session {self.session_id}: {type(e).__name__}: {e}")
        self.app.call_from_thread(self._loaded, *result)

    def _loaded(self, session, columns, rows, axes, configs, lines, error) -> None:
        title = self.query_one("#sweep-title", Static)
        if error:
            title.update(Text(error, style="bold red"))
            return
        self.columns, self.rows, self.axes, self.configs = columns, rows, axes, configs
        title.update(Text("\n".join([f"sweep {session.id} · {session.name or ''}".rstrip(" ·"), *lines])))
        numeric = [c for c in columns if c not in axes and c != "member" and any(
            isinstance(r[columns.index(c)], (int, float)) and not isinstance(r[columns.index(c)], bool) for r in rows)]
        self.query_one("#sweep-value", Select).set_options([(c, c) for c in numeric])
        for select_id in ("#sweep-x", "#sweep-y"):
            self.query_one(select_id, Select).set_options([(a, a) for a in axes])
        if NUMERIC_DEFAULT in numeric or numeric:
            self.query_one("#sweep-value", Select).value = NUMERIC_DEFAULT if NUMERIC_DEFAULT in numeric else numeric[0]
        if axes:
            self.query_one("#sweep-x", Select).value = axes[0]
            self.query_one("#sweep-y", Select).value = axes[1] if len(axes) > 1 else axes[0]
        table = self.query_one("#sweep-members", DataTable)
        for c in columns:
            table.add_column(Text(c), key=c)
        self.refill()
        self.redraw_heat()
        table.focus()

    # -- the member table -------------------------------------------------------------------

    def visible_rows(self) -> list[list]:
        """Rows matching the filter: `column=value` (exact, e.g. train.lr=0.1) or text anywhere in the row."""
        text = self.query_one("#sweep-filter", Input).value.strip()
        column, _, wanted = text.partition("=")
        if wanted and column.strip() in self.columns:
            i = self.columns.index(column.strip())
            rows = [r for r in self.rows if _cell(r[i]) == wanted.strip()]
        else:
            rows = [r for r in self.rows if not text or any(text.lower() in _cell(x).lower() for x in r)]

        def key(row):
            x = row[self.sort_column]
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                return (0, x if math.isfinite(x) else math.inf, "")
            return (1, 0.0, "" if x is None else str(x))

        return sorted(rows, key=key, reverse=self.descending)

    def refill(self) -> None:
        table = self.query_one("#sweep-members", DataTable)
        table.clear()
        for row in self.visible_rows():
            table.add_row(*[Text(_cell(x)) for x in row], key=str(row[0]))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "sweep-filter":
            self.refill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "sweep-filter":
            self.query_one("#sweep-members", DataTable).focus()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        index = self.columns.index(str(event.column_key.value))
        self.descending = not self.descending if index == self.sort_column else False
        self.sort_column = index
        self.refill()

    def action_sort(self) -> None:
        if self.columns:
            self.sort_column = (self.sort_column + 1) % len(self.columns)
            self.refill()
            self.notify(f"sorted by {self.columns[self.sort_column]}", timeout=2)

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self.refill()

    def action_filter(self) -> None:
        self.query_one("#sweep-filter", Input).focus()

    def action_close(self) -> None:
        self.app.pop_screen()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a member: train its config again as a live run, every series shown."""
        from core.config import config_from_dict

        index = int(event.row_key.value)
        try:
            config = config_from_dict(self.configs[index], f"sweep {self.session_id} member {index}")
        except (UserError, IndexError) as e:
            self.notify(str(e), title="Cannot re-run", severity="error", timeout=8)
            return
        self.app.start_run(config, name=f"sweep {self.session_id[:8]} member {index}")

    # -- the heatmap --------------------------------------------------------------------------

    def on_select_changed(self, event: Select.Changed) -> None:
        self.redraw_heat()

    def redraw_heat(self) -> None:
        heat = self.query_one("#sweep-heat", Static)
        value, x, y = (self.query_one(i, Select).value for i in ("#sweep-value", "#sweep-x", "#sweep-y"))
        if not self.rows or any(v in (None, Select.BLANK) for v in (value, x, y)):
            heat.update(Text("choose a result and two axes", style="dim"))
            return
        self.heat = sweep_results.heat_grid(self.columns, self.rows, value, x, y)
        heat.update(heat_table(self.heat, value, x, y))


def heat_table(grid, value: str, x: str, y: str) -> Table:
    """Mean ± standard error of `value` over the members at each (x, y), coloured low = green."""
    xs, ys, mean, se, count = grid
    finite = mean[np.isfinite(mean)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    table = Table(title=Text(f"{value}: mean ± s.e. over the other axes"), box=None, header_style="bold")
    table.add_column(Text(f"{y} \\ {x}"), justify="right")
    for v in xs:
        table.add_column(Text(_cell(v)), justify="right")
    for i, yv in enumerate(ys):
        cells = []
        for j in range(len(xs)):
            if not count[i, j]:
                cells.append(Text(""))
                continue
            t = (mean[i, j] - lo) / (hi - lo) if hi > lo else 0.0
            err = f" ±{se[i, j]:.2g}" if np.isfinite(se[i, j]) else ""
            cells.append(Text(f"{mean[i, j]:.4g}{err}", style=heat_color(t)))
        table.add_row(Text(_cell(yv)), *cells)
    return table


def _cell(x) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    return "" if x is None else str(x)
