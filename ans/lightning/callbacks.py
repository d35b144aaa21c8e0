"""Callbacks and plugins: export the best model.pt as training goes; atomic checkpoints."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from ans.audio import atomic_write_bytes, atomic_write_text


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints written to a temp file and renamed: a kill never leaves half a file."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        buf = io.BytesIO()
        torch.save(checkpoint, buf)
        atomic_write_bytes(path, buf.getvalue())


class ExportModel(pl.Callback):
    """After each validation, write `model.pt` (self-describing) when the monitored metric improves.

    `last_model.pt` is written every validation too, so an interrupted run always has a usable
    model. The training config (resolved dict) is embedded for reproducibility.
    """

    def __init__(self, dirpath: str, monitor: str = "val/loss", config: dict | None = None):
        self.dirpath, self.monitor, self.config = Path(dirpath), monitor, config or {}
        self.best = math.inf

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best = float(state.get("best", math.inf))

    def on_validation_end(self, trainer: pl.Trainer, pl_module) -> None:
        if not trainer.sanity_checking and trainer.is_global_zero:
            self._export(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module) -> None:
        # A run whose step budget ends before its first validation still gets a model.pt.
        if trainer.is_global_zero and not (self.dirpath / "model.pt").exists():
            self._export(trainer, pl_module, force_best=True)

    def _export(self, trainer: pl.Trainer, pl_module, force_best: bool = False) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()
                   if k.startswith("val/") and torch.as_tensor(v).numel() == 1}
        metrics.update(epoch=trainer.current_epoch, step=trainer.global_step)
        pl_module.export(self.dirpath / "last_model.pt", config=self.config, metrics=metrics)
        value = metrics.get(self.monitor, math.inf)
        if value < self.best or force_best:
            self.best = min(value, self.best)
            pl_module.export(self.dirpath / "model.pt", config=self.config, metrics=metrics)


class RecordBatches(pl.Callback):
    """Write the (epoch, index) of every training item each rank saw to `items_rank<R>.json`.

    A debugging aid (and what the DDP test uses to prove ranks draw different data):
        python -m ans.train teacher +callbacks.record._target_=ans.lightning.callbacks.RecordBatches
            +callbacks.record.dirpath=outputs/ids
    """

    def __init__(self, dirpath: str):
        self.dirpath, self.items = Path(dirpath), []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        meta = batch["meta"]
        self.items += [[int(e), int(i)] for e, i in zip(meta["epoch"], meta["index"])]

    def on_train_end(self, trainer, pl_module) -> None:
        atomic_write_text(self.dirpath / f"items_rank{trainer.global_rank}.json", json.dumps(self.items))
