"""Shared manifest machinery: streaming JSONL writer, manifest lines, splits, stamps, summary.

Manifest lines follow docs/contracts.md ("Corpus manifests"): `path` (relative to the corpus
root), `duration`, `sample_rate`, `channels`, `source_rate`, `kind`, `speaker`, `category`,
`split`, `license`, `source`.

Splits are decided per *group* (a speaker, or a noise file together with the chunks cut from
it), never per line, so nothing crosses train/valid/test. `assign_splits` hashes each group key
(sha1, so it is stable across machines and Python versions) into [0, 1): the lowest 10 % go to
test, the next 10 % to valid, the rest to train; then, when there are at least three groups,
every split that came out empty takes the group of the largest split whose hash lies closest
to the empty split's interval, so every split is populated.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import soundfile as sf

from ans.audio import atomic_target, atomic_write_text
from ans.errors import AnsError

SPLITS = ("train", "valid", "test")
# splits a recipe may also assign by name: `heldout` = whole talkers / noise packages kept for
# the dev held-out set (never hashed into; assign_splits only fills train/valid/test)
ALL_SPLITS = SPLITS + ("heldout",)
BANDWIDTH_BINS_KHZ = (0, 4.5, 8.5, 12, 16, 20, 24)  # histogram edges of measured speech bandwidth
# interval of the unit hash that each split owns: test [0, .1), valid [.1, .2), train [.2, 1)
_INTERVALS = {"test": (0.0, 0.1), "valid": (0.1, 0.2), "train": (0.2, 1.0)}
KEYS = ("path", "duration", "sample_rate", "channels", "source_rate", "kind", "speaker",
        "category", "split", "license", "source")


def unit_hash(key: str, salt: str = "") -> float:
    digest = hashlib.sha1(f"{salt}\0{key}".encode()).hexdigest()
    return int(digest[:12], 16) / float(1 << 48)


def _distance(u: float, split: str) -> float:
    lo, hi = _INTERVALS[split]
    return 0.0 if lo <= u < hi else min(abs(u - lo), abs(u - hi))


def assign_splits(keys: Iterable[str], salt: str = "") -> dict[str, str]:
    """Deterministic ~80/10/10 split of group keys; every split non-empty when >= 3 groups."""
    hashes = {k: unit_hash(k, salt) for k in sorted(set(keys))}
    out = {k: next(s for s, (lo, hi) in _INTERVALS.items() if lo <= u < hi) for k, u in hashes.items()}
    if len(out) < len(SPLITS):
        return out
    for empty in ("test", "valid", "train"):
        members = {s: [k for k, v in out.items() if v == s] for s in SPLITS}
        if members[empty]:
            continue
        donor = max(SPLITS, key=lambda s: (len(members[s]), s == "train"))
        out[min(members[donor], key=lambda k: (_distance(hashes[k], empty), k))] = empty
    return out


def audio_line(root: Path, path: Path, *, kind: str, split: str | None = None,
               speaker: str | None = None, category: str | None = None,
               source_rate: int | None = None, license: str = "", source: str = "") -> dict:
    """One manifest line for an audio file, from its header only (soundfile.info, no full read)."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AnsError(f"not a readable audio file ({str(e).splitlines()[0] if str(e) else e})", path) from None
    rate = int(info.samplerate)
    return {
        "path": os.path.relpath(path, root).replace(os.sep, "/"),
        "duration": round(info.frames / rate, 4),
        "sample_rate": rate,
        "channels": int(info.channels),
        "source_rate": int(source_rate or rate),
        "kind": kind,
        "speaker": speaker,
        "category": category,
        "split": split,
        "license": license,
        "source": source,
    }


