"""Invariants and topology against docs/science.md."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from core.invariants import (classify, classify_params, count_components, hops_between, neuron_status, pieces,
                             rebalance_factors, split_signs)
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
    cl = classify(np.array(c), np.ones(len(c)), d_eff, e, np.abs(c) + 1.0)
    assert cl.components == expected


@given(st.lists(st.floats(-5, 5).filter(lambda v: abs(v) > 1e-3), min_size=1, max_size=12))
def test_effective_components_are_l_minus_plus_one_for_scalar_output(c):
    cl = classify(np.array(c), np.ones(len(c)), 3, 1, np.abs(c) + 1.0)
    l_minus = sum(v < 0 for v in c)
    assert cl.pathological == l_minus
    assert cl.components == 2**l_minus
    assert cl.effective_components == l_minus + 1


def test_effective_components_with_d_eff_one_count_both_kinds():
    # Two pathological and one free neuron, all split: (2 + 1) * (1 + 1) classes.
    assert count_components(["pathological", "pathological", "free"], 1, 1) == (8, 6)
    assert pieces("balanced", 1, 1) == 1


def test_sign_vector_names_the_pathological_neurons_only():
    cl = classify(np.array([-1.0, 2.0, -0.5]), np.array([1, -1, -1]), 2, 1, np.array([3.0, 4.0, 1.0]))
    assert cl.signs == "+-"
    assert cl.status == ["pathological", "free", "pathological"]


def test_bias_counts_in_w_k():
    p = Params(hidden_weight=np.array([[3.0]]), hidden_bias=np.array([4.0]), output_weight=np.array([[2.0]]))
    assert classify_params(p).c.tolist() == [25.0 - 4.0]


@given(a=st.floats(0.01, 10), b=st.floats(0.01, 10), target=st.floats(-10, 10))
def test_rebalance_factor_lands_on_the_target_quadric(a, b, target):
    s = rebalance_factors(np.array(a), np.array(b), np.array(target))
    assert np.isclose(s**2 * a - b / s**2, target, atol=1e-9 * (a + b + abs(target)))


@pytest.mark.parametrize("A", [1e-3, 1e-6, 1e-9, 1e-12, 1e-16])
def test_rebalance_factor_keeps_a_small_pathological_neuron_where_it_is(A):
    """A neuron already on its quadric needs a = 1; x = (c + s) / 2A cancels to 0 for c < 0, A << |c|."""
    B = 0.64
    a = rebalance_factors(np.array(A), np.array(B), np.array(A - B))
    assert abs(a - 1.0) < 1e-12


def test_rebalance_factor_edge_cases_have_exact_answers():
    # A = 0, c < 0: W stays 0 and ||v||^2 / a^2 = |c|, so a^2 = B / |c|.
    a = rebalance_factors(np.array([0.0]), np.array([0.64]), np.array([-0.16]))
    assert np.isclose(a[0] ** 2, 4.0, rtol=1e-15)
    # B = 0, c > 0: a^2 A = c.
    a = rebalance_factors(np.array([4.0]), np.array([0.0]), np.array([1.0]))
    assert np.isclose(a[0] ** 2, 0.25, rtol=1e-15)
    # No rescaling reaches c >= 0 from W = 0, nor c <= 0 from v = 0 (W != 0): left alone.
    a = rebalance_factors(np.array([0.0, 0.0, 1.0, 1.0]), np.array([1.0, 0.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0, -1.0]))
    assert a.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_rebalance_factor_on_torch_tensors_matches_numpy():
    A, B, c = np.array([1e-12, 2.0, 0.0, 3.0]), np.array([0.64, 1e-12, 0.5, 0.0]), np.array([-0.5, 1.5, -0.25, 2.0])
    ours = rebalance_factors(torch.tensor(A), torch.tensor(B), torch.tensor(c)).numpy()
    assert np.allclose(ours, rebalance_factors(A, B, c), rtol=1e-15)
    assert np.allclose(ours**2 * A - B / ours**2, c, rtol=1e-12, atol=0)


def test_d_eff_one_names_free_neurons_by_the_sign_of_w_k():
    """d_eff = 1, e = 1: Q(c > 0) = {|w| = sqrt(c + v^2)} has the pieces w > 0 and w < 0."""
    # neurons: pathological v > 0, free w < 0, pathological v < 0, free w > 0
    p = Params(hidden_weight=np.array([[0.5], [-2.0], [0.1], [3.0]]), hidden_bias=None,
               output_weight=np.array([[1.0, 0.5, -1.0, -0.2]]))
    cl = classify_params(p)
    assert cl.status == ["pathological", "free", "pathological", "free"]
    assert cl.components == 16 and cl.effective_components == 9
    assert cl.signs == "+-/-+"
    assert cl.split_sign.tolist() == [1, -1, -1, 1]
    split, sign = split_signs(p)
    assert split.tolist() == [True] * 4 and sign.tolist() == [1, -1, -1, 1]


@pytest.mark.parametrize("d_eff, e, expected_split", [
    (2, 1, [True, False, False]),   # only the pathological neuron is split (by v_k)
    (1, 1, [True, True, False]),    # ... and the free one (by w_k)
    (1, 3, [False, True, False]),   # e >= 2: R^{d_eff} x S^{e-1} is connected
    (3, 2, [False, False, False]),  # nothing is split
])
def test_split_neurons_in_every_case_of_d_eff_and_e(d_eff, e, expected_split):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, d_eff))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    v = rng.standard_normal((e, 3))
    v /= np.linalg.norm(v, axis=0, keepdims=True)
    # c = -3, +3, 0: scale W and v per neuron
    W, v = W * np.array([1.0, 2.0, 1.0])[:, None], v * np.array([2.0, 1.0, 1.0])[None, :]
    p = Params(hidden_weight=W, hidden_bias=None, output_weight=v)
    split, sign = split_signs(p)
    assert split.tolist() == expected_split
    want = [np.sign(v[0, 0]), np.sign(W[1, 0]), 0]
    assert sign.tolist() == [int(s) if sp else 0 for s, sp in zip(want, expected_split)]
    cl = classify_params(p)
    assert cl.components == 2 ** sum(expected_split)
    assert len(cl.signs.replace("/", "")) == sum(expected_split)


def test_hops_between_reads_the_coordinate_that_decides_the_piece():
    codes = np.array([-1, 1, 1, 0])
    v_before, w_before = np.array([1, 1, 1, 1]), np.array([1, 1, -1, 1])
    v_after, w_after = np.array([-1, -1, -1, -1]), np.array([1, -1, -1, -1])
    hopped, before, after = hops_between(codes, v_before, w_before, v_after, w_after, 1, 1)
    # pathological: v flipped; free: w flipped (its v flip is no hop); free, w kept; balanced: never.
    assert hopped.tolist() == [True, True, False, False]
    assert before.tolist() == [1, 1, -1, 0] and after.tolist() == [-1, -1, -1, 0]
    # d_eff = 2: a free neuron is one piece, whatever its signs do.
    assert hops_between(codes, v_before, w_before, v_after, w_after, 2, 1)[0].tolist() == [True, False, False, False]
    # e = 2: a pathological neuron is one piece.
    assert hops_between(codes, v_before, w_before, v_after, w_after, 1, 2)[0].tolist() == [False, True, False, False]


def test_one_balanced_rule_for_every_caller():
    """|c_k| <= BALANCED_RTOL (||W_k||^2 + ||v_k||^2) is balanced, whoever asks."""
    c = np.array([-1e-9, 0.5, -0.5])
    scale = np.array([2.0, 1.5, 1.5])
    assert neuron_status(c, scale) == ["balanced", "free", "pathological"]
    with pytest.raises(TypeError):
        classify(c, np.ones(3), 2, 1)  # no classification without the scale the rule needs


@pytest.mark.parametrize("activation, effective, topological_only", [
    ("relu", 3 * 2, False), ("leaky_relu", 3 * 2, False), ("gelu", 3 * 2, False),
    ("linear", 1, True), ("tanh", 1, True),  # odd: (W, v) -> (-W, -v) joins every pair of pieces
    ("abs", 3, True),  # even: W -> -W joins a free neuron's pieces, not a pathological one's
])
def test_effective_components_count_the_activations_sign_symmetry(activation, effective, topological_only):
    # d_eff = 1: two pathological neurons (split by v) and one free one (split by w): 8 components.
    p = Params(hidden_weight=np.array([[0.5], [0.2], [2.0]]), hidden_bias=None, output_weight=np.array([[1.0, -1.0, 0.5]]))
    cl = classify_params(p, activation)
    assert cl.components == 8
    assert (cl.effective_components, cl.topological_only) == (effective, topological_only)


@pytest.mark.parametrize("activation, flip_v", [("linear", True), ("tanh", True), ("abs", False)])
def test_the_symmetry_keeps_the_function_and_crosses_to_the_other_piece(activation, flip_v):
    rng = np.random.default_rng(3)
    x = design(torch.tensor(rng.standard_normal((20, 1))), False)
    W, V = torch.tensor(rng.standard_normal((1, 3, 1))), torch.tensor(rng.standard_normal((1, 1, 3)))
    flipped = Weights(-W, -V if flip_v else V, None)
    assert torch.allclose(forward(Weights(W, V, None), x, activation).out, forward(flipped, x, activation).out)
    assert torch.allclose(Weights(W, V, None).conserved(), flipped.conserved())
