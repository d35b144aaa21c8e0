"""Model input (Kaldi log-mel fbank, 120 bins) and the spectrum the mask multiplies.

Both use 40 ms frames with a 20 ms shift at 48 kHz and are aligned 1:1 for every input
length by one shared padding rule (`pad_for_frames`): the waveform gets one hop of zeros in
front and enough zeros behind that every real sample lies in exactly two frames. Frame t
then covers input samples [960(t-1), 960(t+1)), `num_frames(n) = ceil(n/960) + 1`, and the
inverse STFT returns exactly the input length. Everything here works frame by frame, so the
streaming enhancer reproduces offline features exactly.

`fbank` is a batched re-implementation of `torchaudio.compliance.kaldi.fbank` with the
settings of docs/signal_path.md (tests check it against torchaudio, max |diff| <= 1e-3 in log-mel).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torchaudio.compliance import kaldi

SAMPLE_RATE = 48_000
FRAME = 1920  # 40 ms analysis window
HOP = 960  # 20 ms shift
N_FFT_FBANK = 2048  # Kaldi rounds the window up to a power of two
N_MELS = 120
N_BINS = FRAME // 2 + 1  # 961 STFT bins the mask multiplies
LOW_FREQ, HIGH_FREQ = 20.0, 24_000.0
PREEMPH = 0.97
INT16_SCALE = 32768.0  # the reference scales [-1, 1] audio to int16 range before fbank
_EPS = torch.finfo(torch.float32).eps


def num_frames(n_samples: int) -> int:
    """Frames produced for an n-sample input (0 for empty input)."""
    return 0 if n_samples <= 0 else math.ceil(n_samples / HOP) + 1


def pad_for_frames(wave: torch.Tensor) -> torch.Tensor:
    """Pad (..., N) so that frames of FRAME/HOP cover every sample exactly twice."""
    n = wave.shape[-1]
    total = HOP * (num_frames(n) + 1)
    return F.pad(wave, (HOP, total - HOP - n))


def _frames(padded: torch.Tensor) -> torch.Tensor:
    """(B, P) -> (B, T, FRAME) strided view, snip_edges style."""
    return padded.unfold(-1, FRAME, HOP)


def kaldi_fbank_reference(wave: torch.Tensor, dither: float = 0.0) -> torch.Tensor:
    """torchaudio's Kaldi fbank on the padded waveform of one utterance, (N,) -> (T, 120)."""
    x = pad_for_frames(wave.reshape(1, -1)) * INT16_SCALE
    return kaldi.fbank(
        x, sample_frequency=SAMPLE_RATE, frame_length=1000 * FRAME / SAMPLE_RATE,
        frame_shift=1000 * HOP / SAMPLE_RATE, window_type="hamming", num_mel_bins=N_MELS,
        low_freq=LOW_FREQ, high_freq=HIGH_FREQ, preemphasis_coefficient=PREEMPH,
        remove_dc_offset=True, dither=dither, snip_edges=True, use_energy=False,
    )


