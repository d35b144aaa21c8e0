"""Noise generators of the simulator: babble, howling (acoustic feedback), coloured noise,
synthetic ring tones and synthetic room impulse responses. numpy in, numpy out, float64.

Howling model (`howl`)
----------------------
A talker x[n] (plus any room noise) reaches the microphone; the microphone signal is
played by a loudspeaker in the same room after a processing/transport delay of d samples
and comes back to the microphone through the room response h (loudspeaker -> mic, a
short exponentially decaying noise RIR, band-passed to a small loudspeaker's range):

    y[n] = x[n] + g * (h * s(y))[n - d],      s(v) = c * tanh(v / c)

y is what the microphone records; s is the loudspeaker/amplifier saturation. The loop gain
g is set relative to the edge of instability, g = margin / max_f |H(f)|: with margin near or
above 1 the frequencies where |g H(f)| ~ 1 and the loop phase is a multiple of 2 pi grow by
a few percent every round trip until the saturation holds them at level ~c -- the narrow
ringing tones of a real howl, which build up over a second or two and carry speech
coloration. Because d >= the block length, every output block depends only on earlier
blocks, so the loop runs block-wise with an FFT convolution per block (blocks of d samples:
~4-10 ms of compute for 4 s at 48 kHz). The noise the suppressor must remove is y - x.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from ans.signal_spec import REFERENCE


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


COLOUR_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}


def shaped_noise(rng: np.random.Generator, n: int, exponent: float, sr: int = REFERENCE.sample_rate,
                 lowpass_hz: float | None = None) -> np.ndarray:
    """Gaussian noise (n >= 2) whose power spectrum falls as 1/f**exponent (0 white, 1 pink,
    2 brown), without DC, optionally rolled off above lowpass_hz; not normalised."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    gain = np.ones_like(f)
    gain[1:] = (f[1:] / f[1]) ** (-exponent / 2.0)
    gain[0] = 0.0
    if lowpass_hz is not None:
        gain /= np.sqrt(1.0 + (f / lowpass_hz) ** 4)
    return np.fft.irfft(spec * gain, n)


def coloured_noise(rng: np.random.Generator, n: int, colour: str = "white") -> np.ndarray:
    """White / pink (1/f power) / brown (1/f^2 power) Gaussian noise with unit RMS."""
    if colour not in COLOUR_EXPONENTS:
        raise ValueError(f"unknown noise colour {colour!r}")
    y = rng.standard_normal(n) if colour == "white" or n < 2 else shaped_noise(rng, n, COLOUR_EXPONENTS[colour])
    return y / (rms(y) + 1e-12)


def synthetic_rir(rng: np.random.Generator, sr: int = REFERENCE.sample_rate, rt60: float = 0.3,
                  seconds: float | None = None, predelay: float = 0.0,
                  band: tuple[float, float] | None = None) -> np.ndarray:
    """Exponentially decaying Gaussian noise (-60 dB after rt60 s) with a unit direct path.

    `seconds` truncates (default 1.2 * rt60), `predelay` puts zeros before the direct path,
    `band` band-passes the response (e.g. a small loudspeaker's range).
    """
    n = max(2, int(round((seconds if seconds is not None else 1.2 * rt60) * sr)))
    t = np.arange(n) / sr
    h = rng.standard_normal(n) * np.exp(-6.9078 * t / max(rt60, 1e-3))
    h *= 0.3 / (np.abs(h).max() + 1e-12)
    h[0] = 1.0
    if band is not None:
        lo, hi = band[0] / (sr / 2), min(band[1] / (sr / 2), 0.99)
        sos = signal.butter(2, [lo, hi], "bandpass", output="sos")
        h = signal.sosfilt(sos, h)
    if predelay > 0:
        h = np.concatenate([np.zeros(int(round(predelay * sr))), h])
    return h


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """x convolved with rir, same length as x, energy renormalised to that of x."""
    y = signal.fftconvolve(x, rir)[: x.size]
    return y * (rms(x) / (rms(y) + 1e-12))


