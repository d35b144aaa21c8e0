"""`ans.eval` end to end on a toy test set with untrained tiny models (real metrics)."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ans.audio import read_audio, write_audio
from ans.config import compose

N_ITEMS = 8



@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Toy corpus -> 8-item test set, plus tiny untrained teacher/student model.pt files."""
    import torch

    from ans.checkpoint import build_model, save_model
    from ans.data.toy_corpus import make_toy_corpus
    from ans.eval.test_set import make_test_set
    from ans.features import Normalizer

    root = tmp_path_factory.mktemp("eval")
    corpus = make_toy_corpus(root / "toy")
    test_set = make_test_set(corpus, root / "toy_test", n_items=N_ITEMS, progress=False)
    torch.manual_seed(0)
    teacher = build_model("ans.models.teacher.Teacher", channels=16, lstm_hidden=8, n_dec=2, dropout=0.0)
    student = build_model("ans.models.student.DFSMN", hidden=32, fsmn_depth=2, lorder=4)
    t_path = save_model(root / "runs" / "teacher" / "model.pt", teacher, "teacher", Normalizer())
    s_path = save_model(root / "runs" / "student" / "model.pt", student, "student", Normalizer())
    return {"root": root, "test_set": test_set, "teacher": t_path, "student": s_path}


def _cfg(root: Path, name: str, extra: list[str]):
    return compose("eval", [f"paths.root='{root}'", f"name={name}", "progress=false",
                            "build_from_corpus=null", *extra])


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_paired_report(setup):
    from ans.eval.evaluate import evaluate

    root = setup["root"]
    cfg = _cfg(root, "paired", [f"test_set='{setup['test_set']}'",
                                f"models=['{setup['teacher']}','{setup['student']}']",
                                "baselines=[noisy,spectral_gate,oracle_psm,rnnoise]",
                                "metrics=[pesq_wb,stoi,si_sdr]", "jobs=2", "spectrogram_files=2"])
    out = evaluate(cfg)
    rep = Path(out["report_dir"])
    assert rep == root / "reports" / "paired"
    for f in ("report.md", "summary.md", "metrics.json", "per_file.csv", "metrics_bars.png",
              "delta_pesq_vs_snr.png"):
        assert (rep / f).is_file() and (rep / f).stat().st_size > 0, f
    assert len(list((rep / "spectrograms").glob("*.png"))) == 2

    from ans.baselines import RNNoise

    systems = ["noisy", "spectral_gate", "oracle_psm", "teacher", "student"]
    if RNNoise.available():
        systems.insert(3, "rnnoise")
    m = json.loads((rep / "metrics.json").read_text())
    assert list(m["systems"]) == systems
    assert m["n_files"] == N_ITEMS and m["with_reference"] is True
    assert m["metric_keys"] == ["pesq_wb", "stoi", "si_sdr"]
    rows = _rows(rep / "per_file.csv")
    assert len(rows) == N_ITEMS * len(systems)
    assert {r["category"] for r in rows} == {"ordinary", "babble", "howling", "ring"}
    assert {r["snr_band"] for r in rows} == {"0-10 dB", "10-25 dB", "25-40 dB"}
    # the recomputed input SNR matches the simulator's metadata (float wavs: exact mixing)
    meta = {r["name"]: float(r["snr_db"]) for r in csv.DictReader(open(setup["test_set"] / "metadata.csv"))}
    assert all(abs(float(r["snr_db"]) - meta[r["name"]]) < 1e-3 for r in rows)

    ov = m["overall"]
    # the oracle PSM is the ceiling of this model family: it must beat the noisy input
    assert ov["oracle_psm"]["pesq_wb"]["mean"] > ov["noisy"]["pesq_wb"]["mean"] + 0.3
    assert ov["oracle_psm"]["si_sdr"]["mean"] > ov["noisy"]["si_sdr"]["mean"] + 3.0
    assert ov["oracle_psm"]["pesq_wb"]["delta"] > 0.3
    for s in systems:
        assert ov[s]["pesq_wb"]["n"] + ov[s]["pesq_wb"]["nan"] == N_ITEMS
        assert math.isfinite(ov[s]["pesq_wb"]["ci95"])
    assert m["systems"]["student"]["latency_ms"] == pytest.approx(40.0)
    assert m["systems"]["teacher"]["latency"] == "whole utterance"
    assert m["systems"]["student"]["params"] > 0 and m["systems"]["student"]["rtf_mean"] > 0
    if "rnnoise" in systems:  # peer delay found by cross-correlation (20 ms) and removed
        assert m["systems"]["rnnoise"]["delay"]["median_ms"] == pytest.approx(20.0, abs=0.1)
    assert set(m["by_category"]) == {"ordinary", "babble", "howling", "ring"}
    assert set(m["by_snr_band"]) == {"0-10 dB", "10-25 dB", "25-40 dB"}

    md = (rep / "report.md").read_text()
    for s in systems:
        assert f"**{s}**" in md
    for title in ("## Overall", "## Per noise category", "## Per SNR band", "metrics_bars.png"):
        assert title in md
    assert "student" in out["summary"] and "PESQ-WB" in out["summary"]
    assert out["summary"] in (rep / "summary.md").read_text()


