"""The sweep view: F4 on a sweep session opens it; the member table sorts and filters; the
heatmap's cells are the mean (and standard error) over the remaining axes; enter re-runs a member."""

from __future__ import annotations

import asyncio
import json

import numpy as np

from lab.app import RelulabApp
from lab.cli.main import main
from lab.screens.sweep_screen import SweepScreen
from lab.sweep_results import heat_grid
from lab.widgets.sessions_table import SessionsTable
from tests.pilot_helpers import wait_until

SPEC = """
[model]
hidden = 3
[data]
name = "abs"
samples = 32
[train]
steps = 60
dtype = "float64"
[sweep]
"init.seed" = "0-2"
"train.lr" = [0.05, 0.1]
"model.hidden" = [2, 3]
"""


def test_heat_grid_is_the_mean_and_standard_error_over_the_other_axes():
    columns = ["member", "a", "b", "loss"]
    rows = [[0, 1, "x", 1.0], [1, 1, "x", 3.0], [2, 2, "x", 5.0], [3, 1, "y", float("nan")], [4, 1, "y", 2.0]]
    xs, ys, mean, se, count = heat_grid(columns, rows, "loss", "a", "b")
    assert xs == [1, 2] and ys == ["x", "y"]
    assert mean[0, 0] == 2.0 and se[0, 0] == np.std([1.0, 3.0], ddof=1) / np.sqrt(2) and count[0, 0] == 2
    assert mean[0, 1] == 5.0 and np.isnan(se[0, 1])
    assert mean[1, 0] == 2.0 and count[1, 0] == 1  # the NaN member is left out
    assert np.isnan(mean[1, 1]) and count[1, 1] == 0


def test_f4_opens_a_sweep_sorts_filters_and_reruns_a_member(tmp_path, capsys):
    spec = tmp_path / "grid.toml"
    spec.write_text(SPEC)
    assert main(["sweep", str(spec), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)

    async def body():
        app = RelulabApp(prewarm=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f4")
            table = app.screen.query_one(SessionsTable)
            await wait_until(pilot, lambda: table.row_count == 1, "the sessions list")
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, SweepScreen) and app.screen.rows, "the sweep")
            screen = app.screen
            members = screen.query_one("#sweep-members")
            assert members.row_count == 12
            loss = screen.columns.index("loss")
            screen.sort_column = loss
            screen.refill()
            shown = [float(str(members.get_row_at(i)[loss])) for i in range(12)]
            assert shown == sorted(shown)
            await pilot.press("r")
            assert float(str(members.get_row_at(0)[loss])) == max(shown)
            await pilot.press("slash")
            await pilot.press(*"train.lr=0.1")
            await wait_until(pilot, lambda: members.row_count == 6, "the filter")
            screen.query_one("#sweep-value").value = "loss"
            screen.query_one("#sweep-x").value = "train.lr"
            screen.query_one("#sweep-y").value = "model.hidden"
            await pilot.pause(0.2)
            xs, ys, mean, se, count = screen.heat
            assert xs == [0.05, 0.1] and ys == [2, 3] and (count == 3).all()
            for i, hidden in enumerate(ys):
                for j, lr in enumerate(xs):
                    cell = [r["loss"] for r in report["rows"] if r["model.hidden"] == hidden and r["train.lr"] == lr]
                    assert mean[i, j] == np.mean(cell) and se[i, j] == np.std(cell, ddof=1) / np.sqrt(3)
            # enter on a member: its config trains again as a live run
            screen.query_one("#sweep-filter").value = ""
            members.focus()
            await pilot.press("home", "enter")
            await wait_until(pilot, lambda: app.live_run is not None, "the live run")
            first = int(str(members.get_row_at(0)[0]))
            assert app.live_run.config.model.hidden == report["rows"][first]["model.hidden"]
            await wait_until(pilot, lambda: app.live_run.finished, "the re-run to finish")

    asyncio.run(body())
