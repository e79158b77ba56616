"""The training engine: N networks trained as one set of tensors, single runs streamed as Snapshots.

`Sweep` holds N networks of one shape and steps them all at once with hand-derived gradients.
`Trainer` is a single run: a Sweep of one network that yields a `Snapshot` every `log_every`
steps, watches for component hops, and stops on request, on a non-finite loss or at its budget.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch

from core.config import Config, ConfigError
from core.data import Dataset, load_dataset
from core.init import initial_params
from core.invariants import classify, component_names, deciding_signs, hops_between, rebalance_factors, status_codes
from core.model import Weights, accuracy, backward, design, forward, loss_value, output_grad, pad_columns
from core.snapshot import Classification, Hop, Params, Snapshot, SnapshotBatch

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def resolve_device(name: str) -> torch.device:
    """auto -> CUDA when present, else CPU; an explicit CUDA device that is missing is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise ConfigError(
                f'[train] device = "{name}": CUDA is not available here (torch {torch.__version__}, {build}); '
                'use "auto" or "cpu"'
            )
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f'[train] device = "{name}": this machine has {torch.cuda.device_count()} CUDA device(s), 0..{torch.cuda.device_count() - 1}'
            )
    return torch.device(name)


def decays_by_law(train) -> bool:
    """Whether c_k follows the decayed law c_k(0) (1 - lr lambda)^(2t): weight decay under gd, sgd
    or projected_gd, where each step multiplies W_k and v_k by 1 - lr lambda and the gradient moves
    c_k by O(lr^2) only (docs/science.md section 2). momentum and adam follow no law; theirs is
    taken as c_k(0), as is every run without weight decay."""
    return bool(train.weight_decay) and train.optimizer in ("gd", "sgd", "projected_gd")


def law_factor(train, steps):
    """c_k(t) / c_k(0) where the conservation law puts c_k after `steps` steps (a number or an array)."""
    steps = np.asarray(steps, np.float64)
    if not decays_by_law(train):
        return np.ones_like(steps)
    return (1.0 - train.lr * train.weight_decay) ** (2.0 * steps)


def law_text(train) -> str:
    """What "max drift" measures from, in words."""
    return "c_k(0) (1 - lr lambda)^(2t)" if decays_by_law(train) else "c_k(0)"


def drift_from_law(c: np.ndarray, c0: np.ndarray, train, steps) -> np.ndarray:
    """|c_k - law| per row of c (..., l), rows at `steps`; the measure of "max drift"."""
    return np.abs(c - c0 * law_factor(train, steps)[..., None])


# Below this many multiply-adds per step a second intra-op thread costs more in hand-offs than it
# saves (measured: a 2-neuron run does 28k steps/s on one thread, 26k on two, and a few hundred on
# two when another process holds a core); above it, large GEMMs use every thread.
SMALL_STEP = 1 << 22


@contextlib.contextmanager
def threads_for(work: int):
    """One CPU thread for small per-step work, torch's own choice otherwise."""
    before = torch.get_num_threads()
    if work < SMALL_STEP:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def one_thread():
    """One intra-op CPU thread in this thread, for work whose numbers must not depend on how it is
    batched: torch splits an elementwise loop or a reduction across threads at offsets that follow
    the whole tensor's size, so with several threads a network's rounding would depend on the
    other networks in its tensors. Cores are used by running several such jobs at once instead
    (core.sweeps.backends.run_local)."""
    return threads_for(0)


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return "cpu"


