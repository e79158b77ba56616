"""The neural correlation function (NCF) of a two-homogeneous network (Kumar & Haupt, 2024).

From a small initialisation, gradient flow on L stays near the origin, where
L(theta) = L(0) - N(theta) + O(||theta||^3) with the NCF

    N(theta) = sum_i <y~_i, f(x_i; theta)> = sum_k <v_k, G(W_k)>,   G(W) = sum_i y~_i sigma(W . x~_i),

y~_i = -dl/df at f = 0 (see `correlation_targets`), x~_i the input with a 1 appended when there is a
hidden bias. The weights grow like exp(2 N* t) while converging in direction to a KKT point of
max N on the unit sphere. At such a point every active neuron is balanced (||W_k|| = ||v_k||), v_k is
parallel to G(W_k), and the unit direction w of W_k is a KKT point of h(w) = ||G(w)|| on
S^{d_eff-1}, all active neurons at the same h = 2 N. With one output h = |g|, so w is a KKT point of
g (v_k > 0) or of -g (v_k < 0).

The homogeneous activations are linear on each side of 0 (slopes `up` for z > 0, `down` for z < 0),
so G is linear on every region of fixed activation pattern. That is what makes the KKT points exact:
a candidate from Riemannian ascent is polished by maximising the linear G on its region's face
(the samples on a kink held at z = 0), and its residual is the distance of the Clarke
subdifferential's tangent part from 0 (sigma'(0) anywhere in [min(up, down), max(up, down)]). With
sigma'(0) = 0 and no sample on a kink this is ||grad g - g(w) w||.

Everything here is float64 numpy; the network and data come from a Config (core.config).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from core.config import Config
from core.errors import UserError
from core.snapshot import Params

# Polishing and acceptance. A sample is on a kink when |w . x~_i| <= tau ||x~_i||; several tau are
# tried, from loose to tight, and the polished point with the smallest residual wins.
KINK_TOLERANCES = (1e-3, 1e-5, 1e-7, 1e-9)
# A polished direction is a KKT point when its residual is below this fraction of the Lipschitz
# scale sum_i ||y~_i|| ||x~_i|| of G (residuals of exact points are ~1e-16 of it).
RESIDUAL_RTOL = 1e-10
# Two KKT directions of the same sign are one when their cosine exceeds 1 - this.
SAME_DIRECTION = 1e-8
# Directions with h(w) at most this fraction of the scale are dead (N = 0), not reported.
DEAD_RTOL = 1e-9
# A neuron is "small" (not yet escaped) when ||theta_k||^2 < SMALL_SHARE * max_j ||theta_j||^2.
SMALL_SHARE = 1e-2
# Steps of the NCF flow between two convergence checks.
CHECK_EVERY = 100


def one_blas_thread(function):
    """Run with one BLAS thread: these products are small (starts x samples x d_eff), and a
    multi-threaded BLAS spends ~10x more CPU on them in hand-offs, more still on a busy machine."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, user_api="blas"):
            return function(*args, **kwargs)

    return wrapper


@dataclass
class Problem:
    """What the NCF depends on: the design x~ (n, d_eff), the targets y~ (n, e), sigma's two slopes."""

    x: np.ndarray
    y_tilde: np.ndarray
    up: float
    down: float
    activation: str = "relu"

    @property
    def d_eff(self) -> int:
        return self.x.shape[1]

    @property
    def outputs(self) -> int:
        return self.y_tilde.shape[1]

    @property
    def scale(self) -> float:
        """sum_i ||y~_i|| ||x~_i||: a Lipschitz constant of G, the unit of values and residuals."""
        return float(np.sum(np.linalg.norm(self.y_tilde, axis=1) * np.linalg.norm(self.x, axis=1)))

    def sigma(self, z: np.ndarray) -> np.ndarray:
        return np.where(z > 0, self.up * z, self.down * z)

    def slope(self, z: np.ndarray) -> np.ndarray:
        """sigma'(z), with sigma'(0) as the training engine has it (relu'(0) = 0, leaky: the slope)."""
        at_zero = {"relu": 0.0, "abs": 0.0, "leaky_relu": self.down, "linear": 1.0}[self.activation]
        return np.where(z > 0, self.up, np.where(z < 0, self.down, at_zero))


