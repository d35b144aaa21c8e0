"""Supervised mask training: teacher (stage 1), or a student from scratch (ablation).

Each batch of simulated (noisy, clean) waveforms is turned into features and targets on the
training device: fbank (Kaldi, dither in training) -> per-bin normalisation -> SpecAugment
-> model -> mask, compared with the target mask (PSM by default) under the magFFT weighting.
"""

from __future__ import annotations

import math

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from ans.augment import SpecAugment
from ans.features import FeatureExtractor, Normalizer
from ans.losses import MaskLoss
from ans.model import MaskEstimator


class MaskModule(pl.LightningModule):
    def __init__(self, model: nn.Module, features: FeatureExtractor | None = None,
                 loss: MaskLoss | None = None, augment: SpecAugment | None = None,
                 optim: dict | None = None, kind: str = "teacher", val_metric_items: int = 4):
        super().__init__()
        self.model = model
        self.features = features or FeatureExtractor()
        self.loss_fn = loss or MaskLoss()
        self.augment = augment or SpecAugment(p=0.0)
        self.spec = self.features.spec  # the model's SignalSpec: exported with it
        if self.loss_fn.sample_rate != self.spec.sample_rate:
            raise ValueError(f"loss.sample_rate {self.loss_fn.sample_rate} != features.spec.sample_rate "
                             f"{self.spec.sample_rate}")
        self.normalizer = Normalizer(self.spec.n_mels)
        self.register_buffer("norm_fitted", torch.tensor(False))
        self.optim = dict(optim or {})
        self.kind = kind
        self.val_metric_items = val_metric_items

    # -- data -> features/targets ------------------------------------------------------
    @torch.no_grad()
    def prepare(self, batch: dict) -> dict:
        noisy, clean = batch["noisy"].float(), batch["clean"].float()
        feats = self.features.fbank(noisy)
        noisy_spec, clean_spec = self.features.stft(noisy), self.features.stft(clean)
        return {"feats": feats, "noisy_spec": noisy_spec, "clean_spec": clean_spec,
                "target": self.loss_fn.make_target(clean_spec, noisy_spec)}

    def targets(self, prep: dict) -> torch.Tensor:
        """The mask the model learns: the true PSM here; the teacher's in distillation."""
        return prep["target"]

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalizer(feats))

    # -- the trained model ----------------------------------------------------------------
    def estimator(self) -> MaskEstimator:
        """This module's model as a MaskEstimator (sharing the network and normaliser)."""
        return MaskEstimator(self.model, self.spec, self.normalizer, kind=self.kind)

    def export(self, path, config: dict | None = None, metrics: dict | None = None):
        """Write this model as a self-describing model.pt (MaskEstimator.save)."""
        config = dict(config or {})
        if getattr(self, "teacher_info", None):
            config["teacher"] = self.teacher_info
        return self.estimator().save(path, config=config, metrics=metrics)

    @torch.no_grad()
    def fit_normalizer(self, batches) -> None:
        """Per-bin fbank mean/std (no dither) from an iterable of batches {"noisy": (B, N)}."""
        was_training = self.features.training
        self.features.eval()
        try:
            self.normalizer.fit(self.features.fbank(b["noisy"].float()) for b in batches)
        finally:
            self.features.train(was_training)
        self.norm_fitted.fill_(True)

    def _loss(self, batch: dict, train: bool) -> tuple[torch.Tensor, dict, torch.Tensor]:
        prep = self.prepare(batch)
        target = self.targets(prep)
        x = self.normalizer(prep["feats"])
        if train:
            x = self.augment(x)
        pred = self.model(x)
        bandwidth = (batch.get("meta") or {}).get("bandwidth_hz")  # per item, for loss.band_limit
        return self.loss_fn(pred, target, prep["noisy_spec"].abs(), bandwidth), prep, pred

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, _, _ = self._loss(batch, train=True)
        bs = batch["noisy"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        loss, prep, pred = self._loss(batch, train=False)
        bs = batch["noisy"].shape[0]
        self.log("val/loss", loss, prog_bar=True, batch_size=bs, sync_dist=True)
        if batch_idx == 0 and self.val_metric_items > 0:
            self._log_speech_metrics(batch, prep, pred)

    def _log_speech_metrics(self, batch: dict, prep: dict, pred: torch.Tensor) -> None:
        """PESQ-WB and STOI of a few enhanced validation utterances (and of their noisy input)."""
        from ans.metrics import compute_metrics

        n = min(self.val_metric_items, pred.shape[0])
        est = self.features.apply_mask(pred[:n].float(), batch["noisy"][:n], prep["noisy_spec"][:n])
        scores = {"pesq_wb": [], "stoi": [], "pesq_wb_noisy": [], "stoi_noisy": []}
        sr = self.spec.sample_rate
        for i in range(n):
            clean = batch["clean"][i].float().cpu().numpy()
            enh = compute_metrics(clean, est[i].cpu().numpy(), sr, which=("pesq_wb", "stoi"))
            noisy = compute_metrics(clean, batch["noisy"][i].float().cpu().numpy(), sr,
                                    which=("pesq_wb", "stoi"))
            for k in ("pesq_wb", "stoi"):
                scores[k].append(enh[k])
                scores[f"{k}_noisy"].append(noisy[k])
        for k, v in scores.items():
            vals = [x for x in v if not math.isnan(x)]
            if vals:
                self.log(f"val/{k}", float(np.mean(vals)), batch_size=n, sync_dist=True)

    # -- optimisation -------------------------------------------------------------------
    def configure_optimizers(self):
        lr = float(self.optim.get("lr", 1e-3))
        opt = torch.optim.AdamW(self.model.parameters(), lr=lr,
                                weight_decay=float(self.optim.get("weight_decay", 0.0)))
        if self.optim.get("scheduler", "cosine") != "cosine":
            return opt
        total = self.trainer.estimated_stepping_batches if self.trainer else 1
        warmup = int(self.optim.get("warmup_steps", 0))
        floor = float(self.optim.get("min_lr_ratio", 0.05))

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / max(1, warmup)
            frac = min(1.0, (step - warmup) / max(1, total - warmup))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
