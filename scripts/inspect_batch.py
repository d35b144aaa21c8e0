"""Write a few simulated mixtures as wav plus a PNG grid of spectrograms to look and listen.

    python scripts/inspect_batch.py OUT_DIR [--corpus DIR] [--per-category 2] [--seed 0]

Without --corpus the toy corpus is built in OUT_DIR/toy. For every noise category the
first items drawn with that category are kept; OUT_DIR gets <category>_<k>_{noisy,clean,
noise}.wav and spectrograms.png (rows: items; columns: noisy, clean).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ans.audio import write_audio  # noqa: E402
from ans.data.corpus import Corpus  # noqa: E402
from ans.data.simulate import SAMPLE_RATE, Simulator  # noqa: E402
from ans.data.toy_corpus import make_toy_corpus  # noqa: E402


def pick_items(sim: Simulator, seed: int, per_category: int, max_index: int = 2000) -> list[dict]:
    """First `per_category` indices of each category (decisions only), then simulated."""
    cats, _ = sim.cfg.category_table()
    want = {c: per_category for c in cats if sim.cfg.category_mix[c] > 0}
    keep = []
    for i in range(max_index):
        c = sim.decisions(seed, 0, i).category
        if want.get(c, 0) > 0:
            want[c] -= 1
            keep.append(i)
        if not any(want.values()):
            break
    return [sim.item(seed, 0, i) for i in keep]


def _spec_db(x: np.ndarray, nfft: int = 1024, hop: int = 256) -> np.ndarray:
    win = np.hanning(nfft)
    frames = np.lib.stride_tricks.sliding_window_view(x, nfft)[::hop] * win
    p = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return 10 * np.log10(p.T + 1e-12)


def inspect(out_dir: str | Path, corpus_dir: str | Path | None = None, per_category: int = 2,
            seed: int = 0, split: str = "train") -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if corpus_dir is None:
        corpus_dir = out / "toy"
        if not (corpus_dir / "speech.jsonl").is_file():
            make_toy_corpus(corpus_dir)
    sim = Simulator(Corpus(corpus_dir), None, split)
    items = pick_items(sim, seed, per_category)
    fig, axes = plt.subplots(len(items), 2, figsize=(12, 2.2 * len(items)), squeeze=False)
    counts: dict[str, int] = {}
    for row, it in enumerate(items):
        m = it["meta"]
        k = counts[m["category"]] = counts.get(m["category"], -1) + 1
        stem = f"{m['category']}_{k}"
        for key in ("noisy", "clean", "noise"):
            write_audio(out / f"{stem}_{key}.wav", it[key].numpy(), SAMPLE_RATE)
        for col, key in enumerate(("noisy", "clean")):
            ax = axes[row, col]
            s = _spec_db(it[key].numpy())
            ax.imshow(s, origin="lower", aspect="auto", cmap="magma", vmin=s.max() - 90, vmax=s.max(),
                      extent=(0, it[key].numel() / SAMPLE_RATE, 0, SAMPLE_RATE / 2000))
            ax.set_title(f"{stem} {key}: SNR {m['snr_db']:.1f} dB, band {m['source_rate']} Hz",
                         fontsize=8)
            ax.set_ylabel("kHz", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    png = out / "spectrograms.png"
    fig.savefig(png, dpi=80)
    plt.close(fig)
    return png


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--per-category", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="train")
    a = ap.parse_args(argv)
    png = inspect(a.out_dir, a.corpus, a.per_category, a.seed, a.split)
    print(f"wrote mixtures and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
