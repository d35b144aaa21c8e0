"""ONNX export: both student graphs run in onnxruntime and match PyTorch; teachers stream nowhere."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ans.checkpoint import build_model, load_model, save_model
from ans.errors import AnsError
from ans.export import bench_onnx_streaming, export_onnx, main, ort_session
from ans.features import FeatureExtractor, Normalizer
from ans.signal_spec import REFERENCE

pytest.importorskip("onnxruntime")
SR = 48_000


def _normalizer(seed: int = 0) -> Normalizer:
    g = torch.Generator().manual_seed(seed)
    norm = Normalizer()
    norm.mean.copy_(torch.rand(120, generator=g) * 6 + 6)
    norm.std.copy_(torch.rand(120, generator=g) * 3 + 1)
    return norm


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A reference-size student with a non-identity normaliser, exported through the CLI."""
    root = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    model = build_model("ans.models.student.DFSMN").eval()
    save_model(root / "model.pt", model, "student", _normalizer())
    assert main([str(root / "model.pt"), "-o", str(root / "out"), "--opset", "17"]) == 0
    model, norm, _ = load_model(root / "model.pt")
    return root, model, norm


@pytest.fixture(scope="module")
def utterance_fbank():
    """Raw fbank of a 10 s speech-like signal (501 frames)."""
    rng = np.random.default_rng(0)
    t = np.arange(10 * SR) / SR
    voiced = 0.2 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    x = voiced + 0.02 * rng.standard_normal(t.size)
    feats = FeatureExtractor().eval().fbank(torch.from_numpy(x.astype(np.float32)))
    assert feats.shape == (REFERENCE.num_frames(t.size), 120) == (501, 120)
    return feats.unsqueeze(0)


def test_sidecar_and_files(exported):
    root, model, norm = exported
    side = json.loads((root / "out" / "export.json").read_text())
    assert side["kind"] == "student" and side["normalizer"]["included_in_graph"] is True
    assert side["normalizer"]["mean"] == pytest.approx(norm.mean.tolist())
    stream = side["graphs"]["streaming"]
    assert stream["cache_shape"] == [9, 19, 256] == list(model.init_cache(1).shape[1:])
    assert side["latency"]["algorithmic_samples"] == 1920 and side["latency"]["lookahead_frames"] == 0
    assert side["features"]["n_mels"] == 120 and side["opset"] == 17
    for g in side["graphs"].values():
        assert (root / "out" / g["file"]).is_file() and g["max_abs_diff_vs_torch"] <= 1e-4
    assert {g["file"] for g in side["graphs"].values()} == {"student_offline.onnx", "student_streaming.onnx"}


@torch.no_grad()
def test_offline_graph_matches_torch(exported, utterance_fbank):
    root, model, norm = exported
    sess = ort_session(root / "out" / "student_offline.onnx")
    ref = model(norm(utterance_fbank)).numpy()
    out = sess.run(["mask"], {"fbank": utterance_fbank.numpy()})[0]
    assert out.shape == (1, 501, 961)
    assert np.abs(out - ref).max() <= 1e-4
    for b, t in ((2, 7), (3, 123)):  # dynamic batch and length
        x = torch.randn(b, t, 120) * norm.std + norm.mean
        out = sess.run(["mask"], {"fbank": x.numpy()})[0]
        assert out.shape == (b, t, 961)
        assert np.abs(out - model(norm(x)).numpy()).max() <= 1e-4


@torch.no_grad()
def test_streaming_graph_frame_by_frame(exported, utterance_fbank):
    root, model, norm = exported
    sess = ort_session(root / "out" / "student_streaming.onnx")
    ref = model(norm(utterance_fbank))[0].numpy()
    cache = np.zeros((1, 9, 19, 256), dtype=np.float32)
    out = np.empty_like(ref)
    for t in range(ref.shape[0]):
        feed = {"frame": utterance_fbank[:, t].numpy(), "cache": cache}
        mask, cache = sess.run(["mask", "new_cache"], feed)
        out[t] = mask[0]
    assert cache.shape == (1, 9, 19, 256)
    assert np.abs(out - ref).max() <= 1e-4
    # batch 2: two independent streams in one call
    x = torch.randn(2, 5, 120) * norm.std + norm.mean
    cache = np.zeros((2, 9, 19, 256), dtype=np.float32)
    for t in range(5):
        mask, cache = sess.run(["mask", "new_cache"], {"frame": x[:, t].numpy(), "cache": cache})
    assert np.abs(mask - model(norm(x))[:, -1].numpy()).max() <= 1e-4


def test_no_normalizer_option(tmp_path, exported):
    root, model, norm = exported
    side = export_onnx(root / "model.pt", tmp_path, streaming=False, include_normalizer=False)
    assert side["normalizer"]["included_in_graph"] is False and "streaming" not in side["graphs"]
    x = torch.randn(1, 9, 120)  # already normalised input
    out = ort_session(tmp_path / "student_offline.onnx").run(["mask"], {"fbank": x.numpy()})[0]
    with torch.no_grad():
        assert np.abs(out - model(x).numpy()).max() <= 1e-4


def test_teacher_streaming_refused_offline_ok(tmp_path, capsys):
    torch.manual_seed(0)
    teacher = build_model("ans.models.teacher.Teacher", channels=16, lstm_hidden=8).eval()
    save_model(tmp_path / "teacher.pt", teacher, "teacher", _normalizer(1))
    with pytest.raises(AnsError, match="not streamable"):
        export_onnx(tmp_path / "teacher.pt", tmp_path / "t")
    assert main([str(tmp_path / "teacher.pt"), "-o", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err.strip()
    assert "teacher.pt" in err and "not streamable" in err and "\n" not in err
    assert not (tmp_path / "t").exists()  # nothing half-written
    side = export_onnx(tmp_path / "teacher.pt", tmp_path / "t", streaming=False)
    assert side["graphs"]["offline"]["max_abs_diff_vs_torch"] <= 1e-4
    sess = ort_session(tmp_path / "t" / "teacher_offline.onnx")
    _, norm, _ = load_model(tmp_path / "teacher.pt")
    for t in (11, 40):
        x = torch.randn(2, t, 120) * norm.std + norm.mean
        with torch.no_grad():
            ref = teacher(norm(x)).numpy()
        assert np.abs(sess.run(["mask"], {"fbank": x.numpy()})[0] - ref).max() <= 1e-4


def test_lookahead_student_not_streamable(tmp_path):
    model = build_model("ans.models.student.DFSMN", hidden=32, fsmn_depth=2, lorder=4, rorder=2)
    save_model(tmp_path / "la.pt", model, "student", Normalizer())
    with pytest.raises(AnsError, match="rorder"):
        export_onnx(tmp_path / "la.pt", tmp_path / "o")


def test_missing_model_is_clear_error(tmp_path, capsys):
    assert main([str(tmp_path / "nope.pt"), "-o", str(tmp_path / "o")]) == 1
    assert "nope.pt" in capsys.readouterr().err


def test_bench_onnx_streaming_smoke(exported):
    root, _, _ = exported
    r = bench_onnx_streaming(root / "model.pt", hops=20, warmup=5)
    assert r["hops"] == 20 and r["threads"] == 1 and r["max_abs_diff"] <= 1e-4
    for side in ("onnxruntime", "torch"):
        assert 0 < r[side]["mean_ms"] <= r[side]["max_ms"]
