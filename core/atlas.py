"""The component atlas: the lowest loss each effective component of H(c) reaches, and what the
component a run is trapped in costs it (the obstruction gap).

A neuron's quadric Q(c_k) has two pieces when it is *split*: a pathological neuron (c_k < 0) with
one output (the sign of v_k decides the piece), or a free neuron (c_k > 0) with one incoming
weight and no bias (d_eff = 1, the sign of w_k decides). Up to permuting neurons, a component of
H(c) = prod_k Q(c_k) is told by how many split neurons of each kind sit on their positive piece.
Pieces that the activation's own symmetry maps onto each other (linear: (W, v) -> (-W, -v); abs:
W -> -W) compute the same functions, so they do not make separate effective components.

For each effective component, `restarts` starting points are drawn inside it (each neuron on its
own quadric, the deciding coordinate's sign fixed where the component fixes it) and all of them,
plus a rebalanced reference (every c_k replaced by |c_k|), are trained as one batched sweep by
projected GD, which keeps every member on its quadric. A member whose deciding sign changes at any
step has hopped: it is counted and left out of its component's numbers.

No terminal and no files here: lab/cli/atlas.py and lab/screens/atlas_screen.py show an atlas,
lab/views/atlas.py draws it, the session store keeps it. Enumerating and drawing are numpy; torch
is imported only to train, so `relulab` can register the command without it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from core import invariants
from core.config import HOMOGENEOUS, Config, replace
from core.data import Dataset, load_dataset
from core.errors import UserError
from core.init import initial_params
from core.invariants import EVEN_ACTIVATIONS, ODD_ACTIVATIONS, classify_params, scale_of, status_codes
from core.snapshot import Params

if TYPE_CHECKING:
    from core.train import Sweep

DEFAULT_RESTARTS = 32
DEFAULT_MAX_COMPONENTS = 32
MAX_MEMBERS = 200_000  # networks in one sweep: far beyond any sensible atlas, a guard against typos

Progress = Callable[[int, int], None]  # (steps done, steps in all)


@dataclass
class Split:
    """Which neurons' quadrics have two pieces, and which of those splits the function can see."""

    c: np.ndarray  # (l,) the c_k the atlas is drawn for
    codes: np.ndarray  # (l,) -1 pathological, 0 balanced, +1 free (core.invariants.status_codes)
    d_eff: int
    outputs: int
    pathological: list[int]  # split pathological neurons (outputs = 1): the sign of v_k decides
    free: list[int]  # split free neurons (d_eff = 1): the sign of w_k decides
    pathological_matters: bool  # False for an odd activation: (W_k, v_k) -> (-W_k, -v_k) keeps f
    free_matters: bool  # False for odd and even activations: W_k -> -W_k keeps f (up to v's sign)

    @property
    def status(self) -> list[str]:
        return [{-1: "pathological", 0: "balanced", 1: "free"}[int(k)] for k in self.codes]

    @property
    def components(self) -> int:
        """Connected components of H(c): every split neuron doubles them."""
        return 2 ** (len(self.pathological) + len(self.free))

    @property
    def effective(self) -> int:
        """Components up to permuting neurons and the activation's symmetries."""
        n = len(self.pathological) + 1 if self.pathological_matters else 1
        m = len(self.free) + 1 if self.free_matters else 1
        return n * m


def split_neurons(c: np.ndarray, d_eff: int, outputs: int, activation: str, scale: np.ndarray | None = None) -> Split:
    """The split neurons of H(c), by the one balanced rule of core.invariants relative to `scale`
    (||W_k||^2 + ||v_k||^2); without a scale only an exact zero is balanced."""
    c = np.asarray(c, np.float64)
    codes = status_codes(c, np.zeros_like(c) if scale is None else scale)
    split, _ = invariants.deciding_signs(codes, np.ones_like(c), np.ones_like(c), d_eff, outputs)
    return Split(
        c=c, codes=codes, d_eff=d_eff, outputs=outputs,
        pathological=[int(k) for k in np.flatnonzero(split & (codes < 0))],
        free=[int(k) for k in np.flatnonzero(split & (codes > 0))],
        pathological_matters=activation not in ODD_ACTIVATIONS,
        free_matters=activation not in ODD_ACTIVATIONS + EVEN_ACTIVATIONS,
    )


