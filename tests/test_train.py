"""The real training stages, end to end on the toy corpus with tiny settings."""

import subprocess
import sys

import pytest
import torch

from ans.checkpoint import load_model, load_payload
from ans.training import run
from tests.conftest import tiny_overrides


def test_teacher_then_student_in_process(compose_cfg, tmp_path):
    metrics = run(compose_cfg("teacher"))
    assert metrics["global_step"] == 4
    teacher_pt = tmp_path / "outputs/teacher/t/model.pt"
    model, norm, payload = load_model(teacher_pt)
    assert payload["kind"] == "teacher" and "val/loss" in payload["metrics"]
    assert payload["config"]["model"]["model_class"] == "ans.models.teacher.Teacher"
    assert not torch.allclose(norm.std, torch.ones_like(norm.std))  # fitted on data
    assert (tmp_path / "outputs/teacher/t/checkpoints/last.ckpt").is_file()

    # student picks the newest teacher when teacher_ckpt is not given
    run(compose_cfg("student"))
    student = load_payload(tmp_path / "outputs/student/t/model.pt")
    assert student["kind"] == "student" and len(student["state_dict"]) == 40
    assert student["config"]["teacher"]["path"] == str(teacher_pt)
    assert torch.allclose(torch.tensor(student["normalizer"]["mean"]), norm.mean)
    ckpt = torch.load(tmp_path / "outputs/student/t/checkpoints/last.ckpt", weights_only=False)
    assert all(not k.startswith("teacher") for k in ckpt["state_dict"])
    assert sum(k.startswith("model.") for k in ckpt["state_dict"]) == 40


def test_distill_teacher_frozen(compose_cfg, tmp_path):
    from ans.training import build_module

    run(compose_cfg("teacher"))
    module = build_module(compose_cfg("student"))
    assert not module.teacher.training
    assert all(not p.requires_grad for p in module.teacher.parameters())
    assert all(not n.startswith("teacher") for n, _ in module.named_parameters())


def test_resume_continues_step_count(compose_cfg, tmp_path):
    run(compose_cfg("teacher", ["trainer.max_steps=2", "callbacks.last_checkpoint.every_n_train_steps=1"]))
    ckpt = tmp_path / "outputs/teacher/t/checkpoints/last.ckpt"
    assert torch.load(ckpt, weights_only=False)["global_step"] == 2
    # same run_name again with a larger budget: resumes automatically from last.ckpt
    metrics = run(compose_cfg("teacher", ["trainer.max_steps=5", "callbacks.last_checkpoint.every_n_train_steps=1"]))
    assert metrics["global_step"] == 5
    assert torch.load(ckpt, weights_only=False)["global_step"] == 5


def test_cli_entry_points_end_to_end(tmp_path):
    base = [sys.executable, "-m", "ans.train"]
    t = subprocess.run(base + ["teacher", *tiny_overrides(tmp_path, "teacher")], capture_output=True, text=True)
    assert t.returncode == 0, t.stderr[-2000:]
    teacher_pt = tmp_path / "outputs/teacher/t/model.pt"
    s = subprocess.run(base + ["student", *tiny_overrides(tmp_path, "student"), f"teacher_ckpt={teacher_pt}"],
                       capture_output=True, text=True)
    assert s.returncode == 0, s.stderr[-2000:]
    assert (tmp_path / "outputs/student/t/model.pt").is_file()
    missing = subprocess.run(base + ["student", *tiny_overrides(tmp_path, "student"),
                                     f"teacher_ckpt={tmp_path}/nope.pt"], capture_output=True, text=True)
    assert missing.returncode != 0 and "nope.pt" in missing.stderr


@pytest.mark.slow
@pytest.mark.parametrize("model", ["student", "teacher_tiny"])
def test_overfit_one_batch(compose_cfg, model):
    """A few hundred CPU steps on one fixed batch cut the loss by >= 90 %: the models can learn."""
    from hydra.utils import instantiate

    from ans.data.datamodule import collate
    from ans.training import build_module

    torch.manual_seed(0)
    torch.set_flush_denormal(True)  # as ans.training.run does: denormals make CPU steps crawl
    cfg = compose_cfg("teacher", [f"model={model}", "augment=none", "features.dither=0"])
    dm = instantiate(cfg.data)
    dm.setup("fit")
    ds = dm.train_dataloader().dataset
    batch = collate([ds[(0, i)] for i in range(2)])
    module = build_module(cfg)
    module.normalizer.fit([module.features.fbank(batch["noisy"])])
    module.train()
    opt = torch.optim.Adam(module.model.parameters(), 1e-3)
    first = None
    for _ in range(400):
        loss, _, _ = module._loss(batch, train=False)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() <= 0.1 * first, (first, loss.item())