def activation_slopes(activation: str, negative_slope: float) -> tuple[float, float]:
    return {"relu": (1.0, 0.0), "leaky_relu": (1.0, negative_slope), "abs": (1.0, -1.0), "linear": (1.0, 1.0)}[activation]


def check_covered(config: Config) -> None:
    """Refuse, in one line, a network the theory does not cover (not two-homogeneous)."""
    m = config.model
    if m.activation in ("tanh", "gelu"):
        raise UserError(f'[model] activation = "{m.activation}": the NCF needs a homogeneous activation '
                        "(relu, leaky_relu, abs or linear)")
    if m.output_bias:
        raise UserError("[model] output_bias = true: the NCF needs a two-homogeneous network (no output bias)")


def correlation_targets(y: np.ndarray, loss: str, outputs: int, f: np.ndarray | None = None) -> np.ndarray:
    """y~_i = -dl/df at f (default f = 0) under relulab's losses (core.model.loss_value): (n, e).

    MSE is the mean over n*e entries without a 1/2: 2 (y_i - f_i) / (n e); BCE with logits and labels
    0/1: (y_i - sigmoid(f_i)) / n; cross-entropy: (onehot_i - softmax(f_i)) / n.
    """
    y = np.asarray(y)
    n = len(y)
    if loss == "cross_entropy":
        target = np.eye(outputs)[np.asarray(y, dtype=np.int64).reshape(n)]
    else:
        target = np.asarray(y, np.float64).reshape(n, -1)
    f = np.zeros_like(target) if f is None else np.asarray(f, np.float64).reshape(target.shape)
    if loss == "mse":
        return 2.0 * (target - f) / target.size
    if loss == "bce":
        return (target - 1.0 / (1.0 + np.exp(-f))) / n
    if loss == "cross_entropy":
        e = np.exp(f - f.max(axis=1, keepdims=True))
        return (target - e / e.sum(axis=1, keepdims=True)) / n
    raise ValueError(loss)


def design(x: np.ndarray, bias: bool) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return np.concatenate([x, np.ones((len(x), 1))], axis=1) if bias else x


def problem_of(config: Config, dataset=None) -> Problem:
    """The NCF problem of a config's network and training data (raises UserError if not covered)."""
    from core.data import load_dataset

    check_covered(config)
    dataset = dataset or load_dataset(config)
    m = config.model
    up, down = activation_slopes(m.activation, m.negative_slope)
    y_tilde = correlation_targets(dataset.y_train, config.train.loss, m.outputs)
    return Problem(design(dataset.x_train, m.bias), y_tilde, up, down, m.activation)


# -- G, h and their gradients for many directions at once ---------------------------------------------

def G(problem: Problem, W: np.ndarray) -> np.ndarray:
    """G(W) for rows W (m, d_eff): (m, e)."""
    return problem.sigma(np.atleast_2d(W) @ problem.x.T) @ problem.y_tilde


