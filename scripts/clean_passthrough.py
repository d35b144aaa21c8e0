"""Do no harm: how much of each band of *clean* full-band speech a model keeps.

    python scripts/clean_passthrough.py MODEL.pt [MODEL.pt ...] [--clean data/dev_heldout/clean]

A noise suppressor given clean speech should pass it: per band (0-1, 1-2, 2-4, 4-8, 8-12,
12-16 kHz) the enhanced/clean energy ratio over the files' active frames, in dB (0 = kept,
-20 = removed). The default input is the clean side of the dev held-out set: talkers no
training run has heard. Prints a markdown table; `--json` also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # standalone: make `ans` importable from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from ans.audio import read_audio  # noqa: E402
from ans.metrics import band_energy_db  # noqa: E402

BANDS = ((0, 1000), (1000, 2000), (2000, 4000), (4000, 8000), (8000, 12000), (12000, 16000))


def passthrough(model_path: str, files: list[Path]) -> dict[str, float]:
    """Mean over files of the kept energy per band (dB)."""
    from ans.enhance import Enhancer

    enh = Enhancer.from_checkpoint(model_path)
    per_band: dict[str, list[float]] = {f"{lo / 1000:g}-{hi / 1000:g} kHz": [] for lo, hi in BANDS}
    for f in files:
        x, sr = read_audio(f)
        y = enh.enhance(x, sr)
        for (lo, hi), key in zip(BANDS, per_band):
            v = band_energy_db(x, y, sr, band=(float(max(lo, 1)), float(hi)))
            if np.isfinite(v):
                per_band[key].append(v)
    return {k: float(np.mean(v)) if v else float("nan") for k, v in per_band.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--clean", default="data/dev_heldout/clean")
    ap.add_argument("--json", default=None, help="also write the numbers to this file")
    args = ap.parse_args(argv)
    files = sorted(Path(args.clean).glob("*.wav"))
    if not files:
        print(f"{args.clean}: no wav files (build the set: python scripts/make_test_set.py --profile dev_heldout)",
              file=sys.stderr)
        return 1
    rows = {m: passthrough(m, files) for m in args.models}
    keys = list(next(iter(rows.values())))
    print(f"clean speech kept per band (dB, mean of {len(files)} files of {args.clean})\n")
    print("| model | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for m, r in rows.items():
        print(f"| {m} | " + " | ".join(f"{r[k]:+.1f}" for k in keys) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
