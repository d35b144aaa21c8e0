"""`python -m data_recipes dns_blind --src PATH`: index a DNS Challenge blind test set (noisy
clips, no clean references) for `python -m ans.eval test_set=dns_blind` (DNSMOS only).

Layout-agnostic: every wav/flac below --src is one test clip (the blind sets of the challenge
years differ: e.g. `blind_test_set/{synthetic,real_recordings}/...` or
`V5_BlindTestSet/{Track1_Headset,Track2_Speakerphone}/*.wav`); the first folder level below
--src becomes the report's category. Writes `data/dns_blind/test.jsonl` (rows: noisy, name,
category, split=test, duration, sample_rate) with `src` a symlink to --src.
"""

from __future__ import annotations

import json
from pathlib import Path

from ans.audio import atomic_write_text
from data_recipes.manifest import ManifestWriter, audio_line
from data_recipes.public import MissingSource, audio_files, link_source, stream

URL = "https://github.com/microsoft/DNS-Challenge (datasets/blind_test_set of each challenge)"


def build(src, out: Path, force: bool = False) -> dict:
    if src is None:
        raise MissingSource(f"dns_blind needs --src PATH, a DNS Challenge blind test set folder; get it from {URL}")
    root = Path(src).expanduser()
    if not root.is_dir():
        raise MissingSource(f"{root}: no such folder; dns_blind needs a blind test set folder ({URL})")
    link = link_source(out, root)
    files = audio_files(link)
    if not files:
        raise MissingSource(f"{root}: no wav/flac files; dns_blind needs a blind test set folder ({URL})")

    def make(p: Path) -> dict:
        rel = p.relative_to(link)
        line = audio_line(out, p, kind="speech", split="test", source="dns_blind")
        return {"noisy": line["path"], "name": rel.with_suffix("").as_posix(), "split": "test",
                "category": rel.parts[0] if len(rel.parts) > 1 else "all",
                "duration": line["duration"], "sample_rate": line["sample_rate"]}
    n = 0
    with ManifestWriter(out / "test.jsonl") as w:
        for line in stream(out, files, "dns_blind", make):
            w.write(line)
            n += 1
    summary = {"root": str(out), "src": str(root.resolve()), "test": {"files": n}}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
