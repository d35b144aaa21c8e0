"""What the wheel carries and how it installs: configs, the default student (model.pt and its
ONNX graphs), console scripts, a core without torch."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import ans

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_package_data_covers_configs_and_models():
    """Every config and the bundled model files match a package-data glob (symlinks in ans/)."""
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["ans"]
    pkg = REPO / "ans"
    matched = {p.relative_to(pkg) for g in globs for p in pkg.glob(g) if p.is_file()}
    configs = {Path("configs") / p.relative_to(REPO / "configs") for p in (REPO / "configs").rglob("*.yaml")}
    assert configs and configs <= matched
    for f in ("runtime/models/export.json", "runtime/models/student_offline.onnx",
              "runtime/models/student_streaming.onnx", "pretrained/student/model.pt"):
        assert Path(f) in matched, f


def test_console_scripts_and_core_deps():
    import importlib

    scripts = PYPROJECT["project"]["scripts"]
    assert set(scripts) == {"ans-enhance", "ans-train", "ans-eval", "ans-export", "ans-live", "ans-app"}
    for target in scripts.values():
        mod, fn = target.split(":")
        assert callable(getattr(importlib.import_module(mod), fn))
    core = " ".join(PYPROJECT["project"]["dependencies"])
    assert "torch" not in core and "==" not in core
    assert all("==" not in d for deps in PYPROJECT["project"]["optional-dependencies"].values() for d in deps)
    assert ans.__version__ == "0.1.0"


@pytest.mark.parametrize("module", ["ans.enhance", "ans.export", "ans.live", "ans.train", "ans.app"])
def test_help_is_fast(module):
    """--help answers before torch/fastapi load (< 1 s on an idle core; generous bound here)."""
    code = f"import runpy, sys; sys.argv = ['x', '--help']; runpy.run_module('{module}', run_name='__main__')"
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
    assert r.returncode == 0 and "usage" in r.stdout.lower()
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if "|" in line}
    assert not {"torch", "fastapi", "hydra", "lightning"} & imported


@pytest.mark.slow
def test_fresh_venv_wheel_without_torch(tmp_path):
    """Done-when of the delivery issue: build the wheel, install it (no torch) into a fresh venv,
    enhance a file from an empty folder with the bundled model, `ans-live --help`; then add
    `[train]` and train from that empty folder."""
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(dist), str(REPO)], check=True, timeout=600)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheel = next(dist.glob("ans-*.whl"))
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-c", str(REPO / "constraints.txt"),
                    str(wheel)], check=True, timeout=900)
    work = tmp_path / "empty"
    work.mkdir()
    import numpy as np
    import soundfile as sf

    sf.write(work / "noisy.wav", (np.random.default_rng(0).standard_normal(32000) * 0.1).astype(np.float32), 16000)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = lambda *a: subprocess.run([str(venv / "bin" / a[0]), *a[1:]], cwd=work, env=env,  # noqa: E731
                                    capture_output=True, text=True, timeout=300)
    assert run("python", "-c", "import torch").returncode != 0
    r = run("ans-enhance", "noisy.wav", "-o", "out.wav")
    assert r.returncode == 0, r.stderr
    assert sf.info(work / "out.wav").samplerate == 48000
    assert run("ans-live", "--help").returncode == 0
    assert run("ans-enhance", "--version").stdout.strip() == f"ans {ans.__version__}"
    # + [train] (the README's recipe: the torch build first, then the extra, constrained): a
    # training from an empty folder writes ./outputs/teacher/<run>/model.pt
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "torch==2.13.0"], check=True, timeout=900)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-c", str(REPO / "constraints.txt"),
                    f"{wheel}[train]"], check=True, timeout=900)
    r = run("ans-train", "teacher", "debug=fast", "model=teacher_tiny", "run_name=w")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (work / "outputs" / "teacher" / "w" / "model.pt").is_file()


def test_training_path_without_torchaudio():
    """`pip install ans[train]` puts a PyPI torchaudio (CUDA-linked extension) beside the CPU torch,
    where `import torchaudio` fails: features, SpecAugment and resampling must not need it."""
    code = ("import sys; sys.modules['torchaudio'] = None\n"  # every torchaudio import now fails
            "import torch\n"
            "from ans.features import FeatureExtractor\n"
            "from ans.augment import first_bin_at\n"
            "from ans.data.pairs import PairDataset\n"
            "from ans.runtime.resample import resample\n"
            "y = resample(torch.ones(1, 16000).numpy(), 16000, 48000)\n"
            "f = FeatureExtractor().fbank(torch.zeros(1, 4800))\n"
            "print(first_bin_at(2000.0), tuple(y.shape), tuple(f.shape))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["45", "(1,", "48000)", "(1,", "6,", "120)"]
