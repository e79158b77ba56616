"""Level-set connectivity (core/connect.py): known answers from the mathematics."""

import math
import threading

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from core.config import config_from_dict, replace
from core.connect import (
    GAP, ConnectSettings, Interrupted, Landscape, NetworkLandscape, align, connect, connect_points, descend,
    permute,
)
from core.data import Dataset, load_dataset
from core.init import initial_params
from core.errors import UserError
from core.invariants import conserved, rebalance_factors
from core.snapshot import Params
from core.train import sweep, unstack


class Quadratic(Landscape):
    """L(x) = x^T H x / 2 with H positive definite: every sublevel set is convex."""

    def __init__(self, H):
        self.H = torch.as_tensor(H, dtype=torch.float64)

    def loss_and_grad(self, x):
        return 0.5 * ((x @ self.H) * x).sum(1), x @ self.H


def test_convex_quadratic_straight_segment_zero_beads_length_exactly_one():
    a = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    b = torch.tensor([-1.5, 1.0, 2.0], dtype=torch.float64)
    H = [[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]]
    result = connect_points(Quadratic(H), a, b, ConnectSettings(level_factor=1.01))
    assert result.connected
    assert result.beads == 0
    assert result.normalized_length == 1.0
    assert result.path_length == pytest.approx(float((b - a).norm()), rel=1e-15)
    # On a convex sublevel set the maximum on the segment is at an end: no barrier.
    assert result.barrier <= 1e-12


# -- the product model f(x) = a b x: minima on the hyperbola a b = 1 ------------------------------

PRODUCT = config_from_dict({
    "model": {"inputs": 1, "hidden": 1, "bias": False, "activation": "linear"},
    "train": {"loss": "mse", "lr": 0.05},
})
LINE = np.linspace(-1.0, 1.0, 21)[:, None]


def product_point(a: float, b: float) -> Params:
    return Params(np.array([[a]]), None, np.array([[b]]))


def hyperbola_ratio() -> float:
    """Arc length of b = 1/a from a = 1/4 to 4 over the chord between its ends."""
    arc, _ = quad(lambda a: math.sqrt(1 + a**-4), 0.25, 4.0)
    return arc / (3.75 * math.sqrt(2))


def test_hyperbola_ratio_is_the_issues_number():
    assert hyperbola_ratio() == pytest.approx(1.18801, abs=1e-5)


def test_product_model_normalised_length_grows_to_the_hyperbola_arc():
    data = Dataset("line", LINE, LINE.copy(), None, None)
    lengths = []
    for level in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5):
        result = connect(PRODUCT, data, product_point(0.25, 4.0), product_point(4.0, 0.25),
                         ConnectSettings(level=level, max_beads=300, align=False))
        assert result.connected, result.reason
        assert result.profile_loss.max() < level  # the accepted chain, on its fine grid
        lengths.append(result.normalized_length)
    assert all(x < y for x, y in zip(lengths, lengths[1:])), lengths
    assert lengths[0] > 1.0
    assert abs(lengths[-1] - hyperbola_ratio()) < 0.01


def test_product_model_with_no_bead_budget_is_not_found_and_says_why():
    data = Dataset("line", LINE, LINE.copy(), None, None)
    result = connect(PRODUCT, data, product_point(0.25, 4.0), product_point(4.0, 0.25),
                     ConnectSettings(level=1e-3, max_beads=0, align=False))
    assert not result.connected
    assert "budget" in result.reason
    assert result.max_loss >= 1e-3  # the best chain's maximum: the straight segment's
    assert result.barrier == pytest.approx(result.max_loss - max(result.loss_a, result.loss_b))


def test_descent_leaves_a_saddle():
    """The origin of the product model is a critical point above any level below L(0): a bead
    that starts there must be perturbed to descend."""
    data = Dataset("line", LINE, LINE.copy(), None, None)
    landscape = NetworkLandscape(PRODUCT, data, product_point(1.0, 1.0))
    start = torch.zeros(1, 2, dtype=torch.float64)
    _, grad = landscape.loss_and_grad(start)
    assert float(grad.abs().max()) == 0.0
    moved, loss, _ = descend(landscape, start, 1e-4, ConnectSettings(steps=5000, lr=0.1), torch.Generator().manual_seed(0))
    assert float(loss[0]) < 1e-4
    assert float(moved[0, 0] * moved[0, 1]) == pytest.approx(1.0, abs=0.05)


def test_a_stop_event_interrupts_a_long_descent():
    data = Dataset("line", LINE, LINE.copy(), None, None)
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    with pytest.raises(Interrupted):
        connect(PRODUCT, data, product_point(0.25, 4.0), product_point(4.0, 0.25),
                ConnectSettings(level=1e-12, lr=1e-7, steps=10**9, max_beads=1, align=False), stop=stop)
    timer.join()


def test_level_below_an_end_point_is_a_user_error():
    data = Dataset("line", LINE, LINE.copy(), None, None)
    with pytest.raises(UserError, match="above both end points"):
        connect(PRODUCT, data, product_point(0.5, 0.5), product_point(4.0, 0.25), ConnectSettings(level=1e-3))


def test_batched_and_one_at_a_time_descents_find_the_same_chain():
    data = Dataset("line", LINE, LINE.copy(), None, None)
    a, b = product_point(0.25, 4.0), product_point(4.0, 0.25)
    together = connect(PRODUCT, data, a, b, ConnectSettings(level=1e-3, max_beads=100, align=False))
    alone = connect(PRODUCT, data, a, b, ConnectSettings(level=1e-3, max_beads=100, align=False, batched=False))
    assert together.beads == alone.beads
    np.testing.assert_allclose(together.bead_points, alone.bead_points, rtol=1e-10, atol=1e-12)


