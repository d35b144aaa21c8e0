"""Room acoustics and microphone colour for the simulator: image-source RIRs (pyroomacoustics),
random spectral tilt/EQ, and a microphone/codec low-pass.

`room_rirs(rng, sr, rt60)` places a near-field talker (0.2-0.6 m from the microphone, the
conferencing case the model targets) and a noise source (1-3 m away) in a random shoebox room
whose wall absorption gives the drawn RT60 (Sabine), and returns both responses. The image
order is capped at MAX_ORDER: for a talker this close the direct path and early reflections
dominate, and the cap makes a room cost ~15 ms instead of 100-200 ms at order 30 (measured on
this project's CPU), which would otherwise double the training step's data time.
"""

from __future__ import annotations

import numpy as np

MAX_ORDER = 12


def room_rirs(rng: np.random.Generator, sr: int, rt60: float) -> tuple[np.ndarray, np.ndarray]:
    """(talker RIR, noise-source RIR) of one random room, each with its direct path at index
    ~0 and peak-normalised so the talker keeps its level."""
    import pyroomacoustics as pra

    dims = np.array([rng.uniform(3.0, 8.0), rng.uniform(2.5, 6.0), rng.uniform(2.4, 3.2)])
    try:
        absorption, _ = pra.inverse_sabine(float(rt60), dims)
    except ValueError:  # RT60 too short for this room: the most absorbing walls
        absorption = 0.99
    room = pra.ShoeBox(dims, fs=sr, materials=pra.Material(float(min(absorption, 0.99))),
                       max_order=MAX_ORDER, air_absorption=False)
    mic = np.array([rng.uniform(0.8, dims[0] - 0.8), rng.uniform(0.8, dims[1] - 0.8), rng.uniform(0.9, 1.5)])

    def around(lo: float, hi: float) -> np.ndarray:
        for _ in range(32):
            d = rng.normal(size=3)
            p = mic + d / np.linalg.norm(d) * rng.uniform(lo, hi)
            if np.all(p > 0.2) and np.all(p < dims - 0.2):
                return p
        return np.clip(mic + np.array([lo, 0.0, 0.0]), 0.2, dims - 0.2)

    room.add_source(around(0.2, 0.6))
    room.add_source(around(1.0, 3.0))
    room.add_microphone(mic)
    room.compute_rir()
    out = []
    for h in (room.rir[0][0], room.rir[0][1]):
        h = np.asarray(h, dtype=np.float64)
        start = int(np.argmax(np.abs(h) > 0.1 * np.abs(h).max()))
        h = h[max(0, start - 8):]  # drop the propagation delay (keeps the target aligned)
        out.append(h / (np.abs(h).max() + 1e-12))
    return out[0], out[1]


def random_eq(x: np.ndarray, rng: np.random.Generator, sr: int, tilt_db: tuple[float, float],
              max_db: float) -> np.ndarray:
    """x with a random spectral tilt (dB per octave re. 1 kHz) and one random peak/notch,
    the whole gain curve clipped to +-max_db (a microphone's or a room's colour)."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.size, 1.0 / sr)
    octaves = np.log2(np.maximum(f, 50.0) / 1000.0)
    gain_db = rng.uniform(*tilt_db) * octaves
    fc, q, g = np.exp(rng.uniform(np.log(150.0), np.log(12000.0))), rng.uniform(0.5, 3.0), rng.uniform(-9, 9)
    gain_db += g / (1.0 + ((f - fc) / (fc / q)) ** 2)
    gain_db = np.clip(gain_db, -max_db, max_db)
    return np.fft.irfft(spec * 10 ** (gain_db / 20), x.size)


def lowpass(x: np.ndarray, sr: int, cutoff_hz: float) -> np.ndarray:
    """A steep (8th-order Butterworth, zero-phase) low-pass: a band-limited microphone or codec."""
    from scipy import signal

    sos = signal.butter(8, min(cutoff_hz, 0.45 * sr), fs=sr, output="sos")
    return signal.sosfiltfilt(sos, x)
