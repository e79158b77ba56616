"""Comparing runs: `sessions compare`, `sessions plot`, and TensorBoard's smoothing."""

from __future__ import annotations

import json
import math
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from core.compare import MISSING, differences, smooth
from lab.cli.main import main

CONFIG = """
[model]
hidden = 3
[init]
seed = {seed}
[data]
name = "abs"
samples = 16
[train]
lr = {lr}
steps = 30
log_every = 5
"""


def tensorboard_smoothing(values: list[float], weight: float) -> list[float]:
    """TensorBoard's scalar chart smoothing, written out from its definition."""
    out, last, n = [], 0.0, 0
    for x in values:
        if not math.isfinite(x):
            out.append(x)
            continue
        last = last * weight + (1 - weight) * x
        n += 1
        out.append(last / (1 - weight**n))
    return out


def test_smoothing_is_tensorboards_on_a_known_series():
    # By hand, weight 0.5: 1 -> 0.5/0.5 = 1; 2 -> 1.25/0.75; 3 -> 2.125/0.875.
    assert smooth([1.0, 2.0, 3.0], 0.5) == pytest.approx([1.0, 1.25 / 0.75, 2.125 / 0.875], rel=1e-15)
    series = [3.0, 1.0, float("nan"), 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    got = smooth(series, 0.6)
    want = tensorboard_smoothing(series, 0.6)
    assert math.isnan(got[2])
    assert np.allclose(np.delete(got, 2), np.delete(want, 2), rtol=1e-14)


def test_smoothing_keeps_the_first_point_and_constant_series():
    assert smooth([7.0, 0.0], 0.99)[0] == pytest.approx(7.0)  # bias correction: no pull towards zero
    assert list(smooth([2.0, 2.0, 2.0], 0.9)) == [2.0, 2.0, 2.0]
    assert list(smooth([1.0, 5.0], 0.0)) == [1.0, 5.0]
    with pytest.raises(ValueError):
        smooth([1.0], 1.0)


def test_differences_name_only_the_keys_that_differ():
    a = {"train": {"lr": 0.1, "steps": 10}, "init": {"seed": 0}}
    b = {"train": {"lr": 0.2, "steps": 10}, "init": {"seed": 0, "signs": "+-"}}
    assert differences([a, b]) == {"init.signs": [MISSING, "+-"], "train.lr": [0.1, 0.2]}
    assert differences([a, a]) == {}
    assert differences([{"x": 1}, {"x": 1.0}]) == {}  # TOML's 1 and 1.0 are the same setting


def record(tmp_path: Path, capsys, name: str, seed: int, lr: float) -> str:
    path = tmp_path / f"config{len(list(tmp_path.glob('*.toml')))}.toml"
    path.write_text(CONFIG.format(seed=seed, lr=lr))
    assert main(["run", str(path), "--json", "--name", name]) == 0
    return json.loads(capsys.readouterr().out)["session"]


@pytest.fixture
def two_runs(tmp_path, capsys) -> tuple[str, str]:
    return record(tmp_path, capsys, "slow", 0, 0.01), record(tmp_path, capsys, "fast", 3, 0.1)


def test_compare_json_names_exactly_the_keys_that_differ(two_runs, capsys):
    a, b = two_runs
    assert main(["sessions", "compare", a, "fast", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in data["sessions"]] == [a, b]
    assert data["differences"] == {"init.seed": [0, 3], "train.lr": [0.01, 0.1]}
    for sid in (a, b):
        assert data["final"][sid]["step"] == 30
        assert data["final"][sid]["loss"] > 0
        cls = data["classification"][sid]
        assert cls["components"] == 2 ** cls["pathological"]
        assert cls["hops"] >= 0


def test_compare_table_shows_the_differing_keys_and_user_names_as_text(tmp_path, capsys):
    a = record(tmp_path, capsys, "[bold]x[/] run", 0, 0.01)
    b = record(tmp_path, capsys, "other", 0, 0.02)
    assert main(["sessions", "compare", a, b]) == 0
    out = capsys.readouterr().out
    assert "train.lr" in out and "init.seed" not in out
    assert "[bold]x[/] run" in out


def test_compare_refuses_one_session_or_the_same_twice(two_runs, capsys):
    a, _ = two_runs
    assert main(["sessions", "compare", a]) == 2
    assert "at least 2" in capsys.readouterr().err
    assert main(["sessions", "compare", a, a]) == 2
    err = capsys.readouterr().err
    assert "twice" in err and len(err.strip().splitlines()) == 1


def test_plot_writes_a_png_that_decodes_and_an_svg_that_parses(two_runs, tmp_path, capsys):
    import matplotlib.image

    a, b = two_runs
    png = tmp_path / "loss.png"
    assert main(["sessions", "plot", a, b, "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(png)
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 300
    for metric in ("c", "quadric"):
        svg = tmp_path / f"{metric}.svg"
        assert main(["sessions", "plot", a, b, "--metric", metric, "-o", str(svg)]) == 0
        root = ET.parse(svg).getroot()
        assert root.tag.endswith("svg")


def test_plot_errors_are_one_line(two_runs, tmp_path, capsys, monkeypatch):
    a, _ = two_runs
    assert main(["sessions", "plot", a, "-o", str(tmp_path / "x.gif")]) == 2
    assert ".png" in capsys.readouterr().err
    assert main(["sessions", "plot", a, "-o", str(tmp_path / "missing" / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["sessions", "plot", a, "--metric", "accuracy", "-o", str(tmp_path / "a.png")]) == 2
    assert "none of these sessions recorded it" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the extra were not installed
    assert main(["sessions", "plot", a, "-o", str(tmp_path / "y.png")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'relulab[plots]'" in err and len(err.strip().splitlines()) == 1


def test_experiment_figures_are_written_and_decode(tmp_path, capsys):
    import matplotlib.image

    out = tmp_path / "figs"
    assert main(["experiment", "toy", "--quick", "--no-save", "--json", "--figures", str(out)]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert sorted(Path(f).name for f in files) == ["toy_loss.png", "toy_quadric.png"]
    for f in files:
        assert matplotlib.image.imread(f).shape[0] > 100
    assert main(["experiment", "breast-cancer", "--widths", "2,3", "--seeds", "2", "--steps", "20", "--no-save",
                 "--json", "--figures", str(out), "--figure-format", "svg"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert sorted(Path(f).name for f in files) == ["breast_cancer_by_l_plus.svg", "breast_cancer_heatmap.svg"]
    for f in files:
        assert ET.parse(f).getroot().tag.endswith("svg")
    assert main(["experiment", "small-init", "--quick", "--no-save", "--json", "--figures", str(out)]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert sorted(Path(f).name for f in files) == ["small_init_alignment.png", "small_init_saddles.png"]
    for f in files:
        assert matplotlib.image.imread(f).shape[0] > 100


def test_experiment_figures_refuse_a_bad_directory_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["experiment", "toy", "--no-save", "--figures", str(blocker / "figs")]) == 2
    err = capsys.readouterr().err
    assert "--figures" in err and len(err.strip().splitlines()) == 1


def test_compare_escapes_control_characters_in_names(tmp_path, capsys):
    import os
    import sqlite3

    a = record(tmp_path, capsys, "evil", 0, 0.01)
    b = record(tmp_path, capsys, "plain", 0, 0.02)
    # As a colleague's hostile file could hold it (the CLI refuses such a name itself).
    with sqlite3.connect(Path(os.environ["RELULAB_STORE"]) / "sessions.db") as db:
        db.execute("UPDATE sessions SET name = ? WHERE id = ?", ("evil \x1b[31mred", a))
    assert main(["sessions", "compare", a, b]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[31mred" in out
