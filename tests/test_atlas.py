"""core/atlas.py: the components of H(c), points drawn inside them, and the known answers of the toy."""

from pathlib import Path

import numpy as np
import pytest

from core.atlas import (
    atlas, class_of, class_signs, component_classes, draw_on_quadrics, points_signs, split_neurons,
)
from core.config import config_from_dict, load_config, replace
from core.errors import UserError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
X = np.linspace(-1.0, 1.0, 64)  # the abs dataset: 64 evenly spaced points, y = |x|


@pytest.fixture(scope="module")
def toy():
    return atlas(load_config(EXAMPLES / "abs_obstructed.toml"), restarts=16, device="cpu")


def by_name(result, name):
    return next(r for r in result.components if r.name == name)


def test_toy_components_are_the_three_sign_counts(toy):
    assert [r.name for r in toy.components] == ["2+0-", "1+1-", "0+2-"]
    assert toy.split.components == 4 and toy.split.effective == 3
    assert np.allclose(toy.c, [0.36 - 1.0, 0.36 - 1.0])


def test_toy_positive_component_fits_abs_exactly(toy):
    assert by_name(toy, "2+0-").floor < 1e-6


def test_toy_mixed_component_floor_is_the_best_constant_fit(toy):
    # One neuron can only add a negative function; the positive one, affine on the data, fits
    # |x| at best by its mean: the floor is the variance of |x| over the samples.
    assert by_name(toy, "1+1-").floor == pytest.approx(np.var(np.abs(X)), rel=1e-6)


def test_toy_negative_component_floor_is_the_zero_function(toy):
    # f <= 0 everywhere (no output bias): the best is f = 0, loss mean(y^2).
    assert by_name(toy, "0+2-").floor == pytest.approx(np.mean(X**2), rel=1e-9)


def test_toy_own_component_best_and_gap(toy):
    assert toy.components[toy.own].name == "1+1-"
    assert toy.components[toy.best].name == "2+0-"
    assert toy.gap == pytest.approx(by_name(toy, "1+1-").floor - by_name(toy, "2+0-").floor)
    assert toy.gap == pytest.approx(np.var(np.abs(X)), rel=1e-5)
    report = toy.to_dict()
    assert report["own"] == "1+1-" and report["best"] == "2+0-"
    assert [r["own"] for r in report["components"]] == [False, True, False]


def test_toy_reference_reaches_as_low_as_the_best_component(toy):
    # Both reach zero up to rounding; the rebalanced H(|c|) is connected (d_eff = 2).
    assert toy.reference.floor <= toy.components[toy.best].floor + 1e-9
    assert toy.reference.floor < 1e-6


def test_kept_members_end_in_their_component(toy):
    R = toy.restarts
    for j, component in enumerate(toy.components):
        part = slice(j * R, (j + 1) * R)
        kept = np.isfinite(component.losses)
        assert kept.sum() == component.kept > 0
        for start, end in zip(toy.start_signs[part][kept], toy.end_signs[part][kept]):
            assert class_of(start, toy.split).name == component.name
            assert np.array_equal(start, end)


def test_large_steps_hop_and_every_member_that_moved_is_counted():
    result = atlas(load_config(EXAMPLES / "abs_obstructed.toml"), restarts=16, device="cpu", lr=1.0, steps=300)
    moved = np.any(result.start_signs != result.end_signs, axis=1)
    assert moved.any()  # at lr 1 a step can carry v_k across 0: a hop the flow could never make
    assert np.all(result.hopped[moved])
    assert sum(r.hopped for r in result.components) == int(result.hopped[:-result.restarts].sum())
    for j, component in enumerate(result.components):
        part = slice(j * 16, (j + 1) * 16)
        assert np.all(np.isnan(component.losses[result.hopped[part]]))


def test_drawn_points_lie_on_their_quadrics_with_fixed_signs():
    rng = np.random.default_rng(1)
    c = np.array([-0.5, 0.3, -2.0, 0.0, 1e-3])
    signs = np.array([[1, 0, -1, 0, 0], [-1, 0, 1, 0, 0]] * 50, np.int8)
    W, V = draw_on_quadrics(rng, c, np.full(5, 0.7), signs, 3, 1)
    assert np.allclose(np.sum(W**2, axis=2) - np.sum(V**2, axis=1), c, atol=1e-12)
    assert np.all(np.sign(V[:, 0, [0, 2]]) == signs[:, [0, 2]])
    # d_eff = 1: a free neuron's piece is the sign of its one weight
    W, V = draw_on_quadrics(rng, np.array([0.4, -0.4]), np.ones(2), np.array([[-1, 1]] * 20, np.int8), 1, 1)
    assert np.all(W[:, 0, 0] < 0) and np.all(V[:, 0, 1] > 0)
    assert np.allclose(W[:, :, 0] ** 2 - V[:, 0, :] ** 2, [0.4, -0.4])


