"""The signal path of `ans.features` in numpy: Kaldi fbank-120, STFT 1920/960, weighted OLA.

Hand-written (not torchaudio) because the runtime must not import torch; the constants and
the framing rule are the ones of `ans/features.py` (tests compare both paths: fbank to
torchaudio's Kaldi fbank, STFT/OLA to `FeatureExtractor`, end to end within 1e-4).
Frame t covers input samples [960(t-1), 960(t+1)) of the unpadded signal (one hop of zeros
in front), `num_frames(n) = ceil(n / 960) + 1`.
"""

from __future__ import annotations

import math

import numpy as np

SAMPLE_RATE = 48_000
FRAME = 1920
HOP = 960
N_FFT_FBANK = 2048
N_MELS = 120
N_BINS = FRAME // 2 + 1
LOW_FREQ, HIGH_FREQ = 20.0, 24_000.0
PREEMPH = 0.97
INT16_SCALE = 32768.0
_EPS = float(np.finfo(np.float32).eps)


def num_frames(n_samples: int) -> int:
    return 0 if n_samples <= 0 else math.ceil(n_samples / HOP) + 1


def _mel(f):
    return 1127.0 * np.log(1.0 + np.asarray(f) / 700.0)


def mel_banks() -> np.ndarray:
    """Kaldi triangular mel filters (no VTLN warp), (120, 1025) float32 - as
    torchaudio.compliance.kaldi.get_mel_banks(120, 2048, 48000, 20, 24000, ...) padded by one bin."""
    f32 = np.float32
    fft_bin_width = f32(SAMPLE_RATE / N_FFT_FBANK)
    lo, hi = f32(_mel(LOW_FREQ)), f32(_mel(HIGH_FREQ))
    delta = (hi - lo) / f32(N_MELS + 1)
    b = np.arange(N_MELS, dtype=f32)[:, None]
    left, center, right = lo + b * delta, lo + (b + 1) * delta, lo + (b + 2) * delta
    mel = _mel(fft_bin_width * np.arange(N_FFT_FBANK // 2, dtype=f32)).astype(f32)[None, :]
    up, down = (mel - left) / (center - left), (right - mel) / (right - center)
    banks = np.maximum(f32(0), np.minimum(up, down)).astype(f32)
    return np.pad(banks, ((0, 0), (0, 1)))


def hamming(n: int, periodic: bool) -> np.ndarray:
    d = n if periodic else n - 1
    return (0.54 - 0.46 * np.cos(2 * np.pi * np.arange(n) / d)).astype(np.float32)


class Dsp:
    """Windows and filters built once; every method works on a block of frames (T, FRAME)."""

    def __init__(self):
        self.banks_t = np.ascontiguousarray(mel_banks().T)  # (1025, 120)
        self.kaldi_window = hamming(FRAME, periodic=False)
        self.stft_window = hamming(FRAME, periodic=True)
        w2 = self.stft_window.astype(np.float64) ** 2
        self.ola_env = (w2[:HOP] + w2[HOP:]).astype(np.float32)

    def fbank(self, frames: np.ndarray) -> np.ndarray:
        """Raw frames (T, FRAME) in [-1, 1] -> (T, 120) log-mel (Kaldi: DC removal, pre-emphasis
        with the first sample replicated, Hamming, |rfft 2048|^2, mel, log clamped at eps)."""
        x = frames.astype(np.float32) * np.float32(INT16_SCALE)
        x -= x.mean(axis=-1, keepdims=True)
        y = np.empty_like(x)
        y[:, 1:] = x[:, 1:] - np.float32(PREEMPH) * x[:, :-1]
        y[:, 0] = x[:, 0] - np.float32(PREEMPH) * x[:, 0]
        y *= self.kaldi_window
        spec = np.fft.rfft(y, n=N_FFT_FBANK)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        return np.log(np.maximum(power @ self.banks_t, np.float32(_EPS)))

    def analysis(self, frames: np.ndarray) -> np.ndarray:
        """(T, FRAME) -> complex (T, 961), as torch.stft(center=False) with the periodic Hamming."""
        return np.fft.rfft(frames * self.stft_window)

    def synthesis(self, spec: np.ndarray) -> np.ndarray:
        """Masked spectra (T, 961) -> windowed time frames (T, FRAME) for weighted overlap-add."""
        return (np.fft.irfft(spec, n=FRAME) * self.stft_window).astype(np.float32)


def frames_of(padded: np.ndarray) -> np.ndarray:
    """(P,) -> (T, FRAME) read-only strided view, hop HOP (snip_edges)."""
    t = (padded.size - FRAME) // HOP + 1
    return np.lib.stride_tricks.as_strided(padded, (max(t, 0), FRAME), (padded.strides[0] * HOP,
                                                                         padded.strides[0]),
                                           writeable=False)
