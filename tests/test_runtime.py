"""The torch-free runtime (ans.runtime): numpy features equal the torch ones, the shipped
student exported to ONNX gives the torch output (offline in blocks, streaming, attenuation
limit), files go through block by block, and nothing imports torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from ans import features as F
from ans.enhance import Enhancer
from ans.errors import AnsError
from ans.export import export_onnx
from ans.runtime import dsp
from ans.runtime.model import DEFAULT_MODEL_DIR, OnnxModel
from ans.runtime.offline import OnnxEnhancer
from ans.runtime.streaming import OnnxStreamingEnhancer
from tests.signals import speech_like

REPO = Path(__file__).resolve().parents[1]
STUDENT = REPO / "pretrained" / "student" / "model.pt"
SR = 48_000


def noisy(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = speech_like(seconds, sr, seed) + 0.03 * rng.standard_normal(int(seconds * sr))
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, one_torch_thread):
    out = tmp_path_factory.mktemp("onnx")
    export_onnx(STUDENT, out)
    return out


@pytest.fixture(scope="module")
def torch_enh(one_torch_thread):
    return Enhancer.from_checkpoint(STUDENT)


def spec_of(option: str):
    from hydra.utils import instantiate

    from ans.config import compose

    return instantiate(compose("teacher", [f"features={option}"]).features).spec


@pytest.mark.parametrize("option", ["kaldi", "16k", "8k"])
def test_fbank_stft_ola_match_torch(option):
    """numpy Dsp(spec) == torch FeatureExtractor(spec) for every shipped spec."""
    from torchaudio.compliance import kaldi

    s = spec_of(option)
    banks, _ = kaldi.get_mel_banks(s.n_mels, s.fft_fbank, float(s.sample_rate), s.low_freq, s.high_freq,
                                   100.0, -500.0, 1.0)
    assert np.abs(dsp.mel_banks(s)[:, :-1] - banks.numpy()).max() < 1e-4
    x = noisy(1.0, s.sample_rate)
    d, fe = dsp.Dsp(s), F.FeatureExtractor(s)
    frames = d.frames_of(F.pad_for_frames(torch.from_numpy(x)[None], s)[0].numpy())
    assert len(frames) == s.num_frames(x.size)
    assert np.abs(d.fbank(frames) - F.kaldi_fbank_reference(torch.from_numpy(x), s).numpy()).max() < 1e-3
    spec = fe.stft(torch.from_numpy(x)).numpy()
    assert np.abs(d.analysis(frames) - spec).max() < 1e-3 * np.abs(spec).max()
    assert np.allclose(d.ola_env, fe.ola_envelope().numpy(), atol=1e-6)
    # analysis -> synthesis -> weighted OLA is the identity (as torch.istft)
    synth = d.synthesis(d.analysis(frames))
    hops = np.zeros((len(synth) + 1, s.hop), np.float32)
    hops[:-1] += synth[:, :s.hop]
    hops[1:] += synth[:, s.hop:]
    assert np.abs((hops[1:-1] / d.ola_env).reshape(-1)[:x.size] - x).max() < 1e-5


def test_bundled_onnx_is_the_shipped_student():
    """`make onnx` was run after the last change to pretrained/student/model.pt."""
    from ans.checkpoint import load_model

    model, norm, _ = load_model(STUDENT)
    side = json.loads((DEFAULT_MODEL_DIR / "export.json").read_text())
    assert np.allclose(side["normalizer"]["mean"], norm.mean.numpy())
    rng = np.random.default_rng(0)
    feats = (rng.standard_normal((40, 120)) * norm.std.numpy() + norm.mean.numpy()).astype(np.float32)
    with torch.no_grad():
        ref = model(norm(torch.from_numpy(feats))[None])[0].numpy()
    assert np.abs(OnnxModel().offline(feats) - ref).max() < 1e-5, "stale ONNX: run `make onnx`"


@pytest.mark.parametrize("block", [37, 1000])
def test_offline_equals_torch(exported, torch_enh, block):
    x = noisy(4.0)
    ref = torch_enh.enhance(x, SR)
    y = OnnxEnhancer(exported, block_frames=block).enhance(x, SR)
    assert y.shape == ref.shape and y.dtype == np.float32
    assert np.abs(y - ref).max() < 1e-4


def test_atten_limit_everywhere(exported):
    x = noisy(3.0, seed=1)
    ref = Enhancer.from_checkpoint(STUDENT, atten_lim_db=6.0).enhance(x, SR)
    assert np.abs(OnnxEnhancer(exported, atten_lim_db=6.0).enhance(x, SR) - ref).max() < 1e-4
    free = OnnxEnhancer(exported).enhance(x, SR)
    assert np.abs(free - ref).max() > 1e-3  # the limit changes the output
    # a floor of -6 dB: the output keeps at least half of the input's STFT magnitude
    assert np.sum(ref ** 2) > 0.2 * np.sum(x ** 2)
    from ans.streaming import StreamingEnhancer

    s = StreamingEnhancer(STUDENT, atten_lim_db=6.0)
    out = np.concatenate([s.process(x), s.flush()])[s.latency_samples:]
    assert np.abs(out - ref).max() < 1e-4
    with pytest.raises(AnsError):
        OnnxEnhancer(exported, atten_lim_db=-3.0)


@pytest.mark.parametrize("chunks", ["fixed", "random"])
def test_streaming_equals_offline(exported, torch_enh, chunks):
    x = noisy(2.0, seed=2)
    ref = torch_enh.enhance(x, SR)
    s = OnnxStreamingEnhancer(exported)
    rng = np.random.default_rng(3)
    outs, i = [], 0
    while i < x.size:
        n = 960 if chunks == "fixed" else int(rng.integers(1, 2500))
        y = s.process(x[i:i + n])
        assert y.size == min(n, x.size - i)
        outs.append(y)
        i += n
    out = np.concatenate([*outs, s.flush()])
    assert np.abs(out[:s.latency_samples]).max() == 0.0
    assert np.abs(out[s.latency_samples:] - ref).max() < 1e-4
    assert s.cache.shape == (1, 9, 19, 256)


def test_file_in_blocks_equals_array(tmp_path, monkeypatch):
    """Small read blocks: the streamed soxr + engine + writer path equals the in-memory one."""
    from ans.runtime import fileio

    monkeypatch.setattr(fileio, "READ_BLOCK", 7001)
    x = noisy(3.0, 44_100, seed=4)
    src = tmp_path / "in.wav"
    sf.write(src, x, 44_100, subtype="FLOAT")
    enh = OnnxEnhancer(block_frames=50)
    ref = enh.enhance(x, 44_100)
    out = enh.enhance_file(src, tmp_path / "out.wav", subtype="FLOAT")
    y, sr = sf.read(out, dtype="float32")
    assert sr == SR and y.size == ref.size and np.abs(y - ref).max() < 1e-5
    kept = enh.enhance_file(src, tmp_path / "kept.wav", subtype="FLOAT", keep_rate=True)
    yk, srk = sf.read(kept, dtype="float32")
    assert srk == 44_100 and yk.size == x.size
    assert np.abs(yk - enh.enhance(x, 44_100, keep_rate=True)).max() < 1e-5
    with pytest.raises(AnsError, match="output exists"):
        enh.enhance_file(src, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "kept.wav", "out.wav"]


def test_file_beyond_full_scale_and_bad_input(tmp_path):
    x = noisy(1.0) * 4.0  # float wav over full scale: enhanced at peak 1, scaled back
    src = tmp_path / "loud.wav"
    sf.write(src, x, SR, subtype="FLOAT")
    enh = OnnxEnhancer()
    y, _ = sf.read(enh.enhance_file(src, tmp_path / "o.wav", subtype="FLOAT"), dtype="float32")
    p = float(np.abs(x).max())
    assert np.abs(y - enh.enhance(x, SR)).max() < 1e-4
    assert np.abs(y - p * enh.enhance(x / p, SR)).max() < 1e-4 * p  # enhanced at peak 1, scaled back
    bad = tmp_path / "nan.wav"
    sf.write(bad, np.array([0.0, np.nan, 0.1] * 100, np.float32), SR, subtype="FLOAT")
    with pytest.raises(AnsError, match=r"nan\.wav: .*NaN"):
        enh.enhance_file(bad, tmp_path / "o2.wav")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all" * 10)
    with pytest.raises(AnsError, match="junk.wav"):
        enh.enhance_file(tmp_path / "junk.wav", tmp_path / "o3.wav")
    assert not (tmp_path / "o2.wav").exists() and not (tmp_path / "o3.wav").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_memory_is_flat_in_length(tmp_path):
    """numpy allocations while enhancing a file do not grow with its length (blocks)."""
    enh = OnnxEnhancer()
    peaks = {}
    for sec in (20, 80):
        src = tmp_path / f"in{sec}.wav"
        sf.write(src, np.tile(noisy(5.0), sec // 5), SR, subtype="PCM_16")
        tracemalloc.start()
        enh.enhance_file(src, tmp_path / f"out{sec}.wav")
        peaks[sec] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    assert peaks[80] < 1.3 * peaks[20] + 5, peaks  # an 80 s float32 signal alone would be 15 MB


NO_TORCH = r"""
import sys, numpy as np
sys.modules["torch"] = None  # any `import torch` now fails loudly
from ans.enhance import main
from ans.runtime import OnnxEnhancer, OnnxStreamingEnhancer
import soundfile as sf
x = (np.random.default_rng(0).standard_normal(16000) * 0.1).astype(np.float32)
sf.write(sys.argv[1] + "/in.wav", x, 16000)
assert main([sys.argv[1] + "/in.wav", "-o", sys.argv[1] + "/out.wav", "--atten-lim-db", "20"]) == 0
y = OnnxStreamingEnhancer().process(x[:3000])
import ans
p = ans.pipeline(keep_rate=True)(x, sample_rate=16000)
assert p["sample_rate"] == 16000 and p["output_wav"].size == 16000
print("torch" in sys.modules and sys.modules["torch"] is not None, sf.info(sys.argv[1] + "/out.wav").samplerate)
"""


def test_runtime_imports_no_torch(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-c", NO_TORCH, str(tmp_path)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-2:] == ["False", "48000"]


def test_backend_choice_and_refusals(tmp_path, exported):
    from ans.enhance import load_enhancer

    assert isinstance(load_enhancer(exported), OnnxEnhancer)
    assert isinstance(load_enhancer(exported / "export.json"), OnnxEnhancer)
    assert isinstance(load_enhancer(None, "onnx"), OnnxEnhancer)
    assert isinstance(load_enhancer(STUDENT), Enhancer)
    with pytest.raises(AnsError, match="ans-export"):
        load_enhancer(STUDENT, "onnx")
    with pytest.raises(AnsError, match="model.pt"):
        load_enhancer(exported, "torch")
    with pytest.raises(AnsError, match="--backend torch"):
        load_enhancer(None, "onnx", device="cuda")
    with pytest.raises(AnsError, match="export.json"):
        OnnxModel(tmp_path)


@pytest.mark.parametrize("sr", [16_000, 44_100])
@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_streaming_at_the_input_rate(exported, torch_enh, backend, sr):
    """`at_rate`: chunks at 16 / 44.1 kHz in and out (one-sample chunks included: soxr's
    stream lags most then) equal offline keep_rate, a fixed `latency_samples` late."""
    from ans.streaming import StreamingEnhancer

    x = noisy(1.5, sr, seed=4)
    ref = (OnnxEnhancer(exported) if backend == "onnx" else torch_enh).enhance(x, sr, keep_rate=True)
    base = OnnxStreamingEnhancer(exported) if backend == "onnx" else StreamingEnhancer(STUDENT)
    s = base.at_rate(sr)
    assert s.sample_rate == sr and s.latency_samples > base.latency_samples * sr / SR
    rng = np.random.default_rng(sr)
    for _ in range(2):  # flush resets: a second stream gives the same output
        outs, i = [], 0
        while i < x.size:
            n = 1 if i < 3000 else int(rng.choice([7, 160, 441, 1024, 4096]))
            y = s.process(x[i:i + n])
            assert y.size == min(n, x.size - i)
            outs.append(y)
            i += n
        out = np.concatenate([*outs, s.flush()])
        assert out.size == x.size + s.latency_samples
        assert np.abs(out[:s.latency_samples]).max() == 0.0
        assert np.abs(out[s.latency_samples:] - ref).max() < 1e-4
    with pytest.raises(AnsError):
        s.process(np.array(["a"]))
    assert base.at_rate(SR).process(x[:100]).size == 100  # same rate: the stream itself
