"""Hostile input to both streaming backends (issue 16 items 12-14): huge finite amplitudes never
poison the state, non-audio chunks are refused in one line without moving the stream, and one
huge chunk costs its output and nothing more."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from ans.errors import AnsError
from ans.runtime.hopstream import PIECE
from tests.signals import speech_like

STUDENT = Path(__file__).resolve().parents[1] / "pretrained" / "student" / "model.pt"
SR = 48_000


@pytest.fixture(scope="module", params=["torch", "onnx"])
def make(request, one_torch_thread):
    if request.param == "torch":
        from ans.streaming import StreamingEnhancer

        return lambda: StreamingEnhancer(STUDENT)
    from ans.runtime.model import OnnxModel
    from ans.runtime.streaming import OnnxStreamingEnhancer

    model = OnnxModel()
    return lambda: OnnxStreamingEnhancer(model)


def sig(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    return (speech_like(seconds, SR, seed) + 0.03 * rng.standard_normal(n)).astype(np.float32)


def run(s, *chunks) -> np.ndarray:
    return np.concatenate([s.process(c) for c in chunks] + [s.flush()])


@pytest.mark.parametrize("amp", [1e15, 3e38])
def test_huge_amplitude_scaled_never_poisons_the_state(make, amp):
    """A finite chunk far beyond full scale gives finite output of its own size order, and once
    it left the model's receptive field (171 frames) the stream is exactly what it would have
    been after silence."""
    loud, rest = sig(0.1, seed=1) * np.float32(amp), sig(4.5)
    s = make()
    y_loud = s.process(loud)
    assert np.isfinite(y_loud).all()
    if amp < 1e30:  # 3e38 is clipped at the float32 maximum
        assert np.abs(y_loud).max() > 1e-3 * amp
    after = run(s, rest)
    assert np.isfinite(after).all() and np.isfinite(np.asarray(s.cache)).all()
    ref = run(make(), np.zeros_like(loud), rest)[loud.size:]
    tail = slice(after.size - SR // 2, after.size)  # the last 0.5 s: frames > 205
    np.testing.assert_allclose(after[tail], ref[tail], rtol=0, atol=1e-5)


@pytest.mark.parametrize("chunk", ["abc", np.array(["a", "b"]), np.ones(960, bool), np.ones(960, np.complex64),
                                   np.array([object()] * 3), [[0.1, 0.2], [0.3]], np.zeros((960, 2), np.float32),
                                   np.float32(0.5)], ids=["str", "str-array", "bool", "complex", "object",
                                                          "ragged", "2-D", "scalar"])
def test_bad_chunks_refused_in_one_line_stream_unmoved(make, chunk):
    a, b = sig(0.3, seed=2), sig(0.3, seed=3)
    s = make()
    first = s.process(a)
    with pytest.raises(AnsError, match="<stream>") as e:
        s.process(chunk)
    assert "\n" not in str(e.value)
    np.testing.assert_array_equal(np.concatenate([first, s.process(b), s.flush()]), run(make(), a, b))


def test_nan_at_the_end_of_a_long_chunk_refused_before_anything_moves(make):
    a, long = sig(0.3, seed=4), sig(2 * PIECE / SR + 0.01, seed=5)
    bad = long.copy()
    bad[-1] = np.nan
    s = make()
    first = s.process(a)
    with pytest.raises(AnsError, match="NaN"):
        s.process(bad)
    np.testing.assert_array_equal(np.concatenate([first, s.process(long), s.flush()]), run(make(), a, long))


def test_integer_pcm_as_offline_policy(make):
    x = (sig(0.5, seed=6) * 32767).astype(np.int16)
    np.testing.assert_allclose(run(make(), x), run(make(), x.astype(np.float32) / 32768), rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_one_huge_chunk_costs_its_output_only(make, dtype):
    """10 s in one call: now O(PIECE) beyond the output; before, the blocks, their concatenation and a copy (and a float64
    copy of integer input) came on top of the output. (tracemalloc sees numpy memory only: for the
    torch backend this checks the shared loop's buffers, not torch's per-hop tensors.)"""
    x = sig(10.0, seed=7)
    if dtype == np.int16:
        x = (x * 32767).astype(np.int16)
    s = make()
    s.process(x[:960])
    tracemalloc.start()
    try:
        y = s.process(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert y.shape == x.shape and np.isfinite(y).all()
    assert peak - y.nbytes < 2 << 20, f"{(peak - y.nbytes) / 2**20:.1f} MB beyond the output"
