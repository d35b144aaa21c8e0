"""Your own data: measured bandwidth, the folders recipe, the lhotse importer (small fake trees)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import firwin, lfilter

from data_recipes.bandwidth import measure_bandwidth, source_rate_for

SR = 48_000


def lowpassed(cut_hz: float | None, seconds: float = 2.0, seed: int = 0, sr: int = SR) -> np.ndarray:
    """Bursty white noise (on/off like speech), steeply low-passed at cut_hz (None: full band)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * sr))
    x *= np.repeat(rng.random(int(seconds * 10)) > 0.3, sr // 10)[: x.size]  # pauses
    if cut_hz is not None:
        x = lfilter(firwin(1023, cut_hz, fs=sr, window=("kaiser", 10)), 1, x)
    return (0.1 * x / np.abs(x).max()).astype(np.float32)


@pytest.mark.parametrize(("cut", "rate"), [(4000, 8000), (8000, 16000), (11000, 22050), (20000, 44100),
                                           (None, 48000)])
def test_bandwidth_of_lowpassed_noise(cut, rate):
    bw = measure_bandwidth(lowpassed(cut), SR)
    if cut is None:
        assert bw == SR / 2
    else:
        assert cut <= bw <= cut + 500, bw  # within two 250 Hz bands of the edge
    assert source_rate_for(bw, SR) == rate
    assert source_rate_for(bw, 16_000) == min(rate, 16_000)  # never above the header rate


def test_bandwidth_of_silence_is_zero():
    assert measure_bandwidth(np.zeros(SR), SR) == 0.0


def _write(path, x, sr=SR, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, sr, format=fmt)


@pytest.fixture
def user_tree(tmp_path):
    """speakers/<spk>/<utt>.{wav,flac,ogg} (two at 8 kHz content in a 48 kHz file), noise/, rirs/."""
    speech = tmp_path / "my_speech"
    for s, spk in enumerate(["anna", "bob", "carl", "dora", "emil"]):
        for u in range(2):
            ext = (".wav", ".flac", ".ogg")[(s + u) % 3]
            cut = 4000 if spk == "bob" else None
            _write(speech / spk / f"utt{u}{ext}", lowpassed(cut, 1.0, seed=10 * s + u))
    (speech / "README.txt").write_text("not audio")
    _write(tmp_path / "my_noise" / "fan.wav", lowpassed(None, 1.0, seed=99), 16_000)
    _write(tmp_path / "my_noise" / "sub" / "hum.flac", lowpassed(None, 1.0, seed=98))
    (tmp_path / "my_noise" / "broken.wav").write_bytes(b"RIFF....garbage")
    rir = np.zeros(4800, np.float32)
    rir[0], rir[100:] = 1.0, 0.01 * np.exp(-np.arange(4700) / 500)
    _write(tmp_path / "my_rirs" / "room1.wav", rir)
    return tmp_path


def test_folders_recipe_end_to_end(user_tree, tmp_path):
    out = tmp_path / "data" / "mine"
    cmd = [sys.executable, "-m", "data_recipes", "folders", "--speech", str(user_tree / "my_speech"),
           "--noise", str(user_tree / "my_noise"), "--rir", str(user_tree / "my_rirs"), "--name", "mine",
           "--speaker-pattern", r"^(?P<speaker>[^/]+)/", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    speech = [json.loads(line) for line in (out / "speech.jsonl").read_text().splitlines()]
    noise = [json.loads(line) for line in (out / "noise.jsonl").read_text().splitlines()]
    rirs = [json.loads(line) for line in (out / "rir.jsonl").read_text().splitlines()]
    assert len(speech) == 10 and len(noise) == 2 and len(rirs) == 1  # broken.wav skipped
    assert "1 unreadable" in r.stdout + r.stderr
    assert {s["speaker"] for s in speech} == {f"mine_{n}" for n in ("anna", "bob", "carl", "dora", "emil")}
    for spk in {s["speaker"] for s in speech}:  # speakers never cross splits
        assert len({s["split"] for s in speech if s["speaker"] == spk}) == 1
    assert {s["split"] for s in speech} == {"train", "valid", "test"}
    bob = [s for s in speech if s["speaker"] == "mine_bob"]
    assert all(s["source_rate"] == 8000 and s["sample_rate"] == SR and s["bandwidth_hz"] <= 4500 for s in bob)
    full = [s for s in speech if s["speaker"] != "mine_bob"]
    assert all(s["source_rate"] == SR for s in full if not s["path"].endswith(".ogg"))
    assert all(s["source_rate"] >= 32_000 for s in full)  # Vorbis itself low-passes near 20 kHz
    for line in speech + noise + rirs:
        assert (out / line["path"]).is_file() and line["path"].startswith("links/")
        assert line["duration"] == pytest.approx(1.0, abs=0.01) or line["kind"] != "speech"
    assert {n["category"] for n in noise} == {"ordinary"}
    assert [n["source_rate"] for n in noise if n["path"].endswith("fan.wav")] == [16_000]

    # the corpus trains: the simulator draws items from it
    from ans.data.corpus import Corpus
    from ans.data.simulate import Simulator

    item = Simulator(Corpus(out), {"segment_seconds": 0.5}, "train").item(0, 0, 0)
    assert item["noisy"].shape == (24_000,)

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "up to date" in again.stdout


def test_folders_without_pattern_splits_per_file(user_tree, tmp_path):
    from data_recipes.folders import build

    out = tmp_path / "data" / "flat"
    build(out, [str(user_tree / "my_speech")], [str(user_tree / "my_noise")])
    speech = [json.loads(line) for line in (out / "speech.jsonl").read_text().splitlines()]
    assert len({s["speaker"] for s in speech}) == 10  # each file its own group


def test_folders_bad_input_is_one_line(tmp_path, capsys):
    r = subprocess.run([sys.executable, "-m", "data_recipes", "folders", "--speech", str(tmp_path / "nope"),
                        "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=60)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]  # tqdm bars aside
    assert r.returncode == 2 and len(errors) == 1 and "nope" in errors[0]
    (tmp_path / "empty").mkdir()
    from data_recipes.__main__ import main

    assert main(["folders", "--speech", str(tmp_path / "empty"), "--out", str(tmp_path / "x")]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no readable" in errors[0]
    assert not (tmp_path / "x" / "speech.jsonl").exists()


def test_lhotse_import_end_to_end(user_tree, tmp_path, monkeypatch):
    lhotse = pytest.importorskip("lhotse")
    monkeypatch.chdir(tmp_path)  # lhotse keeps relative source paths as given
    speech = sorted((user_tree / "my_speech").rglob("*.wav")) + sorted((user_tree / "my_speech").rglob("*.flac"))
    recs = lhotse.RecordingSet.from_recordings(lhotse.Recording.from_file(p, recording_id=f"{p.parent.name}-{p.stem}")
                                               for p in speech)
    sups = lhotse.SupervisionSet.from_segments(
        lhotse.SupervisionSegment(id=f"s{i}", recording_id=r.id, start=0.0, duration=r.duration,
                                  speaker=p.parent.name) for i, (r, p) in enumerate(zip(recs, speech)))
    noise = lhotse.RecordingSet.from_recordings([lhotse.Recording.from_file(user_tree / "my_noise" / "fan.wav")])
    recs.to_file(tmp_path / "r.jsonl.gz")
    sups.to_file(tmp_path / "s.jsonl.gz")
    noise.to_file(tmp_path / "n.jsonl.gz")
    out = tmp_path / "data" / "lh"
    r = subprocess.run([sys.executable, "-m", "data_recipes", "lhotse", "--recordings", "r.jsonl.gz",
                        "--supervisions", "s.jsonl.gz", "--noise-recordings", "n.jsonl.gz", "--out", str(out)],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [json.loads(line) for line in (out / "speech.jsonl").read_text().splitlines()]
    assert len(lines) == len(speech) and all((out / x["path"]).is_file() for x in lines)
    assert {x["speaker"] for x in lines} == {f"lh_{p.parent.name}" for p in speech}
    assert all(x["source_rate"] == 8000 for x in lines if x["speaker"] == "lh_bob")
    assert len((out / "noise.jsonl").read_text().splitlines()) == 1

    # the same data as a CutSet
    cuts = lhotse.CutSet.from_manifests(recordings=recs, supervisions=sups)
    cuts.to_file(tmp_path / "c.jsonl.gz")
    from data_recipes.lhotse_import import build

    summary = build(tmp_path / "data" / "lc", cuts=str(tmp_path / "c.jsonl.gz"))
    assert summary["speech"]["files"] == len(speech) and summary["speech"]["speakers"] == 5
