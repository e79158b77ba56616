"""The neural correlation function (core/ncf.py): known answers from the theory and relulab's losses."""

import numpy as np
import pytest
import torch

from core import ncf
from core.config import Config, config_from_dict
from core.data import Dataset
from core.errors import UserError
from core.experiments.small_init import ALIGNMENT_DATA, STOP_NORM, small_config, train_to_norm
from core.init import initial_params
from core.model import output_grad

TOY_X, TOY_Y = ALIGNMENT_DATA  # X = {e1, e2}, y = (+1, -1)


def toy_problem(y=TOY_Y) -> ncf.Problem:
    return ncf.Problem(TOY_X, ncf.correlation_targets(y, "mse", 1), 1.0, 0.0, "relu")


@pytest.mark.parametrize("loss,outputs", [("mse", 1), ("mse", 3), ("bce", 1), ("cross_entropy", 3)])
def test_targets_are_minus_the_loss_gradient_at_zero(loss, outputs):
    rng = np.random.default_rng(1)
    n = 7
    if loss == "cross_entropy":
        y = rng.integers(0, outputs, n)
        target = torch.nn.functional.one_hot(torch.as_tensor(y), outputs).double().T
    elif loss == "bce":
        y = rng.integers(0, 2, (n, 1)).astype(float)
        target = torch.as_tensor(y).T
    else:
        y = rng.standard_normal((n, outputs))
        target = torch.as_tensor(y).T
    grad = output_grad(torch.zeros(1, outputs, n, dtype=torch.float64), target, loss)[0].numpy().T
    assert np.allclose(ncf.correlation_targets(y, loss, outputs), -grad, rtol=0, atol=1e-15)


def test_toy_kkt_directions_are_exactly_e1_plus_and_e2_minus():
    table = ncf.kkt_directions(toy_problem())
    assert len(table) == 2
    by_sign = {k.sign: k for k in table}
    assert np.array_equal(by_sign[1].direction, [1.0, 0.0]) or np.allclose(by_sign[1].direction, [1, 0], atol=1e-15)
    assert np.allclose(by_sign[-1].direction, [0, 1], atol=1e-15)
    assert by_sign[1].value == pytest.approx(by_sign[-1].value, abs=1e-15)
    assert by_sign[1].value == pytest.approx(0.5)  # g(e1) = 1 = 2 N at the normalised point
    assert all(k.residual < 1e-10 for k in table)


def test_residual_is_the_tangent_gradient_off_kinks():
    p = toy_problem()
    w = np.array([1.0, 1.0]) / np.sqrt(2)  # g = w1 - w2 here, grad (1, -1) is tangent: not a KKT point
    assert ncf.kkt_residual(p, w, 1.0) == pytest.approx(np.sqrt(2))
    assert ncf.kkt_residual(p, np.array([1.0, 0.0]), 1.0) < 1e-15


def random_problem(loss="mse", outputs=1, n=40, d=5, seed=0, activation="relu") -> ncf.Problem:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d - 1))
    if loss == "cross_entropy":
        y = rng.integers(0, outputs, n)
    elif loss == "bce":
        y = rng.integers(0, 2, (n, 1)).astype(float)
    else:
        y = rng.standard_normal((n, outputs))
    up, down = ncf.activation_slopes(activation, 0.1)
    return ncf.Problem(ncf.design(x, True), ncf.correlation_targets(y, loss, outputs), up, down, activation)


@pytest.mark.parametrize("loss,outputs,activation", [("mse", 1, "relu"), ("cross_entropy", 3, "relu"),
                                                     ("mse", 1, "leaky_relu"), ("mse", 1, "abs"),
                                                     ("bce", 1, "relu")])
def test_kkt_directions_are_local_maxima_and_normalised_kkt_points_of_N(loss, outputs, activation):
    p = random_problem(loss, outputs, activation=activation)
    table = ncf.kkt_directions(p, starts=24)
    assert table
    rng = np.random.default_rng(5)
    for k in table:
        assert k.residual < 1e-10 * p.scale
        sign = float(k.sign) if k.sign is not None else None
        h = lambda W: ncf.objective(p, W, sign)[0]
        # No nearby point on the sphere is higher (ascent converged to a local maximum).
        near = ncf.unit_rows(k.direction + 1e-4 * rng.standard_normal((200, p.d_eff)))
        assert h(near).max() <= h(k.direction[None])[0] + 1e-12
        # The balanced point (w, v) / sqrt 2 is a KKT point of N on the unit sphere: grad N = 2 N theta.
        W = k.direction[None] / np.sqrt(2)
        V = k.v_direction[:, None] / np.sqrt(2)
        dW, dV = ncf.ncf_gradient(p, W, V)
        N = float(np.sum(V * dV))
        assert N == pytest.approx(k.value, rel=1e-12)
        assert np.allclose(dV, 2 * N * V, atol=1e-10 * p.scale)
        assert float(np.sum(dW * W)) == pytest.approx(2 * N * float(np.sum(W * W)), rel=1e-10)
        on_kink = np.abs(p.x @ k.direction) < 1e-9 * np.linalg.norm(p.x, axis=1)
        if not on_kink.any():  # off the kinks the gradient is unique: grad N = 2 N theta exactly
            assert np.allclose(dW, 2 * N * W, atol=1e-10 * p.scale)