def points_signs(W: np.ndarray, V: np.ndarray, split: Split) -> np.ndarray:
    """(N, l) sign of each split neuron's deciding coordinate (v_k or w_k) at N points, 0 for
    unsplit neurons (core.invariants.deciding_signs against the split of H(c)).

    W: (N, l, d_eff), V: (N, e, l)."""
    codes = np.broadcast_to(split.codes, W.shape[:2])
    _, signs = invariants.deciding_signs(codes, V[:, 0, :], W[:, :, 0], split.d_eff, split.outputs)
    return signs


def component_name(signs: np.ndarray, split: Split) -> str:
    """One point's component in relulab's notation (core.invariants.component_name): "+-", "+-/+"."""
    return invariants.component_name(split.codes, signs != 0, signs)


@dataclass(frozen=True)
class ComponentClass:
    """An effective component: how many split neurons of each kind sit on their positive piece."""

    positive: int | None  # split pathological neurons with v_k > 0 (None when that split does not matter)
    free_positive: int | None  # split free neurons with w_k > 0 (None when that split does not matter)
    pathological: int  # split pathological neurons that matter
    free: int  # split free neurons that matter

    @property
    def name(self) -> str:
        """"1+1-": one split pathological neuron with v_k > 0, one with v_k < 0; free ones after "w"."""
        parts = []
        if self.positive is not None:
            parts.append(f"{self.positive}+{self.pathological - self.positive}-")
        if self.free_positive is not None:
            parts.append(f"w {self.free_positive}+{self.free - self.free_positive}-")
        return " ".join(parts) or "all"


def component_classes(split: Split) -> list[ComponentClass]:
    """Every effective component, the all-positive one first."""
    n, m = len(split.pathological), len(split.free)
    ps = list(range(n, -1, -1)) if split.pathological_matters and n else [None]
    fs = list(range(m, -1, -1)) if split.free_matters and m else [None]
    return [ComponentClass(p, f, n if p is not None else 0, m if f is not None else 0) for p in ps for f in fs]


def class_of(signs: np.ndarray, split: Split) -> ComponentClass:
    """The effective component of one point from its deciding signs (l,)."""
    signs = np.asarray(signs)
    n, m = len(split.pathological), len(split.free)
    p = int(np.sum(signs[split.pathological] > 0)) if split.pathological_matters and n else None
    f = int(np.sum(signs[split.free] > 0)) if split.free_matters and m else None
    return ComponentClass(p, f, n if p is not None else 0, m if f is not None else 0)


def class_signs(rng: np.random.Generator, cls: ComponentClass, split: Split, count: int) -> np.ndarray:
    """(count, l) deciding signs inside `cls`: its positive neurons picked at random for each member
    (so every arrangement of the class is tried); 0 where the sign is left to the draw."""
    l = len(split.c)
    signs = np.zeros((count, l), np.int8)
    for neurons, positive in ((split.pathological, cls.positive), (split.free, cls.free_positive)):
        if positive is None or not neurons:
            continue
        for i in range(count):
            chosen = np.full(len(neurons), -1, np.int8)
            chosen[rng.permutation(len(neurons))[:positive]] = 1
            signs[i, neurons] = chosen
    return signs


