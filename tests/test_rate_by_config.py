"""Sample rate by config (issue 14 item 5): a 16 kHz model trains (teacher, then a distilled
student), enhances offline at its own rate (or the input's with keep_rate), streams with
the offline result one frame later, and exports to ONNX with the same output; the model's
SignalSpec travels with it and mismatches are refused."""

import numpy as np
import pytest
import soundfile as sf

from ans.enhance import Enhancer
from ans.enhance import main as enhance_main
from ans.errors import AnsError
from ans.export import export_onnx
from ans.model import MaskEstimator
from ans.runtime.offline import OnnxEnhancer
from ans.runtime.streaming import OnnxStreamingEnhancer
from ans.streaming import StreamingEnhancer
from ans.training import build_module, run
from tests.signals import speech_like

SMALL_STUDENT = ["model.hidden=32", "model.fsmn_depth=2", "model.lorder=4"]


def _stream(s, x: np.ndarray, chunk: int) -> np.ndarray:
    return np.concatenate([*(s.process(x[i:i + chunk]) for i in range(0, x.size, chunk)), s.flush()])


def test_16k_train_enhance_stream_onnx(compose_cfg, tmp_path, one_torch_thread):
    run(compose_cfg("teacher", ["features=16k"]))
    run(compose_cfg("student", ["features=16k", *SMALL_STUDENT]))
    path = tmp_path / "outputs/student/t/model.pt"
    est = MaskEstimator.load(path)
    spec = est.spec
    assert (spec.sample_rate, spec.frame, spec.hop, spec.n_mels, spec.n_bins) == (16_000, 640, 320, 80, 321)
    assert est.info["format"] == "ans-model/2" and est.streamable and est.latency_samples == 640
    assert MaskEstimator.load(tmp_path / "outputs/teacher/t/model.pt").latency_samples is None

    rng = np.random.default_rng(0)
    x48 = (speech_like(1.3, 48_000, 1) + 0.05 * rng.standard_normal(62_400)).astype(np.float32)
    enh = Enhancer(est)
    y = enh.enhance(x48, 48_000)  # resampled to the model's rate
    assert y.shape == (20_800,) and np.isfinite(y).all() and np.abs(y).max() > 0
    assert enh.enhance(x48, 48_000, keep_rate=True).shape == x48.shape

    x16 = (speech_like(1.3, 16_000, 2) + 0.05 * rng.standard_normal(20_800)).astype(np.float32)
    offline = enh.enhance(x16, 16_000)
    streamed = _stream(StreamingEnhancer(est), x16, 123)
    np.testing.assert_allclose(streamed[640:], offline, atol=1e-5)

    side = export_onnx(path, tmp_path / "onnx")
    assert side["features"]["sample_rate"] == 16_000 and side["latency"]["algorithmic_samples"] == 640
    onnx_off = OnnxEnhancer(tmp_path / "onnx", block_frames=7).enhance(x16, 16_000)
    assert np.abs(onnx_off - offline).max() < 1e-4
    s = OnnxStreamingEnhancer(tmp_path / "onnx")
    assert (s.sample_rate, s.latency_samples) == (16_000, 640)
    assert np.abs(_stream(s, x16, 500)[640:] - offline).max() < 1e-4

    # files: the CLI writes the model's rate, or the input's with --keep-rate (both backends)
    sf.write(tmp_path / "in.wav", x48, 48_000)
    for model, out, keep, rate in ((path, "a.wav", [], 16_000), (tmp_path / "onnx", "b.wav", ["--keep-rate"], 48_000)):
        assert enhance_main([str(tmp_path / "in.wav"), "-o", str(tmp_path / out), "--model", str(model), *keep]) == 0
        info = sf.info(tmp_path / out)
        assert info.samplerate == rate and info.frames == x48.size * rate // 48_000


def test_spec_mismatches_refused(compose_cfg, tmp_path, one_torch_thread):
    run(compose_cfg("teacher", ["features=8k"]))
    with pytest.raises(AnsError, match="another signal spec"):  # a 48 kHz student from an 8 kHz teacher
        build_module(compose_cfg("student", SMALL_STUDENT))
    est = MaskEstimator.load(tmp_path / "outputs/teacher/t/model.pt")
    assert est.spec.sample_rate == 8_000 and est.net.out.out_features == 161
    # a model.pt whose stored spec does not fit its weights: one line naming the file
    import torch

    payload = torch.load(tmp_path / "outputs/teacher/t/model.pt", weights_only=True)
    payload["features"] = {**payload["features"], "n_mels": 120}
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(AnsError, match="bad.pt.*signal spec"):
        MaskEstimator.load(tmp_path / "bad.pt")