class FeatureExtractor(nn.Module):
    """Batched fbank + STFT + iSTFT with the shared framing. Holds windows as buffers."""

    def __init__(self, dither: float = 0.0):
        super().__init__()
        self.dither = float(dither)  # applied only in training mode, as Kaldi's training dither
        banks, _ = kaldi.get_mel_banks(N_MELS, N_FFT_FBANK, float(SAMPLE_RATE), LOW_FREQ, HIGH_FREQ,
                                       100.0, -500.0, 1.0)
        self.register_buffer("mel_banks", F.pad(banks, (0, 1)).float(), persistent=False)
        self.register_buffer("kaldi_window", torch.hamming_window(FRAME, periodic=False), persistent=False)
        self.register_buffer("stft_window", torch.hamming_window(FRAME, periodic=True), persistent=False)

    # -- model input -------------------------------------------------------------------
    def fbank_frames(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Log-mel of raw frames (..., FRAME) in [-1, 1] units -> (..., 120)."""
        x = frames * INT16_SCALE
        if self.training and self.dither > 0:
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + self.dither * noise
        x = x - x.mean(dim=-1, keepdim=True)  # DC removal per frame
        prev = torch.cat([x[..., :1], x[..., :-1]], dim=-1)  # Kaldi replicates the first sample
        x = (x - PREEMPH * prev) * self.kaldi_window
        power = torch.fft.rfft(x, n=N_FFT_FBANK).abs().pow(2)
        return torch.log(torch.clamp(power @ self.mel_banks.T, min=_EPS))

    def fbank(self, wave: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, N) or (N,) waveform -> (B, T, 120) or (T, 120) log-mel fbank."""
        squeeze = wave.dim() == 1
        frames = _frames(pad_for_frames(wave.reshape(-1, wave.shape[-1]).float()))
        out = self.fbank_frames(frames, generator)
        return out[0] if squeeze else out

    # -- spectrum the mask multiplies --------------------------------------------------
    def stft(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, N) or (N,) -> complex (B, T, 961) or (T, 961)."""
        squeeze = wave.dim() == 1
        padded = pad_for_frames(wave.reshape(-1, wave.shape[-1]).float())
        spec = torch.stft(padded, n_fft=FRAME, hop_length=HOP, win_length=FRAME,
                          window=self.stft_window, center=False, return_complex=True)
        spec = spec.transpose(1, 2)
        return spec[0] if squeeze else spec

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Inverse of `stft`: complex (B, T, 961) -> (B, length), weighted overlap-add."""
        squeeze = spec.dim() == 2
        spec = spec.reshape(-1, *spec.shape[-2:])
        if spec.shape[1] == 0:
            out = spec.real.new_zeros(spec.shape[0], length)
        else:
            full = torch.istft(spec.transpose(1, 2), n_fft=FRAME, hop_length=HOP, win_length=FRAME,
                               window=self.stft_window, center=False,
                               length=HOP * (spec.shape[1] + 1))
            out = full[:, HOP:HOP + length]
        return out[0] if squeeze else out

    def synthesis_frame(self, spec_frame: torch.Tensor) -> torch.Tensor:
        """One masked complex frame (..., 961) -> windowed time frame (..., FRAME) for streaming OLA."""
        return torch.fft.irfft(spec_frame, n=FRAME) * self.stft_window

    def ola_envelope(self) -> torch.Tensor:
        """Sum of squared windows over one hop (what weighted OLA divides by), shape (HOP,)."""
        w2 = self.stft_window.pow(2)
        return w2[:HOP] + w2[HOP:]

    def analysis_frame(self, frame: torch.Tensor) -> torch.Tensor:
        """One raw frame (..., FRAME) -> complex spectrum (..., 961), same as `stft`."""
        return torch.fft.rfft(frame * self.stft_window)


class Normalizer(nn.Module):
    """Per-bin mean/std of the fbank, fitted once on training data and stored in checkpoints."""

    def __init__(self, dim: int = N_MELS):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats - self.mean) / self.std

    @torch.no_grad()
    def fit(self, batches) -> Normalizer:
        """Accumulate statistics over an iterable of (..., dim) tensors (float64 sums)."""
        n, s, ss = 0, 0.0, 0.0
        for feats in batches:
            flat = feats.reshape(-1, feats.shape[-1]).double()
            n += flat.shape[0]
            s = s + flat.sum(0)
            ss = ss + flat.pow(2).sum(0)
        if n == 0:
            raise ValueError("Normalizer.fit got no frames")
        mean = s / n
        var = (ss / n - mean.pow(2)).clamp_min(1e-8)
        self.mean.copy_(mean.float())
        self.std.copy_(var.sqrt().float())
        return self

    def state(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_state(cls, state: dict | None) -> Normalizer:
        norm = cls()
        if state:
            norm.mean.copy_(torch.tensor(state["mean"]))
            norm.std.copy_(torch.tensor(state["std"]))
        return norm