# -- the toy |x| network ----------------------------------------------------------------------

TOY = config_from_dict({
    "model": {"hidden": 2, "bias": True, "activation": "relu"},
    "data": {"name": "abs", "samples": 64},
    "train": {"loss": "mse", "optimizer": "gd", "dtype": "float64", "lr": 0.05, "steps": 3000},
})


def toy_point(w, b, v) -> Params:
    return Params(np.array(w, float)[:, None], np.array(b, float), np.array([v], float))


def test_abs_solution_and_its_neuron_swapped_copy_are_identical_after_alignment():
    data = load_dataset(TOY)
    solution = toy_point([1.0, -1.0], [0.0, 0.0], [1.0, 1.0])  # relu(x) + relu(-x) = |x|
    swapped = permute(solution, [1, 0])
    for space in ("full", "invariant"):
        result = connect(TOY, data, solution, swapped, ConnectSettings(space=space, level=1e-3))
        assert result.permutation == [1, 0]
        assert result.distance == 0.0
        assert result.unaligned_distance == pytest.approx(2 * math.sqrt(2))
        assert result.connected and result.beads == 0 and result.path_length == 0.0
        assert result.loss_a == pytest.approx(0.0, abs=1e-30)


def test_without_alignment_the_swapped_copy_is_far_and_the_path_climbs():
    data = load_dataset(TOY)
    solution = toy_point([1.0, -1.0], [0.0, 0.0], [1.0, 1.0])
    result = connect(TOY, data, solution, permute(solution, [1, 0]), ConnectSettings(align=False, level=0.01))
    assert result.permutation == [0, 1]
    assert result.distance == pytest.approx(2 * math.sqrt(2))
    # The midpoint of the straight segment is the zero network: loss mean(x^2) ~ 1/3.
    assert result.connected or "budget" in result.reason
    if result.connected:
        assert result.beads >= 1 and result.normalized_length > 1.0


def points_on_H(rng, c, signs):
    """A random toy network (1 input + bias, two neurons) with c_k = c and sign(v_k) = signs."""
    W = rng.standard_normal((2, 2))
    v = np.array(signs, float) * rng.uniform(0.5, 2.0, 2)
    a = rebalance_factors((W**2).sum(1), v**2, np.asarray(c, float))
    W, v = W * a[:, None], v / a
    return Params(W[:, :1], W[:, 1], v[None, :])


def test_inside_H_c_plus_minus_to_plus_plus_always_crosses_a_gap():
    data = load_dataset(TOY)
    # The prescribed toy points: c = -0.64 for both neurons.
    a = toy_point([0.6, -0.6], [0.0, 0.0], [1.0, -1.0])
    b = toy_point([0.6, -0.6], [0.0, 0.0], [1.0, 1.0])
    result = connect(TOY, data, a, b, ConnectSettings(space="invariant"))
    assert not result.connected
    assert result.reason.startswith(GAP)
    assert [g.neuron for g in result.gaps] == [1] and result.gaps[0].coordinate == "v_k"
    rng = np.random.default_rng(0)
    for _ in range(20):
        c = -rng.uniform(0.1, 2.0, 2)
        a, b = points_on_H(rng, c, (1, -1)), points_on_H(rng, c, (1, 1))
        for align_b in (True, False):
            result = connect(TOY, data, a, b, ConnectSettings(space="invariant", align=align_b, level_factor=50))
            assert not result.connected and result.reason.startswith(GAP)
            assert len(result.gaps) >= 1
            for gap in result.gaps:
                assert np.sign(gap.at_a) != np.sign(gap.at_b)
    # In the full space the same pair is often joined; the gap is a property of H(c) only.


def test_inside_H_c_different_c_is_refused():
    data = load_dataset(TOY)
    a = toy_point([0.6, -0.6], [0.0, 0.0], [1.0, 1.0])
    b = toy_point([0.7, -0.6], [0.0, 0.0], [1.0, 1.0])
    with pytest.raises(UserError, match="do not share c"):
        connect(TOY, data, a, b, ConnectSettings(space="invariant"))


def test_inside_H_c_one_component_the_chain_stays_on_H_c():
    """Two trained |x| fits of width 4, B rescaled onto A's H(c) (the same function): string
    sampling inside H(c) keeps every point of the chain on it and every bead in A's component."""
    config = replace(TOY, "model", hidden=4)
    data = load_dataset(config)
    result = sweep(config, params=[initial_params(config, 1, seed=s) for s in (0, 4)])
    a, b = (unstack(result.final_weights, i, True) for i in range(2))
    c = conserved(a)
    b = permute(b, align(a, b))
    pathological = c < 0
    assert np.all(np.sign(b.output_weight[0][pathological]) == np.sign(a.output_weight[0][pathological]))
    scale = rebalance_factors((b.incoming**2).sum(1), (b.output_weight**2).sum(0), c)
    b = Params(b.hidden_weight * scale[:, None], b.hidden_bias * scale, b.output_weight / scale[None, :])
    result = connect(config, data, a, b, ConnectSettings(space="invariant", level_factor=1.5, max_beads=40))
    assert result.connected, result.reason
    assert result.beads >= 1 and result.normalized_length > 1.0
    assert result.profile_loss.max() < result.level
    np.testing.assert_allclose(result.profile_c, np.broadcast_to(c, result.profile_c.shape), rtol=1e-9, atol=1e-12)
    for bead in result.bead_points:
        v = bead[8:12]  # W (4 x 2) first, then v (1 x 4)
        assert np.all(np.sign(v[pathological]) == np.sign(a.output_weight[0][pathological]))
