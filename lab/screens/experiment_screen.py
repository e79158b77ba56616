"""Experiments: pick one of the paper's experiments, run it in a worker thread, see its plots and tables.

The numerics are core/experiments.py (the same code as `relulab experiment NAME`); this screen
only chooses the parameters, runs it off the UI thread, records it in the session store as a
sweep and draws the result: two plotext figures, a heatmap / table and the headline numbers.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Checkbox, DataTable, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option
from textual_plotext import PlotextPlot

from core import experiments
from lab.experiment_report import build_report, record_result
from lab.views.experiments import heat_color
from lab.widgets.key_bar import KeyBar
from lab.widgets.mode_bar import ModeBar

DESCRIPTIONS = {
    "toy": "y = |x| with two ReLU neurons, both pathological: signs (+,-) stall, (+,+) fit, and the "
           "rebalanced (+,-) control (same function, c_k > 0) fits too.",
    "breast-cancer": "Test loss for each hidden width l and number l_+ of non-pathological neurons "
                     "(the others start pathological with v_k < 0). Paper: the number l_+ matters, not l_+/l.",
    "probability": "P(initialisation obstructed) over inputs d and width l, Xavier vs Kaiming: closed form "
                   "checked against Monte Carlo. Paper: higher for small d, lower for Kaiming.",
    "mitigation": "The breast-cancer grid again with every neuron rescaled to c_k >= 0 at init (the same "
                  "function): does the dependence on l_+ go away?",
}
LINE = "braille"
DOT = "dot"


class ExperimentScreen(Screen):
    """Choose an experiment on the left, run it (r), stop it (s); results fill the right side."""

    TITLE = "Experiments"
    HELP = """
