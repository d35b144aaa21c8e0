"""Synthetic test signals shared by the metric and baseline tests (no corpus needed)."""

import numpy as np

SR = 48_000


def speech_like(seconds: float = 3.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Harmonic source with a wandering f0, formant-ish spectral tilt and a syllabic envelope
    (float64, peak 0.3)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 120 + 35 * np.sin(2 * np.pi * 0.5 * t + rng.uniform(0, 6)) + 12 * np.sin(2 * np.pi * 2.1 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = np.zeros(n)
    for k in range(1, 45):
        formant = 1 + 0.8 * np.sin(2 * np.pi * (0.25 + 0.07 * k) * t + k)
        x += np.sin(k * phase) * np.exp(-k / 12) * formant
    syll = np.clip(np.sin(2 * np.pi * 3.0 * t + np.sin(2 * np.pi * 0.6 * t)), 0, None) ** 1.5
    pause = (t % 2.0) < 1.6  # word gaps
    x *= syll * pause
    return 0.3 * x / np.max(np.abs(x))
