"""probability: P(obstructed initialisation) over inputs d and width l, closed form against Monte Carlo."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import UserError
from core.experiments.common import Progress, check_stop, say
from core.init import NORMAL_SCHEMES, scheme_spread
from core.probability import closed_form
from core.train import device_label, resolve_device

PROBABILITY_SCHEMES = ("xavier_normal", "kaiming_normal")


PROBABILITY_KEYS = ("pathological", "disconnected", "all_pathological")


@dataclass
class ProbabilityResult:
    """Closed form and Monte Carlo on an (inputs d) x (hidden l) grid, one output, zero hidden bias.

    With a hidden bias that starts at zero d_eff = d + 1 >= 2, so a neuron's quadric splits only
    when it is pathological and H(c) is disconnected as soon as one neuron is.
    """

    schemes: list[str]
    inputs: np.ndarray  # (D,) d
    hidden: np.ndarray  # (L,) l
    pathological: np.ndarray  # (schemes, D, L) closed form p = P(F(1, d) > d s_w^2 / s_v^2)
    disconnected: np.ndarray  # 1 - (1 - p)^l
    all_pathological: np.ndarray  # p^l
    expected_effective: np.ndarray  # 1 + l p
    pathological_mc: np.ndarray  # fraction of sampled neurons (one per sampled network) with c < 0
    disconnected_mc: np.ndarray  # fraction of sampled networks with at least one c_k < 0
    all_pathological_mc: np.ndarray  # fraction of sampled networks with every c_k < 0
    expected_effective_mc: np.ndarray  # 1 + l * pathological_mc (neurons are iid)
    samples: int  # networks sampled per cell
    seed: int
    device: str
    seconds: float
    mc_seconds: float

    def stderr(self, key: str) -> np.ndarray:
        """Binomial standard error of the Monte Carlo fraction, at the closed-form value."""
        p = getattr(self, key)
        return np.sqrt(p * (1 - p) / self.samples)

    def z(self, key: str) -> np.ndarray:
        """(MC - closed form) in standard errors; 0 where both are exactly 0 or 1."""
        diff = getattr(self, key + "_mc") - getattr(self, key)
        se = self.stderr(key)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(se > 0, diff / np.where(se > 0, se, 1), np.where(diff == 0, 0.0, np.inf))

    def cells(self) -> list[dict]:
        rows = []
        zs = {k: self.z(k) for k in PROBABILITY_KEYS}
        for s, scheme in enumerate(self.schemes):
            for i, d in enumerate(self.inputs):
                for j, l in enumerate(self.hidden):
                    row = {"scheme": scheme, "d": int(d), "l": int(l)}
                    for k in PROBABILITY_KEYS:
                        row[k] = float(getattr(self, k)[s, i, j])
                        row[k + "_mc"] = float(getattr(self, k + "_mc")[s, i, j])
                        row[k + "_z"] = float(zs[k][s, i, j])
                    row["expected_effective"] = float(self.expected_effective[s, i, j])
                    row["expected_effective_mc"] = float(self.expected_effective_mc[s, i, j])
                    rows.append(row)
        return rows

    def findings(self) -> dict:
        p = self.pathological
        ok = {k: float(np.max(np.abs(self.z(k)))) for k in PROBABILITY_KEYS}
        # Kaiming's threshold is l, Xavier's d (l + 1) / (d + l): Kaiming is lower exactly where l^2 > d.
        out = {"max_abs_z": ok, "samples": self.samples}
        out["monotone_in_d"] = {s: bool(np.all(np.diff(p[i], axis=0) <= 1e-12)) for i, s in enumerate(self.schemes)}
        if "xavier_normal" in self.schemes and "kaiming_normal" in self.schemes:
            x, k = p[self.schemes.index("xavier_normal")], p[self.schemes.index("kaiming_normal")]
            d, l = np.meshgrid(self.inputs, self.hidden, indexing="ij")
            out["kaiming_lower_fraction"] = float(np.mean(k < x))
            out["kaiming_lower_where_l2_gt_d"] = bool(np.all((k < x)[l * l > d]))
        for i, s in enumerate(self.schemes):
            out[s] = {"p_at_d1": [float(x) for x in p[i, 0]], "p_at_dmax": [float(x) for x in p[i, -1]],
                      "disconnected_max": float(self.disconnected[i].max()),
                      "disconnected_at_dmax_lmax": float(self.disconnected[i, -1, -1])}
        return out


def _thresholds(schemes, inputs, hidden) -> np.ndarray:
    """(schemes, D, L) of s_w^2 / s_v^2: a neuron is pathological iff z_v^2 / ||z_w||^2 exceeds it."""
    t = np.empty((len(schemes), len(inputs), len(hidden)))
    for s, scheme in enumerate(schemes):
        for i, d in enumerate(inputs):
            for j, l in enumerate(hidden):
                _, s_w = scheme_spread(scheme, int(d), int(l))
                _, s_v = scheme_spread(scheme, int(l), 1)
                t[s, i, j] = s_w**2 / s_v**2
    return t


def obstruction_monte_carlo(schemes, inputs, hidden, samples: int, seed: int = 0, device: str = "cpu",
                            stop: threading.Event | None = None) -> dict[str, np.ndarray]:
    """Counts of pathological neurons, disconnected and all-pathological networks on the whole grid.

    Actual weights are drawn: w = s_w z_w (d entries), v = s_v z_v, zero hidden bias. Their neuron
    is pathological iff s_w^2 ||z_w||^2 < s_v^2 z_v^2, i.e. R = z_v^2 / ||z_w||^2 > s_w^2 / s_v^2,
    so one standard draw serves every scheme. Each of the `samples` networks draws max(l) neurons
    with max(d) inputs; the network of width l and d inputs is its first l neurons and their first
    d inputs (prefix sums give ||z_w||^2 for every d, running max / min over neurons give "any" and
    "every" for every l). Each cell is therefore an honest `samples`-network estimate; cells share
    draws (common random numbers), which makes neighbouring cells correlated, not biased.
    """
    dev = resolve_device(device)
    inputs, hidden = np.asarray(inputs), np.asarray(hidden)
    D, L = int(inputs.max()), int(hidden.max())
    d_index = torch.as_tensor(inputs - 1, device=dev)
    l_index = torch.as_tensor(hidden - 1, device=dev)

    def on_grid(a: torch.Tensor, neurons: bool = True) -> torch.Tensor:
        # Slicing is free; index_select copies, so it is used only for a grid with gaps.
        a = a[:D] if len(inputs) == D else a.index_select(0, d_index)
        return a if not neurons or len(hidden) == L else a.index_select(1, l_index)
    t = torch.as_tensor(_thresholds(schemes, inputs, hidden), dtype=torch.float32, device=dev)[..., None]
    counts = {k: torch.zeros(t.shape[:3], dtype=torch.int64, device=dev) for k in PROBABILITY_KEYS}
    g = torch.Generator(device=dev).manual_seed(seed)
    chunk = max(1, min(samples, (1 << 23) // (D * L)))  # ~32 MB per float32 (D, L, chunk) tensor
    done = 0
    while done < samples:
        check_stop(stop)
        n = min(chunk, samples - done)
        z_w = torch.randn(D, L, n, generator=g, device=dev)
        z_v = torch.randn(L, n, generator=g, device=dev)
        ratio = torch.cumsum(z_w.square_(), dim=0).reciprocal_().mul_(z_v.square_())  # (D, L, n)
        hi, lo = ratio.clone(), ratio.clone()  # running max / min over the first l neurons
        for k in range(1, L):
            torch.maximum(hi[:, k], hi[:, k - 1], out=hi[:, k])
            torch.minimum(lo[:, k], lo[:, k - 1], out=lo[:, k])
        first = on_grid(ratio[:, :1], neurons=False)  # neuron 0 of each network: one neuron sample each
        hi, lo = on_grid(hi), on_grid(lo)  # (D', L', n): the grid's cells only
        counts["pathological"] += (first > t).sum(-1)
        counts["disconnected"] += (hi > t).sum(-1)
        counts["all_pathological"] += (lo > t).sum(-1)
        done += n
    return {k: v.cpu().numpy() for k, v in counts.items()}


def probability(max_inputs: int = 30, max_hidden: int = 30, samples: int = 100_000, seed: int = 0,
                device: str = "auto", schemes=PROBABILITY_SCHEMES, *, inputs=None, hidden=None,
                stop: threading.Event | None = None, progress: Progress | None = None) -> ProbabilityResult:
    """Closed form and Monte Carlo of P(neuron pathological), P(H(c) disconnected), P(all
    pathological) and E[effective components] for d = 1..max_inputs, l = 1..max_hidden."""
    inputs = np.arange(1, max_inputs + 1) if inputs is None else np.asarray(sorted(set(inputs)))
    hidden = np.arange(1, max_hidden + 1) if hidden is None else np.asarray(sorted(set(hidden)))
    if len(inputs) == 0 or inputs.min() < 1 or len(hidden) == 0 or hidden.min() < 1:
        raise UserError("probability: inputs and hidden widths must be integers >= 1")
    if samples < 2:
        raise UserError(f"--samples {samples}: must be an integer >= 2")
    for s in schemes:
        if s not in NORMAL_SCHEMES:
            raise UserError(f"probability: scheme {s!r} has no closed form; use one of {', '.join(NORMAL_SCHEMES)}")
    schemes = list(schemes)
    started = time.perf_counter()
    say(progress, 0.0, "closed form")
    p = np.array([[[closed_form(s, int(d), int(l), 1) for l in hidden] for d in inputs] for s in schemes])
    say(progress, 0.1, f"Monte Carlo: {samples} networks per cell, {len(inputs)} x {len(hidden)} cells")
    mc_started = time.perf_counter()
    counts = obstruction_monte_carlo(schemes, inputs, hidden, samples, seed, device, stop)
    mc_seconds = time.perf_counter() - mc_started
    l = hidden[None, None, :]
    p_mc = counts["pathological"] / samples
    say(progress, 1.0, "done")
    return ProbabilityResult(
        schemes=schemes, inputs=inputs, hidden=hidden,
        pathological=p, disconnected=1 - (1 - p) ** l, all_pathological=p**l, expected_effective=1 + l * p,
        pathological_mc=p_mc, disconnected_mc=counts["disconnected"] / samples,
        all_pathological_mc=counts["all_pathological"] / samples, expected_effective_mc=1 + l * p_mc,
        samples=samples, seed=seed, device=device_label(resolve_device(device)),
        seconds=time.perf_counter() - started, mc_seconds=mc_seconds,
    )
