"""Training on pre-mixed noisy/clean pairs (`data=pairs`): VCTK-DEMAND, DNS sets with clean
references, your own recordings — alone or mixed with the on-the-fly simulator.

`pairs.jsonl` (what `python -m data_recipes vctk_demand` writes): one line per pair with
`noisy` and `clean` paths relative to the file's folder, and `split` (train/valid/test). When
no line is `valid`, a fixed 5 % of the train files (by a hash of the path, at least one) is held
out for validation, so a corpus that ships train and test only still validates on unseen files.

An item is a pure function of (seed, epoch, index), as the simulator's: the pair, the segment
offset and the simulation coin are drawn from `numpy.random.default_rng([seed, epoch, index])`.
A segment of `segment_seconds` is cut at the same offset from both files (shorter files are
zero-padded), resampled to 48 kHz, and returned in the simulator's batch format
(docs/contracts.md): noisy, clean, noise = noisy - clean; meta with the contract's keys
(category "pairs", snr_db measured on the segment). With `sim_prob` > 0 each item is a simulated
one with that probability (then `corpus_dir` must be a corpus with speech.jsonl).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ans.audio import read_audio
from ans.data.datamodule import VALID_EPOCH, SimDataModule, SimDataset
from ans.errors import AnsError
from ans.runtime.resample import resample
from ans.signal_spec import REFERENCE

log = logging.getLogger(__name__)
META_KEYS = ("snr_db", "category", "source_rate", "speech_id", "noise_id", "seed", "epoch", "index", "skipped")
VALID_FRACTION = 0.05
MAX_REDRAWS = 16


def read_pairs(path: str | Path) -> list[dict]:
    """Rows of a pairs.jsonl with absolute `noisy`/`clean` paths and a `split`."""
    import json

    path = Path(path)
    if not path.is_file():
        raise AnsError("pairs manifest not found (python -m data_recipes vctk_demand --src ... writes one)", path)
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            noisy, clean = row["noisy"], row["clean"]
        except (ValueError, KeyError, TypeError):
            raise AnsError(f"line {lineno}: not a pair (needs 'noisy' and 'clean')", path) from None
        rows.append({**row, "noisy": str(path.parent / noisy), "clean": str(path.parent / clean),
                     "split": row.get("split") or "train"})
    if not rows:
        raise AnsError("pairs manifest has no pairs", path)
    return rows


def rows_for_split(rows: list[dict], split: str) -> list[dict]:
    """The rows of one split; without `valid` rows, 5 % of train (by path hash) is valid."""
    from data_recipes.manifest import unit_hash

    if any(r["split"] == "valid" for r in rows) or split not in ("train", "valid"):
        return [r for r in rows if r["split"] == split]
    train = [r for r in rows if r["split"] == "train"]
    if len(train) < 2:
        return train
    held = {r["noisy"] for r in train if unit_hash(r["noisy"], "pairs-valid") < VALID_FRACTION}
    if not held:
        held = {min(train, key=lambda r: unit_hash(r["noisy"], "pairs-valid"))["noisy"]}
    return [r for r in train if (r["noisy"] in held) == (split == "valid")]


class PairDataset(Dataset):
    """Map-style: key (epoch, index) or a plain index (epoch = fixed_epoch), like SimDataset."""

    def __init__(self, pairs: str | Path, split: str, seed: int, segment_seconds: float, length: int,
                 fixed_epoch: int = VALID_EPOCH, sim: SimDataset | None = None, sim_prob: float = 0.0,
                 sample_rate: int = REFERENCE.sample_rate):
        self.rows = rows_for_split(read_pairs(pairs), split)
        if not self.rows:
            raise AnsError(f"no '{split}' pairs", pairs)
        self.pairs, self.split, self.seed = str(pairs), split, int(seed)
        self.rate = int(sample_rate)  # the model's
        self.n = int(round(segment_seconds * self.rate))
        self.length, self.fixed_epoch = int(length), int(fixed_epoch)
        self.sim, self.sim_prob = sim, float(sim_prob)
        if self.sim_prob > 0 and sim is None:
            raise AnsError("sim_prob > 0 needs a simulation corpus (data.corpus_dir with speech.jsonl)")

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple | list) else (self.fixed_epoch, key)
        rng = np.random.default_rng([self.seed, int(epoch) % (1 << 32), int(index)])
        if self.sim is not None and rng.random() < self.sim_prob:
            item = self.sim.simulator.item(self.seed, int(epoch), int(index))
            item["meta"] = {k: item["meta"][k] for k in META_KEYS}  # batches mix both kinds
            return item
        skipped = 0
        for _ in range(MAX_REDRAWS):
            row = self.rows[int(rng.integers(len(self.rows)))]
            try:
                noisy, clean, rate = self._segment(row, rng)
                break
            except AnsError as e:
                skipped += 1
                log.warning("skipping pair: %s", e)
        else:
            raise AnsError(f"{MAX_REDRAWS} unreadable pairs in a row", self.pairs)
        noise = noisy - clean
        ps, pn = float(np.sum(clean.astype(np.float64) ** 2)), float(np.sum(noise.astype(np.float64) ** 2))
        meta = {"snr_db": 10 * math.log10(ps / pn) if ps > 0 and pn > 0 else 100.0, "category": "pairs",
                "source_rate": int(row.get("source_rate") or rate), "speech_id": row["clean"],
                "noise_id": row["noisy"], "seed": self.seed, "epoch": int(epoch), "index": int(index),
                "skipped": skipped}
        clean_t = torch.from_numpy(clean)
        return {"noisy": clean_t + torch.from_numpy(noise), "clean": clean_t,
                "noise": torch.from_numpy(noise), "meta": meta}

    def _segment(self, row: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        """Same random segment of both files at the model's rate (exactly self.n samples)."""
        import soundfile as sf

        try:
            info_n, info_c = sf.info(row["noisy"]), sf.info(row["clean"])
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AnsError(f"not a readable audio file ({str(e).splitlines()[0] if str(e) else e})",
                           row["noisy"]) from None
        rate = int(info_n.samplerate)
        if int(info_c.samplerate) != rate:
            raise AnsError(f"clean file rate {info_c.samplerate} != noisy {rate}", row["clean"])
        total = min(info_n.frames, info_c.frames)
        need = math.ceil(self.n * rate / self.rate)
        start = int(rng.integers(0, total - need + 1)) if total > need else 0
        frames = min(need, total)
        x, _ = read_audio(row["noisy"], start=start, frames=frames)
        s, _ = read_audio(row["clean"], start=start, frames=frames)
        m = min(x.size, s.size)
        both = torch.from_numpy(resample(np.stack([x[:m], s[:m]]), rate, self.rate)[:, : self.n])
        both = torch.nn.functional.pad(both, (0, self.n - both.shape[-1]))
        out = both.numpy().astype(np.float32)
        return out[0], out[1], rate


class PairDataModule(SimDataModule):
    """SimDataModule whose datasets are PairDatasets (same loaders, sampler, DDP sharding)."""

    def __init__(self, pairs: str, sim_prob: float = 0.0, corpus_dir: str | None = None, **kwargs):
        kwargs.setdefault("build_toy", False)
        super().__init__(corpus_dir=corpus_dir or ".", **kwargs)
        self.pairs, self.sim_prob = str(pairs), float(sim_prob)
        self.segment_seconds = float(self.sim_cfg.segment_seconds)

    def prepare_data(self) -> None:
        if self.sim_prob > 0:
            super().prepare_data()

    def _dataset(self, split: str, seed: int, n: int) -> PairDataset:
        sim = super()._dataset(split, seed, n) if self.sim_prob > 0 else None
        return PairDataset(self.pairs, split, seed, self.segment_seconds, n, sim=sim, sim_prob=self.sim_prob,
                           sample_rate=self.sim_cfg.sample_rate)
