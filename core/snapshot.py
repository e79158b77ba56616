"""What the training engine reports: parameter points, classifications, hops and snapshots.

These are plain dataclasses of numpy arrays so the session store and the UI never need torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class Params:
    """One network's parameters. The hidden bias is part of each neuron's incoming weights W_k."""

    hidden_weight: np.ndarray  # (hidden, inputs)
    hidden_bias: np.ndarray | None  # (hidden,) or None without a hidden bias
    output_weight: np.ndarray  # (outputs, hidden)
    output_bias: np.ndarray | None = None  # (outputs,) or None

    @property
    def incoming(self) -> np.ndarray:
        """W_k = (w_k, b_k) for every neuron: (hidden, d_eff)."""
        if self.hidden_bias is None:
            return np.asarray(self.hidden_weight, dtype=np.float64)
        return np.concatenate(
            [np.asarray(self.hidden_weight, np.float64), np.asarray(self.hidden_bias, np.float64)[:, None]], axis=1
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "Params":
        return cls(
            hidden_weight=arrays["hidden_weight"],
            hidden_bias=arrays.get("hidden_bias"),
            output_weight=arrays["output_weight"],
            output_bias=arrays.get("output_bias"),
        )


@dataclass
class Classification:
    """Where a parameter point sits in the invariant set H(c) (DESIGN.md section 1)."""

    c: np.ndarray  # (hidden,) conserved quantities c_k = ||W_k||^2 - ||v_k||^2
    status: list[str]  # per neuron: "pathological" (c<0), "balanced" (c~0) or "free" (c>0)
    v_sign: np.ndarray  # (hidden,) sign of v_k (of its first entry when outputs >= 2)
    signs: str  # the component's sign vector over pathological neurons, e.g. "+-"
    pathological: int  # l_-
    components: int  # exact number of connected components of H(c)
    effective_components: int  # components up to neuron permutation and rescaling

    def to_dict(self) -> dict:
        return {
            "c": [float(x) for x in self.c],
            "status": list(self.status),
            "v_sign": [int(x) for x in self.v_sign],
            "signs": self.signs,
            "pathological": int(self.pathological),
            "components": int(self.components),
            "effective_components": int(self.effective_components),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Classification":
        return cls(
            c=np.asarray(d["c"], dtype=np.float64),
            status=list(d["status"]),
            v_sign=np.asarray(d["v_sign"], dtype=np.int8),
            signs=d["signs"],
            pathological=int(d["pathological"]),
            components=int(d["components"]),
            effective_components=int(d["effective_components"]),
        )


@dataclass
class Hop:
    """A pathological neuron whose v_k changed sign between two snapshots: a component hop."""

    step: int
    neuron: int
    c_before: float
    c_after: float
    sign_before: int
    sign_after: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Snapshot:
    """The state of one run every `log_every` steps."""

    step: int
    loss: float
    test_loss: float | None
    accuracy: float | None  # train accuracy, classification losses only
    test_accuracy: float | None
    c: np.ndarray  # (hidden,) c_k(t)
    w_norm: np.ndarray  # (hidden,) ||W_k||
    v: np.ndarray  # (hidden,) v_k for one output; sign(v_k[0]) * ||v_k|| for several
    v_sign: np.ndarray  # (hidden,) int8
    signs: str  # sign vector over the currently pathological neurons
    max_drift: float  # max_k |c_k(t) - c_k(0)| over the run so far
    elapsed: float  # seconds since the run started
    hops: list[Hop] = field(default_factory=list)  # hops detected since the previous snapshot
    params: Params | None = None  # present at the (sparser) checkpoint cadence
