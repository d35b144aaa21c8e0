"""Measured speech bandwidth of a recording: the highest band that still holds real energy.

A file's header rate says nothing about its content: an 8 kHz telephone prompt up-sampled to
48 kHz is stored at 48 kHz but carries nothing above 4 kHz. The simulator band-limits every
item to `source_rate`, so a corpus must record what the material really holds.

Rule (`measure_bandwidth`): power spectra (Blackman-Harris window: its -92 dB side lobes keep a
steep low-pass edge from leaking into the empty bands) of the *active* frames (within 30 dB of
the loudest ones: silence only adds the noise floor), averaged; the mean power density of each
250 Hz band from 3 kHz up to Nyquist is compared with that of the speech band 0.3-3 kHz; the
answer is the upper edge of the highest band within `threshold_db` (-50 dB) of the speech band,
capped at Nyquist. Full-band speech keeps -30..-50 dB up to 16-20 kHz; a resampler's or a
codec's low-pass sits 60+ dB down, so the edge is found within one band (250 Hz).
`source_rate_for` turns it into the rate the material is worth (twice the bandwidth, rounded to
the nearest standard rate, never above the header rate).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import get_window

STANDARD_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
SPEECH_BAND = (300.0, 3000.0)
BAND_HZ = 250.0
ACTIVE_DB = 30.0   # frames within this of the loudest frame count as active
MAX_SECONDS = 30.0  # enough for a stable spectrum; long files are measured on their middle


def _active_power_spectrum(x: np.ndarray, sr: int, nfft: int) -> np.ndarray:
    hop = nfft // 2
    if x.size < nfft:
        x = np.pad(x, (0, nfft - x.size))
    n = 1 + (x.size - nfft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, nfft)[::hop][:n]
    spec = np.abs(np.fft.rfft(frames * get_window("blackmanharris", nfft), axis=-1)) ** 2
    energy = spec.sum(-1)
    active = energy >= energy.max() * 10 ** (-ACTIVE_DB / 10)
    return spec[active].mean(0)


def measure_bandwidth(x: np.ndarray, sr: int, threshold_db: float = -50.0) -> float:
    """Bandwidth in Hz of mono audio `x` at rate `sr`: upper edge of the highest band with real
    speech energy (see the module doc). Silence or too-short audio returns Nyquist (unknown)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    nyq = sr / 2.0
    if x.size > MAX_SECONDS * sr:
        mid, half = x.size // 2, int(MAX_SECONDS * sr / 2)
        x = x[mid - half: mid + half]
    nfft = 1 << int(np.ceil(np.log2(sr * 0.04)))  # ~40 ms: bins of ~25 Hz at 48 kHz
    if x.size < nfft // 2 or not np.any(x):
        return nyq
    power = _active_power_spectrum(x - x.mean(), sr, nfft)
    freqs = np.fft.rfftfreq(nfft, 1.0 / sr)
    ref_bins = (freqs >= SPEECH_BAND[0]) & (freqs < min(SPEECH_BAND[1], nyq))
    ref = power[ref_bins].mean() if ref_bins.any() else 0.0
    if ref <= 0.0:
        return nyq
    edge = SPEECH_BAND[1]
    lo = SPEECH_BAND[1]
    while lo < nyq - 1e-6:
        hi = min(lo + BAND_HZ, nyq)
        bins = (freqs >= lo) & (freqs < hi)
        if bins.any() and 10 * np.log10(power[bins].mean() / ref + 1e-30) >= threshold_db:
            edge = hi
        lo = hi
    return float(min(edge, nyq))


def source_rate_for(bandwidth_hz: float, header_rate: int) -> int:
    """min(header rate, 2 x bandwidth rounded to the nearest standard rate)."""
    want = 2.0 * float(bandwidth_hz)
    nearest = min(STANDARD_RATES, key=lambda r: (abs(r - want), r))
    return int(min(int(header_rate), nearest))
