"""Level-set connectivity between two parameter points: Freeman & Bruna's dynamic string sampling.

Given A and B of one architecture (same data, same loss) and a level L0 above both losses, look
for a path from A to B along which the loss stays below L0:

1. Start from the chain [A, B]. Evaluate the loss on K points of every segment.
2. A segment above L0 gets a bead: the interpolant at its worst point, descended by gradient
   descent until its loss is below alpha * L0 (alpha < 1; a bead stuck at a saddle, where the
   gradient vanishes above the target, is perturbed). All pending beads descend as one batch.
3. A chain whose segments all pass on K points is verified on a 4x finer grid; a segment that
   fails there gets a bead at its fine-grid worst point.
4. Stop when every segment passes (connected) or when the bead or step budget is spent (not
   found: a success certifies a connection, a failure does not certify its absence).

In the invariant space (`space = "invariant"`) every interpolant and every descent step is
projected onto H(c) with the function-preserving rescaling (W_k, v_k) -> (a W_k, v_k / a), so the
chain never leaves H(c). Two points in different components of H(c) cannot be joined there: a
split neuron's deciding coordinate would have to pass through 0, where no rescaling reaches c_k.
The answer is then "crosses a gap of H(c)", with the neurons that differ.

Everything is computed in float64: the level sets of interest are thin.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from core.config import Config, replace
from core.data import Dataset
from core.errors import UserError
from core.invariants import conserved, rebalance_factors, scale_of, split_signs, status_codes
from core.model import Weights, backward, forward, loss_and_grad
from core.snapshot import Params
from core.train import Sweep, resolve_device, threads_for

SPACES = ("full", "invariant")
GAP = "crosses a gap of H(c)"
SADDLE_GRAD = 1e-10  # a gradient this small above the target is a critical point: perturb
SADDLE_NOISE = 1e-3  # perturbation size, relative to the point's root-mean-square entry
SAME_C_RTOL = 1e-6
STOP_CHECK = 100  # descent steps between two looks at the stop event  # c_k of A and B agree to this fraction of ||W_k||^2 + ||v_k||^2


class Interrupted(Exception):
    """The caller's stop event was set between two rounds."""


