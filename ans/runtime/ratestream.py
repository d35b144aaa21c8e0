"""Streaming at the caller's rate: soxr up -> the model's hop stream -> soxr down, fixed delay.

`RateStream(stream, sample_rate)` (or `stream.at_rate(sample_rate)`) wraps either streaming
enhancer (`ans.streaming.StreamingEnhancer`, `ans.runtime.streaming.OnnxStreamingEnhancer`):
any chunk at `sample_rate` in, as many samples out, a fixed delay of `latency_samples`:

    concat(outputs + [flush()])[latency_samples:] == enhancer.enhance(x, sample_rate, keep_rate=True)

to float rounding (soxr's streaming resampler gives its whole-array result; the model stream
equals offline). soxr's stream hands out its output in blocks, so how far it lags its input
varies between calls; the delay is set once to cover the largest lag (`soxr_max_lag`), which
is why it is longer than the model's 40 ms: 16 kHz 113 ms, 44.1 kHz 80 ms (docs/signal_path.md).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from ans.runtime.hopstream import _as_float32, check_chunk
from ans.runtime.resample import QUALITY, fit_length, output_length, soxr_stream


@cache
def soxr_max_lag(sr_from: int, sr_to: int, quality: str = QUALITY) -> float:
    """The most output samples soxr's stream ever owes (expected minus delivered), measured by
    feeding it one sample at a time for one second: output comes in blocks as soon as a block's
    input is in, so one-sample calls see every phase of the block cycle and the cycle repeats
    well within a second (largest seen: 8 -> 48 kHz, cycle 0.15 s). 0.04-0.3 s, once per rate pair."""
    rs = soxr_stream(sr_from, sr_to, quality)
    one, lag = np.zeros(1, np.float32), 0.0
    for _ in range(sr_from):
        rs.resample_chunk(one)
        lag = max(lag, rs.delay())
    return lag


class RateStream:
    """A model stream (`process`/`flush`/`reset`, `sample_rate`, `latency_samples`) driven at
    `sample_rate`; the identity wrapper when the rates match."""

    def __init__(self, stream, sample_rate: int):
        from ans.audio import check_waveform

        check_waveform(np.zeros(0, np.float32), sample_rate, "<stream>")  # a rate ans accepts, else one line
        self.stream, self.sample_rate = stream, int(sample_rate)
        self.model_rate = int(stream.sample_rate)
        if self.sample_rate == self.model_rate:
            self.latency_samples = int(stream.latency_samples)
        else:
            up = soxr_max_lag(self.sample_rate, self.model_rate) * self.sample_rate / self.model_rate
            model = stream.latency_samples * self.sample_rate / self.model_rate
            down = soxr_max_lag(self.model_rate, self.sample_rate)
            self.latency_samples = int(math.ceil(up + model + down)) + 2  # +2: rounding of three counts
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next sample is the start of a new stream."""
        self.stream.reset()
        self._received = 0
        if self.sample_rate == self.model_rate:
            return
        self._up = soxr_stream(self.sample_rate, self.model_rate)
        self._down = soxr_stream(self.model_rate, self.sample_rate)
        self._fed = 0  # samples given to the model stream
        self._skip = int(self.stream.latency_samples)  # the model stream's leading delay zeros
        self._fifo = np.zeros(self.latency_samples, np.float32)  # output owed, delay first

    def _model(self, y: np.ndarray) -> None:
        """Samples at the model's rate -> the model stream -> the fifo at ours."""
        self._fed += y.size
        z = self.stream.process(y)
        cut = min(self._skip, z.size)
        self._skip -= cut
        self._push(self._down.resample_chunk(z[cut:]))

    def _push(self, y: np.ndarray) -> None:
        if y.size:
            self._fifo = np.concatenate([self._fifo, y])

    def _pop(self, n: int) -> np.ndarray:
        if self._fifo.size < n:  # the delay covers soxr's largest lag: this is a bug, not bad input
            raise RuntimeError(f"RateStream: {self._fifo.size} samples ready, {n} owed")
        out, self._fifo = self._fifo[:n], self._fifo[n:]
        return out

    def process(self, chunk) -> np.ndarray:
        """Feed a mono chunk at `sample_rate` (float in [-1, 1] or integer PCM); returns as many samples."""
        if self.sample_rate == self.model_rate:
            return self.stream.process(chunk)
        x = _as_float32(check_chunk(chunk), self.sample_rate)
        self._received += x.size
        self._model(self._up.resample_chunk(x))
        return self._pop(x.size)

    def flush(self) -> np.ndarray:
        """End of stream: the last `latency_samples` of output (then the state is reset)."""
        if self.sample_rate == self.model_rate:
            return self.stream.flush()
        n_model = max(1, output_length(self._received, self.sample_rate, self.model_rate))
        tail = self._up.resample_chunk(np.zeros(0, np.float32), last=True)
        self._model(fit_length(tail, max(0, n_model - self._fed)))  # the model hears exactly the offline path's n_model samples
        z = self.stream.flush()[self._skip:]
        self._push(self._down.resample_chunk(z, last=True))
        # everything returned = the delay + the offline output fitted to the input's length
        out = fit_length(self._fifo, self.latency_samples)
        self.reset()
        return out
