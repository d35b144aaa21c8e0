"""ans.live without audio hardware: the real callback object fed by a fake duplex stream with
real devices' block sizes and jitter gives exactly the offline output, 40 ms late."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ans.live import LiveProcessor
from ans.runtime.offline import OnnxEnhancer
from ans.runtime.streaming import OnnxStreamingEnhancer
from tests.signals import speech_like

REPO = Path(__file__).resolve().parents[1]


def fake_duplex(proc, x: np.ndarray, sizes, rng, channels: int = 1) -> np.ndarray:
    """Play x through proc the way PortAudio would: blocks of the device size (sometimes
    split by the host's jitter), indata (frames, 1), outdata (frames, channels) to fill."""
    out, i = [], 0
    while i < x.size:
        n = int(rng.choice(sizes))
        if rng.random() < 0.2:  # jitter: a short block
            n = int(rng.integers(1, n + 1))
        indata = x[i:i + n, None].copy()
        outdata = np.full((indata.shape[0], channels), np.nan, np.float32)
        proc(indata, outdata, indata.shape[0], None, None)
        assert np.isfinite(outdata).all()
        if channels > 1:
            assert np.array_equal(outdata[:, 0], outdata[:, 1])
        out.append(outdata[:, 0].copy())
        i += n
    return np.concatenate(out)


@pytest.mark.parametrize("sizes", [[128, 256, 512], [441, 480, 1024]])
def test_callback_equals_offline(sizes):
    rng = np.random.default_rng(len(sizes) + sizes[0])
    x = (speech_like(2.0) + 0.03 * rng.standard_normal(96_000)).astype(np.float32)
    ref = OnnxEnhancer(atten_lim_db=20).enhance(x, 48_000)
    proc = LiveProcessor(OnnxStreamingEnhancer(atten_lim_db=20))
    y = fake_duplex(proc, x, sizes, rng, channels=2)
    lat = proc.stream.latency_samples
    assert y.size == x.size and np.abs(y[:lat]).max() == 0.0
    assert np.abs(y[lat:] - ref[:x.size - lat]).max() < 1e-5
    assert proc.callbacks > 100 and proc.xruns == 0
    assert "p99" in proc.summary()


def test_xrun_and_late_counters():
    class Slow:
        def process(self, chunk):
            time.sleep(0.004)
            return chunk

    proc = LiveProcessor(Slow())
    buf = np.zeros((128, 1), np.float32)
    proc(buf, buf.copy(), 128, None, "input overflow")  # 128 samples = 2.7 ms < 4 ms of work
    assert (proc.callbacks, proc.xruns, proc.late) == (1, 1, 1)


def test_help_without_portaudio():
    """--help answers fast and never needs PortAudio (sounddevice is imported lazily)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    code = "import sys; sys.modules['sounddevice'] = None; from ans.live import main; main(['--help'])"
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and "--list-devices" in r.stdout
    assert time.perf_counter() - t < 10  # generous: shared, loaded CI cores
    code = "import sys; sys.modules['sounddevice'] = None; from ans.live import main; main(['--list-devices'])"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "ans[live]" in r.stderr


def test_callback_at_a_device_rate():
    """--rate 44100 (a device without 48 kHz): the callback equals offline keep_rate, late by
    the stream's fixed latency; a rate ans refuses is one line."""
    from ans.errors import AnsError

    rng = np.random.default_rng(7)
    x = (speech_like(1.5, 44_100) + 0.03 * rng.standard_normal(66_150)).astype(np.float32)
    ref = OnnxEnhancer().enhance(x, 44_100, keep_rate=True)
    proc = LiveProcessor(OnnxStreamingEnhancer().at_rate(44_100))
    assert proc.sr == 44_100
    y = fake_duplex(proc, x, [441, 512, 1024], rng)
    lat = proc.stream.latency_samples
    assert y.size == x.size and np.abs(y[:lat]).max() == 0.0
    assert np.abs(y[lat:] - ref[:x.size - lat]).max() < 1e-5
    with pytest.raises(AnsError, match="sample rate"):
        OnnxStreamingEnhancer().at_rate(10)
