"""Run folders of training and evaluation: create with a clear error, lock, tidy after failure.

- `lock_run_dir`: an exclusive flock on the folder itself (released by the kernel when the
  process ends, even on a crash; nothing to clean up), so two trainings with the same
  run_name cannot interleave checkpoints and logs.
- `make_dirs`: mkdir -p whose failure (read-only, a file in the way) is one AnsError line.
- `remove_leftovers`: after a failed run, delete the folders it created if they hold nothing
  but Hydra's bookkeeping (.hydra/, *.log) and empty log folders.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from ans.errors import AnsError

_HELD: dict[str, int] = {}  # run folder -> fd of the lock this process holds
_LEFTOVER_NAMES = (".hydra",)
_LEFTOVER_SUFFIXES = (".log",)


def first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (None when it exists)."""
    path = Path(path).absolute()
    if path.exists():
        return None
    while not path.parent.exists():
        path = path.parent
    return path


def make_dirs(path: str | os.PathLike) -> Path:
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AnsError(f"cannot create the output folder ({e.strerror or type(e).__name__})", path) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise AnsError("the output folder is not writable", path)
    return path


def lock_run_dir(run_dir: str | os.PathLike) -> Path:
    """Create `run_dir` and hold an exclusive lock on it until this process exits."""
    path = make_dirs(run_dir)
    key = str(path.resolve())
    if key in _HELD:
        return path
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise AnsError("another training is running in this folder (same run_name); wait for it to "
                       "finish or pick another run_name=", path) from None
    _HELD[key] = fd
    return path


def holds_lock(run_dir: str | os.PathLike) -> bool:
    return str(Path(run_dir).resolve()) in _HELD


def release_run_dir(run_dir: str | os.PathLike) -> None:
    fd = _HELD.pop(str(Path(run_dir).resolve()), None)
    if fd is not None:
        os.close(fd)


def only_leftovers(path: Path) -> bool:
    """True when `path` holds only Hydra's bookkeeping and empty folders."""
    for p in path.iterdir():
        if p.name in _LEFTOVER_NAMES or (p.is_file() and p.suffix in _LEFTOVER_SUFFIXES):
            continue
        if p.is_dir() and not p.is_symlink() and only_leftovers(p):
            continue
        return False
    return True


def remove_leftovers(path: str | os.PathLike, created: str | os.PathLike | None = None) -> bool:
    """After a failed run: delete `path` when it holds nothing of value, then its empty parents
    up to `created` (the outermost folder the run made; None: `path` only). True if removed."""
    path = Path(path).absolute()
    if not path.is_dir() or not only_leftovers(path):
        return False
    shutil.rmtree(path, ignore_errors=True)
    if created is not None:
        stop = Path(created).absolute()
        parent = path.parent
        while parent != stop.parent and parent.is_relative_to(stop) and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    return True
