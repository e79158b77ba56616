"""The compare view driven by keys: mark sessions, compare, smooth, log, cursor, zoom, a growing run."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from core.compare import smooth
from core.config import Config, replace
from core.snapshot import Snapshot
from lab.app import RelulabApp
from lab.screens.compare_screen import CompareScreen
from lab.widgets.sessions_table import SessionsTable
from sessions import Store
from tests.pilot_helpers import wait_until

STEPS = 101  # snapshots at steps 0, 10, ..., 1000


def snapshot(step: int, loss: float) -> Snapshot:
    c = np.array([-0.5, 0.25])
    return Snapshot(step=step, loss=loss, test_loss=None, accuracy=None, test_accuracy=None, c=c, w_norm=np.abs(c),
                    v=np.array([1.0, -0.5]), v_sign=np.array([1, -1], np.int8), signs="+", max_drift=0.0,
                    elapsed=step / 1000)


def loss_of(run: int, i: int) -> float:
    """A different, known curve per run: loss = (run + 1) / (i + 1)."""
    return (run + 1) / (i + 1)


def record(store: Store, run: int, finish: bool = True, count: int = STEPS):
    config = replace(replace(Config(), "model", hidden=2), "train", lr=0.01 * (run + 1))
    writer = store.create_session(config, {"device": "cpu", "inputs": 1}, name=f"run{run}")
    for i in range(count):
        writer.append(snapshot(10 * i, loss_of(run, i)))
    if finish:
        writer.finish("completed")
    return writer


def table_value(screen: CompareScreen, session_id: str) -> str:
    table = screen.query_one("#compare-table")
    return str(table.get_row(session_id)[2])  # the "@ cursor" column


def test_mark_three_compare_smooth_log_and_read_the_cursor(tmp_path):
    store_path = tmp_path / "store"
    store = Store(store_path)
    ids = [record(store, run).id for run in range(3)]
    record(store, 3)  # a fourth session, not marked

    async def body():
        app = RelulabApp(store_path=str(store_path), prewarm=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f4")
            await wait_until(pilot, lambda: app.screen.query(SessionsTable) and
                           app.screen.query_one(SessionsTable).row_count == 4, "the sessions table")
            table = app.screen.query_one(SessionsTable)
            await pilot.press("v")  # nothing marked: a warning, no compare view
            await pilot.pause(0.2)
            assert not isinstance(app.screen, CompareScreen)
            for session_id in ids:
                table.move_cursor(row=table.get_row_index(session_id))
                await pilot.press("space")
            assert table.marked == ids
            await pilot.press("v")
            await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.runs, "compare view")
            screen = app.screen
            assert [r.id for r in screen.runs] == ids
            assert list(screen.differences) == ["train.lr"]
            # Cursor at the start (step 0): every run's first loss.
            for run, session_id in enumerate(ids):
                assert float(table_value(screen, session_id)) == pytest.approx(loss_of(run, 0), rel=1e-3)
            # Ten steps right: 10% of the 0..1000 range, step 100 = the 11th snapshot.
            await pilot.press(*["right"] * 10)
            for run, session_id in enumerate(ids):
                assert float(table_value(screen, session_id)) == pytest.approx(loss_of(run, 10), rel=1e-3)
            # Smoothing 0.6: the value at the cursor is TensorBoard's EMA of the whole series there.
            await pilot.press("s")
            for run, session_id in enumerate(ids):
                want = smooth([loss_of(run, i) for i in range(STEPS)], 0.6)[10]
                assert float(table_value(screen, session_id)) == pytest.approx(want, rel=1e-3)
            assert screen.log_y
            await pilot.press("l")
            assert not screen.log_y
            # Zoom in around the cursor and back out.
            await pilot.press("left_square_bracket")
            low, high = screen.visible()
            assert high - low == pytest.approx(500.0) and low <= 100 <= high
            await pilot.press("right_square_bracket")
            assert screen.visible() == (0.0, 1000.0)
            await pilot.press("m")  # accuracy: none recorded, nothing crashes
            await pilot.press("m", "m", "m", "m")
            await pilot.press("escape")
            await pilot.pause(0.2)
            assert app.is_running and not isinstance(app.screen, CompareScreen)

    asyncio.run(body())


def test_a_session_still_recording_grows_in_the_compare_view(tmp_path):
    store_path = tmp_path / "store"
    store = Store(store_path)
    done = record(store, 0)
    growing = record(store, 1, finish=False, count=10)

    async def body():
        app = RelulabApp(store_path=str(store_path), prewarm=False)
        async with app.run_test(size=(80, 24)) as pilot:
            app.push_screen(CompareScreen([done.id, growing.id]))
            await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.runs, "compare view")
            screen = app.screen
            first = len(screen.runs[1].series["step"])
            for i in range(10, 60):
                growing.append(snapshot(10 * i, loss_of(1, i)))
            growing.flush()  # committed, as the writer thread does every second
            await wait_until(pilot, lambda: len(screen.runs[1].series["step"]) > first, "the recording run to grow")
            growing.finish("completed")

    asyncio.run(body())


def test_replay_cursor_readout_and_zoom(tmp_path):
    from lab.screens.replay_screen import ReplayScreen
    from lab.widgets.loss_plot import LossPlot
    from lab.widgets.replay_controls import ReplayControls

    store_path = tmp_path / "store"
    session_id = record(Store(store_path), 2).id

    async def body():
        app = RelulabApp(store_path=str(store_path), replay=session_id, prewarm=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.model is not None,
                           "the replay")
            screen = app.screen
            await pilot.press("home", *["right"] * 30)  # snapshot 31: step 300
            assert screen.model.step == 300
            controls = str(screen.query_one(ReplayControls).render())
            assert f"loss {loss_of(2, 30):.6g}" in controls and "l_- 1" in controls
            total = screen.model.total_steps  # the config's steps (2000): the run's x axis
            await pilot.press("left_square_bracket")  # half the range, centred on step 300, clamped at 0
            assert screen.query_one(LossPlot).zoom == (0.0, total / 2)
            await pilot.press("left_square_bracket")
            assert screen.query_one(LossPlot).zoom == (300 - total / 8, 300 + total / 8)
            assert "zoom" in str(screen.query_one(ReplayControls).render())
            await pilot.press("right_square_bracket", "right_square_bracket")
            assert screen.query_one(LossPlot).zoom is None
            await pilot.pause(0.2)
            assert app.is_running

    asyncio.run(body())
