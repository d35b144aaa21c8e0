"""Convert between a reference ModelScope checkpoint and our self-describing model.pt.

    python -m ans.convert modelscope PATH/pytorch_model.bin -o model.pt [--config PATH/configuration.json]
    python -m ans.convert to-modelscope model.pt -o OUT_DIR

`modelscope`: the reference `speech_dfsmn_ans_psm_48k_causal` checkpoint is a plain state dict
with the 40 key names of docs/contracts.md "Features and models" (`linear1.linear.*`, `deepfsmn.{i}.{linear,project,conv1}.*`,
`linear2.linear.*`). fsmn_depth and lorder are read from the state dict and checked against
configuration.json (`--config`, else a configuration.json beside the .bin if there is one).
The model.pt gets the reference's signal spec (`ans.signal_spec.REFERENCE`) and an identity
normaliser (mean 0, std 1): the reference feeds raw fbank. Its config records
`source: modelscope`.

`to-modelscope`: writes `pytorch_model.bin` (exactly the reference keys) and `configuration.json`.
A model.pt normaliser is folded into linear1 (W' = W / std, b' = b - W (mean / std)), so the
reference loader, which feeds raw fbank, computes the same masks. The reference architecture is
fixed at 120 -> 256 -> 961 with causal memory (rorder 0); anything else is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m ans.convert", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ms = sub.add_parser("modelscope", help="reference pytorch_model.bin -> model.pt")
    ms.add_argument("checkpoint", type=Path, help="reference pytorch_model.bin")
    ms.add_argument("-o", "--output", type=Path, required=True, help="model.pt to write")
    ms.add_argument("--config", type=Path, default=None,
                    help="configuration.json (default: the one beside the checkpoint, if any)")
    to = sub.add_parser("to-modelscope", help="model.pt -> pytorch_model.bin + configuration.json")
    to.add_argument("model", type=Path, help="student model.pt")
    to.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    return ap


if __name__ == "__main__":  # answer --help/bad usage before the heavy imports below (seconds)
    build_parser().parse_args()

import torch

from ans.audio import atomic_write_bytes, atomic_write_text
from ans.checkpoint import build_model
from ans.errors import AnsError
from ans.features import Normalizer
from ans.model import MaskEstimator
from ans.signal_spec import REFERENCE

N_MELS, N_BINS = REFERENCE.n_mels, REFERENCE.n_bins  # the reference front end is fixed

STUDENT_CLASS = "ans.models.student.DFSMN"
MODEL_ID = "damo/speech_dfsmn_ans_psm_48k_causal"
MODEL_TYPE = "speech_dfsmn_ans"
REF_HIDDEN = 256  # the reference constructor hard-codes 120 -> 256 -> 961


def reference_keys(fsmn_depth: int = 9) -> list[str]:
    """The reference state-dict key names (40 for depth 9)."""
    keys = ["linear1.linear.weight", "linear1.linear.bias"]
    for i in range(fsmn_depth):
        keys += [f"deepfsmn.{i}.linear.weight", f"deepfsmn.{i}.linear.bias",
                 f"deepfsmn.{i}.project.weight", f"deepfsmn.{i}.conv1.weight"]
    return keys + ["linear2.linear.weight", "linear2.linear.bias"]


def _short(names) -> str:
    names = sorted(names)
    return ", ".join(names[:4]) + (f" (+{len(names) - 4} more)" if len(names) > 4 else "")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a reference pytorch_model.bin as {name: float32 tensor}; AnsError on anything else."""
    path = Path(path)
    if not path.is_file():
        raise AnsError("no such checkpoint file", path)
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt / non-torch files
        raise AnsError(f"not a readable PyTorch checkpoint ({type(e).__name__})", path) from None
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise AnsError("not a state dict (expected a dict of tensors with the reference key names)", path)
    if all(k.startswith("module.") for k in sd):  # saved from DataParallel
        sd = {k[len("module."):]: v for k, v in sd.items()}
    if not all(v.is_floating_point() for v in sd.values()):
        raise AnsError("state dict has non-float tensors", path)
    return {k: v.detach().float().contiguous() for k, v in sd.items()}


def infer_arch(sd: dict[str, torch.Tensor], path: object = None) -> dict:
    """DFSMN constructor kwargs implied by a reference state dict; checks keys and shapes."""
    depth = sum(1 for k in sd if k.startswith("deepfsmn.") and k.endswith(".linear.weight"))
    if depth == 0:
        raise AnsError(f"not a speech_dfsmn_ans state dict (no deepfsmn layers; keys: {_short(sd)})", path)
    expected = reference_keys(depth)
    missing, extra = set(expected) - set(sd), set(sd) - set(expected)
    if missing or extra:
        what = "; ".join(s for s in (f"missing {_short(missing)}" if missing else "",
                                     f"unexpected {_short(extra)}" if extra else "") if s)
        raise AnsError(f"not a speech_dfsmn_ans state dict ({what})", path)
    w1, w2, conv = sd["linear1.linear.weight"], sd["linear2.linear.weight"], sd["deepfsmn.0.conv1.weight"]
    if w1.dim() != 2 or w2.dim() != 2 or conv.dim() != 4:
        raise AnsError("not a speech_dfsmn_ans state dict (linear1/linear2/conv1 ranks)", path)
    kwargs = {"input_dim": int(w1.shape[1]), "hidden": int(w1.shape[0]), "output_dim": int(w2.shape[0]),
              "fsmn_depth": depth, "lorder": int(conv.shape[2]), "rorder": 0}
    if kwargs["input_dim"] != N_MELS or kwargs["output_dim"] != N_BINS:
        raise AnsError(f"model maps {kwargs['input_dim']} -> {kwargs['output_dim']}, expected "
                       f"{N_MELS} fbank bins -> {N_BINS} mask bins", path)
    want = build_model(STUDENT_CLASS, **kwargs).state_dict()
    bad = [f"{k} {tuple(sd[k].shape)} != {tuple(v.shape)}" for k, v in want.items() if sd[k].shape != v.shape]
    if bad:
        raise AnsError(f"wrong tensor shapes: {'; '.join(bad[:3])}" + (" ..." if len(bad) > 3 else ""), path)
    if not all(torch.isfinite(v).all() for v in sd.values()):
        raise AnsError("state dict contains NaN or Inf weights", path)
    return kwargs


