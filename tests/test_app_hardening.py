"""Console hardening: key sequences, names and values that used to crash it or misbehave.

Each test drives the keys a person pressed when the fault was found (issue "console hardening").
"""

from __future__ import annotations

from core.config import Config, load_config, replace
from lab.app import RelulabApp
from lab.screens.experiment_screen import ExperimentScreen
from lab.screens.help_screen import HelpScreen
from lab.screens.live_screen import LiveScreen
from lab.screens.replay_screen import ReplayScreen
from lab.screens.setup_screen import SetupScreen
from lab.widgets.sessions_table import SessionsTable
from test_app_pilot import NARROW, ROOT, WIDE, field, run_async, type_into, wait_until


def short_config(steps: int = 60) -> Config:
    return replace(Config(), "train", steps=steps)


async def finish_run(pilot, app) -> None:
    await pilot.press("ctrl+r")
    await wait_until(pilot, lambda: app.live_run is not None and app.live_run.finished, what="the run")


async def open_sessions(pilot, app, rows: int = 1) -> SessionsTable:
    await pilot.press("f4")
    table = app.screen.query_one(SessionsTable)
    await wait_until(pilot, lambda: table.row_count == rows, what=f"{rows} sessions listed")
    return table


def cell(table: SessionsTable, column: str, row: int = 0) -> str:
    return str(table.get_cell_at((row, table.get_column_index(column))))


def toasts(app) -> list[str]:
    return [n.message for n in app._notifications]


# -- 1. the experiments screen is a mode like the others --------------------------------------------

@run_async
async def test_f5_f4_f5_and_f2_from_experiments():
    app = RelulabApp(prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("f5")
        assert isinstance(app.screen, ExperimentScreen)
        await pilot.press("f4", "f5")  # DuplicateIds before
        assert isinstance(app.screen, ExperimentScreen)
        await pilot.press("f2")  # did nothing before, until escape
        assert isinstance(app.screen, SetupScreen)
        await pilot.press("f5", "f3", "f5")
        assert isinstance(app.screen, ExperimentScreen)
        await pilot.press("escape")  # back to where F5 was pressed
        assert isinstance(app.screen, LiveScreen)
        assert app.is_running


@run_async
async def test_f5_during_a_run_leaves_it_running():
    app = RelulabApp(short_config(5_000_000), prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.live_run is not None and app.live_run.latest is not None)
        await pilot.press("f5", "f4", "f5", "f3")
        assert isinstance(app.screen, LiveScreen)
        assert app.live_run.state == "running"
        await pilot.press("s")
        await wait_until(pilot, lambda: app.live_run.finished)


# -- 2. names and tags are plain text ---------------------------------------------------------------

@run_async
async def test_markup_in_a_session_name_and_tag_is_shown_as_typed():
    app = RelulabApp(short_config(), prewarm=False)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await finish_run(pilot, app)
        table = await open_sessions(pilot, app)
        await pilot.press("r", "ctrl+u", *"run [/b] x", "enter")
        await wait_until(pilot, lambda: app.store.list()[0].name == "run [/b] x", what="the rename")
        await wait_until(pilot, lambda: cell(table, "name") == "run [/b] x", what="the new name")
        await pilot.press("t", *"[paper] [/i]", "enter")
        await wait_until(pilot, lambda: "[paper]" in cell(table, "tags"), what="the tags")
        # Every later visit draws it again (it crashed each time before).
        await pilot.press("f2", "f4")
        await pilot.pause(0.3)
        await pilot.press("r", "ctrl+u", *"[paper] run", "enter")
        await wait_until(pilot, lambda: cell(table, "name") == "[paper] run", what="the bracketed name")
        # The replay's top line and the delete question quote it as typed.
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.model is not None)
        await pilot.pause(0.1)
        assert "[paper] run" in str(app.screen.query_one("#mode-bar").render())
        await pilot.press("escape", "d")
        await pilot.pause(0.1)
        assert "[paper] run" in str(app.screen.query_one("Label").render())
        await pilot.press("n")
        assert app.is_running