def test_class_signs_put_exactly_the_class_count_on_the_positive_piece():
    split = split_neurons(np.array([-1.0, -1.0, 2.0, -1.0]), 3, 1, "relu")
    assert split.pathological == [0, 1, 3] and split.free == []
    rng = np.random.default_rng(0)
    for cls in component_classes(split):
        signs = class_signs(rng, cls, split, 40)
        assert np.all(np.sum(signs[:, [0, 1, 3]] > 0, axis=1) == cls.positive)
        assert np.all(signs[:, 2] == 0)
        assert len({tuple(s) for s in signs}) == min(40, [1, 3, 3, 1][3 - cls.positive])  # every arrangement


@pytest.mark.parametrize("activation, d_eff, outputs, effective", [
    ("relu", 2, 1, 3 * 1),  # two split pathological neurons
    ("relu", 1, 1, 3 * 2),  # ... and with d_eff = 1 the free neuron splits by the sign of w
    ("abs", 1, 1, 3),  # abs: W -> -W keeps the function, the free neuron's pieces are equivalent
    ("linear", 1, 1, 1),  # linear: (W, v) -> (-W, -v) too: no split the function can see
    ("relu", 2, 3, 1),  # several outputs: c < 0 is connected
])
def test_effective_components_under_the_activation_symmetries(activation, d_eff, outputs, effective):
    split = split_neurons(np.array([-1.0, -0.5, 0.7]), d_eff, outputs, activation)
    assert split.effective == effective == len(component_classes(split))


def test_deciding_signs_read_v_for_pathological_and_w_for_free_neurons():
    split = split_neurons(np.array([-1.0, 1.0, 0.0]), 1, 1, "relu")
    W = np.array([[[3.0], [-2.0], [1.0]]])
    V = np.array([[[-1.0, 5.0, 1.0]]])
    assert points_signs(W, V, split).tolist() == [[-1, -1, 0]]


def test_one_component_when_no_neuron_is_split():
    config = replace(load_config(EXAMPLES / "abs_obstructed.toml"), "init", rebalance=True)
    result = atlas(config, restarts=4, steps=200, device="cpu")
    assert len(result.components) == 1 and result.split.effective == 1
    assert result.own == result.best == 0 and result.gap == 0.0


def test_tanh_is_refused_in_one_line():
    config = replace(load_config(EXAMPLES / "abs_obstructed.toml"), "model", activation="tanh")
    with pytest.raises(UserError, match="not conserved") as e:
        atlas(config, restarts=2, steps=2, device="cpu")
    assert "\n" not in str(e.value) and "tanh" in str(e.value)


def test_too_many_components_names_the_count_and_the_option():
    config = config_from_dict({"model": {"hidden": 40}, "init": {"pathological": 40},
                               "data": {"name": "abs"}, "train": {"steps": 2}})
    with pytest.raises(UserError, match=r"41 effective components.*--max-components") as e:
        atlas(config, restarts=2, device="cpu")
    assert "\n" not in str(e.value)
    assert len(atlas(config, restarts=1, max_components=41, device="cpu").components) == 41


def test_restarts_must_be_positive():
    with pytest.raises(UserError, match="--restarts 0"):
        atlas(load_config(EXAMPLES / "abs_obstructed.toml"), restarts=0, device="cpu")


def test_stop_before_training_reports_interrupted():
    import threading

    stop = threading.Event()
    stop.set()
    result = atlas(load_config(EXAMPLES / "abs_obstructed.toml"), restarts=2, device="cpu", stop=stop)
    assert result.status == "interrupted" and result.steps == 0


def test_a_diverging_member_is_counted_and_left_out():
    config = replace(load_config(EXAMPLES / "abs_obstructed.toml"), "model", output_bias=True)
    result = atlas(config, restarts=4, steps=50, lr=1000.0, device="cpu")
    assert result.status == "diverged"
    assert sum(r.diverged for r in result.components) > 0
    assert all(np.isnan(r.losses).sum() == r.hopped + r.diverged for r in result.components)


def test_numbers_depend_on_the_seed_only():
    config = load_config(EXAMPLES / "abs_obstructed.toml")
    a = atlas(config, restarts=3, steps=100, seed=5, device="cpu")
    b = atlas(config, restarts=3, steps=100, seed=5, device="cpu")
    assert np.array_equal(a.start_signs, b.start_signs)
    assert all(np.array_equal(x.losses, y.losses, equal_nan=True) for x, y in zip(a.components, b.components))


def test_best_members_end_on_the_quadrics_they_started_on(toy):
    # Projected GD in float64 keeps every c_k; the stored best member is a point of H(c).
    from core.invariants import conserved

    for component in toy.components:
        assert np.allclose(conserved(component.best), toy.c, rtol=1e-10, atol=1e-12)
    assert np.allclose(conserved(toy.reference.best), np.abs(toy.c), rtol=1e-10, atol=1e-12)
