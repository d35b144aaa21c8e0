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
    """Rebuild (model in eval mode, its fbank normaliser, the full payload) from a model.pt.

    Everything is checked before the weights are allocated (the model is first built on the
    meta device): missing keys, kwargs the class does not take, weights whose names or shapes
    do not fit (so huge kwargs cannot exhaust memory), a missing or malformed normaliser. Each
    gives one AnsError line naming the file."""
    payload = load_payload(path)
    missing = [k for k in ("model_class", "model_kwargs", "state_dict", "normalizer") if payload.get(k) is None]
    if missing:  # no normaliser: features at the wrong scale would give a silently wrong output
        raise AnsError(f"incomplete model file: no {', '.join(missing)}", path)
    cls, kwargs, state = payload["model_class"], payload["model_kwargs"], payload["state_dict"]
    if not isinstance(cls, str) or not isinstance(kwargs, dict) or not isinstance(state, dict) \
            or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise AnsError("malformed model file (model_class must be a string, model_kwargs and state_dict "
                       "dicts of values and tensors)", path)
    try:
        with torch.device("meta"):  # shapes only, no memory
            skeleton = build_model(cls, **kwargs)
    except AnsError as e:
        raise AnsError(str(e), path) from None
    except Exception as e:  # noqa: BLE001 - any constructor failure: unknown class, bad kwargs
        raise AnsError(f"cannot build {cls} from the stored model_kwargs ({type(e).__name__}: "
                       f"{str(e).splitlines()[0] if str(e) else ''})", path) from None
    _check_shapes(skeleton.state_dict(), state, path)
    model = build_model(cls, **kwargs)
    model.load_state_dict(state)
    model.eval()
    return model, _normalizer(payload["normalizer"], path), payload


def _check_shapes(expected: dict, got: dict, path) -> None:
    want = {k: tuple(v.shape) for k, v in expected.items()}
    have = {k: tuple(v.shape) for k, v in got.items()}
    if want == have:
        return
    lost, extra = sorted(want.keys() - have.keys()), sorted(have.keys() - want.keys())
    bad = [k for k in want.keys() & have.keys() if want[k] != have[k]]
    if lost or extra:
        what = (f"missing {', '.join(lost[:3])}" if lost else "") + ("; " if lost and extra else "") \
            + (f"unexpected {', '.join(extra[:3])}" if extra else "")
        raise AnsError(f"weights do not fit the model_kwargs ({what})", path)
    k = sorted(bad)[0]
    raise AnsError(f"weights do not fit the model_kwargs ({k}: stored {list(have[k])}, model_kwargs give "
                   f"{list(want[k])})", path)


def _normalizer(state, path) -> Normalizer:
    try:
        mean, std = torch.as_tensor(state["mean"], dtype=torch.float32), torch.as_tensor(state["std"],
                                                                                          dtype=torch.float32)
    except (TypeError, KeyError, ValueError, RuntimeError):
        raise AnsError("malformed normalizer (expected {'mean': [...], 'std': [...]})", path) from None
    if mean.shape != (F.N_MELS,) or std.shape != (F.N_MELS,) or not bool(torch.isfinite(mean).all()) \
            or not bool((std > 0).all()):
        raise AnsError(f"malformed normalizer (need {F.N_MELS} finite means and positive stds)", path)
    norm = Normalizer()
    norm.mean.copy_(mean)
    norm.std.copy_(std)
    return norm