def objective(problem: Problem, W: np.ndarray, sign: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(h, grad h) for rows W: h = sign * g with one output and a sign, else ||G||."""
    z = W @ problem.x.T
    g = problem.sigma(z) @ problem.y_tilde
    if sign is not None:
        h = sign * g[:, 0]
        u = np.full((len(W), 1), float(sign))
    else:
        h = np.linalg.norm(g, axis=1)
        u = g / np.maximum(h, 1e-300)[:, None]
    coefficient = (u @ problem.y_tilde.T) * problem.slope(z)  # (m, n): u . y~_i sigma'(z_i)
    return h, coefficient @ problem.x


def unit_rows(W: np.ndarray) -> np.ndarray:
    return W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-300)


def ascend(problem: Problem, W: np.ndarray, sign: float | None, iterations: int = 150,
           first_step: float = 0.5, last_step: float = 1e-7) -> np.ndarray:
    """Riemannian ascent of h on the sphere from every row of W: normalised tangent steps whose
    angle shrinks geometrically from `first_step` to `last_step` (h is only piecewise smooth)."""
    W = unit_rows(np.asarray(W, np.float64))
    ratio = (last_step / first_step) ** (1.0 / max(iterations - 1, 1))
    step = first_step
    for _ in range(iterations):
        _, grad = objective(problem, W, sign)
        tangent = grad - np.sum(grad * W, axis=1, keepdims=True) * W
        norm = np.linalg.norm(tangent, axis=1, keepdims=True)
        W = unit_rows(W + step * tangent / np.maximum(norm, 1e-300))
        step *= ratio
    return W


# -- polishing and the residual ------------------------------------------------------------------------

def _null_space(rows: np.ndarray, d: int) -> np.ndarray:
    """Orthonormal basis (d, r) of {w : rows @ w = 0}."""
    if len(rows) == 0:
        return np.eye(d)
    _, s, vt = np.linalg.svd(rows, full_matrices=True)
    rank = int(np.sum(s > 1e-12 * max(s[0], 1e-300)))
    return vt[rank:].T


def _face_maximum(problem: Problem, w: np.ndarray, sign: float | None, tau: float) -> np.ndarray | None:
    """The maximiser of h over the sphere on the face of w's activation region (samples with
    |z_i| <= tau ||x~_i|| held on their kink), or None if it leaves the region."""
    x, d = problem.x, problem.d_eff
    z = x @ w
    radius = np.linalg.norm(x, axis=1)
    kink = np.abs(z) <= tau * radius
    slopes = np.where(kink, 0.0, np.where(z > 0, problem.up, problem.down))
    A = (problem.y_tilde * slopes[:, None]).T @ x  # (e, d): G(w') = A w' on the face
    basis = _null_space(x[kink], d)
    if basis.shape[1] == 0:
        return None
    if sign is not None:
        b = basis.T @ (sign * A[0])
        if np.linalg.norm(b) == 0:
            return None
        candidate = basis @ (b / np.linalg.norm(b))
    else:
        _, _, vt = np.linalg.svd(A @ basis)
        candidate = basis @ vt[0]
        if candidate @ w < 0:
            candidate = -candidate
    candidate /= np.linalg.norm(candidate)
    zc = x @ candidate
    free = ~kink
    if np.any(np.sign(zc[free]) != np.sign(z[free])) or np.any(np.abs(zc[free]) <= 1e-13 * radius[free]):
        return None
    return candidate


def kkt_residual(problem: Problem, w: np.ndarray, sign: float | None, tau: float = 1e-12) -> float:
    """Distance from 0 of the tangent part of h's Clarke subdifferential at the unit vector w.

    sigma'(z_i) is free in [min(up, down), max(up, down)] for the samples with |z_i| <= tau ||x~_i||;
    with none of those it is ||grad h(w) - h(w) w||.
    """
    from scipy.optimize import lsq_linear

    x = problem.x
    z = x @ w
    kink = np.abs(z) <= tau * np.linalg.norm(x, axis=1)
    g = problem.sigma(z) @ problem.y_tilde
    u = np.array([float(sign)]) if sign is not None else g / max(np.linalg.norm(g), 1e-300)
    weight = problem.y_tilde @ u  # (n,): u . y~_i
    slopes = np.where(kink, 0.0, np.where(z > 0, problem.up, problem.down))
    tangent = np.eye(len(w)) - np.outer(w, w)
    base = tangent @ ((weight * slopes) @ x)
    lo, hi = sorted((problem.up, problem.down))
    if not kink.any() or hi == lo:
        if kink.any():
            base = base + tangent @ ((weight[kink] * lo) @ x[kink])
        return float(np.linalg.norm(base))
    columns = tangent @ (weight[kink][:, None] * x[kink]).T  # (d, |kink|)
    fit = lsq_linear(columns, -base, bounds=(lo, hi), method="bvls")
    return float(np.linalg.norm(base + columns @ fit.x))


def polish(problem: Problem, w: np.ndarray, sign: float | None) -> tuple[np.ndarray, float]:
    """(direction, residual): the best polished KKT candidate near w (w itself if none is better)."""
    best, best_residual = w, kkt_residual(problem, w, sign)
    for tau in KINK_TOLERANCES:
        candidate = _face_maximum(problem, w, sign, tau)
        if candidate is None:
            continue
        residual = kkt_residual(problem, candidate, sign, tau=1e-12)
        if residual < best_residual:
            best, best_residual = candidate, residual
    return best, best_residual


# -- the KKT table -------------------------------------------------------------------------------------

@dataclass
class KKTDirection:
    direction: np.ndarray  # unit W, length d_eff
    sign: int | None  # sign of v (one output)
    v_direction: np.ndarray  # unit v = G(w) / ||G(w)||, length e
    value: float  # N at the normalised point (W, v) / ||(W, v)||: h(w) / 2
    residual: float  # KKT residual (see kkt_residual)
    basin: int = 0  # how many ascent starts ended here

    def to_dict(self) -> dict:
        out = {"direction": [float(a) for a in self.direction], "value": self.value, "residual": self.residual,
               "basin": self.basin}
        if self.sign is not None:
            out["sign"] = self.sign
        else:
            out["v_direction"] = [float(a) for a in self.v_direction]
        return out


@one_blas_thread
def kkt_directions(problem: Problem, starts: int = 64, seed: int = 0, iterations: int = 150,
                   extra_starts: np.ndarray | None = None) -> list[KKTDirection]:
    """The KKT directions of the NCF found by multi-start ascent (on g and -g with one output, on
    ||G|| with several), polished, clustered, sorted by value. Directions with N = 0 (dead
    neurons) and candidates whose residual stays above RESIDUAL_RTOL * scale are dropped."""
    rng = np.random.default_rng(seed)
    W0 = rng.standard_normal((starts, problem.d_eff))
    if extra_starts is not None and len(extra_starts):
        W0 = np.vstack([W0, np.asarray(extra_starts, np.float64).reshape(-1, problem.d_eff)])
    found: list[KKTDirection] = []
    for sign in (1.0, -1.0) if problem.outputs == 1 else (None,):
        for w in ascend(problem, W0, sign, iterations):
            include(problem, found, w, sign)
    found.sort(key=lambda k: (-k.value, -k.basin))
    return found


def include(problem: Problem, table: list[KKTDirection], w: np.ndarray, sign: float | None) -> int:
    """Polish w; if it is a KKT direction, add it to `table` (or count it in its cluster).
    Returns its index in the table, or -1 if it is not a KKT direction with N > 0."""
    if np.linalg.norm(w) == 0:
        return -1
    scale = problem.scale
    w, residual = polish(problem, w / np.linalg.norm(w), sign)
    if residual > RESIDUAL_RTOL * scale:
        return -1
    g = G(problem, w)[0]
    h = float(sign * g[0]) if sign is not None else float(np.linalg.norm(g))
    if h <= DEAD_RTOL * scale:
        return -1
    label = None if sign is None else int(sign)
    v_dir = np.array([float(label)]) if sign is not None else g / h
    for i, k in enumerate(table):
        if k.sign == label and k.direction @ w > 1 - SAME_DIRECTION and k.v_direction @ v_dir > 1 - SAME_DIRECTION:
            k.basin += 1
            if residual < k.residual:
                k.direction, k.residual = w, residual
            return i
    table.append(KKTDirection(w, label, v_dir, h / 2, residual, 1))
    return len(table) - 1


# -- the predicted limit directions --------------------------------------------------------------------

@dataclass
class Prediction:
    """Where each neuron is headed under the NCF flow from the normalised initial point."""

    W: np.ndarray  # (l, d_eff) unit predicted limit direction of each W_k (zero rows for dead ones)
    v: np.ndarray  # (l, e) matching unit direction of v_k
    rate: np.ndarray  # (l,) h at the predicted direction = 2 N*: the neuron grows like exp(rate t)
    kkt: np.ndarray  # (l,) index of the nearest KKT direction of the same sign (-1: none / dead)
    cosine: np.ndarray  # (l,) cosine between the predicted W direction and that KKT direction
    sign0: np.ndarray  # (l,) sign of v_k at initialisation (first entry)
    frozen: np.ndarray  # (l,) bool: c_k(0) <= 0 with one output, so sign(v_k) can never change
    reachable: list[list[int]]  # per neuron, the KKT indices it can reach
    steps: int  # Euler steps integrated
    escape_steps: np.ndarray  # (l,) steps until ||theta_k|| reaches the escape norm (inf: never)

    def neurons(self) -> list[dict]:
        out = []
        for k in range(len(self.rate)):
            index = int(self.kkt[k])
            out.append({
                "kkt": index if index >= 0 else None,
                "cosine": float(self.cosine[k]) if index >= 0 else None,
                "reachable": self.reachable[k],
                "frozen": bool(self.frozen[k]),
                "sign": int(self.sign0[k]),
                "rate": float(self.rate[k]),
                "grows": bool(index >= 0),
                "escape_step": float(self.escape_steps[k]) if np.isfinite(self.escape_steps[k]) else None,
            })
        return out


def ncf_gradient(problem: Problem, W: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """grad N at (W (l, d_eff), V (e, l)): (dN/dW, dN/dV). Neurons do not interact in N."""
    z = W @ problem.x.T  # (l, n)
    dW = ((V.T @ problem.y_tilde.T) * problem.slope(z)) @ problem.x
    dV = (problem.sigma(z) @ problem.y_tilde).T
    return dW, dV


@one_blas_thread
def predict(problem: Problem, W0: np.ndarray, V0: np.ndarray, kkt: list[KKTDirection], step: float = 0.05,
            max_steps: int = 50_000, tol: float = 1e-13, escape_norm: float = 1.0) -> Prediction:
    """Integrate the NCF flow from the initial point (explicit Euler with the given step, i.e. gradient
    ascent on N: the small-initialisation limit of gradient descent with that learning rate).

    N separates over neurons, so each neuron (W_k, v_k) follows its own flow, renormalised every
    step (the field is 1-homogeneous, so renormalising does not change directions). A prediction,
    not a measurement: it is what the theory says gradient flow does as the initial scale -> 0.
    Limits that are KKT directions missing from `kkt` are added to it (the list is re-sorted).
    `escape_steps` counts the steps until ||theta_k|| (from its actual initial size) reaches
    `escape_norm` in this linearised flow, extrapolated at the final rate where the loop ended.
    """
    W = np.asarray(W0, np.float64).copy()
    V = np.asarray(V0, np.float64).copy()
    l = W.shape[0]
    c0 = np.sum(W**2, 1) - np.sum(V**2, 0)
    sign0 = np.sign(V[0]).astype(int)
    norms = np.sqrt(np.sum(W**2, 1) + np.sum(V**2, 0))
    alive = norms > 0
    W[alive] /= norms[alive, None]
    V[:, alive] /= norms[alive]
    with np.errstate(divide="ignore"):
        log_size = np.log(norms)
    target = math.log(escape_norm)
    escape_steps = np.where(log_size >= target, 0.0, np.inf)
    # Stop when the directions no longer move between two checks, or move no less than at the
    # previous check (a neuron whose limit is on a kink zigzags across it at the step's scale).
    before, moved, done = np.concatenate([W, V.T], 1), np.inf, 0
    while done < max_steps:
        dW, dV = ncf_gradient(problem, W, V)
        W += step * dW
        V += step * dV
        norms = np.sqrt(np.einsum("kd,kd->k", W, W) + np.einsum("ek,ek->k", V, V))
        norms[norms == 0] = 1.0
        W /= norms[:, None]
        V /= norms
        done += 1
        log_size += np.log(norms)
        escape_steps[np.isinf(escape_steps) & (log_size >= target)] = done
        if done % CHECK_EVERY == 0:
            now = np.concatenate([W, V.T], 1)
            change = float(np.max(np.linalg.norm(now - before, axis=1)))
            if change <= tol or (done >= 5 * CHECK_EVERY and change > 0.9 * moved):
                break
            before, moved = now, change
    if done:
        rate_per_step = np.log(norms)
        later = np.isinf(escape_steps) & (rate_per_step > 0) & np.isfinite(log_size)
        escape_steps[later] = done + (target - log_size[later]) / rate_per_step[later]
    w_norm = np.linalg.norm(W, axis=1)
    unit_W = np.where(w_norm[:, None] > 0, W / np.maximum(w_norm, 1e-300)[:, None], 0.0)
    v_norm = np.linalg.norm(V, axis=0)
    unit_v = np.where(v_norm > 0, V / np.maximum(v_norm, 1e-300), 0.0).T
    # The neuron's growth rate <v, G(w)> (= h(w) = 2 N* at a KKT point); <= 0: it does not grow.
    rate = np.maximum(np.sum(unit_v * G(problem, unit_W), axis=1), 0.0)
    dead = rate <= DEAD_RTOL * problem.scale
    # The flow's limits are KKT points the ascent may have missed: the table takes them in.
    for j in np.flatnonzero(~dead):
        include(problem, kkt, unit_W[j], float(np.sign(unit_v[j, 0])) if problem.outputs == 1 else None)
    kkt.sort(key=lambda k: (-k.value, -k.basin))
    index, cosine = nearest_kkt(unit_W, unit_v, kkt)
    index[dead] = -1
    frozen = (c0 <= 0) if problem.outputs == 1 else np.zeros(l, bool)
    reachable = [[i for i, k in enumerate(kkt) if not frozen[j] or k.sign == sign0[j]] for j in range(l)]
    escape_steps[dead] = np.inf
    return Prediction(unit_W, unit_v, np.where(dead, 0.0, rate), index, cosine, sign0, frozen, reachable, done,
                      escape_steps)


def nearest_kkt(W: np.ndarray, v: np.ndarray, kkt: list[KKTDirection]) -> tuple[np.ndarray, np.ndarray]:
    """For each row of W (unit, with its v direction), the nearest KKT direction of the same sign
    (one output) or the nearest by cos(W) + cos(v) (several): (index or -1, cosine of W)."""
    l = W.shape[0]
    index = np.full(l, -1)
    cosine = np.full(l, np.nan)
    if not kkt:
        return index, cosine
    D = np.array([k.direction for k in kkt])
    cos_w = W @ D.T  # (l, K)
    if v.shape[1] == 1:
        same = np.sign(v[:, :1]) == np.array([[k.sign for k in kkt]])
        score = np.where(same, cos_w, -np.inf)
    else:
        score = cos_w + v @ np.array([k.v_direction for k in kkt]).T
    for j in range(l):
        if np.isfinite(score[j]).any() and np.linalg.norm(W[j]) > 0:
            index[j] = int(np.argmax(score[j]))
            cosine[j] = float(cos_w[j, index[j]])
    return index, cosine


# -- alignment of a parameter point ----------------------------------------------------------------

@dataclass
class Alignment:
    theta_norm: float
    cosine_predicted: np.ndarray  # (l,) cos(W_k, predicted direction of neuron k)
    nearest: np.ndarray  # (l,) nearest KKT direction (same sign as v_k now), -1: none
    nearest_cosine: np.ndarray  # (l,)
    balance: np.ndarray  # (l,) |c_k| / (||W_k||^2 + ||v_k||^2)


def alignment(W: np.ndarray, V: np.ndarray, kkt: list[KKTDirection], prediction: Prediction | None) -> Alignment:
    """Where the neurons of the point (W (l, d_eff), V (e, l)) stand relative to the NCF's KKT directions."""
    W = np.asarray(W, np.float64)
    V = np.asarray(V, np.float64)
    w2, v2 = np.sum(W**2, 1), np.sum(V**2, 0)
    w_norm = np.sqrt(w2)
    unit_W = W / np.maximum(w_norm, 1e-300)[:, None]
    unit_v = (V / np.maximum(np.sqrt(v2), 1e-300)).T
    nearest, nearest_cos = nearest_kkt(unit_W, unit_v, kkt)
    if prediction is not None:
        cos_pred = np.where(prediction.kkt >= 0, np.sum(unit_W * prediction.W, 1), np.nan)
    else:
        cos_pred = np.full(len(w2), np.nan)
    total = w2 + v2
    balance = np.where(total > 0, np.abs(w2 - v2) / np.maximum(total, 1e-300), np.nan)
    return Alignment(float(np.sqrt(total.sum())), cos_pred, nearest, nearest_cos, balance)


