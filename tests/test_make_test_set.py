"""ans.eval.test_set (scripts/make_test_set.py): stratified, reproducible, idempotent frozen test set; and the
benchmark's --quick smoke run."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from ans.config import REPO_ROOT
from ans.errors import AnsError


def _mod():
    from ans.eval import test_set

    return test_set


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from ans.data.toy_corpus import make_toy_corpus

    root = tmp_path_factory.mktemp("ts")
    corpus = make_toy_corpus(root / "toy")
    mts = _mod()
    out = mts.make_test_set(corpus, n_items=8, progress=False)
    return mts, corpus, out


def test_plan_covers_every_combination():
    mts = _mod()
    combos = {mts.plan(i) for i in range(48)}
    assert len(combos) == 4 * 3 * 4
    first = [mts.plan(i) for i in range(4)]
    assert {c for c, _, _ in first} == set(mts.CATEGORIES) and {r for _, _, r in first} == set(mts.SOURCE_RATES)
    assert {b for _, b, _ in first[:3]} == set(mts.SNR_BANDS)


def test_stratified_and_matches_files(built):
    mts, corpus, out = built
    assert out == corpus.parent / "toy_test"
    rows = mts.read_metadata(out)
    assert len(rows) == 8 and list(rows[0]) == list(mts.FIELDS)
    assert {r["category"] for r in rows} == set(mts.CATEGORIES)
    assert {r["snr_band"] for r in rows} == {"0-10 dB", "10-25 dB", "25-40 dB"}
    assert {int(r["rate_drawn"]) for r in rows} == set(mts.SOURCE_RATES)
    for r in rows:
        assert int(r["source_rate"]) <= int(r["rate_drawn"])
        noisy, sr = sf.read(out / "noisy" / f"{r['name']}.wav", dtype="float64")
        clean, sr2 = sf.read(out / "clean" / f"{r['name']}.wav", dtype="float64")
        assert sr == sr2 == 48_000 and noisy.shape == clean.shape
        assert sf.info(str(out / "noisy" / f"{r['name']}.wav")).subtype == "FLOAT"
        assert 4.0 <= noisy.size / sr <= 6.0 and abs(noisy.size / sr - float(r["duration_s"])) < 1e-3
        snr = 10 * np.log10(np.sum(clean**2) / np.sum((noisy - clean) ** 2))
        assert abs(snr - float(r["snr_db"])) < 0.01
        lo, hi = (float(v) for v in r["snr_band"].split()[0].split("-"))
        assert lo <= float(r["snr_db"]) <= hi
        assert np.abs(noisy).max() <= 1.0
        assert r["speech_id"].startswith("speech/") and r["noise_id"]
    # speakers of the test split only
    from ans.data.corpus import Corpus

    c = Corpus(corpus)
    test_files = {c.speech.row(i)["path"] for i in c.speech.select(split="test")}
    assert {r["speech_id"] for r in rows} <= test_files
    test_noise = {c.noise.row(i)["path"] for i in c.noise.select(split="test")}
    assert {r["noise_id"] for r in rows if r["noise_id"].startswith("noise/")} <= test_noise


def test_idempotent_force_and_reproducible(built, tmp_path):
    mts, corpus, out = built
    meta = out / "metadata.csv"
    stamp = meta.stat().st_mtime_ns
    first = (out / "noisy").iterdir().__next__()
    assert mts.make_test_set(corpus, n_items=8, progress=False) == out
    assert meta.stat().st_mtime_ns == stamp  # complete: skipped
    with pytest.raises(AnsError, match="other parameters"):
        mts.make_test_set(corpus, n_items=5, progress=False)
    # same parameters elsewhere -> identical audio and metadata (pure function of the seed)
    other = mts.make_test_set(corpus, tmp_path / "again", n_items=8, progress=False)
    assert (other / "metadata.csv").read_text() == meta.read_text()
    assert np.array_equal(sf.read(first)[0], sf.read(other / "noisy" / first.name)[0])
    # an interrupted set (missing file) is completed; force rebuilds
    (other / "clean" / first.name).unlink()
    assert not mts.is_complete(other, json.loads((other / "test_set.json").read_text()))
    mts.make_test_set(corpus, other, n_items=8, progress=False)
    assert (other / "clean" / first.name).is_file()
    res = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "make_test_set.py"), "--corpus",
                          str(corpus), "--out", str(other), "-n", "8"], capture_output=True, text=True)
    assert res.returncode == 0 and "skipped" in res.stdout
    mts.make_test_set(corpus, other, n_items=3, force=True, progress=False)
    assert len(mts.read_metadata(other)) == 3 and len(list((other / "noisy").glob("*.wav"))) == 3


def test_benchmark_quick(tmp_path):
    """scripts/benchmark.py --quick runs every measurement and writes bench.json."""
    from ans.runtime.model import OnnxModel

    res = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "benchmark.py"), "--quick", "--no-peers",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    r = json.loads((tmp_path / "bench.json").read_text())
    assert r["student_params"] > 0 and r["teacher_macs_per_frame"] > 0
    assert 0 < r["student_rtf"] < 1 and 0 < r["teacher_rtf"] < 5 and r["spectral_gate_rtf"] > 0
    assert r["streaming"]["p99_ms"] >= r["streaming"]["p50_ms"] > 0
    assert r["rss"]["peak_rss_mb"] > 50
    assert r["simulator"]["x_realtime"] > 1
    assert r["train_step"]["teacher@1t"]["audio_s_per_s"] > 0 and r["train_step"]["student@1t"]["audio_s_per_s"] > 0
    assert "student offline RTF" in res.stdout and "streaming per 20 ms hop" in res.stdout
    rt = r["runtime"]  # the torch-free runtime: ratio from interleaved rounds, and its floor
    lo, hi = rt["stream_over_offline_range"]
    assert rt["rounds"] == 3 and 0 < lo <= rt["stream_over_offline"] <= hi
    kw = OnnxModel().meta["model_kwargs"]  # the floor's shapes are the bundled student's
    h = kw["hidden"]
    assert rt["weight_floor"]["weights"] == h * (kw["input_dim"] + 2 * kw["fsmn_depth"] * h + kw["output_dim"])
    assert 0 < rt["weight_floor"]["ms_per_frame_in_64"] and 0 < rt["weight_floor"]["ms_one_frame"]
    assert "floor: the weight reads alone per hop" in res.stdout
