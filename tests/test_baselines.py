"""Classic DSP baseline (noisereduce spectral gating) and the optional RNNoise / DFN3 peers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ans import baselines as B
from ans import metrics as M
from ans.errors import AnsError
from ans.runtime.resample import resample
from tests.signals import SR, speech_like


def energy_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20))


@pytest.fixture(scope="module")
def tone_and_noise():
    """1 s of stationary noise alone, then 2 s of a 440 Hz tone in the same noise."""
    rng = np.random.default_rng(0)
    n = 3 * SR
    t = np.arange(n) / SR
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * (t >= 1.0)
    noise = 0.03 * rng.standard_normal(n)
    return (tone + noise).astype(np.float32), tone.astype(np.float32)


@pytest.fixture(scope="module")
def speech_pair():
    clean = speech_like().astype(np.float32)
    noisy = clean + 0.02 * np.random.default_rng(5).standard_normal(clean.size).astype(np.float32)
    return clean, noisy


# ------------------------------------------------------------------------------- spectral gate
def test_spectral_gate_api():
    sg = B.SpectralGate()
    assert isinstance(sg, B.SpeechEnhancer)
    assert sg.name == "spectral_gate" and sg.latency_ms is None and sg.params == 0
    assert sg.config["stationary"] is False and sg.config["n_fft"] == 2048
    assert isinstance(B.get_baseline("spectral_gate", stationary=True), B.SpectralGate)
    with pytest.raises(AnsError, match="unknown baseline"):
        B.get_baseline("wiener")


@pytest.mark.parametrize("stationary", [False, True])
def test_spectral_gate_reduces_stationary_noise(tone_and_noise, speech_pair, stationary):
    noisy, _ = tone_and_noise
    sg = B.SpectralGate(stationary=stationary, prop_decrease=1.0)  # full gating: > 10 dB possible
    out = sg.enhance(noisy, SR)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    noise_only = slice(int(0.2 * SR), int(0.8 * SR))
    assert energy_db(out[noise_only]) < energy_db(noisy[noise_only]) - 10  # gated noise
    assert energy_db(out) < energy_db(noisy)
    # (a lone sinusoid is not protected: the 500 Hz mask smoothing spreads its one bin)
    clean, noisy_speech = speech_pair
    enhanced = sg.enhance(noisy_speech, SR)
    assert M.si_sdr(clean, enhanced) > M.si_sdr(clean, noisy_speech) + 2.0


def test_spectral_gate_other_rate_and_edge_cases(tone_and_noise):
    noisy, _ = tone_and_noise
    sg = B.SpectralGate()
    x16 = resample(noisy, SR, 16_000).astype(np.float32)
    out = sg.enhance(x16, 16_000)
    assert out.size == 3 * SR and np.isfinite(out).all()
    assert sg.enhance(np.zeros(SR, np.float32), SR).tolist() == [0.0] * SR  # all-zero: zeros
    assert sg.enhance(np.zeros(0, np.float32), SR).size == 0
    short = sg.enhance(noisy[:500], SR)  # shorter than one FFT frame
    assert short.shape == (500,) and np.isfinite(short).all()
    stereo = np.stack([noisy, np.zeros_like(noisy)], axis=1)  # channel 0 is used
    np.testing.assert_allclose(sg.enhance(stereo, SR), sg.enhance(noisy, SR), atol=1e-6)
    with pytest.raises(AnsError, match="NaN"):
        sg.enhance(np.full(1000, np.nan, np.float32), SR)


# ------------------------------------------------------------------------------- peers
def test_peer_status_reports_reasons():
    status = B.peer_status()
    assert set(status) == set(B.PEERS)
    for name, reason in status.items():
        cls = B.PEERS[name]
        assert cls.available() == (reason is None)
        assert reason is None or (isinstance(reason, str) and "\n" not in reason and reason)
        if reason is not None:
            with pytest.raises(AnsError, match="unavailable"):
                cls()
    systems = B.available_systems()
    assert systems[0].name == "spectral_gate"
    assert {s.name for s in systems[1:]} == {n for n, r in status.items() if r is None}


@pytest.fixture(params=sorted(B.PEERS))
def peer_cls(request):
    cls = B.PEERS[request.param]
    if not cls.available():
        pytest.skip(f"{cls.name} peer not installed here (make install-peers): {cls.unavailable_reason()}")
    return cls


def test_peer_enhances_and_is_time_aligned(peer_cls, speech_pair):
    clean, noisy = speech_pair
    peer = peer_cls()
    assert isinstance(peer, B.SpeechEnhancer)
    assert peer.params and peer.params > 100_000
    assert peer.latency_ms == pytest.approx(1000 * (peer.delay_samples + peer.hop) / SR)
    out = peer.enhance(noisy, SR)
    assert out.shape == noisy.shape and out.dtype == np.float32 and np.isfinite(out).all()
    _, residual = M.align(clean, out)
    assert abs(residual) <= 2  # the declared delay was compensated
    raw = peer_cls(compensate_delay=False).enhance(noisy, SR)
    assert raw.shape == noisy.shape
    _, delay = M.align(clean, raw)
    assert abs(delay - peer.delay_samples) <= 2
    np.testing.assert_allclose(out, peer.enhance(noisy, SR), atol=1e-6)  # fresh state per call


def test_peer_reduces_noise(peer_cls, tone_and_noise):
    noisy, _ = tone_and_noise
    out = peer_cls().enhance(noisy, SR)
    noise_only = slice(int(0.3 * SR), int(0.9 * SR))
    assert energy_db(out[noise_only]) < energy_db(noisy[noise_only]) - 10
    x16 = resample(noisy, SR, 16_000).astype(np.float32)
    assert peer_cls().enhance(x16, 16_000).size == noisy.size
    assert peer_cls().enhance(np.zeros(0, np.float32), SR).size == 0
    tiny = peer_cls().enhance(noisy[:100], SR)
    assert tiny.shape == (100,) and np.isfinite(tiny).all()
    assert not math.isnan(M.si_sdr(noisy, out))


def test_unavailable_peer_says_why():
    class Missing(B.RNNoise):
        name = "missing"

        @staticmethod
        def _library():
            raise ModuleNotFoundError("somepeer is not installed (make install-peers)")

    assert not Missing.available()
    assert Missing.unavailable_reason() == "ModuleNotFoundError: somepeer is not installed (make install-peers)"
    with pytest.raises(AnsError, match="missing peer unavailable: ModuleNotFoundError"):
        Missing()
