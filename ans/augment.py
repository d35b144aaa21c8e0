"""SpecAugment on the model input (training only; targets are never masked).

Applied to each sample with probability `p`. Frequency masks touch only fbank bins whose
centre is >= `min_freq_hz` (2 kHz -> bin ~45 of 120), so the speech fundamental and first
formants stay visible; time masks are at most `max_time_frames` (50 frames = 1 s).
Masked values are set to 0, i.e. the mean of the normalised features.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ans.runtime.dsp import mel_centres_hz
from ans.signal_spec import REFERENCE, SignalSpec


def first_bin_at(freq_hz: float, spec: SignalSpec = REFERENCE) -> int:
    """Index of the first fbank bin of `spec` whose centre frequency is >= freq_hz."""
    idx = np.flatnonzero(mel_centres_hz(spec) >= freq_hz)
    return int(idx[0]) if len(idx) else spec.n_mels


class SpecAugment(nn.Module):
    def __init__(self, p: float = 0.6, min_freq_hz: float = 2000.0, freq_masks: int = 2,
                 max_freq_width: int = 15, time_masks: int = 2, max_time_frames: int = 50,
                 spec: SignalSpec | dict = REFERENCE):
        super().__init__()
        self.p, self.freq_masks, self.max_freq_width = p, freq_masks, max_freq_width
        self.time_masks, self.max_time_frames = time_masks, max_time_frames
        self.min_bin = first_bin_at(min_freq_hz, SignalSpec.from_dict(spec))

    def forward(self, feats: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, T, F) -> masked copy (only in training mode; identity in eval)."""
        if not self.training or self.p <= 0:
            return feats
        out = feats.clone()
        B, T, F = out.shape
        g = generator

        def randint(lo: int, hi: int) -> int:  # inclusive lo, exclusive hi
            return int(torch.randint(lo, max(hi, lo + 1), (1,), generator=g))

        for b in range(B):
            if float(torch.rand(1, generator=g)) >= self.p:
                continue
            for _ in range(self.freq_masks):
                width = randint(0, self.max_freq_width + 1)
                start = randint(self.min_bin, F - width + 1)
                out[b, :, start:start + width] = 0.0
            for _ in range(self.time_masks):
                width = randint(0, min(self.max_time_frames, T) + 1)
                start = randint(0, T - width + 1)
                out[b, start:start + width, :] = 0.0
        return out