def environment(device: torch.device) -> dict:
    return {
        "device": device_label(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        "pid": os.getpid(),
        "argv": sys.argv,
    }


def _stack(params: list[Params], device, dtype) -> Weights:
    def t(arrays):
        return torch.as_tensor(np.stack(arrays), dtype=dtype, device=device).contiguous()

    o = t([p.output_bias for p in params]) if params[0].output_bias is not None else None
    return Weights(t([p.incoming for p in params]), t([p.output_weight for p in params]), o)


def unstack(w: Weights, index: int, bias: bool) -> Params:
    W = w.W[index].detach().cpu().numpy().astype(np.float64)
    return Params(
        hidden_weight=W[:, :-1] if bias else W,
        hidden_bias=W[:, -1] if bias else None,
        output_weight=w.V[index].detach().cpu().numpy().astype(np.float64),
        output_bias=None if w.o is None else w.o[index].detach().cpu().numpy().astype(np.float64),
    )


def _targets(y: np.ndarray, loss: str, outputs: int, device, dtype) -> torch.Tensor:
    """Targets as (e, n): one-hot rows for cross_entropy."""
    if loss == "cross_entropy":
        y = torch.nn.functional.one_hot(torch.as_tensor(y, dtype=torch.long, device=device), outputs).to(dtype)
        return y.T.contiguous()
    return torch.as_tensor(y, dtype=dtype, device=device).T.contiguous()


class Sweep:
    """N networks of one shape, trained at once on shared data."""

    def __init__(self, config: Config, params: list[Params], dataset: Dataset, device: torch.device):
        self.config = config
        self.device = device
        self.dtype = torch.float64 if config.train.dtype == "float64" else torch.float32
        m, t = config.model, config.train
        self.activation, self.slope, self.loss = m.activation, m.negative_slope, t.loss
        self.bias = m.bias
        # Samples padded to whole vectors (core.model.LOOP_WIDTH): a network's numbers then do not depend on the
        # other networks in its tensors (core/model.py); n and n_test count the real samples.
        x = design(torch.as_tensor(dataset.x_train, dtype=self.dtype, device=device), m.bias)
        self.n = x.shape[1]
        self.x = pad_columns(x)
        self.y = pad_columns(_targets(dataset.y_train, t.loss, m.outputs, device, self.dtype))
        self.x_test = self.y_test = None
        self.n_test = 0
        if dataset.x_test is not None and len(dataset.x_test):
            x_test = design(torch.as_tensor(dataset.x_test, dtype=self.dtype, device=device), m.bias)
            self.n_test = x_test.shape[1]
            self.x_test = pad_columns(x_test)
            self.y_test = pad_columns(_targets(dataset.y_test, t.loss, m.outputs, device, self.dtype))
        self.w = _stack(params, device, self.dtype)
        self.c0 = self.w.conserved()
        self.steps_done = 0
        self.state: list[list[torch.Tensor]] = []  # optimizer buffers, one list per parameter
        n = self.n
        self.batch_size = min(t.batch_size or n, n)
        self._order = torch.arange(n, device=device)
        self._cursor = n
        if self.batch_size < n:
            self._x_batch = pad_columns(torch.zeros_like(self.x[:, :self.batch_size]))
            self._y_batch = pad_columns(torch.zeros_like(self.y[:, :self.batch_size]))
        self._batch_rng = torch.Generator(device="cpu").manual_seed(config.data.seed)

    @property
    def networks(self) -> int:
        return self.w.W.shape[0]

    @property
    def work(self) -> int:
        """Multiply-adds of one step's hidden layer: networks x neurons x d_eff x batch."""
        return self.w.W.numel() * self.batch_size

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(inputs, targets, real samples) of the next step: everything, or the next minibatch."""
        n = self.n
        if self.batch_size >= n:
            return self.x, self.y, n
        if self._cursor + self.batch_size > n:
            # A fresh permutation every epoch; the last partial batch is dropped.
            self._order = torch.randperm(n, generator=self._batch_rng).to(self.device)
            self._cursor = 0
        idx = self._order[self._cursor:self._cursor + self.batch_size]
        self._cursor += self.batch_size
        b = self.batch_size
        self._x_batch[:, :b] = self.x[:, idx]
        self._y_batch[:, :b] = self.y[:, idx]
        return self._x_batch, self._y_batch, b

    def gradients(self) -> Weights:
        x, y, n = self._batch()
        fw = forward(self.w, x, self.activation, self.slope)
        return backward(self.w, x, fw, output_grad(fw.out, y, self.loss, n), self.activation, self.slope)

    def step(self) -> None:
        """One optimizer step for every network."""
        t = self.config.train
        grads = self.gradients()
        params, gs = self.w.tensors(), grads.tensors()
        if t.weight_decay:
            # L2 on W_k (bias included) and v_k; the output bias belongs to no neuron.
            grads.W.add_(self.w.W, alpha=t.weight_decay)
            grads.V.add_(self.w.V, alpha=t.weight_decay)
        self.steps_done += 1
        if t.optimizer in ("gd", "sgd", "projected_gd"):
            for p, g in zip(params, gs):
                p.sub_(g, alpha=t.lr)
        elif t.optimizer == "momentum":
            if not self.state:
                self.state = [[torch.zeros_like(p)] for p in params]
            for p, g, (buf,) in zip(params, gs, self.state):
                buf.mul_(t.momentum).add_(g)
                p.sub_(buf, alpha=t.lr)
        elif t.optimizer == "adam":
            if not self.state:
                self.state = [[torch.zeros_like(p), torch.zeros_like(p)] for p in params]
            b1, b2 = ADAM_BETAS
            k = self.steps_done
            for p, g, (m1, m2) in zip(params, gs, self.state):
                m1.mul_(b1).add_(g, alpha=1 - b1)
                m2.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (m2 / (1 - b2**k)).sqrt_().add_(ADAM_EPS)
                p.addcdiv_(m1, denom, value=-t.lr / (1 - b1**k))
        if t.optimizer == "projected_gd":
            self.project()

    def project(self) -> None:
        """Rescale every neuron onto its quadric c_k = c_k(0) (1 - lr lambda)^(2t); the function is unchanged.

        Weight decay multiplies W_k and v_k by 1 - lr lambda each step, so it multiplies c_k by
        (1 - lr lambda)^2 exactly; the projection removes only the gradient step's O(lr^2) drift.
        Without weight decay the target is c_k(0) (`law_factor`).
        """
        target = self.c0 * float(law_factor(self.config.train, self.steps_done))
        # hypot and the square root round differently in a loop's vector body and its tail: every
        # network's row is padded to whole vectors, so its factors do not depend on its neighbours.
        l = self.w.W.shape[1]
        a = rebalance_factors(pad_columns(self.w.incoming_sq()), pad_columns(self.w.outgoing_sq()),
                              pad_columns(target))[:, :l]
        self.w.W.mul_(a[:, :, None])
        self.w.V.div_(a[:, None, :])

    @torch.no_grad()
    def evaluate(self, w: Weights | None = None) -> dict[str, torch.Tensor]:
        """Full train loss (and test loss, accuracies) of every network in `w` (default: the sweep's): (N,)."""
        w = w or self.w
        out = {}
        for split, x, y, n in (("train", self.x, self.y, self.n), ("test", self.x_test, self.y_test, self.n_test)):
            if x is None:
                continue
            fw = forward(w, x, self.activation, self.slope)
            out[f"{split}_loss"] = loss_value(fw.out, y, self.loss, n)
            right = accuracy(fw.out, y, self.loss, n)
            if right is not None:
                out[f"{split}_accuracy"] = right
        return out


@dataclass
class SweepResult:
    """Summaries of N networks trained together."""

    initial_c: np.ndarray  # (N, l)
    final_c: np.ndarray  # (N, l)
    initial_v_sign: np.ndarray  # (N, l)
    final_v_sign: np.ndarray  # (N, l)
    final_loss: np.ndarray  # (N,)
    final_test_loss: np.ndarray | None
    final_accuracy: np.ndarray | None
    final_test_accuracy: np.ndarray | None
    loss_curve: np.ndarray  # (snapshots, N)
    test_loss_curve: np.ndarray | None
    curve_steps: np.ndarray  # (snapshots,)
    max_drift: np.ndarray  # (N,)
    hops: np.ndarray  # (N,) number of component hops seen at the snapshot cadence
    pathological: np.ndarray  # (N,) l_- at initialisation
    components: list[int]  # per network, at initialisation
    effective_components: list[int]
    device: str
    seconds: float
    diverged: np.ndarray  # (N,) bool
    final_weights: Weights | None = field(default=None, repr=False)


def sweep(
    config: Config, *, seeds: list[int] | None = None, params: list[Params] | None = None,
    dataset: Dataset | None = None, log_every: int | None = None, stop: threading.Event | None = None,
) -> SweepResult:
    """Train several networks of `config`'s shape at once: one per seed, or one per given Params."""
    dataset = dataset or load_dataset(config)
    device = resolve_device(config.train.device)
    if params is None:
        seeds = seeds if seeds is not None else [config.init.seed]
        params = [initial_params(config, dataset.inputs, seed=s) for s in seeds]
    started = time.perf_counter()
    s = Sweep(config, params, dataset, device)
    d_eff = dataset.inputs + config.model.bias
    outputs = config.model.outputs
    steps, every = config.train.steps, log_every or config.train.log_every
    c_init = s.c0.cpu().numpy().astype(np.float64)
    sign_init = np.sign(s.w.V[:, 0, :].cpu().numpy()).astype(np.int8)
    w_sign_init = np.sign(s.w.W[:, :, 0].cpu().numpy()).astype(np.int8)
    scale_init = (s.w.incoming_sq() + s.w.outgoing_sq()).cpu().numpy().astype(np.float64)
    prev_c, prev_sign = c_init, sign_init
    prev_codes, prev_w_sign = status_codes(c_init, scale_init), w_sign_init
    hops = np.zeros(s.networks, dtype=np.int64)
    drift = np.zeros(s.networks)
    diverged = torch.zeros(s.networks, dtype=torch.bool, device=device)
    curve, test_curve, curve_steps = [], [], []
    with threads_for(s.work if device.type == "cpu" else SMALL_STEP):
        for t in range(steps + 1):
            if t % every == 0 or t == steps:
                ev = s.evaluate()
                diverged |= ~torch.isfinite(ev["train_loss"])
                curve.append(ev["train_loss"].cpu().numpy())
                if "test_loss" in ev:
                    test_curve.append(ev["test_loss"].cpu().numpy())
                curve_steps.append(t)
                c = s.w.conserved().cpu().numpy().astype(np.float64)
                sign = np.sign(s.w.V[:, 0, :].cpu().numpy()).astype(np.int8)
                w_sign = np.sign(s.w.W[:, :, 0].cpu().numpy()).astype(np.int8)
                drift = np.maximum(drift, np.nan_to_num(drift_from_law(c, c_init, config.train, t), nan=np.inf).max(1))
                hops += hops_between(prev_codes, prev_sign, prev_w_sign, sign, w_sign, d_eff, outputs)[0].sum(1)
                scale = (s.w.incoming_sq() + s.w.outgoing_sq()).cpu().numpy().astype(np.float64)
                prev_c, prev_sign, prev_w_sign, prev_codes = c, sign, w_sign, status_codes(c, scale)
            if t == steps or (stop is not None and stop.is_set()):
                break
            s.step()
    ev = s.evaluate()
    counts = [classify(c_init[i], sign_init[i], d_eff, outputs, scale_init[i], w_sign=w_sign_init[i],
                       activation=config.model.activation) for i in range(s.networks)]

    def np_or_none(key):
        return ev[key].cpu().numpy() if key in ev else None

    return SweepResult(
        initial_c=c_init, final_c=prev_c, initial_v_sign=sign_init, final_v_sign=prev_sign,
        final_loss=ev["train_loss"].cpu().numpy(), final_test_loss=np_or_none("test_loss"),
        final_accuracy=np_or_none("train_accuracy"), final_test_accuracy=np_or_none("test_accuracy"),
        loss_curve=np.array(curve), test_loss_curve=np.array(test_curve) if test_curve else None,
        curve_steps=np.array(curve_steps), max_drift=drift, hops=hops,
        pathological=np.array([k.pathological for k in counts]),
        components=[k.components for k in counts], effective_components=[k.effective_components for k in counts],
        device=device_label(device), seconds=time.perf_counter() - started,
        diverged=diverged.cpu().numpy(), final_weights=s.w,
    )


# Snapshots are computed in batches: the weights at each snapshot step are copied (cheap) and
# every FLUSH_SECONDS the copies are evaluated together as one small sweep, so a snapshot costs a
# tensor copy in the step loop rather than a dozen small kernels and a device sync.
FLUSH_SECONDS = 0.1
MAX_PENDING = 1024  # snapshots per batch: large batches make recording cheap (sessions/writer.py)
PENDING_BYTES = 64 << 20  # ... but a batch's weight copies and evaluation stay within this
EVAL_CHUNK = 16  # snapshots measured together, always exactly this many (see Trainer._measure)


class Trainer:
    """One run, streamed: iterate `run()` for Snapshots; `stop()` may be called from any thread."""

    def __init__(self, config: Config, dataset: Dataset | None = None, params: Params | None = None):
        self.config = config
        self.device = resolve_device(config.train.device)
        self.dataset = dataset or load_dataset(config)
        self.inputs = self.dataset.inputs
        self.d_eff = self.inputs + config.model.bias
        self.initial_params = params or initial_params(config, self.inputs)
        self.sweep = Sweep(config, [self.initial_params], self.dataset, self.device)
        self.initial = self._classify(self.sweep.w)
        self.final: Classification | None = None
        self.final_params: Params | None = None
        self.status = "ready"
        self.hops: list[Hop] = []
        self.steps_per_second = 0.0
        self.diverged_at: int | None = None  # first snapshot step whose loss was not finite
        self.kept_step: int | None = None  # newest snapshot step with a finite loss: what a diverged run keeps
        self._stop = threading.Event()

    @property
    def environment(self) -> dict:
        return environment(self.device)

    def stop(self) -> None:
        self._stop.set()

    def _classify(self, w: Weights) -> Classification:
        w2 = w.incoming_sq()[0].cpu().numpy().astype(np.float64)
        v2 = w.outgoing_sq()[0].cpu().numpy().astype(np.float64)
        sign = np.sign(w.V[0, 0].cpu().numpy()).astype(np.int8)
        w_sign = np.sign(w.W[0, :, 0].cpu().numpy()).astype(np.int8)
        return classify(w2 - v2, sign, self.d_eff, self.config.model.outputs, w2 + v2, w_sign=w_sign,
                        activation=self.config.model.activation)

    def _batch(self, pending: list[tuple[int, Weights, bool]], started: float) -> SnapshotBatch:
        """Evaluate the weight copies taken at snapshot steps, all at once, into a SnapshotBatch."""
        keys, values = self._measure([p[1] for p in pending])
        l = self.sweep.w.W.shape[1]
        w2, v2, v0, w0 = values[:, :l], values[:, l:2 * l], values[:, 2 * l:3 * l], values[:, 3 * l:4 * l]
        scalars = {k: values[:, 4 * l + i] for i, k in enumerate(keys)}
        c = w2 - v2
        v_sign = np.sign(np.nan_to_num(v0)).astype(np.int8)
        w_sign = np.sign(np.nan_to_num(w0)).astype(np.int8)
        v = v0 if self.config.model.outputs == 1 else np.where(v_sign < 0, -1.0, 1.0) * np.sqrt(v2)
        codes = status_codes(c, w2 + v2)
        steps = np.array([p[0] for p in pending], dtype=np.int64)
        off = drift_from_law(c, self._c0, self.config.train, steps).max(axis=1, initial=0.0)
        drift = np.maximum.accumulate(np.maximum(off, self._max_drift))
        self._max_drift = float(drift[-1])
        outputs = self.config.model.outputs
        split, deciding = deciding_signs(codes, v_sign, w_sign, self.d_eff, outputs)
        prev = self._prev if self._prev is not None else (c[0], codes[0], v_sign[0], w_sign[0])
        before_c, before_codes, before_v, before_w = (np.vstack([p[None], now[:-1]]) for p, now in zip(prev, (c, codes, v_sign, w_sign)))
        hopped, sign_before, sign_after = hops_between(before_codes, before_v, before_w, v_sign, w_sign, self.d_eff, outputs)
        self._prev = (c[-1], codes[-1], v_sign[-1], w_sign[-1])
        hops = [Hop(int(steps[i]), int(k), float(before_c[i, k]), float(c[i, k]), int(sign_before[i, k]),
                    int(sign_after[i, k])) for i, k in zip(*np.nonzero(hopped))]
        return SnapshotBatch(
            step=steps, loss=scalars["train_loss"], test_loss=scalars.get("test_loss"),
            accuracy=scalars.get("train_accuracy"), test_accuracy=scalars.get("test_accuracy"),
            c=c, w_norm=np.sqrt(w2), v=v, v_sign=v_sign,
            signs=component_names(codes, split, deciding),
            max_drift=drift, elapsed=np.full(len(pending), time.perf_counter() - started), hops=hops,
            params={step: unstack(copy, 0, self.config.model.bias) for step, copy, with_params in pending if with_params},
        )

    def _measure(self, copies: list[Weights]) -> tuple[list[str], np.ndarray]:
        """Per-neuron norms, first output and first incoming weights and losses of each weight copy: (keys, rows).

        The copies are measured EVAL_CHUNK at a time, the last chunk padded with repeats of its
        last copy, so every snapshot goes through tensors of the same shape however the batches
        fall. Rounding depends on a matrix's shape (blocking, vector widths, thread split), and
        the batches follow wall time; measured this way a recorded value depends on the config
        alone (on one machine, device and dtype)."""
        chunk = self._eval_chunk
        padded = copies + [copies[-1]] * (-len(copies) % chunk)
        parts, keys = [], []
        for start in range(0, len(padded), chunk):
            group = padded[start:start + chunk]
            w = Weights(torch.cat([c.W for c in group]), torch.cat([c.V for c in group]),
                        None if group[0].o is None else torch.cat([c.o for c in group]))
            ev = self.sweep.evaluate(w)
            keys = sorted(ev)
            parts.append(torch.cat([w.incoming_sq(), w.outgoing_sq(), w.V[:, 0, :], w.W[:, :, 0]]
                                   + [ev[k][:, None] for k in keys], dim=1))
        # One transfer for the whole batch.
        return keys, torch.cat(parts)[:len(copies)].cpu().numpy().astype(np.float64)

    def _pending_limit(self) -> int:
        """Snapshots per batch: MAX_PENDING, fewer for a big network or dataset (PENDING_BYTES)."""
        return max(1, min(MAX_PENDING, self._fitting()))

    def _fitting(self) -> int:
        """Snapshots whose weight copies and evaluation fit in PENDING_BYTES (config sizes only)."""
        s = self.sweep
        samples = s.x.shape[1] + (0 if s.x_test is None else s.x_test.shape[1])
        # A weight copy, and evaluating it: pre-activations, activations and outputs per sample.
        values = sum(t.numel() for t in s.w.tensors()) + samples * (2 * s.w.W.shape[1] + s.w.V.shape[1])
        return PENDING_BYTES // (values * s.x.element_size())

    def run(self) -> Iterator[Snapshot]:
        """Train, yielding a Snapshot at step 0, every log_every steps and at the end (see `batches`)."""
        with contextlib.closing(self.batches()) as batches:
            for batch in batches:
                yield from batch

    def batches(self) -> Iterator[SnapshotBatch]:
        """Train, yielding the snapshots (at step 0, every log_every steps and at the end) in
        batches, as they are evaluated: about every FLUSH_SECONDS.

        Ends with `status` completed, interrupted (stop()), or diverged (non-finite loss; the
        weights are put back to the last snapshot whose loss was finite).
        """
        t = self.config.train
        every = t.log_every
        checkpoint = t.checkpoint_every or 100 * every
        next_checkpoint = 0
        self._max_drift, self._prev = 0.0, None
        # c_k(0) as every snapshot's c_k is formed: ||W_k||^2 - ||v_k||^2 in float64 from the norms
        # (a float32 difference would put a rounding "drift" into step 0 itself).
        self._c0 = self.initial.c.copy()
        self.status = "running"
        started = time.perf_counter()
        last_flush = -float("inf")
        pending: list[tuple[int, Weights, bool]] = []
        limit = self._pending_limit()
        self._eval_chunk = max(1, min(EVAL_CHUNK, self._fitting()))  # the config's sizes only, never timing
        last_good: Weights | None = None  # weights at the newest snapshot with a finite loss
        step = 0
        with threads_for(self.sweep.work if self.device.type == "cpu" else SMALL_STEP):
            try:
                while True:
                    done = step == t.steps or self._stop.is_set()
                    if step % every == 0 or done:
                        with_params = done or step >= next_checkpoint
                        if with_params:
                            next_checkpoint = step + checkpoint
                        pending.append((step, self.sweep.w.clone(), with_params))
                        now = time.perf_counter()
                        if done or now - last_flush > FLUSH_SECONDS or len(pending) >= limit:
                            last_flush = now
                            with np.errstate(invalid="ignore", over="ignore"):  # a diverging run's inf and NaN
                                batch, copies, pending = self._batch(pending, started), pending, []
                            finite = np.isfinite(batch.loss)
                            good = len(batch) if finite.all() else int(np.argmin(finite))  # before the first NaN
                            if good:
                                last_good = copies[good - 1][1]
                                self.kept_step = int(copies[good - 1][0])
                            if good < len(batch):
                                self.status = "diverged"
                                self.diverged_at = int(batch.step[good])
                                kept = -1 if self.kept_step is None else self.kept_step
                                self.hops = [h for h in self.hops if h.step <= kept]
                                batch = batch.head(good)
                                self.sweep.w = last_good if last_good is not None else self.sweep.w
                            # The run's hops are those of the snapshots it hands out: a diverged
                            # batch's tail (NaN weights flip signs at random) is neither recorded
                            # nor counted, so report, store and console agree.
                            self.hops.extend(batch.hops)
                            if len(batch):
                                yield batch
                            if self.status == "diverged":
                                break
                        if done:
                            self.status = "completed" if step == t.steps else "interrupted"
                            break
                    self.sweep.step()
                    step += 1
            except (GeneratorExit, KeyboardInterrupt):
                self.status = "interrupted"
                raise
            except BaseException:
                self.status = "failed" if self.status == "running" else self.status
                raise
            finally:
                elapsed = time.perf_counter() - started
                self.steps_per_second = step / elapsed if elapsed > 0 else 0.0
                self.final_params = unstack(self.sweep.w, 0, self.config.model.bias)
                self.final = self._classify(self.sweep.w)