# -- 3. toasts are plain text -----------------------------------------------------------------------

@run_async
async def test_markup_typed_into_a_field_then_run_shows_the_error():
    app = RelulabApp(prewarm=False)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await type_into(pilot, "model", "hidden", "[/bold]")
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        assert app.is_running and app.live_run is None
        [message] = toasts(app)
        assert message == 'form: [model] hidden = "[/bold]": must be an integer >= 1 and <= 100000'
        # The toast as drawn keeps the [model] prefix.
        from textual.widgets._toast import Toast

        drawn = " ".join(str(t.render()) for t in app.screen.query(Toast))
        assert "[model] hidden" in drawn


# -- 4. a form with a cross-field error neither runs nor saves --------------------------------------

@run_async
async def test_cross_field_errors_block_run_and_save(tmp_path):
    app = RelulabApp(short_config(), prewarm=False)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await type_into(pilot, "model", "hidden", "2")
        await type_into(pilot, "init", "signs", "+-+")
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        assert app.live_run is None and isinstance(app.screen, SetupScreen)
        assert "[init] signs" in toasts(app)[-1]
        assert app.focused is field(app, "init", "signs").editor
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert "[init] signs" in toasts(app)[-1] and len(app.screen_stack) == 1  # no file prompt
        # A hidden_weight of the wrong shape (3 rows for 2 neurons): the same.
        await type_into(pilot, "init", "signs", "")
        await type_into(pilot, "init", "hidden_weight", "[[1.0], [2.0], [3.0]]")
        assert "shape 3 x 1" in field(app, "init", "hidden_weight").error
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        assert app.live_run is None and "[init] hidden_weight" in toasts(app)[-1]
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert len(app.screen_stack) == 1
        # Fixed, it runs with exactly the weights shown.
        await type_into(pilot, "init", "hidden_weight", "[[1.0], [-2.0]]")
        await finish_run(pilot, app)
        assert app.live_run.config.init.hidden_weight == [[1.0], [-2.0]]


# -- 5. a run that cannot start is refused in the form ---------------------------------------------

@run_async
async def test_missing_data_file_is_refused_and_a_failed_run_does_not_wait_forever(tmp_path):
    app = RelulabApp(short_config(), prewarm=False)
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        await type_into(pilot, "data", "path", str(tmp_path / "nope.csv"))
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        assert app.live_run is None and "[data] path" in toasts(app)[-1]
        empty = tmp_path / "empty.csv"
        empty.write_text("")
        await type_into(pilot, "data", "path", str(empty))
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.live_run is not None and app.live_run.finished)
        await pilot.pause(0.3)
        assert app.live_run.state == "failed"
        screen = app.screen
        assert "empty" in str(screen.query_one("#run-message").render())
        for pane in ("loss", "ck", "quadric"):
            assert "waiting" not in str(screen.query_one(f"#{pane}").render())
        assert "failed" in str(screen.query_one("#classification #summary").render())


# -- 6. replay keys ---------------------------------------------------------------------------------