Each experiment reproduces one result of Nurisso, Leroy & Vaccarino (NeurIPS 2024), or goes one
step beyond it (mitigation). Quick runs the reduced grid (seconds); untick it for the full grid
(minutes for breast-cancer and mitigation). Every finished experiment is recorded in the session
store as a sweep; `relulab experiment NAME --out DIR` writes the same numbers as CSV and JSON.
"""

    BINDINGS = [
        Binding("r", "run", "Run"),
        Binding("s", "stop", "Stop"),
        Binding("escape", "close", "Back"),
    ]

    DEFAULT_CSS = """
    ExperimentScreen #exp-controls { width: 36; padding: 0 1; }
    ExperimentScreen #exp-list { height: 6; }
    ExperimentScreen #exp-about { height: auto; color: $text-muted; margin: 1 0; }
    ExperimentScreen #exp-buttons { height: 3; }
    ExperimentScreen #exp-buttons Button { width: 1fr; min-width: 8; }
    ExperimentScreen #exp-status { height: auto; margin-top: 1; }
    ExperimentScreen #exp-results { width: 1fr; }
    ExperimentScreen #exp-plots { height: 1fr; min-height: 10; }
    ExperimentScreen #exp-table { height: 1fr; min-height: 6; }
    ExperimentScreen #exp-summary { height: auto; max-height: 8; padding: 0 1; }
    """

    def __init__(self, device: str = "auto") -> None:
        super().__init__(id="experiments")
        self.device = device
        self.stop_event = threading.Event()
        self.running = False
        self.result = None
        self.report: dict | None = None

    def compose(self) -> ComposeResult:
        yield ModeBar("experiments", "r run · s stop · esc back", id="mode-bar")
        with Horizontal():
            with Vertical(id="exp-controls"):
                yield OptionList(*[Option(name, id=name) for name in experiments.NAMES], id="exp-list")
                yield Checkbox("quick (reduced grid)", value=True, id="exp-quick")
                yield Static("", id="exp-about", markup=False)
                with Horizontal(id="exp-buttons"):
                    yield Button("Run", id="exp-run", variant="primary")
                    yield Button("Stop", id="exp-stop", disabled=True)
                yield ProgressBar(total=1.0, show_eta=False, show_percentage=False, id="exp-progress")
                yield Static("", id="exp-status", markup=False)
            with Vertical(id="exp-results"):
                with Horizontal(id="exp-plots"):
                    yield PlotextPlot(id="exp-plot-left")
                    yield PlotextPlot(id="exp-plot-right")
                yield DataTable(id="exp-table", zebra_stripes=False, cursor_type="none")
                yield Static("", id="exp-summary", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#exp-list", OptionList).highlighted = 0
        self.describe()

    # -- choosing -----------------------------------------------------------------------------------

    @property
    def selected(self) -> str:
        index = self.query_one("#exp-list", OptionList).highlighted
        return experiments.NAMES[index or 0]

    @property
    def quick(self) -> bool:
        return self.query_one("#exp-quick", Checkbox).value

    def parameters(self) -> dict:
        return experiments.parameters(self.selected, self.quick)

    @on(OptionList.OptionHighlighted, "#exp-list")
    @on(Checkbox.Changed, "#exp-quick")
    def describe(self, _event=None) -> None:
        params = self.parameters()
        shown = "\n".join(f"  {k}: {_short(v)}" for k, v in params.items())
        self.query_one("#exp-about", Static).update(f"{DESCRIPTIONS[self.selected]}\n\n{shown}")

    @on(OptionList.OptionSelected, "#exp-list")
    def selected_and_run(self, _event) -> None:
        self.action_run()

    # -- running ------------------------------------------------------------------------------------

    @on(Button.Pressed, "#exp-run")
    def action_run(self) -> None:
        if self.running:
            self.notify("an experiment is already running; stop it first (s)", severity="warning")
            return
        self.running = True
        self.stop_event = threading.Event()
        self.query_one("#exp-run", Button).disabled = True
        self.query_one("#exp-stop", Button).disabled = False
        self.set_progress(0.0, "starting")
        self.execute(self.selected, self.quick, self.parameters())

    @on(Button.Pressed, "#exp-stop")
    def action_stop(self) -> None:
        if self.running:
            self.stop_event.set()
            self.set_progress(None, "stopping after the current training call")

    def action_close(self) -> None:
        """Back to the screen shown before; an experiment in progress goes on (s stops it)."""
        self.app.action_back()

    @work(thread=True, exclusive=True, group="experiment")
    def execute(self, name: str, quick: bool, params: dict) -> None:
        """Runs off the UI thread; talks to the screen only through call_from_thread."""
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        started = time.perf_counter()

        def progress(fraction: float, what: str) -> None:
            self.app.call_from_thread(self.set_progress, fraction, what)

        try:
            result = experiments.run(name, params, self.device, stop=self.stop_event, progress=progress)
        except experiments.Stopped:
            self.app.call_from_thread(self.finished, None, None, "stopped; nothing recorded")
            return
        except Exception as e:  # shown in place; the console keeps running
            self.app.call_from_thread(self.finished, None, None, f"failed: {e}")
            return
        report, prov = build_report(name, quick, params, result, self.device, started_at,
                                    time.perf_counter() - started)
        note = f"done in {report['seconds']:.1f} s on {report['device']}"
        store = getattr(self.app, "store", None)
        if store is not None:
            try:
                sid = record_result(store, name, result, prov, report, self.device,
                                    f"experiment {name}" + (" --quick" if quick else ""))
                note += f"; recorded as session {sid}"
            except Exception as e:  # the result is still shown
                note += f"; not recorded: {e}"
        self.app.call_from_thread(self.finished, result, report, note)

    def set_progress(self, fraction: float | None, what: str) -> None:
        if not self.is_attached:  # closed while the worker was still running
            return
        if fraction is not None:
            self.query_one("#exp-progress", ProgressBar).update(progress=fraction)
        self.query_one("#exp-status", Static).update(what)

    def finished(self, result, report: dict | None, note: str) -> None:
        self.running = False
        if not self.is_attached:
            return
        self.query_one("#exp-run", Button).disabled = False
        self.query_one("#exp-stop", Button).disabled = True
        self.set_progress(1.0 if result is not None else None, note)
        if result is not None:
            self.result, self.report = result, report
            self.show(result, report)

    # -- drawing ------------------------------------------------------------------------------------

    def show(self, result, report: dict) -> None:
        left = self.query_one("#exp-plot-left", PlotextPlot)
        right = self.query_one("#exp-plot-right", PlotextPlot)
        for plot in (left, right):
            plot.plt.clear_figure()
        table = self.query_one("#exp-table", DataTable)
        table.clear(columns=True)
        if isinstance(result, experiments.ToyResult):
            text = draw_toy(left.plt, right.plt, table, result)
        elif isinstance(result, experiments.MitigationResult):
            text = draw_mitigation(left.plt, right.plt, table, result, report["summary"])
        elif isinstance(result, experiments.GridResult):
            text = draw_grid(left.plt, right.plt, table, result, report["summary"])
        else:
            text = draw_probability(left.plt, right.plt, table, result, report["summary"])
        self.query_one("#exp-summary", Static).update(text)
        left.refresh()
        right.refresh()


def _short(value) -> str:
    if isinstance(value, (list, tuple)):
        return f"{value[0]}..{value[-1]} ({len(value)})" if len(value) > 6 else ",".join(map(str, value))
    return str(value)


def heat_cell(value: float, lo: float, hi: float, fmt: str) -> Text:
    if not np.isfinite(value):
        return Text("")
    t = (value - lo) / (hi - lo) if hi > lo else 0.0
    return Text(format(value, fmt), style=f"black on {heat_color(t)}", justify="right")


def fill_heatmap(table: DataTable, corner: str, columns, rows: list[tuple[str, np.ndarray]], fmt: str,
                 lo: float | None = None, hi: float | None = None) -> None:
    values = np.concatenate([r for _, r in rows]) if rows else np.array([])
    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if lo is None and finite.size else (lo or 0.0)
    hi = float(finite.max()) if hi is None and finite.size else (hi if hi is not None else 1.0)
    table.add_column(corner, key="row")
    for c in columns:
        table.add_column(str(c), key=str(c))
    for label, row in rows:
        table.add_row(label, *[heat_cell(v, lo, hi, fmt) for v in row])


def draw_toy(left, right, table: DataTable, result) -> str:
    log_loss = np.log10(np.maximum(result.loss, 1e-300))
    for i, label in enumerate(result.labels):
        left.plot(result.steps.tolist(), log_loss[:, i].tolist(), label=label, marker=LINE)
    left.title("train loss: log10 MSE")
    left.xlabel("step")
    x_max = 1.15 * float(np.max(result.w_norm))
    xs = np.linspace(0.0, x_max, 120)
    for i, label in enumerate(result.labels):
        for k in range(result.v.shape[2]):
            v2 = xs**2 - float(result.c[0, i, k])
            ok = v2 >= 0
            for sign in (1.0, -1.0):
                right.plot(xs[ok].tolist(), (sign * np.sqrt(v2[ok])).tolist(), marker=LINE)
            right.scatter(result.w_norm[:, i, k].tolist(), result.v[:, i, k].tolist(), marker=str(k))
    right.hline(0.0)
    right.title("neurons 0 and 1: (‖W_k‖, v_k) on v² = ‖W_k‖² − c_k")
    right.xlabel("‖W_k‖")
    for col in ("run", "final loss", "c_k init", "c_k end", "v signs", "components"):
        table.add_column(col)
    for row in result.summary():
        table.add_row(row["run"], f"{row['final_loss']:.3g}", " ".join(f"{c:+.3f}" for c in row["initial_c"]),
                      " ".join(f"{c:+.3f}" for c in row["final_c"]),
                      f"{_signs(row['initial_v_sign'])} -> {_signs(row['final_v_sign'])}", str(row["components"]))
    loss = result.final_loss
    return (f"obstructed final loss {loss[0]:.3g}, free {loss[1]:.3g}, rebalanced control {loss[2]:.3g}: "
            "the pathological neuron with v < 0 can never turn positive, so |x| is out of reach.")


def _signs(values) -> str:
    return "".join("+" if x > 0 else "-" if x < 0 else "0" for x in values)


def draw_grid(left, right, table: DataTable, grid, summary: dict, lo=None, hi=None, label: str = "") -> str:
    mean = grid.mean("test_loss")
    for i, l in enumerate(grid.widths):
        left.plot(list(range(l + 1)), mean[i, : l + 1].tolist(), label=f"l={l}", marker=LINE)
        right.plot((np.arange(l + 1) / l).tolist(), mean[i, : l + 1].tolist(), label=f"l={l}", marker=LINE)
    left.title(f"{label}test loss vs number l_+")
    left.xlabel("l_+")
    right.title(f"{label}test loss vs fraction l_+/l")
    right.xlabel("l_+/l")
    l_max = int(grid.widths.max())
    fill_heatmap(table, "l \\ l_+", range(l_max + 1), [(str(l), mean[i]) for i, l in enumerate(grid.widths)],
                 ".3f", lo, hi)
    f = summary["test"]
    text = (f"mean test loss over {len(grid.seeds)} seeds. At l = {f['largest_width']}: {f['loss_by_l_plus'][0]:.3f} "
            f"(l_+ = 0) -> {f['loss_by_l_plus'][-1]:.3f} (l_+ = l).")
    number, fraction = f["spread_at_equal_number"], f["spread_at_equal_fraction"]
    if number is not None and fraction is not None:  # None with a single width
        text += f" Equal l_+ differ by {number:.4f}, equal l_+/l by {fraction:.4f}."
    return text


def draw_mitigation(left, right, table: DataTable, result, summary: dict) -> str:
    pre, reb = result.prescribed, result.rebalanced
    i = len(pre.widths) - 1
    l = int(pre.widths[i])
    xs = list(range(l + 1))
    left.plot(xs, pre.mean("test_loss")[i, : l + 1].tolist(), label="prescribed", marker=LINE)
    left.plot(xs, reb.mean("test_loss")[i, : l + 1].tolist(), label="rebalanced", marker=DOT)
    left.title(f"test loss vs l_+ at l = {l}")
    left.xlabel("l_+")
    c = summary["comparison"]
    right.plot(c["widths"], c["prescribed_range_over_l_plus"], label="prescribed", marker=LINE)
    right.plot(c["widths"], c["rebalanced_range_over_l_plus"], label="rebalanced", marker=DOT)
    right.title("max - min of the test loss over l_+")
    right.xlabel("width l")
    both = np.concatenate([pre.mean("test_loss").ravel(), reb.mean("test_loss").ravel()])
    rows = []
    for j, w in enumerate(pre.widths):
        rows.append((f"{w} prescribed", pre.mean("test_loss")[j]))
        rows.append((f"{w} rebalanced", reb.mean("test_loss")[j]))
    fill_heatmap(table, "l \\ l_+", range(int(pre.widths.max()) + 1), rows, ".3f",
                 float(np.nanmin(both)), float(np.nanmax(both)))
    k = result.check
    return (f"At init: min c_k {k.min_c_before:+.3g} -> {k.min_c_after:+.3g}, max |change of f| "
            f"{k.max_output_change:.2g} over {k.networks} networks. Sign flips per network: prescribed "
            f"{c['prescribed_sign_flips']:.2f}, rebalanced {c['rebalanced_sign_flips']:.2f}.")


def draw_probability(left, right, table: DataTable, result, summary: dict) -> str:
    hidden = result.hidden.tolist()
    pick = [l for l in (1, 5, 30) if l in hidden] or hidden[:3]
    for s, scheme in enumerate(result.schemes):
        short = scheme.split("_")[0]
        for l in pick:
            j = hidden.index(l)
            left.plot(result.inputs.tolist(), result.pathological[s, :, j].tolist(), label=f"{short} l={l}",
                      marker=LINE)
            left.scatter(result.inputs.tolist(), result.pathological_mc[s, :, j].tolist(), marker=DOT)
        for d in [d for d in (1, 5, 30) if d in result.inputs.tolist()]:
            i = result.inputs.tolist().index(d)
            right.plot(hidden, result.disconnected[s, i].tolist(), label=f"{short} d={d}", marker=LINE)
    left.title("P(neuron pathological) vs d: closed form, MC dots")
    left.xlabel("inputs d")
    right.title("P(H(c) disconnected) vs width l")
    right.xlabel("hidden l")
    rows = [(f"{scheme.split('_')[0]} d={d}", result.disconnected[s, i])
            for s, scheme in enumerate(result.schemes) for i, d in enumerate(result.inputs)]
    fill_heatmap(table, "P(disconnected)", hidden, rows, ".2f", 0.0, 1.0)
    z = summary["max_abs_z"]
    mono = all(summary["monotone_in_d"].values())
    return (f"Closed form vs Monte Carlo ({result.samples} networks per cell): max |z| "
            + ", ".join(f"{k} {v:.2f}" for k, v in z.items())
            + f". p non-increasing in d: {'yes' if mono else 'no'}. "
            + (f"Kaiming below Xavier in {100 * summary['kaiming_lower_fraction']:.0f}% of cells."
               if "kaiming_lower_fraction" in summary else ""))
