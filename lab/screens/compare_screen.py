"""Compare: several recorded sessions on one chart, with a per-run table and a cursor readout.

Opened from the sessions screen with the marked sessions (space marks, v compares). A session
still recording in another process is read again every second, so its curve keeps growing.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from core.errors import UserError
from lab.compare_model import (
    METRICS,
    SMOOTHING,
    CompareRun,
    load_run,
    smoothed,
    value_at,
    x_values,
)
from lab.views.printable import printable
from lab.widgets.compare_plot import Chart, ComparePlot, Curve, run_color
from lab.widgets.key_bar import KeyBar
from lab.widgets.mode_bar import ModeBar

REFRESH_SECONDS = 1.0
MAX_RUNS = 12


def short(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return printable(str(value))  # names and config values may come from someone else's file


class CompareScreen(Screen):
    """Sessions `session_ids` from the app's store, side by side."""

    TITLE = "Compare"
    HELP = """
Several sessions on one chart, one colour per run (the table's first column is its legend).
m cycles the metric (loss with test loss dotted, accuracy, max drift of c_k, pathological
neurons, components of H(c)); l toggles a log y axis; s cycles TensorBoard's smoothing
(0, 0.6, 0.9, 0.99; applied to the whole series before it is thinned); w switches the x axis
between step and wall time; left / right move the cursor (shift: ten times further) and the
table's last column shows every run's value there; [ or < zooms in around the cursor, ] or >
zooms back out.
"""

    BINDINGS = [
        Binding("m", "metric", "Metric"),
        Binding("l", "toggle_log", "Log y"),
        Binding("s", "smoothing", "Smooth"),
        Binding("w", "x_axis", "Step/wall"),
        Binding("left", "cursor(-1)", "Cursor", key_display="←→", priority=True),
        Binding("right", "cursor(1)", "Cursor", show=False, priority=True),
        Binding("shift+left", "cursor(-10)", "Cursor −10", show=False, priority=True),
        Binding("shift+right", "cursor(10)", "Cursor +10", show=False, priority=True),
        Binding("left_square_bracket,less_than_sign", "zoom_in", "Zoom in", key_display="["),
        Binding("right_square_bracket,greater_than_sign", "zoom_out", "Zoom out", key_display="]"),
        Binding("escape,backspace", "close", "Back"),
    ]

    DEFAULT_CSS = """
    CompareScreen #compare-message { height: 1; padding: 0 1; }
    CompareScreen #compare-table { height: auto; max-height: 40%; }
    """

    def __init__(self, session_ids: list[str]) -> None:
        super().__init__()
        self.session_ids = list(dict.fromkeys(session_ids))[:MAX_RUNS]
        self.runs: list[CompareRun] = []
        self.differences: dict[str, list] = {}
        self.metric = 0
        self.log_y = True
        self.smoothing = 0
        self.wall = False
        self.cursor_steps = 0  # cursor position in 1/100ths of the visible x range
        self.zooms: list[tuple[float, float]] = []
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield ModeBar("sessions", id="mode-bar")
        yield Static(Text(f"loading {len(self.session_ids)} sessions…", style="dim"), id="compare-message")
        yield ComparePlot(id="compare-plot")
        yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        if self.app.store is None:
            self._say(f"no session store: {self.app.store_error}", "red")
            return
        self._load(self.session_ids)
        self.set_interval(REFRESH_SECONDS, self._refresh_running)

    # -- loading ----------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="compare-load", exit_on_error=False)
    def _load(self, ids: list[str]) -> None:
        """Block summaries first (a quick first frame), then the full series."""
        from sessions.compare import comparison

        store = self.app.store
        try:
            sessions = [store.load(i) for i in ids]
            self.app.call_from_thread(self._loaded, [load_run(s, raw_cells=0) for s in sessions],
                                      comparison(sessions), None)
            self.app.call_from_thread(self._loaded, [load_run(s) for s in sessions], None, None)
        except UserError as e:
            self.app.call_from_thread(self._loaded, [], None, str(e))
        except Exception as e:  # a damaged session must not take the app down
            self.app.call_from_thread(self._loaded, [], None, f"cannot compare: {type(e).__name__}: {e}")

    @work(thread=True, exclusive=True, group="compare-refresh", exit_on_error=False)
    def _reread(self, ids: list[str]) -> None:
        """The sessions still recording, read again."""
        store = self.app.store
        try:
            runs = [load_run(store.load(i)) for i in ids]
        except Exception:  # deleted or damaged meanwhile: keep what is drawn
            return
        self.app.call_from_thread(self._loaded, runs, None, None)

    def _loaded(self, runs: list[CompareRun], data: dict | None, error: str | None) -> None:
        if error:
            self._say(error, "red")
            return
        if data is not None:
            self.differences = data["differences"]
            self.classification = data["classification"]
            self.final = data["final"]
            self.runs = runs
        else:  # full series, or a refresh: replace the runs that were read again
            fresh = {r.id: r for r in runs}
            self.runs = [fresh.get(r.id, r) for r in self.runs]
        self._draw()

    def _refresh_running(self) -> None:
        running = [r.id for r in self.runs if r.status == "running"]
        if running:
            self._reread(running)

    # -- drawing ----------------------------------------------------------------------------------

    def _say(self, text: str, style: str = "dim") -> None:
        self.query_one("#compare-message", Static).update(Text(text, style=style))

    def x_extent(self) -> tuple[float, float]:
        xs = [x_values(r, self.wall) for r in self.runs]
        xs = [x[x == x] for x in xs if x.size]
        if not xs:
            return 0.0, 1.0
        return float(min(x.min() for x in xs)), float(max(x.max() for x in xs))

    def visible(self) -> tuple[float, float]:
        return self.zooms[-1] if self.zooms else self.x_extent()

    def cursor_x(self) -> float:
        low, high = self.visible()
        return low + (high - low) * self.cursor_steps / 100

    def _draw(self) -> None:
        if not self.runs:
            return
        name, label, _ = METRICS[self.metric]
        weight = SMOOTHING[self.smoothing]
        curves = []
        for i, run in enumerate(self.runs):
            y = smoothed(run.values(name), weight)
            test = smoothed(run.values(name, test=True), weight) if name in ("loss", "accuracy") else None
            if test is not None and not (test == test).any():
                test = None
            curves.append(Curve(run_color(i), x_values(run, self.wall), y, test))
        cursor = self.cursor_x()
        log_y = self.log_y and name in ("loss", "max_drift")
        x_label = "wall time (s)" if self.wall else "step"
        chart = Chart(label + (" (test dotted)" if name in ("loss", "accuracy") else ""), curves, log_y,
                      self.zooms[-1] if self.zooms else None, cursor, x_label)
        self.query_one(ComparePlot).show(chart)
        zoom = f" · zoom {self.visible()[0]:.4g}–{self.visible()[1]:.4g}" if self.zooms else ""
        self._say(f"{label} · smoothing {weight:g} · x {x_label}{' · log y' if log_y else ''}{zoom} · "
                  f"cursor {x_label} {cursor:.6g}")
        self._fill_table(name, cursor, weight)

    def _fill_table(self, metric: str, cursor: float, weight: float) -> None:
        table = self.query_one(DataTable)
        keys = list(self.differences)
        header = ["", "run", f"{metric} @ cursor", "status", "final loss", "l_-", "comp.", "eff.", "signs", "hops", *keys]
        if [str(c.label) for c in table.columns.values()] != header:
            table.clear(columns=True)
            for title in header:
                table.add_column(Text(printable(title)))
        else:
            table.clear()
        for i, run in enumerate(self.runs):
            cls = self.classification.get(run.id, {})
            final = self.final.get(run.id, {})
            r, g, b = run_color(i)
            at = value_at(run, metric, cursor, self.wall, weight)
            table.add_row(
                Text("━━", style=f"rgb({r},{g},{b})"), Text(printable(run.label)), Text(short(at)), Text(run.status),
                Text(short(final.get("loss"))), Text(short(cls.get("pathological"))),
                Text(short(cls.get("components"))), Text(short(cls.get("effective_components"))),
                Text(short(cls.get("signs"))), Text(short(cls.get("hops"))),
                *(Text(short(self.differences[k][i])) for k in keys), key=run.id,
            )

    # -- keys -------------------------------------------------------------------------------------

    def action_metric(self) -> None:
        self.metric = (self.metric + 1) % len(METRICS)
        self._draw()

    def action_toggle_log(self) -> None:
        self.log_y = not self.log_y
        self._draw()

    def action_smoothing(self) -> None:
        self.smoothing = (self.smoothing + 1) % len(SMOOTHING)
        self._draw()

    def action_x_axis(self) -> None:
        self.wall = not self.wall
        self.zooms.clear()
        self._draw()

    def action_cursor(self, delta: int) -> None:
        self.cursor_steps = min(100, max(0, self.cursor_steps + delta))
        self._draw()

    def action_zoom_in(self) -> None:
        """Half the visible x range, centred on the cursor (clamped to the data)."""
        low, high = self.visible()
        full_low, full_high = self.x_extent()
        if not math.isfinite(high - low) or high - low <= 1e-9:
            return
        centre, half = self.cursor_x(), (high - low) / 4
        new_low = max(full_low, centre - half)
        new_high = min(full_high, new_low + 2 * half)
        new_low = max(full_low, new_high - 2 * half)
        self.zooms.append((new_low, new_high))
        self.cursor_steps = round(100 * (centre - new_low) / (new_high - new_low)) if new_high > new_low else 50
        self._draw()

    def action_zoom_out(self) -> None:
        if self.zooms:
            centre = self.cursor_x()
            self.zooms.pop()
            low, high = self.visible()
            self.cursor_steps = min(100, max(0, round(100 * (centre - low) / (high - low)))) if high > low else 0
            self._draw()

    def action_close(self) -> None:
        self.dismiss()