def draw_on_quadrics(rng: np.random.Generator, c: np.ndarray, minor: np.ndarray, signs: np.ndarray, d_eff: int,
                     outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """Points with ||W_k||^2 - ||v_k||^2 = c_k for every neuron: W (N, l, d_eff), V (N, e, l).

    Each neuron gets random directions for W_k and v_k and a random position along its quadric:
    the smaller of its two norms uniform in [0, 2 minor_k]. A nonzero sign in `signs` (N, l) fixes
    the deciding coordinate: v_k for c_k < 0, w_k for c_k > 0 (meaningful where that neuron is split).
    """
    N, l = signs.shape
    u = rng.standard_normal((N, l, d_eff))
    u /= np.maximum(np.linalg.norm(u, axis=2, keepdims=True), 1e-300)
    z = rng.standard_normal((N, outputs, l))
    z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-300)
    small = rng.uniform(0.0, 2.0, (N, l)) * minor[None, :]
    negative = c[None, :] < 0
    # On Q(c): the norm that can shrink to zero is ||W|| for c < 0, ||v|| for c >= 0.
    w_norm = np.where(negative, small, np.sqrt(small**2 + np.maximum(c, 0)[None, :]))
    v_norm = np.where(negative, np.sqrt(small**2 + np.maximum(-c, 0)[None, :]), small)
    W, V = u * w_norm[:, :, None], z * v_norm[:, None, :]
    fix_v = (signs != 0) & negative
    fix_w = (signs != 0) & ~negative
    V[:, 0, :] = np.where(fix_v, signs * np.abs(V[:, 0, :]), V[:, 0, :])
    W[:, :, 0] = np.where(fix_w, signs * np.abs(W[:, :, 0]), W[:, :, 0])
    return W, V


def minor_norms(params: Params, c: np.ndarray) -> np.ndarray:
    """Per neuron, the scale of the position along its quadric: the smaller norm at the config's own
    initial point, else sqrt|c_k|, else 1."""
    w = np.linalg.norm(params.incoming, axis=1)
    v = np.linalg.norm(np.asarray(params.output_weight, np.float64), axis=0)
    minor = np.minimum(w, v)
    minor = np.where(minor > 0, minor, np.sqrt(np.abs(c)))
    return np.where(minor > 0, minor, 1.0)


@dataclass
class ComponentResult:
    """One row of the atlas."""

    name: str
    positive: int | None
    free_positive: int | None
    losses: np.ndarray  # (R,) final train loss per member, NaN for a member that hopped or diverged
    hopped: int
    diverged: int
    signs: str  # the best member's component in relulab's notation ("+-", "+-/+"; core.invariants)
    best: Params | None = field(default=None, repr=False)
    best_test_loss: float | None = None

    @property
    def kept(self) -> int:
        return int(np.sum(np.isfinite(self.losses)))

    def _stat(self, q: float) -> float:
        kept = self.losses[np.isfinite(self.losses)]
        return float(np.quantile(kept, q)) if len(kept) else float("nan")

    @property
    def floor(self) -> float:
        return self._stat(0.0)

    @property
    def median(self) -> float:
        return self._stat(0.5)

    @property
    def spread(self) -> float:
        """Interquartile range of the kept members' final losses."""
        return self._stat(0.75) - self._stat(0.25)

    def to_dict(self) -> dict:
        def num(x):
            return None if x is None or not np.isfinite(x) else float(x)

        return {"name": self.name, "positive": self.positive, "free_positive": self.free_positive,
                "signs": self.signs, "floor": num(self.floor), "median": num(self.median),
                "spread": num(self.spread), "members": len(self.losses), "kept": self.kept,
                "hopped": self.hopped, "diverged": self.diverged, "best_test_loss": num(self.best_test_loss)}


