"""Plot what the howling simulator does: spectrogram of a talker before/after the feedback loop.

    .venv/bin/python scripts/plot_howling.py [--out docs/howling.png] [--seed 3]

Uses the toy corpus generator for a speech-like talker (no corpus needed).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ans.audio import SAMPLE_RATE, read_audio  # noqa: E402
from ans.data.noises import howl  # noqa: E402
from ans.data.toy_corpus import make_toy_corpus  # noqa: E402
from ans.runtime.resample import resample  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="docs/howling.png")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = make_toy_corpus(Path(tmp) / "toy", seed=args.seed)
        first = (root / "speech.jsonl").read_text().splitlines()[0]
        import json

        x, sr = read_audio(root / json.loads(first)["path"])
    x = resample(x, sr, SAMPLE_RATE).astype(np.float64)[: 4 * SAMPLE_RATE]
    y, params = howl(x, np.random.default_rng(args.seed))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    for ax, sig, title in ((axes[0], x, "talker"),
                           (axes[1], y, f"through the feedback loop (delay {params['delay_s'] * 1e3:.0f} ms, "
                                        f"loop gain x{params['loop_margin']:.2f} of instability)")):
        ax.specgram(sig, NFFT=1024, Fs=SAMPLE_RATE, noverlap=512, cmap="magma", vmin=-150)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylim(0, 8000)
    axes[0].set_ylabel("frequency (Hz)")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
