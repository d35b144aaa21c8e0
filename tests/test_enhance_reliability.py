"""Issue 16, enhance CLI and API (items 5-11, the offline part of 14, part of 20): each test
re-runs the attempt that failed, on real files with the shipped student."""

from __future__ import annotations

import copy
import io
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from ans import pipeline
from ans.audio import read_audio
from ans.checkpoint import load_payload
from ans.enhance import Enhancer, main
from ans.errors import AnsError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parents[1]
STUDENT = REPO / "pretrained" / "student" / "model.pt"
TEACHER = REPO / "pretrained" / "teacher" / "model.pt"


@pytest.fixture(scope="module")
def enh():
    return Enhancer.from_checkpoint(STUDENT)


def noise(n: int, seed: int = 0, scale: float = 0.1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * scale).astype(np.float32)


def run(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def cli(*args, **kw) -> subprocess.Popen | subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "ans.enhance", *map(str, args)]
    if kw.pop("background", False):
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, **kw)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))  # ans.audio.atomic_target


# ----------------------------------------------------------------- item 14: blocks = whole file
@pytest.mark.parametrize("sr,seconds,amp", [(48000, 3.3, 0.3), (16000, 2.1, 0.3), (44100, 1.5, 3.0),
                                            (44101, 0.7, 0.3)])
def test_file_in_blocks_equals_whole_array(enh, tmp_path, monkeypatch, sr, seconds, amp):
    """Item 14: the torch backend enhances files in blocks (small ones here: 7001 samples read,
    64 frames per model call, less than the student's 171 frames of context) and the file
    equals `enhance` on the whole array, at 48 kHz and with --keep-rate."""
    import ans.enhance
    from ans.runtime import fileio

    monkeypatch.setattr(fileio, "READ_BLOCK", 7001)
    monkeypatch.setattr(ans.enhance, "BLOCK", 64)
    x = noise(int(sr * seconds), scale=amp)
    src = tmp_path / "in.wav"
    sf.write(src, x, sr, subtype="FLOAT")
    for keep in (False, True):
        y, sr_out = sf.read(enh.enhance_file(src, tmp_path / f"o{keep}.wav", subtype="FLOAT", keep_rate=keep),
                            dtype="float32")
        ref = enh.enhance(x, sr, keep_rate=keep)
        assert sr_out == (sr if keep else 48000) and y.shape == ref.shape
        np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5 * max(amp, 1.0))


def test_teacher_file_equals_whole_array(tmp_path):
    """The teacher (bidirectional) goes through the same file path, as one block."""
    teacher = Enhancer.from_checkpoint(TEACHER)
    x = noise(24000)
    sf.write(tmp_path / "in.wav", x, 16000, subtype="FLOAT")
    y, _ = sf.read(teacher.enhance_file(tmp_path / "in.wav", tmp_path / "o.wav", subtype="FLOAT"), dtype="float32")
    np.testing.assert_allclose(y, teacher.enhance(x, 16000), rtol=0, atol=1e-5)