def test_pesq_failure_is_counted_nan(setup, tmp_path):
    """A file on which PESQ raises (no utterances in the reference) -> NaN, counted, no crash.
    Uses the manifest mode and the in-process path (jobs=1)."""
    from ans.eval.evaluate import evaluate

    src = setup["test_set"]
    names = sorted(p.stem for p in (src / "noisy").glob("*.wav"))[:2]
    lines = ["name,noisy,clean,category"]
    for n in names:
        lines.append(f"{n},{src}/noisy/{n}.wav,{src}/clean/{n}.wav,speech")
    t = np.arange(3 * 48_000) / 48_000
    clean = np.where((t > 1.0) & (t < 1.02), 0.5 * np.sin(2 * np.pi * 500 * t), 0.0).astype(np.float32)
    noisy = clean + 0.01 * np.random.default_rng(0).standard_normal(t.size).astype(np.float32)
    write_audio(tmp_path / "bad_noisy.wav", noisy, 48_000, subtype="FLOAT")
    write_audio(tmp_path / "bad_clean.wav", clean, 48_000, subtype="FLOAT")
    lines.append(f"zz_bad,{tmp_path}/bad_noisy.wav,{tmp_path}/bad_clean.wav,click")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    cfg = _cfg(tmp_path, "nan", [f"manifest='{tmp_path}/manifest.csv'", "models=[]",
                                 "baselines=[noisy,oracle_psm]", "metrics=[pesq_wb,si_sdr]", "jobs=1",
                                 "spectrogram_files=0"])
    out = evaluate(cfg)
    m = out["metrics"]
    assert m["n_files"] == 3
    assert m["overall"]["noisy"]["pesq_wb"]["nan"] == 1 and m["overall"]["noisy"]["pesq_wb"]["n"] == 2
    assert m["nan_counts"]["noisy"] == {"pesq_wb": 1}
    assert math.isfinite(m["overall"]["noisy"]["pesq_wb"]["mean"])
    bad = [r for r in _rows(Path(out["report_dir"]) / "per_file.csv") if r["name"] == "zz_bad"]
    assert len(bad) == 2 and all(r["pesq_wb"] == "nan" for r in bad) and all(r["si_sdr"] != "nan" for r in bad)
    assert "[1 NaN]" in (Path(out["report_dir"]) / "report.md").read_text()


