"""Every command in the README runs (with small inputs), so the README stays true.

Fenced ```bash blocks are parsed line by line; each command kind is handled below and an
unknown kind fails the test. `make test` and `make lint` are what CI runs; `make demo` (30 min)
is checked for its recipe with `make -n`; Hydra training commands are composed with their
exact overrides (the training itself runs in test_train.py / test_reliability.py).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from ans.checkpoint import build_model, save_model
from ans.config import REPO_ROOT, compose
from ans.features import Normalizer

README = (REPO_ROOT / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def commands() -> list[list[str]]:
    out = []
    for block in blocks("bash"):
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            if line:
                out.append(shlex.split(line))
    return out


def test_readme_has_the_two_quick_start_commands():
    cmds = [" ".join(c) for c in commands()]
    assert "make demo" in cmds and "make test" in cmds
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make lint" in ci


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder laid out like the README assumes: noisy.wav, noisy_dir/, a trained run."""
    d = tmp_path_factory.mktemp("readme")
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(16_000 * 2)).astype(np.float32)
    sf.write(d / "noisy.wav", x, 16_000)
    (d / "noisy_dir").mkdir()
    sf.write(d / "noisy_dir" / "a.wav", x[:8000], 16_000)
    model = build_model("ans.models.student.DFSMN")
    for run in (d / "outputs" / "student" / "RUN", d / "pretrained" / "student"):
        run.mkdir(parents=True)
        save_model(run / "model.pt", model, "student", Normalizer())
    torch.save(model.state_dict(), d / "pytorch_model.bin")  # a reference-format state dict
    return d


def _python_module(cmd: list[str]) -> tuple[str, list[str]]:
    assert cmd[0] == ".venv/bin/python" and cmd[1] == "-m", cmd
    return cmd[2], cmd[3:]


def test_every_readme_command(workdir, tmp_path):
    seen = set()
    for cmd in commands():
        if cmd[0] == "make":
            target = cmd[1]
            seen.add(f"make {target}")
            if target in ("test", "lint"):
                continue  # CI runs exactly these
            dry = subprocess.run(["make", "-n", *cmd[1:]], cwd=REPO_ROOT, capture_output=True, text=True)
            assert dry.returncode == 0, (cmd, dry.stderr)
            continue
        module, args = _python_module(cmd)
        seen.add(module)
        if module == "ans.train":
            stage, over = args[0], [a for a in args[1:] if a != "-m"]
            over = [o.split(",")[0] if "=" in o else o for o in over]  # first value of a sweep
            cfg = compose(stage, over + [f"paths.output_dir={tmp_path}/outputs"])
            assert cfg.stage == stage
        elif module == "ans.eval":
            compose("eval", args)
        elif module in ("ans.enhance", "ans.export", "ans.convert"):
            out = subprocess.run([sys.executable, "-m", module, *args], cwd=workdir, capture_output=True,
                                 text=True, timeout=300)
            assert out.returncode == 0, (cmd, out.stderr)
        elif module == "data_recipes":
            # the README's --src paths are placeholders: the recipe must say where to get the data
            out = subprocess.run([sys.executable, "-m", module, *args, "--out", str(tmp_path / args[0])],
                                 cwd=workdir, capture_output=True, text=True, timeout=120)
            assert out.returncode == 2 and out.stderr.strip(), (cmd, out.stderr)
        elif module == "ans.app":  # a server: tests/test_app_browser.py drives it in Chromium
            out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
            assert out.returncode == 0, (cmd, out.stderr)
        else:
            raise AssertionError(f"README command not covered by this test: {' '.join(cmd)}")
    assert {"make demo", "make test", "ans.train", "ans.enhance"} <= seen


def test_readme_python_snippet_runs(workdir, monkeypatch):
    snippet = next(b for b in blocks("python") if "StreamingEnhancer" in b)
    model = workdir / "outputs" / "student" / "RUN" / "model.pt"
    snippet = snippet.replace("pipeline()", f"pipeline(model={str(model)!r})")
    snippet = snippet.replace('"pretrained/student/model.pt"', repr(str(model)))
    played = []
    monkeypatch.chdir(workdir)
    namespace = {"microphone_chunks": lambda: [np.zeros(480, np.float32), np.ones(1000, np.float32) * 0.01],
                 "play": played.append}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert (workdir / "out.wav").is_file() and isinstance(namespace["pcm"], bytes)
    assert [len(p) for p in played] == [480, 1000, 1920]
