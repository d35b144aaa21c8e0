"""Standard benchmarks by name (vctk_demand, dns_blind) on fake trees with the real layouts, and
the CSIG/CBAK/COVL composite measures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from ans.composite import composite, llr, seg_snr, wss
from ans.config import REPO_ROOT
from ans.errors import AnsError
from ans.metrics import compute_metrics
from data_recipes.__main__ import main as recipe_main
from tests.signals import speech_like
from tests.test_pairs import make_valentini

STUDENT = str(REPO_ROOT / "pretrained" / "student" / "model.pt")


def _noisy(clean: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    n = np.random.default_rng(seed).standard_normal(clean.size)
    return clean + n * math.sqrt(np.sum(clean ** 2) / np.sum(n ** 2) / 10 ** (snr_db / 10))


def test_composite_measures_order_by_snr():
    clean = speech_like(3.0, 16_000, seed=1) + 1e-4 * np.random.default_rng(9).standard_normal(48_000)
    assert np.allclose(llr(clean, clean), 0, atol=1e-9) and np.allclose(wss(clean, clean), 0)
    assert seg_snr(clean, clean) == pytest.approx(35.0)
    same = composite(clean, clean, 4.64)
    assert same == {"csig": 5.0, "cbak": 5.0, "covl": 5.0}  # clipped to the MOS scale
    scores = [compute_metrics(clean, _noisy(clean, snr), 16_000, which=("pesq_wb", "composite"))
              for snr in (0, 10, 20)]
    for key in ("csig", "cbak", "covl"):
        vals = [s[key] for s in scores]
        assert all(1.0 <= v <= 5.0 for v in vals) and vals == sorted(vals), (key, vals)
    assert math.isnan(composite(clean, clean, math.nan)["csig"])  # PESQ failed -> NaN


def test_composite_coefficients_by_hand():
    """Pairs whose LLR/WSS/segSNR are known make each Hu & Loizou coefficient visible (PESQ 1.0
    keeps every value inside [1, 5], so no clipping hides a wrong number)."""
    clean = speech_like(3.0, 16_000, seed=1) + 1e-4 * np.random.default_rng(9).standard_normal(48_000)
    # identical: LLR = WSS = 0 and every frame's SNR is clipped at 35 dB
    assert composite(clean, clean, 1.0) == pytest.approx(
        {"csig": 3.093 + 0.603, "cbak": 1.634 + 0.478 + 0.063 * 35, "covl": 1.594 + 0.805}, abs=1e-6)
    # half gain: LPC and dB slopes ignore gain (LLR = WSS = 0); each frame's SNR is 20 log10(2) dB
    assert composite(clean, 0.5 * clean, 1.0) == pytest.approx(
        {"csig": 3.093 + 0.603, "cbak": 1.634 + 0.478 + 0.063 * 20 * math.log10(2), "covl": 1.594 + 0.805},
        abs=1e-6)
    # noisy: the LLR and WSS terms, from the trimmed means of the per-frame measures
    noisy = _noisy(clean, 5.0)
    lv, wv = np.sort(llr(clean, noisy)), np.sort(wss(clean, noisy))
    ll, w = lv[: round(lv.size * 0.95)].mean(), wv[: round(wv.size * 0.95)].mean()
    seg = seg_snr(clean, noisy)
    assert ll > 0.1 and w > 10  # large enough that a wrong coefficient shows
    got = composite(clean, noisy, 2.0)
    assert got == pytest.approx({"csig": 3.093 - 1.029 * ll + 0.603 * 2.0 - 0.009 * w,
                                 "cbak": 1.634 + 0.478 * 2.0 - 0.007 * w + 0.063 * seg,
                                 "covl": 1.594 + 0.805 * 2.0 - 0.512 * ll - 0.007 * w}, abs=1e-6)
    assert all(1.0 < v < 5.0 for v in got.values()), got


@pytest.fixture
def data_dir(tmp_path, capsys):
    d = tmp_path / "data"
    assert recipe_main(["vctk_demand", "--src", str(make_valentini(tmp_path / "valentini", 1)),
                        "--out", str(d / "vctk_demand")]) == 0
    blind = tmp_path / "blind_test_set"
    for track, k in (("Track1_Headset", 0), ("Track2_Speakerphone", 1)):
        (blind / track).mkdir(parents=True)
        sf.write(blind / track / f"clip{k}.wav", _noisy(speech_like(1.5, 16_000, seed=k), 10).astype(np.float32),
                 16_000)
    assert recipe_main(["dns_blind", "--src", str(blind), "--out", str(d / "dns_blind")]) == 0
    capsys.readouterr()
    return d


def _evaluate(name: str, data_dir, tmp_path, extra=()):
    from ans.eval.evaluate import run

    return run([f"test_set={name}", f"paths.data_dir={data_dir}", f"models=[{STUDENT}]", "jobs=1",
                "baselines=[noisy]", "spectrogram_files=0", "progress=false", f"report_dir={tmp_path}/r", *extra])


def test_vctk_demand_by_name_scores_the_test_split_with_peers(data_dir, tmp_path):
    out = _evaluate("vctk_demand", data_dir, tmp_path)
    m = out["metrics"]
    assert m["n_files"] == 2 and m["with_reference"]  # p232 + p257 only: no train/valid rows
    assert {"pesq_wb", "stoi", "si_sdr", "csig", "cbak", "covl"} <= set(m["metric_keys"])
    assert all(1 <= m["overall"]["student"][k]["mean"] <= 5 for k in ("csig", "cbak", "covl"))
    report = (tmp_path / "r" / "report.md").read_text()
    assert "published results" in report and "CMGAN" in report and "arXiv:2209.11112" in report
    assert "DEMUCS" not in report  # removed: its numbers could not be checked (ans/benchmarks.py)
    assert "Not comparable as is" in report  # 2 files, not the 824


def test_dns_blind_by_name_is_dnsmos_only(data_dir, tmp_path):
    out = _evaluate("dns_blind", data_dir, tmp_path)
    m = out["metrics"]
    assert m["n_files"] == 2 and not m["with_reference"]
    assert set(m["metric_keys"]) == {"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808"}
    assert set(m["by_category"]) == {"Track1_Headset", "Track2_Speakerphone"}


def test_missing_benchmark_says_how_to_make_it(tmp_path):
    with pytest.raises(AnsError, match="data_recipes vctk_demand --src"):
        _evaluate("vctk_demand", tmp_path / "nowhere", tmp_path)