@dataclass
class ConnectSettings:
    """How hard to look. `level` wins over `level_factor` (L0 = factor * max(L(A), L(B)))."""

    level: float | None = None
    level_factor: float = 1.2
    space: str = "full"
    align: bool = True
    max_beads: int = 64
    steps: int = 2000  # gradient steps per bead descent
    lr: float = 0.05
    points: int = 16  # K: loss evaluations per segment; verification uses 4 K
    alpha: float = 0.8  # beads descend below alpha * L0
    seed: int = 0  # of the saddle perturbations
    batched: bool = True  # descend a round's beads together (False: one at a time, for the bench)

    def check(self) -> None:
        if self.level is not None and not (self.level > 0 and math.isfinite(self.level)):
            raise UserError(f"level = {self.level}: must be a number > 0")
        if not (self.level_factor > 0 and math.isfinite(self.level_factor)):
            raise UserError(f"level factor = {self.level_factor}: must be a number > 0")
        if self.space not in SPACES:
            raise UserError(f"space = {self.space!r}: must be one of {', '.join(SPACES)}")
        if self.max_beads < 0:
            raise UserError(f"max beads = {self.max_beads}: must be an integer >= 0")
        if self.steps < 1:
            raise UserError(f"steps = {self.steps}: must be an integer >= 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UserError(f"lr = {self.lr}: must be a number > 0")
        if self.points < 2:
            raise UserError(f"points = {self.points}: must be an integer >= 2")
        if not 0 < self.alpha < 1:
            raise UserError(f"alpha = {self.alpha}: must be between 0 and 1 (exclusive)")


@dataclass
class Gap:
    """A split neuron whose deciding coordinate has opposite signs at the two ends of a segment."""

    neuron: int
    coordinate: str  # "v_k" (pathological, one output) or "w_k" (free, d_eff = 1)
    at_a: float
    at_b: float
    position: float  # where the straight segment crosses 0, as a fraction of the way from A to B

    def to_dict(self) -> dict:
        return {"neuron": self.neuron, "coordinate": self.coordinate, "at_a": self.at_a, "at_b": self.at_b,
                "position": self.position}


@dataclass
class Connection:
    """What string sampling found. Positions are fractions of the chain's length, 0 at A, 1 at B."""

    connected: bool
    reason: str
    space: str
    level: float
    loss_a: float
    loss_b: float
    max_loss: float  # the highest loss seen on the (best) chain's fine grid
    barrier: float  # max_loss - max(loss_a, loss_b)
    path_length: float
    distance: float  # ||B - A||, B aligned
    unaligned_distance: float
    normalized_length: float  # path_length / distance (1 when A = B)
    aligned: bool
    permutation: list[int]  # B's neuron permutation[k] sits at A's neuron k; identity without alignment
    bead_points: np.ndarray  # (beads, P) the beads, flat, in chain order
    bead_loss: np.ndarray  # (beads,)
    bead_positions: np.ndarray  # (beads,)
    profile_position: np.ndarray  # (points,)
    profile_loss: np.ndarray  # (points,)
    profile_c: np.ndarray | None  # (points, l) c_k along the chain, for networks
    gaps: list[Gap] = field(default_factory=list)
    rounds: int = 0
    descent_steps: int = 0  # gradient evaluations spent on beads, all beads together
    seconds: float = 0.0

    @property
    def beads(self) -> int:
        return len(self.bead_loss)

    def to_dict(self) -> dict:
        """The JSON of `relulab connect --json` (profile as [position, loss] pairs)."""
        return {
            "connected": self.connected, "reason": self.reason, "space": self.space, "level": self.level,
            "loss_a": self.loss_a, "loss_b": self.loss_b, "max_loss": self.max_loss, "barrier": self.barrier,
            "path_length": self.path_length, "distance": self.distance,
            "unaligned_distance": self.unaligned_distance, "normalized_length": self.normalized_length,
            "beads": self.beads, "bead_positions": [float(p) for p in self.bead_positions],
            "bead_loss": [float(x) for x in self.bead_loss],
            "profile": [[float(p), float(x)] for p, x in zip(self.profile_position, self.profile_loss)],
            "aligned": self.aligned, "permutation": list(self.permutation),
            "gaps": [g.to_dict() for g in self.gaps], "rounds": self.rounds, "descent_steps": self.descent_steps,
        }


class Landscape:
    """A loss over flat parameter vectors, evaluated for N points at once ((N, P) float64 tensors).

    Subclasses give `loss_and_grad`; the invariant-space ones also `project`, `hops` and `gaps`.
    """

    def loss_and_grad(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def losses(self, points: torch.Tensor) -> torch.Tensor:
        return self.loss_and_grad(points)[0]

    def project(self, points: torch.Tensor) -> torch.Tensor:
        """The point of the constraint set for each point (identity in the full space)."""
        return points

    def hops(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        """(N,) bool: a step that left the component (never, in the full space)."""
        return torch.zeros(before.shape[0], dtype=torch.bool, device=before.device)

    def gaps(self, a: torch.Tensor, b: torch.Tensor) -> list[Gap]:
        """The gaps a straight segment from a to b crosses (none in the full space)."""
        return []

    def conserved(self, points: torch.Tensor) -> torch.Tensor | None:
        """(N, l) c_k of each point, for networks."""
        return None


class NetworkLandscape(Landscape):
    """The train loss of a shallow network (config's architecture, data and loss), through the
    batched engine: N points are N networks of one Sweep, their loss and gradient one pass.

    Flat layout: W (l, d_eff) row by row (the hidden bias last in each row), then V (e, l), then the
    output bias (e,) when there is one. `c` (l,) makes it the invariant space H(c).
    """

    def __init__(self, config: Config, dataset: Dataset, example: Params, device: torch.device | str = "cpu",
                 c: np.ndarray | None = None):
        config = replace(config, "train", "connect", dtype="float64", optimizer="gd", batch_size=None,
                         weight_decay=0.0)
        train_only = Dataset(dataset.name, dataset.x_train, dataset.y_train, None, None)
        self.sweep = Sweep(config, [example], train_only, torch.device(device))
        self.device = self.sweep.device
        _, self.l, self.d_eff = self.sweep.w.W.shape
        self.e = self.sweep.w.V.shape[1]
        self.has_bias = self.sweep.w.o is not None
        self.size = self.l * self.d_eff + self.e * self.l + (self.e if self.has_bias else 0)
        self.c = None if c is None else torch.as_tensor(c, dtype=torch.float64, device=self.device)
        self.split = None if c is None else split_coordinates(example, np.asarray(c, np.float64))

    # -- layout ---------------------------------------------------------------------------------

    def flatten(self, params: Params) -> torch.Tensor:
        parts = [params.incoming.ravel(), np.asarray(params.output_weight, np.float64).ravel()]
        if self.has_bias:
            parts.append(np.asarray(params.output_bias, np.float64).ravel())
        return torch.as_tensor(np.concatenate(parts), dtype=torch.float64, device=self.device)

    def weights(self, points: torch.Tensor) -> Weights:
        n, l, d, e = points.shape[0], self.l, self.d_eff, self.e
        W = points[:, :l * d].reshape(n, l, d).contiguous()
        V = points[:, l * d:l * d + e * l].reshape(n, e, l).contiguous()
        o = points[:, l * d + e * l:].reshape(n, e).contiguous() if self.has_bias else None
        return Weights(W, V, o)

    def flat(self, w: Weights) -> torch.Tensor:
        n = w.W.shape[0]
        return torch.cat([t.reshape(n, -1) for t in w.tensors()], dim=1)

    def params(self, point: torch.Tensor, bias: bool) -> Params:
        w = self.weights(point[None])
        W = w.W[0].cpu().numpy()
        return Params(W[:, :-1] if bias else W, W[:, -1] if bias else None, w.V[0].cpu().numpy(),
                      None if w.o is None else w.o[0].cpu().numpy())

    # -- loss -----------------------------------------------------------------------------------

    def loss_and_grad(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, w = self.sweep, self.weights(points)
        fw = forward(w, s.x, s.activation, s.slope)
        value, grad_out = loss_and_grad(fw.out, s.y, s.loss, n=s.n)
        return value, self.flat(backward(w, s.x, fw, grad_out, s.activation, s.slope))

    def losses(self, points: torch.Tensor) -> torch.Tensor:
        return self.sweep.evaluate(self.weights(points))["train_loss"]

    def conserved(self, points: torch.Tensor) -> torch.Tensor:
        return self.weights(points).conserved()

    # -- the invariant space --------------------------------------------------------------------

    def project(self, points: torch.Tensor) -> torch.Tensor:
        if self.c is None:
            return points
        w = self.weights(points)
        a = rebalance_factors(w.incoming_sq(), w.outgoing_sq(), self.c[None, :])
        return self.flat(Weights(w.W * a[:, :, None], w.V / a[:, None, :], w.o))

    def deciding(self, points: torch.Tensor) -> torch.Tensor:
        """(N, l) each neuron's deciding coordinate (v_k or w_k; 0 for a neuron that is not split)."""
        w = self.weights(points)
        out = torch.zeros(points.shape[0], self.l, dtype=points.dtype, device=points.device)
        for k, coordinate in self.split.items():
            out[:, k] = w.V[:, 0, k] if coordinate == "v_k" else w.W[:, k, 0]
        return out

    def hops(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        if self.c is None or not self.split:
            return super().hops(before, after)
        return (torch.sign(self.deciding(before)) != torch.sign(self.deciding(after))).any(dim=1)

    def gaps(self, a: torch.Tensor, b: torch.Tensor) -> list[Gap]:
        if self.c is None or not self.split:
            return []
        xa, xb = self.deciding(a[None])[0].tolist(), self.deciding(b[None])[0].tolist()
        return [Gap(k, self.split[k], xa[k], xb[k], xa[k] / (xa[k] - xb[k]) if xa[k] != xb[k] else 0.0)
                for k in sorted(self.split) if not (xa[k] > 0 and xb[k] > 0) and not (xa[k] < 0 and xb[k] < 0)]


def split_coordinates(example: Params, c: np.ndarray) -> dict[int, str]:
    """The neurons whose quadric Q(c_k) has two pieces, and the coordinate whose sign names the
    piece: v_k for a pathological neuron with one output, w_k for a free neuron with d_eff = 1."""
    split, _ = split_signs(example, c)
    codes = status_codes(c, scale_of(example))
    return {int(k): ("v_k" if codes[k] < 0 else "w_k") for k in np.nonzero(split)[0]}


# -- symmetry alignment ---------------------------------------------------------------------------

def neuron_vectors(params: Params) -> np.ndarray:
    """(l, d_eff + e): each neuron's (W_k, v_k)."""
    return np.concatenate([params.incoming, np.asarray(params.output_weight, np.float64).T], axis=1)


def permute(params: Params, permutation: list[int]) -> Params:
    p = np.asarray(permutation)
    return Params(
        np.asarray(params.hidden_weight)[p], None if params.hidden_bias is None else np.asarray(params.hidden_bias)[p],
        np.asarray(params.output_weight)[:, p], params.output_bias,
    )


def align(a: Params, b: Params, same_c: bool = False) -> list[int]:
    """The permutation of B's neurons closest to A's (Hungarian matching on ||(W, v)_A,k - (W, v)_B,j||^2).

    With `same_c`, only neurons with equal c_k may be matched (the invariant space keeps c_k);
    no such matching is a UserError naming the neurons.
    """
    va, vb = neuron_vectors(a), neuron_vectors(b)
    cost = ((va[:, None, :] - vb[None, :, :]) ** 2).sum(-1)
    if same_c:
        ca, cb = conserved(a), conserved(b)
        scale = np.maximum((va**2).sum(1)[:, None], (vb**2).sum(1)[None, :])
        forbidden = np.abs(ca[:, None] - cb[None, :]) > SAME_C_RTOL * scale
        cost = np.where(forbidden, cost.max(initial=0.0) * 1e6 + 1e6, cost)
    rows, cols = linear_sum_assignment(cost)
    permutation = [int(j) for j in cols[np.argsort(rows)]]
    if same_c:
        check_same_c(a, permute(b, permutation))
    return permutation


def check_same_c(a: Params, b: Params) -> None:
    """The invariant space needs A and B on one H(c): a UserError naming the first neuron that differs."""
    ca, cb = conserved(a), conserved(b)
    scale = np.maximum(scale_of(a), scale_of(b))
    bad = np.nonzero(np.abs(ca - cb) > SAME_C_RTOL * scale)[0]
    if len(bad):
        k = int(bad[0])
        raise UserError(
            f"--space invariant: A and B do not share c (neuron {k}: c_k = {ca[k]:.6g} in A, {cb[k]:.6g} in B"
            f"{f', and {len(bad) - 1} more' if len(bad) > 1 else ''}); they lie on different invariant sets "
            "(train with optimizer projected_gd to keep c, or use --space full)")


# -- string sampling ------------------------------------------------------------------------------

def descend(landscape: Landscape, points: torch.Tensor, target: float, settings: ConnectSettings,
            rng: torch.Generator, stop: threading.Event | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """GD on every point until its loss is below `target` (or `settings.steps` are spent).

    Returns (points, losses, gradient evaluations). A point that reached the target stops moving;
    a step that would leave its component of H(c) is taken back and the point's lr halved; a point
    at a critical point above the target is nudged by a small random perturbation.
    """
    if not settings.batched and points.shape[0] > 1:
        parts = [descend(landscape, points[i:i + 1], target, settings, rng, stop) for i in range(points.shape[0])]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]), sum(p[2] for p in parts)
    x = points.clone()
    lr = torch.full((x.shape[0], 1), settings.lr, dtype=x.dtype, device=x.device)
    evaluations = 0
    for step in range(settings.steps):
        if stop is not None and step % STOP_CHECK == 0 and stop.is_set():
            raise Interrupted("stopped")
        loss, grad = landscape.loss_and_grad(x)
        evaluations += x.shape[0]
        active = (loss >= target) | ~torch.isfinite(loss)
        if not active.any():
            return x, loss, evaluations
        moved = landscape.project(x - lr * grad * active[:, None])
        hopped = landscape.hops(x, moved)
        if hopped.any():
            lr[hopped] /= 2
            moved[hopped] = x[hopped]
        stuck = active & ~hopped & (grad.norm(dim=1) < SADDLE_GRAD)
        if stuck.any():
            rms = x[stuck].pow(2).mean(dim=1, keepdim=True).sqrt() + 1e-6
            noise = torch.randn(x[stuck].shape, generator=rng, dtype=x.dtype).to(x.device)
            nudged = landscape.project(x[stuck] + SADDLE_NOISE * rms * noise)
            keep = ~landscape.hops(x[stuck], nudged)
            moved[stuck] = torch.where(keep[:, None], nudged, x[stuck])
        x = moved
    return x, landscape.losses(x), evaluations


def segment_points(a: torch.Tensor, b: torch.Tensor, count: int, landscape: Landscape) -> torch.Tensor:
    """count + 1 points from a to b (both included), evenly spaced, projected."""
    t = torch.linspace(0.0, 1.0, count + 1, dtype=a.dtype, device=a.device)[:, None]
    return landscape.project((1 - t) * a[None] + t * b[None])


@dataclass
class Segment:
    start: torch.Tensor
    end: torch.Tensor
    verified: bool = False  # passed on the fine grid


def scan(landscape: Landscape, segments: list[Segment], count: int) -> tuple[list[float], list[torch.Tensor]]:
    """Max loss and worst interior point of each segment on `count` + 1 points, all in one batch."""
    if not segments:
        return [], []
    grids = [segment_points(s.start, s.end, count, landscape) for s in segments]
    losses = landscape.losses(torch.cat(grids)).reshape(len(segments), count + 1)
    losses = torch.nan_to_num(losses, nan=math.inf)
    interior = losses[:, 1:-1]
    worst = interior.argmax(dim=1) + 1
    return losses.max(dim=1).values.tolist(), [grids[i][int(worst[i])] for i in range(len(segments))]


def connect_points(landscape: Landscape, a: torch.Tensor, b: torch.Tensor, settings: ConnectSettings, *,
                   stop: threading.Event | None = None, unaligned_distance: float | None = None,
                   permutation: list[int] | None = None, aligned: bool = False,
                   progress: Callable[[str], None] | None = None) -> Connection:
    """Dynamic string sampling from a to b on `landscape` (flat float64 points of one shape).
    `progress` hears one line per round."""
    settings.check()
    started = time.perf_counter()
    ends = landscape.losses(torch.stack([a, b])).tolist()
    loss_a, loss_b = ends
    level = settings.level if settings.level is not None else settings.level_factor * max(loss_a, loss_b)
    if not (loss_a < level and loss_b < level):
        how = "" if settings.level is not None else f" (= level factor {settings.level_factor:g} x max(L(A), L(B)); give a level)"
        raise UserError(f"level {level:.6g}{how}: must lie above both end points' losses "
                        f"(L(A) = {loss_a:.6g}, L(B) = {loss_b:.6g})")
    distance = float((b - a).norm())
    space = "invariant" if isinstance(landscape, NetworkLandscape) and landscape.c is not None else "full"
    permutation = permutation if permutation is not None else []
    rng = torch.Generator().manual_seed(settings.seed)
    fine = 4 * settings.points
    chain = [Segment(a, b)]
    gaps = landscape.gaps(a, b)
    rounds = evaluations = beads = 0
    reason = ""
    connected = False
    bead_loss: dict[int, float] = {}  # id(point) -> loss after descent
    while not gaps:
        if stop is not None and stop.is_set():
            raise Interrupted("stopped")
        todo = [s for s in chain if not s.verified]
        coarse_max, coarse_worst = scan(landscape, todo, settings.points)
        failing = {id(s): w for s, m, w in zip(todo, coarse_max, coarse_worst) if m >= level}
        passing = [s for s in todo if id(s) not in failing]
        fine_max, fine_worst = scan(landscape, passing, fine)
        for s, m, w in zip(passing, fine_max, fine_worst):
            if m >= level:
                failing[id(s)] = w
            else:
                s.verified = True
        if not failing:
            connected, reason = True, f"every segment stays below the level (verified on {fine + 1} points each)"
            break
        room = settings.max_beads - beads
        if room <= 0:
            reason = f"not found within budget: the bead budget ({settings.max_beads}) is spent"
            break
        order = [i for i, s in enumerate(chain) if id(s) in failing][:room]
        if progress is not None:
            progress(f"round {rounds + 1}: {len(failing)} of {len(chain)} segments reach L0 = {level:.6g}; "
                     f"descending {len(order)} bead(s), {beads} placed so far")
        starts = torch.stack([failing[id(chain[i])] for i in order])
        descended, losses, spent = descend(landscape, starts, settings.alpha * level, settings, rng, stop)
        evaluations += spent
        rounds += 1
        stuck = [j for j, x in enumerate(losses.tolist()) if not x < level]
        for j in reversed(range(len(order))):
            if j in stuck:
                continue
            i = order[j]
            bead = descended[j]
            bead_loss[id(bead)] = float(losses[j])
            old = chain[i]
            chain[i:i + 1] = [Segment(old.start, bead), Segment(bead, old.end)]
            beads += 1
        if stuck:
            reason = (f"not found within budget: {len(stuck)} bead(s) stayed above the level after "
                      f"{settings.steps} descent steps (lowest {float(losses[stuck].min()):.6g})")
            break
    if gaps:
        names = ", ".join(f"neuron {g.neuron} ({g.coordinate}: {g.at_a:+.4g} in A, {g.at_b:+.4g} in B)" for g in gaps)
        reason = f"{GAP}: {names}"
    profile = chain_profile(landscape, chain, fine, space)
    positions, losses, c, length, bead_positions = profile
    max_loss = float(np.max(losses))
    points = [s.end for s in chain[:-1]]
    return Connection(
        connected=connected, reason=reason, space=space, level=float(level), loss_a=float(loss_a),
        loss_b=float(loss_b), max_loss=max_loss, barrier=max_loss - max(loss_a, loss_b), path_length=length,
        distance=distance, unaligned_distance=distance if unaligned_distance is None else unaligned_distance,
        normalized_length=length / distance if distance > 0 else 1.0, aligned=aligned, permutation=permutation,
        bead_points=torch.stack(points).cpu().numpy() if points else np.zeros((0, a.shape[0])),
        bead_loss=np.array([bead_loss[id(p)] for p in points]), bead_positions=bead_positions,
        profile_position=positions, profile_loss=losses, profile_c=c, gaps=gaps, rounds=rounds,
        descent_steps=evaluations, seconds=time.perf_counter() - started,
    )


def chain_profile(landscape: Landscape, chain: list[Segment], count: int, space: str):
    """(positions, losses, c or None, length, bead positions) along the chain on `count` + 1
    points per segment. In the full space a segment's length is its chord; in the invariant space
    it is the length of the projected (curved) polyline."""
    grids = [segment_points(s.start, s.end, count, landscape) for s in chain]
    if space == "full":
        lengths = [float((s.end - s.start).norm()) for s in chain]
        steps = [torch.full((count,), lengths[i] / count, dtype=torch.float64) for i in range(len(chain))]
    else:
        steps = [(g[1:] - g[:-1]).norm(dim=1).cpu() for g in grids]
        lengths = [float(st.sum()) for st in steps]
    total = sum(lengths)
    along = torch.cat([torch.zeros(1, dtype=torch.float64)] + [st for st in steps]).cumsum(0)
    points = torch.cat([grids[0][:1]] + [g[1:] for g in grids])
    losses = landscape.losses(points).cpu().numpy().astype(np.float64)
    c = landscape.conserved(points)
    position = (along / total).numpy() if total > 0 else np.linspace(0.0, 1.0, len(along))
    bead_positions = position[[count * (i + 1) for i in range(len(chain) - 1)]]
    return position, losses, None if c is None else c.cpu().numpy(), total, bead_positions


def connect(config: Config, dataset: Dataset, a: Params, b: Params, settings: ConnectSettings | None = None, *,
            device: str = "cpu", stop: threading.Event | None = None,
            progress: Callable[[str], None] | None = None) -> Connection:
    """Connect two networks of `config`'s architecture on `dataset` (see the module docstring)."""
    settings = settings or ConnectSettings()
    settings.check()
    check_shapes(a, b)
    dev = resolve_device(device)
    unaligned = float(np.linalg.norm(flat_params(b) - flat_params(a)))
    invariant = settings.space == "invariant"
    permutation = align(a, b, same_c=invariant) if settings.align else list(range(a.output_weight.shape[1]))
    b = permute(b, permutation)
    if invariant:
        check_same_c(a, b)
    c = conserved(a) if invariant else None
    landscape = NetworkLandscape(config, dataset, a, dev, c)
    with threads_for(landscape.size * dataset.x_train.shape[0]):
        pa, pb = landscape.flatten(a), landscape.flatten(b)
        return connect_points(landscape, pa, pb, settings, stop=stop, unaligned_distance=unaligned,
                              permutation=permutation, aligned=settings.align, progress=progress)


def flat_params(p: Params) -> np.ndarray:
    parts = [p.incoming.ravel(), np.asarray(p.output_weight, np.float64).ravel()]
    if p.output_bias is not None:
        parts.append(np.asarray(p.output_bias, np.float64).ravel())
    return np.concatenate(parts)


def check_shapes(a: Params, b: Params) -> None:
    for name in ("hidden_weight", "hidden_bias", "output_weight", "output_bias"):
        x, y = getattr(a, name), getattr(b, name)
        if (x is None) != (y is None) or (x is not None and np.shape(x) != np.shape(y)):
            shape = lambda v: "absent" if v is None else "x".join(map(str, np.shape(v)))  # noqa: E731
            raise UserError(f"A and B have different architectures: {name} is {shape(x)} in A, {shape(y)} in B")