def read_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise AnsError("no such configuration file", path)
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AnsError(f"not a readable JSON configuration ({type(e).__name__})", path) from None
    model = cfg.get("model") if isinstance(cfg, dict) else None
    if not isinstance(model, dict):
        raise AnsError('configuration has no "model" section', path)
    if model.get("type", MODEL_TYPE) != MODEL_TYPE:
        raise AnsError(f"model type {model.get('type')!r} is not {MODEL_TYPE!r}", path)
    return cfg


def from_modelscope(bin_path: str | Path, out_path: str | Path,
                    config_path: str | Path | None = None) -> Path:
    """Reference pytorch_model.bin (+ configuration.json) -> our model.pt (identity normaliser)."""
    bin_path = Path(bin_path)
    sd = read_state_dict(bin_path)
    kwargs = infer_arch(sd, bin_path)
    if config_path is None and (bin_path.parent / "configuration.json").is_file():
        config_path = bin_path.parent / "configuration.json"
    ref_cfg = None
    if config_path is not None:
        ref_cfg = read_config(config_path)
        for key in ("fsmn_depth", "lorder"):
            given = ref_cfg["model"].get(key)
            if given is not None and int(given) != kwargs[key]:
                raise AnsError(f"{key} = {given} disagrees with the state dict of {bin_path.name} "
                               f"({kwargs[key]})", config_path)
    model = build_model(STUDENT_CLASS, **kwargs)
    model.load_state_dict(sd, strict=True)
    config = {"source": "modelscope", "model_id": MODEL_ID, "source_file": str(bin_path),
              "source_sha256": hashlib.sha256(bin_path.read_bytes()).hexdigest(),
              "reference_config": ref_cfg, "features": REFERENCE.to_dict(),
              "normalizer": "identity: the reference feeds raw fbank"}
    return MaskEstimator(model.eval(), REFERENCE, Normalizer(N_MELS), kind="student").save(out_path, config=config)


@torch.no_grad()
def fold_normalizer(state: dict[str, torch.Tensor], normalizer: Normalizer) -> dict[str, torch.Tensor]:
    """Fold (x - mean) / std into linear1: W' = W / std, b' = b - W (mean / std) (float64 math)."""
    w, b = state["linear1.linear.weight"].double(), state["linear1.linear.bias"].double()
    mean, std = normalizer.mean.double(), normalizer.std.double()
    out = dict(state)
    out["linear1.linear.weight"] = (w / std).float()
    out["linear1.linear.bias"] = (b - w @ (mean / std)).float()
    return out


def to_modelscope(model_path: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Our student model.pt -> OUT_DIR/{pytorch_model.bin, configuration.json} for the reference."""
    est = MaskEstimator.load(model_path)
    model, normalizer = est.net, est.normalizer
    kw = est.info["model_kwargs"]
    if est.info.get("model_class") != STUDENT_CLASS:
        raise AnsError(f"only a DFSMN student can be exported to ModelScope (this is a "
                       f"{est.kind} {est.info.get('model_class')})", model_path)
    arch = (model.input_dim, model.hidden, model.output_dim, model.rorder)
    if arch != (N_MELS, REF_HIDDEN, N_BINS, 0):
        raise AnsError(f"the reference DFSMN is fixed at {N_MELS} -> {REF_HIDDEN} -> {N_BINS} with "
                       f"rorder 0; this model is {arch[0]} -> {arch[1]} -> {arch[2]}, rorder {arch[3]}",
                       model_path)
    if est.spec != REFERENCE:
        raise AnsError(f"model was trained with a signal spec ({est.spec.describe()}) that differs from "
                       f"the reference's fixed fbank front end ({REFERENCE.describe()})", model_path)
    state = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    state = {k: v.contiguous().clone() for k, v in fold_normalizer(state, normalizer).items()}
    assert list(state) == reference_keys(model.fsmn_depth)
    buf = io.BytesIO()
    torch.save(state, buf)
    cfg = {"framework": "pytorch", "task": "acoustic-noise-suppression",
           "pipeline": {"type": "speech_dfsmn_ans_psm_48k_causal"},
           "model": {"type": MODEL_TYPE, "fsmn_depth": kw.get("fsmn_depth", model.fsmn_depth),
                     "lorder": kw.get("lorder", model.lorder)}}
    out_dir = Path(out_dir)
    return {"state_dict": atomic_write_bytes(out_dir / "pytorch_model.bin", buf.getvalue()),
            "config": atomic_write_text(out_dir / "configuration.json", json.dumps(cfg, indent=2) + "\n")}


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        if args.cmd == "modelscope":
            print(from_modelscope(args.checkpoint, args.output, args.config))
        else:
            for path in to_modelscope(args.model, args.output).values():
                print(path)
    except AnsError as e:
        print(str(e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
