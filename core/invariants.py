"""Conserved quantities c_k and the topology of the invariant set H(c) (docs/science.md).

Everything here is numpy, so `relulab check`, the session store and the UI never import torch.
"""

from __future__ import annotations

import numpy as np

from core.snapshot import Classification, Params

# |c_k| below this fraction of ||W_k||^2 + ||v_k||^2 counts as balanced (c_k = 0): rounding
# error of a float32 rescaling is ~1e-7, so anything smaller is indistinguishable from zero.
BALANCED_RTOL = 1e-6


def conserved(params: Params) -> np.ndarray:
    """c_k = ||W_k||^2 - ||v_k||^2 per neuron, with the hidden bias inside W_k."""
    w2 = np.sum(params.incoming**2, axis=1)
    v2 = np.sum(np.asarray(params.output_weight, np.float64) ** 2, axis=0)
    return w2 - v2


def output_sign(output_weight: np.ndarray) -> np.ndarray:
    """Sign of v_k; with several outputs, of its first entry (only a label there: connected)."""
    return np.sign(np.asarray(output_weight)[0]).astype(np.int8)


def neuron_status(c: np.ndarray, scale: np.ndarray | None = None) -> list[str]:
    """pathological (c < 0), balanced (c ~ 0) or free (c > 0) per neuron."""
    c = np.asarray(c, np.float64)
    tol = BALANCED_RTOL * (np.abs(c) if scale is None else np.asarray(scale, np.float64))
    return np.where(np.abs(c) <= tol, "balanced", np.where(c < 0, "pathological", "free")).tolist()


def pieces(status: str, d_eff: int, outputs: int) -> int:
    """Connected components of one quadric Q(c): c>0 is S^{d_eff-1} x R^e, c<0 is R^{d_eff} x S^{e-1}."""
    if status == "pathological":
        return 2 if outputs == 1 else 1
    if status == "free":
        return 2 if d_eff == 1 else 1
    return 1  # the cone c = 0 is connected through the origin


def count_components(status: list[str], d_eff: int, outputs: int) -> tuple[int, int]:
    """(components, effective components) of H(c) = prod_k Q(c_k).

    Components multiply over neurons. Up to permutation and rescaling (which keeps the sign of
    c_k), neurons of one kind with two pieces each are interchangeable, so what distinguishes two
    components is how many of those neurons sit on their positive piece: n + 1 classes per kind.
    """
    components = 1
    split = {"pathological": 0, "free": 0}
    for s in status:
        n = pieces(s, d_eff, outputs)
        components *= n
        if n == 2:
            split[s] += 1
    effective = (split["pathological"] + 1) * (split["free"] + 1)
    return components, effective


def sign_string(v_sign: np.ndarray, status: list[str]) -> str:
    """The component's name: the signs of v_k over the pathological neurons, e.g. "+-"."""
    return "".join("+" if s >= 0 else "-" for s, st in zip(v_sign, status) if st == "pathological")


def classify(c: np.ndarray, v_sign: np.ndarray, d_eff: int, outputs: int, scale: np.ndarray | None = None) -> Classification:
    """Classify a point of parameter space from its c_k and output signs.

    `scale` (per neuron, ||W_k||^2 + ||v_k||^2) sets the tolerance for "balanced"; without it
    only an exact zero is balanced.
    """
    c = np.asarray(c, np.float64)
    status = neuron_status(c, scale if scale is not None else np.zeros_like(c))
    components, effective = count_components(status, d_eff, outputs)
    return Classification(
        c=c,
        status=status,
        v_sign=np.asarray(v_sign, np.int8),
        signs=sign_string(v_sign, status),
        pathological=status.count("pathological"),
        components=components,
        effective_components=effective,
    )


def classify_params(params: Params) -> Classification:
    W = params.incoming
    v = np.asarray(params.output_weight, np.float64)
    scale = np.sum(W**2, axis=1) + np.sum(v**2, axis=0)
    return classify(conserved(params), output_sign(v), W.shape[1], v.shape[0], scale)


def rebalance_factors(w2: np.ndarray, v2: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-neuron a with a^2 ||W||^2 - ||v||^2 / a^2 = target: (W, v) -> (a W, v / a).

    a^2 = (c + sqrt(c^2 + 4 A B)) / (2 A) with A = ||W||^2, B = ||v||^2 (docs/science.md, projected GD).
    Works on numpy arrays or torch tensors alike. A dead neuron (A = 0) is left alone.
    """
    safe = w2 + (w2 == 0)
    a2 = (target + (target * target + 4 * w2 * v2) ** 0.5) / (2 * safe)
    a2 = a2 * (w2 != 0) + (w2 == 0)
    return a2**0.5
