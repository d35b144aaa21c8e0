"""Offline enhancement on onnxruntime, in blocks so memory stays flat in the file's length.

The causal student's output frame t depends only on fbank frames t-171 .. t (9 FSMN layers x
19 past frames), so a block of frames run through the offline graph behind `context` frames
of the previous block gives exactly the whole-file result (tested against the torch path).
Files are read, resampled (soxr, streaming), enhanced and written block by block: a 10-minute
file needs no more memory than a 1-minute one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ans.errors import AnsError
from ans.runtime.dsp import Dsp
from ans.runtime.model import OnnxModel, atten_floor

BLOCK_FRAMES = 1000  # 20 s of frames per graph call: large enough that the 171-frame context is cheap
READ_BLOCK = 1 << 18  # input samples read per step (~5 s at 48 kHz)


class FrameEngine:
    """Input samples at the model's rate in, enhanced samples out, frame-exact with whole-file
    processing. `dsp.spec` gives the framing.

    `feed` returns the output completed so far (a frame can be computed once its `frame` samples
    arrived; its overlap-add completes the hop before it), `finish` applies the end padding
    of `ans.features.pad_for_frames` and returns the rest; in total exactly as many samples
    come out as went in."""

    def __init__(self, model: OnnxModel, dsp: Dsp, floor: float = 0.0, block_frames: int = BLOCK_FRAMES):
        if model.context is None:
            block_frames = 1 << 62  # look-ahead or BLSTM: one call over the whole file
        self.model, self.dsp, self.floor, self.block = model, dsp, np.float32(floor), block_frames
        self.spec = spec = dsp.spec
        self._buf = np.zeros(spec.hop, dtype=np.float32)  # from the start of the next frame (front pad)
        self._ctx = np.zeros((0, spec.n_mels), dtype=np.float32)
        self._tail = np.zeros(spec.hop, dtype=np.float32)
        self._frames = self._received = self._emitted = 0

    def _ready(self) -> int:
        return max(0, (self._buf.size - self.spec.frame) // self.spec.hop + 1)

    def _run(self, t: int) -> np.ndarray:
        hop = self.spec.hop
        frames = self.dsp.frames_of(self._buf[:hop * (t + 1)])
        feats = self.dsp.fbank(frames)
        x = np.concatenate([self._ctx, feats]) if self._ctx.size else feats
        mask = self.model.offline(x)[-t:]
        if self.floor > 0:
            np.maximum(mask, self.floor, out=mask)
        synth = self.dsp.synthesis(self.dsp.analysis(frames) * mask)
        prev = np.concatenate([self._tail[None], synth[:-1, hop:]])
        blocks = (synth[:, :hop] + prev) / self.dsp.ola_env
        self._tail = synth[-1, hop:].copy()
        if self._frames == 0:  # frame 0 only completes the front padding
            blocks = blocks[1:]
        self._frames += t
        if self.model.context:
            self._ctx = x[-self.model.context:]
        self._buf = self._buf[hop * t:].copy()
        return blocks.reshape(-1)

    def _drain(self, out: list) -> None:
        while (t := min(self._ready(), self.block)) > 0:
            out.append(self._run(t))

    def _emit(self, out: list, limit: int) -> np.ndarray:
        y = np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
        y = y[:max(0, limit - self._emitted)]
        self._emitted += y.size
        return y

    def feed(self, x: np.ndarray) -> np.ndarray:
        self._buf = np.concatenate([self._buf, x.astype(np.float32, copy=False)])
        self._received += x.size
        out: list = []
        if self.model.context is not None:
            self._drain(out)
        return self._emit(out, self._received)

    def finish(self) -> np.ndarray:
        need = self.spec.hop * (self.spec.num_frames(self._received) - self._frames + 1)
        if need > self._buf.size:
            self._buf = np.concatenate([self._buf, np.zeros(need - self._buf.size, dtype=np.float32)])
        out: list = []
        self._drain(out)
        return self._emit(out, self._received)


class OnnxEnhancer:
    """Torch-free counterpart of `ans.enhance.Enhancer`: same input policy, same output."""

    def __init__(self, model: OnnxModel | str | os.PathLike | None = None, atten_lim_db: float | None = None,
                 threads: int = 1, block_frames: int = BLOCK_FRAMES):
        self.model = model if isinstance(model, OnnxModel) else OnnxModel(model, threads)
        self.floor = atten_floor(atten_lim_db)
        self.spec = self.model.spec
        self.dsp = Dsp(self.spec)
        self.block_frames = block_frames
        self.kind, self.source = self.model.kind, str(self.model.dir)

    @property
    def streamable(self) -> bool:
        return self.model.streamable

    @property
    def sample_rate(self) -> int:
        return self.spec.sample_rate

    def engine(self) -> FrameEngine:
        return FrameEngine(self.model, self.dsp, self.floor, self.block_frames)

    def enhance_native(self, wave: np.ndarray) -> np.ndarray:
        """Waveform at the model's rate -> enhanced, same length."""
        eng = self.engine()
        parts = [eng.feed(wave[i:i + READ_BLOCK]) for i in range(0, wave.size, READ_BLOCK)]
        return np.concatenate([*parts, eng.finish()])

    def enhance(self, x: np.ndarray, sr: int, name: str = "<array>", keep_rate: bool = False) -> np.ndarray:
        """Any-rate waveform -> enhanced float32 at the model's rate (or at `sr` with keep_rate), same duration."""
        from ans.audio import check_waveform
        from ans.runtime.resample import fit_length, output_length, resample

        x = check_waveform(x, sr, name)
        if x.size == 0:
            raise AnsError("empty audio (0 samples)", name)
        sr = int(sr)
        peak = float(np.max(np.abs(x)))
        if peak > 1.0:  # beyond full scale: enhance at peak 1, scale back (as Enhancer)
            x = x / np.float32(peak)
        rate = self.sample_rate
        n_out = max(1, output_length(x.size, sr, rate))
        y = self.enhance_native(fit_length(resample(x, sr, rate), n_out)) if np.any(x) \
            else np.zeros(n_out, dtype=np.float32)
        if keep_rate:
            y = fit_length(resample(y, rate, sr), x.size)
        return _rescale(y, peak, name)

    def enhance_file(self, in_path: str | os.PathLike, out_path: str | os.PathLike, overwrite: bool = False,
                     subtype: str = "PCM_16", max_bytes: int | None = None, keep_rate: bool = False) -> Path:
        """Enhance one file block by block (flat memory); same checks and atomic publish as Enhancer."""
        from ans.runtime.fileio import enhance_file_blocks

        return enhance_file_blocks(self, Path(in_path), Path(out_path), overwrite, subtype, max_bytes, keep_rate)

    def streaming(self):
        from ans.runtime.streaming import OnnxStreamingEnhancer

        return OnnxStreamingEnhancer(self.model, floor=self.floor)


def _rescale(y: np.ndarray, peak: float, name: str) -> np.ndarray:
    if peak > 1.0:
        big = float(np.finfo(np.float32).max)
        y = np.clip(y.astype(np.float64) * peak, -big, big).astype(np.float32)
    if not np.isfinite(y).all():
        raise AnsError("enhancement produced NaN or Inf samples", name)
    return y.astype(np.float32, copy=False)