@run_async
async def test_replay_full_stop_comma_and_speed_keys():
    app = RelulabApp(short_config(300), prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await finish_run(pilot, app)
        await open_sessions(pilot, app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.model is not None)
        replay = app.screen
        assert replay.model.index == 0
        await pilot.press("full_stop", "full_stop", "full_stop")
        assert replay.model.index == 3
        await pilot.press("comma")
        assert replay.model.index == 2
        speed = replay.model.speed
        await pilot.press("greater_than_sign")
        assert replay.model.speed > speed
        await pilot.press("less_than_sign", "less_than_sign")
        assert replay.model.speed < speed


# -- 7. `?` is help, also from a field and the sessions filter --------------------------------------

@run_async
async def test_question_mark_opens_help_from_a_field_and_the_filter():
    app = RelulabApp(short_config(), prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await type_into(pilot, "model", "hidden", "3")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")  # closes it again
        assert isinstance(app.screen, SetupScreen)
        assert field(app, "model", "hidden").text == "3"
        await finish_run(pilot, app)
        await open_sessions(pilot, app)
        await pilot.press("slash", "a", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert app.screen.query_one("#filter").value == "a"
        # A session's name is free text: there `?` is typed.
        await pilot.press("escape", "r", "ctrl+u", *"why?", "enter")
        await wait_until(pilot, lambda: app.store.list()[0].name == "why?")


# -- 8. sessions: home / end, the cursor after a reload, following a recording session ----------------

@run_async
async def test_sessions_home_end_and_the_cursor_after_a_reload():
    app = RelulabApp(short_config(), prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await finish_run(pilot, app)
        await pilot.press("f3", "n")  # a second run, next seed
        await wait_until(pilot, lambda: len(app.store.list()) == 2 and app.live_run.finished)
        table = await open_sessions(pilot, app, 2)
        newest, oldest = [i.id for i in app.store.list()]
        await pilot.press("end")
        assert table.selected_id == oldest and table.scroll_x == 0
        await pilot.press("home")
        assert table.selected_id == newest
        # A third session appears; ctrl+r, home, enter replays the newest, not the old first row.
        await pilot.press("f2")
        await finish_run(pilot, app)
        third = app.store.list()[0].id
        await pilot.press("f4", "ctrl+r", "home")
        await wait_until(pilot, lambda: table.row_count == 3)
        await pilot.pause(0.2)
        assert table.selected_id == third
        # Moved by hand to a row, the cursor stays on that session across reloads.
        await pilot.press("down")
        assert table.selected_id == newest
        await pilot.press("ctrl+r")
        await pilot.pause(0.5)
        assert table.selected_id == newest
        await pilot.press("home", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.model is not None)
        assert app.screen.model.session.id == third


@run_async
async def test_a_recording_session_is_followed_in_the_list_and_in_replay():
    app = RelulabApp(short_config(5_000_000), prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.live_run is not None and app.live_run.session_id is not None
                         and app.live_run.latest is not None)
        table = await open_sessions(pilot, app)
        first = cell(table, "loss")
        # The loss column moves on without ctrl+r.
        await wait_until(pilot, lambda: cell(table, "loss") not in (first, "—"), what="a newer loss")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.model is not None
                         and len(app.screen.model) > 0)
        replay = app.screen
        await pilot.press("end")
        seen = replay.model.step
        # Paused at the end, the replay follows the recording, as `tail -f` does.
        await wait_until(pilot, lambda: replay.model.step > seen, what="the replay to follow")
        assert replay.model.at_end
        await pilot.press("f3", "s")
        await wait_until(pilot, lambda: app.live_run.finished)
        await pilot.press("f4")
        await wait_until(pilot, lambda: replay.model.session.status == "interrupted", what="the end of the recording")
        assert replay._follow_timer is None


# -- 9. and 10. experiments: recorded results replay, a new run clears the old one, layout ------------

async def run_experiment(pilot, app, name: str) -> None:
    from core import experiments

    screen = app.screen
    target = experiments.NAMES.index(name)
    options = screen.query_one("#exp-list")
    options.focus()
    while options.highlighted != target:
        await pilot.press("down")
    await pilot.press("r")
    await wait_until(pilot, lambda: not screen.running, timeout=120, what=f"experiment {name}")


def fits(widget) -> bool:
    """No column cut off: the table is no wider than its widget."""
    return widget.virtual_size.width <= widget.size.width


@run_async
async def test_a_recorded_experiment_replays_its_tables_and_figures():
    app = RelulabApp(prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("f5")
        await run_experiment(pilot, app, "toy")
        await pilot.press("f4")
        table = app.screen.query_one(SessionsTable)
        await wait_until(pilot, lambda: table.row_count == 1)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.model is not None)
        await pilot.pause(0.3)
        replay = app.screen
        results = replay.query_one("#exp-results")
        assert results.display and not replay.query_one("#live-view").display
        rows = replay.query_one("#exp-table")
        from core.experiments import TOY_RUNS

        assert rows.row_count == len(TOY_RUNS) and str(rows.get_row_at(0)[0]).startswith("obstructed (+,-)")
        assert fits(rows)
        assert "obstructed (+,-): final loss" in str(replay.query_one("#exp-summary").render())
        assert "snapshot" not in str(replay.query_one("#status").render())
        await pilot.press("space", "right", "end", "h", "l")  # replay keys do nothing harmful here
        assert app.is_running


@run_async
async def test_experiments_clear_the_old_result_and_fit_the_screen():
    app = RelulabApp(prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("f5")
        screen = app.screen
        await run_experiment(pilot, app, "toy")
        table = screen.query_one("#exp-table")
        assert table.row_count == len(screen.result.labels) and fits(table) and table.fixed_columns == 1
        await run_experiment(pilot, app, "probability")
        assert table.row_count == 20 and fits(table)
        # Starting another clears what the last one drew, at once.
        options = screen.query_one("#exp-list")
        options.focus()
        await pilot.press("up")  # probability -> breast-cancer
        screen.action_run()  # what `r` calls; checked before the loop can deliver any result
        assert table.row_count == 0 and "running breast-cancer" in str(screen.query_one("#exp-summary").render())
        await pilot.press("s")
        await wait_until(pilot, lambda: not screen.running, timeout=120, what="the stop")
        if "stopped" in str(screen.query_one("#exp-status").render()):
            assert table.row_count == 0


@run_async
async def test_experiments_at_80x24_keep_progress_status_and_modes_in_view():
    app = RelulabApp(prewarm=False)
    async with app.run_test(size=NARROW) as pilot:
        await pilot.press("f5")
        screen = app.screen
        for selector in ("#exp-progress", "#exp-status", "#exp-run", "#mode-bar"):
            region = screen.query_one(selector).region
            assert region.height >= 1 and region.bottom <= 23, selector
        assert "F2 set-up" in str(screen.query_one("#mode-bar").render())
        await run_experiment(pilot, app, "toy")
        assert "done in" in str(screen.query_one("#exp-status").render())
        # Run again: recorded again, under the next free name (names are unique in a store).
        await run_experiment(pilot, app, "toy")
        assert "recorded as session" in str(screen.query_one("#exp-status").render())
        assert sorted(i.name for i in app.store.list()) == ["experiment toy --quick", "experiment toy --quick (2)"]


# -- 11. axis labels ---------------------------------------------------------------------------------

def y_labels(plot) -> list[str]:
    import re

    text = plot.render()
    lines = text.plain.splitlines() if hasattr(text, "plain") else str(text).splitlines()
    return [m[1] for line in lines for m in [re.match(r"\s*([^\s┤├]+)\s*[┤├]", line)] if m]


@run_async
async def test_axis_ticks_are_short_and_a_log_axis_never_reads_zero():
    from lab.widgets.run_plot import linear_ticks, log_ticks

    # From the mathematics: ticks inside the range, on a 1-2-5 grid, at most 7 characters.
    ticks, labels = linear_ticks(-4.1e11, 1e10)
    assert labels == ["-4e11", "-3e11", "-2e11", "-1e11", "0"] and all(-4.1e11 <= t <= 1e10 for t in ticks)
    ticks, labels = log_ticks(-11.2, -0.74)  # a loss from 0.18 down to 6e-12
    assert labels[-1] == "0.01" and "1e-11" in labels and "0" not in labels

    # A loss that falls towards 0 (output signs ++ fit |x|) on the default log axis, at 100x30.
    config = replace(load_config(ROOT / "examples/abs_obstructed.toml"), "init", output_weight=[[1.0, 1.0]])
    app = RelulabApp(replace(config, "train", steps=3000), prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await finish_run(pilot, app)
        await pilot.pause(0.3)
        loss = app.screen.query_one("#loss")
        labels = y_labels(loss)
        assert len(labels) >= 2, labels
        assert all(len(label) <= 7 for label in labels), labels
        assert "0" not in labels and not any(label.startswith("0.000") for label in labels), labels
    # A run that blows up: c_k reaches huge values; the labels stay short.
    app = RelulabApp(replace(Config(), "train", steps=400, lr=10.0), prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await finish_run(pilot, app)
        await pilot.press("2")
        await pilot.pause(0.3)
        labels = y_labels(app.screen.query_one("#ck"))
        assert labels and all(len(label) <= 7 for label in labels), labels


# -- 12. smaller things ------------------------------------------------------------------------------

@run_async
async def test_field_help_wraps_and_names_text_fields():
    app = RelulabApp(prewarm=False)
    async with app.run_test(size=NARROW) as pilot:
        app.screen.query_one("#edit-data-path").focus()
        line = app.screen.query_one("#field-help")
        await wait_until(pilot, lambda: "[data] path" in line.render().plain, what="the path's help")
        assert "a number" not in line.render().plain
        assert "a string" in line.render().plain
        assert field(app, "data", "target").help.endswith("a string (or omitted)")
        # A hint longer than the screen wraps instead of being cut.
        app.screen.query_one("#edit-train-lr").focus()
        await wait_until(pilot, lambda: "[train] lr" in line.render().plain, what="the lr help")
        await wait_until(pilot, lambda: line.size.height >= 2 or len(line.render().plain) <= line.size.width - 2,
                         what="the hint to wrap")


def test_one_component_is_singular():
    from lab.widgets.classification_panel import plural

    assert plural(1, "component") == "1 component" and plural(4, "component") == "4 components"


@run_async
async def test_help_lists_keys_in_the_key_bar_order():
    from lab.screens.help_screen import screen_bindings

    app = RelulabApp(prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("f4")
        rows = [description for _, description, where in screen_bindings(app.screen) if where == "screen"]
        from lab.screens.sessions_screen import SessionsScreen as Screen

        declared = [b.description for b in Screen.BINDINGS]
        assert len(rows) >= 5 and rows == [d for d in declared if d in rows]
        assert rows != sorted(rows)


@run_async
async def test_weights_editor_cursor_starts_on_the_first_array():
    config = load_config(ROOT / "examples/abs_obstructed.toml")
    app = RelulabApp(config, prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause(0.2)
        area = app.screen.query_one("#weights-text")
        row, _ = area.cursor_location
        assert area.document.get_line(row).startswith("hidden_weight")


@run_async
async def test_ctrl_n_asks_before_resetting_the_form():
    app = RelulabApp(prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await type_into(pilot, "model", "hidden", "7")
        await pilot.press("ctrl+n")
        await pilot.press("n")
        assert field(app, "model", "hidden").text == "7"
        await pilot.press("ctrl+n", "y")
        await pilot.pause()
        assert field(app, "model", "hidden").text == str(Config().model.hidden)


@run_async
async def test_live_screen_keeps_drawing_behind_the_command_palette():
    app = RelulabApp(short_config(5_000_000), prewarm=False)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.live_run is not None and app.live_run.latest is not None)
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        status = app.mode_screen("live").query_one("#status")
        before = status.render().plain
        await wait_until(pilot, lambda: status.render().plain != before, what="the status line to move on")
        await pilot.press("escape", "s")
        await wait_until(pilot, lambda: app.live_run.finished)


# -- found by the monkey -----------------------------------------------------------------------------

@run_async
async def test_palette_left_open_then_another_mode_and_the_palette_again():
    app = RelulabApp(prewarm=False)
    async with app.run_test(size=NARROW) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause(0.1)
        await pilot.press("f4", "ctrl+p")  # DuplicateIds('--command-palette') before
        await pilot.pause(0.1)
        await pilot.press("escape", "f2", "ctrl+p", "escape")
        assert app.is_running and isinstance(app.screen, SetupScreen)
