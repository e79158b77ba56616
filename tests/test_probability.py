"""Probability of an obstructed initialisation: closed form (docs/science.md) against Monte Carlo."""

import numpy as np
import pytest
from scipy import stats

from core.probability import closed_form, monte_carlo, obstruction


@pytest.mark.parametrize("scheme", ["xavier_normal", "kaiming_normal", "normal"])
@pytest.mark.parametrize("inputs, hidden, outputs", [(1, 2, 1), (2, 2, 1), (3, 5, 1), (30, 8, 1), (2, 4, 2), (5, 3, 3)])
def test_closed_form_within_four_standard_errors_of_monte_carlo(scheme, inputs, hidden, outputs):
    p = closed_form(scheme, inputs, hidden, outputs)
    p_mc, se, _, _ = monte_carlo(scheme, inputs, hidden, outputs, samples=20_000, seed=inputs * 100 + hidden)
    assert abs(p - p_mc) <= 4 * se + 1e-4


def test_closed_form_is_the_f_distribution_tail():
    # Xavier-normal: s_w^2 = 2/(d+l), s_v^2 = 2/(l+e); p = P(F(e, d) > d s_w^2 / (e s_v^2)).
    d, l, e = 4, 6, 1
    expected = stats.f.sf(d * (2 / (d + l)) / (e * (2 / (l + e))), e, d)
    assert closed_form("xavier_normal", d, l, e) == pytest.approx(expected, rel=1e-12)
    # Kaiming-normal: s_w^2 = 2/d, s_v^2 = 2/l -> threshold l / e.
    assert closed_form("kaiming_normal", d, l, e) == pytest.approx(stats.f.sf(l / e, e, d), rel=1e-12)
    # Equal variances: p = P(chi2_e > chi2_d), which is 1/2 when d = e.
    assert closed_form("normal", 3, 7, 3) == pytest.approx(0.5, abs=1e-12)


def test_no_closed_form_for_uniform_schemes():
    assert closed_form("xavier_uniform", 2, 2) is None
    assert closed_form("torch_default", 2, 2) is None
    o = obstruction("kaiming_uniform", 2, 4, samples=5000)
    assert o.pathological is None and o.source == "monte carlo"
    assert 0 < o.pathological_mc < 1 and o.pathological_mc_stderr > 0


def test_derived_network_figures_follow_the_binomial():
    o = obstruction("xavier_normal", 2, 5, samples=2000)
    p = o.pathological
    assert o.disconnected == pytest.approx(1 - (1 - p) ** 5)
    assert o.all_pathological == pytest.approx(p**5)
    assert o.expected_effective_components == pytest.approx(1 + 5 * p)


def test_d_eff_one_splits_free_neurons_too():
    # No bias and one input: every neuron's quadric has two pieces, so H(c) is always disconnected.
    o = obstruction("xavier_normal", 1, 3, bias=False, samples=2000)
    assert o.disconnected == pytest.approx(1.0)


def test_probability_decreases_with_inputs_and_is_lower_for_kaiming():
    for scheme in ("xavier_normal", "kaiming_normal"):
        ps = [closed_form(scheme, d, 8) for d in range(1, 40)]
        assert all(a > b for a, b in zip(ps, ps[1:]))
    assert all(closed_form("kaiming_normal", d, 8) < closed_form("xavier_normal", d, 8) for d in range(2, 40))


def test_monte_carlo_of_whole_networks_matches_binomial_disconnection():
    # Estimate P(disconnected) directly from sampled networks and compare with 1 - (1 - p)^l.
    from core.init import draw_batch

    rng = np.random.default_rng(5)
    p = draw_batch(rng, 40_000, scheme="kaiming_normal", inputs=2, hidden=3)
    c = (p["hidden_weight"] ** 2).sum(2) - (p["output_weight"] ** 2).sum(1)
    frac = float(np.mean((c < 0).any(axis=1)))
    expected = obstruction("kaiming_normal", 2, 3, samples=10).disconnected
    assert abs(frac - expected) < 4 * np.sqrt(expected * (1 - expected) / 40_000)


@pytest.mark.parametrize("scheme", ["xavier_normal", "kaiming_normal", "normal"])
@pytest.mark.parametrize("inputs, hidden, outputs", [(1, 2, 1), (3, 5, 1), (2, 4, 2), (10, 3, 1)])
def test_closed_form_with_a_drawn_bias_is_f_with_d_plus_one_degrees(scheme, inputs, hidden, outputs):
    """A scheme bias is one more N(0, s_w^2) entry of W_k: ||W_k||^2 = s_w^2 chi2_{d+1}."""
    from core.init import scheme_spread

    p = closed_form(scheme, inputs, hidden, outputs, random_bias=True)
    _, s_w = scheme_spread(scheme, inputs, hidden)
    _, s_v = scheme_spread(scheme, hidden, outputs)
    k = inputs + 1
    assert p == pytest.approx(stats.f.sf(k * s_w**2 / (outputs * s_v**2), outputs, k), rel=1e-12)
    p_mc, se, _, _ = monte_carlo(scheme, inputs, hidden, outputs, hidden_bias="scheme", samples=20_000, seed=7)
    assert abs(p - p_mc) <= 4 * se + 1e-4
    o = obstruction(scheme, inputs, hidden, outputs, hidden_bias="scheme", samples=100)
    assert o.source == "closed form" and o.pathological == p


@pytest.mark.parametrize("activation, expected", [("relu", lambda l, p: 1 + l * p), ("linear", lambda l, p: 1.0),
                                                  ("tanh", lambda l, p: 1.0), ("abs", lambda l, p: 1 + l * p)])
def test_expected_effective_components_under_the_activations_symmetry(activation, expected):
    o = obstruction("xavier_normal", 2, 5, samples=100, activation=activation)
    assert o.expected_effective_components == pytest.approx(expected(5, o.pathological))
    # d_eff = 1: abs joins the free neurons' pieces, so only (l_- + 1) is left.
    o = obstruction("xavier_normal", 1, 4, bias=False, samples=100, activation=activation)
    p = o.pathological
    full = 1 + 4 + 4 * 3 * p * (1 - p)
    assert o.expected_effective_components == pytest.approx({"relu": full, "linear": 1.0, "tanh": 1.0, "abs": 1 + 4 * p}[activation])
