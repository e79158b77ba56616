"""Experiment results drawn for the terminal: rich tables, heatmaps and plotext figures.
Shared by `relulab experiment` (printed) and the console (screens)."""

from __future__ import annotations

import math

import numpy as np

GOOD, MID, BAD = (46, 160, 90), (230, 200, 60), (200, 60, 50)


def heat_color(t: float) -> str:
    """Green (0) -> yellow (0.5) -> red (1), as a rich colour."""
    if not math.isfinite(t):
        return "grey23"
    t = min(1.0, max(0.0, t))
    a, b, u = (GOOD, MID, 2 * t) if t < 0.5 else (MID, BAD, 2 * t - 1)
    r, g, bl = (round(x + (y - x) * u) for x, y in zip(a, b))
    return f"rgb({r},{g},{bl})"


def heatmap(title: str, row_name: str, rows, col_name: str, cols, values: np.ndarray, fmt, lo=None, hi=None):
    """A rich Table whose cells are coloured by value (low = green); NaN cells are blank."""
    from rich.table import Table
    from rich.text import Text

    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if lo is None and finite.size else (lo or 0.0)
    hi = float(finite.max()) if hi is None and finite.size else (hi if hi is not None else 1.0)
    table = Table(title=title, title_justify="left", box=None, padding=(0, 0), show_edge=False)
    table.add_column(f"{row_name}\\{col_name}", justify="right", style="bold")
    for c in cols:
        table.add_column(str(c), justify="right")
    for i, r in enumerate(rows):
        cells = []
        for j in range(len(cols)):
            v = values[i, j]
            if not math.isfinite(v):
                cells.append(Text(""))
                continue
            t = (v - lo) / (hi - lo) if hi > lo else 0.0
            cells.append(Text(fmt(v), style=f"black on {heat_color(t)}"))
        table.add_row(f"{r} ", *cells)
    return table


def plot(series, title: str, xlabel: str, ylabel: str, logy: bool = False, width: int = 100, height: int = 20,
         xlim=None, ylim=None) -> str:
    """A plotext figure as an ANSI string: series = [(label, xs, ys, kind)] with kind 'line' | 'scatter'."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("pro")
    for label, xs, ys, kind in series:
        xs, ys = np.asarray(xs, float), np.asarray(ys, float)
        ok = np.isfinite(xs) & np.isfinite(ys) & ((ys > 0) if logy else True)
        if not ok.any():
            continue
        draw = plt.scatter if kind == "scatter" else plt.plot
        draw(xs[ok].tolist(), ys[ok].tolist(), label=label, marker="braille" if kind == "line" else "dot")
    if logy:
        plt.yscale("log")
    if xlim:
        plt.xlim(*xlim)
    if ylim:
        plt.ylim(*ylim)
    plt.title(title)
    plt.xlabel(xlabel)
    plt.ylabel(ylabel)
    return plt.build()


def quadric_figure(result, width: int = 110, height: int = 22) -> str:
    """Each toy neuron as the point (||W_k||, v_k) on v^2 = ||W_k||^2 - c_k, one panel per neuron."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("pro")
    plt.subplots(1, result.v.shape[2])
    x_max = 1.15 * float(np.max(result.w_norm))
    y_max = 1.15 * float(np.max(np.abs(result.v)))
    colors = ["red", "green", "cyan", "magenta"]
    for k in range(result.v.shape[2]):
        plt.subplot(1, k + 1)
        xs = np.linspace(0.0, x_max, 200)
        for i, label in enumerate(result.labels):
            c0 = float(result.c[0, i, k])
            v2 = xs**2 - c0
            ok = v2 >= 0
            for sign in (1.0, -1.0):
                plt.plot(xs[ok].tolist(), (sign * np.sqrt(v2[ok])).tolist(), color=colors[i % 4], marker="braille")
            plt.scatter(result.w_norm[:, i, k].tolist(), result.v[:, i, k].tolist(), color=colors[i % 4],
                        marker="•", label=label.split(" ")[0].rstrip(":") if k == 0 else None)
            plt.scatter([float(result.w_norm[-1, i, k])], [float(result.v[-1, i, k])], color=colors[i % 4],
                        marker="◆")
        plt.hline(0.0, "gray")
        plt.xlim(0.0, x_max)
        plt.ylim(-y_max, y_max)
        plt.title(f"neuron {k}: (‖W_k‖, v_k) on v² = ‖W_k‖² − c_k")
        plt.xlabel("‖W_k‖")
    return plt.build()