class ManifestWriter:
    """Stream JSONL lines to a temp file beside `path`; moved over `path` only when the block succeeds."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.count = 0
        self.seconds = 0.0

    def __enter__(self) -> ManifestWriter:
        self._target = atomic_target(self.path)  # the one atomic writer (ans.audio)
        self._f = open(self._target.__enter__(), "w", encoding="utf-8")
        return self

    def write(self, line: dict) -> None:
        self._f.write(json.dumps({k: line.get(k) for k in KEYS if k in line} | _extra(line)) + "\n")
        self.count += 1
        self.seconds += float(line.get("duration") or 0.0)

    def __exit__(self, exc_type, exc, tb) -> None:
        self._f.close()
        self._target.__exit__(exc_type, exc, tb)


def _extra(line: dict) -> dict:
    """Keys beyond the contract (e.g. pairs.jsonl's noisy/clean) are kept; private `_x` ones dropped."""
    return {k: v for k, v in line.items() if k not in KEYS and not k.startswith("_")}


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    return list(iter_jsonl(path))


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Stream the lines of a (possibly huge) manifest."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def write_jsonl(path: str | os.PathLike, lines: Iterable[dict]) -> None:
    """Atomic write of a whole JSONL file, keeping every key (used for step 'part' files)."""
    atomic_write_text(path, "".join(json.dumps(line) + "\n" for line in lines))


class Stamps:
    """Finished-step markers under `<root>/.stamps/`: a step is skipped when its stamp exists
    and records the same `key` (e.g. the --src path), so a changed input rebuilds."""

    def __init__(self, root: Path):
        self.dir = Path(root) / ".stamps"

    def done(self, step: str, key: str = "") -> bool:
        p = self.dir / f"{step}.done"
        return p.is_file() and p.read_text(encoding="utf-8") == key

    def mark(self, step: str, key: str = "") -> None:
        atomic_write_text(self.dir / f"{step}.done", key)


class Tally:
    """Streaming summary of one manifest: files, hours, per-split counts, speakers, categories."""

    LIST_LIMIT = 30  # speaker names are listed per split only for small corpora

    def __init__(self) -> None:
        self.files, self.seconds = 0, 0.0
        self.per_split = dict.fromkeys(ALL_SPLITS, 0)
        self.seconds_per_split = dict.fromkeys(ALL_SPLITS, 0.0)
        self.bandwidth_seconds: dict[str, list[float]] = {}
        self.speakers: dict[str, set[str]] = {s: set() for s in ALL_SPLITS}
        self.categories: dict[str, dict[str, int]] = {}
        self.speaker_seconds: dict[str, float] = {}

    def add(self, line: dict) -> None:
        split = line.get("split") or "train"
        self.files += 1
        self.seconds += float(line.get("duration") or 0.0)
        self.per_split[split] += 1
        self.seconds_per_split[split] += float(line.get("duration") or 0.0)
        if line.get("bandwidth_hz") is not None:
            hist = self.bandwidth_seconds.setdefault(split, [0.0] * (len(BANDWIDTH_BINS_KHZ) - 1))
            k = sum(float(line["bandwidth_hz"]) / 1000 >= e for e in BANDWIDTH_BINS_KHZ[1:-1])
            hist[k] += float(line.get("duration") or 0.0)
        if line.get("speaker"):
            self.speakers[split].add(line["speaker"])
            spk_s = self.speaker_seconds.get(line["speaker"], 0.0) + float(line.get("duration") or 0.0)
            if spk_s and (line["speaker"] in self.speaker_seconds or len(self.speaker_seconds) < self.LIST_LIMIT):
                self.speaker_seconds[line["speaker"]] = spk_s
        if line.get("category"):
            self.categories.setdefault(line["category"], dict.fromkeys(ALL_SPLITS, 0))[split] += 1

    def as_dict(self) -> dict:
        out: dict = {"files": self.files, "hours": round(self.seconds / 3600, 3), "per_split": self.per_split,
                     "hours_per_split": {k: round(v / 3600, 3) for k, v in self.seconds_per_split.items()}}
        if self.bandwidth_seconds:
            labels = [f"{a:g}-{b:g} kHz" for a, b in zip(BANDWIDTH_BINS_KHZ[:-1], BANDWIDTH_BINS_KHZ[1:])]
            out["bandwidth_hours_per_split"] = {s: dict(zip(labels, (round(v / 3600, 3) for v in h)))
                                                for s, h in self.bandwidth_seconds.items()}
        every = set().union(*self.speakers.values())
        if every:
            out["speakers"] = len(every)
            small = len(every) <= self.LIST_LIMIT
            out["speakers_per_split"] = {s: sorted(v) if small else len(v) for s, v in self.speakers.items()}
            out["talkers_per_split"] = {s: len(v) for s, v in self.speakers.items()}
            if small:
                out["hours_per_speaker"] = {k: round(v / 3600, 3) for k, v in sorted(self.speaker_seconds.items())}
        if self.categories:
            out["per_category"] = self.categories
        return out


def summarize(root: Path, manifests: dict[str, Iterable[dict]], disk: bool = True) -> dict:
    """Summary of several manifests (and, with `disk`, the MB of audio stored under `root`,
    not counting dot-folders such as the .deb cache, nor symlinked source trees)."""
    out: dict = {"root": str(root)}
    for name, lines in manifests.items():
        tally = Tally()
        for line in lines:
            tally.add(line)
        out[name] = tally.as_dict()
    if disk:
        size = 0
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            size += sum(os.path.getsize(os.path.join(dirpath, f)) for f in filenames
                        if not os.path.islink(os.path.join(dirpath, f)))
        out["megabytes"] = round(size / 1e6, 1)
    return out
