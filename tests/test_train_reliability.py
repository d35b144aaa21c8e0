"""Issue 16 items 15, 16, 18, 19, 20: training refuses, with one line and before writing
anything, what used to interleave runs, overwrite a run's config, train forever, claim a
missing model.pt or print chained tracebacks. Real (tiny) training runs, real CLI."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from ans.errors import AnsError
from ans.training import run
from tests.conftest import tiny_overrides

HOLD_LOCK = ("import sys, time; from ans.rundir import lock_run_dir; lock_run_dir(sys.argv[1]); "
             "print('locked', flush=True); time.sleep(120)")


def train_cli(tmp_path, *extra, stage="teacher", timeout=300):
    return subprocess.run([sys.executable, "-m", "ans.train", stage, *tiny_overrides(tmp_path, stage), *extra],
                          capture_output=True, text=True, timeout=timeout)


def test_second_training_in_a_locked_run_folder_is_refused(compose_cfg, tmp_path):
    """Item 15: two trainings with the same run_name interleaved last.ckpt/last-v1.ckpt and logs."""
    run_dir = tmp_path / "outputs/teacher/t"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(AnsError, match="another training is running in this folder"):
            run(compose_cfg("teacher"))
        res = train_cli(tmp_path)
        assert res.returncode == 1
        assert res.stderr.strip().splitlines() == [f"ans.train: {run_dir}: another training is running in this "
                                                   "folder (same run_name); wait for it to finish or pick another "
                                                   "run_name="]
        assert list(run_dir.iterdir()) == []  # nothing written by either attempt, and the folder kept
    finally:
        holder.kill()
        holder.wait()
    assert run(compose_cfg("teacher"))["global_step"] == 4  # the lock ends with its holder


def test_resume_with_another_architecture_is_refused_before_any_write(compose_cfg, tmp_path):
    """Item 16: the run's config.yaml was overwritten, then a traceback."""
    run(compose_cfg("teacher", ["trainer.max_steps=2", "callbacks.last_checkpoint.every_n_train_steps=1"]))
    run_dir = tmp_path / "outputs/teacher/t"
    before = {p: p.read_bytes() for p in (run_dir / "config.yaml", run_dir / "checkpoints/last.ckpt")}
    with pytest.raises(AnsError) as err:
        run(compose_cfg("teacher", ["model.channels=8", "trainer.max_steps=4"]))
    msg = str(err.value)
    assert msg.startswith(f"{run_dir}/checkpoints/last.ckpt: cannot resume: the checkpoint holds another "
                          "architecture") and "model.channels=16 there, 8 now" in msg and "\n" not in msg
    assert {p: p.read_bytes() for p in before} == before


@pytest.mark.parametrize("steps,needle", [("0", "trainer.max_steps=0 trains nothing"),
                                          ("-1", "would train forever"), ("-5", "must be > 0")])
def test_step_budget_that_trains_nothing_or_forever_is_refused(compose_cfg, tmp_path, steps, needle):
    """Item 18: max_steps=-1 trained forever on the CPU trainer (max_epochs -1); max_steps=0
    printed 'done ... model: .../model.pt' with no model.pt. Item 20: no folder is left."""
    cfg = compose_cfg("teacher", [f"trainer.max_steps={steps}"])
    assert cfg.trainer.max_epochs == -1  # configs/trainer/cpu.yaml
    t0 = time.perf_counter()
    with pytest.raises(AnsError, match=needle):
        run(cfg)
    assert time.perf_counter() - t0 < 5
    assert not (tmp_path / "outputs").exists()


def test_bounded_epochs_with_unbounded_steps_still_trains(compose_cfg, tmp_path):
    metrics = run(compose_cfg("teacher", ["trainer.max_steps=-1", "trainer.max_epochs=1"]))
    assert metrics["global_step"] == 2 and (tmp_path / "outputs/teacher/t/model.pt").is_file()  # 4 items / 2


def test_cli_unwritable_output_and_failed_runs_leave_one_line_and_no_folders(tmp_path):
    """Item 19: an unwritable output folder gave three chained tracebacks (Hydra's run-dir
    creation); item 20: a failed new run left empty outputs/<stage>/<run> folders."""
    (tmp_path / "afile").write_text("")
    res = train_cli(tmp_path, f"paths.output_dir={tmp_path}/afile/outputs")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [f"ans.train: {tmp_path}/afile/outputs/teacher/t: cannot create "
                                               "the output folder (Not a directory)"]
    res = train_cli(tmp_path, "trainer.max_steps=-1")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("ans.train: trainer.max_steps=-1 with trainer.max_epochs=-1")
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_two_real_trainings_with_the_same_run_name(tmp_path):
    """Item 15 with two real processes: the second is refused, the first finishes alone."""
    first = subprocess.Popen([sys.executable, "-m", "ans.train", "teacher", *tiny_overrides(tmp_path, "teacher"),
                              "trainer.max_steps=40"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run_dir = tmp_path / "outputs/teacher/t"
    deadline = time.monotonic() + 120
    while not (run_dir / "config.yaml").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    second = train_cli(tmp_path, "trainer.max_steps=40")
    out = first.communicate(timeout=600)[0]
    assert first.returncode == 0, out[-2000:]
    assert second.returncode == 1 and "another training is running" in second.stderr
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir() if "-v1" in p.name) == []
    assert torch.load(run_dir / "checkpoints/last.ckpt", weights_only=False)["global_step"] == 40