@dataclass
class Atlas:
    """Floors per effective component of H(c), the run's own component and the obstruction gap."""

    c: np.ndarray  # (l,)
    split: Split
    components: list[ComponentResult]  # in enumeration order, all-positive first
    reference: ComponentResult  # every c_k -> |c_k|, trained the same way
    own: int | None  # index of the config's own initial point's component (None when c is not its own)
    own_params: Params  # the config's own initial point
    restarts: int
    steps: int  # steps every member was trained for
    lr: float
    seed: int
    status: str  # completed, interrupted (stopped early) or diverged (some member's loss went non-finite)
    device: str
    seconds: float
    # Every member, components in order then the reference, `restarts` rows each:
    start_signs: np.ndarray = field(default=None, repr=False)  # (N, l) deciding signs at the start, 0 unsplit
    end_signs: np.ndarray = field(default=None, repr=False)  # (N, l) ... at the end
    hopped: np.ndarray = field(default=None, repr=False)  # (N,) a deciding sign changed at some step

    @property
    def best(self) -> int | None:
        floors = [r.floor for r in self.components]
        finite = [i for i, f in enumerate(floors) if np.isfinite(f)]
        return min(finite, key=lambda i: floors[i]) if finite else None

    @property
    def gap(self) -> float | None:
        """floor(own component) - floor(best component)."""
        if self.own is None or self.best is None or not np.isfinite(self.components[self.own].floor):
            return None
        return self.components[self.own].floor - self.components[self.best].floor

    def to_dict(self) -> dict:
        """The report: what --json prints, what the store keeps and what re-drawing reads."""
        best, own = self.best, self.own
        return {
            "components": [dict(r.to_dict(), own=i == own, best=i == best) for i, r in enumerate(self.components)],
            "own": None if own is None else self.components[own].name,
            "best": None if best is None else self.components[best].name,
            "gap": self.gap,
            "reference_floor": self.reference.to_dict()["floor"],
            "reference": self.reference.to_dict(),
            "c": [float(x) for x in self.c],
            "neuron_status": self.split.status,
            "split_pathological": self.split.pathological,
            "split_free": self.split.free,
            "connected_components": self.split.components,
            "effective_components": self.split.effective,
            "restarts": self.restarts, "steps": self.steps, "lr": self.lr, "seed": self.seed,
            "status": self.status, "device": self.device, "seconds": round(self.seconds, 3),
        }


def atlas_config(config: Config, steps: int | None = None, lr: float | None = None, device: str | None = None) -> Config:
    """The config the members train with: projected GD without weight decay (H(c) fixed), the
    config's loss, data, dtype and batch size."""
    train = dict(optimizer="projected_gd", weight_decay=0.0)
    for key, value in (("steps", steps), ("lr", lr), ("device", device)):
        if value is not None:
            train[key] = value
    return replace(config, "train", source="atlas", **train)


def check_atlas_input(config: Config, split: Split, restarts: int, max_components: int) -> None:
    """One clear line for each input the atlas cannot take."""
    m = config.model
    if m.activation not in HOMOGENEOUS:
        raise UserError(f'[model] activation = "{m.activation}": the atlas needs a positively homogeneous '
                        f"activation ({', '.join(HOMOGENEOUS)}); with {m.activation} c_k is not conserved, "
                        "so there is no invariant set to map")
    if restarts < 1:
        raise UserError(f"--restarts {restarts}: must be an integer >= 1")
    if max_components < 1:
        raise UserError(f"--max-components {max_components}: must be an integer >= 1")
    if split.effective > max_components:
        kinds = []
        if split.pathological and split.pathological_matters:
            kinds.append(f"{len(split.pathological)} split pathological neurons")
        if split.free and split.free_matters:
            kinds.append(f"{len(split.free)} split free neurons (d_eff = 1)")
        raise UserError(f"H(c) has {split.effective} effective components ({' and '.join(kinds)}), more than "
                        f"--max-components {max_components}; raise --max-components to at least {split.effective} "
                        f"(it trains {split.effective} x --restarts networks)")
    if (split.effective + 1) * restarts > MAX_MEMBERS:
        raise UserError(f"--restarts {restarts}: {split.effective + 1} x {restarts} networks is more than "
                        f"{MAX_MEMBERS} in one sweep; use fewer restarts")


@dataclass
class AtlasPlan:
    """Everything the atlas trains, before training: the members and what each must stay in."""

    config: Config  # the config the members train with (atlas_config)
    dataset: Dataset
    c: np.ndarray
    split: Split  # of H(c)
    reference_split: Split  # of H(|c|)
    classes: list[ComponentClass]
    restarts: int
    seed: int
    members: list[Params]  # classes in order, `restarts` each, then the reference's
    start_signs: np.ndarray  # (N, l) deciding signs of every member at its start
    own: Params  # the config's own initial point
    own_class: int | None  # its component, when c is its own c


