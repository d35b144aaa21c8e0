"""The service-like API: `ans.pipeline(model)(input, output_path=...)`."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

import ans
from ans.checkpoint import build_model, save_model
from ans.features import Normalizer


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("m") / "model.pt"
    save_model(path, build_model("ans.models.student.DFSMN"), "student", Normalizer())
    return ans.pipeline(model=path, max_bytes=200_000)


def noise(n, seed=0):
    return (np.random.default_rng(seed).standard_normal(n) * 0.1).astype(np.float32)


def check_result(res, n48):
    assert res["sample_rate"] == 48000
    wav = res["output_wav"]
    assert wav.dtype == np.float32 and wav.shape == (n48,)
    pcm = np.frombuffer(res["output_pcm"], dtype="<i2")
    assert pcm.shape == (n48,)
    np.testing.assert_allclose(pcm / 32768.0, np.clip(wav, -1, 1), atol=1.5 / 32768)


def test_import_is_light():
    code = "import sys, ans; assert 'torch' not in sys.modules; print(ans.__all__)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_path_bytes_and_array_inputs(tmp_path, pipe):
    x = noise(16000)
    src = tmp_path / "noisy.wav"
    sf.write(src, x, 16000)
    out = tmp_path / "sub" / "enhanced.wav"
    res = pipe(str(src), output_path=out)
    check_result(res, 48000)
    y, sr = sf.read(out, dtype="int16")
    assert sr == 48000
    np.testing.assert_array_equal(y, np.frombuffer(res["output_pcm"], dtype="<i2"))
    res_b = pipe(src.read_bytes())
    check_result(res_b, 48000)
    np.testing.assert_array_equal(res_b["output_wav"], res["output_wav"])
    res_a = pipe(x, sample_rate=16000)
    np.testing.assert_allclose(res_a["output_wav"], res["output_wav"], atol=1e-4)
    check_result(pipe(np.stack([x, x], 1), sample_rate=16000), 48000)
    check_result(pipe((x * 32767).astype(np.int16), sample_rate=44100), round(16000 * 48000 / 44100))


def test_refusals(tmp_path, pipe):
    with pytest.raises(ans.AnsError, match="sample_rate"):
        pipe(noise(100))
    big = noise(48000 * 3)  # 576 kB as float32, also as a 16-bit wav (288 kB)
    with pytest.raises(ans.AnsError, match="limit"):
        pipe(big, sample_rate=48000)
    buf = io.BytesIO()
    sf.write(buf, big, 48000, format="WAV", subtype="PCM_16")
    with pytest.raises(ans.AnsError, match="<bytes>.*200000-byte limit"):
        pipe(buf.getvalue())
    path = tmp_path / "big.wav"
    path.write_bytes(buf.getvalue())
    with pytest.raises(ans.AnsError, match="big.wav.*limit"):
        pipe(path)
    with pytest.raises(ans.AnsError, match="truncated"):
        pipe(buf.getvalue()[:100_000])
    with pytest.raises(ans.AnsError, match="not a readable audio"):
        pipe(b"hello world")
    with pytest.raises(ans.AnsError, match="no such file"):
        pipe(tmp_path / "missing.wav")
    small = tmp_path / "small.wav"
    sf.write(small, noise(480), 48000)
    before = small.read_bytes()
    with pytest.raises(ans.AnsError, match="input file"):
        pipe(small, output_path=small)
    assert small.read_bytes() == before


def test_missing_default_model(monkeypatch, tmp_path):
    import ans.enhance

    monkeypatch.setattr(ans.enhance, "DEFAULT_MODEL", tmp_path / "model.pt")
    with pytest.raises(ans.AnsError, match="model"):
        ans.pipeline()
