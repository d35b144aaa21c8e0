"""ONNX export of a model.pt: an offline graph and, for the causal student, a streaming graph.

    python -m ans.export MODEL.pt -o OUT_DIR [--opset 17] [--offline-only] [--no-normalizer]

Writes (atomically) into OUT_DIR:
  <kind>_offline.onnx    fbank (B, T, n_mels) -> mask (B, T, n_bins); B and T dynamic
  student_streaming.onnx frame (B, n_mels), cache (B, depth, N1-1, hidden)
                         -> mask (B, n_bins), new_cache (same shape); start from a zero cache
  export.json            the model's SignalSpec (`features`), its streamability, context and
                         latency (`model`), normaliser, graph I/O, cache shape and the max
                         |ONNX - PyTorch| measured on a random input right after export
(n_mels, n_bins = 120, 961 for the shipped 48 kHz models.)
Input of both graphs: the *raw* Kaldi log-mel fbank of `ans.features.FeatureExtractor.fbank`
(audio in [-1, 1] scaled by 32768, no dither). The model.pt normaliser ((x - mean) / std) is
the first op of each graph, so a consumer never normalises; `--no-normalizer` leaves it out
(export.json then says so and carries mean/std). Teachers (BLSTM) are not streamable: only
their offline graph can be exported. Exporter: torch's TorchScript-based one (`dynamo=False`;
the dynamo exporter needs onnxscript, which is not installed).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import warnings
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m ans.export", description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="model.pt")
    ap.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    ap.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    ap.add_argument("--offline-only", action="store_true", help="skip the streaming graph (teachers)")
    ap.add_argument("--no-normalizer", action="store_true",
                    help="leave the fbank normaliser out of the graphs (consumer normalises)")
    ap.add_argument("--no-verify", action="store_true", help="skip the onnxruntime check")
    return ap


if __name__ == "__main__":  # answer --help/bad usage before the heavy imports below (seconds)
    build_parser().parse_args()

import numpy as np
import torch
from torch import nn

from ans.audio import atomic_write_bytes, atomic_write_text
from ans.errors import AnsError
from ans.features import Normalizer
from ans.model import MaskEstimator

SIDECAR = "export.json"
FORMAT = "ans-onnx/1"


class OfflineGraph(nn.Module):
    """(optional normaliser) + model.forward: raw fbank (B, T, F) -> mask (B, T, K)."""

    def __init__(self, model: nn.Module, normalizer: Normalizer | None):
        super().__init__()
        self.model, self.norm = model, normalizer

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        return self.model(self.norm(fbank) if self.norm is not None else fbank)


class StreamingGraph(nn.Module):
    """(optional normaliser) + DFSMN.step: one raw fbank frame + cache -> mask frame + cache."""

    def __init__(self, model: nn.Module, normalizer: Normalizer | None):
        super().__init__()
        self.model, self.norm = model, normalizer

    def forward(self, frame: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.step(self.norm(frame) if self.norm is not None else frame, cache)


def _onnx_bytes(module: nn.Module, args: tuple, inputs: list[str], outputs: list[str],
                axes: dict, opset: int) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation + constant-folding notes
        torch.onnx.export(module, args, buf, dynamo=False, opset_version=opset, input_names=inputs,
                          output_names=outputs, dynamic_axes=axes, do_constant_folding=True)
    return buf.getvalue()


def offline_onnx(model: nn.Module, normalizer: Normalizer | None, opset: int = 17, n_mels: int = 120) -> bytes:
    x = torch.randn(1, 16, getattr(model, "input_dim", n_mels))
    dyn = {0: "batch", 1: "frames"}
    return _onnx_bytes(OfflineGraph(model, normalizer).eval(), (x,), ["fbank"], ["mask"],
                       {"fbank": dyn, "mask": dyn}, opset)


def streaming_onnx(model: nn.Module, normalizer: Normalizer | None, opset: int = 17) -> bytes:
    MaskEstimator.wrap(model).require_streamable()
    frame, cache = torch.randn(1, model.input_dim), model.init_cache(1)
    axes = {name: {0: "batch"} for name in ("frame", "cache", "mask", "new_cache")}
    return _onnx_bytes(StreamingGraph(model, normalizer).eval(), (frame, cache), ["frame", "cache"],
                       ["mask", "new_cache"], axes, opset)


def ort_session(data: bytes | str | Path, threads: int = 1):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    src = data if isinstance(data, bytes) else str(data)
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def _random_fbank(normalizer: Normalizer, *shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, normalizer.mean.numel(), generator=g) * normalizer.std + normalizer.mean


@torch.no_grad()
def verify_offline(data: bytes, model: nn.Module, normalizer: Normalizer, frames: int = 37) -> float:
    """Max |ORT - PyTorch| of the offline graph on a random (2, frames) fbank (normaliser in graph)."""
    x = _random_fbank(normalizer, 2, frames)
    ref = model(normalizer(x)).numpy()
    out = ort_session(data).run(["mask"], {"fbank": x.numpy()})[0]
    return float(np.abs(out - ref).max())


@torch.no_grad()
def verify_streaming(data: bytes, model: nn.Module, normalizer: Normalizer, frames: int = 30) -> float:
    """Max |ORT - offline PyTorch| of the streaming graph fed frame by frame (normaliser in graph)."""
    x = _random_fbank(normalizer, 1, frames, seed=1)
    ref = model(normalizer(x))[0].numpy()
    sess, cache, err = ort_session(data), model.init_cache(1).numpy(), 0.0
    for t in range(frames):
        mask, cache = sess.run(["mask", "new_cache"], {"frame": x[:, t].numpy(), "cache": cache})
        err = max(err, float(np.abs(mask[0] - ref[t]).max()))
    return err


def export_onnx(model: str | Path | MaskEstimator, out_dir: str | Path, opset: int = 17, streaming: bool = True,
                include_normalizer: bool = True, verify: bool = True) -> dict:
    """Export a model.pt (or a MaskEstimator) to ONNX (see module doc). Returns the sidecar dict (also written)."""
    est = model if isinstance(model, MaskEstimator) else MaskEstimator.load(model)
    model_path, kind, spec = est.source, est.kind, est.spec
    if streaming:
        est.require_streamable("export the offline graph only (--offline-only)")
    est = est.float().eval()
    model, normalizer = est.net, est.normalizer
    norm = normalizer if include_normalizer else None
    out_dir = Path(out_dir)
    graphs: dict[str, dict] = {}
    in_dim, out_dim = spec.n_mels, spec.n_bins
    try:
        blobs = {"offline": offline_onnx(model, norm, opset, spec.n_mels)}
        if streaming:
            blobs["streaming"] = streaming_onnx(model, norm, opset)
    except Exception as e:  # exporter failures come in many types
        raise AnsError(f"ONNX export failed ({type(e).__name__}: {e})", model_path) from None
    graphs["offline"] = {"file": f"{kind}_offline.onnx",
                         "inputs": {"fbank": ["batch", "frames", in_dim]},
                         "outputs": {"mask": ["batch", "frames", out_dim]}}
    if streaming:
        cache = list(model.init_cache(1).shape[1:])
        graphs["streaming"] = {"file": f"{kind}_streaming.onnx",
                               "inputs": {"frame": ["batch", in_dim], "cache": ["batch", *cache]},
                               "outputs": {"mask": ["batch", out_dim], "new_cache": ["batch", *cache]},
                               "cache_shape": cache, "cache_init": "zeros",
                               "cache_layout": "(batch, layer, past frame oldest..newest, channel)"}
    if verify:
        ref_norm = normalizer if include_normalizer else Normalizer().to(normalizer.mean.device)
        graphs["offline"]["max_abs_diff_vs_torch"] = verify_offline(blobs["offline"], model, ref_norm)
        if streaming:
            diff = verify_streaming(blobs["streaming"], model, ref_norm)
            graphs["streaming"]["max_abs_diff_vs_torch"] = diff
    lookahead, delay = est.lookahead_frames, est.latency_samples
    cls = type(model)
    sidecar = {
        "format": FORMAT, "kind": kind, "source_model": str(model_path),
        "model_class": f"{cls.__module__}.{cls.__name__}", "model_kwargs": dict(getattr(model, "_init_kwargs", {})),
        "opset": opset, "exporter": f"torch {torch.__version__} torch.onnx.export(dynamo=False)",
        "features": spec.to_dict(),
        "model": {"streamable": est.streamable, "lookahead_frames": lookahead,
                  "context_frames": est.context_frames, "latency_samples": delay},
        "input": f"raw Kaldi log-mel fbank (ans.features.FeatureExtractor.fbank: audio in [-1, 1] "
                 f"x {spec.input_scale:g}, no dither), frames aligned 1:1 with the {spec.n_bins}-bin STFT frames",
        "normalizer": {"included_in_graph": include_normalizer, **normalizer.state()},
        "graphs": graphs,
        "latency": {"hop_samples": spec.hop, "hop_ms": spec.ms(spec.hop),
                    "lookahead_frames": lookahead,
                    "algorithmic_samples": delay,
                    "algorithmic_ms": None if delay is None else spec.ms(delay),
                    "note": f"streaming: output sample n = offline output n - {spec.frame} (ans.streaming)"},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for name, blob in blobs.items():
        atomic_write_bytes(out_dir / graphs[name]["file"], blob)
    atomic_write_text(out_dir / SIDECAR, json.dumps(sidecar, indent=2) + "\n")
    return sidecar


def _stats(ms: np.ndarray) -> dict:
    return {"mean_ms": float(ms.mean()), "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max())}


@torch.inference_mode()
def bench_onnx_streaming(model_path: str | Path | None = None, hops: int = 500, warmup: int = 50) -> dict:
    """Per-hop time of the streaming DFSMN step (model only, no fbank/FFT), 1 thread each:
    onnxruntime streaming graph (normaliser included) vs PyTorch normaliser + `DFSMN.step`.
    `model_path` None: a freshly initialised reference-size DFSMN (seed 0)."""
    from ans.checkpoint import build_model

    if model_path is None:
        torch.manual_seed(0)
        model, normalizer, label = build_model("ans.models.student.DFSMN").eval(), Normalizer(), "fresh DFSMN"
    else:
        est = MaskEstimator.load(model_path)
        est.require_streamable()
        model, normalizer, label = est.net, est.normalizer, str(model_path)
    sess = ort_session(streaming_onnx(model, normalizer), threads=1)
    feats = _random_fbank(normalizer, 1, hops + warmup, seed=2)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t_ort, t_torch = np.empty(hops), np.empty(hops)
        cache, tcache, err = model.init_cache(1).numpy(), model.init_cache(1), 0.0
        for i in range(hops + warmup):
            frame = feats[:, i]
            t0 = time.perf_counter()
            mask, cache = sess.run(["mask", "new_cache"], {"frame": frame.numpy(), "cache": cache})
            t1 = time.perf_counter()
            tmask, tcache = model.step(normalizer(frame), tcache)
            t2 = time.perf_counter()
            if i >= warmup:
                t_ort[i - warmup], t_torch[i - warmup] = t1 - t0, t2 - t1
            err = max(err, float(np.abs(mask - tmask.numpy()).max()))
    finally:
        torch.set_num_threads(old)
    ort_stats, torch_stats = _stats(t_ort * 1e3), _stats(t_torch * 1e3)
    return {"model": label, "hops": hops, "threads": 1, "onnxruntime": ort_stats, "torch": torch_stats,
            "speedup": torch_stats["mean_ms"] / ort_stats["mean_ms"], "max_abs_diff": err}


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        side = export_onnx(args.model, args.output, args.opset, streaming=not args.offline_only,
                           include_normalizer=not args.no_normalizer, verify=not args.no_verify)
    except AnsError as e:
        print(str(e), file=sys.stderr)
        return 1
    for g in side["graphs"].values():
        diff = g.get("max_abs_diff_vs_torch")
        print(args.output / g["file"], "" if diff is None else f"(max |onnx - torch| {diff:.2e})")
    print(args.output / SIDECAR)
    return 0


if __name__ == "__main__":
    sys.exit(main())
