"""Self-describing exported models (`model.pt`): everything needed to rebuild and use one.

A model.pt is a plain dict saved with torch.save:
  format         "ans-model/1"
  kind           "teacher" | "student"
  model_class    import path, e.g. "ans.models.student.DFSMN" (only ans.models.* is loaded)
  model_kwargs   constructor kwargs
  state_dict     the model weights (for a student: exactly the reference's 40 tensors)
  normalizer     {"mean": [...120], "std": [...120]} fbank statistics from training data
  features       the signal-path constants (rate, frame, hop, bins, mels) it was trained with
  config         the resolved training config (dict), git revision, metrics, created (UTC)
Writes are atomic (temp file + rename), so a crash never leaves a half-written model.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import io
import subprocess
from pathlib import Path

import torch
from torch import nn

from ans import features as F
from ans.audio import atomic_write_bytes
from ans.errors import AnsError
from ans.features import Normalizer

FORMAT = "ans-model/1"


def feature_config() -> dict:
    return {"sample_rate": F.SAMPLE_RATE, "frame": F.FRAME, "hop": F.HOP, "n_bins": F.N_BINS,
            "n_mels": F.N_MELS, "fft_fbank": F.N_FFT_FBANK, "low_freq": F.LOW_FREQ,
            "high_freq": F.HIGH_FREQ, "preemphasis": F.PREEMPH, "input_scale": F.INT16_SCALE}


def git_revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def model_kwargs(model: nn.Module) -> dict:
    """Constructor kwargs of a model built by ans (stored as `_init_kwargs` by `build_model`)."""
    kwargs = getattr(model, "_init_kwargs", None)
    if kwargs is None:
        raise ValueError(f"{type(model).__name__} was not built with ans.checkpoint.build_model")
    return dict(kwargs)


def build_model(model_class: str, **kwargs) -> nn.Module:
    """Instantiate an ans model by import path and remember its kwargs for export."""
    module_name, _, cls_name = model_class.rpartition(".")
    if not module_name.startswith("ans.models"):
        raise AnsError(f"refusing to build model class {model_class!r} (not in ans.models)")
    cls = getattr(importlib.import_module(module_name), cls_name)
    model = cls(**kwargs)
    model._init_kwargs = dict(kwargs)
    return model


def save_model(path: str | Path, model: nn.Module, kind: str, normalizer: Normalizer,
               config: dict | None = None, metrics: dict | None = None) -> Path:
    cls = type(model)
    payload = {
        "format": FORMAT,
        "kind": kind,
        "model_class": f"{cls.__module__}.{cls.__name__}",
        "model_kwargs": model_kwargs(model),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "normalizer": normalizer.state(),
        "features": feature_config(),
        "config": config or {},
        "metrics": metrics or {},
        "git_rev": git_revision(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_payload(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise AnsError("no such model file", path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt files
        raise AnsError(f"not a readable model file ({type(e).__name__})", path) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise AnsError(f"not an ans model.pt (expected format {FORMAT}; for a reference "
                       "checkpoint use `python -m ans.convert modelscope`)", path)
    return payload


def load_model(path: str | Path) -> tuple[nn.Module, Normalizer, dict]:
    """Rebuild (model in eval mode, its fbank normaliser, the full payload) from a model.pt."""
    payload = load_payload(path)
    model = build_model(payload["model_class"], **payload["model_kwargs"])
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, Normalizer.from_state(payload["normalizer"]), payload
