"""Watchable training: validation examples (wav + PNG, TensorBoard), LR and gradient-norm logs,
and the training curves that `ans.eval` draws from a run's CSV log."""

from __future__ import annotations

import csv

import numpy as np
import soundfile as sf

from tests.signals import speech_like


def test_training_logs_examples_lr_gradnorm_and_report_curves(compose_cfg, tmp_path, one_torch_thread):
    from ans.eval.evaluate import run as evaluate
    from ans.training import run

    run(compose_cfg("teacher", ["logger=tensorboard"]))
    run_dir = tmp_path / "outputs/teacher/t"
    steps = sorted(p.name for p in (run_dir / "examples").iterdir())
    assert steps == ["step0000002", "step0000004"]  # every validation
    last = run_dir / "examples" / steps[-1]
    assert {p.name for p in last.iterdir()} == {"0.png", "1.png"} | {f"{i}_{k}.wav" for i in (0, 1)
                                                                     for k in ("noisy", "enhanced", "clean")}
    assert sf.info(str(last / "0_enhanced.wav")).samplerate == 48_000
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    with open(run_dir / "csv" / "metrics.csv") as f:
        cols = set(next(csv.reader(f)))
    assert {"train/grad_norm", "lr-AdamW", "train/loss", "val/loss", "val/pesq_wb"} <= cols

    test = tmp_path / "ts"
    for sub in ("noisy", "clean"):
        (test / sub).mkdir(parents=True)
    clean = speech_like(1.5, seed=3)
    sf.write(test / "clean" / "a.wav", clean.astype(np.float32), 48_000)
    sf.write(test / "noisy" / "a.wav", (clean + 0.01 * np.random.default_rng(0).standard_normal(clean.size))
             .astype(np.float32), 48_000)
    out = evaluate([f"test_set={test}", f"models=[{run_dir}/model.pt]", "baselines=[noisy]", "metrics=[si_sdr]",
                    "jobs=1", "spectrogram_files=0", "progress=false", f"report_dir={tmp_path}/r"])
    assert out["metrics"]["training_curves"] == ["curves_teacher_t.png"]
    assert (tmp_path / "r" / "curves_teacher_t.png").stat().st_size > 10_000
    assert "## Training curves" in (tmp_path / "r" / "report.md").read_text()