def plan_atlas(config: Config, *, restarts: int = DEFAULT_RESTARTS, steps: int | None = None, lr: float | None = None,
               device: str | None = None, seed: int = 0, c: np.ndarray | None = None,
               max_components: int = DEFAULT_MAX_COMPONENTS, dataset: Dataset | None = None) -> AtlasPlan:
    """Enumerate the effective components of H(c) (c by default the config's own initial c_k) and
    draw `restarts` starting points inside each, plus `restarts` for the reference H(|c|)."""
    cfg = atlas_config(config, steps, lr, device)
    dataset = dataset or load_dataset(cfg)
    d_eff = dataset.inputs + cfg.model.bias
    outputs, m = cfg.model.outputs, cfg.model
    own = initial_params(cfg, dataset.inputs)
    own_c = classify_params(own).c
    if c is None:
        c = own_c
        scale = scale_of(own)
    else:
        c = np.asarray(c, np.float64).reshape(-1)
        if len(c) != m.hidden or not np.all(np.isfinite(c)):
            raise UserError(f"c: must be {m.hidden} finite numbers, one per hidden neuron")
        scale = None
    split = split_neurons(c, d_eff, outputs, m.activation, scale)
    check_atlas_input(cfg, split, restarts, max_components)
    classes = component_classes(split)
    minor = minor_norms(own, c)

    rng = np.random.default_rng(seed)
    drawn = [draw_on_quadrics(rng, c, minor, class_signs(rng, cls, split, restarts), d_eff, outputs) for cls in classes]
    ref_c = np.abs(c)
    reference_split = split_neurons(ref_c, d_eff, outputs, m.activation, scale)
    drawn.append(draw_on_quadrics(rng, ref_c, minor, np.zeros((restarts, len(c)), np.int8), d_eff, outputs))
    W, V = np.concatenate([w for w, _ in drawn]), np.concatenate([v for _, v in drawn])
    start_signs = np.concatenate([points_signs(W[:-restarts], V[:-restarts], split),
                                  points_signs(W[-restarts:], V[-restarts:], reference_split)])
    bias = m.bias
    members = [Params(hidden_weight=W[i, :, :d_eff - bias] if bias else W[i], hidden_bias=W[i, :, -1] if bias else None,
                      output_weight=V[i], output_bias=own.output_bias) for i in range(len(W))]
    own_class = None
    if np.array_equal(c, own_c):
        own_signs = points_signs(own.incoming[None], np.asarray(own.output_weight, np.float64)[None], split)[0]
        own_class = classes.index(class_of(own_signs, split))
    return AtlasPlan(cfg, dataset, c, split, reference_split, classes, restarts, seed, members, start_signs, own,
                     own_class)


