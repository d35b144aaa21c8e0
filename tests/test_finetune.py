"""Fine-tuning (`init_from`, `experiment=finetune`) and the README's "Train on your own data" and
"Fine-tune the shipped model to my noise" commands, run for real on small fake folders."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from ans.checkpoint import build_model, load_payload, save_model
from ans.config import REPO_ROOT, compose
from ans.errors import AnsError
from ans.features import Normalizer
from tests.conftest import tiny_overrides
from tests.signals import speech_like

README = (REPO_ROOT / "README.md").read_text()
SHIPPED_STUDENT = REPO_ROOT / "pretrained" / "student" / "model.pt"


def section_commands(title: str) -> list[list[str]]:
    body = README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", body, flags=re.S).group(1)
    return [shlex.split(line.split(" #")[0]) for line in block.splitlines() if line.strip()]


OWN = section_commands("Train on your own data")
FINETUNE = section_commands("Fine-tune the shipped model to my noise")


def test_init_from_loads_weights_and_normaliser(compose_cfg):
    from ans.training import build_module, init_from_model

    cfg = compose_cfg("student", ["distill.enabled=false", f"init_from={SHIPPED_STUDENT}"])
    module = build_module(cfg)
    init_from_model(module, cfg.init_from, cfg)
    payload = load_payload(SHIPPED_STUDENT)
    assert all(torch.equal(v, payload["state_dict"][k]) for k, v in module.model.state_dict().items())
    assert torch.allclose(module.normalizer.mean, torch.tensor(payload["normalizer"]["mean"]))
    assert bool(module.norm_fitted)


def test_init_from_architecture_mismatch_is_one_line(compose_cfg):
    from ans.training import run

    with pytest.raises(AnsError) as err:  # teacher_tiny config, the shipped student's weights
        run(compose_cfg("teacher", [f"init_from={SHIPPED_STUDENT}"]))
    msg = str(err.value)
    assert "\n" not in msg and "architecture mismatch" in msg and "model.pt" in msg
    assert "use model=student" in msg


def test_finetune_experiment_defaults():
    s, t = compose("student", ["experiment=finetune"]), compose("teacher", ["experiment=finetune"])
    assert s.init_from.endswith("pretrained/student/model.pt") and t.init_from.endswith("pretrained/teacher/model.pt")
    assert s.optim.lr < compose("student", ["experiment=pretrained_student"]).optim.lr / 5


# ------------------------------------------------------------------ the README sections, run
def _tree(root, name: str, n_speakers: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for s in range(n_speakers):
        for u in range(2):
            (root / name / f"spk{s}").mkdir(parents=True, exist_ok=True)
            sf.write(root / name / f"spk{s}" / f"u{u}.wav", speech_like(1.5, 16_000, seed=seed + 10 * s + u),
                     16_000)
    for k in range(3):
        (root / f"{name}_noise").mkdir(exist_ok=True)
        sf.write(root / f"{name}_noise" / f"n{k}.flac", (0.1 * rng.standard_normal(48_000)).astype(np.float32),
                 48_000)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Folders the README's commands name (my_speech/, my_noise/, my_office_noise/, lhotse
    manifests, data/vctk_demand/) plus the models earlier commands would have trained."""
    lhotse = pytest.importorskip("lhotse")
    d = tmp_path_factory.mktemp("own")
    _tree(d, "my_speech", 5, 0)
    shutil.move(d / "my_speech_noise", d / "my_noise")
    shutil.copytree(d / "my_noise", d / "my_office_noise")
    shutil.rmtree(d / "my_noise" / "n2.flac", ignore_errors=True)
    speech = sorted((d / "my_speech").rglob("*.wav"))
    recs = lhotse.RecordingSet.from_recordings(
        lhotse.Recording.from_file(p, recording_id=f"{p.parent.name}-{p.stem}") for p in speech)
    lhotse.SupervisionSet.from_segments(
        lhotse.SupervisionSegment(id=f"s{i}", recording_id=r.id, start=0, duration=r.duration, speaker=p.parent.name)
        for i, (r, p) in enumerate(zip(recs, speech))).to_file(d / "supervisions.jsonl.gz")
    recs.to_file(d / "recordings.jsonl.gz")
    lhotse.RecordingSet.from_recordings(lhotse.Recording.from_file(p) for p in sorted((d / "my_noise").iterdir())
                                        ).to_file(d / "musan_recordings.jsonl.gz")
    from data_recipes.__main__ import main
    from tests.test_pairs import make_valentini

    assert main(["vctk_demand", "--src", str(make_valentini(d / "valentini")), "--out", str(d / "data/vctk_demand")]) == 0
    for kind, cls in (("teacher", "ans.models.teacher.Teacher"),):  # what `ans.train teacher` would leave
        model = build_model(cls, **{k: v for k, v in compose("teacher", ["model=teacher_tiny"]).model.items()
                                    if k not in ("_target_", "model_class")})
        save_model(d / "outputs" / kind / "mine" / "model.pt", model, kind, Normalizer())
    (d / "outputs/student/office").mkdir(parents=True)
    shutil.copy(SHIPPED_STUDENT, d / "outputs/student/office/model.pt")
    old = os.getcwd()
    os.chdir(d)  # the README's relative paths are relative to the checkout
    yield d
    os.chdir(old)


def _absolute(args: list[str], d) -> list[str]:
    """data/... and outputs/... of the command inside the work folder (not the checkout)."""
    return [re.sub(r"(?<=[=\[,])(data|outputs)/", f"{d}/\\1/", a) for a in args]


def _run(cmd: list[str], d, tmp_path) -> None:
    assert cmd[:2] == [".venv/bin/python", "-m"], cmd
    module, args = cmd[2], _absolute(cmd[3:], d)
    if module == "data_recipes":
        r = subprocess.run([sys.executable, "-m", module, *args], cwd=d, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (cmd, r.stderr[-2000:])
    elif module == "ans.train":
        from ans.training import run

        stage, over = args[0], args[1:]
        extra = [o for o in tiny_overrides(tmp_path, stage) if not o.startswith(("paths.output_dir", "run_name"))]
        if not any(o.startswith("data=") for o in over):
            extra.append("data=demo")  # keep the command's data group, not debug's toy one
        if any(o.startswith("model=") for o in over):
            extra = [o for o in extra if not o.startswith("model=")]
        cfg = compose(stage, extra + over + [f"paths.output_dir={d}/outputs", "data.num_workers=0"])
        metrics = run(cfg)
        assert metrics["global_step"] == 4
    elif module == "ans.eval":
        from ans.eval.evaluate import run

        out = run(args + [f"report_dir={tmp_path}/report", "test_items=2", "max_files=2", "jobs=1",
                          "baselines=[noisy]", "metrics=[pesq_wb,stoi]", "spectrogram_files=0", "progress=false"])
        assert len(out["metrics"]["systems"]) >= 3
    else:
        raise AssertionError(f"README command not covered: {cmd}")


@pytest.mark.parametrize("i", range(len(OWN)))
def test_readme_own_data_commands(workdir, tmp_path, i, one_torch_thread):
    _run(OWN[i], workdir, tmp_path)


@pytest.mark.parametrize("i", range(len(FINETUNE)))
def test_readme_finetune_commands(workdir, tmp_path, i, one_torch_thread):
    _run(FINETUNE[i], workdir, tmp_path)
    if FINETUNE[i][3:5] == ["student", "experiment=finetune"]:  # started from the shipped student
        payload = load_payload(workdir / "outputs/student/office/model.pt")
        assert payload["config"]["init_from"] == str(SHIPPED_STUDENT)
