"""Self-describing exported models (`model.pt`): everything needed to rebuild and use one.

The file layer under `ans.model.MaskEstimator` (which is what the rest of ans takes).
A model.pt is a plain dict saved with torch.save:
  format         "ans-model/2" ("ans-model/1" files still load: same keys, `features` optional,
                 the 48 kHz reference spec when absent)
  kind           "teacher" | "student" (informative; streamability is the model's own answer)
  model_class    import path, e.g. "ans.models.student.DFSMN" (only ans.models.* is loaded)
  model_kwargs   constructor kwargs
  state_dict     the model weights (for a student: exactly the reference's 40 tensors)
  normalizer     {"mean": [...120], "std": [...120]} fbank statistics from training data
  features       its SignalSpec (`ans.signal_spec`: rate, frame, hop, mels, ...), checked on load
                 against the normaliser and the model's input/output sizes
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

from ans.audio import atomic_write_bytes
from ans.errors import AnsError
from ans.features import Normalizer
from ans.signal_spec import REFERENCE, SignalSpec

FORMAT = "ans-model/2"
FORMATS = ("ans-model/1", FORMAT)  # what load_payload reads


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
               config: dict | None = None, metrics: dict | None = None,
               spec: SignalSpec = REFERENCE) -> Path:
    cls = type(model)
    payload = {
        "format": FORMAT,
        "kind": kind,
        "model_class": f"{cls.__module__}.{cls.__name__}",
        "model_kwargs": model_kwargs(model),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "normalizer": normalizer.state(),
        "features": spec.to_dict(),
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
    if not isinstance(payload, dict) or payload.get("format") not in FORMATS:
        raise AnsError(f"not an ans model.pt (expected format {FORMAT}; for a reference "
                       "checkpoint use `python -m ans.convert modelscope`)", path)
    return payload


def payload_spec(payload: dict, path: object = None) -> SignalSpec:
    """The SignalSpec a model.pt was trained with ("ans-model/1" without one: the reference's)."""
    feats = payload.get("features")
    if feats is None and payload.get("format") == "ans-model/1":
        return REFERENCE
    return SignalSpec.from_dict(feats, path)


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
    spec = payload_spec(payload, path)
    _check_sizes(skeleton, kwargs, spec, path)
    normalizer = _normalizer(payload["normalizer"], spec, path)
    model = build_model(cls, **kwargs)
    model.load_state_dict(state)
    model.eval()
    return model, normalizer, payload


def io_sizes(model: nn.Module, kwargs: dict | None = None) -> tuple[int | None, int | None]:
    """(fbank bins in, mask bins out) of a mask network, from its attributes or constructor."""
    import inspect

    got = {k: getattr(model, k, None) for k in ("input_dim", "output_dim")}
    if None in got.values():
        try:
            bound = inspect.signature(type(model)).bind_partial(**(kwargs or getattr(model, "_init_kwargs", {})))
            bound.apply_defaults()
            got = {k: got[k] if got[k] is not None else bound.arguments.get(k) for k in got}
        except TypeError:
            pass
    return got["input_dim"], got["output_dim"]


def _check_sizes(model: nn.Module, kwargs: dict, spec: SignalSpec, path) -> None:
    n_in, n_out = io_sizes(model, kwargs)
    if (n_in, n_out) != (spec.n_mels, spec.n_bins) and None not in (n_in, n_out):
        raise AnsError(f"model maps {n_in} -> {n_out} bins, but its signal spec ({spec.describe()}) "
                       f"needs {spec.n_mels} -> {spec.n_bins}", path)


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


def _normalizer(state, spec: SignalSpec, path) -> Normalizer:
    try:
        mean, std = torch.as_tensor(state["mean"], dtype=torch.float32), torch.as_tensor(state["std"],
                                                                                          dtype=torch.float32)
    except (TypeError, KeyError, ValueError, RuntimeError):
        raise AnsError("malformed normalizer (expected {'mean': [...], 'std': [...]})", path) from None
    n = spec.n_mels
    if mean.shape != (n,) or std.shape != (n,) or not bool(torch.isfinite(mean).all()) \
            or not bool((std > 0).all()):
        raise AnsError(f"malformed normalizer (need {n} finite means and positive stds)", path)
    norm = Normalizer(n)
    norm.mean.copy_(mean)
    norm.std.copy_(std)
    return norm