def params_arrays(params: Params) -> tuple[np.ndarray, np.ndarray]:
    return params.incoming, np.asarray(params.output_weight, np.float64)


# -- saddles: the residual NCF --------------------------------------------------------------------------

@dataclass
class Saddle:
    """At a plateau: the residual NCF seen by the small neurons and who escapes next."""

    small: np.ndarray  # (l,) bool, the neurons still near 0
    kkt: list[KKTDirection]  # KKT directions of the residual NCF
    prediction: Prediction  # for the small neurons (rows of the others are meaningless)
    next_neuron: int  # the small neuron predicted to escape next (-1: none can)
    next_kkt: int  # the KKT direction it is headed to
    escape_steps: np.ndarray  # (l,) predicted steps to reach the escape norm (inf: never / not small)


def residual_problem(problem: Problem, y: np.ndarray, loss: str, f: np.ndarray) -> Problem:
    """The NCF of the residuals: y~_i = -dl/df at the current outputs f (n, e)."""
    return Problem(problem.x, correlation_targets(y, loss, problem.outputs, f), problem.up, problem.down,
                   problem.activation)


def network_outputs(problem: Problem, W: np.ndarray, V: np.ndarray) -> np.ndarray:
    """f(x_i) for every training sample: (n, e)."""
    return problem.sigma(problem.x @ np.asarray(W).T) @ np.asarray(V).T


