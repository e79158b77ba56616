"""The console driven by keys through Textual's pilot: form, run, stop, sessions, replay, faults."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.config import Config, load_config, replace
from lab.app import RelulabApp
from lab.screens.replay_screen import ReplayScreen
from lab.screens.setup_screen import SetupScreen
from lab.widgets.classification_panel import ClassificationPanel
from lab.widgets.config_field import ConfigField
from lab.widgets.sessions_table import SessionsTable
from tests.pilot_helpers import run_async, wait_until

ROOT = Path(__file__).resolve().parents[1]


WIDE = (100, 30)
NARROW = (80, 24)


async def tab_to(pilot, section: str, name: str, limit: int = 60) -> None:
    """Tab through the form until the field's editor has focus, as a person would."""
    target = f"edit-{section}-{name}"
    for _ in range(limit):
        focused = pilot.app.focused
        if focused is not None and focused.id == target:
            return
        await pilot.press("tab")
    raise AssertionError(f"could not tab to {target}")


async def type_into(pilot, section: str, name: str, text: str) -> None:
    """Focus a field (where tab_to would get, without the forty key presses) and type `text`."""
    pilot.app.screen.query_one(f"#edit-{section}-{name}").focus()
    await pilot.pause()
    await pilot.press("end", "ctrl+u", *text)
    await pilot.pause()


def field(app, section: str, name: str) -> ConfigField:
    return app.screen.query_one(f"#field-{section}-{name}", ConfigField)


async def start_long_run(pilot, app, past_step: int) -> None:
    """Ctrl-R on a run too long to finish; back once training has passed `past_step`."""
    await pilot.press("ctrl+r")
    await wait_until(pilot, lambda: app.live_run is not None and app.live_run.latest is not None
                     and app.live_run.latest.step >= past_step, what="training to start")


def last_toast(app) -> str:
    return list(app._notifications)[-1].message


def summary(app) -> str:
    return str(app.screen.query_one(ClassificationPanel).query_one("#summary").render())


@run_async
async def test_form_validates_as_you_type_and_refuses_to_start():
    app = RelulabApp(prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        # The form is keyboard-driven: tab moves from field to field.
        await tab_to(pilot, "model", "hidden")
        await tab_to(pilot, "model", "activation")
        await type_into(pilot, "train", "lr", "-1")
        lr = field(app, "train", "lr")
        assert lr.has_class("-invalid")
        assert lr.error == "form: [train] lr = -1: must be a number > 0 and <= 1e+30"
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen) and app.live_run is None
        assert app.focused is lr.editor
        await pilot.press("ctrl+u", *"0.05")
        assert lr.error is None and not lr.has_class("-invalid")
        # A cross-field rule shows under the field it names.
        await type_into(pilot, "init", "signs", "+-+")
        assert "[init] signs" in field(app, "init", "signs").error
        assert "at most [model] hidden = 2 signs" in field(app, "init", "signs").error
        await pilot.press("backspace")
        await pilot.pause()
        assert field(app, "init", "signs").error is None
        # Text that is no number gets the schema's message, as the CLI prints it.
        await type_into(pilot, "model", "hidden", "two")
        assert field(app, "model", "hidden").error == (
            'form: [model] hidden = "two": must be an integer >= 1 and <= 100000')


@run_async
async def test_obstructed_abs_run_by_keys_classifies_and_stalls():
    """abs target, signs (+,-) prescribed from the form: 2 pathological, 4 components, 3 effective."""
    app = RelulabApp(prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await type_into(pilot, "init", "signs", "+-")
        await type_into(pilot, "train", "steps", "3000")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.live_run is not None and app.live_run.finished, what="the run")
        run = app.live_run
        assert run.state == "completed", run.error
        await pilot.pause(0.3)
        text = summary(app)
        assert "2 pathological" in text and "4 components" in text and "3 effective" in text
        assert "signs '+-'" in text
        # The loss stalls clearly above zero: flat over the last third of the run.
        view = run.series.view()
        tail = view.loss[view.step >= 2000]
        assert tail.min() > 0.05
        assert (tail.max() - tail.min()) / tail.min() < 0.05
        # Recorded in the store.
        infos = app.store.list()
        assert [i.status for i in infos] == ["completed"]
        assert infos[0].pathological == 2 and infos[0].components == 4


