"""`python -m data_recipes lhotse --recordings R.jsonl.gz [--supervisions S.jsonl.gz] | --cuts C.jsonl.gz
[--noise-recordings N.jsonl.gz] [--rir-recordings X.jsonl.gz] [--name NAME]`

lhotse has recipes for 50+ corpora; their manifests become ours here (needs `pip install lhotse`,
part of the `dev` and `lhotse` extras). Whole recordings are indexed (the simulator cuts its own
random segments), each with its header facts, measured `bandwidth_hz` and the `source_rate` it
implies (see data_recipes.folders). Speaker: the most frequent speaker among the recording's
supervisions (from --supervisions or from the cuts); the split is drawn per speaker, else per
recording. Only recordings stored as files (AudioSource type "file") can be read lazily by the
corpus; other sources are skipped and counted. Relative source paths are taken from the current
folder, as lhotse does. `data/<name>/src` links to the folder that holds all the audio.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from ans.audio import atomic_write_text
from ans.errors import AnsError
from data_recipes.folders import measured_line
from data_recipes.manifest import ManifestWriter, Tally, assign_splits
from data_recipes.public import MissingSource, link_source, stream


def _lhotse():
    try:
        import lhotse
    except ImportError:
        raise AnsError("the lhotse importer needs lhotse: pip install 'lhotse>=1.24,<2' "
                       "(or make install: it is in the dev extra)") from None
    return lhotse


def _load(kind: str, path: str | None):
    if path is None:
        return None
    if not Path(path).is_file():
        raise MissingSource(f"{path}: no such lhotse manifest ({kind})")
    lhotse = _lhotse()
    cls = {"recordings": lhotse.RecordingSet, "supervisions": lhotse.SupervisionSet, "cuts": lhotse.CutSet}[kind]
    try:
        return cls.from_file(path)
    except Exception as e:  # lhotse raises many types for a malformed manifest
        raise AnsError(f"not a lhotse {kind} manifest ({type(e).__name__}: {str(e).splitlines()[0][:120]})",
                       path) from None


def _file_of(rec) -> Path | None:
    """The audio file of a single-file recording (None for URLs, commands, in-memory audio)."""
    if len(rec.sources) != 1 or rec.sources[0].type != "file":
        return None
    return Path(os.path.abspath(rec.sources[0].source))


def _speakers(supervisions: Iterable) -> dict[str, str]:
    counts: dict[str, Counter] = {}
    for s in supervisions:
        if s.speaker:
            counts.setdefault(s.recording_id, Counter())[str(s.speaker)] += 1
    return {rid: c.most_common(1)[0][0] for rid, c in counts.items()}


def _collect(recordings, speakers: dict[str, str]) -> tuple[list[tuple[Path, str | None]], int]:
    """[(audio file, speaker)] in manifest order (duplicates once) and the number skipped."""
    out, seen, skipped = [], set(), 0
    for rec in recordings:
        path = _file_of(rec)
        if path is None:
            skipped += 1
            continue
        if path not in seen:
            seen.add(path)
            out.append((path, speakers.get(rec.id)))
    return out, skipped


def build(out: Path, recordings: str | None = None, supervisions: str | None = None, cuts: str | None = None,
          noise_recordings: str | None = None, rir_recordings: str | None = None,
          name: str | None = None) -> dict:
    if not (recordings or cuts):
        raise MissingSource("lhotse needs --recordings R.jsonl.gz [--supervisions S.jsonl.gz] or --cuts C.jsonl.gz")
    name = name or out.name
    groups: dict[str, tuple[list[tuple[Path, str | None]], int]] = {}
    if cuts:
        cutset = list(_load("cuts", cuts))
        recs = [c.recording for c in cutset if getattr(c, "recording", None) is not None]
        spk = _speakers(s for c in cutset for s in c.supervisions)
        groups["speech"] = _collect(recs, spk)
    else:
        sups = _load("supervisions", supervisions)
        groups["speech"] = _collect(_load("recordings", recordings), _speakers(sups) if sups else {})
    for kind, path in (("noise", noise_recordings), ("rir", rir_recordings)):
        if path:
            groups[kind] = _collect(_load("recordings", path), {})
    every = [p for files, _ in groups.values() for p, _ in files]
    if not every:
        raise AnsError("no recording stored as a plain audio file in the lhotse manifests", recordings or cuts)
    common = Path(os.path.commonpath([str(p.parent) for p in every]))
    link = link_source(out, common)
    summary: dict = {"root": str(out), "src": str(common)}
    for kind, (files, skipped) in groups.items():
        if skipped:
            print(f"warning: lhotse {kind}: {skipped} recording(s) not stored as one plain file; skipped")
        keys = {p: f"{name}_{s}" if s else p.relative_to(common).as_posix() for p, s in files}
        split = assign_splits(keys.values(), salt=f"{name}-{kind}")
        linked = {link / p.relative_to(common): p for p, _ in files}

        def make(lp: Path, kind=kind, keys=keys, split=split, linked=linked) -> dict:
            key = keys[linked[lp]]
            return measured_line(out, lp, kind=kind, split=split[key], speaker=key if kind == "speech" else None,
                                 category="ordinary" if kind == "noise" else None,
                                 license="see the lhotse recipe's corpus", source=f"lhotse:{name}")
        tally = Tally()
        with ManifestWriter(out / f"{kind}.jsonl") as w:
            for line in stream(out, list(linked), f"lhotse {kind}", make):
                w.write(line)
                tally.add(line)
        summary[kind] = tally.as_dict()
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
