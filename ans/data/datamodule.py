"""LightningDataModule over the on-the-fly simulator (batch format: docs/contracts.md).

- train: `EpochIndexSampler` yields (epoch, index) pairs; Lightning calls its `set_epoch`.
  It subclasses DistributedSampler so Lightning does not wrap it again under DDP, and
  shards the epoch's indices by rank (index = rank, rank + world, ...), so ranks draw
  different items. Items are pure functions of (seed, epoch, index): reproducible, and
  different across dataloader workers (each worker gets different indices) and epochs.
- valid: `valid_items` fixed items of the valid split (seed + 1, epoch VALID_EPOCH).
- test: `test_dataset(n)` / `test_dataloader()` likewise for the test split (seed + 2).
- skipped (unreadable) corpus files: every item reports how many reads it had to redraw
  (`meta['skipped']`); `on_after_batch_transfer` sums them in the main process into
  `skipped_files` (a LightningModule can log `trainer.datamodule.skipped_files`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ans.data.corpus import Corpus
from ans.data.simconfig import SimConfig
from ans.data.simulate import Simulator

log = logging.getLogger(__name__)
VALID_EPOCH = 1_000_003  # fixed epoch of the validation / test items


class SimDataset(Dataset):
    """Map-style dataset: key (epoch, index) or a plain index (epoch = fixed_epoch)."""

    def __init__(self, corpus_dir: str | Path, split: str, seed: int, cfg: SimConfig,
                 length: int, fixed_epoch: int = VALID_EPOCH):
        self.corpus_dir, self.split, self.seed, self.cfg = str(corpus_dir), split, int(seed), cfg
        self.length, self.fixed_epoch = int(length), int(fixed_epoch)
        self._sim: Simulator | None = None
        self.simulator  # noqa: B018 -- fail early (missing corpus, empty split) in the caller

    @property
    def simulator(self) -> Simulator:
        if self._sim is None:
            self._sim = Simulator(Corpus(self.corpus_dir), self.cfg, self.split)
        return self._sim

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple | list) else (self.fixed_epoch, key)
        return self.simulator.item(self.seed, int(epoch), int(index))


class EpochIndexSampler(DistributedSampler):
    """Yields (epoch, index) for this rank's share of `num_items` items per epoch."""

    def __init__(self, num_items: int, num_replicas: int | None = None, rank: int | None = None):
        if num_replicas is None or rank is None:
            on = dist.is_available() and dist.is_initialized()
            num_replicas = num_replicas if num_replicas is not None else (dist.get_world_size() if on else 1)
            rank = rank if rank is not None else (dist.get_rank() if on else 0)
        # no super().__init__: it would need a dataset; set what DistributedSampler exposes
        self.num_items, self.num_replicas, self.rank = int(num_items), int(num_replicas), int(rank)
        self.epoch, self.shuffle, self.drop_last, self.seed = 0, False, False, 0
        self.num_samples = math.ceil(self.num_items / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for k in range(self.num_samples):
            yield (self.epoch, self.rank + k * self.num_replicas)

    def __len__(self) -> int:
        return self.num_samples


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack waveforms (B, N); meta becomes a dict of tensors (numbers) or lists (strings)."""
    out: dict[str, Any] = {k: torch.stack([it[k] for it in items]) for k in ("noisy", "clean", "noise")}
    meta: dict[str, Any] = {}
    for k in items[0]["meta"]:
        vals = [it["meta"][k] for it in items]
        if all(isinstance(v, bool | int) for v in vals):
            meta[k] = torch.tensor(vals, dtype=torch.int64)
        elif all(isinstance(v, int | float) for v in vals):
            meta[k] = torch.tensor(vals, dtype=torch.float64)
        else:
            meta[k] = vals
    out["meta"] = meta
    return out


class SimDataModule(pl.LightningDataModule):
    def __init__(self, corpus_dir: str, seed: int = 0, segment_seconds: float = 4.0,
                 batch_size: int = 8, num_workers: int = 0, train_items_per_epoch: int = 1000,
                 valid_items: int = 64, test_items: int = 64, simulation: dict | None = None,
                 pin_memory: bool = False, build_toy: bool = False, persistent_workers: bool = True,
                 prefetch_factor: int | None = None, sample_rate: int | None = None):
        super().__init__()
        self.corpus_dir = Path(corpus_dir)
        self.seed, self.batch_size, self.num_workers = int(seed), int(batch_size), int(num_workers)
        self.train_items, self.valid_items, self.test_items = (int(train_items_per_epoch),
                                                               int(valid_items), int(test_items))
        sim = dict(simulation or {})
        sim["segment_seconds"] = float(segment_seconds)
        if sample_rate is not None:  # the model's rate (configs/data: ${features.spec.sample_rate})
            sim["sample_rate"] = int(sample_rate)
        self.sim_cfg = SimConfig.from_dict(sim)
        self.pin_memory, self.build_toy = bool(pin_memory), bool(build_toy)
        self.persistent_workers, self.prefetch_factor = bool(persistent_workers), prefetch_factor
        self.skipped_files = 0
        self._sets: dict[str, SimDataset] = {}

    # -- setup ---------------------------------------------------------------------------
    def prepare_data(self) -> None:
        if self.build_toy and not (self.corpus_dir / "speech.jsonl").is_file():
            from ans.data.toy_corpus import make_toy_corpus

            log.info("building the toy corpus in %s", self.corpus_dir)
            make_toy_corpus(self.corpus_dir, seed=0)

    def setup(self, stage: str | None = None) -> None:
        self.prepare_data()  # idempotent; also covers single-process use without a Trainer
        if stage in (None, "fit"):
            self._sets.setdefault("train", self._dataset("train", self.seed, self.train_items))
        if stage in (None, "fit", "validate"):
            self._sets.setdefault("valid", self._dataset("valid", self.seed + 1, self.valid_items))
        if stage in (None, "test"):
            self._sets.setdefault("test", self.test_dataset(self.test_items))

    def _dataset(self, split: str, seed: int, n: int) -> SimDataset:
        return SimDataset(self.corpus_dir, split, seed, self.sim_cfg, n)

    def test_dataset(self, n_items: int | None = None) -> SimDataset:
        """Fixed seeded items of the test split (seed + 2)."""
        return self._dataset("test", self.seed + 2, self.test_items if n_items is None else n_items)

    # -- loaders ---------------------------------------------------------------------------
    def _loader(self, ds: SimDataset, sampler=None) -> DataLoader:
        kw: dict[str, Any] = {}
        if self.num_workers > 0:
            kw["persistent_workers"] = self.persistent_workers
            if self.prefetch_factor is not None:
                kw["prefetch_factor"] = self.prefetch_factor
        return DataLoader(ds, batch_size=self.batch_size, sampler=sampler, shuffle=False,
                          num_workers=self.num_workers, collate_fn=collate,
                          pin_memory=self.pin_memory, drop_last=False, **kw)

    def train_dataloader(self) -> DataLoader:
        if "train" not in self._sets:
            self.setup("fit")
        return self._loader(self._sets["train"], EpochIndexSampler(self.train_items))

    def val_dataloader(self) -> DataLoader:
        if "valid" not in self._sets:
            self.setup("validate")
        return self._loader(self._sets["valid"])

    def test_dataloader(self) -> DataLoader:
        if "test" not in self._sets:
            self.setup("test")
        return self._loader(self._sets["test"])

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        skipped = batch.get("meta", {}).get("skipped") if isinstance(batch, dict) else None
        if skipped is not None:
            n = int(skipped.sum()) if torch.is_tensor(skipped) else int(sum(skipped))
            if n:
                log.warning("%d unreadable corpus file read(s) skipped in this batch", n)
            self.skipped_files += n
        return batch