@run_async
async def test_stop_then_find_in_sessions_and_replay():
    config = replace(load_config(ROOT / "examples/abs_obstructed.toml"), "train", steps=5_000_000)
    app = RelulabApp(config, prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await start_long_run(pilot, app, 500)
        await pilot.press("s")
        await wait_until(pilot, lambda: app.live_run.finished, what="the run to stop")
        assert app.live_run.state == "interrupted"
        stopped_at = app.live_run.latest.step
        assert 0 < stopped_at < 5_000_000

        await pilot.press("f4")
        table = app.screen.query_one(SessionsTable)
        await wait_until(pilot, lambda: table.row_count == 1, what="the sessions list")
        assert "interrupted" in str(table.get_cell(table.shown_ids()[0], "status"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.model is not None,
                         what="the replay to load")
        replay = app.screen
        assert replay.model.step == 0
        await pilot.press("end")
        assert replay.model.step == stopped_at
        await pilot.pause(0.2)
        text = summary(app)
        assert "2 pathological" in text and "4 components" in text and "3 effective" in text
        await pilot.press("home", "right", "right")
        assert replay.model.index == 2
        await pilot.press("space")
        assert replay.playing
        await pilot.press("space")
        assert not replay.playing
        await pilot.press("escape")
        assert not isinstance(app.screen, ReplayScreen)


@run_async
async def test_quitting_during_a_run_keeps_it_as_interrupted():
    config = replace(load_config(ROOT / "examples/abs_obstructed.toml"), "train", steps=5_000_000)
    app = RelulabApp(config, prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await start_long_run(pilot, app, 200)
        await pilot.press("ctrl+q")
    assert app.live_run.state == "interrupted"
    from sessions import open_store

    [info] = open_store(None).list()
    assert info.status == "interrupted" and info.snapshots > 0


@run_async
async def test_faults_are_shown_inline_and_the_app_keeps_running(tmp_path):
    app = RelulabApp(prewarm=False)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        # CUDA chosen on a machine without it: the form refuses, with the engine's one-line message.
        import torch

        if not torch.cuda.is_available():
            await type_into(pilot, "train", "device", "cuda")
            await pilot.press("ctrl+r")
            await pilot.pause(0.2)
            assert app.live_run is None and isinstance(app.screen, SetupScreen)
            assert "CUDA is not available" in last_toast(app)
            await type_into(pilot, "train", "device", "cpu")
        # A data file that does not exist: refused in the form too.
        await type_into(pilot, "data", "path", str(tmp_path / "missing.csv"))
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        assert app.live_run is None
        assert "missing.csv" in last_toast(app) and "no such file" in last_toast(app)
        # A file that is there but not numbers fails the run: the live screen says so, in every pane.
        bad = tmp_path / "words.csv"
        bad.write_text("a,b\nx,y\n")
        await type_into(pilot, "data", "path", str(bad))
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.live_run is not None and app.live_run.finished)
        await pilot.pause(0.3)
        assert app.live_run.state == "failed"
        assert "words.csv" in str(app.screen.query_one("#run-message").render())
        assert "the run failed" in str(app.screen.query_one("#loss").render())
        assert "waiting" not in str(app.screen.query_one("#loss").render())
        # A session that does not exist: an inline message on the replay screen.
        app.open_replay("ffffffff")
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen))
        await pilot.pause(0.5)
        assert "no session" in str(app.screen.query_one("#replay-message").render())
        assert app.is_running


@run_async
async def test_unwritable_store_notifies_and_the_run_goes_on(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    config = replace(Config(), "train", steps=300)
    app = RelulabApp(config, store_path=str(not_a_dir / "store"), prewarm=False)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.live_run is not None and app.live_run.finished)
        assert app.live_run.state == "completed"
        assert app.store is None and app.store_error
        assert any("session store unavailable" in n.message for n in app._notifications)


@run_async
async def test_narrow_terminal_shows_tabs_and_switches_panes():
    config = replace(load_config(ROOT / "examples/abs_obstructed.toml"), "train", steps=500)
    app = RelulabApp(config, prewarm=False)
    async with app.run_test(size=NARROW) as pilot:
        assert app.screen.has_class("-narrow")
        tabs = app.screen.query_one("#setup-panes Tabs")
        assert tabs.display
        await pilot.press("f6")
        assert app.screen.query_one("#pane-init").has_class("-active")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.live_run is not None and app.live_run.finished)
        await pilot.pause(0.2)
        panes = app.screen.query_one("#live-panes")
        assert panes.active == "loss"
        await pilot.press("4")
        assert panes.active == "classification"
        assert app.screen.query_one("#classification").display
        assert not app.screen.query_one("#loss").display
        await pilot.press("right_square_bracket")
        assert panes.active == "loss"


@run_async
async def test_help_and_command_palette_list_the_actions():
    app = RelulabApp(prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Run", "Save TOML", "Open TOML", "Weights", "Set-up", "Live", "Sessions", "Quit"} <= titles
        from lab.screens.help_screen import HelpScreen, screen_bindings

        rows = {description: keys for keys, description, _ in screen_bindings(app.screen)}
        assert rows["Run"] == "^r" and rows["Help"] in ("f1", "f1 / ?")  # "?" types into a focused field
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, SetupScreen)
        await pilot.press("f3")
        live_titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Stop", "Restart", "New seed", "Log y"} <= live_titles


@run_async
async def test_config_file_with_mistakes_opens_prefilled_with_inline_errors(tmp_path):
    from lab.cli.console import read_config_file

    path = tmp_path / "bad.toml"
    path.write_text('[model]\nhidden = 0\n[train]\nlr = 0.1\nsteps = 50\n')
    config, raw = read_config_file(path)
    assert config is None and raw["model"]["hidden"] == 0
    app = RelulabApp(config, raw=raw, config_path=path, prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        assert field(app, "model", "hidden").error == "form: [model] hidden = 0: must be an integer >= 1 and <= 100000"
        assert field(app, "train", "lr").text == "0.1"
        await pilot.press("ctrl+r")
        assert app.live_run is None


@run_async
async def test_new_seed_restarts_with_the_next_seed():
    config = replace(Config(), "train", steps=200)
    app = RelulabApp(config, prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.live_run is not None and app.live_run.finished)
        first = app.live_run
        await pilot.press("n")
        await wait_until(pilot, lambda: app.live_run is not first and app.live_run.finished)
        assert app.live_run.config.init.seed == 1
        assert app.mode_screen("setup").field("init", "seed").text == "1"
        assert not np.allclose(first.initial.c, app.live_run.initial.c)
        assert len(app.store.list()) == 2
