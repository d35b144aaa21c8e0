"""Simulation throughput per worker: seconds of simulated audio per second of one CPU thread.

    python scripts/bench_sim.py [--seconds 10] [--corpus DIR]

`bench_simulator()` is imported by the main benchmark; without a corpus it builds the toy
corpus in a temporary folder. Target: >= 100x real time per dataloader worker.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # standalone: make `ans` importable from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from ans.data.corpus import Corpus  # noqa: E402
from ans.data.simulate import Simulator  # noqa: E402
from ans.data.toy_corpus import make_toy_corpus  # noqa: E402


def bench_simulator(seconds: float = 10.0, corpus_dir: str | None = None, seed: int = 0,
                    simulation: dict | None = None, threads: int = 1) -> dict:
    """Simulate items for about `seconds` of wall time in this process (one worker's view).

    Returns {"items", "audio_s", "wall_s", "x_realtime", "ms_per_item", "per_category_ms",
    "threads", "corpus"}.
    """
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    tmp = None
    try:
        if corpus_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="ans-bench-")
            corpus_dir = str(make_toy_corpus(Path(tmp.name) / "toy", seed=0))
        sim = Simulator(Corpus(corpus_dir), simulation, "train")
        sim.item(seed, 0, 0)  # warm up (imports, file cache)
        items, per_cat = 0, {}
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds or items < 10:
            t = time.perf_counter()
            cat = sim.item(seed, 1, items)["meta"]["category"]
            per_cat.setdefault(cat, []).append(time.perf_counter() - t)
            items += 1
        wall = time.perf_counter() - t0
    finally:
        torch.set_num_threads(old_threads)
        if tmp is not None:
            tmp.cleanup()
    audio = items * sim.cfg.segment_seconds
    return {"items": items, "audio_s": audio, "wall_s": wall, "x_realtime": audio / wall,
            "ms_per_item": 1e3 * wall / items,
            "per_category_ms": {k: 1e3 * sum(v) / len(v) for k, v in sorted(per_cat.items())},
            "threads": threads, "corpus": "toy (temporary)" if tmp is not None else str(corpus_dir)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--corpus", default=None, help="corpus folder (default: a temporary toy corpus)")
    args = ap.parse_args(argv)
    r = bench_simulator(args.seconds, args.corpus)
    cats = ", ".join(f"{k} {v:.1f} ms" for k, v in r["per_category_ms"].items())
    print(f"simulator: {r['x_realtime']:.0f}x real time per worker ({r['items']} items, "
          f"{r['ms_per_item']:.1f} ms/item, 1 thread, {r['corpus']}; {cats})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
