"""The two-layer network for N networks at once, with its backward pass written out by hand.

Layout, chosen so every heavy operation is one large matrix product or a contiguous pass:
- data: xt (d_eff, n), the inputs transposed, with a row of ones appended when there is a
  hidden bias, so the bias is the last column of W — exactly the W_k = (w_k, b_k) of docs/science.md;
- hidden weights W (N, l, d_eff); output weights V (N, e, l); output bias o (N, e) or None;
- pre-activations Z = W @ xt for all networks as one GEMM: (N*l, d_eff) x (d_eff, n) -> (N, l, n);
- outputs V @ sigma(Z) as one batched product: (N, e, n).
No autograd graph is built; `backward` is the chain rule by hand.
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
    N, l, d_eff = w.W.shape
    z = (w.W.view(N * l, d_eff) @ xt).view(N, l, -1)
    h = activate(z, activation, slope)
    out = torch.bmm(w.V, h)
    if w.o is not None:
        out = out + w.o[:, :, None]
    return Forward(z, h, out)


def loss_value(out: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-network mean loss (N,).

    target: (e, n), float targets for mse / bce, one-hot for cross_entropy. bce and
    cross_entropy take logits, as BCEWithLogitsLoss and CrossEntropyLoss do.
    """
    if loss == "mse":
        diff = out - target
        return (diff * diff).mean(dim=(1, 2))
    if loss == "bce":
        return (torch.nn.functional.softplus(out) - target * out).mean(dim=(1, 2))
    if loss == "cross_entropy":
        return -(torch.log_softmax(out, dim=1) * target).sum(1).mean(1)
    raise ValueError(loss)


def output_grad(out: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """dL/dout (N, e, n) of the per-network mean losses of `loss_value`."""
    N, e, n = out.shape
    if loss == "mse":
        return (out - target).mul_(2.0 / (n * e))
    if loss == "bce":
        return torch.sigmoid(out).sub_(target).mul_(1.0 / (n * e))
    if loss == "cross_entropy":
        return torch.softmax(out, dim=1).sub_(target).mul_(1.0 / n)
    raise ValueError(loss)


def loss_and_grad(out: torch.Tensor, target: torch.Tensor, loss: str, need_grad: bool = True):
    """(loss_value, output_grad or None)."""
    return loss_value(out, target, loss), output_grad(out, target, loss) if need_grad else None


def backward(w: Weights, xt: torch.Tensor, fw: Forward, grad_out: torch.Tensor, activation: str, slope: float = 0.01) -> Weights:
    """Gradients of the summed per-network losses with respect to every network's parameters."""
    N, l, d_eff = w.W.shape
    dV = torch.bmm(grad_out, fw.h.transpose(1, 2))  # (N, e, l)
    dh = torch.bmm(w.V.transpose(1, 2), grad_out)  # (N, l, n)
    dz = activation_backward(dh, fw.z, fw.h, activation, slope)
    dW = (dz.view(N * l, -1) @ xt.T).view(N, l, d_eff)
    do = grad_out.sum(2) if w.o is not None else None
    return Weights(dW, dV, do)
