"""Console scripts (`ans-enhance`, `ans-train`, ...): each runs its module as `python -m` would,
so `--help` is answered before torch or Hydra load."""

from __future__ import annotations

import runpy
import sys


def _run(module: str) -> None:
    sys.argv[0] = module
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def enhance() -> None:
    _run("ans.enhance")


def train() -> None:
    _run("ans.train")


def evaluate() -> None:
    _run("ans.eval")


def export() -> None:
    _run("ans.export")


def live() -> None:
    _run("ans.live")


def app() -> None:
    _run("ans.app")
