"""Conserved quantities c_k and the topology of the invariant set H(c) (docs/science.md).

Everything here is numpy, so `relulab check`, the session store and the UI never import torch.
"""

from __future__ import annotations

import numpy as np

from core.snapshot import Classification, Params

# One rule for "balanced" everywhere (classification, hops, snapshots, experiments): |c_k| at most
# this fraction of ||W_k||^2 + ||v_k||^2. Rounding error of a float32 rescaling is ~1e-7 of that
# scale, so anything smaller is indistinguishable from c_k = 0.
BALANCED_RTOL = 1e-6

# Activations with a sign symmetry that keeps the function, so the pieces of a split neuron's
# quadric compute the same functions. Odd: sigma(-z) = -sigma(z), (W_k, v_k) -> (-W_k, -v_k).
# Even: sigma(-z) = sigma(z), W_k -> -W_k (it joins a free neuron's two pieces when d_eff = 1).
ODD_ACTIVATIONS = ("linear", "tanh")
EVEN_ACTIVATIONS = ("abs",)


def conserved(params: Params) -> np.ndarray:
    """c_k = ||W_k||^2 - ||v_k||^2 per neuron, with the hidden bias inside W_k."""
    w2 = np.sum(params.incoming**2, axis=1)
    v2 = np.sum(np.asarray(params.output_weight, np.float64) ** 2, axis=0)
    return w2 - v2


def scale_of(params: Params) -> np.ndarray:
    """||W_k||^2 + ||v_k||^2 per neuron: the scale the balanced tolerance is relative to."""
    return np.sum(params.incoming**2, axis=1) + np.sum(np.asarray(params.output_weight, np.float64) ** 2, axis=0)


def output_sign(output_weight: np.ndarray) -> np.ndarray:
    """Sign of v_k; with several outputs, of its first entry (only a label there: connected)."""
    return np.sign(np.asarray(output_weight)[0]).astype(np.int8)


