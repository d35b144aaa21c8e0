"""Write a frozen evaluation set from one split of a corpus: the demo test set or the dev held-out set.

    python scripts/make_test_set.py [--corpus data/demo] [--out data/demo_test] [-n 48] [--force]
    python scripts/make_test_set.py --profile dev_heldout       # -> data/dev_heldout
    (the same: python -m ans.eval.test_set ...; `python -m ans.eval` builds the demo set when missing)

Profiles (PROFILES): `demo_test` — the TEST split, 4 categories x SNR bands 0-10/10-25/25-40 dB x
source rates 48k/44.1k/16k/8k (below); `dev_heldout` — the HELDOUT split (whole talkers and whole
noise packages no training run sees, data_recipes/demo_sources.py), real full-band talkers at
48 kHz, 4 categories x SNR bands 0-5/5-10/10-20 dB.

The test split holds speakers and noise files that training never sees (docs/contracts.md).
Items are stratified, not drawn by the training mix: item i gets

    category = CATEGORIES[i % 4]                ordinary, babble, howling, ring
    SNR band = SNR_BANDS[i % 3]                 0-10, 10-25, 25-40 dB, SNR uniform in the band
    rate     = SOURCE_RATES[(i + i // 12) % 4]  drawn source rate 48k, 44.1k, 16k, 8k
    (the three tuples: ans.data.simconfig, shared with the training mix)

so every 48 consecutive items hold each (category, band, rate) combination exactly once and
every marginal is covered after 4 items. The simulator then makes the item with a mix that
holds only that choice (`Simulator(...).item(seed, attempt, i)`), and a length of 4-6 s.
`source_rate` in metadata.csv is the bandwidth actually obtained: min(drawn rate, the source
rate of the speech file). When a drawn rate is not reached although the split has speech that
reaches it, the item is redrawn with the next `attempt` (up to 8; the attempt is recorded as `epoch`).

Output (48 kHz mono, 32-bit FLOAT wav: no quantisation of low-level or quiet-band material):
`noisy/NAME.wav`, `clean/NAME.wav`, `metadata.csv` (written last) and `test_set.json` (the
parameters). Re-running with the same parameters skips a complete set; `--force` rebuilds.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from ans.audio import atomic_write_text, write_audio
from ans.config import CONFIG_DIR, REPO_ROOT
from ans.data.corpus import Corpus
from ans.data.simconfig import CATEGORIES, SNR_BANDS, SOURCE_RATES, SimConfig, snr_band_label
from ans.data.simulate import Simulator
from ans.errors import AnsError
from ans.signal_spec import REFERENCE

PROFILES = {
    # the demo test set keeps wave 1's conditions (no room, EQ or microphone low-pass), so its
    # numbers stay comparable across corpus versions
    "demo_test": {"split": "test", "bands": SNR_BANDS, "rates": SOURCE_RATES, "suffix": "_test",
                  "sim": {"reverb_prob": 0.0, "eq_prob": 0.0, "mic_lowpass_prob": 0.0}},
    # real rooms and colours, but never a band-limited microphone: the set measures the high band
    "dev_heldout": {"split": "heldout", "bands": ((0.0, 5.0), (5.0, 10.0), (10.0, 20.0)),
                    "rates": (48_000,), "out": "dev_heldout", "sim": {"mic_lowpass_prob": 0.0}},
}
FIELDS = ("name", "category", "snr_db", "snr_band", "source_rate", "rate_drawn", "duration_s",
          "speech_id", "noise_id", "seed", "epoch", "index")
MAX_ATTEMPTS = 8
SAMPLE_RATE = REFERENCE.sample_rate  # the shipped models' rate (ans.signal_spec)


def plan(i: int, bands=SNR_BANDS, rates=SOURCE_RATES) -> tuple[str, tuple[float, float], int]:
    """(category, SNR band, drawn rate) of item i (see the module docstring)."""
    return CATEGORIES[i % len(CATEGORIES)], bands[i % len(bands)], rates[(i + i // 12) % len(rates)]


def item_seconds(seed: int, i: int, lo: float = 4.0, hi: float = 6.0) -> float:
    """Deterministic item length in [lo, hi] s, a whole number of 10 ms."""
    u = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(i), 0x7E57]).uniform(lo, hi)
    return round(float(u), 2)


def default_simulation() -> dict:
    """The `simulation` block of configs/data/demo.yaml (the training recipe's non-mix settings)."""
    from omegaconf import OmegaConf

    path = CONFIG_DIR / "data" / "demo.yaml"
    if path.is_file():
        sim = OmegaConf.load(path).get("simulation")
        if sim is not None:
            return OmegaConf.to_container(sim, resolve=True)
    return {}


def _params(corpus: Path, n_items: int, seed: int, min_s: float, max_s: float,
            profile: str = "demo_test") -> dict:
    prof = PROFILES[profile]
    return {"corpus": str(corpus), "split": prof["split"], "n_items": int(n_items), "seed": int(seed),
            "seconds": [float(min_s), float(max_s)], "sample_rate": SAMPLE_RATE, "subtype": "FLOAT",
            "categories": list(CATEGORIES), "snr_bands": [list(b) for b in prof["bands"]],
            "rates": list(prof["rates"])}


def is_complete(out: Path, params: dict | None = None) -> bool:
    """metadata.csv lists params['n_items'] items whose noisy and clean wavs exist."""
    meta = out / "metadata.csv"
    if not meta.is_file():
        return False
    if params is not None:
        try:
            old = json.loads((out / "test_set.json").read_text())
        except (OSError, ValueError):
            return False
        if {k: old.get(k) for k in params if k != "corpus"} != {k: v for k, v in params.items() if k != "corpus"}:
            return False
    rows = read_metadata(out)
    if params is not None and len(rows) != params["n_items"]:
        return False
    return all((out / sub / f"{r['name']}.wav").is_file() for r in rows for sub in ("noisy", "clean"))


def read_metadata(out: Path) -> list[dict]:
    with open(Path(out) / "metadata.csv", newline="") as f:
        return list(csv.DictReader(f))


def _simulate(corpus: Corpus, base: dict, i: int, seed: int, seconds: float, reachable: int,
              prof: dict) -> dict:
    cat, (lo, hi), rate = plan(i, prof["bands"], prof["rates"])
    sim_cfg = dict(base, segment_seconds=seconds, rate_mix={rate: 1.0}, category_mix={cat: 1.0},
                   snr_bands=[[lo, hi, 1.0]])
    sim_cfg.update(prof.get("sim", {}))
    sim = Simulator(corpus, SimConfig.from_dict(sim_cfg), prof["split"])
    best = None
    for attempt in range(MAX_ATTEMPTS):
        item = sim.item(seed, attempt, i)
        got = int(item["meta"]["source_rate"])
        if best is None or got > int(best["meta"]["source_rate"]):
            best = item
        if got >= min(rate, reachable):
            break
    return best


def make_test_set(corpus_dir: str | Path = "data/demo", out_dir: str | Path | None = None,
                  n_items: int = 48, seed: int = 20_240_601, min_s: float = 4.0, max_s: float = 6.0,
                  force: bool = False, simulation: dict | None = None, progress: bool = True,
                  profile: str = "demo_test") -> Path:
    """Write the stratified set of `corpus_dir` (the profile's split) to `out_dir` and return it.

    Default `out_dir`: data/<corpus name>_test (demo_test) or data/dev_heldout next to the
    corpus. Skips a complete set made with the same parameters unless `force`; refuses to mix
    parameters into an existing set.
    """
    if profile not in PROFILES:
        raise AnsError(f"unknown test-set profile {profile!r}; choose from {sorted(PROFILES)}")
    prof = PROFILES[profile]
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_absolute() and not corpus_dir.exists():
        corpus_dir = REPO_ROOT / corpus_dir
    out = Path(out_dir) if out_dir is not None else default_out(corpus_dir, profile)
    if n_items < 1:
        raise AnsError(f"n_items must be >= 1, got {n_items}")
    params = _params(corpus_dir, n_items, seed, min_s, max_s, profile)
    if not force and is_complete(out, params):
        return out
    if force and out.exists():
        for sub in ("noisy", "clean"):
            shutil.rmtree(out / sub, ignore_errors=True)
        for f in ("metadata.csv", "test_set.json"):
            (out / f).unlink(missing_ok=True)
    elif (out / "test_set.json").is_file() and not is_complete(out, params):
        old = json.loads((out / "test_set.json").read_text())
        if any(old.get(k) != v for k, v in params.items() if k != "corpus"):
            raise AnsError("a test set with other parameters exists here (pass --force to rebuild)", out)
    corpus = Corpus(corpus_dir)
    test_speech = corpus.speech.select(split=prof["split"])
    if test_speech.size == 0:
        raise AnsError(f"corpus has no {prof['split']}-split speech", corpus.speech.path)
    reachable = int(np.minimum(corpus.speech.source_rate[test_speech],
                               corpus.speech.sample_rate[test_speech]).max())
    base = dict(default_simulation() if simulation is None else simulation)
    (out / "noisy").mkdir(parents=True, exist_ok=True)
    (out / "clean").mkdir(parents=True, exist_ok=True)
    rows = []
    from tqdm import tqdm

    for i in tqdm(range(n_items), desc="test set", unit="item", disable=not progress or None):
        cat, (lo, hi), rate = plan(i, prof["bands"], prof["rates"])
        seconds = item_seconds(seed, i, min_s, max_s)
        item = _simulate(corpus, base, i, seed, seconds, reachable, prof)
        meta = item["meta"]
        name = f"t{i:04d}_{cat}_{lo:g}-{hi:g}dB_{rate / 1000:g}k"
        write_audio(out / "noisy" / f"{name}.wav", item["noisy"].numpy(), SAMPLE_RATE, subtype="FLOAT")
        write_audio(out / "clean" / f"{name}.wav", item["clean"].numpy(), SAMPLE_RATE, subtype="FLOAT")
        rows.append({"name": name, "category": meta["category"], "snr_db": f"{meta['snr_db']:.3f}",
                     "snr_band": snr_band_label(lo, hi), "source_rate": int(meta["source_rate"]),
                     "rate_drawn": rate, "duration_s": f"{item['noisy'].numel() / SAMPLE_RATE:.3f}",
                     "speech_id": meta["speech_id"], "noise_id": meta["noise_id"], "seed": meta["seed"],
                     "epoch": meta["epoch"], "index": meta["index"]})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    params["reachable_source_rate"] = reachable
    atomic_write_text(out / "test_set.json", json.dumps(params, indent=2) + "\n")
    atomic_write_text(out / "metadata.csv", buf.getvalue())  # last: marks the set complete
    return out


def default_out(corpus_dir: Path, profile: str) -> Path:
    prof = PROFILES[profile]
    return corpus_dir.parent / (prof["out"] if "out" in prof else f"{corpus_dir.name}{prof['suffix']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="data/demo", help="corpus folder (default data/demo)")
    ap.add_argument("--out", default=None, help="output folder (default data/<corpus>_test)")
    ap.add_argument("-n", "--items", type=int, default=48)
    ap.add_argument("--seed", type=int, default=20_240_601)
    ap.add_argument("--min-seconds", type=float, default=4.0)
    ap.add_argument("--max-seconds", type=float, default=6.0)
    ap.add_argument("--force", action="store_true", help="rebuild even if complete")
    ap.add_argument("--profile", default="demo_test", choices=sorted(PROFILES))
    args = ap.parse_args(argv)
    try:
        corpus = Path(args.corpus)
        out = Path(args.out) if args.out else None
        target = out or default_out(corpus, args.profile)
        params = _params(corpus if corpus.is_absolute() or corpus.exists() else REPO_ROOT / corpus,
                         args.items, args.seed, args.min_seconds, args.max_seconds, args.profile)
        if not args.force and is_complete(target, params):
            print(f"test set complete, skipped: {target} (--force to rebuild)")
            return 0
        out = make_test_set(corpus, out, args.items, args.seed, args.min_seconds, args.max_seconds,
                            force=args.force, profile=args.profile)
    except AnsError as e:
        print(str(e), file=sys.stderr)
        return 1
    rows = read_metadata(out)
    cats = sorted({r["category"] for r in rows})
    rates = sorted({int(r["source_rate"]) for r in rows})
    print(f"wrote {len(rows)} items to {out} (categories {cats}, source rates {rates})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
