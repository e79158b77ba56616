"""The two-layer network for N networks at once, with its backward pass written out by hand.

Shapes: data x (n, d); hidden weights W (N, l, d), hidden bias b (N, l), output weights
V (N, e, l), output bias o (N, e). Hidden pre-activations are computed for all networks as one
matrix product x @ W^T -> (n, N*l), so a sweep over many networks is a few large GEMMs rather
than many small ones, and no autograd graph is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


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


def activate_grad(z: torch.Tensor, h: torch.Tensor, name: str, slope: float = 0.01) -> torch.Tensor:
    """sigma'(z), given h = sigma(z); relu'(0) = 0 as the conservation law assumes."""
    if name == "relu":
        return (z > 0).to(z.dtype)
    if name == "leaky_relu":
        return torch.where(z > 0, 1.0, slope).to(z.dtype)
    if name == "abs":
        return torch.sign(z)
    if name == "linear":
        return torch.ones_like(z)
    if name == "tanh":
        return 1 - h * h
    if name == "gelu":
        cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2.0)))
        pdf = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return cdf + z * pdf
    raise ValueError(name)


@dataclass
class Weights:
    """Parameters of N networks; b and o are None when the model has no such bias."""

    W: torch.Tensor  # (N, l, d)
    b: torch.Tensor | None  # (N, l)
    V: torch.Tensor  # (N, e, l)
    o: torch.Tensor | None  # (N, e)

    def tensors(self) -> list[torch.Tensor]:
        return [t for t in (self.W, self.b, self.V, self.o) if t is not None]

    def clone(self) -> "Weights":
        return Weights(*(None if t is None else t.clone() for t in (self.W, self.b, self.V, self.o)))

    def incoming_sq(self) -> torch.Tensor:
        """||W_k||^2 with the bias inside: (N, l)."""
        w2 = (self.W * self.W).sum(-1)
        return w2 + self.b * self.b if self.b is not None else w2

    def outgoing_sq(self) -> torch.Tensor:
        """||v_k||^2: (N, l)."""
        return (self.V * self.V).sum(1)

    def conserved(self) -> torch.Tensor:
        """c_k = ||W_k||^2 - ||v_k||^2 for every network and neuron: (N, l)."""
        return self.incoming_sq() - self.outgoing_sq()


@dataclass
class Forward:
    z: torch.Tensor  # (n, N, l)
    h: torch.Tensor  # (n, N, l)
    out: torch.Tensor  # (n, N, e)


def forward(w: Weights, x: torch.Tensor, activation: str, slope: float = 0.01) -> Forward:
    N, l, d = w.W.shape
    n = x.shape[0]
    Wt = w.W.reshape(N * l, d).T
    z = torch.addmm(w.b.reshape(1, N * l), x, Wt) if w.b is not None else x @ Wt
    z = z.view(n, N, l)
    h = activate(z, activation, slope)
    if w.V.shape[1] == 1:
        # One output: a broadcast multiply and a sum beat N tiny batched matrix products.
        out = (h * w.V[:, 0, :]).sum(-1, keepdim=True)
    else:
        out = torch.einsum("nNl,Nel->nNe", h, w.V)
    if w.o is not None:
        out = out + w.o
    return Forward(z, h, out)


def loss_and_grad(out: torch.Tensor, target: torch.Tensor, loss: str, need_grad: bool = True):
    """Per-network mean loss (N,) and dL/dout (n, N, e).

    target: (n, e) float for mse / bce, (n, e) one-hot for cross_entropy. bce and cross_entropy
    take logits, as BCEWithLogitsLoss and CrossEntropyLoss do.
    """
    n, N, e = out.shape
    t = target[:, None, :]
    if loss == "mse":
        diff = out - t
        value = (diff * diff).mean(dim=(0, 2))
        grad = diff * (2.0 / (n * e)) if need_grad else None
    elif loss == "bce":
        value = (torch.nn.functional.softplus(out) - t * out).mean(dim=(0, 2))
        grad = (torch.sigmoid(out) - t) * (1.0 / (n * e)) if need_grad else None
    elif loss == "cross_entropy":
        logp = torch.log_softmax(out, dim=2)
        value = -(logp * t).sum(2).mean(0)
        grad = (logp.exp() - t) * (1.0 / n) if need_grad else None
    else:
        raise ValueError(loss)
    return value, grad


def backward(w: Weights, x: torch.Tensor, fw: Forward, grad_out: torch.Tensor, activation: str, slope: float = 0.01) -> Weights:
    """Gradients of the summed per-network losses with respect to every network's parameters."""
    N, l, d = w.W.shape
    n = x.shape[0]
    if w.V.shape[1] == 1:
        g = grad_out[:, :, 0:1]  # (n, N, 1)
        dV = (g * fw.h).sum(0).unsqueeze(1)  # (N, 1, l)
        dh = g * w.V[:, 0, :]  # (n, N, l)
    else:
        dV = torch.einsum("nNe,nNl->Nel", grad_out, fw.h)
        dh = torch.einsum("nNe,Nel->nNl", grad_out, w.V)
    if activation == "relu":
        dz = dh.masked_fill_(fw.z <= 0, 0.0)
    else:
        dz = dh.mul_(activate_grad(fw.z, fw.h, activation, slope))
    dz2 = dz.view(n, N * l)
    dW = (dz2.T @ x).view(N, l, d)
    db = dz2.sum(0).view(N, l) if w.b is not None else None
    do = grad_out.sum(0) if w.o is not None else None
    return Weights(dW, db, dV, do)
