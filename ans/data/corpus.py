"""Streaming corpus manifests (docs/contracts.md) and lazy, fault-tolerant audio reads.

A manifest of 100 k+ lines is never held as Python objects: `Manifest` scans the JSONL once,
keeping the byte offset of every line and compact numpy columns (duration, rates, split,
kind, category and speaker codes). A full entry (path, licence, ...) is parsed on demand by
reading its line back with `os.pread`. Audio is read lazily with `read_audio(start, frames)`.

Faults: a manifest line that is not valid JSON, or lacks `path`/`duration`/`sample_rate`, is
skipped with a warning. An audio file that is unreadable, corrupt or empty makes
`Corpus.read` return None, warn once per file and bump `Corpus.skipped` (the simulator then
redraws deterministically). A missing corpus folder or speech manifest raises AnsError.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ans.audio import read_audio
from ans.data.simconfig import CATEGORIES
from ans.errors import AnsError

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test", "heldout")  # heldout: the dev held-out set's talkers/noises
KINDS = ("speech", "noise", "rir")
_UNKNOWN = -1


@dataclass(frozen=True)
class Entry:
    """One manifest line (parsed on demand)."""

    index: int
    path: str
    duration: float
    sample_rate: int
    source_rate: int
    kind: str
    speaker: str | None
    category: str | None
    split: str


def _code(value: object, table: tuple[str, ...]) -> int:
    return table.index(value) if value in table else _UNKNOWN


class Manifest:
    """Index of one JSONL manifest: byte offsets + numpy columns; lines parsed on demand."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise AnsError("manifest not found", self.path)
        offsets, lengths, dur, sr, src, kind, split, cat, spk, bw = ([] for _ in range(10))
        self.speakers: list[str] = []
        speaker_code: dict[str, int] = {}
        self.bad_lines = 0
        pos = 0
        with open(self.path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                start, pos = pos, pos + len(raw)
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw)
                    d, r = float(row["duration"]), int(row["sample_rate"])
                    if not isinstance(row["path"], str):
                        raise TypeError("path")
                except (ValueError, KeyError, TypeError) as e:
                    self.bad_lines += 1
                    log.warning("%s:%d: skipping bad manifest line (%s)", self.path, lineno,
                                type(e).__name__)
                    continue
                name = row.get("speaker")
                if name is not None:
                    name = str(name)
                    if name not in speaker_code:
                        speaker_code[name] = len(self.speakers)
                        self.speakers.append(name)
                offsets.append(start)
                lengths.append(len(raw))
                dur.append(d)
                sr.append(r)
                src.append(int(row.get("source_rate") or r))
                # measured speech bandwidth; older manifests: the source rate's Nyquist
                bw.append(float(row.get("bandwidth_hz") or src[-1] / 2))
                kind.append(_code(row.get("kind"), KINDS))
                split.append(_code(row.get("split"), SPLITS))
                cat.append(_code(row.get("category"), CATEGORIES))
                spk.append(_UNKNOWN if name is None else speaker_code[name])
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int32)
        self.duration = np.asarray(dur, dtype=np.float32)
        self.sample_rate = np.asarray(sr, dtype=np.int32)
        self.source_rate = np.asarray(src, dtype=np.int32)
        self.bandwidth_hz = np.asarray(bw, dtype=np.float32)
        self.kind = np.asarray(kind, dtype=np.int8)
        self.split = np.asarray(split, dtype=np.int8)
        self.category = np.asarray(cat, dtype=np.int8)
        self.speaker = np.asarray(spk, dtype=np.int32)
        self._fd: int | None = None
        self._pid = -1

    def __len__(self) -> int:
        return int(self.offsets.size)

    def __getstate__(self) -> dict:  # file descriptors do not cross process boundaries
        state = self.__dict__.copy()
        state["_fd"], state["_pid"] = None, -1
        return state

    def __del__(self):
        if getattr(self, "_fd", None) is not None and self._pid == os.getpid():
            try:
                os.close(self._fd)
            except OSError:
                pass

    def _line(self, i: int) -> bytes:
        if self._fd is None or self._pid != os.getpid():  # reopen after fork
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return os.pread(self._fd, int(self.lengths[i]), int(self.offsets[i]))

    def row(self, i: int) -> dict:
        """The full JSON object of entry i (parsed from disk now)."""
        return json.loads(self._line(i))

    def entry(self, i: int) -> Entry:
        row = self.row(i)
        spk = row.get("speaker")
        return Entry(index=int(i), path=row["path"], duration=float(self.duration[i]),
                     sample_rate=int(self.sample_rate[i]), source_rate=int(self.source_rate[i]),
                     kind=str(row.get("kind")), speaker=None if spk is None else str(spk),
                     category=row.get("category"), split=str(row.get("split")))

    def select(self, split: str | None = None, kind: str | None = None,
               category: str | None = None, min_duration: float = 0.0) -> np.ndarray:
        """Indices (int64 array) of entries matching every given filter."""
        mask = self.duration > min_duration
        if split is not None:
            mask &= self.split == _code(split, SPLITS)
        if kind is not None:
            mask &= self.kind == _code(kind, KINDS)
        if category is not None:
            mask &= self.category == _code(category, CATEGORIES)
        return np.flatnonzero(mask)


class Corpus:
    """A corpus root with speech.jsonl, noise.jsonl and optional rir.jsonl."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not self.root.is_dir():
            raise AnsError("corpus folder not found (build it first, e.g. `make corpus`, "
                           "or use data=toy)", self.root)
        if not (self.root / "speech.jsonl").is_file():
            raise AnsError("corpus has no speech.jsonl manifest", self.root)
        self.speech = Manifest(self.root / "speech.jsonl")
        if len(self.speech) == 0:
            raise AnsError("speech manifest has no usable entries", self.speech.path)
        noise = self.root / "noise.jsonl"
        self.noise = Manifest(noise) if noise.is_file() else None
        rir = self.root / "rir.jsonl"
        self.rir = Manifest(rir) if rir.is_file() else None
        self.skipped = 0  # failed reads in this process
        self.bad_files: set[str] = set()

    def manifest(self, kind: str) -> Manifest | None:
        return {"speech": self.speech, "noise": self.noise, "rir": self.rir}[kind]

    def read(self, manifest: Manifest, i: int, start: int = 0, frames: int = -1
             ) -> tuple[np.ndarray, int] | None:
        """Samples [start, start+frames) of entry i at its stored rate, or None if unusable.

        None (with one warning per file and `skipped += 1`) for unreadable, corrupt, empty
        or non-finite audio, or a path outside the corpus root.
        """
        rel = manifest.row(i)["path"]
        path = self.root / rel
        try:
            x, sr = read_audio(path, start=max(0, int(start)), frames=int(frames))
            if x.size == 0:  # empty file, or truncated below what the manifest claims
                raise AnsError("empty or truncated audio file", path)
            if not np.isfinite(x).all():
                raise AnsError("audio contains NaN or Inf samples", path)
        except AnsError as e:
            self.skipped += 1
            if rel not in self.bad_files:
                self.bad_files.add(rel)
                log.warning("skipping corpus file: %s", e)
            return None
        return x, sr
