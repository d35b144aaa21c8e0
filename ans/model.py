"""`MaskEstimator`: one trained model = its SignalSpec + fbank normaliser + mask network.

    est = MaskEstimator.from_pretrained("student")        # or "teacher", or a model.pt path
    mask = est(fbank)                                     # raw log-mel (B, T, n_mels) -> (B, T, n_bins)
    est.streamable, est.latency_samples, est.spec.sample_rate
    state = est.init_state(); mask_t, state = est.step(fbank_t, state)
    est.save("model.pt", config=..., metrics=...)

It is what Enhancer, StreamingEnhancer, export, convert, evaluation and the web app take, and
the only place that answers "can this model stream?" and "what is its delay?". The file
format (and its checks) lives in `ans.checkpoint`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ans.errors import AnsError
from ans.features import FeatureExtractor, Normalizer
from ans.signal_spec import REFERENCE, SignalSpec

PRETRAINED = ("student", "teacher")


class MaskEstimator(nn.Module):
    def __init__(self, net: nn.Module, spec: SignalSpec | dict = REFERENCE, normalizer: Normalizer | None = None,
                 kind: str | None = None, source: str | None = None, info: dict | None = None):
        super().__init__()
        self.net = net
        self.spec = SignalSpec.from_dict(spec)
        self.normalizer = normalizer if normalizer is not None else Normalizer(self.spec.n_mels)
        self.kind = kind or ("student" if hasattr(net, "step") else "teacher")
        self.source = source  # the file it came from (for messages)
        self.info = dict(info or {})  # the rest of the stored payload (config, metrics, git_rev, ...)

    @classmethod
    def wrap(cls, model, normalizer: Normalizer | None = None, **kwargs) -> MaskEstimator:
        """A MaskEstimator as is, or a bare network (+ normaliser) with the reference spec."""
        if isinstance(model, MaskEstimator):
            return model
        return cls(model, normalizer=normalizer, **kwargs)

    # -- inference ----------------------------------------------------------------------
    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        """Raw log-mel fbank (B, T, n_mels) -> mask (B, T, n_bins) in [0, 1]."""
        return self.net(self.normalizer(fbank))

    def features(self) -> FeatureExtractor:
        """The feature extractor of this model's spec (no dither), on the model's device."""
        return FeatureExtractor(self.spec).to(self.normalizer.mean.device).eval()

    @property
    def streamable(self) -> bool:
        """Frame-by-frame with a fixed delay: a network with `step` and no look-ahead."""
        return hasattr(self.net, "step") and hasattr(self.net, "init_cache") \
            and bool(getattr(self.net, "streamable", False))

    @property
    def lookahead_frames(self) -> int | None:
        """Future frames each output frame needs (None: the whole utterance, e.g. a BLSTM)."""
        if not hasattr(self.net, "step"):
            return None
        return int(getattr(self.net, "rorder", 0))

    @property
    def latency_samples(self) -> int | None:
        """Algorithmic delay in samples at `spec.sample_rate` (None: needs the whole utterance)."""
        ahead = self.lookahead_frames
        return None if ahead is None else self.spec.latency_samples(ahead)

    @property
    def latency_ms(self) -> float | None:
        n = self.latency_samples
        return None if n is None else self.spec.ms(n)

    @property
    def context_frames(self) -> int | None:
        """Past fbank frames an output frame depends on, when finite and causal (block-wise
        offline processing is then exact); None: process the whole file at once."""
        if not self.streamable or getattr(self.net, "fsmn_depth", None) is None:
            return None
        return int(self.net.fsmn_depth) * (int(self.net.lorder) - 1)

    def why_not_streamable(self) -> str:
        if self.lookahead_frames is None:  # e.g. the teacher's BLSTM sees the whole utterance
            return "teacher models are not streamable" if self.kind == "teacher" else \
                f"this {self.kind} model needs the whole utterance and is not streamable"
        n = self.lookahead_frames
        return f"this {self.kind} looks {n} frames ahead (rorder {n} > 0) and is not streamable"

    def require_streamable(self, hint: str = "") -> None:
        if not self.streamable:
            raise AnsError(self.why_not_streamable() + (f": {hint}" if hint else ""), self.source)

    def init_state(self, batch: int = 1) -> torch.Tensor:
        self.require_streamable()
        p = self.normalizer.mean
        return self.net.init_cache(batch, device=p.device, dtype=p.dtype)

    def step(self, fbank_frame: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One raw fbank frame (B, n_mels) + state -> (mask frame (B, n_bins), new state)."""
        return self.net.step(self.normalizer(fbank_frame), state)

    # -- storage --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, config: dict | None = None, metrics: dict | None = None) -> Path:
        from ans.checkpoint import save_model

        return save_model(path, self.net, self.kind, self.normalizer, config=config, metrics=metrics,
                          spec=self.spec)

    @classmethod
    def load(cls, path: str | os.PathLike) -> MaskEstimator:
        """A model.pt ("ans-model/1" or /2), checked (AnsError naming the file), in eval mode."""
        from ans.checkpoint import load_model, payload_spec

        net, normalizer, payload = load_model(path)
        info = {k: v for k, v in payload.items() if k not in ("state_dict", "normalizer")}
        return cls(net, payload_spec(payload, path), normalizer, kind=payload.get("kind"),
                   source=str(path), info=info).eval()

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike) -> MaskEstimator:
        """"student" / "teacher" (the shipped models) or a model.pt path."""
        if str(name_or_path) in PRETRAINED:
            return cls.load(pretrained_path(str(name_or_path)))
        return cls.load(name_or_path)


def pretrained_path(name: str) -> Path:
    """pretrained/<name>/model.pt of the checkout, else the copy shipped inside the package."""
    root = Path(__file__).resolve().parent
    for p in (root.parent / "pretrained" / name / "model.pt", root / "pretrained" / name / "model.pt"):
        if p.is_file():
            return p
    raise AnsError(f"no shipped {name} model (choose a model.pt path)", root.parent / "pretrained" / name)
