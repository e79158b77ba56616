"""How likely an initialisation is to be obstructed (docs/science.md, "Probability at initialisation")."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
# scipy.special.fdtrc is the F distribution's survival function; importing scipy.stats for
# stats.f.sf would cost `relulab check` 0.7 s of its one-second budget.
from scipy import special

from core.invariants import EVEN_ACTIVATIONS, ODD_ACTIVATIONS
from core.init import NORMAL_SCHEMES, draw_batch, resolved_hidden_bias, scheme_spread


@dataclass
class Obstruction:
    """Per-neuron and per-network probabilities for one architecture and scheme."""

    pathological: float | None  # closed form p, None where there is none
    pathological_mc: float  # Monte Carlo estimate of p over every sampled neuron
    pathological_mc_stderr: float
    split: float  # probability that a neuron's quadric has two pieces (p when e = 1, d_eff >= 2)
    disconnected: float  # P(H(c) has more than one component) = 1 - (1 - split)^l
    all_pathological: float  # p^l
    # E[(l_- + 1)] (times the free-side factor when d_eff = 1), under the activation's sign symmetry
    expected_effective_components: float
    samples: int  # networks sampled
    source: str  # "closed form" or "monte carlo": where the derived figures come from

    def to_dict(self) -> dict:
        return asdict(self)


def closed_form(scheme: str, inputs: int, hidden: int, outputs: int = 1, *, random_bias: bool = False) -> float | None:
    """p = P(F(e, k) > k s_w^2 / (e s_v^2)) for normal schemes, else None.

    ||W_k||^2 = s_w^2 chi2_k and ||v_k||^2 = s_v^2 chi2_e are independent; k = d with a zero
    hidden bias, k = d + 1 when the bias is drawn like a weight entry (hidden_bias = "scheme").
    """
    if scheme not in NORMAL_SCHEMES:
        return None
    _, s_w = scheme_spread(scheme, inputs, hidden)
    _, s_v = scheme_spread(scheme, hidden, outputs)
    k = inputs + 1 if random_bias else inputs
    return float(special.fdtrc(outputs, k, k * s_w**2 / (outputs * s_v**2)))


def monte_carlo(
    scheme: str, inputs: int, hidden: int, outputs: int = 1, *, bias: bool = True, hidden_bias: str = "auto",
    samples: int = 10_000, seed: int = 0, chunk: int = 1 << 22,
) -> tuple[float, float, float, float]:
    """Sample `samples` whole networks: (p, stderr of p, fraction of split neurons, its stderr)."""
    rng = np.random.default_rng(seed)
    d_eff = inputs + bias
    per_chunk = max(1, chunk // (hidden * (d_eff + outputs)))
    bad = split = total = 0
    done = 0
    while done < samples:
        n = min(per_chunk, samples - done)
        p = draw_batch(rng, n, scheme=scheme, inputs=inputs, hidden=hidden, outputs=outputs, bias=bias, hidden_bias=hidden_bias)
        w2 = np.sum(p["hidden_weight"] ** 2, axis=2)
        if bias:
            w2 += p["hidden_bias"] ** 2
        c = w2 - np.sum(p["output_weight"] ** 2, axis=1)
        bad += int(np.count_nonzero(c < 0))
        # A pathological neuron's quadric splits when e = 1, a free one's when d_eff = 1.
        split += (int(np.count_nonzero(c < 0)) if outputs == 1 else 0) + (int(np.count_nonzero(c > 0)) if d_eff == 1 else 0)
        total += c.size
        done += n
    p_hat, q_hat = bad / total, split / total
    return p_hat, math.sqrt(p_hat * (1 - p_hat) / total), q_hat, math.sqrt(q_hat * (1 - q_hat) / total)


def obstruction(
    scheme: str, inputs: int, hidden: int, outputs: int = 1, *, bias: bool = True, hidden_bias: str = "auto",
    samples: int = 10_000, seed: int = 0, activation: str = "relu",
) -> Obstruction:
    """Closed form where docs/science.md gives one, Monte Carlo always, and the derived network figures.

    Neurons are independent at initialisation, so l_- ~ Binomial(l, p) and the network figures
    follow from p (closed form when available, otherwise the Monte Carlo estimate).
    """
    random_bias = bias and resolved_hidden_bias(scheme, hidden_bias) == "scheme"
    exact = closed_form(scheme, inputs, hidden, outputs, random_bias=random_bias)
    p_mc, p_se, q_mc, _ = monte_carlo(
        scheme, inputs, hidden, outputs, bias=bias, hidden_bias=hidden_bias, samples=samples, seed=seed
    )
    d_eff = inputs + bias
    p = exact if exact is not None else p_mc
    if exact is not None:
        # Free neurons split only when d_eff = 1; the closed form then needs P(c > 0) = 1 - p.
        q = (p if outputs == 1 else 0.0) + ((1 - p) if d_eff == 1 else 0.0)
    else:
        q = q_mc
    expected_effective = 1 + hidden * p if outputs == 1 else 1.0
    if d_eff == 1:
        # (l_- + 1)(l_+ + 1) with l_+ = l - l_-: E = 1 + l + l(l-1) p (1-p)
        expected_effective = 1 + hidden + hidden * (hidden - 1) * p * (1 - p) if outputs == 1 else 1 + hidden * (1 - p)
    if activation in ODD_ACTIVATIONS:
        expected_effective = 1.0  # (W_k, v_k) -> (-W_k, -v_k) joins every split neuron's pieces
    elif activation in EVEN_ACTIVATIONS:
        expected_effective = 1 + hidden * p if outputs == 1 else 1.0  # W_k -> -W_k joins a free neuron's
    return Obstruction(
        pathological=exact,
        pathological_mc=p_mc,
        pathological_mc_stderr=p_se,
        split=q,
        disconnected=1 - (1 - q) ** hidden,
        all_pathological=p**hidden,
        expected_effective_components=expected_effective,
        samples=samples,
        source="closed form" if exact is not None else "monte carlo",
    )