def babble(talkers: list[np.ndarray], rng: np.random.Generator, spread_db: float = 3.0
           ) -> np.ndarray:
    """Sum of talker segments (same length), each at unit RMS times a random +-spread_db gain."""
    out = np.zeros(talkers[0].size)
    for t in talkers:
        g = 10 ** (rng.uniform(-spread_db, spread_db) / 20)
        out += t * (g / (rms(t) + 1e-12))
    return out


def ring_tones(rng: np.random.Generator, n: int, sr: int = REFERENCE.sample_rate) -> np.ndarray:
    """Synthetic ringtone / alert: repeated tone patterns (used when a split has no ring file)."""
    x = np.zeros(n)
    freqs = rng.choice([440.0, 480.0, 523.3, 659.3, 784.0, 880.0, 1046.5, 1400.0, 2100.0],
                       size=int(rng.integers(1, 4)), replace=False)
    on, off = rng.uniform(0.08, 1.0), rng.uniform(0.03, 1.0)
    pos = int(rng.uniform(0, off) * sr)
    k = 0
    while pos < n:
        m = min(n - pos, int(on * sr))
        tt = np.arange(m) / sr
        f = freqs[k % freqs.size]
        tone = np.sin(2 * np.pi * f * tt) + 0.3 * np.sin(4 * np.pi * f * tt)
        ramp = np.minimum(1.0, np.minimum(np.arange(m), np.arange(m)[::-1]) / (0.004 * sr))
        x[pos:pos + m] += tone * ramp
        pos += m + int(off * sr)
        k += 1
    return x / (rms(x) + 1e-12)


def howl(x: np.ndarray, rng: np.random.Generator, sr: int = REFERENCE.sample_rate,
         delay: tuple[float, float] = (0.010, 0.040), rt60: tuple[float, float] = (0.15, 0.5),
         rir_seconds: float = 0.05, margin: tuple[float, float] = (1.02, 1.25),
         clip_db: tuple[float, float] = (0.0, 12.0),
         band: tuple[float, float] = (250.0, 7000.0)) -> tuple[np.ndarray, dict]:
    """Microphone signal of a closed acoustic feedback loop driven by x (module docstring).

    Ranges are drawn uniformly: loop delay (s), RIR rt60 (s), loop gain margin relative to
    instability, loudspeaker clip level c in dB above the RMS of x. Returns (y, params);
    y has the length of x and y - x is the feedback (the howl).
    """
    n = x.size
    d = max(1, int(round(rng.uniform(*delay) * sr)))
    h = synthetic_rir(rng, sr, rt60=rng.uniform(*rt60), seconds=rir_seconds, band=band)
    # edge of instability: the largest in-phase (real, positive) open-loop response
    nfine = 1 << int(np.ceil(np.log2(8 * (h.size + d))))
    freqs = np.arange(nfine // 2 + 1) / nfine
    in_phase = (np.fft.rfft(h, nfine) * np.exp(-2j * np.pi * freqs * d)).real.max()
    m = rng.uniform(*margin)
    g = m / (in_phase + 1e-12)
    c = (rms(x) + 1e-9) * 10 ** (rng.uniform(*clip_db) / 20)
    length = h.size
    block = d
    nfft = 1 << int(np.ceil(np.log2(length - 1 + block)))
    hf = np.fft.rfft(h * g, nfft)
    pad = d + length - 1
    s = np.zeros(pad + n)  # s[pad + j] = saturated loudspeaker signal at time j
    y = np.empty(n)
    for start in range(0, n, block):
        stop = min(start + block, n)
        b = stop - start
        seg = s[start:start + length - 1 + b]  # s at times start-d-L+1 ... stop-d-1
        fb = np.fft.irfft(np.fft.rfft(seg, nfft) * hf, nfft)[length - 1:length - 1 + b]
        yb = x[start:stop] + fb
        y[start:stop] = yb
        s[pad + start:pad + stop] = c * np.tanh(yb / c)
    return y, {"delay_s": d / sr, "loop_margin": float(m), "clip": float(c)}
