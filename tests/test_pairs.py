"""Paired training (`data=pairs`) on a fake Valentini tree built by the real vctk_demand recipe."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from data_recipes.__main__ import main as recipe_main
from tests.signals import speech_like

SPEAKERS = {"trainset_28spk": ("p226", "p227", "p228", "p230"), "testset": ("p232", "p257")}


def make_valentini(root, files_per_speaker: int = 2, seconds: float = 1.2):
    """{clean,noisy}_{trainset_28spk,testset}_wav/pNNN_MMM.wav at 48 kHz (noisy = clean + noise)."""
    rng = np.random.default_rng(0)
    for part, speakers in SPEAKERS.items():
        for s, spk in enumerate(speakers):
            for i in range(files_per_speaker):
                clean = speech_like(seconds, seed=100 * s + i)
                noisy = clean + 0.03 * rng.standard_normal(clean.size)
                for kind, x in (("clean", clean), ("noisy", noisy)):
                    (root / f"{kind}_{part}_wav").mkdir(parents=True, exist_ok=True)
                    sf.write(root / f"{kind}_{part}_wav" / f"{spk}_{i:03d}.wav", x.astype(np.float32), 48_000)
    return root


@pytest.fixture
def vctk_demand(tmp_path, capsys):
    out = tmp_path / "data" / "vctk_demand"
    assert recipe_main(["vctk_demand", "--src", str(make_valentini(tmp_path / "valentini")), "--out", str(out)]) == 0
    capsys.readouterr()
    return out


def test_pairs_dataset_items(vctk_demand):
    from ans.data.pairs import PairDataset, read_pairs, rows_for_split

    rows = read_pairs(vctk_demand / "pairs.jsonl")
    assert {r["split"] for r in rows} == {"train", "valid", "test"}
    assert len(rows_for_split(rows, "test")) == 4 and len(rows_for_split(rows, "valid")) == 2
    ds = PairDataset(vctk_demand / "pairs.jsonl", "train", seed=3, segment_seconds=0.5, length=8)
    a, b = ds[(0, 1)], ds[(0, 1)]
    assert a["noisy"].shape == (24_000,) and a["noisy"].dtype == torch.float32
    assert torch.equal(a["noisy"], b["noisy"])  # a pure function of (seed, epoch, index)
    assert torch.allclose(a["noisy"], a["clean"] + a["noise"])
    assert "p226" not in a["meta"]["speech_id"] and a["meta"]["category"] == "pairs"
    snr = 10 * np.log10(float((a["clean"] ** 2).sum()) / float((a["noise"] ** 2).sum()))
    assert a["meta"]["snr_db"] == pytest.approx(snr, abs=0.01)
    long = PairDataset(vctk_demand / "pairs.jsonl", "test", seed=3, segment_seconds=2.0, length=1)[0]
    assert long["noisy"].shape == (96_000,) and long["noisy"][-9_000:].abs().max() == 0  # zero-padded


def test_rows_without_valid_hold_out_train(tmp_path):
    from ans.data.pairs import read_pairs, rows_for_split

    lines = [{"noisy": f"n{i}.wav", "clean": f"c{i}.wav", "split": "train"} for i in range(40)]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    rows = read_pairs(tmp_path / "pairs.jsonl")
    train, valid = rows_for_split(rows, "train"), rows_for_split(rows, "valid")
    assert valid and len(train) + len(valid) == 40 and not {r["noisy"] for r in train} & {r["noisy"] for r in valid}


def test_train_teacher_on_pairs_mixed_with_simulation(compose_cfg, vctk_demand, tmp_path):
    from hydra.utils import instantiate

    from ans.training import run

    pairs = f"data.pairs={vctk_demand / 'pairs.jsonl'}"
    cfg = compose_cfg("teacher", ["data=pairs", pairs, "data.sim_prob=0.5", f"data.corpus_dir={tmp_path}/data/toy",
                                  "data.build_toy=true", "data.batch_size=4"])
    dm = instantiate(cfg.data)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["noisy"].shape == (4, 48_000)
    assert set(batch["meta"]["category"]) - {"pairs"}  # some items simulated ...
    assert "pairs" in batch["meta"]["category"]       # ... and some pre-mixed

    metrics = run(compose_cfg("teacher", ["data=pairs", pairs]))
    assert metrics["global_step"] == 4 and np.isfinite(metrics["val/loss"])
    assert (tmp_path / "outputs/teacher/t/model.pt").is_file()
