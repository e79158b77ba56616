"""The console's NCF pane (key 5): live, recorded with the session, and shown again in replay."""

from __future__ import annotations

import io
from pathlib import Path

from core.config import config_from_dict, load_config
from lab.app import RelulabApp
from lab.ncf_track import RESULT_NAME, NcfTrack
from lab.screens.replay_screen import ReplayScreen
from lab.widgets.live_view import ReflowPanes
from lab.widgets.ncf_pane import NcfPane, alignment_table, ncf_summary
from lab.widgets.sessions_table import SessionsTable
from tests.test_app_pilot import WIDE, run_async, wait_until

ROOT = Path(__file__).resolve().parents[1]


def pane_text(app) -> str:
    from rich.console import Console

    pane = app.screen.query_one(NcfPane)
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(ncf_summary(pane.frame))
    console.print(alignment_table(pane.frame))
    return console.export_text()


@run_async
async def test_ncf_pane_live_then_replay():
    config = load_config(ROOT / "examples/small_init.toml")
    app = RelulabApp(config, prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.live_run is not None and app.live_run.finished, what="the run")
        run = app.live_run
        assert run.state == "completed", run.error
        await pilot.press("5")
        await pilot.pause(0.3)
        assert app.screen.query_one(NcfPane).display
        assert not app.screen.query_one(ReflowPanes).display
        text = pane_text(app)
        assert "KKT directions" in text and "escape" in text
        assert f"checkpoint step {config.train.steps}" in text  # the final checkpoint's alignment
        # Neuron 0 starts pathological with v < 0 and is predicted dead: it shows as such.
        assert "frozen" in text and "dead" in text
        await pilot.press("1")
        await pilot.pause(0.1)
        assert not app.screen.query_one(NcfPane).display and app.screen.query_one(ReflowPanes).display

        session = app.store.load(run.session_id)
        record = session.json(RESULT_NAME)
        assert record["kkt"] and len(record["prediction"]) == config.model.hidden

        await pilot.press("f4")
        table = app.screen.query_one(SessionsTable)
        await wait_until(pilot, lambda: table.row_count == 1, what="the sessions list")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.model is not None,
                         what="the replay to load")
        await pilot.press("end", "5")
        await pilot.pause(0.3)
        text = pane_text(app)
        assert "recorded" in text and "KKT directions" in text
        assert f"checkpoint step {config.train.steps}" in text


def test_track_refuses_what_the_theory_does_not_cover():
    track = NcfTrack.for_config(config_from_dict({"model": {"activation": "tanh"}}))
    view = track.view()
    assert view.status.startswith("not covered") and "activation" in view.status
    assert view.kkt == []


def test_track_alignment_at_a_checkpoint_matches_core():
    from core import ncf
    from core.init import initial_params

    config = load_config(ROOT / "examples/small_init.toml")
    track = NcfTrack.for_config(config)
    assert track.wait()
    params = initial_params(config, 2)
    track.observe(0, params)
    view = track.view()
    report = ncf.analyse(config)
    assert view.checkpoint == 0
    assert [k["value"] for k in view.kkt] == [k.value for k in report.kkt]
    assert (view.nearest == report.initial.nearest).all()
    assert view.escape_step() > 0
