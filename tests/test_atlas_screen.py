"""The console's atlas: F7 from the live and replay screens, computed in a worker, drawn as bars."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from textual.app import App
from textual.widgets import DataTable, Static

from core.config import load_config, replace
from lab.app import RelulabApp
from lab.cli.main import main
from lab.screens.atlas_screen import AtlasScreen
from lab.screens.replay_screen import ReplayScreen
from tests.pilot_helpers import wait_until

ROOT = Path(__file__).resolve().parents[1]
WIDE = (110, 34)


def classification(app) -> str:
    from lab.widgets.classification_panel import ClassificationPanel

    return str(app.screen.query_one(ClassificationPanel).query_one("#summary").render())


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def test_f7_on_the_live_run_draws_floors_and_marks_its_component():
    async def body():
        config = load_config(ROOT / "examples/abs_obstructed.toml")
        app = RelulabApp(config, prewarm=False)
        async with app.run_test(size=WIDE) as pilot:
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: app.live_run is not None and app.live_run.finished, what="the run")
            await pilot.press("f7")
            await wait_until(pilot, lambda: isinstance(app.screen, AtlasScreen) and app.screen.report is not None,
                             what="the atlas")
            screen = app.screen
            assert screen.report["own"] == "1+1-" and screen.report["best"] == "2+0-"
            bars = text_of(screen, "#atlas-bars").splitlines()
            own = next(line for line in bars if line.startswith("1+1-"))
            assert "<- this run" in own and "|" in own
            # The run (plain GD from the example's point) ends at its component's floor or above it.
            loss = app.live_run.latest.loss
            assert loss >= screen.report["components"][1]["floor"] - 1e-9
            assert "obstruction gap" in text_of(screen, "#atlas-summary")
            assert "recorded as session" in text_of(screen, "#atlas-status")
            assert sorted(i.kind for i in app.store.list()) == ["atlas", "run"]
            await pilot.press("escape")
            assert not isinstance(app.screen, AtlasScreen)
            # Back on the live screen, the classification pane now knows its component's floor.
            floor = screen.report["components"][1]["floor"]
            await wait_until(pilot, lambda: f"floor of this component 1+1-: {floor:.4g}" in classification(app),
                             what="the floor line")

    asyncio.run(body())


def test_f7_on_a_replay_maps_the_recorded_config(tmp_path, capsys):
    store = tmp_path / "s"
    assert main(["run", str(ROOT / "examples/abs_obstructed.toml"), "--steps", "300", "--json",
                 "--store", str(store)]) == 0
    sid = json.loads(capsys.readouterr().out)["session"]

    async def body():
        app = RelulabApp(store_path=str(store), replay=sid, prewarm=False)
        async with app.run_test(size=WIDE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.model is not None,
                             what="the replay")
            await pilot.press("f7")
            await wait_until(pilot, lambda: isinstance(app.screen, AtlasScreen) and app.screen.report is not None,
                             what="the atlas")
            assert app.screen.report["own"] == "1+1-"
            assert app.screen.report["steps"] == 300  # the recorded config's own budget
            await pilot.press("escape")
            await wait_until(pilot, lambda: "floor of this component 1+1-" in classification(app), what="the floor")

    asyncio.run(body())


def test_a_recorded_atlas_shows_in_the_replay_classification(tmp_path, capsys):
    store = tmp_path / "s"
    assert main(["run", str(ROOT / "examples/abs_obstructed.toml"), "--steps", "300", "--json",
                 "--store", str(store)]) == 0
    sid = json.loads(capsys.readouterr().out)["session"]
    assert main(["atlas", str(ROOT / "examples/abs_obstructed.toml"), "--restarts", "4", "--json",
                 "--store", str(store)]) == 0
    atlas_id = json.loads(capsys.readouterr().out)["session"]

    async def body():
        app = RelulabApp(store_path=str(store), replay=sid, prewarm=False)
        async with app.run_test(size=WIDE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.model is not None,
                             what="the replay")
            await pilot.press("4")  # the classification pane
            await wait_until(pilot, lambda: f"(atlas {atlas_id})" in classification(app), what="the floor line")
            assert "floor of this component 1+1-: 0.0859" in classification(app)

    asyncio.run(body())


def test_f7_without_a_run_says_so_and_stays():
    async def body():
        app = RelulabApp(prewarm=False)
        async with app.run_test(size=WIDE) as pilot:
            before = app.screen
            await pilot.press("f7")
            await pilot.pause(0.1)
            assert app.screen is before
            assert any("No run to map" in str(n.message) for n in app._notifications)

    asyncio.run(body())


def test_a_refused_config_is_shown_inline():
    config = replace(load_config(ROOT / "examples/abs_obstructed.toml"), "model", activation="tanh")

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(AtlasScreen(config))

    async def body():
        app = Host()
        async with app.run_test(size=WIDE) as pilot:
            await wait_until(pilot, lambda: "not conserved" in text_of(app.screen, "#atlas-status"),
                             what="the error")
            assert app.screen.report is None

    asyncio.run(body())


def test_experiment_screen_runs_the_atlas_experiment():
    from core import experiments as E
    from lab.screens.experiment_screen import ExperimentScreen

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(ExperimentScreen(device="cpu"))

    async def body():
        app = Host()
        async with app.run_test(size=(140, 45)) as pilot:
            await pilot.pause()
            screen = app.screen
            screen.query_one("#exp-list").focus()
            await pilot.press("down", "down", "down", "down", "down")
            assert screen.selected == "atlas"
            await pilot.press("r")
            await wait_until(pilot, lambda: isinstance(screen.result, E.AtlasExperimentResult) and not screen.running,
                             what="the atlas experiment")
            # 3 toy rows + 9 breast-cancer rows, each part with its reference
            assert screen.query_one(DataTable).row_count == (3 + 1) + (9 + 1)
            assert "toy: both neurons positive" in text_of(screen, "#exp-summary")

    asyncio.run(body())


def test_a_long_run_gets_its_atlas_in_capped_steps():
    from lab.screens.atlas_screen import CONSOLE_MAX_STEPS

    config = replace(load_config(ROOT / "examples/abs_obstructed.toml"), "train", steps=5_000_000)

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(AtlasScreen(config, restarts=2))

    async def body():
        app = Host()
        async with app.run_test(size=WIDE) as pilot:
            await wait_until(pilot, lambda: app.screen.report is not None, what="the atlas")
            assert app.screen.report["steps"] == CONSOLE_MAX_STEPS
            assert "<- this run" in text_of(app.screen, "#atlas-bars")  # no loss yet: no marker, still the own row

    asyncio.run(body())


def test_an_atlas_floor_belongs_to_its_own_store(tmp_path):
    # An atlas recorded in one store says nothing to a run recorded in another (it names a session
    # that store does not hold); the same process may open both.
    from core.invariants import classify_params
    from core.init import initial_params
    from lab.atlas_report import component_floor_line, remember

    config = load_config(ROOT / "examples/abs_obstructed.toml")
    initial = classify_params(initial_params(config, 1))
    report = {"c": initial.c.tolist(), "components": [{"name": "1+1-", "own": True, "floor": 0.0859}]}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    remember(config, report, "abcd1234", tmp_path / "a")
    assert component_floor_line(tmp_path / "a", config, initial) == "floor of this component 1+1-: 0.0859 (atlas abcd1234)"
    assert component_floor_line(tmp_path / "b", config, initial) is None