def test_no_reference_mode_cli(setup, tmp_path):
    """A folder of noisy files only -> DNSMOS only, through `python -m ans.eval` (Hydra)."""
    src = setup["test_set"]
    folder = tmp_path / "noisy_only"
    for p in sorted((src / "noisy").glob("*.wav"))[:2]:
        x, sr = read_audio(p)
        write_audio(folder / p.name, x[: 2 * sr], sr, subtype="FLOAT")  # 2 s: two DNSMOS windows
    cmd = [sys.executable, "-m", "ans.eval", f"test_set={folder}", f"paths.root={tmp_path}", "name=nr",
           f"models=[{setup['student']}]", "baselines=[noisy,oracle_psm]", "jobs=2", "progress=false",
           "build_from_corpus=null"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "DNSMOS OVRL" in res.stdout
    rep = tmp_path / "reports" / "nr"
    m = json.loads((rep / "metrics.json").read_text())
    assert m["with_reference"] is False and m["metrics"] == ["dnsmos"]
    assert m["metric_keys"] == ["dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808"]
    assert list(m["systems"]) == ["noisy", "student"] and "oracle_psm" in m["skipped"]
    for s in ("noisy", "student"):
        for k in m["metric_keys"]:
            assert m["overall"][s][k]["n"] == 2 and 0.5 < m["overall"][s][k]["mean"] < 5.5
    assert (rep / "metrics_bars.png").is_file() and (rep / "report.md").is_file()
    assert not (rep / "delta_pesq_vs_snr.png").exists()
    assert len(list((rep / "spectrograms").glob("*.png"))) == 2


def test_bad_config_is_one_line_error(setup, tmp_path):
    cmd = [sys.executable, "-m", "ans.eval", f"test_set={tmp_path}/missing", f"paths.root={tmp_path}",
           "build_from_corpus=null"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert res.returncode == 1 and "test set folder not found" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "reports" / "default").exists()  # issue 16 item 20: no empty report folder


def test_find_models_newest_run_per_stage_else_pretrained(tmp_path):
    import os

    from ans.eval.inputs import find_models

    def touch(rel: str, mtime: int) -> str:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
        os.utime(p, (mtime, mtime))
        return str(p)

    old, new = touch("out/teacher/a/model.pt", 1_000), touch("out/teacher/b/model.pt", 2_000)
    touch("out/student/a/checkpoints/model.pt", 3_000)  # not a run's model.pt
    shipped = touch("pre/student/model.pt", 500)
    assert find_models(tmp_path / "out", tmp_path / "pre") == [new, shipped]
    os.utime(old, (3_000, 3_000))
    assert find_models(tmp_path / "out", tmp_path / "pre") == [old, shipped]
    assert find_models(tmp_path / "none", tmp_path / "none") == []


@pytest.mark.parametrize("broken", ["missing", "not_audio"])
def test_bad_item_is_refused_before_anything_is_scored(setup, tmp_path, broken):
    """Issue 16 item 17: one missing (or unreadable) file used to fail only after every other
    item was scored; now one line names it at once, and the CLI leaves no report folder."""
    import time

    from ans.errors import AnsError
    from ans.eval.evaluate import evaluate

    src = setup["test_set"]
    names = sorted(p.stem for p in (src / "noisy").glob("*.wav"))
    lines = ["name,noisy,clean"] + [f"{n},{src}/noisy/{n}.wav,{src}/clean/{n}.wav" for n in names]
    bad = tmp_path / "gone.wav"
    if broken == "not_audio":
        bad.write_text("not audio")
    lines[-1] = f"{names[-1]},{src}/noisy/{names[-1]}.wav,{bad}"
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    over = [f"manifest='{tmp_path}/manifest.csv'", f"models=[{setup['student']}]", "baselines=[noisy,spectral_gate]",
            "jobs=1"]
    t0 = time.perf_counter()
    with pytest.raises(AnsError) as err:
        evaluate(_cfg(tmp_path, "bad", over))
    assert time.perf_counter() - t0 < 5
    assert str(err.value).startswith(f"{bad}: clean file of test item {names[-1]!r}") and "\n" not in str(err.value)
    res = subprocess.run([sys.executable, "-m", "ans.eval", f"paths.root={tmp_path}", "name=bad",
                          "build_from_corpus=null", "progress=false", *over],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 1 and res.stderr.strip().splitlines() == [f"ans.eval: {err.value}"]
    assert not (tmp_path / "reports" / "bad").exists()
