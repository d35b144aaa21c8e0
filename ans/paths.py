"""Where things are: a checkout (configs/, pretrained/, outputs/ beside the package) or an
installed wheel (configs and the default model inside the package, runs in the current folder)."""

from __future__ import annotations

import glob
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent


def in_checkout() -> bool:
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "configs").is_dir()


def project_root() -> Path:
    """Root of data/, outputs/, reports/: the checkout, else the current directory."""
    return REPO_ROOT if in_checkout() else Path.cwd()


def config_dir() -> Path:
    return REPO_ROOT / "configs" if in_checkout() else PACKAGE_DIR / "configs"


def newest(*patterns: str) -> str | None:
    """The most recently modified file matching any glob pattern (None when there is none)."""
    found = [p for pat in patterns for p in glob.glob(pat) if os.path.isfile(p)]
    return max(found, key=os.path.getmtime) if found else None
