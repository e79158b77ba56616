"""The two-layer network for N networks at once, with its backward pass written out by hand.

Layout, chosen so every heavy operation is one batched matrix product or a contiguous pass:
- data: xt (d_eff, n), the inputs transposed, with a row of ones appended when there is a
  hidden bias, so the bias is the last column of W — exactly the W_k = (w_k, b_k) of docs/science.md;
- hidden weights W (N, l, d_eff); output weights V (N, e, l); output bias o (N, e) or None;
- pre-activations Z = W @ xt and outputs V @ sigma(Z) as batched products, one matrix product
  of the same shape per network: (N, l, n) and (N, e, n).
No autograd graph is built; `backward` is the chain rule by hand.

A network's numbers must not depend on how many networks share its tensors (a sweep's chunking,
a single run vs a sweep member). Two things would make them depend on it: one GEMM over all N*l
rows (BLAS blocks and sums by the whole matrix's shape), and elementwise kernels that take a
vector path in the body of a tensor and a scalar path in its tail (sigmoid, softplus and gelu
round differently on the two). So every contraction is per network (`torch.bmm`), and callers
may pad the sample axis to a multiple of LOOP_WIDTH with zero columns (`pad_columns`), so every
network's block of every (N, *, n) tensor starts and ends on a vector boundary; `loss_value`,
`output_grad` and `accuracy` take the number of real samples and ignore the padding. The
per-neuron (N, l) arithmetic of projected GD is padded the same way (core.train.Sweep.project).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def activate(z: torch.Tensor, name: str, slope: float = 0.01) -> torch.Tensor:
    if name == "relu":
        return torch.relu(z)
    if name == "leaky_relu":
        return torch.nn.functional.leaky_relu(z, slope)
    if name == "abs":
        return z.abs()
    if name == "linear":
        return z
    if name == "tanh":
        return torch.tanh(z)
    if name == "gelu":
        return torch.nn.functional.gelu(z)
    raise ValueError(name)


def activation_backward(dh: torch.Tensor, z: torch.Tensor, h: torch.Tensor, name: str, slope: float = 0.01) -> torch.Tensor:
    """dL/dz from dL/dh; relu'(0) = 0, as the conservation law assumes. May overwrite dh."""
    if name == "relu":
        # One fused pass (the kernel autograd itself uses for ReLU).
        return torch.ops.aten.threshold_backward(dh, z, 0.0)
    if name == "leaky_relu":
        return torch.where(z > 0, dh, dh * slope)
    if name == "abs":
        return dh.mul_(torch.sign(z))
    if name == "linear":
        return dh
    if name == "tanh":
        return dh.mul_(1 - h * h)
    if name == "gelu":
        cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2.0)))
        pdf = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return dh.mul_(cdf + z * pdf)
    raise ValueError(name)


@dataclass
class Weights:
    """Parameters of N networks. W holds each neuron's incoming weights W_k, the bias last."""

    W: torch.Tensor  # (N, l, d_eff)
    V: torch.Tensor  # (N, e, l)
    o: torch.Tensor | None  # (N, e)

    def tensors(self) -> list[torch.Tensor]:
        return [t for t in (self.W, self.V, self.o) if t is not None]

    def clone(self) -> "Weights":
        return Weights(self.W.clone(), self.V.clone(), None if self.o is None else self.o.clone())

    def incoming_sq(self) -> torch.Tensor:
        """||W_k||^2, bias included: (N, l)."""
        return (self.W * self.W).sum(-1)

    def outgoing_sq(self) -> torch.Tensor:
        """||v_k||^2: (N, l)."""
        return (self.V * self.V).sum(1)

    def conserved(self) -> torch.Tensor:
        """c_k = ||W_k||^2 - ||v_k||^2 for every network and neuron: (N, l)."""
        return self.incoming_sq() - self.outgoing_sq()


# A network's block is padded to a multiple of this: torch's CPU loops step two vectors at a time,
# 32 float32 or 16 float64 with AVX-512, the widest (a block of 48 floats is measured to differ).
LOOP_WIDTH = 32


