"""Training targets and the magFFT-weighted mask loss (docs/training_data.md "The loss").

PSM = |S|/|Y| cos(angle S - angle Y) = Re(S conj(Y)) / |Y|^2, clipped to [0, 1].
Loss: L = (1/K) sum_t || w_t * (m_t - m_hat_t) ||^2 with w_t the per-frame normalised noisy
magnitude (`linear`, default), a log-compressed version of it (`log`), or 1 (`none`). The
weighting de-emphasises bins with little noisy energy, e.g. the empty upper band of
upsampled 8/16 kHz material whose PSM values are noise.

`suppress_weight` (asymmetric loss; 1 = symmetric): bins where the predicted mask is below the
target (speech removed) cost suppress_weight^2 times as much as bins above it (noise left).
Removed speech costs intelligibility (STOI) that a residual noise floor does not.

`band_limit` (the remedy chosen in docs/training_data.md): bins above an item's measured speech
bandwidth get no weight. For a band-limited talker the true PSM there is 0, but the network
cannot know the talker was band-limited, so those bins would teach it "speech has no high band"
and it would erase the fricatives of full-band talkers.
"""

from __future__ import annotations

import torch
from torch import nn

from ans.signal_spec import REFERENCE

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
    """Weighted squared mask error summed over bins, averaged over frames (and batch).
    `sample_rate`: the model's (its spec's), which places the band limit on the bins."""

    def __init__(self, weighting: str = "linear", target: str = "psm", band_limit: bool = False,
                 sample_rate: int = REFERENCE.sample_rate, suppress_weight: float = 1.0):
        super().__init__()
        if not suppress_weight >= 1.0:
            raise ValueError(f"suppress_weight must be >= 1, got {suppress_weight!r}")
        self.suppress_weight = float(suppress_weight)
        self.band_limit, self.sample_rate = bool(band_limit), int(sample_rate)
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        self.weighting, self.target = weighting, target

    def make_target(self, clean_spec: torch.Tensor, noisy_spec: torch.Tensor) -> torch.Tensor:
        if self.target == "psm":
            return psm(clean_spec, noisy_spec)
        return irm(clean_spec, noisy_spec - clean_spec)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, noisy_mag: torch.Tensor,
                bandwidth_hz: torch.Tensor | None = None) -> torch.Tensor:
        """pred/target/noisy_mag (B, T, F); bandwidth_hz (B,) per item, used with band_limit."""
        w = magfft_weight(noisy_mag, self.weighting)
        if self.band_limit and bandwidth_hz is not None:
            n_bins = w.shape[-1]
            freqs = torch.arange(n_bins, device=w.device) * (self.sample_rate / (2 * (n_bins - 1)))
            bw = torch.as_tensor(bandwidth_hz, device=w.device, dtype=w.dtype).reshape(-1, 1, 1)
            w = w * (freqs <= bw)
        err = pred - target
        if self.suppress_weight != 1.0:  # under-estimated mask = speech removed
            err = torch.where(err < 0, err * self.suppress_weight, err)
        per_frame = (w * err).pow(2).sum(dim=-1)
        return per_frame.mean()
