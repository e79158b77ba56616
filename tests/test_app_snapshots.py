"""Snapshots of the console's main screens at 100x30 and 80x24 (pytest-textual-snapshot).

The apps run with `redact=True` (no timings, dates or session ids on screen) and the abs example
in float64, so every snapshot is the same on every run. Update with `pytest --snapshot-update`
after checking the new SVGs by eye.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_config, replace
from lab.app import RelulabApp
from lab.screens.replay_screen import ReplayScreen
from lab.widgets.init_preview import InitPreview
from lab.widgets.sessions_table import SessionsTable
from tests.pilot_helpers import wait_until

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "abs_obstructed.toml"
SIZES = {"wide": (100, 30), "narrow": (80, 24)}


def make_app() -> RelulabApp:
    return RelulabApp(load_config(EXAMPLE), config_path=Path("examples/abs_obstructed.toml"), redact=True,
                      prewarm=False)


async def settle(pilot) -> None:
    """No focus (no blinking cursor), everything painted."""
    pilot.app.set_focus(None)
    await pilot.pause(0.2)


async def finish_run(pilot) -> None:
    app = pilot.app
    await pilot.press("ctrl+r")
    await wait_until(pilot, lambda: app.live_run is not None and app.live_run.finished)
    await pilot.pause(0.3)


async def open_sessions(pilot) -> None:
    """After a finished run: the sessions screen, its one row listed."""
    await pilot.press("f4")
    table = pilot.app.screen.query_one(SessionsTable)
    await wait_until(pilot, lambda: table.row_count == 1)


@pytest.mark.parametrize("size", SIZES)
def test_setup_screen(snap_compare, size):
    async def run_before(pilot):
        preview = pilot.app.screen.query_one(InitPreview)
        await wait_until(pilot, lambda: "at init" in str(preview.content))
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_live_screen_after_the_obstructed_run(snap_compare, size):
    async def run_before(pilot):
        await finish_run(pilot)
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=run_before)


def test_live_classification_tab_narrow(snap_compare):
    async def run_before(pilot):
        await finish_run(pilot)
        await pilot.press("4")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZES["narrow"], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_sessions_screen(snap_compare, size):
    async def run_before(pilot):
        await finish_run(pilot)
        await open_sessions(pilot)
        await pilot.pause(0.2)

    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_replay_screen_at_the_end(snap_compare, size):
    async def run_before(pilot):
        await finish_run(pilot)
        await open_sessions(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReplayScreen) and pilot.app.screen.model)
        await pilot.press("end")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=run_before)


def test_help_screen(snap_compare):
    async def run_before(pilot):
        await pilot.pause(0.2)
        pilot.app.set_focus(None)
        await pilot.press("f1")
        await pilot.pause(0.2)

    assert snap_compare(make_app(), terminal_size=SIZES["wide"], run_before=run_before)


def test_wide_layer_is_readable(snap_compare):
    """64 neurons: the c_k plot shows the 8 nearest zero plus a band; the table the 32 nearest."""
    config = replace(load_config(EXAMPLE), "init", hidden_weight=None, hidden_bias_values=None, output_weight=None)
    config = replace(replace(config, "model", hidden=64), "train", steps=400)
    app = RelulabApp(config, redact=True, prewarm=False)

    async def run_before(pilot):
        await finish_run(pilot)
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZES["wide"], run_before=run_before)
