"""Shared driver for the public-corpus recipes (dns5, vctk_demand, vctk, libritts, musan, rirs).

**Where the audio lives (one approach for every real corpus):** the corpus stays where the user
unpacked it. The recipe makes `data/<name>/src` a symlink to the `--src` folder and writes its
manifests to `data/<name>/*.jsonl` with every `path` starting `src/…`, so paths are relative to
the corpus root `data/<name>/` exactly as docs/contracts.md says, and the simulator needs no
special case. Re-pointing `--src` re-links and rebuilds.

Each manifest is streamed (one line written per file, `soundfile.info` for the header only);
splits are decided per group (speaker, room, or file) from the list of paths before any line
is written. A manifest whose stamp (`data/<name>/.stamps/<manifest>.done`, holding the
resolved --src) matches is skipped on re-runs; `--force` rebuilds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ans.audio import atomic_write_text
from ans.errors import AnsError
from data_recipes.manifest import ManifestWriter, Stamps, Tally, audio_line, iter_jsonl

AUDIO_EXTS = (".wav", ".flac")


class MissingSource(AnsError):
    """--src missing or not the expected corpus: the CLI prints it and exits with code 2."""


@dataclass(frozen=True)
class CorpusInfo:
    name: str
    what: str      # one phrase: what folder --src must be
    url: str       # where to get it (printed only)
    license: str
    markers: tuple[str, ...]  # sub-folders of which at least one must exist below the root


def find_root(info: CorpusInfo, src: str | os.PathLike | None, parents: tuple[str, ...] = ()) -> Path:
    """The corpus root: `src` itself or one of `parents` below it that holds a marker folder."""
    if src is None:
        raise MissingSource(f"{info.name} needs --src PATH, {info.what}; get it from {info.url}")
    src = Path(src).expanduser()
    if not src.is_dir():
        raise MissingSource(f"{src}: no such folder; {info.name} needs {info.what}; get it from {info.url}")
    for cand in [src, *(src / p for p in parents)]:
        if any((cand / m).is_dir() for m in info.markers):
            return cand
    raise MissingSource(f"{src}: not {info.what} (none of {', '.join(info.markers)} found); "
                        f"get it from {info.url}")


def link_source(out: Path, root: Path) -> Path:
    """`out/src` -> the resolved corpus root (replaced when it pointed elsewhere)."""
    out.mkdir(parents=True, exist_ok=True)
    link = out / "src"
    target = root.resolve()
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return link
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        raise AnsError("exists and is not a symlink; remove it first", link)
    link.symlink_to(target, target_is_directory=True)
    return link


def audio_files(folder: Path, exts: tuple[str, ...] = AUDIO_EXTS) -> list[Path]:
    """Every audio file below `folder` (following the src symlink), sorted for determinism."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames.sort()
        found += [Path(dirpath) / f for f in sorted(filenames)
                  if f.lower().endswith(exts) and not f.startswith(".")]
    return found


def stream(out: Path, files: Iterable[Path], desc: str, make: Callable[[Path], dict | None]) -> Iterator[dict]:
    """Manifest lines for `files`; unreadable files are skipped with a warning and counted."""
    skipped = 0
    for p in tqdm(list(files), desc=desc, unit="file", mininterval=1.0):
        try:
            line = make(p)
        except AnsError as e:
            skipped += 1
            if skipped <= 5:
                print(f"warning: skipping {e}")
            continue
        if line is not None:
            yield line
    if skipped:
        print(f"warning: {desc}: {skipped} unreadable file(s) skipped")


def line_for(out: Path, path: Path, info: CorpusInfo, **kw) -> dict:
    return audio_line(out, path, license=info.license, source=info.name, **kw)


def build(info: CorpusInfo, root: Path, out: Path, manifests: dict[str, Callable[[Path], Iterable[dict]]],
          force: bool = False) -> dict:
    """Write each `<name>.jsonl` from its line generator (given the src link) unless stamped."""
    link = link_source(out, root)
    stamps, key = Stamps(out), str(root.resolve())
    summary: dict = {"root": str(out), "src": key}
    for name, lines in manifests.items():
        target = out / f"{name}.jsonl"
        tally = Tally()
        if not force and target.is_file() and stamps.done(name, key):
            print(f"{info.name}: {target} is up to date (skipped; --force rebuilds)")
            for line in iter_jsonl(target):
                tally.add(line)
        else:
            with ManifestWriter(target) as w:
                for line in lines(link):
                    w.write(line)
                    tally.add(line)
            stamps.mark(name, key)
        summary[name] = tally.as_dict()
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
