"""Streaming equals offline after the fixed 1920-sample latency, for any chunking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ans.checkpoint import build_model, save_model
from ans.enhance import Enhancer
from ans.errors import AnsError
from ans.features import Normalizer
from ans.streaming import StreamingEnhancer

LAT = 1920


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    norm = Normalizer()
    norm.mean.fill_(8.0)
    norm.std.fill_(4.0)
    return build_model("ans.models.student.DFSMN").eval(), norm


def signal(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 48000
    return (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 3 * t))
            + 0.05 * rng.standard_normal(n)).astype(np.float32)


def stream(s: StreamingEnhancer, x: np.ndarray, sizes) -> np.ndarray:
    outs, pos = [], 0
    for size in sizes:
        chunk = x[pos:pos + size]
        out = s.process(chunk)
        assert out.shape == chunk.shape and out.dtype == np.float32
        outs.append(out)
        pos += size
    assert pos >= x.size
    tail = s.flush()
    assert tail.shape == (LAT,)
    return np.concatenate(outs + [tail])


def check_equal(s, x, sizes, offline):
    y = stream(s, x, sizes)
    assert y.shape == (x.size + LAT,)
    assert not y[:LAT].any()
    np.testing.assert_allclose(y[LAT:], offline, rtol=0, atol=1e-5)


@pytest.mark.parametrize("chunk,n", [(1, 24000 + 17), (7, 48000 * 2 + 5), (960, 48000 * 3),
                                     (4800, 48000 * 3 + 961)])
def test_fixed_chunks_equal_offline(student, chunk, n):
    x = signal(n)
    offline = Enhancer(*student).enhance(x, 48000)
    s = StreamingEnhancer(student)
    assert s.latency_samples == LAT
    check_equal(s, x, [chunk] * -(-n // chunk), offline)


def test_random_splits_and_reset(student):
    rng = np.random.default_rng(1)
    s = StreamingEnhancer(student)
    for n in (1, 959, 960, 1921, 37 * 960 + 11):
        x = signal(n, seed=n)
        offline = Enhancer(*student).enhance(x, 48000)
        sizes = []
        while sum(sizes) < n:
            sizes.append(int(rng.integers(0, 3000)))  # zero-length chunks included
        check_equal(s, x, sizes, offline)  # flush() resets, so the object is reused
    x = signal(20000, seed=3)
    offline = Enhancer(*student).enhance(x, 48000)
    s.process(signal(5000, seed=9))  # garbage, then reset
    s.reset()
    check_equal(s, x, [3000] * 7, offline)


def test_empty_stream_and_constant_state(student):
    s = StreamingEnhancer(student)
    assert not s.flush().any()
    shape = tuple(s.cache.shape)
    assert shape == (1, 9, 19, 256)  # per layer the last N1-1 projected frames
    for _ in range(30):
        s.process(signal(960 * 7 + 13))
        assert tuple(s.cache.shape) == shape
    assert s._npend <= LAT  # output buffer bounded too


def test_from_path_and_refusals(tmp_path, student):
    path = save_model(tmp_path / "s.pt", student[0], "student", student[1])
    x = signal(4000)
    y = StreamingEnhancer(path).process(x)
    assert y.shape == x.shape and np.isfinite(y).all()
    y2 = Enhancer.from_checkpoint(path).streaming().process(x)
    np.testing.assert_array_equal(y, y2)
    teacher = build_model("ans.models.teacher.Teacher", channels=16, lstm_hidden=8, n_dec=2)
    tpath = save_model(tmp_path / "t.pt", teacher, "teacher", Normalizer())
    with pytest.raises(AnsError, match="teacher models are not streamable: use Enhancer"):
        StreamingEnhancer(tpath)
    with pytest.raises(AnsError, match="not streamable"):
        StreamingEnhancer((teacher, Normalizer()))
    with pytest.raises(AnsError, match="not streamable"):
        StreamingEnhancer((build_model("ans.models.student.DFSMN", rorder=2), Normalizer()))
    s = StreamingEnhancer(student)
    with pytest.raises(AnsError, match="NaN"):
        s.process(np.array([0.0, np.nan], np.float32))
