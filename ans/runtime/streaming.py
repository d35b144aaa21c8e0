"""Frame-by-frame enhancement on onnxruntime: the torch-free `ans.streaming.StreamingEnhancer`.

Same contract (the loop is `ans.runtime.hopstream.HopStream`, the framing the export's
SignalSpec): any chunk size in, as many samples out, a fixed delay of one frame (48 kHz: 1920
samples, 40 ms): stream_out[n] = offline(x)[n - 1920], and
concat(outputs + [flush()])[1920:] == offline(x). Per 20 ms hop: one fbank frame, one step of
the streaming graph (state: the per-layer cache), one FFT pair. The graph runs on IO bindings
fixed at construction (two, so the cache ping-pongs between two buffers): a step allocates
nothing and skips the per-call name/dict conversions of `session.run`.
"""

from __future__ import annotations

import os

import numpy as np

from ans.runtime.dsp import Dsp
from ans.runtime.hopstream import HopStream
from ans.runtime.model import OnnxModel, atten_floor


class OnnxStreamingEnhancer(HopStream):
    def __init__(self, model: OnnxModel | str | os.PathLike | None = None, atten_lim_db: float | None = None,
                 floor: float | None = None, threads: int = 1):
        self.model = model if isinstance(model, OnnxModel) else OnnxModel(model, threads)
        self.sess = self.model.streaming_session()
        self.floor = np.float32(atten_floor(atten_lim_db) if floor is None else floor)
        self.dsp = Dsp(self.model.spec)
        self._bind()
        super().__init__(self.dsp.ola_env, self.model.spec)

    def _bind(self) -> None:
        shapes = {o.name: o.shape for o in self.sess.get_outputs()}
        self._feats = np.zeros((1, self.sess.get_inputs()[0].shape[1]), dtype=np.float32)
        self._mask = np.zeros((1, shapes["mask"][1]), dtype=np.float32)
        self._caches = (self.model.init_cache(), self.model.init_cache())
        self._io = []
        for src, dst in ((0, 1), (1, 0)):
            io = self.sess.io_binding()
            io.bind_cpu_input("frame", self._feats)  # bound by address: later writes are seen
            io.bind_cpu_input("cache", self._caches[src])
            io.bind_output("mask", "cpu", 0, np.float32, self._mask.shape, self._mask.ctypes.data)
            io.bind_output("new_cache", "cpu", 0, np.float32, self._caches[dst].shape,
                           self._caches[dst].ctypes.data)
            self._io.append(io)
        self._cur = 0  # which buffer holds the current cache

    def _reset_model(self) -> None:
        self._caches[self._cur][:] = 0.0

    @property
    def cache(self) -> np.ndarray:
        """Per-layer state (1, depth, N1-1, hidden): fixed size whatever the stream length."""
        return self._caches[self._cur]

    def _synth(self, frame: np.ndarray) -> np.ndarray:
        frame = frame[None]
        self._feats[:] = self.dsp.fbank(frame)
        self.sess.run_with_iobinding(self._io[self._cur])
        self._cur ^= 1
        mask = self._mask
        if self.floor > 0:
            mask = np.maximum(mask, self.floor)
        return self.dsp.synthesis(self.dsp.analysis(frame) * mask)[0]
