"""An atlas report (core.atlas.Atlas.to_dict, or the same dict read back from the store) drawn for
the terminal: the table `relulab atlas` prints and the bars of the console's atlas screen."""

from __future__ import annotations

import math

from rich.table import Table
from rich.text import Text


def num(x, fmt: str = ".4g") -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def sorted_rows(report: dict) -> list[dict]:
    """Components by floor, lowest first; a component with no kept member last."""
    return sorted(report["components"], key=lambda r: (r["floor"] is None, r["floor"] if r["floor"] is not None else 0))


def atlas_table(report: dict) -> Table:
    """One row per effective component, sorted by floor, the run's own component marked."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column, justify in (("component", "left"), ("floor", "right"), ("median", "right"), ("IQR", "right"),
                            ("kept", "right"), ("hops", "right"), ("nan", "right"), ("best", "left"), ("", "left")):
        table.add_column(column, justify=justify, no_wrap=True)
    for r in sorted_rows(report):
        marks = " ".join(m for m, on in (("<- own", r.get("own")), ("lowest", r.get("best"))) if on)
        style = "bold yellow" if r.get("own") else ""
        table.add_row(Text(r["name"]), num(r["floor"]), num(r["median"]), num(r["spread"], ".2g"),
                      f"{r['kept']}/{r['members']}", str(r["hopped"]), str(r["diverged"]), Text(r["signs"] or "-"),
                      Text(marks), style=style)
    ref = report["reference"]
    table.add_row(Text("reference"), num(ref["floor"]), num(ref["median"]), num(ref["spread"], ".2g"),
                  f"{ref['kept']}/{ref['members']}", str(ref["hopped"]), str(ref["diverged"]), Text(ref["signs"] or "-"),
                  Text("c_k -> |c_k|"), style="dim")
    return table


def atlas_summary(report: dict) -> list[Text]:
    """The lines under the table: what was mapped, the own and best components, the gap."""
    lines = []
    c = report["c"]
    split = len(report["split_pathological"]) + len(report["split_free"])
    lines.append(Text(f"H(c) for c = ({', '.join(num(x, '.3g') for x in c)}): {split} split neuron(s), "
                      f"{report['connected_components']} components, {report['effective_components']} effective; "
                      f"{report['restarts']} restarts each, {report['steps']} steps of projected GD at lr "
                      f"{num(report['lr'], 'g')}, seed {report['seed']}, {report['device']}, "
                      f"{num(report['seconds'], '.1f')} s"))
    if report["effective_components"] == 1:
        lines.append(Text("c has no split neuron the function can see: H(c) has one effective component, "
                          "so there is no obstruction to measure; its floor is the single row above."))
    own = next((r for r in report["components"] if r.get("own")), None)
    best = next((r for r in report["components"] if r.get("best")), None)
    if own is not None:
        lines.append(Text(f"own component {own['name']}: floor {num(own['floor'])}"))
    if best is not None:
        lines.append(Text(f"best component {best['name']}: floor {num(best['floor'])}"))
    if report["gap"] is not None:
        lines.append(Text(f"obstruction gap = floor(own) - floor(best) = {num(report['gap'])}", style="bold"))
    lines.append(Text(f"reference (every neuron rebalanced to c_k >= 0): floor {num(report['reference_floor'])}"))
    if report["status"] != "completed":
        lines.append(Text(f"status: {report['status']}", style="bold red"))
    return lines


def print_atlas(console, report: dict) -> None:
    """The table and the lines under it, as `relulab atlas` and `sessions show` print them; both
    are built before anything is printed, so a damaged report prints nothing."""
    table, lines = atlas_table(report), atlas_summary(report)
    console.print(table)
    for line in lines:
        console.print(line)


def atlas_bars(report: dict, width: int = 40, current_loss: float | None = None) -> list[Text]:
    """A bar per component, its length the floor on a scale shared by every row (the largest floor
    fills the width); the run's own component highlighted, its current loss marked with '|'."""
    rows = sorted_rows(report)
    values = [r["floor"] for r in rows if r["floor"] is not None] + [report["reference_floor"] or 0.0]
    if current_loss is not None and math.isfinite(current_loss):
        values.append(current_loss)
    top = max(values + [0.0]) or 1.0
    name_width = max(len(r["name"]) for r in rows + [{"name": "reference"}])
    lines = []

    def bar(name: str, floor, style: str, marker: float | None = None) -> Text:
        cells = [" "] * width
        n = 0 if floor is None else round(width * floor / top)
        for i in range(min(n, width)):
            cells[i] = "█"
        if marker is not None and math.isfinite(marker):
            cells[min(width - 1, round(width * marker / top))] = "|"
        text = Text(f"{name:<{name_width}} ")
        text.append("".join(cells), style=style)
        text.append(f" {num(floor)}")
        return text

    for r in rows:
        own = bool(r.get("own"))
        line = bar(r["name"], r["floor"], "bold yellow" if own else "green" if r.get("best") else "cyan",
                   current_loss if own else None)
        if own:
            line.append("  <- this run" + (f", now {num(current_loss)}" if current_loss is not None else ""),
                        style="bold yellow")
        lines.append(line)
    lines.append(bar("reference", report["reference_floor"], "dim"))
    return lines


def show_atlas_experiment(console, result, summary: dict) -> None:
    """`relulab experiment atlas`: each part's table and bars, then the conclusions."""
    for label, a in zip(result.labels, result.atlases):
        report = a.to_dict()
        console.print(Text(f"atlas of {label}", style="bold"))
        console.print(atlas_table(report))
        for line in atlas_bars(report, width=40):
            console.print(line)
        console.print()
    for line in summary["conclusions"]:
        console.print(Text(line))


def draw_atlas_experiment(left, right, table, result, summary: dict) -> str:
    """The console's experiments screen: floors by number of positive neurons (one plot per part)
    and every component in the table; returns the conclusions."""
    for plt, label, a in zip((left, right), result.labels, result.atlases):
        rows = sorted(a.components, key=lambda r: r.positive if r.positive is not None else 0)
        xs = [r.positive if r.positive is not None else 0 for r in rows]
        plt.bar(xs, [r.floor if math.isfinite(r.floor) else 0.0 for r in rows], label="floor")
        if a.own is not None:
            own = a.components[a.own]
            plt.scatter([own.positive or 0], [own.floor], label="own", marker="x")
        plt.title(f"{label}: floor by positive pathological neurons")
        plt.xlabel("neurons with v_k > 0")
    table.add_columns("part", "component", "floor", "median", "kept", "hops", "")
    for row in result.cells():
        marks = " ".join(m for m, on in (("own", row["own"]), ("lowest", row["best"])) if on)
        table.add_row(row["part"], Text(row["component"]), num(row["floor"]), num(row["median"]),
                      f"{row['kept']}/{row['members']}", str(row["hopped"]), marks)
    return "\n".join(summary["conclusions"])
