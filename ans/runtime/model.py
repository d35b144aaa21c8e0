"""An exported model folder (`python -m ans.export`): export.json + the ONNX graphs, on onnxruntime."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ans.errors import AnsError
from ans.signal_spec import REFERENCE, SignalSpec

# The bundled default: the shipped student exported by `make onnx` (package data).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models"
FORMAT = "ans-onnx/1"


def session(path: str | Path, threads: int = 1):
    """One-thread sequential onnxruntime session: per-frame graphs are too small to gain from
    more threads, and waking idle threads every 20 ms costs more than the work."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def atten_floor(atten_lim_db: float | None) -> float:
    """Mask floor for an attenuation limit in dB (None or inf: no floor)."""
    if atten_lim_db is None or np.isinf(atten_lim_db):
        return 0.0
    if atten_lim_db < 0 or np.isnan(atten_lim_db):
        raise AnsError(f"--atten-lim-db must be >= 0 dB, got {atten_lim_db}")
    return float(10.0 ** (-atten_lim_db / 20.0))


class OnnxModel:
    """The graphs of one export folder; sessions are opened on first use."""

    def __init__(self, path: str | os.PathLike | None = None, threads: int = 1):
        self.dir = Path(path) if path is not None else DEFAULT_MODEL_DIR
        if self.dir.is_file() and self.dir.suffix == ".json":
            self.dir = self.dir.parent
        side = self.dir / "export.json"
        if not side.is_file():
            hint = ("run `make onnx` (or `python -m ans.export pretrained/student/model.pt -o "
                    f"{DEFAULT_MODEL_DIR}`)" if path is None else "export a model.pt with `ans-export`")
            raise AnsError(f"not an ONNX export folder (no export.json): {hint}", self.dir)
        try:
            self.meta = json.loads(side.read_text())
        except (OSError, ValueError) as e:
            raise AnsError(f"unreadable export.json ({type(e).__name__})", side) from None
        if self.meta.get("format") != FORMAT:
            raise AnsError(f"export.json is not {FORMAT}", side)
        if not self.meta.get("normalizer", {}).get("included_in_graph", False):
            raise AnsError("exported with --no-normalizer; the runtime needs the normaliser in the graph",
                           side)
        self.kind = self.meta.get("kind", "student")
        self.graphs = self.meta["graphs"]
        # The model's answers, written by `ans.export` from `MaskEstimator` (older exports:
        # derived from the kwargs of the reference DFSMN, the only model they could stream).
        self.spec = SignalSpec.from_dict(self.meta["features"], side) if self.meta.get("features") else REFERENCE
        self.streamable = "streaming" in self.graphs
        model = self.meta.get("model", {})
        if "context_frames" in model:
            self.context = model["context_frames"]
        else:
            kw = self.meta.get("model_kwargs", {})
            causal = self.kind == "student" and int(kw.get("rorder", 0)) == 0
            self.context = int(kw.get("fsmn_depth", 9)) * (int(kw.get("lorder", 20)) - 1) if causal else None
        self.latency_samples = self.spec.latency_samples() if self.streamable else None
        self.threads = threads
        self._offline = self._streaming = None

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.dir)!r})"

    def _graph(self, name: str) -> Path:
        f = self.dir / self.graphs[name]["file"]
        if not f.is_file():
            raise AnsError("ONNX graph missing", f)
        return f

    def offline(self, fbank: np.ndarray) -> np.ndarray:
        """Raw fbank (T, 120) -> mask (T, 961)."""
        if self._offline is None:
            self._offline = session(self._graph("offline"), self.threads)
        return self._offline.run(["mask"], {"fbank": fbank[None].astype(np.float32, copy=False)})[0][0]

    def streaming_session(self):
        if not self.streamable:
            raise AnsError("this export has no streaming graph (teacher or non-causal student)", self.dir)
        if self._streaming is None:
            self._streaming = session(self._graph("streaming"), self.threads)
        return self._streaming

    def init_cache(self) -> np.ndarray:
        return np.zeros((1, *self.graphs["streaming"]["cache_shape"]), dtype=np.float32)
