"""The causal DFSMN student, weight-compatible with "DFSMN ANS PSM 48k causal".

Linear 120->256 + ReLU, 9 x UniDeepFsmn, Linear 256->961 + Sigmoid. Module and parameter
names reproduce the reference state dict exactly (40 tensors, 1,505,985 parameters), so a
reference checkpoint loads without renaming (see ans/convert.py).

Streaming: `step()` consumes one frame and keeps, per layer, only the last N1-1 projected
frames (the memory block's input); work per 20 ms hop is constant, and the output equals
offline `forward()` on the whole sequence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AffineTransform(nn.Module):
    """A Linear wrapped so that its keys read `<name>.linear.{weight,bias}` as in the reference."""

    def __init__(self, input_dim: int, output_dim: int):
        super().__init__()
        self.linear = nn.Linear(input_dim, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class UniDeepFsmn(nn.Module):
    """h = ReLU(Wx + b); p = Vh; m = p + depthwise conv over time of p; y = x + m.

    The memory conv looks back `lorder` frames (N1, the current one included) and ahead
    `rorder` frames (N2, 0 = causal). It is a Conv2d (kernel [N1+N2, 1]) for key/shape
    compatibility with the reference.
    """

    def __init__(self, dim: int = 256, hidden: int = 256, lorder: int = 20, rorder: int = 0):
        super().__init__()
        self.lorder, self.rorder = lorder, rorder
        self.linear = nn.Linear(dim, hidden)
        self.project = nn.Linear(hidden, dim, bias=False)
        self.conv1 = nn.Conv2d(dim, dim, (lorder + rorder, 1), groups=dim, bias=False)

    def memory(self, p: torch.Tensor) -> torch.Tensor:
        """(B, T, D) projected frames -> (B, T, D) memory output m = p + conv(p)."""
        x = p.transpose(1, 2).unsqueeze(-1)  # B, D, T, 1
        x = F.pad(x, (0, 0, self.lorder - 1, self.rorder))
        return p + self.conv1(x).squeeze(-1).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.project(F.relu(self.linear(x)))
        return x + self.memory(p)

    def kernel(self) -> torch.Tensor:
        """The memory taps as (N1 + N2, D), oldest ... newest (the current frame is row N1 - 1)."""
        return self.conv1.weight[:, 0, :, 0].transpose(0, 1)


class DFSMN(nn.Module):
    """Causal DFSMN mask estimator (defaults = the reference model)."""

    def __init__(self, input_dim: int = 120, hidden: int = 256, output_dim: int = 961,
                 fsmn_depth: int = 9, lorder: int = 20, rorder: int = 0):
        super().__init__()
        self.input_dim, self.hidden, self.output_dim = input_dim, hidden, output_dim
        self.fsmn_depth, self.lorder, self.rorder = fsmn_depth, lorder, rorder
        self.linear1 = AffineTransform(input_dim, hidden)
        self.deepfsmn = nn.Sequential(*[UniDeepFsmn(hidden, hidden, lorder, rorder)
                                        for _ in range(fsmn_depth)])
        self.linear2 = AffineTransform(hidden, output_dim)

    @property
    def streamable(self) -> bool:
        return self.rorder == 0

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, input_dim) -> mask (B, T, output_dim)."""
        x = F.relu(self.linear1(feats))
        x = self.deepfsmn(x)
        return torch.sigmoid(self.linear2(x))

    def init_cache(self, batch: int = 1, device=None, dtype=torch.float32) -> torch.Tensor:
        """Streaming state: per layer the last N1-1 projected frames, (B, depth, N1-1, hidden)."""
        return torch.zeros(batch, self.fsmn_depth, self.lorder - 1, self.hidden, device=device, dtype=dtype)

    def step(self, frame: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One feature frame (B, input_dim) -> (mask frame (B, output_dim), new cache)."""
        if not self.streamable:
            raise RuntimeError("frame-by-frame streaming needs rorder == 0 (a causal student)")
        # Per layer y = x + p + sum_j k_j * window_j (window = the cached N1-1 past p's, then p).
        # The past taps depend on the cache alone, so all layers' are summed first in one
        # product; the cache then shifts once. Same math as a per-layer concat/slice, but the
        # exported streaming graph has 80 nodes instead of 115 (its step 0.24 -> 0.16 ms; issue 15).
        kernels = torch.stack([layer.kernel() for layer in self.deepfsmn])  # (depth, N1, D)
        past = (cache * kernels[:, :-1]).sum(dim=2).unbind(1)  # depth x (B, D)
        x = F.relu(self.linear1(frame))
        ps = []
        for i, layer in enumerate(self.deepfsmn):
            p = layer.project(F.relu(layer.linear(x)))
            x = x + p * (1.0 + kernels[i, -1]) + past[i]
            ps.append(p)
        newest = torch.cat(ps, dim=1).view(-1, len(ps), 1, self.hidden)  # (B, depth, 1, D)
        return torch.sigmoid(self.linear2(x)), torch.cat([cache[:, :, 1:], newest], dim=2)

    def stepper(self) -> DfsmnStepper:
        """A fast frame-by-frame runner for inference (snapshots the current weights)."""
        return DfsmnStepper(self)

    def macs_per_frame(self) -> int:
        """Multiply-adds for one 20 ms frame (linear layers + memory taps)."""
        h = self.hidden
        per_layer = h * h + h * h + h * (self.lorder + self.rorder)
        return self.input_dim * h + self.fsmn_depth * per_layer + h * self.output_dim


class DfsmnStepper:
    """`DFSMN.step` for inference, stateful and lean: weights pre-transposed (a (1, D) x (D, D)
    product is ~2x faster than `F.linear` on a row), each layer's past N1-1 projected frames in
    a doubled ring (every frame written twice, so the window is always one contiguous slice:
    no concatenation per step). Same math as `step`; call under `torch.inference_mode()`."""

    def __init__(self, model: DFSMN):
        w = lambda lin: lin.weight.detach().t().contiguous()  # noqa: E731
        self.l1, self.b1 = w(model.linear1.linear), model.linear1.linear.bias.detach()
        self.l2, self.b2 = w(model.linear2.linear), model.linear2.linear.bias.detach()
        self.layers = []
        for layer in model.deepfsmn:
            kernel = layer.kernel().detach()  # (N1, D), oldest ... newest
            self.layers.append((w(layer.linear), layer.linear.bias.detach(), w(layer.project),
                                kernel[:-1].contiguous(), (1.0 + kernel[-1]).contiguous()))
        self.past = model.lorder - 1
        self.depth, self.hidden = model.fsmn_depth, model.hidden
        self.reset()

    def reset(self) -> None:
        self.rings = torch.zeros(self.depth, 2 * self.past, self.hidden)
        self.pos = 0  # the window of layer i is rings[i, pos:pos + past], oldest first

    @property
    def cache(self) -> torch.Tensor:
        """The state in `step`'s layout, (1, depth, N1-1, hidden)."""
        return self.rings[:, self.pos:self.pos + self.past].unsqueeze(0).clone()

    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        """One feature frame (1, input_dim) -> mask frame (1, output_dim)."""
        x = torch.addmm(self.b1, feats, self.l1).relu_()
        s, past = self.pos, self.past
        for i, (w1, b1, wp, k_past, k_now) in enumerate(self.layers):
            p = torch.addmm(b1, x, w1).relu_().mm(wp)  # (1, D)
            ring = self.rings[i]
            # y = x + p + sum_j window_j * k_j, the newest frame being p itself
            x = x + p * k_now + (ring[s:s + past] * k_past).sum(dim=0)
            ring[s] = p[0]
            ring[s + past] = p[0]
        self.pos = (s + 1) % past
        return torch.addmm(self.b2, x, self.l2).sigmoid_()
