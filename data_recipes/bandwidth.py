"""Measure the real audio bandwidth of a recording (never trust the header rate).

A file stored at 44.1/48 kHz may have been up-sampled from 8/16 kHz (telephone prompts, old
game voices): above its original Nyquist frequency there is only the resampler's stop band.
Training a 48 kHz model on such material as if it were full band teaches it that speech has no
high band, so every speech file's bandwidth is measured and stored in the manifest
(`bandwidth_hz`), and its `source_rate` becomes the effective rate (2 x bandwidth).

Rule (`measure_bandwidth`): the power spectral density (Welch, 2048-point Hann) over the file's
*active* frames (within 40 dB of the loudest 20 ms frame), averaged in 250 Hz bands. The
reference is the mean density of 0.3-3 kHz. The bandwidth is the upper edge of the highest band
whose density is within `floor_db` (55 dB) of the reference, provided the band just below it
is too (an isolated tone or a single aliasing bin above a low-pass edge is not bandwidth).
Measured on packaged material: up-sampled 8 kHz prompts give ~3.5-4 kHz, G.722 ~7 kHz, MP3/Vorbis
speech 11-20 kHz, real 48 kHz studio speech 16-24 kHz (quiet high band, yet above -55 dB).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import welch

BAND_HZ = 250.0
REF_BAND = (300.0, 3000.0)
FLOOR_DB = 55.0
STANDARD_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
FULL_BAND_HZ = 9000.0
EDGE_SLACK_HZ = 500.0  # "full band": real energy above 9 kHz (the full-band share of the rate mix, docs/training_data.md)


def _active(x: np.ndarray, sr: int, rel_db: float = -40.0) -> np.ndarray:
    frame = max(1, sr // 50)
    m = x.size // frame
    if m == 0:
        return x
    frames = x[: m * frame].reshape(m, frame)
    e = np.mean(frames.astype(np.float64) ** 2, axis=1)
    keep = e > max(e.max() * 10 ** (rel_db / 10), 1e-14)
    return frames[keep].reshape(-1) if keep.any() else x


def band_levels(x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(band upper edges in Hz, density in dB relative to the 0.3-3 kHz mean) of active frames."""
    y = _active(np.asarray(x, dtype=np.float64), sr)
    nper = min(2048, max(256, y.size))
    f, p = welch(y, fs=sr, nperseg=nper, noverlap=nper // 2, window="hann", detrend="constant")
    ref_sel = (f >= REF_BAND[0]) & (f < REF_BAND[1])
    ref = float(p[ref_sel].mean()) if ref_sel.any() else float(p.mean())
    edges = np.arange(BAND_HZ, sr / 2 + 1e-9, BAND_HZ)
    levels = np.full(edges.size, -300.0)
    for k, hi in enumerate(edges):
        sel = (f >= hi - BAND_HZ) & (f < hi)
        if sel.any():
            levels[k] = 10 * np.log10(p[sel].mean() / (ref + 1e-30) + 1e-30)
    return edges, levels


def measure_bandwidth(x: np.ndarray, sr: int, floor_db: float = FLOOR_DB) -> float:
    """Highest frequency (Hz) with real signal energy; see the module docstring."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < 256 or not np.any(x):
        return 0.0
    edges, levels = band_levels(x, sr)
    ok = levels >= -floor_db
    both = ok & np.concatenate([[True], ok[:-1]])  # the band below must be alive as well
    idx = np.flatnonzero(both)
    return float(edges[idx[-1]]) if idx.size else float(edges[0])


def source_rate_for(bandwidth_hz: float, header_rate: int) -> int:
    """The rate the material is worth: the smallest standard rate whose Nyquist frequency covers
    the measured bandwidth, less EDGE_SLACK_HZ (a band's upper edge can overshoot a steep
    low-pass by up to two 250 Hz bands), never above the header rate."""
    for r in STANDARD_RATES:
        if r / 2 >= bandwidth_hz - EDGE_SLACK_HZ and r <= header_rate:
            return r
    return int(header_rate)
