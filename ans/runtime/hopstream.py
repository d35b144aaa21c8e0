"""The per-hop streaming loop, shared by `ans.streaming.StreamingEnhancer` (torch) and
`ans.runtime.streaming.OnnxStreamingEnhancer` (onnxruntime); torch-free.

The framing is the model's SignalSpec (`ans.signal_spec`; numbers below: the 48 kHz spec,
hop 960, frame 1920). Alignment with offline processing (`ans.features.pad_for_frames` /
`istft`): frame t covers input samples [960(t-1), 960(t+1)), so it can be computed once
960(t+1) samples have arrived;
the ring starts as one hop of zeros, which is the offline front padding. Weighted overlap-add
of frame t completes output block t-1 (samples [960(t-1), 960t)); frame 0 only completes
the front padding, which offline output drops too. A fixed delay of FRAME = 1920 samples
(40 ms) therefore covers every output sample:

    stream_out[n] = offline(x)[n - 1920]   (zeros for n < 1920)

`flush()` feeds the offline end padding (zeros up to num_frames(N) frames) and returns the
last 1920 samples, so concat(outputs + [flush()])[1920:] == offline(x).

A backend supplies `_synth(frame)`: one raw frame (FRAME,) with peak <= 1 -> its masked,
windowed synthesis frame (FRAME,), advancing its model state; and `_reset_model()`.
Work per hop is that call plus a few small copies: the output array is allocated once per
chunk and blocks are written straight into it, so a hop allocates almost nothing and a chunk
of any length costs its output plus O(PIECE) memory.
"""

from __future__ import annotations

import numpy as np

from ans.errors import AnsError
from ans.signal_spec import SignalSpec

PIECE = 1 << 16  # samples converted to float32 at a time (a huge int/float64 chunk: no full copy)
_LABEL = "<stream>"
_BIG = float(np.finfo(np.float32).max)


def _as_float32(piece: np.ndarray, sr: int) -> np.ndarray:
    """One piece of a validated 1-D chunk -> float32 in [-1, 1] units, refused if not finite
    (the input policy of offline enhancement: `ans.audio.check_waveform`)."""
    if piece.dtype == np.float32:  # the per-hop case: no conversion, no call overhead
        if not np.isfinite(piece).all():
            raise AnsError("audio contains NaN or Inf samples", _LABEL)
        return piece
    from ans.audio import check_waveform

    return check_waveform(piece, sr, _LABEL)


def check_chunk(chunk) -> np.ndarray:
    """A 1-D array of real numbers (not converted yet), else one AnsError line: str, bool,
    complex and object chunks are refused as offline input is."""
    try:
        x = np.asarray(chunk)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise AnsError(f"not an audio chunk ({type(e).__name__})", _LABEL) from None
    if x.dtype.kind not in "iuf":  # b(ool), c(omplex), U/S (str), O(bject), V, M, m
        raise AnsError(f"unsupported sample type {x.dtype}", _LABEL)
    if x.ndim != 1:
        raise AnsError(f"expected a mono 1-D chunk, got shape {x.shape}", _LABEL)
    return x


