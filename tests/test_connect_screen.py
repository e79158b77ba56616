"""The console's view of a connection: opened from the sessions list, loss and c_k along the path."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from core.config import load_config
from core.errors import UserError
from lab.app import RelulabApp
from lab.cli.main import main
from lab.screens.connect_screen import ConnectScreen, read_connection
from lab.widgets.sessions_table import SessionsTable
from sessions import open_store
from tests.pilot_helpers import wait_until

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "examples" / "abs_obstructed.toml"


def record_connection(tmp_path) -> str:
    """A recorded connection between two |x| networks (without alignment, one bead is needed at level 0.2)."""
    np.savez(tmp_path / "a.npz", hidden_weight=[[1.0], [-1.0]], hidden_bias_values=[0.0, 0.0], output_weight=[[1.0, 1.0]])
    np.savez(tmp_path / "b.npz", hidden_weight=[[-1.0], [1.0]], hidden_bias_values=[0.0, 0.0], output_weight=[[1.0, 1.0]])
    assert main(["connect", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--config", str(TOY),
                 "--level", "0.2", "--no-align", "--name", "swap"]) == 0
    return open_store().resolve("swap")


def test_enter_on_a_connection_opens_its_screen(tmp_path):
    session_id = record_connection(tmp_path)

    async def body():
        app = RelulabApp(load_config(TOY), prewarm=False)
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("f4")
            table = app.screen.query_one(SessionsTable)
            await wait_until(pilot, lambda: table.row_count == 1)
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ConnectScreen) and app.screen.data is not None)
            screen = app.screen
            assert screen.data["report"]["session"] == session_id
            shown = str(screen.query_one("#connect-summary").render())
            assert "connected" in shown and "normalised length" in shown
            assert screen.data["c"].shape[1] == 2 and len(screen.data["bead_positions"]) == 1
            await pilot.press("l")
            assert screen.log_y is False
            await pilot.press("escape")
            assert not isinstance(app.screen, ConnectScreen)

    asyncio.run(body())


def test_read_connection_refuses_a_run(tmp_path, capsys):
    assert main(["run", str(TOY), "--steps", "10", "--json", "--name", "plain"]) == 0
    store = open_store()
    with pytest.raises(UserError, match="not a connection"):
        read_connection(store, store.resolve("plain"))