def show(result, report: dict) -> None:
    from rich.console import Console

    from core.experiments import GridResult, LevelSetsResult, MitigationResult, ProbabilityResult, ToyResult

    console = Console()
    params = report["parameters"]
    shown = ", ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in params.items())
    console.print(f"[bold]experiment {report['experiment']}[/]{' (quick)' if report['quick'] else ''}: {shown}; "
                  f"device {report['device']}")
    if isinstance(result, ToyResult):
        show_toy(console, result)
    elif isinstance(result, MitigationResult):
        show_mitigation(console, result, report["summary"])
    elif isinstance(result, GridResult):
        show_grid(console, result, report["summary"])
    elif isinstance(result, ProbabilityResult):
        show_probability(console, result, report["summary"])
    elif isinstance(result, LevelSetsResult):
        show_level_sets(console, result, report["summary"])
    else:
        from lab.views.atlas import show_atlas_experiment

        show_atlas_experiment(console, result, report["summary"])
    d = report.get("diverged") or {}
    if d.get("networks"):
        console.print(f"[bold red]diverged[/]: {d['networks']} of {d['of']} networks' loss stopped being finite; "
                      "the means leave them out (n/a or nan where no network is left)")
    tail = f"{report['seconds']:.1f} s"
    if report.get("session"):
        tail += f"; recorded as session {report['session']}"
    if report.get("files"):
        tail += "; wrote " + ", ".join(report["files"])
    console.print(f"[dim]{tail}[/]")


def _fmt(x, spec: str) -> str:
    """A summary number; null (every network of the cell diverged) as n/a."""
    return "n/a" if x is None else format(x, spec)


def ansi(text: str):
    from rich.text import Text

    return Text.from_ansi(text)


def side_by_side(console, left: str, right: str) -> None:
    from rich.table import Table

    grid = Table.grid(padding=(0, 1))
    grid.add_row(ansi(left), ansi(right))
    console.print(grid)


def width_of(console) -> int:
    return max(60, min(console.width, 140))


def show_toy(console, result) -> None:
    from rich.table import Table

    w = width_of(console)
    log_loss = np.log10(np.maximum(result.loss, 1e-300))
    console.print(ansi(plot([(label, result.steps, log_loss[:, i], "line") for i, label in enumerate(result.labels)],
                            "train loss (MSE) on y = |x|", "step", "log10 loss", width=w, height=18)))
    console.print(ansi(quadric_figure(result, width=w, height=20)))
    t = Table(title="final losses and classifications", title_justify="left")
    for col in ("run", "final loss", "c_k: init -> end", "v signs", "components"):
        t.add_column(col, justify="right" if col != "run" else "left")
    for row in result.summary():
        c = "  ".join(f"{a:+.2f}->{b:+.2f}" for a, b in zip(row["initial_c"], row["final_c"]))
        signs = f"{sign_text(row['initial_v_sign'])} -> {sign_text(row['final_v_sign'])}"
        t.add_row(row["run"], f"{row['final_loss']:.3g}", c, signs, str(row["components"]))
    console.print(t)
    for line in result.findings():
        console.print(line)


def sign_text(signs) -> str:
    return "".join("+" if x > 0 else "-" if x < 0 else "0" for x in signs)


