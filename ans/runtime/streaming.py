"""Frame-by-frame enhancement on onnxruntime: the torch-free `ans.streaming.StreamingEnhancer`.

Same contract: any chunk size in, as many samples out, a fixed delay of 1920 samples (40 ms):
stream_out[n] = offline(x)[n - 1920], and concat(outputs + [flush()])[1920:] == offline(x).
Per 20 ms hop: one fbank frame, one step of the streaming graph (state: the per-layer cache),
one FFT pair; buffers are preallocated so a hop allocates little (it runs in audio callbacks).
"""

from __future__ import annotations

import os

import numpy as np

from ans.errors import AnsError
from ans.runtime.dsp import Dsp
from ans.runtime.model import OnnxModel, atten_floor


class OnnxStreamingEnhancer:
    def __init__(self, model: OnnxModel | str | os.PathLike | None = None, atten_lim_db: float | None = None,
                 floor: float | None = None, threads: int = 1):
        self.model = model if isinstance(model, OnnxModel) else OnnxModel(model, threads)
        self.sess = self.model.streaming_session()
        self.floor = np.float32(atten_floor(atten_lim_db) if floor is None else floor)
        self.spec = self.model.spec
        self.sample_rate, self.latency_samples = self.spec.sample_rate, self.spec.latency_samples()
        self.dsp = Dsp(self.spec)
        self.reset()

    def reset(self) -> None:
        self._ring = np.zeros(self.spec.frame, dtype=np.float32)  # last self.spec.frame input samples (zeros = front pad)
        self._fill = 0
        self._received = 0
        self._frames = 0
        self._cache = self.model.init_cache()
        self._tail = np.zeros(self.spec.hop, dtype=np.float32)
        self._pending = np.zeros(self.spec.frame, dtype=np.float32)  # the 40 ms delay

    @property
    def cache(self) -> np.ndarray:
        return self._cache

    def _hop(self) -> np.ndarray | None:
        frame = self._ring[None]
        feats = self.dsp.fbank(frame)
        mask, self._cache = self.sess.run(["mask", "new_cache"], {"frame": feats, "cache": self._cache})
        if self.floor > 0:
            np.maximum(mask, self.floor, out=mask)
        synth = self.dsp.synthesis(self.dsp.analysis(frame) * mask)[0]
        block = (self._tail + synth[:self.spec.hop]) / self.dsp.ola_env
        self._tail = synth[self.spec.hop:]
        self._ring[:self.spec.hop] = self._ring[self.spec.hop:]
        self._frames += 1
        return block if self._frames > 1 else None

    def _emit(self, blocks: list, n: int) -> np.ndarray:
        if blocks:
            self._pending = np.concatenate([self._pending, *blocks])
        out = self._pending[:n].copy()
        self._pending = self._pending[n:]
        return out

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Feed a mono 48 kHz chunk (any length, float in [-1, 1]); returns as many samples."""
        x = np.asarray(chunk)
        if x.ndim != 1:
            raise AnsError(f"expected a mono 1-D chunk, got shape {x.shape}", "<stream>")
        if np.issubdtype(x.dtype, np.integer):
            x = x.astype(np.float64) / (float(np.iinfo(x.dtype).max) + 1.0)
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            raise AnsError("chunk contains NaN or Inf samples", "<stream>")
        blocks: list = []
        pos = 0
        while pos < x.size:
            take = min(self.spec.hop - self._fill, x.size - pos)
            self._ring[self.spec.hop + self._fill:self.spec.hop + self._fill + take] = x[pos:pos + take]
            self._fill += take
            pos += take
            if self._fill == self.spec.hop:
                self._fill = 0
                block = self._hop()
                if block is not None:
                    blocks.append(block)
        self._received += x.size
        return self._emit(blocks, x.size)

    def flush(self) -> np.ndarray:
        """End of stream: the last `latency_samples` of output (then the state is reset)."""
        blocks = []
        while self._frames < self.spec.num_frames(self._received):  # offline end padding: zeros
            self._ring[self.spec.hop + self._fill:] = 0.0
            self._fill = 0
            block = self._hop()
            if block is not None:
                blocks.append(block)
        out = self._emit(blocks, self.spec.frame)
        self.reset()
        return out