def atlas(config: Config, *, restarts: int = DEFAULT_RESTARTS, steps: int | None = None, lr: float | None = None,
          device: str | None = None, seed: int = 0, c: np.ndarray | None = None,
          max_components: int = DEFAULT_MAX_COMPONENTS, dataset: Dataset | None = None,
          stop: threading.Event | None = None, progress: Progress | None = None) -> Atlas:
    """The atlas of `config`'s H(c), c by default the config's own initial c_k.

    Every member (restarts per effective component, plus restarts for the reference) is trained
    for the same number of steps in one batched sweep; numbers depend on config, seed, restarts,
    device and dtype only.
    """
    from core.train import Sweep, device_label, resolve_device, unstack

    plan = plan_atlas(config, restarts=restarts, steps=steps, lr=lr, device=device, seed=seed, c=c,
                      max_components=max_components, dataset=dataset)
    cfg, R = plan.config, restarts
    dev = resolve_device(cfg.train.device)
    started = time.perf_counter()
    sweep = Sweep(cfg, plan.members, plan.dataset, dev)
    hopped, steps_done = train_members(sweep, plan.start_signs, plan.dataset.inputs + cfg.model.bias,
                                       cfg.train.steps, stop, progress)
    final = sweep.evaluate()
    seconds = time.perf_counter() - started

    losses = final["train_loss"].cpu().numpy().astype(np.float64)
    test = final["test_loss"].cpu().numpy().astype(np.float64) if "test_loss" in final else None
    diverged = ~np.isfinite(losses)
    keep = ~hopped & ~diverged
    W_end = sweep.w.W.cpu().numpy().astype(np.float64)
    V_end = sweep.w.V.cpu().numpy().astype(np.float64)
    end_signs = np.concatenate([points_signs(W_end[:-R], V_end[:-R], plan.split),
                                points_signs(W_end[-R:], V_end[-R:], plan.reference_split)])

    def row(name, cls, part: slice) -> ComponentResult:
        kept_losses = np.where(keep[part], losses[part], np.nan)
        best, signs, best_test = None, "", None
        if np.any(np.isfinite(kept_losses)):
            i = part.start + int(np.nanargmin(kept_losses))
            best = unstack(sweep.w, i, cfg.model.bias)
            signs = component_name(end_signs[i], plan.split if part.start < len(plan.classes) * R else plan.reference_split)
            best_test = None if test is None else float(test[i])
        return ComponentResult(name=name, positive=cls.positive if cls else None,
                               free_positive=cls.free_positive if cls else None, losses=kept_losses,
                               hopped=int(np.sum(hopped[part] & ~diverged[part])), diverged=int(np.sum(diverged[part])),
                               signs=signs, best=best, best_test_loss=best_test)

    rows = [row(cls.name, cls, slice(j * R, (j + 1) * R)) for j, cls in enumerate(plan.classes)]
    reference = row("reference |c|", None, slice(len(plan.classes) * R, (len(plan.classes) + 1) * R))
    if steps_done < cfg.train.steps:
        status = "interrupted"
    elif diverged.any():
        status = "diverged"
    else:
        status = "completed"
    return Atlas(c=plan.c, split=plan.split, components=rows, reference=reference, own=plan.own_class,
                 own_params=plan.own, restarts=R, steps=steps_done, lr=cfg.train.lr, seed=seed, status=status,
                 device=device_label(dev), seconds=seconds, start_signs=plan.start_signs, end_signs=end_signs,
                 hopped=hopped)


def train_members(sweep: Sweep, start_signs: np.ndarray, d_eff: int, steps: int,
                  stop: threading.Event | None, progress: Progress | None) -> tuple[np.ndarray, int]:
    """Projected GD on every member; returns (hopped (N,), steps done). A member hops when a split
    neuron's deciding coordinate changes sign at any step."""
    import torch

    from core.train import SMALL_STEP, threads_for

    dev, dtype = sweep.device, sweep.dtype
    signs = torch.as_tensor(start_signs, dtype=dtype, device=dev)
    # The deciding coordinate of a pathological neuron is v_k (first output), of a free one w_k;
    # start_signs is 0 for unsplit neurons, which can never read as a hop.
    on_v = torch.as_tensor(sweep.c0.cpu().numpy() < 0, device=dev) & (signs != 0)
    sv = torch.where(on_v, signs, torch.zeros_like(signs))
    sw = torch.where(~on_v, signs, torch.zeros_like(signs))
    check_w = bool((sw != 0).any()) and d_eff == 1
    hopped = torch.zeros(sweep.networks, dtype=torch.bool, device=dev)
    every = max(1, steps // 100)
    done = 0
    with threads_for(sweep.work if dev.type == "cpu" else SMALL_STEP):
        for done in range(steps):
            if stop is not None and stop.is_set():
                break
            sweep.step()
            hopped |= ((sweep.w.V[:, 0, :] * sv) < 0).any(1)
            if check_w:
                hopped |= ((sweep.w.W[:, :, 0] * sw) < 0).any(1)
            if progress is not None and (done + 1) % every == 0:
                progress(done + 1, steps)
        else:
            done = steps
    return hopped.cpu().numpy(), done
