"""Model input (Kaldi log-mel fbank) and the spectrum the mask multiplies, for one SignalSpec.

Both use the spec's frames (40 ms, shift 20 ms in every shipped spec) and are aligned 1:1 for
every input length by one shared padding rule (`pad_for_frames`, `SignalSpec.padding`): the
waveform gets one hop of zeros in front and enough zeros behind that every real sample lies
in exactly two frames. Frame t then covers input samples [hop(t-1), hop(t+1)),
`spec.num_frames(n) = ceil(n/hop) + 1`, and the inverse STFT returns exactly the input length.
Everything here works frame by frame, so the streaming enhancer reproduces offline features
exactly.

`fbank` is a batched re-implementation of `torchaudio.compliance.kaldi.fbank` with the
settings of docs/signal_path.md (tests check it against torchaudio, max |diff| <= 1e-3 in log-mel).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ans.runtime.dsp import mel_banks
from ans.signal_spec import REFERENCE, SignalSpec

_EPS = torch.finfo(torch.float32).eps


def pad_for_frames(wave: torch.Tensor, spec: SignalSpec = REFERENCE) -> torch.Tensor:
    """Pad (..., N) so that the spec's frames cover every sample exactly twice."""
    return F.pad(wave, spec.padding(wave.shape[-1]))


def kaldi_fbank_reference(wave: torch.Tensor, spec: SignalSpec = REFERENCE, dither: float = 0.0) -> torch.Tensor:
    """torchaudio's Kaldi fbank on the padded waveform of one utterance, (N,) -> (T, n_mels)."""
    # only the tests' reference: torchaudio is not needed to train or enhance (a PyPI torchaudio
    # wheel beside a CPU torch often cannot load its extension, see scripts/fix_torchaudio.py)
    from torchaudio.compliance import kaldi

    x = pad_for_frames(wave.reshape(1, -1), spec) * spec.input_scale
    return kaldi.fbank(
        x, sample_frequency=spec.sample_rate, frame_length=spec.ms(spec.frame),
        frame_shift=spec.ms(spec.hop), window_type="hamming", num_mel_bins=spec.n_mels,
        low_freq=spec.low_freq, high_freq=spec.high_freq, preemphasis_coefficient=spec.preemphasis,
        remove_dc_offset=True, dither=dither, snip_edges=True, use_energy=False,
    )


class FeatureExtractor(nn.Module):
    """Batched fbank + STFT + iSTFT with the spec's framing. Holds windows as buffers."""

    def __init__(self, spec: SignalSpec | dict = REFERENCE, dither: float = 0.0):
        super().__init__()
        self.spec = SignalSpec.from_dict(spec)
        s = self.spec
        self.dither = float(dither)  # applied only in training mode, as Kaldi's training dither
        # the runtime's numpy filters (one home; equal to torchaudio's get_mel_banks padded by one bin)
        self.register_buffer("mel_banks", torch.from_numpy(mel_banks(s)), persistent=False)
        self.register_buffer("kaldi_window", torch.hamming_window(s.frame, periodic=False), persistent=False)
        self.register_buffer("stft_window", torch.hamming_window(s.frame, periodic=True), persistent=False)

    def _frames(self, padded: torch.Tensor) -> torch.Tensor:
        """(B, P) -> (B, T, frame) strided view, snip_edges style."""
        return padded.unfold(-1, self.spec.frame, self.spec.hop)

    def frames(self, wave: torch.Tensor) -> torch.Tensor:
        """(N,) waveform -> (T, frame) strided view of the padded signal."""
        return self._frames(pad_for_frames(wave.reshape(-1).float(), self.spec))

    # -- model input -------------------------------------------------------------------
    def fbank_frames(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Log-mel of raw frames (..., frame) in [-1, 1] units -> (..., n_mels)."""
        x = frames * self.spec.input_scale
        if self.training and self.dither > 0:
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + self.dither * noise
        x = x - x.mean(dim=-1, keepdim=True)  # DC removal per frame
        prev = torch.cat([x[..., :1], x[..., :-1]], dim=-1)  # Kaldi replicates the first sample
        x = (x - self.spec.preemphasis * prev) * self.kaldi_window
        power = torch.fft.rfft(x, n=self.spec.fft_fbank).abs().pow(2)
        return torch.log(torch.clamp(power @ self.mel_banks.T, min=_EPS))

    def fbank(self, wave: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, N) or (N,) waveform -> (B, T, n_mels) or (T, n_mels) log-mel fbank."""
        squeeze = wave.dim() == 1
        frames = self._frames(pad_for_frames(wave.reshape(-1, wave.shape[-1]).float(), self.spec))
        out = self.fbank_frames(frames, generator)
        return out[0] if squeeze else out

    # -- spectrum the mask multiplies --------------------------------------------------
    def stft(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, N) or (N,) -> complex (B, T, n_bins) or (T, n_bins)."""
        squeeze = wave.dim() == 1
        s = self.spec
        padded = pad_for_frames(wave.reshape(-1, wave.shape[-1]).float(), s)
        spec = torch.stft(padded, n_fft=s.frame, hop_length=s.hop, win_length=s.frame,
                          window=self.stft_window, center=False, return_complex=True)
        spec = spec.transpose(1, 2)
        return spec[0] if squeeze else spec

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Inverse of `stft`: complex (B, T, n_bins) -> (B, length), weighted overlap-add."""
        squeeze = spec.dim() == 2
        s = self.spec
        spec = spec.reshape(-1, *spec.shape[-2:])
        if spec.shape[1] == 0:
            out = spec.real.new_zeros(spec.shape[0], length)
        else:
            full = torch.istft(spec.transpose(1, 2), n_fft=s.frame, hop_length=s.hop, win_length=s.frame,
                               window=self.stft_window, center=False,
                               length=s.hop * (spec.shape[1] + 1))
            out = full[:, s.hop:s.hop + length]
        return out[0] if squeeze else out

    def apply_mask(self, mask: torch.Tensor, wave: torch.Tensor, spec: torch.Tensor | None = None) -> torch.Tensor:
        """The one mask -> waveform path of training, validation and the oracle: mask (B, T, n_bins)
        times the STFT of `wave` (B, N) (`spec`, when the caller already has it), inverse STFT back
        to (B, N)."""
        return self.istft(mask * (self.stft(wave) if spec is None else spec), wave.shape[-1])

    def synthesis_frame(self, spec_frame: torch.Tensor) -> torch.Tensor:
        """One masked complex frame (..., n_bins) -> windowed time frame (..., frame) for streaming OLA."""
        return torch.fft.irfft(spec_frame, n=self.spec.frame) * self.stft_window

    def ola_envelope(self) -> torch.Tensor:
        """Sum of squared windows over one hop (what weighted OLA divides by), shape (hop,)."""
        w2 = self.stft_window.pow(2)
        return w2[:self.spec.hop] + w2[self.spec.hop:]

    def analysis_frame(self, frame: torch.Tensor) -> torch.Tensor:
        """One raw frame (..., frame) -> complex spectrum (..., n_bins), same as `stft`."""
        return torch.fft.rfft(frame * self.stft_window)


class Normalizer(nn.Module):
    """Per-bin mean/std of the fbank, fitted once on training data and stored in checkpoints."""

    def __init__(self, dim: int = REFERENCE.n_mels):
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
        norm = cls(len(state["mean"])) if state else cls()
        if state:
            norm.mean.copy_(torch.tensor(state["mean"]))
            norm.std.copy_(torch.tensor(state["std"]))
        return norm
