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


def test_torch_default_is_nn_linear_by_default_hidden_bias_included():
    """nn.Linear(d, l) draws weight and bias from U(-1/sqrt(d), 1/sqrt(d))."""
    config = config_from_dict({"model": {"hidden": 400}, "init": {"scheme": "torch_default"}})
    p = initial_params(config, 5)
    bound = 1 / np.sqrt(5)
    assert np.all(np.abs(p.hidden_bias) <= bound) and np.abs(p.hidden_bias).max() > 0.9 * bound
    # a uniform on (-b, b) has variance b^2 / 3, as torch's own bias does
    torch.manual_seed(0)
    theirs = torch.cat([torch.nn.Linear(5, 400).bias.detach() for _ in range(20)]).numpy()
    assert p.hidden_bias.std() == pytest.approx(theirs.std(), rel=0.1)
    zeros = config_from_dict({"model": {"hidden": 4}, "init": {"scheme": "torch_default", "hidden_bias": "zeros"}})
    assert np.all(initial_params(zeros, 5).hidden_bias == 0)
    # other schemes keep a zero bias unless asked
    assert np.all(initial_params(config_from_dict({"model": {"hidden": 4}}), 5).hidden_bias == 0)


def test_rebalance_a_pathological_neuron_with_no_incoming_weights_sets_v_to_zero():
    """W_k = 0: the neuron computes sigma(0) v_k = 0 for ReLU, and no rescaling of W_k moves c_k;
    v_k = 0 keeps the function and gives c_k = 0."""
    p = Params(hidden_weight=np.array([[0.0, 0.0], [1.0, 0.5]]), hidden_bias=np.array([0.0, 0.1]),
               output_weight=np.array([[0.7, 2.0]]))
    x = np.random.default_rng(0).standard_normal((30, 2))
    for ratio in (None, 1.0, 3.0):
        q = rebalance(p, ratio)
        assert np.all(classify_params(q).c >= 0)
        assert classify_params(q).c[0] == 0.0 and q.output_weight[0, 0] == 0.0
        assert np.allclose(network_output(p, x), network_output(q, x), atol=1e-12)


@pytest.mark.parametrize("ratio", [1.0, 2.0, 3.0, 4.0, 8.0])
def test_rebalance_ratio_sets_the_norm_ratio_and_keeps_the_function(ratio):
    config = config_from_dict({"model": {"hidden": 30}, "data": {"name": "gaussians"}})
    p = initial_params(config, 2)
    before = classify_params(p)
    q = rebalance(p, ratio)
    w, v = np.linalg.norm(q.incoming, axis=1), np.abs(q.output_weight[0])
    bad = before.c < 0
    assert bad.any()
    assert np.allclose(w[bad] / v[bad], ratio, rtol=1e-12)
    # c_k = ||W_k|| ||v_k|| (r - 1/r), with ||W_k|| ||v_k|| unchanged by the rescaling
    assert np.allclose(classify_params(q).c[bad], np.linalg.norm(p.incoming, axis=1)[bad] * np.abs(p.output_weight[0])[bad] * (ratio - 1 / ratio), atol=1e-12)
    assert np.array_equal(classify_params(q).c[~bad], before.c[~bad])
    x = np.random.default_rng(1).standard_normal((100, 2))
    assert np.allclose(network_output(p, x), network_output(q, x), atol=1e-12)
    through_config = config_from_dict({"model": {"hidden": 30}, "data": {"name": "gaussians"},
                                       "init": {"rebalance": True, "rebalance_ratio": ratio}})
    assert np.allclose(initial_params(through_config, 2).incoming, q.incoming)


def test_rebalance_ratio_below_one_or_without_rebalance_is_refused():
    from core.config import ConfigError

    with pytest.raises(ConfigError, match=r"\[init\] rebalance_ratio"):
        config_from_dict({"init": {"rebalance": True, "rebalance_ratio": 0.5}})
    with pytest.raises(ConfigError, match=r"\[init\] rebalance_ratio"):
        config_from_dict({"init": {"rebalance_ratio": 2.0}})


@pytest.mark.parametrize("ratio", [None, 3.0])
def test_a_prescribed_network_can_be_rebalanced_as_a_config(ratio):
    # The mitigation experiment's networks written as configs: drawn, prescribed (k pathological,
    # signs), then rebalanced. Same function as the prescribed network, every c_k >= 0, v signs kept.
    from core.config import config_from_dict
    from core.invariants import conserved

    base = {"model": {"hidden": 4}, "init": {"pathological": 3, "signs": "--+", "seed": 5}}
    prescribed = initial_params(config_from_dict(base), 2)
    rebalanced = initial_params(config_from_dict({"model": base["model"], "init": {
        **base["init"], "rebalance": True, "rebalance_ratio": ratio}}), 2)
    assert (conserved(prescribed)[:3] < 0).all() and (conserved(rebalanced) >= 0).all()
    x = np.random.default_rng(0).standard_normal((50, 2))

    def f(p):
        return np.maximum(x @ p.hidden_weight.T + p.hidden_bias, 0) @ p.output_weight.T

    assert np.allclose(f(prescribed), f(rebalanced), rtol=1e-12, atol=1e-12)
    assert np.array_equal(np.sign(prescribed.output_weight), np.sign(rebalanced.output_weight))
    if ratio is not None:
        norms = np.linalg.norm(rebalanced.incoming, axis=1)[:3] / np.abs(rebalanced.output_weight[0, :3])
        assert np.allclose(norms, ratio)
