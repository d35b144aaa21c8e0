"""Generated stationary noises for the `ordinary` category (48 kHz, full band, deterministic).

- `white`, `pink` (1/f power), `brown` (1/f^2 power): spectrally shaped Gaussian noise.
- `fan`: pink-ish airflow noise plus a blade-pass tone and its harmonics, slowly wobbling in
  level, as a desk/PC fan.
- `hvac`: low-frequency rumble (brown noise low-passed at a few hundred Hz) under a broadband
  airflow hiss, as ventilation ducts.
- `hum50` / `hum60`: mains hum, fundamental 50 or 60 Hz with decaying odd/even harmonics and a
  little broadband noise.
Each file is a pure function of (kind, variant): the same bytes on every machine.
"""

from __future__ import annotations

import numpy as np

from ans.data.noises import COLOUR_EXPONENTS, shaped_noise

SR = 48_000
RMS_DBFS = -20.0


def _rms_normalise(x: np.ndarray, dbfs: float = RMS_DBFS) -> np.ndarray:
    x = x - x.mean()
    rms = np.sqrt(np.mean(x**2)) + 1e-12
    y = x * (10 ** (dbfs / 20) / rms)
    peak = np.max(np.abs(y))
    return (y / peak * 0.99 if peak > 0.99 else y).astype(np.float32)


def _harmonics(t: np.ndarray, f0: float, count: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros_like(t)
    for k in range(1, count + 1):
        out += decay ** (k - 1) * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi))
    return out


def generate(kind: str, seconds: float, variant: int = 0, sr: int = SR) -> np.ndarray:
    """One generated noise signal (float32, RMS -20 dBFS, peak < 1)."""
    rng = np.random.default_rng([sum(map(ord, kind)), variant])
    n = int(seconds * sr)
    t = np.arange(n) / sr
    if kind in ("white", "pink", "brown"):
        x = shaped_noise(rng, n, COLOUR_EXPONENTS[kind], sr)
    elif kind == "fan":
        blade_hz = rng.uniform(60.0, 240.0)
        air = shaped_noise(rng, n, 1.0 + 0.3 * rng.random(), sr, lowpass_hz=rng.uniform(2000.0, 6000.0))
        tone = _harmonics(t, blade_hz, 6, 0.6, rng)
        wobble = 1.0 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t)
        x = wobble * (air / air.std() + rng.uniform(0.1, 0.4) * tone / tone.std())
    elif kind == "hvac":
        rumble = shaped_noise(rng, n, 2.0, sr, lowpass_hz=rng.uniform(150.0, 400.0))
        hiss = shaped_noise(rng, n, 0.5, sr, lowpass_hz=rng.uniform(4000.0, 10000.0))
        x = rumble / rumble.std() + rng.uniform(0.2, 0.6) * hiss / hiss.std()
    elif kind in ("hum50", "hum60"):
        f0 = 50.0 if kind == "hum50" else 60.0
        tone = _harmonics(t, f0 * (1 + rng.uniform(-0.002, 0.002)), int(rng.integers(8, 20)),
                          rng.uniform(0.5, 0.8), rng)
        x = tone / tone.std() + 0.05 * rng.standard_normal(n)
    else:
        raise ValueError(f"unknown generated noise kind {kind!r}")
    return _rms_normalise(x)


KINDS = ("white", "pink", "brown", "fan", "hvac", "hum50", "hum60")
