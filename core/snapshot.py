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


# Integers up to 2^53 survive every JSON reader (JavaScript's doubles); beyond that a component
# count is given as its log2 alone (2^28600 would not even print: Python caps int -> str at 4300 digits).
EXACT_LIMIT = 2**53


def exact_count(n: int) -> int | None:
    """`n` where every JSON reader holds it exactly, else None (see components_log2)."""
    return int(n) if n <= EXACT_LIMIT else None


def count_text(n: int) -> str:
    """A component count for people: exact while it is short, else 2^k."""
    return str(n) if n <= EXACT_LIMIT else f"2^{int(n).bit_length() - 1}"


def _log2(value, neurons: int) -> int:
    """A stored components_log2, which cannot exceed the number of neurons (one or two pieces each)."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= neurons:
        raise ValueError(f"components_log2 = {str(value)[:30]} is not between 0 and {neurons}")
    return value


@dataclass
class Classification:
    """Where a parameter point sits in the invariant set H(c) (docs/science.md)."""

    c: np.ndarray  # (hidden,) conserved quantities c_k = ||W_k||^2 - ||v_k||^2
    status: list[str]  # per neuron: "pathological" (c<0), "balanced" (c~0) or "free" (c>0)
    v_sign: np.ndarray  # (hidden,) sign of v_k (of its first entry when outputs >= 2)
    # The component's name: signs of v_k over the split pathological neurons (one output), then,
    # when d_eff = 1 and a free neuron is split, "/" and the signs of w_k over those: "+-", "+-/+".
    signs: str
    pathological: int  # l_-
    components: int  # exact number of connected components of H(c)
    # Components up to neuron permutation, rescaling and the activation's sign symmetry.
    effective_components: int
    # Per neuron: sign of the coordinate that decides its piece (v_k pathological, w_k free with
    # d_eff = 1), 0 where its quadric is one piece (or the sign is unknown).
    split_sign: np.ndarray | None = None
    # True when the activation's symmetry makes some split neuron's pieces compute the same
    # functions: those components are cut off topologically, not functionally.
    topological_only: bool = False

    @property
    def components_log2(self) -> int:
        """log2 of `components` (always a power of two: each neuron has one or two pieces)."""
        return int(self.components).bit_length() - 1

    def to_dict(self) -> dict:
        return {
            "c": [float(x) for x in self.c],
            "status": list(self.status),
            "v_sign": [int(x) for x in self.v_sign],
            "signs": self.signs,
            "pathological": int(self.pathological),
            "components": exact_count(self.components),
            "components_log2": self.components_log2,
            "effective_components": int(self.effective_components),
            "split_sign": None if self.split_sign is None else [int(x) for x in self.split_sign],
            "topological_only": bool(self.topological_only),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Classification":
        return cls(
            c=np.asarray(d["c"], dtype=np.float64),
            status=list(d["status"]),
            v_sign=np.asarray(d["v_sign"], dtype=np.int8),
            signs=d["signs"],
            pathological=int(d["pathological"]),
            components=int(d["components"]) if d.get("components") is not None else 2 ** _log2(d["components_log2"], len(d["c"])),
            effective_components=int(d["effective_components"]),
            split_sign=None if d.get("split_sign") is None else np.asarray(d["split_sign"], dtype=np.int8),
            topological_only=bool(d.get("topological_only", False)),
        )


@dataclass
class Hop:
    """A split neuron whose deciding coordinate changed sign between two snapshots: a component hop.

    The coordinate is v_k for a pathological neuron (c_before < 0) and w_k for a free one
    (c_before > 0, d_eff = 1); sign_before and sign_after are its signs.
    """

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
    signs: str  # the current component's name (Classification.signs)
    max_drift: float  # max_k |c_k(t) - c_k(0)| over the run so far
    elapsed: float  # seconds since the run started
    hops: list[Hop] = field(default_factory=list)  # hops detected since the previous snapshot
    params: Params | None = None  # present at the (sparser) checkpoint cadence


@dataclass
class SnapshotBatch:
    """Consecutive snapshots of one run as columns: how the trainer computes them, so that a
    recorder can take a batch in one go instead of a row at a time. Iterating yields Snapshots."""

    step: np.ndarray  # (n,) int64
    loss: np.ndarray  # (n,) float64
    test_loss: np.ndarray | None  # (n,) or None where the run does not measure it
    accuracy: np.ndarray | None
    test_accuracy: np.ndarray | None
    c: np.ndarray  # (n, hidden)
    w_norm: np.ndarray  # (n, hidden)
    v: np.ndarray  # (n, hidden)
    v_sign: np.ndarray  # (n, hidden) int8
    signs: list[str]  # (n,)
    max_drift: np.ndarray  # (n,)
    elapsed: np.ndarray  # (n,)
    hops: list[Hop] = field(default_factory=list)  # every hop in the batch, in step order
    params: dict[int, Params] = field(default_factory=dict)  # step -> parameters, at checkpoints

    def __len__(self) -> int:
        return len(self.step)

    def __iter__(self):
        hops: dict[int, list[Hop]] = {}
        for hop in self.hops:
            hops.setdefault(hop.step, []).append(hop)
        optional = (self.test_loss, self.accuracy, self.test_accuracy)
        # Python floats and ints once for the whole batch: per-row numpy scalars are slow.
        rows = zip(self.step.tolist(), self.loss.tolist(),
                   *[[None] * len(self) if a is None else a.tolist() for a in optional],
                   self.max_drift.tolist(), self.elapsed.tolist())
        for i, (step, loss, test_loss, accuracy, test_accuracy, drift, elapsed) in enumerate(rows):
            yield Snapshot(step, loss, test_loss, accuracy, test_accuracy, self.c[i], self.w_norm[i], self.v[i],
                           self.v_sign[i], self.signs[i], drift, elapsed, hops.get(step, []), self.params.get(step))

    def head(self, n: int) -> "SnapshotBatch":
        """The first n snapshots."""
        last = int(self.step[n - 1]) if n else -1

        def rows(a):
            return None if a is None else a[:n]

        return SnapshotBatch(
            self.step[:n], self.loss[:n], rows(self.test_loss), rows(self.accuracy), rows(self.test_accuracy),
            self.c[:n], self.w_norm[:n], self.v[:n], self.v_sign[:n], self.signs[:n], self.max_drift[:n],
            self.elapsed[:n], [h for h in self.hops if h.step <= last],
            {s: p for s, p in self.params.items() if s <= last},
        )

    @classmethod
    def of(cls, snaps: list[Snapshot]) -> "SnapshotBatch":
        """Snapshots (all measuring the same things) as a batch."""

        def column(name: str, dtype=np.float64) -> np.ndarray:
            return np.array([getattr(s, name) for s in snaps], dtype=dtype)

        def optional(name: str) -> np.ndarray | None:
            given = [getattr(s, name) is not None for s in snaps]
            if any(given) and not all(given):
                raise ValueError(f"{name} is measured in some of these snapshots but not all")
            return column(name) if all(given) and snaps else None

        return cls(
            column("step", np.int64), column("loss"), optional("test_loss"), optional("accuracy"),
            optional("test_accuracy"), column("c"), column("w_norm"), column("v"), column("v_sign", np.int8),
            [s.signs for s in snaps], column("max_drift"), column("elapsed"),
            [h for s in snaps for h in s.hops], {s.step: s.params for s in snaps if s.params is not None},
        )
