"""The console's parts without a terminal: form values, series buffer, plot helpers, live run, replay, CLI."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.config import Config, ConfigError, load_config, replace
from core.snapshot import Snapshot
from lab.cli.console import read_config_file, wants_console
from lab.form_values import check_text, format_value, parse_text
from lab.live_run import LiveRun
from lab.messages import RunProgress
from lab.series import MAX_TRACKED, SeriesBuffer, pick_tracked

ROOT = Path(__file__).resolve().parents[1]


def snapshot(step: int, c, test_loss=None) -> Snapshot:
    c = np.asarray(c, float)
    v = np.where(c < 0, -1.0, 1.0) * (1 + np.abs(c))
    return Snapshot(step, 1.0 / (step + 1), test_loss, None, None, c, np.sqrt(v**2 + c), v,
                    np.sign(v).astype(np.int8), "", 0.0, step * 1e-4)


# -- form values ------------------------------------------------------------------------------


@pytest.mark.parametrize("section,name,text,value", [
    ("train", "lr", "1e-3", 0.001), ("train", "steps", "1_000", 1000), ("model", "bias", "false", False),
    ("init", "signs", '"+-"', "+-"), ("init", "signs", "+-", "+-"), ("model", "inputs", "", None),
    ("init", "hidden_weight", "[[0.6], [-0.6]]", [[0.6], [-0.6]]),
])
def test_text_is_read_as_the_schema_expects(section, name, text, value):
    assert parse_text(section, name, text) == value
    assert check_text(section, name, text) == value


def test_bad_text_gets_the_cli_message():
    with pytest.raises(ConfigError, match=r'^form: \[train\] steps = "ten": must be an integer >= 1$'):
        check_text("train", "steps", "ten")
    with pytest.raises(ConfigError, match=r"^form: \[train\] device = \"gpu\": must be auto, cpu, cuda or cuda:N$"):
        check_text("train", "device", "gpu")


def test_values_round_trip_through_text():
    for value in (0.05, 3, True, None, [[1.0, -1.0]], "abs"):
        assert parse_text("init", "output_weight", format_value(value)) == value or not isinstance(value, list)
    assert format_value([[1.0, -1.0]]) == "[[1.0, -1.0]]"


# -- series buffer ----------------------------------------------------------------------------


def test_series_buffer_stays_bounded_and_shows_the_newest_point():
    buffer = SeriesBuffer(max_points=64)
    for i in range(10_000):
        buffer.append(snapshot(i * 10, [-0.5, 0.2]))
    view = buffer.view()
    assert len(view) <= 65 and view.step[0] == 0 and view.step[-1] == 99_990
    assert np.all(np.diff(view.step) > 0)
    assert view.c.shape == (len(view), 2) and view.band is None and view.test_loss is None


def test_wide_layers_track_the_neurons_nearest_zero_and_a_band():
    c = np.linspace(-1, 1, 101)
    assert list(pick_tracked(c)) == sorted(np.argsort(np.abs(c))[:MAX_TRACKED])
    buffer = SeriesBuffer()
    buffer.append(snapshot(0, c, test_loss=0.5))
    view = buffer.view()
    assert view.hidden == 101 and len(view.neurons) == MAX_TRACKED
    assert view.band.tolist() == [[-1.0, 1.0]] and view.test_loss.tolist() == [0.5]


def test_series_buffer_is_safe_to_read_while_written():
    buffer = SeriesBuffer(max_points=32)
    done = threading.Event()

    def write():
        for i in range(20_000):
            buffer.append(snapshot(i, [0.1, -0.1, 0.3]))
        done.set()

    threading.Thread(target=write).start()
    while not done.is_set():
        view = buffer.view()
        if view is not None:
            assert len(view.step) == len(view.loss) == len(view.c)
    assert buffer.view().step[-1] == 19_999


# -- plot helpers -----------------------------------------------------------------------------


def test_thin_keeps_the_ends_and_at_most_the_limit():
    from lab.widgets.run_plot import thin

    assert list(thin(5, 10)) == [0, 1, 2, 3, 4]
    kept = thin(10_000, 48)
    assert kept[0] == 0 and kept[-1] == 9_999 and len(kept) <= 48


def test_quadric_curves_have_two_sheets_only_when_pathological():
    from lab.widgets.quadric_plot import quadric_curves

    sheets = quadric_curves(-0.64, 1.0, 24)
    assert len(sheets) == 2
    (x, upper), (_, lower) = sheets
    assert np.all(upper > 0) and np.all(lower < 0)
    assert np.allclose(upper**2, x**2 + 0.64)
    (x, v), = quadric_curves(0.25, 1.0, 24)
    assert v.min() < 0 < v.max() and np.isclose(np.abs(v).min(), 0.0)
    assert np.allclose(v**2, x**2 - 0.25) and x.min() >= 0.5 - 1e-12
    assert quadric_curves(4.0, 1.0, 24) == []


def test_frame_key_changes_only_with_the_data():
    from lab.frame import RunFrame
    from lab.series import SeriesBuffer
    from lab.widgets.run_plot import frame_key

    buffer = SeriesBuffer()
    for step in range(3):
        buffer.append(snapshot(step, [0.5, -0.2]))

    def frame(view, snap_step):
        c = view.c[-1]
        return RunFrame(view, snap_step, 10, 0.1, None, c, np.abs(c), c, None, None, 0.0, 0)

    one = frame(buffer.view(), 2)
    assert frame_key(one) == frame_key(frame(buffer.view(), 2))
    buffer.append(snapshot(3, [0.5, -0.2]))
    assert frame_key(frame(buffer.view(), 3)) != frame_key(one)
    assert frame_key(None) is None


# -- live run ---------------------------------------------------------------------------------


def test_live_run_reports_at_most_refresh_hz_and_records_the_session(tmp_path):
    from sessions import open_store

    config = replace(load_config(ROOT / "examples/abs_obstructed.toml"), "train", steps=6000, log_every=1)
    store = open_store(tmp_path / "store")
    run = LiveRun(config, store=store, refresh_hz=5, threads=1)
    reports = []
    started = time.perf_counter()
    run.execute(lambda: reports.append(time.perf_counter()), lambda text: None)
    seconds = time.perf_counter() - started
    assert run.state == "completed" and run.latest.step == 6000
    assert len(reports) <= seconds * 5 + 3  # never one per snapshot (6001 of them)
    assert run.initial.pathological == 2 and run.final.components == 4
    [info] = store.list()
    assert info.id == run.session_id and info.status == "completed" and info.snapshots == 6001


def test_live_run_failures_are_one_line_errors(tmp_path):
    config = replace(Config(), "data", path=str(tmp_path / "missing.csv"))
    run = LiveRun(config)
    run.execute(lambda: None, lambda text: None)
    assert run.state == "failed" and "missing.csv" in run.error and "\n" not in run.error


def test_stopping_before_training_ends_it_as_interrupted():
    run = LiveRun(replace(Config(), "train", steps=10_000_000))
    run.stop()
    run.execute(lambda: None, lambda text: None)
    assert run.state == "interrupted" and run.latest.step == 0


def test_an_unwritable_store_is_reported_and_training_goes_on(tmp_path):
    class BrokenStore:
        def create_session(self, *args, **kwargs):
            from sessions import StoreError

            raise StoreError("store: disk full")

    notes = []
    run = LiveRun(replace(Config(), "train", steps=100), store=BrokenStore())
    run.execute(lambda: None, notes.append)
    assert run.state == "completed" and run.session_id is None
    assert notes == ["this run is not recorded: store: disk full"]


def test_progress_messages_coalesce_per_run():
    a, b = LiveRun(Config()), LiveRun(Config())
    assert RunProgress(a).can_replace(RunProgress(a))
    assert not RunProgress(a).can_replace(RunProgress(b))


# -- replay -----------------------------------------------------------------------------------


def test_replay_model_walks_a_recorded_session(tmp_path):
    from lab.replay_model import ReplayModel
    from sessions import open_store

    store = open_store(tmp_path / "store")
    config = replace(load_config(ROOT / "examples/abs_obstructed.toml"), "train", steps=500)
    run = LiveRun(config, store=store)
    run.execute(lambda: None, lambda text: None)
    model = ReplayModel(store.load(run.session_id))
    assert len(model) == 51 and model.step == 0
    frame = model.frame()
    assert frame.classification.pathological == 2 and frame.classification.components == 4
    model.seek(10**9)
    assert model.at_end and model.step == 500
    assert not model.next_hop()  # gradient flow with a small step: no hops
    model.seek_step(255)
    assert model.step == 250
    speed = model.speed
    assert model.faster(1) > speed and model.faster(-2) < speed
    assert model.frame().series.step[-1] == 250


# -- command line -----------------------------------------------------------------------------


@pytest.mark.parametrize("argv,console", [
    ([], True), (["x.toml"], True), (["--store", "d"], True), (["--store=d", "x.toml"], True),
    (["x.toml", "--refresh", "2"], True), (["run", "x.toml"], False), (["--help"], False),
    (["sessions", "list"], False), (["replay", "abc"], False),
])
def test_which_arguments_open_the_console(argv, console):
    assert wants_console(argv) is console


def test_replay_of_an_unknown_session_is_a_one_line_error(capsys):
    from lab.cli.main import main

    assert main(["replay", "ffffffff"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("relulab: no session 'ffffffff'") and "Traceback" not in err


def test_config_files_the_console_cannot_open_fail_on_the_command_line(tmp_path, capsys):
    from lab.cli.main import main

    assert main([str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_config_file(bad)
    config, raw = read_config_file(ROOT / "examples/abs_obstructed.toml")
    assert raw is None and config.init.output_weight == [[1.0, -1.0]]


def test_replay_jumps_to_the_next_hop(tmp_path):
    """Adam with a large step moves a pathological neuron across v = 0: a hop the replay finds."""
    from lab.replay_model import ReplayModel
    from sessions import open_store

    store = open_store(tmp_path / "store")
    config = replace(replace(replace(Config(), "model", hidden=4), "init", pathological=2, seed=0),
                     "train", optimizer="adam", lr=3.0, steps=300, log_every=1)
    run = LiveRun(config, store=store)
    run.execute(lambda: None, lambda text: None)
    assert run.hop_count >= 1 and sum(run.hops_per_neuron.values()) == run.hop_count
    model = ReplayModel(store.load(run.session_id))
    assert len(model.hops) == run.hop_count
    assert model.next_hop()
    assert model.step == model.hops[0].step
    frame = model.frame()
    assert frame.hops == 1 and frame.hops_per_neuron == {model.hops[0].neuron: 1}


@pytest.mark.parametrize("model, init", [
    ({"bias": False, "hidden": 4}, {"pathological": 1}),  # d_eff = 1: free neurons are split by w_k's sign
    ({"activation": "linear", "hidden": 3}, {"pathological": 2}),  # one effective component
])
def test_the_console_classifies_a_run_as_relulab_run_does(tmp_path, model, init):
    from lab.frame import live_frame
    from lab.replay_model import ReplayModel
    from sessions import open_store

    store = open_store(tmp_path / "store")
    config = Config()
    for section, values in (("model", model), ("init", init), ("train", {"steps": 200, "lr": 0.05})):
        config = replace(config, section, **values)
    run = LiveRun(config, store=store)
    run.execute(lambda: None, lambda text: None)
    recorded = store.load(run.session_id)
    expected = recorded.final  # what the trainer classified, with w_k and the activation
    replay = ReplayModel(recorded)
    replay.seek(10**9)
    for shown in (live_frame(run).classification, replay.frame().classification):
        assert "?" not in shown.signs
        assert (shown.signs, shown.effective_components, shown.components) == \
               (expected.signs, expected.effective_components, expected.components)
