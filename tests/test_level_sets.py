"""The level-sets experiment at a tiny size, its verdict logic, and its command line."""

import json

import numpy as np
import pytest

from core.experiments.level_sets import LEVELS, LevelSetsResult, level_sets, network_config, target_dataset
from lab.cli.main import main
from sessions import open_store


@pytest.fixture(scope="module")
def tiny():
    return level_sets(widths=(4, 8), seeds=range(4), steps=1500, lr=0.1, device="cpu")


def test_targets_are_the_quadratic_and_the_cubic():
    for name, power in (("quadratic", 2), ("cubic", 3)):
        data = target_dataset(name)
        np.testing.assert_array_equal(data.y_train, data.x_train**power)
        assert data.x_train.min() == -1.0 and data.x_train.max() == 1.0


def test_layout_and_what_is_asked(tiny):
    T, W, P, V = 2, 2, 2, len(tiny.levels)
    assert tiny.normalized_length.shape == (T, W, P, V) and tiny.final_loss.shape == (T, W, P, 2)
    for t in range(T):
        assert tiny.variance[t] == pytest.approx(np.var(target_dataset(tiny.targets[t]).y_train))
        for w in range(W):
            for p in range(P):
                for v, fraction in enumerate(tiny.levels):
                    asked = fraction * tiny.variance[t] > tiny.final_loss[t, w, p].max()
                    assert np.isfinite(tiny.connected[t, w, p, v]) == asked
    seen = tiny.connected[np.isfinite(tiny.connected)]
    assert set(seen.tolist()) <= {0.0, 1.0} and seen.size > 0


def test_a_path_is_never_shorter_than_the_chord(tiny):
    found = tiny.normalized_length[np.isfinite(tiny.normalized_length)]
    assert found.size > 0
    assert np.all(found >= 1.0 - 1e-12)  # the triangle inequality


def test_pairs_are_independent_networks(tiny):
    config = network_config(4, 10, 0.1, "cpu")
    assert config.model.hidden == 4 and config.model.inputs == 1 and config.train.loss == "mse"
    assert not np.array_equal(tiny.final_loss[..., 0], tiny.final_loss[..., 1])


def synthetic(lengths: np.ndarray) -> LevelSetsResult:
    T, W, P, V = lengths.shape
    nan = np.full(lengths.shape, np.nan)
    return LevelSetsResult(
        targets=["quadratic", "cubic"][:T], widths=np.array([4, 16][:W]), seeds=np.arange(2 * P),
        levels=np.array([0.1, 0.01, 0.001][:V]), variance=np.ones(T), final_loss=np.zeros((T, W, P, 2)),
        normalized_length=lengths, beads=nan, connected=np.isfinite(lengths).astype(float), barrier=nan,
        config=network_config(4, 10, 0.1, "cpu"), steps=10, lr=0.1, device="cpu", seconds=0.0)


def test_findings_say_what_the_numbers_say():
    # Narrow: 1.0 -> 1.3; wide: 1.0 -> 1.1 (straighter at every level).
    grows = synthetic(np.array([[[[1.0, 1.1, 1.3]], [[1.0, 1.02, 1.1]]]]))
    f = grows.findings()["quadratic"]
    assert f["length_grows_as_level_drops"] == [2, 2]
    assert f["wider_straighter"] == [3, 3]
    # The opposite: lengths fall as the level drops and the wide net is more curved where both ran.
    falls = synthetic(np.array([[[[1.3, 1.1, np.nan]], [[1.5, 1.4, 1.2]]]]))
    f = falls.findings()["quadratic"]
    assert f["length_grows_as_level_drops"] == [0, 2]
    assert f["wider_straighter"] == [0, 2]
    assert "in 0 of 2 comparisons" in f["verdict"]


def test_cli_level_sets_json_and_store(capsys):
    code = main(["experiment", "level-sets", "--widths", "4", "--seeds", "2", "--steps", "800", "--device", "cpu",
                 "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["experiment"] == "level-sets"
    assert {c["target"] for c in report["cells"]} == {"quadratic", "cubic"}
    assert "verdict" in report["summary"]["quadratic"]
    session = open_store().load(report["session"])
    assert session.array("normalized_length").shape == (2, 1, 1, len(LEVELS))


def test_figure_file_of_level_sets(tiny, tmp_path):
    pytest.importorskip("matplotlib")
    from lab.views.figures import experiment_figures

    files = experiment_figures(tiny, tmp_path, ".svg")
    assert [f.name for f in files] == ["level_sets_length.svg"]
    assert files[0].stat().st_size > 1000
