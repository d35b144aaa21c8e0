"""Training targets and the magFFT-weighted mask loss of SPEC.md.

PSM = |S|/|Y| cos(angle S - angle Y) = Re(S conj(Y)) / |Y|^2, clipped to [0, 1].
Loss: L = (1/K) sum_t || w_t * (m_t - m_hat_t) ||^2 with w_t the per-frame normalised noisy
magnitude (`linear`, default), a log-compressed version of it (`log`), or 1 (`none`). The
weighting de-emphasises bins with little noisy energy, e.g. the empty upper band of
upsampled 8/16 kHz material whose PSM values are noise.
"""

from __future__ import annotations

import torch
from torch import nn

_EPS = 1e-8
WEIGHTINGS = ("linear", "log", "none")
TARGETS = ("psm", "irm")
LOG_RANGE = 1000.0  # `log` weighting covers 60 dB below each frame's peak bin


def psm(clean_spec: torch.Tensor, noisy_spec: torch.Tensor) -> torch.Tensor:
    """Phase-sensitive mask from complex spectra, clipped to [0, 1]."""
    num = (clean_spec * noisy_spec.conj()).real
    return (num / (noisy_spec.abs().pow(2) + _EPS)).clamp(0.0, 1.0)


def irm(clean_spec: torch.Tensor, noise_spec: torch.Tensor) -> torch.Tensor:
    """Ideal ratio mask sqrt(|S|^2 / (|S|^2 + |N|^2)) in [0, 1]."""
    s2, n2 = clean_spec.abs().pow(2), noise_spec.abs().pow(2)
    return (s2 / (s2 + n2 + _EPS)).sqrt()


def magfft_weight(noisy_mag: torch.Tensor, weighting: str = "linear") -> torch.Tensor:
    """Per-frame weights w_t from |Y| (..., T, F): max over F is 1 in every non-silent frame."""
    if weighting == "none":
        return torch.ones_like(noisy_mag)
    rel = noisy_mag / (noisy_mag.amax(dim=-1, keepdim=True) + _EPS)
    if weighting == "linear":
        return rel
    if weighting == "log":
        return torch.log1p(LOG_RANGE * rel) / torch.log1p(torch.tensor(LOG_RANGE))
    raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")


class MaskLoss(nn.Module):
    """Weighted squared mask error summed over bins, averaged over frames (and batch)."""

    def __init__(self, weighting: str = "linear", target: str = "psm"):
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        self.weighting, self.target = weighting, target

    def make_target(self, clean_spec: torch.Tensor, noisy_spec: torch.Tensor) -> torch.Tensor:
        if self.target == "psm":
            return psm(clean_spec, noisy_spec)
        return irm(clean_spec, noisy_spec - clean_spec)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, noisy_mag: torch.Tensor) -> torch.Tensor:
        w = magfft_weight(noisy_mag, self.weighting)
        per_frame = (w * (pred - target)).pow(2).sum(dim=-1)
        return per_frame.mean()
