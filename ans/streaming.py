"""Frame-by-frame enhancement with cached DFSMN state: any chunk size in, same size out.

Alignment with offline processing (`ans.features.pad_for_frames` / `istft`): frame t covers
input samples [960(t-1), 960(t+1)), so it can be computed once 960(t+1) samples have arrived;
the ring starts as one hop of zeros, which is the offline front padding. Weighted overlap-add
of frame t completes output block t-1 (samples [960(t-1), 960t)); frame 0 only completes
the front padding, which offline output drops too. Output sample n thus needs input up to
960*floor(n/960) + 1919, and a fixed delay of FRAME = 1920 samples (40 ms) covers every n:

    stream_out[n] = offline(x)[n - 1920]   (zeros for n < 1920)

`flush()` feeds the offline end padding (zeros up to num_frames(N) frames) and returns the
last 1920 samples, so concat(outputs + [flush()])[1920:] == offline(x). Work per 20 ms hop is
constant: one fbank frame, one `DFSMN.step` (cache: per layer the last N1-1 projected
frames), one FFT pair.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np
import torch

from ans.errors import AnsError
from ans.features import Normalizer
from ans.model import MaskEstimator


class StreamingEnhancer:
    """Causal streaming at the model's rate with a fixed latency of `latency_samples` (one
    frame: 1920 samples = 40 ms for the 48 kHz models)."""

    def __init__(self, model, normalizer: Normalizer | None = None, num_threads: int | None = 1,
                 atten_lim_db: float | None = None):
        """`model`: a MaskEstimator, a model.pt path, a (network, normalizer) pair or an Enhancer. `num_threads`:
        torch threads while a hop is computed (1: the per-hop ops are far too small to gain
        from more, and waking idle threads every 20 ms costs more than the work; None: leave as is).
        `atten_lim_db`: mask floor, at most this much attenuation (None: no limit)."""
        from ans.runtime.model import atten_floor

        self.floor = atten_floor(atten_lim_db)
        if isinstance(model, str | os.PathLike):
            est = MaskEstimator.load(model)
        elif isinstance(model, tuple | list):
            est = MaskEstimator.wrap(*model)
        elif hasattr(model, "estimator"):  # an Enhancer
            est = model.estimator
        else:
            est = MaskEstimator.wrap(model, normalizer)
        est.require_streamable("use Enhancer")
        self.estimator = est.eval().float()
        self.model, self.normalizer, self.spec = est.net, est.normalizer, est.spec
        self.sample_rate, self.latency_samples = est.spec.sample_rate, est.latency_samples
        self.fe = est.features()
        self.num_threads = num_threads
        self._env = self.fe.ola_envelope()
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next sample is the start of a new stream."""
        frame, hop = self.spec.frame, self.spec.hop
        self._ring = np.zeros(frame, dtype=np.float32)  # last `frame` input samples (zeros = front pad)
        self._fill = 0  # samples of the current hop already in _ring[HOP:]
        self._received = 0
        self._frames = 0  # frames computed so far
        self._cache = self.estimator.init_state(1)
        self._tail = torch.zeros(hop)  # second half of the previous synthesis frame
        self._pending = np.zeros(frame, dtype=np.float32)  # the one-frame delay, then offline output

    @property
    def cache(self) -> torch.Tensor:
        """DFSMN state (1, depth, N1-1, hidden): fixed size whatever the stream length."""
        return self._cache

    @contextmanager
    def _threads(self, active: bool):
        old = torch.get_num_threads()
        if not active or self.num_threads is None or self.num_threads == old:
            yield
            return
        torch.set_num_threads(self.num_threads)
        try:
            yield
        finally:
            torch.set_num_threads(old)

    @torch.inference_mode()
    def _hop(self) -> np.ndarray | None:
        """Compute one frame from the ring; return the output block it completes (None for frame 0)."""
        frame = torch.from_numpy(self._ring.copy())
        hop = self.spec.hop
        mask, self._cache = self.estimator.step(self.fe.fbank_frames(frame.unsqueeze(0)), self._cache)
        if self.floor > 0:
            mask = mask.clamp_min(self.floor)
        synth = self.fe.synthesis_frame(self.fe.analysis_frame(frame) * mask[0])
        block = (self._tail + synth[:hop]) / self._env
        self._tail = synth[hop:]
        self._ring[:hop] = self._ring[hop:]
        self._frames += 1
        return block.numpy() if self._frames > 1 else None

    def _emit(self, blocks: list[np.ndarray], n: int) -> np.ndarray:
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
        blocks: list[np.ndarray] = []
        with self._threads(self._fill + x.size >= self.spec.hop):
            self._consume(x, blocks)
        self._received += x.size
        return self._emit(blocks, x.size)

    def _consume(self, x: np.ndarray, blocks: list) -> None:
        pos, hop = 0, self.spec.hop
        while pos < x.size:
            take = min(hop - self._fill, x.size - pos)
            self._ring[hop + self._fill:hop + self._fill + take] = x[pos:pos + take]
            self._fill += take
            pos += take
            if self._fill == hop:
                self._fill = 0
                block = self._hop()
                if block is not None:
                    blocks.append(block)

    def flush(self) -> np.ndarray:
        """End of stream: the last `latency_samples` of output (then the state is reset)."""
        blocks = []
        with self._threads(True):
            while self._frames < self.spec.num_frames(self._received):  # offline end padding: zeros
                self._ring[self.spec.hop + self._fill:] = 0.0
                self._fill = 0
                block = self._hop()
                if block is not None:
                    blocks.append(block)
        out = self._emit(blocks, self.spec.frame)
        self.reset()
        return out
