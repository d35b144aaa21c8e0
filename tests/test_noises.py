"""Noise generators (ans/data/noises.py): coloured noise, RIR, babble, howling."""

import numpy as np
import pytest
from scipy import signal

from ans.data.noises import babble, coloured_noise, howl, reverberate, ring_tones, rms, synthetic_rir

SR = 48_000


def _slope_db_per_octave(x):
    f, p = signal.welch(x, SR, nperseg=4096)
    sel = (f >= 100) & (f <= 10_000)
    return np.polyfit(np.log2(f[sel]), 10 * np.log10(p[sel]), 1)[0]


@pytest.mark.parametrize("colour,slope", [("white", 0.0), ("pink", -3.01), ("brown", -6.02)])
def test_coloured_noise_spectral_slope(colour, slope):
    x = coloured_noise(np.random.default_rng(0), 4 * SR, colour)
    assert rms(x) == pytest.approx(1.0, rel=1e-6)
    assert _slope_db_per_octave(x) == pytest.approx(slope, abs=0.5)


def test_synthetic_rir_decays_at_rt60():
    h = synthetic_rir(np.random.default_rng(1), SR, rt60=0.3, seconds=0.5)
    assert h[0] == 1.0 and h.size == SR // 2
    e = h[1:] ** 2
    early, late = e[int(0.01 * SR):int(0.05 * SR)].mean(), e[int(0.21 * SR):int(0.25 * SR)].mean()
    assert 10 * np.log10(late / early) == pytest.approx(-60 * 0.2 / 0.3, abs=3)  # -40 dB
    x = np.random.default_rng(2).standard_normal(SR)
    assert rms(reverberate(x, h)) == pytest.approx(rms(x), rel=1e-6)


def test_babble_sums_talkers_at_similar_levels():
    rng = np.random.default_rng(3)
    talkers = [rng.standard_normal(SR) * s for s in (0.1, 1.0, 10.0)]
    out = babble(talkers, rng, spread_db=0.0)
    assert rms(out) == pytest.approx(np.sqrt(3), rel=0.05)  # three independent unit talkers


def test_ring_tones_are_tonal():
    x = ring_tones(np.random.default_rng(4), 2 * SR, SR)
    f, p = signal.welch(x, SR, nperseg=8192)
    assert 10 * np.log10(p.max() / np.median(p)) > 40


def _speechy(rng, n):
    """Amplitude-modulated harmonic signal with pauses (stand-in for a talker)."""
    t = np.arange(n) / SR
    x = sum(np.sin(2 * np.pi * k * 140 * t) / k for k in range(1, 30))
    env = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 2
    return 0.1 * x * env + 1e-3 * rng.standard_normal(n)


@pytest.mark.parametrize("seed", range(4))
def test_howling_builds_a_strong_narrow_peak(seed):
    rng = np.random.default_rng(seed)
    x = _speechy(rng, 4 * SR)
    y, params = howl(x, rng, SR, margin=(1.1, 1.2), clip_db=(12.0, 18.0))
    fb = y - x
    f, p = signal.welch(fb[2 * SR:], SR, nperseg=8192)  # after build-up
    i = int(np.argmax(p))
    peak_to_median_db = 10 * np.log10(p[i] / np.median(p[(f > 100) & (f < 20_000)]))
    narrow_share = p[max(0, i - 4):i + 5].sum() / p.sum()  # power within +-23 Hz of the peak
    top_share = np.sort(p)[-p.size // 200:].sum() / p.sum()  # power in the top 0.5 % of bins
    assert peak_to_median_db > 40 and narrow_share > 0.1 and top_share > 0.6, (
        peak_to_median_db, narrow_share, top_share, params)
    # the howl tone builds up (last 0.5 s vs first 0.5 s at the peak) and saturates near clip
    fe, early = signal.welch(fb[: SR // 2], SR, nperseg=4096)
    _, late = signal.welch(fb[-SR // 2:], SR, nperseg=4096)
    k = int(np.argmin(np.abs(fe - f[i])))
    assert 10 * np.log10(late[k - 1:k + 2].sum() / early[k - 1:k + 2].sum()) > 10
    assert np.abs(fb).max() < 3 * params["clip"]


def test_stable_loop_does_not_howl():
    rng = np.random.default_rng(7)
    x = _speechy(rng, 2 * SR)
    y, _ = howl(x, rng, SR, margin=(0.3, 0.3))
    assert rms(y - x) < 0.5 * rms(x)
