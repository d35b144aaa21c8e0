"""Every primary config and every group option composes, and its objects instantiate."""

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ans.config import CONFIG_DIR, compose

GROUPS_INSTANTIATED = ("model", "features", "loss", "augment")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize("stage", ["teacher", "student"])
def test_primary_configs_compose(stage, tmp_path):
    cfg = compose(stage, [f"paths.output_dir={tmp_path}"])
    assert cfg.stage == stage
    assert OmegaConf.load(CONFIG_DIR / "hydra" / "default.yaml").job.chdir is False
    assert Path(cfg.paths.root).resolve() == CONFIG_DIR.parent
    assert cfg.paths.run_dir.startswith(str(tmp_path))
    for group in GROUPS_INSTANTIATED:
        instantiate(cfg[group])
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves


@pytest.mark.parametrize("group", ["model", "features", "loss", "augment", "data", "trainer",
                                   "logger", "callbacks", "optim", "experiment", "debug", "paths"])
def test_every_group_option_composes(group, tmp_path):
    for option in options(group):
        stage = "student" if option.startswith(("student", "demo_student")) else "teacher"
        cfg = compose(stage, [f"{group}={option}", f"paths.output_dir={tmp_path}",
                              f"paths.data_dir={tmp_path}/data"])
        resolved = OmegaConf.to_container(cfg, resolve=True)
        if group in GROUPS_INSTANTIATED:
            instantiate(cfg[group])
        elif group in ("logger", "callbacks"):
            for name, sub in cfg[group].items():
                if name != "wandb":  # wandb's logger starts a service process: covered elsewhere
                    instantiate(sub)
        elif group == "trainer":
            assert resolved["trainer"]["_target_"] == "pytorch_lightning.Trainer"


def test_no_absolute_paths_in_configs():
    for path in CONFIG_DIR.rglob("*.yaml"):
        for line in path.read_text().splitlines():
            value = line.split(":", 1)[-1].strip()
            assert not value.startswith("/"), f"{path}: absolute path {value}"


def test_train_cli_help_and_bad_stage():
    import subprocess
    import sys

    ok = subprocess.run([sys.executable, "-m", "ans.train", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "teacher" in ok.stdout and "student" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "ans.train", "techer"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "techer" in bad.stderr