RSS = """
import resource, sys
from ans.enhance import main
rc = main(sys.argv[1:])
print(rc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def test_cli_memory_flat_in_file_length(tmp_path):
    """Item 14: the offline CLI peaked at 938 MB on a 10-minute file (whole-file spectra and
    masks). Now 10 s and 100 s of input peak within a few MB of each other (the whole-file
    path grew by ~1.2 MB per second of audio, so +110 MB here)."""
    peaks = {}
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    base = noise(48000 * 10, seed=3)
    for sec in (10, 100):
        src = tmp_path / f"in{sec}.wav"
        sf.write(src, np.tile(base, sec // 10), 48000, subtype="PCM_16")
        r = subprocess.run([sys.executable, "-c", RSS, str(src), "-o", str(tmp_path / f"o{sec}.wav")],
                           capture_output=True, text=True, env=env, timeout=300)
        rc, peaks[sec] = map(int, r.stdout.split()[-2:])
        assert rc == 0, r.stderr
    assert peaks[100] < peaks[10] + 30, peaks


# ---------------------------------------------------------------------- item 5: write errors
def test_write_errors_are_one_line(tmp_path, capsys):
    """Item 5: an output under a file was a raw OSError/LibsndfileError traceback (CLI and
    `pipeline(output_path=...)`); now one line naming the output, nothing left behind."""
    src = tmp_path / "in.wav"
    sf.write(src, noise(4800), 48000)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    rc, _, err = run(capsys, src, "-o", blocker / "out.wav", "--model", STUDENT)
    assert rc == 1 and err.count("\n") == 1, err
    assert err.strip() == f"{blocker / 'out.wav'}: cannot write the output (a file is in the way of its folder)"
    with pytest.raises(AnsError, match=r"afile/o\.wav: cannot write the output"):
        pipeline(STUDENT)(str(src), output_path=blocker / "o.wav")
    with pytest.raises(AnsError, match="output_path must be a file path"):
        pipeline(STUDENT)(str(src), output_path=io.BytesIO())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "in.wav"]


def test_full_disk_is_one_line(tmp_path):
    """Item 5: a write that fails half-way (file size limit, as a full disk) -> rc 1, one line,
    no output and no temp file."""
    src = tmp_path / "in.wav"
    sf.write(src, noise(48000 * 3), 48000)
    out = tmp_path / "out"
    out.mkdir()
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))  # noqa: E731
    r = cli(src, "-o", out / "o.wav", preexec_fn=limit)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "o.wav: cannot write the output (the system refused the write: disk full" in r.stderr
    assert list(out.iterdir()) == []


# ------------------------------------------------------------------------ item 6: truncation
@pytest.mark.parametrize("fmt,subtype", [("RF64", "PCM_16"), ("W64", "PCM_16"), ("MP3", "MPEG_LAYER_III")])
def test_truncated_rf64_w64_mp3_refused(enh, tmp_path, fmt, subtype):
    """Item 6: truncated RF64/W64/mp3 were enhanced into a short output without a word."""
    buf = io.BytesIO()
    sf.write(buf, noise(48000 * 3), 48000, format=fmt, subtype=subtype)
    whole = tmp_path / f"whole.{fmt.lower()}"
    whole.write_bytes(buf.getvalue())
    assert read_audio(whole)[0].size >= 48000 * 3 - 2304  # the complete file reads
    cut = tmp_path / f"cut.{fmt.lower()}"
    cut.write_bytes(buf.getvalue()[:len(buf.getvalue()) // 2])
    with pytest.raises(AnsError, match="truncated"):
        read_audio(cut)
    with pytest.raises(AnsError, match="<bytes>: truncated"):
        pipeline(enh)(cut.read_bytes())
    with pytest.raises(AnsError, match=f"cut.{fmt.lower()}: truncated"):
        enh.enhance_file(cut, tmp_path / "o.wav")
    assert not (tmp_path / "o.wav").exists()


def test_truncated_wav_with_data_after_64k(enh, tmp_path):
    """Item 6: the size check read 64 KiB, so a data chunk behind 100 kB of metadata went unchecked."""
    buf = io.BytesIO()
    sf.write(buf, noise(48000), 48000, format="WAV", subtype="PCM_16")
    d = buf.getvalue()
    pad = b"junk" + (100_000).to_bytes(4, "little") + bytes(100_000)
    body = d[12:36] + pad + d[36:]  # fmt chunk, a 100 kB junk chunk, data chunk
    full = b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WAVE" + body
    p = tmp_path / "late.wav"
    p.write_bytes(full)
    assert read_audio(p)[0].size == 48000
    p.write_bytes(full[:-20000])
    with pytest.raises(AnsError, match="late.wav: truncated wav"):
        enh.enhance_file(p, tmp_path / "o.wav")


# ------------------------------------------------------------------------------ item 7: GSM610
def test_gsm610_wav_is_accepted(enh, tmp_path, capsys):
    """Item 7: a valid GSM610 wav was refused ("frames must be specified for non-seekable files")."""
    src = tmp_path / "gsm.wav"
    sf.write(src, noise(8000 * 2), 8000, format="WAV", subtype="GSM610")
    x, sr = read_audio(src)
    assert sr == 8000 and x.size == 16000
    rc, out, err = run(capsys, src, "-o", tmp_path / "o.wav", "--model", STUDENT)
    assert rc == 0, err
    assert sf.info(tmp_path / "o.wav").frames == 96000
    assert pipeline(enh)(src.read_bytes())["output_wav"].size == 96000


# ------------------------------------------------------- item 8: output folder and format
def test_output_folder_and_format_by_extension(tmp_path, capsys):
    """Item 8: `-o newdir/` wrote a file named newdir; `-o x.mp3` wrote WAV bytes."""
    src = tmp_path / "in.wav"
    sf.write(src, noise(4800), 48000)
    rc, _, err = run(capsys, src, "-o", f"{tmp_path / 'newdir'}/", "--model", STUDENT)
    assert rc == 0, err
    assert (tmp_path / "newdir").is_dir() and sf.info(tmp_path / "newdir" / "in.wav").frames == 4800
    for ext, fmt in ((".flac", "FLAC"), (".ogg", "OGG"), (".opus", "OGG"), (".mp3", "MP3")):
        rc, _, err = run(capsys, src, "-o", tmp_path / f"o{ext}", "--model", STUDENT)
        assert rc == 0, err
        assert sf.info(tmp_path / f"o{ext}").format == fmt
    assert sf.info(tmp_path / "o.opus").subtype == "OPUS"
    rc, _, err = run(capsys, src, "-o", tmp_path / "o.xyz", "--model", STUDENT)
    assert rc == 1 and "o.xyz: unsupported output format '.xyz'" in err and err.count("\n") == 1
    assert not (tmp_path / "o.xyz").exists()


# ------------------------------------------------------ items 9 and 11: folder mode, re-runs
def test_folder_mp3_opus_and_rerun_skips(tmp_path):
    """Item 11: mp3/opus were skipped in folder mode. Item 9: a re-run without --overwrite said
    "enhanced 0 of N files; N failed", rc 1; existing outputs are skips, rc 0."""
    src = tmp_path / "in"
    src.mkdir()
    sf.write(src / "a.wav", noise(4800), 48000)
    sf.write(src / "b.mp3", noise(48000), 48000, format="MP3")
    sf.write(src / "c.opus", noise(48000), 48000, format="OGG", subtype="OPUS")
    dst = tmp_path / "out"
    r = cli(src, "-o", dst)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in dst.iterdir()) == ["a.wav", "b.mp3", "c.opus"]
    assert sf.info(dst / "b.mp3").format == "MP3" and sf.info(dst / "c.opus").subtype == "OPUS"
    r = cli(src, "-o", dst)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.strip() == f"enhanced 0 of 3 files into {dst}; 3 skipped (output exists; --overwrite replaces)"


# --------------------------------------------------------------------- item 10: Ctrl-C/SIGTERM
def _wait_for_temp(folder: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    start = time.monotonic()
    while not leftovers(folder):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() - start < timeout, "no temp file appeared"
        time.sleep(0.005)


@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_signal_mid_write_is_clean(tmp_path, sig, code, word):
    """Item 10: Ctrl-C mid-folder printed a KeyboardInterrupt traceback; SIGTERM mid-write left
    `*.part.wav.*.tmp` files. Now: one line, exit 130 / 143, no partial or temp file."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        sf.write(src / f"{i}.wav", np.tile(noise(48000 * 5, seed=i), 12), 48000)  # 60 s each
    dst = tmp_path / "out"
    proc = cli(src, "-o", dst, background=True)
    _wait_for_temp(dst, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert err.strip() == f"ans.enhance: interrupted by {word}; unfinished outputs were removed"
    assert leftovers(dst) == [] and leftovers(src) == []
    assert all(sf.info(p).frames == 48000 * 60 for p in dst.glob("*.wav"))  # only complete outputs


# ----------------------------------------------------- item 20: model files, pipeline labels
def _broken(tmp_path: Path) -> dict[str, Path]:
    good = load_payload(STUDENT)
    cases = {}
    for name, edit in {
        "extra_kwarg": lambda p: p["model_kwargs"].update(bogus=1),
        "missing_key": lambda p: p.pop("state_dict"),
        "no_normalizer": lambda p: p.update(normalizer=None),
        "huge_kwargs": lambda p: p["model_kwargs"].update(hidden=10**7),
        "short_normalizer": lambda p: p.update(normalizer={"mean": [0.0] * 3, "std": [1.0] * 3}),
    }.items():
        p = copy.deepcopy(good)
        edit(p)
        cases[name] = tmp_path / f"{name}.pt"
        torch.save(p, cases[name])
    return cases


def test_broken_model_files_one_line(tmp_path, capsys):
    """Item 20: a well-formed model.pt with an extra kwarg, a missing key, no normaliser or huge
    kwargs gave a traceback (or, without normaliser, a silently wrong output); huge kwargs are
    refused before any weight is allocated."""
    src = tmp_path / "in.wav"
    sf.write(src, noise(4800), 48000)
    want = {"extra_kwarg": "unexpected keyword argument 'bogus'", "missing_key": "incomplete model file: no state_dict",
            "no_normalizer": "incomplete model file: no normalizer",
            "huge_kwargs": "weights do not fit the model_kwargs", "short_normalizer": "malformed normalizer"}
    for name, path in _broken(tmp_path).items():
        rc, _, err = run(capsys, src, "-o", tmp_path / f"{name}.wav", "--model", path)
        assert rc == 1 and err.count("\n") == 1 and err.startswith(f"{path}: "), err
        assert want[name] in err, err
        assert not (tmp_path / f"{name}.wav").exists()


def test_pipeline_errors_name_bytes_and_file_objects(enh, tmp_path):
    """Item 20: errors from `pipeline` on bytes read "<_io.BytesIO object at 0x...>"; they name
    <bytes>, and an open file is read and named by its path."""
    ans = pipeline(enh)
    with pytest.raises(AnsError) as e:
        ans(b"RIFF0000WAVEjunk")
    assert str(e.value).startswith("<bytes>: not a readable audio file") and "0x" not in str(e.value)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio" * 100)
    with open(junk, "rb") as f, pytest.raises(AnsError) as e:
        ans(f)
    assert str(e.value).startswith(f"<file {junk}>: not a readable audio file") and "0x" not in str(e.value)
    sf.write(tmp_path / "ok.wav", noise(16000), 16000)
    with open(tmp_path / "ok.wav", "rb") as f:
        assert ans(f)["output_wav"].size == 48000