def show_grid(console, grid, summary: dict, title: str = "test loss (BCE)", lo=None, hi=None) -> None:
    from rich.table import Table

    mean = grid.mean("test_loss")
    l_max = int(grid.widths.max())
    # " 0.123" per cell where the terminal is wide enough, else the loss x 1000 in 4 columns.
    wide = console.width >= 6 + 6 * (l_max + 1)
    fmt = (lambda v: f" {v:.3f}") if wide else (lambda v: f" {1000 * v:3.0f}")
    console.print(heatmap(f"{title}{'' if wide else ' x 1000'}, mean over {len(grid.seeds)} seeds; rows: width l, "
                          "columns: l_+", "l", grid.widths, "l+", range(l_max + 1), mean, fmt, lo, hi))
    w = width_of(console)
    by_number = [(f"l={l}", np.arange(l + 1), mean[i, : l + 1], "line") for i, l in enumerate(grid.widths)]
    by_fraction = [(f"l={l}", np.arange(l + 1) / l, mean[i, : l + 1], "line") for i, l in enumerate(grid.widths)]
    side_by_side(console, plot(by_number, "test loss vs number l_+", "l_+", "loss", width=w // 2 - 1, height=16),
                 plot(by_fraction, "test loss vs fraction l_+/l", "l_+/l", "loss", width=w // 2 - 1, height=16))
    i = len(grid.widths) - 1
    t = Table(title=f"largest width l = {l_max}: mean ± standard error over seeds", title_justify="left")
    for col in ("l_+", "test loss", "train loss", "test accuracy", "sign flips"):
        t.add_column(col, justify="right")
    se = {k: grid.stderr(k) for k in ("test_loss", "train_loss", "test_accuracy")}
    m = {k: grid.mean(k) for k in ("test_loss", "train_loss", "test_accuracy", "sign_flips")}
    for lp in range(l_max + 1):
        t.add_row(str(lp), f"{m['test_loss'][i, lp]:.4f} ± {se['test_loss'][i, lp]:.4f}",
                  f"{m['train_loss'][i, lp]:.4f} ± {se['train_loss'][i, lp]:.4f}",
                  f"{m['test_accuracy'][i, lp]:.3f} ± {se['test_accuracy'][i, lp]:.3f}",
                  f"{m['sign_flips'][i, lp]:.2f}")
    console.print(t)
    f = summary["test"]
    line = (f"at l = {f['largest_width']}: test loss {_fmt(f['loss_by_l_plus'][0], '.3f')} (l_+ = 0) -> "
            f"{_fmt(f['loss_by_l_plus'][-1], '.3f')} (l_+ = l), largest rise between neighbours "
            f"{_fmt(f['largest_rise'], '.4f')}")
    if f["rank_correlation"] is not None:
        line += f", rank correlation with l_+ {f['rank_correlation']:+.2f}"
    number, fraction = f["spread_at_equal_number"], f["spread_at_equal_fraction"]
    if number is not None and fraction is not None:  # needs two widths sharing an l_+ and a fraction
        line += (f"; cells with equal l_+ differ by {number:.4f} on average, cells with equal l_+/l by "
                 f"{fraction:.4f} -> the loss follows the {'number' if number < fraction else 'fraction'} l_+")
    console.print(line)
    bound = f.get("bound_at_l_plus_0")
    if bound is not None and math.isfinite(bound):
        console.print(f"lower bound at l_+ = 0 (every v_k < 0, so f <= 0; BCE >= (fraction of positive "
                      f"test labels) x log 2): {bound:.3f}")
    by_positive = f["loss_by_positive_at_init"]
    console.print("mean test loss by the number of neurons with v_k > 0 at init (all networks): "
                  + ", ".join(f"{k}: {v:.3f}" for k, v in list(by_positive.items())[:9])
                  + (" ..." if len(by_positive) > 9 else ""))
    diverged = int(np.nansum(grid.diverged))
    if diverged:
        console.print(f"[yellow]{diverged} network(s) diverged (non-finite loss)[/]")


def show_mitigation(console, result, summary: dict) -> None:
    from rich.table import Table
    from rich.text import Text

    both = np.concatenate([result.prescribed.mean("test_loss").ravel(), result.rebalanced.mean("test_loss").ravel()])
    lo, hi = float(np.nanmin(both)), float(np.nanmax(both))
    console.print("[bold]as prescribed[/] (pathological neurons with negative output sign)")
    show_grid(console, result.prescribed, summary["prescribed"], "prescribed: test loss", lo, hi)
    console.print("[bold]rebalanced[/] (the same networks, every neuron rescaled to c_k >= 0; same colour scale)")
    show_grid(console, result.rebalanced, summary["rebalanced"], "rebalanced: test loss", lo, hi)
    c = summary["comparison"]
    t = Table(title="does the dependence on l_+ disappear? mean test loss", title_justify="left")
    for col in ("l", "range over l_+: prescribed", "rebalanced", "at l_+ = 0: prescribed", "rebalanced"):
        t.add_column(col, justify="right")
    for i, l in enumerate(c["widths"]):
        t.add_row(str(l), f"{c['prescribed_range_over_l_plus'][i]:.4f}", f"{c['rebalanced_range_over_l_plus'][i]:.4f}",
                  f"{c['prescribed_loss_at_l_plus_0'][i]:.4f}", f"{c['rebalanced_loss_at_l_plus_0'][i]:.4f}")
    console.print(t)
    variants = result.variants()
    r = Table(title="the ratio axis: mean test loss at l_+ = 0 (sign flips per network)", title_justify="left")
    r.add_column("l", justify="right")
    for name, _ in variants:
        r.add_column(name, justify="right")
    for i, l in enumerate(c["widths"]):
        r.add_row(str(l), *(f"{g.mean('test_loss')[i, 0]:.4f} ({np.nanmean(g.sign_flips[i, 0]):.2f})" for _, g in variants))
    console.print(r)
    k = result.check
    console.print(
        f"at init, over {k.networks} rebalanced networks: min c_k {k.min_c_before:+.3g} before -> {k.min_c_after:+.3g} "
        f"after; max |f_after(x) - f_before(x)| = {k.max_output_change:.2g} (outputs up to {k.max_output:.3g})")
    for line in c["verdict"]:
        console.print(Text(line))


def show_probability(console, result, summary: dict) -> None:
    from rich.table import Table

    # 4 characters a cell; a terminal too narrow for every width l gets an evenly spread subset.
    fit = max(2, (console.width - 6) // 4)
    cols = np.unique(np.linspace(0, len(result.hidden) - 1, min(fit, len(result.hidden))).round().astype(int))
    shown = "" if len(cols) == len(result.hidden) else (
        f" ({len(cols)} of {len(result.hidden)} widths: widen the terminal)")

    def percent(v: float) -> str:
        return "  <1" if v < 0.005 else f"{100 * v:4.0f}"

    for s, scheme in enumerate(result.schemes):
        console.print(heatmap(f"{scheme}: P(H(c) disconnected) in %, closed form; "
                              f"rows: inputs d, columns: width l{shown}",
                              "d", result.inputs, "l", result.hidden[cols], result.disconnected[s][:, cols], percent,
                              0.0, 1.0))
    w = width_of(console)
    series = []
    pick = [l for l in (1, 5, 30) if l in set(result.hidden.tolist())] or result.hidden[:3].tolist()
    for s, scheme in enumerate(result.schemes):
        short = scheme.split("_")[0]
        for l in pick:
            j = int(np.flatnonzero(result.hidden == l)[0])
            series.append((f"{short} l={l}", result.inputs, result.pathological[s, :, j], "line"))
            series.append((None, result.inputs, result.pathological_mc[s, :, j], "scatter"))
    console.print(ansi(plot(series, "P(neuron pathological): closed form (lines) and Monte Carlo (dots)", "inputs d",
                            "p", width=w, height=20)))
    t = Table(title=f"closed form vs Monte Carlo ({result.samples} networks per cell)", title_justify="left")
    for col in ("scheme", "quantity", "max |z|", "cells within 4 s.e.", "max closed form", "at d max, l max"):
        t.add_column(col, justify="right" if col not in ("scheme", "quantity") else "left")
    for s, scheme in enumerate(result.schemes):
        for key in ("pathological", "disconnected", "all_pathological"):
            z = np.abs(result.z(key)[s])
            t.add_row(scheme, key, f"{z.max():.2f}", f"{int(np.sum(z <= 4))}/{z.size}",
                      f"{getattr(result, key)[s].max():.4f}", f"{getattr(result, key)[s, -1, -1]:.3g}")
        t.add_row(scheme, "E\\[effective components]", "", "", f"{result.expected_effective[s].max():.3f}",
                  f"{result.expected_effective[s, -1, -1]:.3f}")
    console.print(t)
    mono = ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in summary["monotone_in_d"].items())
    line = f"p non-increasing in d ({mono})"
    if "kaiming_lower_fraction" in summary:
        line += (f"; Kaiming below Xavier in {100 * summary['kaiming_lower_fraction']:.0f}% of cells "
                 f"({'every' if summary['kaiming_lower_where_l2_gt_d'] else 'NOT every'} cell with l² > d)")
    console.print(line)
    console.print(f"[dim]Monte Carlo {result.mc_seconds:.2f} s on {result.device}[/]")


def show_level_sets(console, result, summary: dict) -> None:
    """Per target: normalised geodesic length and beads over (width, level), and the verdict."""
    from rich.text import Text

    length, beads = result.mean("normalized_length"), result.mean("beads")
    cols = [f" {v:g}" for v in result.levels]
    for t, target in enumerate(result.targets):
        console.print(heatmap(f"{target}: normalised geodesic length (mean over connected pairs)", "l", result.widths,
                              "L0/Var(y)", cols, length[t], lambda v: f" {v:.3f}", lo=1.0))
        console.print(heatmap(f"{target}: beads (mean over pairs)", "l", result.widths, "L0/Var(y)", cols, beads[t],
                              lambda v: f" {v:.1f}", lo=0.0))
        console.print(Text(f"{target}: {summary[target]['verdict']}"))
