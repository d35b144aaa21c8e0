"""Scale check: a 100 k-file corpus tree -> streamed manifests -> index -> 10 k simulated mixtures.

    python scripts/scale_check.py [--files 100000] [--mixtures 10000] [--work DIR] [--keep] [--json OUT]

Builds a fake DNS5-layout tree (`datasets_fullband/{clean_fullband/read_speech,
noise_fullband, impulse_responses/SLR26/...}`) of small real wav files (90 % speech of 2 000
`reader_NNNNN` speakers, 9 % noise, 1 % RIRs; 0.5 s at 16 kHz, each file different), runs
the project's own `dns5` recipe on it (data_recipes: streamed manifest writing, header-only
`soundfile.info`), indexes it with `ans.data.corpus.Corpus` and draws mixtures with
`ans.data.simulate.Simulator` (default SimConfig, one thread, as one dataloader worker).

Writing the tree is timed; when the first 2 000 files project to more than `--max-write-s`
(default 180 s) for the whole tree, the rest are hard links to the distinct files written so
far (still a real N-file tree for the recipe, which opens every file's header).

Reports (stdout, and --json) the wall time of each stage, mixtures per second and the
process's memory: VmRSS after each stage and VmHWM (peak RSS) — the target is < 1 GB peak.
Exit code 1 when the peak is over `--limit-mb` (default 1024).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # standalone: make `ans` / `data_recipes` importable from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

SR = 16_000
SECONDS = 0.5
N_SPEAKERS = 2_000


def mem_mb() -> dict[str, float]:
    """VmRSS and VmHWM (peak) of this process in MB, from /proc/self/status."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, val = line.split(":", 1)
                out[key.lower()] = round(int(val.split()[0]) / 1024, 1)
    return {"rss_mb": out.get("vmrss", float("nan")), "peak_mb": out.get("vmhwm", float("nan"))}