def status_codes(c: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """-1 pathological, 0 balanced, +1 free, per neuron (any leading shape): the one balanced rule."""
    c = np.asarray(c, np.float64)
    tol = BALANCED_RTOL * np.asarray(scale, np.float64)
    return np.where(c < -tol, -1, np.where(c > tol, 1, 0)).astype(np.int8)


def neuron_status(c: np.ndarray, scale: np.ndarray) -> list[str]:
    """pathological (c < 0), balanced (|c| <= BALANCED_RTOL scale) or free (c > 0) per neuron."""
    names = {-1: "pathological", 0: "balanced", 1: "free"}
    return [names[int(k)] for k in status_codes(c, scale)]


def count_pathological(c: np.ndarray, scale: np.ndarray) -> int:
    """l_-: neurons with c_k < 0 by the balanced rule."""
    return int(np.sum(status_codes(c, scale) < 0))


def pieces(status: str, d_eff: int, outputs: int) -> int:
    """Connected components of one quadric Q(c): c>0 is S^{d_eff-1} x R^e, c<0 is R^{d_eff} x S^{e-1}."""
    if status == "pathological":
        return 2 if outputs == 1 else 1
    if status == "free":
        return 2 if d_eff == 1 else 1
    return 1  # the cone c = 0 is connected through the origin


def count_components(status: list[str], d_eff: int, outputs: int, activation: str = "relu") -> tuple[int, int]:
    """(components, effective components) of H(c) = prod_k Q(c_k).

    Components multiply over neurons. Up to permutation and rescaling (which keeps the sign of
    c_k), neurons of one kind with two pieces each are interchangeable, so what distinguishes two
    components is how many of those neurons sit on their positive piece: n + 1 classes per kind.
    The activation's sign symmetry identifies a split neuron's two pieces outright: an odd one
    (linear, tanh) every split neuron's, an even one (abs) a free neuron's (d_eff = 1).
    """
    components = 1
    split = {"pathological": 0, "free": 0}
    for s in status:
        n = pieces(s, d_eff, outputs)
        components *= n
        if n == 2:
            split[s] += 1
    if activation in ODD_ACTIVATIONS:
        split = {"pathological": 0, "free": 0}
    elif activation in EVEN_ACTIVATIONS:
        split["free"] = 0
    effective = (split["pathological"] + 1) * (split["free"] + 1)
    return components, effective


def deciding_signs(codes: np.ndarray, v_first: np.ndarray, w_first: np.ndarray | None, d_eff: int,
                   outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """(split, sign) per neuron, for any leading shape (..., l).

    A neuron is split when its quadric has two pieces: pathological with one output (the pieces
    are told apart by the sign of v_k) or free with d_eff = 1 (by the sign of w_k, its one
    incoming weight). `sign` is that deciding coordinate's sign (+1 for an exact zero, which lies
    in neither piece's interior), 0 where the neuron is not split. `codes` from status_codes;
    `w_first` is W_k's first entry, needed only when d_eff = 1 (None: unknown, sign 0).
    """
    codes = np.asarray(codes)
    split_path = (codes < 0) & (outputs == 1)
    split_free = (codes > 0) & (d_eff == 1)
    v_sign = np.where(np.asarray(v_first) < 0, -1, 1)
    w_sign = np.zeros_like(v_sign) if w_first is None else np.where(np.asarray(w_first) < 0, -1, 1)
    sign = np.where(split_path, v_sign, np.where(split_free, w_sign, 0)).astype(np.int8)
    return split_path | split_free, sign


def split_signs(params: Params, c: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Which neurons of `params` are split, and the sign of each one's deciding coordinate.

    Returns (split: bool (l,), sign: int8 (l,)): see deciding_signs. `c` (default: the params'
    own c_k) decides the status, so a point can be read against another point's quadrics.
    """
    W = params.incoming
    v = np.asarray(params.output_weight, np.float64)
    c = conserved(params) if c is None else np.asarray(c, np.float64)
    return deciding_signs(status_codes(c, scale_of(params)), v[0], W[:, 0], W.shape[1], v.shape[0])


def component_names(codes: np.ndarray, split: np.ndarray, sign: np.ndarray) -> list[str]:
    """The component's name for each row (point) of (n, l) status codes, split masks and signs.

    The signs of v_k over the split pathological neurons in neuron order ("+-"), then, only when
    some free neuron is split (d_eff = 1), "/" and the signs of w_k over those ("+-/+"). A split
    neuron whose sign is unknown (0) reads "?".
    """
    chars = np.where(sign > 0, ord("+"), np.where(sign < 0, ord("-"), ord("?"))).astype(np.uint8)
    path, free = split & (codes < 0), split & (codes > 0)
    names = []
    for i in range(len(chars)):
        name = chars[i][path[i]].tobytes().decode()
        if free[i].any():
            name += "/" + chars[i][free[i]].tobytes().decode()
        names.append(name)
    return names


def component_name(codes: np.ndarray, split: np.ndarray, sign: np.ndarray) -> str:
    """One point's component name (see component_names)."""
    return component_names(np.asarray(codes)[None], np.asarray(split)[None], np.asarray(sign)[None])[0]


def hops_between(codes_before: np.ndarray, v_before: np.ndarray, w_before: np.ndarray | None,
                 v_after: np.ndarray, w_after: np.ndarray | None, d_eff: int, outputs: int):
    """Hops between consecutive points (any leading shape (..., l)): a neuron split at the first
    point whose deciding coordinate has the other sign at the second (a zero is no hop yet).

    Returns (hopped: bool, sign_before: int8, sign_after: int8), the signs of the coordinate that
    decides the neuron's piece at the first point (v_k if pathological, w_k if free).
    """
    split, sign_before = deciding_signs(codes_before, v_before, w_before, d_eff, outputs)
    pathological = np.asarray(codes_before) < 0
    after = np.where(pathological, np.asarray(v_after), 0.0 if w_after is None else np.asarray(w_after))
    sign_after = np.sign(after).astype(np.int8)
    hopped = split & (sign_after != 0) & (sign_after != sign_before)
    if w_after is None:
        hopped &= pathological
    return hopped, sign_before, np.where(split, sign_after, 0).astype(np.int8)


def classify(c: np.ndarray, v_sign: np.ndarray, d_eff: int, outputs: int, scale: np.ndarray, *,
             w_sign: np.ndarray | None = None, activation: str = "relu") -> Classification:
    """Classify a point of parameter space from its c_k, output signs and scale.

    `scale` (per neuron, ||W_k||^2 + ||v_k||^2) sets the tolerance for "balanced" (BALANCED_RTOL).
    `w_sign` (sign of W_k's first entry) names the pieces of free neurons when d_eff = 1.
    """
    c = np.asarray(c, np.float64)
    codes = status_codes(c, scale)
    status = neuron_status(c, scale)
    components, effective = count_components(status, d_eff, outputs, activation)
    _, without_symmetry = count_components(status, d_eff, outputs)
    split, sign = deciding_signs(codes, v_sign, w_sign, d_eff, outputs)
    return Classification(
        c=c,
        status=status,
        v_sign=np.asarray(v_sign, np.int8),
        signs=component_name(codes, split, sign),
        pathological=status.count("pathological"),
        components=components,
        effective_components=effective,
        split_sign=sign,
        topological_only=effective < without_symmetry,
    )


def classify_params(params: Params, activation: str = "relu") -> Classification:
    W = params.incoming
    v = np.asarray(params.output_weight, np.float64)
    return classify(conserved(params), output_sign(v), W.shape[1], v.shape[0], scale_of(params),
                    w_sign=np.sign(W[:, 0]).astype(np.int8), activation=activation)


def rebalance_factors(w2, v2, target):
    """Per-neuron a with a^2 ||W||^2 - ||v||^2 / a^2 = target: (W, v) -> (a W, v / a).

    With A = ||W||^2, B = ||v||^2 and x = a^2, A x^2 - c x - B = 0 has the positive root
    x = (c + s) / (2A) = 2B / (s - c), s = sqrt(c^2 + 4AB). The first form cancels when c < 0 and
    A << |c| (x would round to 0), the second when c > 0 and B << c; each is used on the side
    where it adds two non-negative numbers. So A = 0 with c < 0 (x = B / |c|: W stays 0, v is
    rescaled) and B = 0 with c > 0 (x = c / A) are exact. Where no a exists (A = 0 and c >= 0,
    B = 0 and c <= 0) the neuron is left alone (a = 1). Works on numpy arrays or torch tensors
    (docs/science.md, projected GD).
    """
    torch_like = not isinstance(w2, np.ndarray) and hasattr(w2, "new_tensor")
    where = _torch_where if torch_like else np.where
    hypot = _torch_hypot if torch_like else np.hypot
    s = hypot(target, 2 * (w2 * v2) ** 0.5)  # sqrt(c^2 + 4AB) without overflow in c^2
    positive = target >= 0
    num = where(positive, target + s, 2 * v2)
    den = where(positive, 2 * w2, s - target)
    solvable = den > 0
    x = where(solvable, num / where(solvable, den, 1 + 0 * den), 1 + 0 * den)
    x = where(x > 0, x, 1 + 0 * x)  # B = 0 with c = 0 would give a = 0: no rescaling reaches it
    return x**0.5


def _torch_where(cond, a, b):
    import torch

    return torch.where(cond, a, b)


def _torch_hypot(a, b):
    import torch

    return torch.hypot(a, b)
