"""An experiment's result drawn in the console: two plotext figures, a heatmap or table, the headline.

Used by the experiments screen (a result just computed) and by replay (a result read back from
the session store), so a recorded experiment looks as it did when it ran. `show(name, result,
summary)` dispatches on the experiment's name; `result` needs only the attributes the drawing
reads (a core result, or the same arrays read back from the store).
"""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from lab.views.experiments import heat_color

LINE = "braille"
DOT = "dot"


class ExperimentResults(Vertical):
    """Plots on top, the table under them (row labels fixed), the headline numbers last."""

    DEFAULT_CSS = """
    ExperimentResults { width: 1fr; }
    ExperimentResults #exp-plots { height: 1fr; min-height: 8; }
    ExperimentResults #exp-table { height: 1fr; min-height: 5; }
    ExperimentResults #exp-summary { height: auto; max-height: 6; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal(id="exp-plots"):
            yield PlotextPlot(id="exp-plot-left")
            yield PlotextPlot(id="exp-plot-right")
        # No cell padding (cells carry their own space) and the row label fixed: a 100-column
        # terminal shows every l_+ of the grid and the labels stay when it scrolls.
        yield DataTable(id="exp-table", zebra_stripes=False, cursor_type="none", cell_padding=0, fixed_columns=1)
        yield Static("", id="exp-summary", markup=False)

    def clear(self, message: str = "") -> None:
        """Nothing drawn: a new experiment runs, or the last one was stopped."""
        for plot in self.query(PlotextPlot):
            plot.plt.clear_figure()
            plot.refresh()
        self.query_one("#exp-table", DataTable).clear(columns=True)
        self.query_one("#exp-summary", Static).update(message)

    def show(self, name: str, result, summary: dict) -> None:
        left = self.query_one("#exp-plot-left", PlotextPlot)
        right = self.query_one("#exp-plot-right", PlotextPlot)
        for plot in (left, right):
            plot.plt.clear_figure()
        table = self.query_one("#exp-table", DataTable)
        table.clear(columns=True)
        if result is None:  # read back from a record with no arrays to draw
            text = verdicts(summary) or f"{name}: no drawing in the console; `relulab experiment {name}` prints it"
        elif name == "toy":
            text = draw_toy(left.plt, right.plt, table, result)
        elif name == "mitigation":
            text = draw_mitigation(left.plt, right.plt, table, result, summary)
        elif name == "probability":
            text = draw_probability(left.plt, right.plt, table, result, summary)
        elif name == "breast-cancer":
            text = draw_grid(left.plt, right.plt, table, result, summary)
        elif name == "atlas":
            from lab.views.atlas import draw_atlas_experiment

            text = draw_atlas_experiment(left.plt, right.plt, table, result, summary)
        elif name == "small-init":
            from lab.experiment_report import headline_tables
            from lab.views.small_init import draw_small_init

            text = draw_small_init(left.plt, right.plt, table, result, {**headline_tables(result), "summary": summary})
        else:  # an experiment with no console drawing yet: its verdicts, as recorded
            text = verdicts(summary) or f"{name}: no drawing in the console; `relulab experiment {name}` prints it"
        self.query_one("#exp-summary", Static).update(text)
        left.refresh()
        right.refresh()


def heat_cell(value: float, lo: float, hi: float, fmt: str) -> Text:
    if not np.isfinite(value):
        return Text("")
    t = (value - lo) / (hi - lo) if hi > lo else 0.0
    return Text(" " + format(value, fmt), style=f"black on {heat_color(t)}", justify="right")


def fill_heatmap(table: DataTable, corner: str, columns, rows: list[tuple[str, np.ndarray]], fmt: str,
                 lo: float | None = None, hi: float | None = None) -> None:
    values = np.concatenate([r for _, r in rows]) if rows else np.array([])
    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if lo is None and finite.size else (lo or 0.0)
    hi = float(finite.max()) if hi is None and finite.size else (hi if hi is not None else 1.0)
    table.add_column(Text(corner + " "), key="row")
    for c in columns:
        table.add_column(Text(str(c), justify="right"), key=str(c))
    for label, row in rows:
        table.add_row(Text(label + " "), *[heat_cell(v, lo, hi, fmt) for v in row])


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
    for col in ("run", "loss", "c_k init", "c_k end", "signs", "comp."):
        table.add_column(Text(col + " "))
    for row in result.summary():
        cells = (row["run"], f"{row['final_loss']:.2g}", " ".join(f"{c:+.1f}" for c in row["initial_c"]),
                 " ".join(f"{c:+.1f}" for c in row["final_c"]),
                 f"{_signs(row['initial_v_sign'])}->{_signs(row['final_v_sign'])}", str(row["components"]))
        table.add_row(*[Text(cell + " ") for cell in cells])
    if hasattr(result, "findings"):
        return " ".join(result.findings())
    return " · ".join(f"{row['run']}: final loss {row['final_loss']:.3g}" for row in result.summary())


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
    left.plot(xs, reb.mean("test_loss")[i, : l + 1].tolist(), label="swap", marker=DOT)
    for r, g in sorted(getattr(result, "by_ratio", {}).items()):
        left.plot(xs, g.mean("test_loss")[i, : l + 1].tolist(), label=f"ratio {r:g}", marker=DOT)
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
            f"{k.max_output_change:.2g} over {k.networks} networks. " + " ".join(c.get("verdict") or []))


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


def verdicts(summary) -> str:
    """Every `verdict` string in a summary, in order (a recorded experiment's conclusions)."""
    found: list[str] = []

    def walk(node, label: str = "") -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "verdict" and isinstance(value, str):
                    found.append(f"{label}: {value}" if label else value)
                elif key == "verdict" and isinstance(value, list):
                    found.extend(str(v) for v in value)
                else:
                    walk(value, str(key))

    walk(summary)
    return " ".join(found)
