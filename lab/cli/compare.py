"""`relulab sessions compare A B ...` and `relulab sessions plot A [B ...]`: runs side by side.

compare prints only the config keys that differ, then each run's final metrics, classification
and hops; plot draws one figure file (PNG, SVG or PDF) with matplotlib.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import strict_json
from core.errors import UserError

PLOT_POINTS = 4000  # per run: a figure is a few inches wide, min / max per bucket keep the spikes


def add_actions(action) -> None:
    """Register compare and plot under `relulab sessions` (`action` makes a sub-subcommand)."""
    q = action("compare", cmd_compare, "runs side by side: config keys that differ, final metrics, classification")
    q.add_argument("ids", metavar="ID", nargs="+", help="two or more session ids (unique prefixes) or names")
    q.add_argument("--json", action="store_true", help="print one JSON object")

    q = action("plot", cmd_plot, "draw runs into a figure file (needs matplotlib: pip install 'relulab[plots]')")
    q.add_argument("ids", metavar="ID", nargs="+", help="session ids (unique prefixes) or names")
    q.add_argument("--metric", default="loss", choices=("loss", "test_loss", "accuracy", "c", "quadric"),
                   help="what to draw (default loss)")
    q.add_argument("-o", "--output", metavar="FILE", required=True, help="FILE.png, FILE.svg or FILE.pdf")


def load_all(args: argparse.Namespace, least: int) -> list:
    from sessions import open_store

    if len(args.ids) < least:
        raise UserError(f"sessions {args.sessions_command}: give at least {least} session ids")
    store = open_store(args.store)
    ids = [store.resolve(i) for i in args.ids]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise UserError(f"session {repeated[0]} is named twice; give each session once")
    return [store.load(i) for i in ids]


def cmd_compare(args: argparse.Namespace) -> int:
    from sessions.compare import CLASS_KEYS, FINAL_KEYS, comparison

    data = comparison(load_all(args, least=2))
    if args.json:
        sys.stdout.write(strict_json.dumps(data, indent=2) + "\n")  # NaN as null
        return 0
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from lab.views.printable import printable

    def cell(value) -> Text:
        if value is None:
            return Text("")
        if isinstance(value, float):
            return Text(f"{value:.6g}")
        return Text(printable(value if isinstance(value, str) else json.dumps(value, default=str)))

    ids = [s["id"] for s in data["sessions"]]
    table = Table(box=None, show_edge=False, pad_edge=False)
    table.add_column("")
    for s in data["sessions"]:
        table.add_column(Text(printable(s["name"] or s["id"])), overflow="fold")
    table.add_row(Text("id", style="dim"), *(Text(printable(i)) for i in ids))
    table.add_row(Text("status", style="dim"), *(Text(s["status"]) for s in data["sessions"]))
    section = "config (differs)" if data["differences"] else "config: identical"
    table.add_row(Text(section, style="bold"), *([Text("")] * len(ids)))
    for key, values in data["differences"].items():
        table.add_row(Text(printable(key)), *(cell(v) for v in values))
    table.add_row(Text("final", style="bold"), *([Text("")] * len(ids)))
    for key in FINAL_KEYS:
        values = [data["final"][i][key] for i in ids]
        if any(v is not None for v in values):
            table.add_row(Text(key), *(cell(v) for v in values))
    table.add_row(Text("classification", style="bold"), *([Text("")] * len(ids)))
    for key in (*CLASS_KEYS, "hops"):
        table.add_row(Text(key), *(cell(data["classification"][i][key]) for i in ids))
    Console(soft_wrap=False, highlight=False).print(table)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from lab.views.figures import RunSeries, check_output, figure, pyplot

    path = check_output(Path(args.output))
    pyplot()  # a missing matplotlib is one line before any session is read
    runs = [RunSeries(label=s.name or s.id, series=s.series(PLOT_POINTS)) for s in load_all(args, least=1)]
    if args.metric in ("loss", "test_loss", "accuracy") and not any(
            (r.series[args.metric] == r.series[args.metric]).any() for r in runs):
        raise UserError(f"--metric {args.metric}: none of these sessions recorded it")
    print(figure(runs, args.metric, path))
    return 0