class HopStream:
    """Any chunk size in, as many samples out, a fixed delay of `latency_samples` (one frame)
    at `sample_rate` (both the model spec's)."""

    def __init__(self, ola_env: np.ndarray, spec: SignalSpec):
        self.spec = spec
        self.sample_rate, self.latency_samples = spec.sample_rate, spec.latency_samples()
        FRAME, HOP = spec.frame, spec.hop
        self._env = np.asarray(ola_env, dtype=np.float32)  # sum of squared windows over one hop
        self._ring = np.zeros(FRAME, dtype=np.float32)
        self._tail = np.zeros(HOP, dtype=np.float32)
        self._pend = np.zeros(FRAME + HOP, dtype=np.float32)  # output not yet returned (<= FRAME)
        self._block = np.empty(HOP, dtype=np.float32)
        self.reset()

    # -- backend ------------------------------------------------------------------------
    def _synth(self, frame: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _reset_model(self) -> None:
        raise NotImplementedError

    # -- state --------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything: the next sample is the start of a new stream."""
        FRAME = self.spec.frame
        self._ring[:] = 0.0  # last FRAME input samples (zeros = offline front padding)
        self._fill = 0  # samples of the current hop already in _ring[HOP:]
        self._received = 0
        self._frames = 0  # frames computed so far
        self._tail[:] = 0.0  # second half of the previous synthesis frame
        self._pend[:FRAME] = 0.0  # the 40 ms delay, then offline output
        self._npend = FRAME
        self._reset_model()

    def _hop(self, out: np.ndarray, w: int) -> int:
        """Compute one frame from the ring, write the block it completes at out[w:]; new w."""
        frame, HOP = self._ring, self.spec.hop
        peak = max(float(frame.max()), -float(frame.min()))
        if peak <= 1.0:
            synth = self._synth(frame)
            block = np.add(self._tail, synth[:HOP], out=self._block)
            block /= self._env
            self._tail[:] = synth[HOP:]
        else:  # beyond full scale (up to 3e38): the model sees the frame at peak 1, as offline
            synth = self._synth(frame / np.float32(peak)).astype(np.float64) * peak  # mask is linear
            block = np.clip((self._tail + synth[:HOP]) / self._env, -_BIG, _BIG).astype(np.float32)
            self._tail[:] = np.clip(synth[HOP:], -_BIG, _BIG)
        frame[:HOP] = frame[HOP:]
        self._frames += 1
        return self._put(block, out, w) if self._frames > 1 else w  # frame 0: front padding only

    def _put(self, block: np.ndarray, out: np.ndarray, w: int) -> int:
        HOP = self.spec.hop
        if self._npend == 0:
            k = min(HOP, out.size - w)
            out[w:w + k] = block[:k]
            w += k
            block = block[k:]
        if block.size:
            self._pend[self._npend:self._npend + block.size] = block
            self._npend += block.size
        return w

    def _take_pending(self, out: np.ndarray) -> int:
        k = min(self._npend, out.size)
        out[:k] = self._pend[:k]
        self._pend[:self._npend - k] = self._pend[k:self._npend].copy()
        self._npend -= k
        return k

    def _consume(self, x: np.ndarray, out: np.ndarray, w: int) -> int:
        pos, n, HOP = 0, x.size, self.spec.hop
        while pos < n:
            take = min(HOP - self._fill, n - pos)
            self._ring[HOP + self._fill:HOP + self._fill + take] = x[pos:pos + take]
            self._fill += take
            pos += take
            if self._fill == HOP:
                self._fill = 0
                w = self._hop(out, w)
        return w

    # -- API ----------------------------------------------------------------------------
    def process(self, chunk) -> np.ndarray:
        """Feed a mono chunk at `sample_rate` (any length, float in [-1, 1] or integer PCM); returns as
        many samples. A long chunk is converted and processed in pieces of PIECE samples."""
        x = check_chunk(chunk)
        n = x.size
        sr = self.sample_rate
        first = _as_float32(x[:PIECE], sr)
        for i in range(PIECE, n, PIECE):  # the whole chunk is checked before the state moves
            _as_float32(x[i:i + PIECE], sr)
        out = np.empty(n, dtype=np.float32)
        w = self._take_pending(out)
        w = self._consume(first, out, w)
        for i in range(PIECE, n, PIECE):
            w = self._consume(_as_float32(x[i:i + PIECE], sr), out, w)
        self._received += n
        return out

    def at_rate(self, sample_rate: int):
        """This stream driven at another rate (`ans.runtime.ratestream.RateStream`): chunks at
        `sample_rate` in and out, equal to offline enhancement with keep_rate."""
        from ans.runtime.ratestream import RateStream

        return RateStream(self, sample_rate)

    def flush(self) -> np.ndarray:
        """End of stream: the last `latency_samples` of output (then the state is reset)."""
        out = np.empty(self.spec.frame, dtype=np.float32)
        w = self._take_pending(out)
        while self._frames < self.spec.num_frames(self._received):  # offline end padding: zeros
            self._ring[self.spec.hop + self._fill:] = 0.0
            self._fill = 0
            w = self._hop(out, w)
        self.reset()
        return out