def pad_columns(t: torch.Tensor, multiple: int = LOOP_WIDTH) -> torch.Tensor:
    """(..., n) -> (..., n rounded up to `multiple`), zero columns appended."""
    extra = -t.shape[-1] % multiple
    return torch.nn.functional.pad(t, (0, extra)) if extra else t


def design(x: torch.Tensor, bias: bool) -> torch.Tensor:
    """xt (d_eff, n): inputs transposed, with a row of ones for the hidden bias."""
    if bias:
        x = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)], dim=1)
    return x.T.contiguous()


@dataclass
class Forward:
    z: torch.Tensor  # (N, l, n)
    h: torch.Tensor  # (N, l, n)
    out: torch.Tensor  # (N, e, n)


def forward(w: Weights, xt: torch.Tensor, activation: str, slope: float = 0.01) -> Forward:
    N, d_eff, n = w.W.shape[0], *xt.shape
    z = torch.bmm(w.W, xt.expand(N, d_eff, n))
    h = activate(z, activation, slope)
    out = torch.bmm(w.V, h)
    if w.o is not None:
        out = out + w.o[:, :, None]
    return Forward(z, h, out)


def loss_value(out: torch.Tensor, target: torch.Tensor, loss: str, n: int | None = None) -> torch.Tensor:
    """Per-network mean loss (N,) over the first `n` samples (default: all).

    target: (e, n), float targets for mse / bce, one-hot for cross_entropy. bce and
    cross_entropy take logits, as BCEWithLogitsLoss and CrossEntropyLoss do.
    """
    e, n = out.shape[1], n or out.shape[2]
    if loss == "mse":
        diff = out - target
        each = diff * diff
    elif loss == "bce":
        each = torch.nn.functional.softplus(out) - target * out
    elif loss == "cross_entropy":
        each, e = -(torch.log_softmax(out, dim=1) * target), 1
    else:
        raise ValueError(loss)
    return each[:, :, :n].sum(dim=(1, 2)) / (n * e)


def output_grad(out: torch.Tensor, target: torch.Tensor, loss: str, n: int | None = None) -> torch.Tensor:
    """dL/dout (N, e, n) of the per-network mean losses of `loss_value`; zero past the first `n` samples."""
    e, n = out.shape[1], n or out.shape[2]
    if loss == "mse":
        g = (out - target).mul_(2.0 / (n * e))
    elif loss == "bce":
        g = torch.sigmoid(out).sub_(target).mul_(1.0 / (n * e))
    elif loss == "cross_entropy":
        g = torch.softmax(out, dim=1).sub_(target).mul_(1.0 / n)
    else:
        raise ValueError(loss)
    g[:, :, n:] = 0
    return g


def loss_and_grad(out: torch.Tensor, target: torch.Tensor, loss: str, need_grad: bool = True, n: int | None = None):
    """(loss_value, output_grad or None) over the first `n` samples."""
    return loss_value(out, target, loss, n), output_grad(out, target, loss, n) if need_grad else None


def accuracy(out: torch.Tensor, target: torch.Tensor, loss: str, n: int | None = None) -> torch.Tensor | None:
    """Per-network accuracy (N,) over the first `n` samples: the logit's sign for bce, the argmax
    for cross_entropy; None for mse."""
    n = n or out.shape[2]
    if loss == "bce":
        right = (out[:, 0, :n] > 0) == (target[0, :n] > 0.5)
    elif loss == "cross_entropy":
        right = out[:, :, :n].argmax(1) == target[:, :n].argmax(0)
    else:
        return None
    return right.to(out.dtype).mean(1)


def backward(w: Weights, xt: torch.Tensor, fw: Forward, grad_out: torch.Tensor, activation: str, slope: float = 0.01) -> Weights:
    """Gradients of the summed per-network losses with respect to every network's parameters."""
    N = w.W.shape[0]
    dV = torch.bmm(grad_out, fw.h.transpose(1, 2))  # (N, e, l)
    dh = torch.bmm(w.V.transpose(1, 2), grad_out)  # (N, l, n)
    dz = activation_backward(dh, fw.z, fw.h, activation, slope)
    dW = torch.bmm(dz, xt.T.expand(N, *xt.T.shape))
    do = grad_out.sum(2) if w.o is not None else None
    return Weights(dW, dV, do)
