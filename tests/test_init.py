import numpy as np
import pytest
import torch

from core.config import config_from_dict
from core.init import draw_batch, initial_params, prescribe, rebalance
from core.invariants import classify_params
from core.snapshot import Params


def network_output(p: Params, x: np.ndarray) -> np.ndarray:
    h = np.maximum(x @ p.hidden_weight.T + (p.hidden_bias if p.hidden_bias is not None else 0), 0)
    return h @ p.output_weight.T


@pytest.mark.parametrize("scheme, init", [
    ("xavier_normal", torch.nn.init.xavier_normal_),
    ("xavier_uniform", torch.nn.init.xavier_uniform_),
    ("kaiming_normal", torch.nn.init.kaiming_normal_),
    ("kaiming_uniform", torch.nn.init.kaiming_uniform_),
])
def test_schemes_have_torch_nn_init_spread(scheme, init):
    d, l = 7, 5
    ours = draw_batch(np.random.default_rng(0), 4000, scheme=scheme, inputs=d, hidden=l)["hidden_weight"]
    theirs = torch.stack([init(torch.empty(l, d)) for _ in range(4000)]).numpy()
    assert ours.std() == pytest.approx(theirs.std(), rel=0.03)
    assert np.abs(ours).max() <= np.abs(theirs).max() * 1.5


def test_torch_default_matches_nn_linear():
    d, l = 6, 4
    ours = draw_batch(np.random.default_rng(0), 1, scheme="torch_default", inputs=d, hidden=l, hidden_bias="scheme")
    bound = 1 / np.sqrt(d)
    assert np.all(np.abs(ours["hidden_weight"]) <= bound) and np.all(np.abs(ours["hidden_bias"]) <= bound)
    lin = torch.nn.Linear(d, l)
    assert float(lin.weight.detach().abs().max()) <= bound


def test_scale_multiplies_every_weight():
    base = config_from_dict({"model": {"hidden": 3}, "init": {"hidden_bias": "scheme"}})
    small = config_from_dict({"model": {"hidden": 3}, "init": {"hidden_bias": "scheme", "scale": 0.01}})
    a, b = initial_params(base, 1), initial_params(small, 1)
    assert np.allclose(b.incoming, 0.01 * a.incoming) and np.allclose(b.output_weight, 0.01 * a.output_weight)


@pytest.mark.parametrize("signs", ["+", "-", "+-", "--+", "+-+-"])
def test_prescribed_init_has_exactly_k_pathological_with_those_signs(signs):
    config = config_from_dict({"model": {"hidden": 6}, "data": {"name": "gaussians"}, "init": {"signs": signs, "seed": 3}})
    cl = classify_params(initial_params(config, 2))
    assert cl.pathological == len(signs)
    assert cl.status[:len(signs)] == ["pathological"] * len(signs)
    assert cl.signs == signs


def test_prescribe_without_signs_keeps_the_function():
    rng = np.random.default_rng(0)
    raw = draw_batch(rng, 1, scheme="xavier_normal", inputs=3, hidden=5)
    p = Params.from_arrays({k: v[0] for k, v in raw.items()})
    q = prescribe(p, 2)
    x = rng.standard_normal((50, 3))
    assert classify_params(q).pathological == 2
    assert np.allclose(network_output(p, x), network_output(q, x), atol=1e-12)


def test_rebalance_moves_every_neuron_to_nonnegative_c_without_changing_the_function():
    config = config_from_dict({"model": {"hidden": 50}, "data": {"name": "gaussians"}, "init": {"scheme": "xavier_normal"}})
    p = initial_params(config, 2)
    assert classify_params(p).pathological > 0
    q = rebalance(p)
    assert np.all(classify_params(q).c >= 0)
    x = np.random.default_rng(1).standard_normal((100, 2))
    assert np.allclose(network_output(p, x), network_output(q, x), atol=1e-12)


def test_explicit_arrays_override_the_scheme():
    config = config_from_dict({"model": {"hidden": 2}, "init": {
        "hidden_weight": [[0.6], [-0.6]], "hidden_bias_values": [0.0, 0.0], "output_weight": [[1.0, -1.0]]}})
    p = initial_params(config, 1)
    assert p.hidden_weight.tolist() == [[0.6], [-0.6]] and p.output_weight.tolist() == [[1.0, -1.0]]
    cl = classify_params(p)
    assert (cl.pathological, cl.components, cl.effective_components, cl.signs) == (2, 4, 3, "+-")


def test_same_seed_same_weights_different_seed_different():
    config = config_from_dict({"model": {"hidden": 4}})
    assert np.array_equal(initial_params(config, 1, seed=5).hidden_weight, initial_params(config, 1, seed=5).hidden_weight)
    assert not np.array_equal(initial_params(config, 1, seed=5).hidden_weight, initial_params(config, 1, seed=6).hidden_weight)
