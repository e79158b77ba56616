"""Initialisation schemes, as torch.nn.init defines them, sampled with numpy.

Sampling in numpy keeps `relulab check` free of torch and makes a network's initial weights
depend only on its seed, whatever the device or the number of networks trained beside it.
"""

from __future__ import annotations

import math

import numpy as np

from core.config import Config, ConfigError
from core.snapshot import Params

NORMAL_SCHEMES = ("xavier_normal", "kaiming_normal", "normal")


def scheme_spread(scheme: str, fan_in: int, fan_out: int, std: float = 1.0) -> tuple[str, float]:
    """("normal", standard deviation) or ("uniform", bound) of one weight matrix's entries.

    Defaults as in torch.nn.init: xavier gain 1; kaiming a=0, mode fan_in, leaky_relu (gain sqrt 2);
    torch_default is nn.Linear's reset_parameters, kaiming_uniform with a = sqrt 5.
    """
    if scheme == "xavier_normal":
        return "normal", math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "xavier_uniform":
        return "uniform", math.sqrt(6.0 / (fan_in + fan_out))
    if scheme == "kaiming_normal":
        return "normal", math.sqrt(2.0 / fan_in)
    if scheme == "kaiming_uniform":
        return "uniform", math.sqrt(6.0 / fan_in)
    if scheme == "normal":
        return "normal", std
    if scheme == "torch_default":
        return "uniform", 1.0 / math.sqrt(fan_in)
    raise ValueError(f"unknown scheme {scheme!r}")


def resolved_hidden_bias(scheme: str, hidden_bias: str) -> str:
    """"zeros" or "scheme": auto is nn.Linear's own for torch_default (a drawn bias), zeros otherwise."""
    if hidden_bias == "auto":
        return "scheme" if scheme == "torch_default" else "zeros"
    return hidden_bias


def _draw(rng: np.random.Generator, spread: tuple[str, float], shape: tuple) -> np.ndarray:
    kind, s = spread
    if kind == "normal":
        return rng.standard_normal(shape) * s
    return rng.uniform(-s, s, shape)


def draw_batch(
    rng: np.random.Generator,
    n: int,
    *,
    scheme: str,
    inputs: int,
    hidden: int,
    outputs: int = 1,
    bias: bool = True,
    hidden_bias: str = "auto",
    output_bias: bool = False,
    scale: float = 1.0,
    std: float = 1.0,
) -> dict[str, np.ndarray]:
    """n networks' initial weights: hidden_weight (n, l, d), hidden_bias (n, l), output_weight (n, e, l)."""
    w_spread = scheme_spread(scheme, inputs, hidden, std)
    v_spread = scheme_spread(scheme, hidden, outputs, std)
    out = {"hidden_weight": _draw(rng, w_spread, (n, hidden, inputs)) * scale}
    if bias:
        # "scheme" bias: torch_default draws it like nn.Linear does; the other schemes give it the
        # distribution of the neuron's own weight entries (torch.nn.init has none for a vector).
        drawn = resolved_hidden_bias(scheme, hidden_bias) == "scheme"
        out["hidden_bias"] = _draw(rng, w_spread, (n, hidden)) * scale if drawn else np.zeros((n, hidden))
    out["output_weight"] = _draw(rng, v_spread, (n, outputs, hidden)) * scale
    if output_bias:
        out["output_bias"] = (
            _draw(rng, v_spread, (n, outputs)) * scale if scheme == "torch_default" else np.zeros((n, outputs))
        )
    return out


