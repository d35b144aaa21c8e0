"""data_recipes: decoders, generated noise, splits, manifests, the demo steps on a fake unpacked
package tree (no apt-get), and every public-corpus recipe on a small fake tree with its real layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from data_recipes import corpora, debian, demo, generated_noise
from data_recipes import demo_sources as S
from data_recipes.__main__ import main
from data_recipes.decode import (
    chunks,
    decode_file,
    decode_g722,
    encode_g722,
    join_utterances,
    trim_silence,
)
from data_recipes.manifest import (
    ALL_SPLITS,
    KEYS,
    SPLITS,
    ManifestWriter,
    assign_splits,
    audio_line,
    read_jsonl,
)

CONTRACT_KEYS = set(KEYS)


def tone(seconds: float, sr: int, f0: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def wav(path: Path, seconds: float = 0.1, sr: int = 16000, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = tone(seconds, sr)
    sf.write(path, np.stack([x] * channels, 1) if channels > 1 else x, sr)
    return path


def check_manifest(lines: list[dict], root: Path, kind: str) -> None:
    for x in lines:
        assert CONTRACT_KEYS <= set(x), x
        assert x["kind"] == kind and x["split"] in ALL_SPLITS
        assert (root / x["path"]).is_file() and not x["path"].startswith("/")
        assert x["duration"] > 0 and x["sample_rate"] >= 8000 and x["channels"] >= 1


def disjoint_speakers(lines: list[dict]) -> None:
    by_split = {s: {x["speaker"] for x in lines if x["split"] == s} for s in SPLITS}
    assert not (by_split["train"] & by_split["valid"] or by_split["train"] & by_split["test"]
                or by_split["valid"] & by_split["test"])


# ------------------------------------------------------------------------------ decoders, dsp
def test_g722_roundtrip_of_synthesized_stream(tmp_path):
    rng = np.random.default_rng(0)
    x = np.convolve(rng.standard_normal(16000), np.ones(4) / 4, "same").astype(np.float32) * 0.2
    data = encode_g722(x)
    assert len(data) == len(x) // 2  # 64 kbit/s: one byte per two 16 kHz samples
    y = decode_g722(data)
    assert y.dtype == np.float32 and len(y) == len(x)

    def snr(lag: int) -> float:  # the codec delays the signal by a few samples
        err = y[2000 + lag:14000 + lag] - x[2000:14000]
        return 10 * np.log10(np.mean(x[2000:14000] ** 2) / np.mean(err**2))
    assert max(snr(lag) for lag in range(64)) > 15  # decodes to the same signal
    (tmp_path / "p.g722").write_bytes(data)
    z, sr = decode_file(tmp_path / "p.g722")
    assert sr == 16000 and np.array_equal(z, y)


def test_gsm_and_wav_decode(tmp_path):
    sf.write(tmp_path / "a.gsm", tone(0.5, 8000), 8000, format="RAW", subtype="GSM610")
    x, sr = decode_file(tmp_path / "a.gsm")
    assert sr == 8000 and abs(len(x) - 4000) <= 160 and np.abs(x).max() > 0.1
    x, sr = decode_file(wav(tmp_path / "b.wav", 0.2, 44100, channels=2))
    assert sr == 44100 and x.ndim == 1 and len(x) == 8820


def test_trim_chunk_join():
    sr = 8000
    x = np.concatenate([np.zeros(sr), tone(1.0, sr), np.zeros(sr)])
    y = trim_silence(x, sr)
    assert abs(len(y) - 1.1 * sr) < 10
    assert [len(c) for c in chunks(np.ones(25 * sr), sr, 10.0, 3.0)] == [10 * sr, 10 * sr, 5 * sr]
    assert [len(c) for c in chunks(np.ones(21 * sr), sr, 10.0, 3.0)] == [10 * sr, 10 * sr]
    files = join_utterances([np.ones(sr)] * 5, sr, target_s=2.5, gap_s=0.25)
    assert [len(f) for f in files] == [int(2.25 * sr)] * 2 + [sr]


@pytest.mark.parametrize("kind", generated_noise.KINDS)
def test_generated_noise(kind):
    x = generated_noise.generate(kind, 2.0, variant=1)
    assert x.dtype == np.float32 and len(x) == 2 * generated_noise.SR
    assert np.abs(x).max() < 1.0
    assert abs(20 * np.log10(np.sqrt(np.mean(x**2))) - generated_noise.RMS_DBFS) < 1.5
    assert np.array_equal(x, generated_noise.generate(kind, 2.0, variant=1))
    assert not np.array_equal(x, generated_noise.generate(kind, 2.0, variant=2))


def test_generated_noise_spectra():
    sr = generated_noise.SR
    f = np.fft.rfftfreq(2 * sr, 1 / sr)

    def power(kind, lo, hi):
        spec = np.abs(np.fft.rfft(generated_noise.generate(kind, 2.0))) ** 2
        return spec[(f >= lo) & (f < hi)].mean()

    assert power("white", 100, 200) / power("white", 10000, 11000) == pytest.approx(1.0, rel=0.3)
    assert power("pink", 100, 200) / power("pink", 10000, 11000) > 30
    assert power("brown", 100, 200) / power("pink", 100, 200) * power("pink", 10000, 11000) \
        / power("brown", 10000, 11000) > 30
    for kind, f0 in (("hum50", 50), ("hum60", 60)):
        spec = np.abs(np.fft.rfft(generated_noise.generate(kind, 2.0)))
        assert abs(f[np.argmax(spec)] % f0) < 1 or abs(f[np.argmax(spec)] % f0 - f0) < 1


# ----------------------------------------------------------------------------- splits, manifest
def test_assign_splits_deterministic_and_complete():
    keys = [f"spk{i}" for i in range(2000)]
    a = assign_splits(keys, salt="x")
    assert a == assign_splits(list(reversed(keys)), salt="x")
    frac = {s: sum(v == s for v in a.values()) / len(keys) for s in SPLITS}
    assert frac["train"] == pytest.approx(0.8, abs=0.03) and frac["test"] == pytest.approx(0.1, abs=0.03)
    for n in (3, 4, 5, 7):
        small = assign_splits([f"k{i}" for i in range(n)])
        assert set(small.values()) == set(SPLITS), small
    assert set(assign_splits(["only"]).values()) <= set(SPLITS)


def test_manifest_writer_streams_atomically(tmp_path):
    path = wav(tmp_path / "a" / "x.wav", 0.5, 8000)
    line = audio_line(tmp_path, path, kind="speech", split="train", speaker="s1", source_rate=8000,
                      license="L", source="pkg")
    assert line["path"] == "a/x.wav" and line["duration"] == 0.5 and set(line) == CONTRACT_KEYS
    with ManifestWriter(tmp_path / "m.jsonl") as w:
        w.write(line | {"_group": "private", "noisy": "kept"})
    (got,) = read_jsonl(tmp_path / "m.jsonl")
    assert "_group" not in got and got["noisy"] == "kept" and got["speaker"] == "s1"
    with pytest.raises(RuntimeError), ManifestWriter(tmp_path / "n.jsonl") as w:
        w.write(line)
        raise RuntimeError("interrupted")
    assert not (tmp_path / "n.jsonl").exists() and not list(tmp_path.glob(".n.jsonl*"))


# ------------------------------------------------------------------ demo steps (no apt-get)
def fake_package_tree(staging: Path) -> dict[str, Path]:
    """Unpacked-package trees shaped like the real Debian packages (tiny audio)."""
    g722 = staging / "asterisk-core-sounds-fr-g722"
    for i in range(6):
        d = g722 / S.SOUNDS / "fr_CA_f_June" / ("digits" if i % 2 else "")
        d.mkdir(parents=True, exist_ok=True)
        (d / f"p{i}.g722").write_bytes(encode_g722(tone(1.5, 16000, 200 + 50 * i)))
    silence = g722 / S.SOUNDS / "fr_CA_f_June" / "silence"
    silence.mkdir(parents=True)
    (silence / "1.g722").write_bytes(encode_g722(np.zeros(16000, np.float32)))
    doc = g722 / "usr/share/doc/asterisk-core-sounds-fr-g722"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("Format: x\n\nFiles: *\nLicense: CC-BY-SA-3.0\n\nFiles: y\nLicense: GPL-2+\n")
    oxy = staging / "oxygen-sounds"
    for i in range(8):
        wav(oxy / "usr/share/sounds" / f"Oxygen-{i}.ogg", 0.3, 48000, channels=2)
    moh = staging / "asterisk-moh-opsound-wav"
    wav(moh / "usr/share/asterisk/moh/long.wav", 130.0, 8000)
    return {"fr": g722, "oxy": oxy, "moh": moh}


def test_demo_steps_and_assembly_on_fake_packages(tmp_path):
    trees = fake_package_tree(tmp_path / "staging")
    out = tmp_path / "demo"
    assert debian.package_license(trees["fr"], "asterisk-core-sounds-fr-g722").startswith("CC-BY-SA-3.0 / GPL-2+")
    assert debian.package_license(trees["oxy"], "oxygen-sounds") == "oxygen-sounds: see copyright"
    june = next(s for s in S.SPEECH if s.speaker == "fr_CA_f_June")
    oxygen = next(n for n in S.NOISE if n.package == "oxygen-sounds")
    moh = next(n for n in S.NOISE if n.package == "asterisk-moh-opsound-wav")
    demo._run_step(out, "speech-fr_CA_f_June", demo.speech_step, (june, trees["fr"], "L"))
    demo._run_step(out, "noise-ring-oxygen-sounds", demo.noise_step, (oxygen, trees["oxy"], "L"))
    demo._run_step(out, "noise-ordinary-moh", demo.noise_step, (moh, trees["moh"], "L"))
    demo._run_step(out, "noise-ordinary-generated", demo.generated_step, ())
    summary = demo.assemble(out)
    speech, noise = read_jsonl(out / "speech.jsonl"), read_jsonl(out / "noise.jsonl")
    check_manifest(speech, out, "speech")
    check_manifest(noise, out, "noise")
    # 6 prompts of 1.5 s joined into ~12 s files; the silence/ prompt is excluded
    assert sum(x["duration"] for x in speech) == pytest.approx(6 * 1.5 + 5 * S.UTTERANCE_GAP_S, abs=0.3)
    assert {x["split"] for x in speech} == {"test"} and {x["source_rate"] for x in speech} == {16000}
    moh_lines = [x for x in noise if x["source"] == "asterisk-moh-opsound-wav"]
    assert len(moh_lines) == 3 and max(x["duration"] for x in moh_lines) <= S.NOISE_MAX_S
    assert len({x["split"] for x in moh_lines}) == 1  # chunks of one file never cross splits
    assert all(x["sample_rate"] == 8000 and x["channels"] == 1 for x in moh_lines)
    assert {x["split"] for x in noise if x["category"] == "ordinary"} == set(SPLITS)
    # a whole package reserved for the dev held-out set never reaches train/valid/test
    held = [x for x in noise if x["source"] == S.HELDOUT_NOISE["ring"]]
    assert held and {x["split"] for x in held} == {"heldout"}
    gen = [x for x in noise if x["source"] == "data_recipes.generated_noise"]
    assert len(gen) == len(generated_noise.KINDS) * S.GENERATED_VARIANTS
    assert summary["noise"]["per_category"]["ring"]["heldout"] >= 1 and summary["megabytes"] > 0


# --------------------------------------------------------------------- public corpora (fake trees)
def run_twice(name: str, src: Path, out: Path, capsys) -> dict[str, list[dict]]:
    assert main([name, "--src", str(src), "--out", str(out)]) == 0
    manifests = {p.stem: read_jsonl(p) for p in out.glob("*.jsonl")}
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*.jsonl")}
    capsys.readouterr()
    assert main([name, "--src", str(src), "--out", str(out)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert mtimes == {p: p.stat().st_mtime_ns for p in out.glob("*.jsonl")}  # second run skipped
    assert (out / "src").is_symlink() and json.loads((out / "summary.json").read_text())["src"]
    return manifests


def test_dns5(tmp_path, capsys):
    base = tmp_path / "dl" / "datasets_fullband"
    clean = base / "clean_fullband"
    for r in range(6):
        for c in range(2):
            wav(clean / "read_speech" / f"book_0000{r}_chp_0001_reader_0{r}123_{c}_seg_1.wav", sr=48000)
    for v in ("p225", "p226"):
        wav(clean / "vctk_wav48_silence_trimmed" / v / f"{v}_001_mic1.wav", sr=48000)
    wav(clean / "german_speech" / "x.wav", sr=48000)
    for i in range(5):
        wav(base / "noise_fullband" / f"door_{i}.wav", sr=48000)
    for size in ("smallroom", "largeroom"):
        for room in ("Room001", "Room002"):
            wav(base / "impulse_responses/SLR26/simulated_rirs_48k" / size / room / f"{room}-00001.wav", sr=48000)
    m = run_twice("dns5", tmp_path / "dl", tmp_path / "out", capsys)
    out = tmp_path / "out"
    check_manifest(m["speech"], out, "speech")
    check_manifest(m["noise"], out, "noise")
    check_manifest(m["rir"], out, "rir")
    assert len(m["speech"]) == 15 and all(x["path"].startswith("src/clean_fullband/") for x in m["speech"])
    assert {x["speaker"] for x in m["speech"]} >= {"reader_01123", "vctk_p225", "german_speech/x"}
    disjoint_speakers(m["speech"])
    assert {x["category"] for x in m["noise"]} == {"ordinary"} and {x["split"] for x in m["noise"]} == set(SPLITS)
    assert all(x["category"] is None and x["speaker"] is None for x in m["rir"])


def test_vctk_demand_pairs(tmp_path, capsys):
    src = tmp_path / "valentini"
    for split, spk in (("testset", "p232"), ("testset", "p257"), ("trainset_28spk", "p226")):
        for i in range(2):
            wav(src / f"clean_{split}_wav" / f"{spk}_00{i}.wav", sr=48000)
            wav(src / f"noisy_{split}_wav" / f"{spk}_00{i}.wav", sr=48000)
    m = run_twice("vctk_demand", src, tmp_path / "out", capsys)
    pairs = m["pairs"]
    assert len(pairs) == 6
    for x in pairs:
        assert (tmp_path / "out" / x["noisy"]).is_file() and (tmp_path / "out" / x["clean"]).is_file()
        assert Path(x["noisy"]).name == Path(x["clean"]).name and "noisy_" in x["noisy"]
    assert {x["split"] for x in pairs if "testset" in x["noisy"]} == {"test"}
    assert {x["speaker"] for x in pairs if x["split"] == "test"} == {"vctk_p232", "vctk_p257"}
    assert {x["split"] for x in pairs if "trainset" in x["noisy"]} == {"valid"}  # p226 held out


def test_vctk(tmp_path, capsys):
    src = tmp_path / "VCTK-Corpus-0.92" / "wav48_silence_trimmed"
    for spk in ["p225", "p226", "p227", "p228", "p229", "p232", "p257"]:
        for i in range(2):
            for mic in (1, 2):
                wav(src / spk / f"{spk}_00{i}_mic{mic}.flac", sr=48000)
    m = run_twice("vctk", tmp_path, tmp_path / "out", capsys)
    speech = m["speech"]
    check_manifest(speech, tmp_path / "out", "speech")
    assert len(speech) == 14 and all(x["path"].endswith("_mic1.flac") for x in speech)
    assert {x["split"] for x in speech if x["speaker"] in ("vctk_p232", "vctk_p257")} == {"test"}
    disjoint_speakers(speech)
    assert {x["split"] for x in speech} == set(SPLITS)


def test_libritts(tmp_path, capsys):
    src = tmp_path / "LibriTTS"
    for subset, spk in (("train-clean-100", "19"), ("train-clean-100", "26"), ("dev-clean", "84"),
                        ("test-clean", "121")):
        wav(src / subset / spk / "198" / f"{spk}_198_000000_000000.wav", sr=24000)
        (src / subset / spk / "198" / f"{spk}_198_000000_000000.normalized.txt").write_text("hi")
    m = run_twice("libritts", tmp_path, tmp_path / "out", capsys)
    speech = m["speech"]
    check_manifest(speech, tmp_path / "out", "speech")
    assert {x["speaker"]: x["split"] for x in speech} == {
        "libritts_19": "train", "libritts_26": "train", "libritts_84": "valid", "libritts_121": "test"}
    assert {x["source_rate"] for x in speech} == {24000}


def test_musan(tmp_path, capsys):
    src = tmp_path / "musan"
    for i in range(4):
        wav(src / "noise/free-sound" / f"noise-free-sound-000{i}.wav")
        wav(src / "music/fma" / f"music-fma-000{i}.wav")
        wav(src / "speech/librivox" / f"speech-librivox-000{i}.wav")
    (src / "noise/free-sound/LICENSE").write_text("cc")
    m = run_twice("musan", src, tmp_path / "out", capsys)
    check_manifest(m["noise"], tmp_path / "out", "noise")
    check_manifest(m["speech"], tmp_path / "out", "speech")
    assert len(m["noise"]) == 8 and {x["category"] for x in m["noise"]} == {"ordinary"}
    assert len(m["speech"]) == 4 and {x["source_rate"] for x in m["speech"]} == {16000}
    disjoint_speakers(m["speech"])


def test_rirs(tmp_path, capsys):
    src = tmp_path / "RIRS_NOISES"
    for size in ("smallroom", "mediumroom"):
        for room in ("Room001", "Room002"):
            for k in (1, 2):
                wav(src / "simulated_rirs" / size / room / f"{room}-0000{k}.wav")
    wav(src / "real_rirs_isotropic_noises/RVB2014_type1_rir_largeroom1_far_angla.wav", channels=8)
    wav(src / "real_rirs_isotropic_noises/RVB2014_type1_noise_largeroom1_1.wav", channels=8)
    for i in range(3):
        wav(src / "pointsource_noises" / f"noise-free-sound-000{i}.wav")
    m = run_twice("rirs", tmp_path, tmp_path / "out", capsys)
    check_manifest(m["rir"], tmp_path / "out", "rir")
    check_manifest(m["noise"], tmp_path / "out", "noise")
    assert len(m["rir"]) == 9 and len(m["noise"]) == 4
    rooms = {}
    for x in m["rir"]:
        rooms.setdefault(str(Path(x["path"]).parent), set()).add(x["split"])
    assert all(len(s) == 1 for s in rooms.values())  # both RIRs of a room share its split
    assert any(x["channels"] == 8 for x in m["rir"])


@pytest.mark.parametrize("name", sorted(corpora.RECIPES))
def test_missing_src_exits_2(name, tmp_path, capsys):
    assert main([name, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--src" in err and "http" in err
    (tmp_path / "empty").mkdir()
    assert main([name, "--src", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