def _layout(n_files: int) -> list[tuple[str, str]]:
    """(relative path, kind) of every file, in writing order."""
    n_rir = max(1, n_files // 100)
    n_noise = max(1, n_files * 9 // 100)
    n_speech = n_files - n_rir - n_noise
    n_spk = max(3, min(N_SPEAKERS, n_speech // 10))
    out = []
    for i in range(n_speech):
        spk = i % n_spk
        out.append((f"clean_fullband/read_speech/book_{i // 100:05d}_chp_0001_reader_{spk:05d}_{i}.wav",
                    "speech"))
    out += [(f"noise_fullband/noise_{i:06d}.wav", "noise") for i in range(n_noise)]
    out += [(f"impulse_responses/SLR26/simulated_rirs_48k/room{i % 50:03d}/rir_{i:05d}.wav", "rir")
            for i in range(n_rir)]
    return out


def _signals(seed: int = 0) -> dict[str, np.ndarray]:
    """Base signals; every file is a different circular shift / gain of one of them."""
    rng = np.random.default_rng(seed)
    n = int(SR * SECONDS)
    t = np.arange(4 * n) / SR
    env = 0.5 * (1 + np.sin(2 * np.pi * 4.0 * t)) ** 2  # syllable-rate bursts: speech-active
    speech = (rng.standard_normal(t.size) * env * 0.1).astype(np.float32)
    noise = (rng.standard_normal(t.size) * 0.05).astype(np.float32)
    rir = np.zeros(n // 2, np.float32)
    rir[0] = 1.0
    rir[1:] = rng.standard_normal(rir.size - 1) * np.exp(-np.arange(1, rir.size) / 400.0) * 0.3
    return {"speech": speech, "noise": noise, "rir": rir}


def write_tree(root: Path, n_files: int, max_write_s: float = 180.0, probe: int = 2_000) -> dict:
    """Write the fake DNS5 tree under root/datasets_fullband; returns timing and mode."""
    base = root / "datasets_fullband"
    sigs = _signals()
    n = int(SR * SECONDS)
    files = _layout(n_files)
    for d in sorted({os.path.dirname(p) for p, _ in files}):
        (base / d).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    distinct, mode = 0, "distinct files"
    pool: dict[str, list[Path]] = {"speech": [], "noise": [], "rir": []}
    for i, (rel, kind) in enumerate(files):
        path = base / rel
        if mode == "distinct files":
            s = sigs[kind]
            x = s if kind == "rir" else np.roll(s, (i * 7919) % s.size)[:n] * (0.5 + (i % 97) / 97)
            buf = io.BytesIO()  # libsndfile writing to a path does many small writes: 15x slower
            sf.write(buf, x, SR if kind != "rir" else 8_000, subtype="PCM_16", format="WAV")
            path.write_bytes(buf.getvalue())
            pool[kind].append(path)
            distinct += 1
            if i + 1 == probe and n_files > probe:
                projected = (time.perf_counter() - t0) * n_files / probe
                if projected > max_write_s:
                    mode = f"hard links (projected {projected:.0f} s for {n_files} distinct files)"
        else:
            src = pool[kind] or [p for v in pool.values() for p in v]
            os.link(src[i % len(src)], path)
    wall = time.perf_counter() - t0
    return {"files": len(files), "distinct_files": distinct, "mode": mode, "write_s": round(wall, 1),
            "files_per_s": round(len(files) / wall, 1)}


def run(n_files: int = 100_000, n_mix: int = 10_000, work: str | None = None, keep: bool = False,
        max_write_s: float = 180.0, seed: int = 0) -> dict:
    """The whole check in this process; returns the report dict."""
    import torch

    from ans.data.corpus import Corpus
    from ans.data.simulate import Simulator
    from data_recipes.corpora import dns5

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="ans-scale-", dir=work))
    report: dict = {"files_requested": n_files, "mixtures": n_mix, "work": str(tmp),
                    "after_imports": mem_mb()}
    try:
        report["tree"] = write_tree(tmp / "src", n_files, max_write_s) | mem_mb()
        t0 = time.perf_counter()
        summary = dns5(tmp / "src", tmp / "corpus")
        report["manifest"] = {"build_s": round(time.perf_counter() - t0, 1),
                              "speech_lines": summary["speech"]["files"],
                              "noise_lines": summary["noise"]["files"],
                              "rir_lines": summary["rir"]["files"],
                              "speakers": summary["speech"].get("speakers"),
                              "jsonl_mb": round(sum(p.stat().st_size for p in (tmp / "corpus").glob("*.jsonl")) / 1e6, 1)
                              } | mem_mb()
        t0 = time.perf_counter()
        corpus = Corpus(tmp / "corpus")
        lines = len(corpus.speech) + len(corpus.noise or ()) + len(corpus.rir or ())
        report["index"] = {"index_s": round(time.perf_counter() - t0, 2), "entries": lines,
                           "bad_lines": corpus.speech.bad_lines} | mem_mb()
        t0 = time.perf_counter()
        sim = Simulator(corpus, None, "train")
        report["index"]["simulator_init_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        cats: dict[str, int] = {}
        for i in range(n_mix):
            item = sim.item(seed, 0, i)
            if i % 97 == 0 and not torch.isfinite(item["noisy"]).all():
                raise RuntimeError(f"non-finite mixture at index {i}")
            cats[item["meta"]["category"]] = cats.get(item["meta"]["category"], 0) + 1
        wall = time.perf_counter() - t0
        report["draw"] = {"draw_s": round(wall, 1), "mixtures_per_s": round(n_mix / wall, 1),
                          "x_realtime": round(n_mix * sim.cfg.segment_seconds / wall, 1),
                          "segment_s": sim.cfg.segment_seconds, "per_category": cats,
                          "skipped_reads": corpus.skipped} | mem_mb()
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    report["peak_rss_mb"] = mem_mb()["peak_mb"]
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--mixtures", type=int, default=10_000)
    ap.add_argument("--work", default=None, help="parent folder for the temporary tree (default: $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the tree and manifests")
    ap.add_argument("--max-write-s", type=float, default=180.0, help="switch to hard links above this")
    ap.add_argument("--limit-mb", type=float, default=1024.0)
    ap.add_argument("--json", default=None, help="also write the report here")
    args = ap.parse_args(argv)
    report = run(args.files, args.mixtures, args.work, args.keep, args.max_write_s)
    report["limit_mb"] = args.limit_mb
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    ok = report["peak_rss_mb"] < args.limit_mb
    print(f"peak RSS {report['peak_rss_mb']} MB ({'under' if ok else 'OVER'} {args.limit_mb:.0f} MB)",
          file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
