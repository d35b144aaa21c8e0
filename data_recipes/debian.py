"""Fetch Debian packages with `apt-get download` and unpack them with `dpkg-deb -x`.

Nothing is installed system-wide: the .deb files go to a cache folder and are unpacked into a
staging folder. `apt-get update` is run once (and only) when a download fails, for machines
whose package lists are still empty.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ans.errors import AnsError

_updated = False


def _cached(cache: Path, package: str) -> Path | None:
    hits = sorted(cache.glob(f"{package}_*.deb"))
    return hits[-1] if hits else None


def fetch(package: str, cache: Path) -> Path | None:
    """The cached .deb of `package`, downloading it first if needed; None (with a printed
    warning) when the package cannot be downloaded."""
    global _updated
    cache.mkdir(parents=True, exist_ok=True)
    if (deb := _cached(cache, package)) is not None:
        return deb
    if shutil.which("apt-get") is None:
        print(f"warning: apt-get not found; skipping Debian package {package}")
        return None
    for attempt in range(2):
        run = subprocess.run(["apt-get", "download", package], cwd=cache, capture_output=True, text=True)
        if run.returncode == 0 and (deb := _cached(cache, package)) is not None:
            return deb
        if attempt == 0 and not _updated:
            print("apt-get download failed; running apt-get update once")
            subprocess.run(["apt-get", "update"], capture_output=True, text=True)
            _updated = True
        else:
            break
    err = (run.stderr or run.stdout).strip().splitlines()
    print(f"warning: skipping Debian package {package}: {err[-1] if err else 'download failed'}")
    return None


def unpack(deb: Path, staging: Path) -> Path:
    """Extract `deb` into `staging/<package>/` (a stamp file makes re-runs free)."""
    package = deb.name.split("_")[0]
    dest = staging / package
    stamp = dest / ".unpacked"
    if stamp.is_file() and stamp.read_text() == deb.name:
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    run = subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], capture_output=True, text=True)
    if run.returncode != 0:
        raise AnsError(f"dpkg-deb -x failed: {run.stderr.strip().splitlines()[-1:]}", deb)
    stamp.write_text(deb.name)
    return dest


def copyright_file(tree: Path, package: str) -> Path | None:
    p = tree / "usr" / "share" / "doc" / package / "copyright"
    return p if p.is_file() else None


def package_license(tree: Path, package: str) -> str:
    """Short licence string from the package's machine-readable copyright file (its distinct
    `License:` names), else the package name plus 'see copyright'."""
    note = f"Debian package {package}; see licenses/{package}.copyright"
    path = copyright_file(tree, package)
    if path is None:
        return f"{package}: see copyright"
    names: list[str] = []
    for m in re.finditer(r"^License:[ \t]*(\S[^\n]*)$", path.read_text(errors="replace"), re.M):
        name = m.group(1).strip()
        if name not in names:
            names.append(name)
    return f"{' / '.join(names)} ({note})" if names else f"{package}: see copyright ({note})"
