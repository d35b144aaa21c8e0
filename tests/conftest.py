"""Shared fixtures: real configs composed with the `debug=fast` overrides, shrunk further."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def tiny_overrides(tmp_path, stage: str) -> list[str]:
    """Overrides that make a real stage run in seconds inside tmp_path."""
    over = ["debug=fast", f"paths.output_dir={tmp_path}/outputs", f"paths.data_dir={tmp_path}/data",
            "run_name=t"]
    if stage == "teacher":
        over.append("model=teacher_tiny")
    return over


@pytest.fixture
def compose_cfg(tmp_path):
    from ans.config import compose

    def _compose(stage: str, extra: list[str] | None = None):
        return compose(stage, tiny_overrides(tmp_path, stage) + list(extra or []))

    return _compose


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module with one torch thread, as DataLoader workers do: many tiny ops gain nothing
    from intra-op threads, which spin badly on a busy 2-core machine. Restores the count after."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def _restore_denormals():
    """In-process training (ans.training.run) flushes denormals to zero for speed; that global
    CPU state would break hypothesis's float strategies in later tests, so undo it after each."""
    yield
    torch.set_flush_denormal(False)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """An untrained, seeded student model.pt laid out as pretrained/student/ (the web app tests)."""
    import torch

    from ans.checkpoint import build_model, save_model
    from ans.features import Normalizer

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("app") / "pretrained" / "student" / "model.pt"
    return save_model(path, build_model("ans.models.student.DFSMN"), "student", Normalizer())