def swap_norms(W: np.ndarray, v: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rescale the masked neurons by a = ||v_k|| / ||W_k||: the norms swap, c_k -> -c_k, f unchanged.

    W: (..., l, d_eff), v: (..., e, l), mask: (..., l).
    """
    w_norm = np.linalg.norm(W, axis=-1)
    v_norm = np.linalg.norm(v, axis=-2)
    a = np.where(mask & (w_norm > 0) & (v_norm > 0), v_norm / np.where(w_norm > 0, w_norm, 1), 1.0)
    return W * a[..., :, None], v / a[..., None, :]


def initial_params(config: Config, inputs: int, seed: int | None = None) -> Params:
    """The initial parameters of the network described by `config` (inputs resolved from data)."""
    m, i = config.model, config.init
    rng = np.random.default_rng(i.seed if seed is None else seed)
    raw = draw_batch(
        rng, 1, scheme=i.scheme, inputs=inputs, hidden=m.hidden, outputs=m.outputs, bias=m.bias,
        hidden_bias=i.hidden_bias, output_bias=m.output_bias, scale=i.scale, std=i.std,
    )
    p = {k: v[0] for k, v in raw.items()}
    if i.hidden_weight is not None:
        given = np.asarray(i.hidden_weight, np.float64)
        if given.shape != (m.hidden, inputs):
            raise ConfigError(f"[init] hidden_weight: shape {' x '.join(map(str, given.shape))}; must be "
                              f"{m.hidden} x {inputs} ([model] hidden x the data's {inputs} input(s))")
        p["hidden_weight"] = given
    if i.hidden_bias_values is not None:
        p["hidden_bias"] = np.asarray(i.hidden_bias_values, np.float64)
    if i.output_weight is not None:
        p["output_weight"] = np.asarray(i.output_weight, np.float64).reshape(m.outputs, m.hidden)
    params = Params.from_arrays(p)
    if i.pathological is not None or i.signs is not None:
        params = prescribe(params, i.pathological if i.pathological is not None else len(i.signs), i.signs)
    if i.rebalance:
        params = rebalance(params, i.rebalance_ratio)
    return params


def _with_incoming(params: Params, W: np.ndarray, v: np.ndarray) -> Params:
    d = params.hidden_weight.shape[1]
    return Params(
        hidden_weight=W[:, :d],
        hidden_bias=W[:, d] if params.hidden_bias is not None else None,
        output_weight=v,
        output_bias=params.output_bias,
    )


# Prescribed neurons get ||W_k|| / ||v_k|| = 1/2 (pathological) or 2 (free), so c_k = -/+ 1.5 ||W_k|| ||v_k||:
# clearly on their side of the cone, never a near-balanced neuron that one GD step could push across.
PATHOLOGICAL_RATIO = 0.5
FREE_RATIO = 2.0


def prescribe(params: Params, pathological: int, signs: str | None = None) -> Params:
    """Make neurons 0..k-1 pathological (c < 0) and the rest free (c > 0), with the given output signs.

    Each neuron is rescaled (W_k, v_k) -> (a W_k, v_k / a), which leaves the function unchanged;
    a sign flips v_k.
    """
    W, v = params.incoming, np.asarray(params.output_weight, np.float64).copy()
    w_norm, v_norm = np.linalg.norm(W, axis=1), np.linalg.norm(v, axis=0)
    ratio = np.where(np.arange(len(w_norm)) < pathological, PATHOLOGICAL_RATIO, FREE_RATIO)
    ok = (w_norm > 0) & (v_norm > 0)
    a = np.sqrt(np.where(ok, ratio * v_norm / np.where(ok, w_norm, 1), 1.0))
    W, v = W * a[:, None], v / a[None, :]
    if signs is not None:
        for k, s in enumerate(signs):
            if (s == "+") != (v[0, k] > 0):
                v[:, k] = -v[:, k]
    return _with_incoming(params, W, v)


def rebalance(params: Params, ratio: float | None = None) -> Params:
    """Move every pathological neuron to c_k >= 0 by a function-preserving rescaling.

    ratio None swaps the norms (c_k -> -c_k); a ratio r >= 1 rescales to ||W_k|| / ||v_k|| = r,
    so c_k = ||W_k|| ||v_k|| (r - 1/r) >= 0 (r = 1: balanced). A pathological neuron with W_k = 0
    computes nothing: v_k = 0 keeps the function and puts it at c_k = 0.
    """
    if ratio is not None and not ratio >= 1:
        raise ValueError(f"rebalance ratio {ratio}: must be >= 1 (below 1 a neuron stays pathological)")
    W, v = params.incoming, np.asarray(params.output_weight, np.float64).copy()
    c = np.sum(W**2, axis=1) - np.sum(v**2, axis=0)
    w_norm, v_norm = np.linalg.norm(W, axis=1), np.linalg.norm(v, axis=0)
    dead = (c < 0) & (w_norm == 0)
    v[:, dead] = 0.0
    mask = (c < 0) & ~dead
    if ratio is None:
        W, v = swap_norms(W, v, mask)
    else:
        a = np.sqrt(np.where(mask, ratio * v_norm / np.where(mask, w_norm, 1.0), 1.0))
        W, v = W * a[:, None], v / a[None, :]
    return _with_incoming(params, W, v)
