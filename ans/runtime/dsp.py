"""The signal path of `ans.features` in numpy, for one SignalSpec: Kaldi fbank, STFT, weighted OLA.

Hand-written (not torchaudio) because the runtime must not import torch; the spec and the
framing rule are the ones of `ans.signal_spec` / `ans/features.py` (tests compare both
paths: fbank to torchaudio's Kaldi fbank, STFT/OLA to `FeatureExtractor`, end to end within
1e-4). Frame t covers input samples [hop(t-1), hop(t+1)) of the unpadded signal (one hop of
zeros in front), `spec.num_frames(n) = ceil(n / hop) + 1`.
"""

from __future__ import annotations

import numpy as np

from ans.signal_spec import REFERENCE, SignalSpec

_EPS = float(np.finfo(np.float32).eps)


def _mel(f):
    return 1127.0 * np.log(1.0 + np.asarray(f) / 700.0)


def mel_banks(spec: SignalSpec = REFERENCE) -> np.ndarray:
    """Kaldi triangular mel filters (no VTLN warp), (n_mels, fft_fbank/2 + 1) float32 - as
    torchaudio.compliance.kaldi.get_mel_banks(n_mels, fft_fbank, rate, low, high, ...) padded by one bin."""
    f32 = np.float32
    fft_bin_width = f32(spec.sample_rate / spec.fft_fbank)
    lo, hi = f32(_mel(spec.low_freq)), f32(_mel(spec.high_freq))
    delta = (hi - lo) / f32(spec.n_mels + 1)
    b = np.arange(spec.n_mels, dtype=f32)[:, None]
    left, center, right = lo + b * delta, lo + (b + 1) * delta, lo + (b + 2) * delta
    mel = _mel(fft_bin_width * np.arange(spec.fft_fbank // 2, dtype=f32)).astype(f32)[None, :]
    up, down = (mel - left) / (center - left), (right - mel) / (right - center)
    banks = np.maximum(f32(0), np.minimum(up, down)).astype(f32)
    return np.pad(banks, ((0, 0), (0, 1)))


def mel_centres_hz(spec: SignalSpec = REFERENCE) -> np.ndarray:
    """Centre frequency (Hz) of each mel filter of `mel_banks` (torchaudio's second return value)."""
    lo, hi = _mel(spec.low_freq), _mel(spec.high_freq)
    centre = lo + (np.arange(spec.n_mels) + 1) * (hi - lo) / (spec.n_mels + 1)
    return 700.0 * (np.exp(centre / 1127.0) - 1.0)


def hamming(n: int, periodic: bool) -> np.ndarray:
    d = n if periodic else n - 1
    return (0.54 - 0.46 * np.cos(2 * np.pi * np.arange(n) / d)).astype(np.float32)


class Dsp:
    """Windows and filters of one spec, built once; every method works on a block of frames (T, frame)."""

    def __init__(self, spec: SignalSpec = REFERENCE):
        self.spec = spec
        self.banks_t = np.ascontiguousarray(mel_banks(spec).T)  # (fft_fbank/2 + 1, n_mels)
        self.kaldi_window = hamming(spec.frame, periodic=False)
        self.stft_window = hamming(spec.frame, periodic=True)
        w2 = self.stft_window.astype(np.float64) ** 2
        self.ola_env = (w2[:spec.hop] + w2[spec.hop:]).astype(np.float32)

    def fbank(self, frames: np.ndarray) -> np.ndarray:
        """Raw frames (T, frame) in [-1, 1] -> (T, n_mels) log-mel (Kaldi: DC removal, pre-emphasis
        with the first sample replicated, Hamming, |rfft fft_fbank|^2, mel, log clamped at eps)."""
        x = frames.astype(np.float32) * np.float32(self.spec.input_scale)
        x -= x.mean(axis=-1, keepdims=True)
        y = np.empty_like(x)
        y[:, 1:] = x[:, 1:] - np.float32(self.spec.preemphasis) * x[:, :-1]
        y[:, 0] = x[:, 0] - np.float32(self.spec.preemphasis) * x[:, 0]
        y *= self.kaldi_window
        spec = np.fft.rfft(y, n=self.spec.fft_fbank)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        return np.log(np.maximum(power @ self.banks_t, np.float32(_EPS)))

    def analysis(self, frames: np.ndarray) -> np.ndarray:
        """(T, frame) -> complex (T, n_bins), as torch.stft(center=False) with the periodic Hamming."""
        return np.fft.rfft(frames * self.stft_window)

    def synthesis(self, spec: np.ndarray) -> np.ndarray:
        """Masked spectra (T, n_bins) -> windowed time frames (T, frame) for weighted overlap-add."""
        return (np.fft.irfft(spec, n=self.spec.frame) * self.stft_window).astype(np.float32)

    def frames_of(self, padded: np.ndarray) -> np.ndarray:
        """(P,) -> (T, frame) read-only strided view, hop `spec.hop` (snip_edges)."""
        frame, hop = self.spec.frame, self.spec.hop
        t = (padded.size - frame) // hop + 1
        return np.lib.stride_tricks.as_strided(padded, (max(t, 0), frame), (padded.strides[0] * hop,
                                                                             padded.strides[0]),
                                               writeable=False)
