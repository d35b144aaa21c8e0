"""Offline enhancement: any rate in, 48 kHz same duration out; the CLI's file/folder modes and
its refusals (never the input, no silent overwrite, one clear line for every bad input)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from ans.checkpoint import build_model, save_model
from ans.enhance import Enhancer, main
from ans.errors import AnsError
from ans.features import Normalizer

REPO = Path(__file__).resolve().parents[1]


def make_student(path: Path) -> Path:
    torch.manual_seed(0)
    norm = Normalizer()
    norm.mean.fill_(8.0)
    norm.std.fill_(4.0)
    return save_model(path, build_model("ans.models.student.DFSMN"), "student", norm)


def make_teacher(path: Path) -> Path:
    torch.manual_seed(0)
    model = build_model("ans.models.teacher.Teacher", channels=16, lstm_hidden=8, n_dec=2, dropout=0.0)
    return save_model(path, model.eval(), "teacher", Normalizer())


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return {"student": make_student(d / "student.pt"), "teacher": make_teacher(d / "teacher.pt")}


@pytest.fixture(scope="module")
def enhancer(models):
    return Enhancer.from_checkpoint(models["student"])


def noise(n: int, seed: int = 0, scale: float = 0.1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * scale).astype(np.float32)


def cli(*args, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "ans.enhance", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or REPO, env=env, timeout=120)


@pytest.mark.parametrize("sr", [8000, 16000, 44100, 48000, 96000])
def test_any_rate_gives_48k_same_duration(enhancer, sr):
    n = int(0.37 * sr) + 3
    y = enhancer.enhance(noise(n), sr)
    assert y.dtype == np.float32
    assert y.shape == (round(n * 48000 / sr),)
    assert np.isfinite(y).all() and np.abs(y).max() > 0


def test_teacher_enhances(models):
    y = Enhancer.from_checkpoint(models["teacher"]).enhance(noise(16000), 16000)
    assert y.shape == (48000,) and np.isfinite(y).all()


def test_stereo_uses_channel_0_and_int16(enhancer):
    left, right = noise(9600, 1), noise(9600, 2)
    ref = enhancer.enhance(left, 48000)
    np.testing.assert_array_equal(enhancer.enhance(np.stack([left, right], axis=1), 48000), ref)
    pcm = (left * 32768).astype(np.int16)
    y16 = enhancer.enhance(pcm, 48000)
    np.testing.assert_allclose(y16, enhancer.enhance(pcm / 32768.0, 48000), atol=1e-6)


def test_all_zero_returns_zeros_and_bad_arrays_refused(enhancer):
    y = enhancer.enhance(np.zeros(16000, np.float32), 16000)
    assert y.shape == (48000,) and not y.any()
    with pytest.raises(AnsError, match="empty"):
        enhancer.enhance(np.zeros(0, np.float32), 48000, name="clip.wav")
    bad = noise(4800)
    bad[7] = np.nan
    with pytest.raises(AnsError, match="clip.wav.*NaN"):
        enhancer.enhance(bad, 48000, name="clip.wav")
    with pytest.raises(AnsError, match="sample rate"):
        enhancer.enhance(noise(4800), 4000)


def test_cli_file_and_teacher(tmp_path, models):
    src = tmp_path / "in.wav"
    sf.write(src, noise(22050), 22050)
    out = tmp_path / "out" / "enh.wav"
    r = cli(src, "-o", out, "--model", models["student"])
    assert r.returncode == 0, r.stderr
    y, sr = sf.read(out, dtype="int16")
    assert sr == 48000 and y.shape == (48000,)
    r = cli(src, "-o", tmp_path / "t.wav", "--model", models["teacher"], "--float")
    assert r.returncode == 0, r.stderr
    info = sf.info(tmp_path / "t.wav")
    assert info.subtype == "FLOAT" and info.frames == 48000


def test_cli_refuses_existing_output_and_never_overwrites_input(tmp_path, models):
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, noise(4800), 48000)
    out.write_bytes(b"keep me")
    original = src.read_bytes()
    r = cli(src, "-o", out, "--model", models["student"])
    assert r.returncode != 0 and "out.wav" in r.stderr and "--overwrite" in r.stderr
    assert out.read_bytes() == b"keep me"
    for extra in ([], ["--overwrite"]):  # -o is the input itself, also via another spelling
        assert main([str(src), "-o", str(src), "--model", str(models["student"]), *extra]) == 1
        assert main([str(src), "-o", str(tmp_path / "." / "in.wav"), "--model",
                     str(models["student"]), *extra]) == 1
    assert src.read_bytes() == original
    assert main([str(src), "-o", str(out), "--model", str(models["student"]), "--overwrite"]) == 0
    assert sf.info(out).frames == 4800
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "out.wav"]  # no temp files left


def write_bad_inputs(d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    sf.write(d / "good.wav", noise(9600), 48000)
    files = {"missing": d / "missing.wav", "text": d / "notes.wav", "truncated": d / "cut.wav",
             "empty": d / "empty.wav", "nan": d / "nan.wav", "low_rate": d / "slow.wav",
             "big": d / "big.wav"}
    files["text"].write_text("this is not audio\n")
    full = (d / "good.wav").read_bytes()
    files["truncated"].write_bytes(full[: len(full) // 2 + 1])
    sf.write(files["empty"], np.zeros(0, np.float32), 48000)
    sf.write(files["nan"], np.array([0.1, np.nan, 0.2] * 100, np.float32), 48000, subtype="FLOAT")
    sf.write(files["low_rate"], noise(4000), 4000)
    sf.write(files["big"], noise(48000 * 2), 48000)  # > the 100 kB limit used below
    return files


@pytest.mark.parametrize("case", ["missing", "text", "truncated", "empty", "nan", "low_rate", "big"])
def test_cli_bad_input_one_line(tmp_path, models, case, capsys):
    files = write_bad_inputs(tmp_path / "in")
    out = tmp_path / "out.wav"
    rc = main([str(files[case]), "-o", str(out), "--model", str(models["student"]), "--max-bytes", "100000"])
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert len(err.splitlines()) == 1 and files[case].name in err, err
    assert not out.exists() and not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_cli_folder_mode(tmp_path, models):
    src = tmp_path / "noisy"
    (src / "sub").mkdir(parents=True)
    sf.write(src / "a.wav", noise(4800), 16000)
    sf.write(src / "sub" / "b.flac", noise(8000), 8000)
    sf.write(src / "sub" / "c.ogg", noise(4410), 44100)
    bad = write_bad_inputs(src / "bad")
    dst = tmp_path / "enhanced"
    r = cli(src, "-o", dst, "--model", models["student"], "--jobs", "2")
    assert r.returncode == 1
    for name in ("notes.wav", "cut.wav", "empty.wav", "nan.wav", "slow.wav"):
        assert sum(name in line for line in r.stderr.splitlines()) == 1, r.stderr
    written = sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file())
    assert written == ["a.wav", "bad/big.wav", "bad/good.wav", "sub/b.flac", "sub/c.ogg"]
    assert sf.info(dst / "a.wav").frames == 14400 and sf.info(dst / "sub" / "b.flac").frames == 48000
    assert bad["text"].read_text() == "this is not audio\n"  # inputs untouched
    stamp = (dst / "a.wav").stat().st_mtime_ns
    r = cli(src / "sub", "-o", dst / "sub", "--model", models["student"])  # all exist: skipped, not failed
    assert r.returncode == 0 and "2 skipped" in r.stdout and "--overwrite" in r.stdout and not r.stderr
    r = cli(src / "sub", "-o", dst / "sub", "--model", models["student"], "--overwrite")
    assert r.returncode == 0, r.stderr
    assert (dst / "a.wav").stat().st_mtime_ns == stamp


def test_cli_missing_default_model(tmp_path, monkeypatch, capsys):
    import ans.enhance as enh_mod

    src = tmp_path / "in.wav"
    sf.write(src, noise(480), 48000)
    monkeypatch.setattr(enh_mod, "DEFAULT_MODEL", tmp_path / "nope" / "model.pt")
    assert main([str(src), "-o", str(tmp_path / "o.wav")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--model" in err and "train" in err