@one_blas_thread
def saddle(problem: Problem, y: np.ndarray, loss: str, W: np.ndarray, V: np.ndarray, step: float = 0.05,
           small: np.ndarray | None = None, escape_norm: float | None = None, starts: int = 32,
           seed: int = 0) -> Saddle:
    """The residual NCF of the grown neurons and its KKT directions for the small ones.

    The small neurons see L(grown + small) = L(grown) - N_res(small) + O(||small||^3), with N_res the
    NCF whose y~ is -dl/df at the grown network's outputs; they escape along its KKT directions.
    The one predicted to escape next is the small neuron whose linearised flow reaches
    `escape_norm` (default: the largest grown neuron's size, or 1) in the fewest steps.
    """
    W = np.asarray(W, np.float64)
    V = np.asarray(V, np.float64)
    size2 = np.sum(W**2, 1) + np.sum(V**2, 0)
    if small is None:
        small = size2 < SMALL_SHARE * size2.max()
    grown = ~small
    f = network_outputs(problem, W[grown], V[:, grown])
    residual = residual_problem(problem, y, loss, f)
    table = kkt_directions(residual, starts=starts, seed=seed, extra_starts=W[small])
    if escape_norm is None:
        escape_norm = math.sqrt(size2[grown].max()) if grown.any() else 1.0
    prediction = predict(residual, W, V, table, step=step, escape_norm=escape_norm)
    escape = np.where(small & (prediction.kkt >= 0), prediction.escape_steps, np.inf)
    nxt = int(np.argmin(escape)) if np.isfinite(escape).any() else -1
    return Saddle(small, table, prediction, nxt, int(prediction.kkt[nxt]) if nxt >= 0 else -1, escape)


# -- everything `relulab ncf` reports ------------------------------------------------------------------

@dataclass
class NCFReport:
    problem: Problem
    kkt: list[KKTDirection]
    prediction: Prediction
    initial: Alignment
    classification: dict = field(default_factory=dict)


@one_blas_thread
def analyse(config: Config, dataset=None, params: Params | None = None, starts: int = 64) -> NCFReport:
    """The KKT table of the config's NCF and the prediction for its initial point."""
    from core.data import load_dataset
    from core.init import initial_params
    from core.invariants import classify_params

    check_covered(config)
    dataset = dataset or load_dataset(config)
    problem = problem_of(config, dataset)
    params = params or initial_params(config, dataset.inputs)
    W0, V0 = params_arrays(params)
    # The initial neurons' own directions are ascent starts too, so each neuron's basin is sampled.
    table = kkt_directions(problem, starts=starts, seed=config.init.seed, extra_starts=W0)
    prediction = predict(problem, W0, V0, table, step=config.train.lr)
    return NCFReport(problem, table, prediction, alignment(W0, V0, table, prediction),
                     classify_params(params).to_dict())