def toy_runs(delta: float, seed: int = 0, hidden: int = 6):
    config = small_config(hidden, delta, seed, 0.05, 1)
    dataset = Dataset("toy", TOY_X, TOY_Y, None, None)
    params = initial_params(config, 2)
    [(W, V)], [step] = train_to_norm(config, dataset, [params])
    return params, W, V, step


def test_gd_from_small_init_aligns_with_the_kkt_directions():
    p = toy_problem()
    table = ncf.kkt_directions(p)
    errors, balances = [], []
    for delta in (1e-2, 1e-3, 1e-4, 1e-6):
        params, W, V, _ = toy_runs(delta)
        assert np.sqrt(np.sum(W**2) + np.sum(V**2)) >= STOP_NORM
        W0, V0 = ncf.params_arrays(params)
        prediction = ncf.predict(p, W0, V0, table, step=0.05)
        grew = prediction.kkt >= 0
        assert grew.sum() >= 2
        found = ncf.alignment(W, V, table, prediction)
        errors.append(np.max(1 - found.nearest_cosine[grew]))
        balances.append(np.max(found.balance[grew]))
    assert all(b < a for a, b in zip(errors, errors[1:]))
    assert errors[2] < 1e-4  # delta = 1e-4
    assert errors[3] < 1e-8  # delta = 1e-6
    assert all(b < a for a, b in zip(balances, balances[1:]))
    assert balances[3] < 1e-7


def test_prediction_names_the_direction_gd_reaches():
    p = toy_problem()
    table = ncf.kkt_directions(p)
    params, W, V, _ = toy_runs(1e-6, seed=1)
    W0, V0 = ncf.params_arrays(params)
    prediction = ncf.predict(p, W0, V0, table, step=0.05)
    found = ncf.alignment(W, V, table, prediction)
    grew = prediction.kkt >= 0
    assert np.array_equal(found.nearest[grew], prediction.kkt[grew])
    assert np.all(found.cosine_predicted[grew] > 1 - 1e-6)
    # The others end dead (W_k in the closed negative quadrant) and stay at the initial scale.
    assert np.all(W[~grew] <= 0)
    assert np.all(np.sqrt(np.sum(W[~grew] ** 2, 1) + V[0, ~grew] ** 2) < 1e-5)


def test_a_frozen_negative_neuron_can_only_reach_the_negative_direction():
    p = toy_problem()
    table = ncf.kkt_directions(p)
    plus = next(i for i, k in enumerate(table) if k.sign == 1)
    minus = next(i for i, k in enumerate(table) if k.sign == -1)
    # Neuron 0: pathological (c < 0) with v < 0, W in the positive quadrant. Neuron 1: free (c > 0), v < 0.
    W0 = np.array([[1.0, 0.5], [1.0, -0.2]]) * 1e-6
    V0 = np.array([[-2.0, -0.1]]) * 1e-6
    prediction = ncf.predict(p, W0, V0, table, step=0.05)
    assert prediction.frozen.tolist() == [True, False]
    assert prediction.reachable[0] == [minus]
    assert sorted(prediction.reachable[1]) == sorted([plus, minus])
    assert prediction.kkt[0] == minus and prediction.cosine[0] > 1 - 1e-12
    # The free neuron's v crosses zero and it ends on e1 with v > 0.
    assert prediction.kkt[1] == plus and prediction.v[1, 0] > 0


def test_residual_ncf_at_a_plateau_predicts_the_next_escape():
    y = np.array([[1.0], [-0.5]])
    p = toy_problem(y)
    # One grown neuron fits sample 1 exactly (W = (1, 0), v = 1); two small ones remain.
    W = np.array([[1.0, 0.0], [1e-6, 2e-6], [-1e-6, 1e-6]])
    V = np.array([[1.0, -1e-6, -2e-6]])
    found = ncf.saddle(p, y, "mse", W, V, step=0.05)
    assert found.small.tolist() == [False, True, True]
    top = found.kkt[0]
    # Residuals (0, -0.5): y~ = (0, -0.5), the only KKT direction is e2 with v < 0, N = 0.25.
    assert len(found.kkt) == 1 and top.sign == -1 and np.allclose(top.direction, [0, 1], atol=1e-15)
    assert top.value == pytest.approx(0.25)
    assert found.next_neuron in (1, 2) and found.next_kkt == 0
    assert np.isinf(found.escape_steps[0])


def test_refuses_what_the_theory_does_not_cover():
    for section, values in (("model", {"activation": "tanh"}), ("model", {"activation": "gelu"}),
                            ("model", {"output_bias": True})):
        config = config_from_dict({section: values})
        with pytest.raises(UserError) as e:
            ncf.check_covered(config)
        assert "\n" not in str(e.value)
    ncf.check_covered(Config())


def test_analyse_breast_cancer_example():
    from core.config import load_config
    from pathlib import Path

    config = load_config(Path(__file__).resolve().parents[1] / "examples" / "breast_cancer.toml")
    report = ncf.analyse(config)
    assert report.problem.d_eff == 31
    assert report.kkt and all(k.residual < 1e-10 * report.problem.scale for k in report.kkt)
    assert all(k.sign in (1, -1) for k in report.kkt)
    values = [k.value for k in report.kkt]
    assert values == sorted(values, reverse=True)
    neurons = report.prediction.neurons()
    assert len(neurons) == config.model.hidden
    for n in neurons:
        if n["kkt"] is not None:
            assert n["kkt"] in n["reachable"] or not n["frozen"]
