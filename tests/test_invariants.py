"""Invariants and topology against docs/science.md."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from core.invariants import classify, classify_params, count_components, pieces, rebalance_factors
from core.model import Weights, backward, design, forward, loss_and_grad
from core.snapshot import Params

HOMOGENEOUS = ["relu", "leaky_relu", "abs", "linear"]


def random_weights(rng, N, l, d_eff, e):
    return Weights(
        torch.tensor(rng.standard_normal((N, l, d_eff)), dtype=torch.float64),
        torch.tensor(rng.standard_normal((N, e, l)), dtype=torch.float64),
        None,
    )


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), activation=st.sampled_from(HOMOGENEOUS), n=st.integers(1, 40),
       d=st.integers(1, 5), l=st.integers(1, 6), e=st.integers(1, 3), bias=st.booleans(),
       loss=st.sampled_from(["mse", "cross_entropy"]), eta=st.floats(1e-3, 0.5))
def test_gd_changes_c_by_exactly_eta_squared_times_gradient_gap(seed, activation, n, d, l, e, bias, loss, eta):
    """docs/science.md: one GD step changes c_k by eta^2 (||dL/dW_k||^2 - ||dL/dv_k||^2), first-order terms cancel."""
    if loss == "cross_entropy" and e < 2:
        e = 2
    rng = np.random.default_rng(seed)
    x = design(torch.tensor(rng.standard_normal((n, d))), bias)
    if loss == "mse":
        y = torch.tensor(rng.standard_normal((e, n)))
    else:
        y = torch.nn.functional.one_hot(torch.tensor(rng.integers(0, e, n)), e).double().T.contiguous()
    w = random_weights(rng, 3, l, d + bias, e)
    fw = forward(w, x, activation, 0.1)
    _, g = loss_and_grad(fw.out, y, loss)
    grads = backward(w, x, fw, g, activation, 0.1)
    c_before = w.conserved()
    after = Weights(w.W - eta * grads.W, w.V - eta * grads.V, None)
    predicted = eta**2 * ((grads.W**2).sum(-1) - (grads.V**2).sum(1))
    scale = (w.W**2).sum(-1) + (w.V**2).sum(1)
    assert torch.allclose(after.conserved() - c_before, predicted, atol=1e-12 * float(scale.max()) + 1e-14)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "abs", "linear", "tanh", "gelu"])
@pytest.mark.parametrize("loss, e", [("mse", 1), ("mse", 3), ("bce", 1), ("cross_entropy", 3)])
def test_hand_derived_gradients_match_autograd(activation, loss, e):
    rng = np.random.default_rng(1)
    n, d, l = 17, 3, 5
    x = design(torch.tensor(rng.standard_normal((n, d))), True)
    if loss == "cross_entropy":
        y = torch.nn.functional.one_hot(torch.tensor(rng.integers(0, e, n)), e).double().T.contiguous()
    elif loss == "bce":
        y = torch.tensor(rng.integers(0, 2, (e, n))).double()
    else:
        y = torch.tensor(rng.standard_normal((e, n)))
    w = Weights(torch.tensor(rng.standard_normal((2, l, d + 1)), requires_grad=True),
                torch.tensor(rng.standard_normal((2, e, l)), requires_grad=True),
                torch.tensor(rng.standard_normal((2, e)), requires_grad=True))
    fw = forward(w, x, activation, 0.1)
    value, g = loss_and_grad(fw.out.detach(), y, loss)
    ours = backward(Weights(w.W.detach(), w.V.detach(), w.o.detach()), x,
                    forward(Weights(w.W.detach(), w.V.detach(), w.o.detach()), x, activation, 0.1), g, activation, 0.1)
    auto_value, _ = loss_and_grad(fw.out, y, loss, need_grad=False)
    auto_value.sum().backward()
    assert torch.allclose(value, auto_value.detach())
    for mine, ref in ((ours.W, w.W.grad), (ours.V, w.V.grad), (ours.o, w.o.grad)):
        assert torch.allclose(mine, ref, atol=1e-12)


@pytest.mark.parametrize("d_eff, e, c, expected", [
    (2, 1, [-1.0, -2.0], 4),      # e = 1, d_eff >= 2: 2^{l_-}
    (2, 1, [-1.0, 2.0, -3.0], 4),
    (2, 1, [1.0, 2.0], 1),
    (1, 1, [1.0, 2.0], 4),        # d_eff = 1: a free neuron's quadric (two points x R) has two pieces
    (1, 1, [-1.0, 2.0], 4),       # ... and so has a pathological one
    (3, 2, [-1.0, -1.0], 1),      # e >= 2: R^{d_eff} x S^{e-1} is connected
    (1, 2, [-1.0, 1.0, 1.0], 4),  # d_eff = 1 and e = 2: only the free neurons split
    (2, 1, [0.0, -1.0], 2),       # the cone c = 0 is connected
])
def test_component_count_matches_the_theorem(d_eff, e, c, expected):
    cl = classify(np.array(c), np.ones(len(c)), d_eff, e)
    assert cl.components == expected


@given(st.lists(st.floats(-5, 5).filter(lambda v: abs(v) > 1e-3), min_size=1, max_size=12))
def test_effective_components_are_l_minus_plus_one_for_scalar_output(c):
    cl = classify(np.array(c), np.ones(len(c)), 3, 1)
    l_minus = sum(v < 0 for v in c)
    assert cl.pathological == l_minus
    assert cl.components == 2**l_minus
    assert cl.effective_components == l_minus + 1


def test_effective_components_with_d_eff_one_count_both_kinds():
    # Two pathological and one free neuron, all split: (2 + 1) * (1 + 1) classes.
    assert count_components(["pathological", "pathological", "free"], 1, 1) == (8, 6)
    assert pieces("balanced", 1, 1) == 1


def test_sign_vector_names_the_pathological_neurons_only():
    cl = classify(np.array([-1.0, 2.0, -0.5]), np.array([1, -1, -1]), 2, 1)
    assert cl.signs == "+-"
    assert cl.status == ["pathological", "free", "pathological"]


def test_bias_counts_in_w_k():
    p = Params(hidden_weight=np.array([[3.0]]), hidden_bias=np.array([4.0]), output_weight=np.array([[2.0]]))
    assert classify_params(p).c.tolist() == [25.0 - 4.0]


@given(a=st.floats(0.01, 10), b=st.floats(0.01, 10), target=st.floats(-10, 10))
def test_rebalance_factor_lands_on_the_target_quadric(a, b, target):
    s = rebalance_factors(np.array(a), np.array(b), np.array(target))
    assert np.isclose(s**2 * a - b / s**2, target, atol=1e-9 * (a + b + abs(target)))
