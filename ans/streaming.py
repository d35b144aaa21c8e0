"""Frame-by-frame enhancement with cached DFSMN state: any chunk size in, same size out.

The per-hop loop, its alignment with offline processing (a fixed delay of FRAME = 1920
samples: stream_out[n] = offline(x)[n - 1920]) and the input policy live in
`ans.runtime.hopstream.HopStream`, shared with the torch-free `OnnxStreamingEnhancer`; this
class supplies the torch model behind it. Work per 20 ms hop is constant: one fbank frame,
one model step (DFSMN: `DFSMN.stepper()`, per layer the last N1-1 projected frames), one
FFT pair.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from ans.features import Normalizer
from ans.model import MaskEstimator
from ans.runtime.hopstream import HopStream


class _StepAdapter:
    """`MaskEstimator.step` behind the stepper interface of `DFSMN.stepper()` (input: raw fbank):
    any streamable model with `step(feats, cache)` and `init_cache(batch)`."""

    def __init__(self, model):
        self.model = model
        self.reset()

    def reset(self) -> None:
        self.cache = self.model.init_state(1)

    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        mask, self.cache = self.model.step(feats, self.cache)
        return mask


class StreamingEnhancer(HopStream):
    """Causal streaming at the model's rate with a fixed latency of `latency_samples` (one
    frame: 1920 samples = 40 ms for the 48 kHz models)."""

    def __init__(self, model, normalizer: Normalizer | None = None, num_threads: int | None = 1,
                 atten_lim_db: float | None = None):
        """`model`: a MaskEstimator, a model.pt path, a (network, normalizer) pair or an Enhancer. `num_threads`:
        torch threads while a hop is computed (1: the per-hop ops are far too small to gain
        from more, and waking idle threads every 20 ms costs more than the work; None: leave as is).
        `atten_lim_db`: mask floor, at most this much attenuation (None: no limit).
        The model's weights are read once here (a DFSMN's stepper keeps them pre-transposed)."""
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
        self.model, self.normalizer = est.net, est.normalizer
        self.fe = est.features()
        self.num_threads = num_threads
        with torch.inference_mode():  # a DFSMN stepper takes normalised features
            self._stepper = est.net.stepper() if hasattr(est.net, "stepper") else _StepAdapter(est)
        self._normalize = hasattr(est.net, "stepper")
        super().__init__(self.fe.ola_envelope().numpy(), est.spec)

    def _reset_model(self) -> None:
        self._stepper.reset()

    @property
    def cache(self) -> torch.Tensor:
        """DFSMN state (1, depth, N1-1, hidden): fixed size whatever the stream length."""
        return self._stepper.cache

    def _threads(self) -> int | None:
        """Set the hop's torch thread count; returns the one to restore (None: unchanged)."""
        old = torch.get_num_threads()
        if self.num_threads is None or self.num_threads == old:
            return None
        torch.set_num_threads(self.num_threads)
        return old

    def _run(self, method, *args):
        old = self._threads()
        try:
            with torch.inference_mode():
                return method(*args)
        finally:
            if old is not None:
                torch.set_num_threads(old)

    def process(self, chunk) -> np.ndarray:
        """Feed a mono chunk at the model's rate (any length, float in [-1, 1] or integer PCM); returns as many samples."""
        return self._run(super().process, chunk)

    def flush(self) -> np.ndarray:
        """End of stream: the last `latency_samples` of output (then the state is reset)."""
        return self._run(super().flush)

    def _synth(self, frame: np.ndarray) -> np.ndarray:
        f = torch.from_numpy(frame)  # no copy: the ring moves only after this returns
        feats = self.fe.fbank_frames(f.unsqueeze(0))
        mask = self._stepper(self.normalizer(feats) if self._normalize else feats)
        if self.floor > 0:
            mask = mask.clamp_min(self.floor)
        return self.fe.synthesis_frame(self.fe.analysis_frame(f) * mask[0]).numpy()
