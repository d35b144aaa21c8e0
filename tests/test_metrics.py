"""Per-file metrics (PESQ, STOI/ESTOI, SI-SDR, DNSMOS) and delay alignment on synthetic speech."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from ans import metrics as M
from ans.runtime.resample import resample
from tests.signals import SR, speech_like


def add_noise(clean: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(clean.size)
    gain = np.sqrt(np.sum(clean**2) / np.sum(noise**2) / 10 ** (snr_db / 10))
    return clean + gain * noise


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return speech_like()


# ------------------------------------------------------------------------------- PESQ
def test_pesq_identical_is_high(clean):
    assert M.pesq_wb(clean, clean) > 4.4
    assert M.pesq_nb(clean, clean) > 4.0


def test_pesq_heavy_noise_is_low(clean):
    noisy = add_noise(clean, -5.0)
    assert M.pesq_wb(clean, noisy) < 1.5
    assert M.pesq_nb(clean, noisy) < 2.0
    mild = add_noise(clean, 30.0)  # white noise fills the pauses: PESQ is strict about that
    assert M.pesq_wb(clean, mild) > M.pesq_wb(clean, noisy) + 0.8


def test_pesq_failure_is_nan_not_exception(clean):
    silent = np.zeros_like(clean)
    for fn in (M.pesq_wb, M.pesq_nb):
        assert math.isnan(fn(clean, silent))  # the pesq library raises here: caught
        assert math.isnan(fn(silent, clean))  # no utterance in the reference
        assert math.isnan(fn(silent, silent))
        assert math.isnan(fn(clean[:100], clean[:100]))  # far too short
    out = M.compute_metrics(silent, clean, which=("pesq_wb", "pesq_nb", "stoi", "si_sdr"))
    assert all(math.isnan(v) for v in out.values())


# ------------------------------------------------------------------------------- SI-SDR
def test_si_sdr_scaled_copy_is_very_high(clean):
    assert M.si_sdr(clean, 0.37 * clean) > 100
    assert M.si_sdr(clean, 3.0 * clean + 0.01) > 100  # scale- and offset-invariant (zero-mean)


def test_si_sdr_known_additive_noise():
    s = speech_like(seconds=4.0, seed=3)
    s = s - s.mean()
    noise = np.random.default_rng(7).standard_normal(s.size)
    noise -= noise.mean()
    noise *= np.sqrt(np.sum(s**2) / np.sum(noise**2) / 10.0)  # 10 dB
    assert M.si_sdr(s, s + noise) == pytest.approx(10.0, abs=0.2)
    assert M.si_sdr(s, s + noise * 10 ** (10 / 20)) == pytest.approx(0.0, abs=0.2)


def test_si_sdr_undefined_is_nan(clean):
    assert math.isnan(M.si_sdr(np.zeros(1000), clean[:1000]))
    assert math.isnan(M.si_sdr(clean, np.zeros_like(clean)))
    assert math.isnan(M.si_sdr(np.zeros(0), np.zeros(0)))


# ------------------------------------------------------------------------------- STOI
def test_stoi_identical_is_one_and_drops_with_noise(clean):
    assert M.stoi(clean, clean) == pytest.approx(1.0, abs=1e-3)
    assert M.estoi(clean, clean) == pytest.approx(1.0, abs=1e-3)
    noisy = add_noise(clean, -5.0)
    assert M.stoi(clean, noisy) < 0.95
    assert M.estoi(clean, noisy) < M.stoi(clean, noisy)


# ------------------------------------------------------------------------------- all together
def test_compute_metrics_keys_ranges_and_trimming(clean):
    noisy = add_noise(clean, 5.0)
    out = M.compute_metrics(clean, noisy[: clean.size - 480])  # lengths differ: trimmed
    assert set(out) == {k for w in M.ALL_METRICS for k in M.METRIC_KEYS[w]}
    for key, value in out.items():
        lo, hi = M.METRIC_RANGES[key]
        assert isinstance(value, float) and math.isfinite(value), key
        assert lo - 0.1 <= value <= hi + 0.1, (key, value)
    assert out["si_sdr"] == pytest.approx(5.0, abs=0.5)
    assert M.compute_metrics(clean, clean, which=("si_sdr",)).keys() == {"si_sdr"}
    with pytest.raises(ValueError, match="unknown metric"):
        M.compute_metrics(clean, clean, which=("mosnet",))


def test_other_sample_rate(clean):
    x16 = resample(clean, SR, 16_000)
    assert M.pesq_wb(x16, x16, sr=16_000) > 4.4
    assert M.stoi(x16, x16, sr=16_000) == pytest.approx(1.0, abs=1e-3)


# ------------------------------------------------------------------------------- DNSMOS
def test_dnsmos_plausible_for_speech_like_signal(clean):
    t0 = time.perf_counter()
    scores = M.dnsmos_only(clean, SR)
    first = time.perf_counter() - t0
    assert set(scores) == set(M.DNSMOS_KEYS)
    for key, value in scores.items():
        assert math.isfinite(value) and 1.0 <= value <= 5.0, (key, value)
    noisy = M.dnsmos_only(add_noise(clean, 0.0), SR)
    assert noisy["dnsmos_bak"] < scores["dnsmos_bak"]  # white noise at 0 dB: worse background
    assert first < 20.0  # no librosa/numba compile on the first call


def test_dnsmos_edge_cases(clean):
    assert all(math.isnan(v) for v in M.dnsmos_only(np.zeros(0), SR).values())
    loud = M.dnsmos_only(4.0 * clean, SR)  # out of [-1, 1]: clipped, not refused
    assert all(math.isfinite(v) for v in loud.values())
    long = np.tile(clean, 4)  # 12 s: two distinct windows, no tiling
    assert all(math.isfinite(v) for v in M.dnsmos_only(long, SR).values())


@pytest.mark.slow
def test_dnsmos_matches_speechmos_reference(clean):
    """Our batched/deduplicated DNSMOS equals speechmos.dnsmos.run (librosa path, slow cold)."""
    pytest.importorskip("librosa", reason="speechmos.dnsmos.run needs librosa (pip install librosa)")
    from speechmos import dnsmos

    for sig in (add_noise(clean, 5.0), np.tile(add_noise(clean, 10.0, seed=4), 4)):
        x16 = np.clip(resample(sig, SR, 16_000), -1, 1)
        ref = dnsmos.run(x16, 16_000)
        ours = M.dnsmos_16k(x16)
        for key in ("sig", "bak", "ovrl", "p808"):
            assert ours[f"dnsmos_{key}"] == pytest.approx(float(ref[f"{key}_mos"]), abs=1e-4)


# ------------------------------------------------------------------------------- alignment
@pytest.mark.parametrize("delay", [0, 37, 481, 1440, -123])
def test_align_recovers_integer_delay(clean, delay):
    noisy = add_noise(clean, 10.0)
    if delay >= 0:
        delayed = np.concatenate([np.zeros(delay), noisy])[: noisy.size]
    else:
        delayed = np.concatenate([noisy[-delay:], np.zeros(-delay)])
    aligned, d = M.align(clean, delayed)
    assert d == delay
    assert aligned.shape == delayed.shape
    keep = slice(2000, clean.size - 2000)
    np.testing.assert_allclose(aligned[keep], noisy[keep])
    if abs(delay) > 100:
        assert M.si_sdr(clean, aligned) > M.si_sdr(clean, delayed) + 5


def test_align_bounded_lag_and_silence(clean):
    far = np.concatenate([np.zeros(SR), clean])[: clean.size]  # 1 s late, beyond 0.5 s
    _, d = M.align(clean, far, max_lag_s=0.5)
    assert abs(d) <= SR // 2
    aligned, d = M.align(clean, np.zeros_like(clean))
    assert d == 0 and not aligned.any()


def test_slaney_mel_filterbank_shape_and_area():
    """The P.808 filterbank (librosa's slaney mel, re-implemented): triangles of unit area."""
    w = M.slaney_mel_filterbank(16_000, 321, 120)
    assert w.shape == (120, 161) and (w >= 0).all()
    df = 16_000 / 321
    centres = w.argmax(axis=1)
    assert (np.diff(centres) >= 0).all()  # ordered by frequency
    wide = (w > 0).sum(axis=1) >= 6  # filters spanning enough bins to integrate
    assert np.allclose(w[wide].sum(axis=1) * df, 1.0, atol=0.08)
