"""Audio I/O with soundfile (torchaudio.load would need torchcodec) and atomic writes."""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from ans.errors import AnsError, reason
from ans.signal_spec import REFERENCE

if TYPE_CHECKING:
    import torch

SAMPLE_RATE = REFERENCE.sample_rate  # the shipped models' rate (ans.signal_spec)
MIN_SAMPLE_RATE = 8_000


READ_ERRORS = (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError, AssertionError)


def read_audio(path: str | os.PathLike | bytes, *, start: int = 0, frames: int = -1,
               name: str | None = None) -> tuple[np.ndarray, int]:
    """Read channel 0 of a wav/flac/ogg/mp3/... file (or its bytes) as float32 in [-1, 1].

    `start`/`frames` read a slice without loading the whole file (lazy corpus reads). A
    whole-file read also refuses truncated files (`ans.truncation`). Raises AnsError with one
    line naming the file for anything unreadable.
    """
    is_bytes = isinstance(path, bytes | bytearray | memoryview)
    label = name or ("<bytes>" if is_bytes else str(path))
    src = io.BytesIO(path) if is_bytes else path
    if not is_bytes and not Path(path).is_file():
        raise AnsError("no such file", label)
    whole = not start and frames < 0
    if whole:
        from ans.truncation import check_complete

        if is_bytes:
            check_complete(src, len(src.getbuffer()), label)
            src.seek(0)
        else:
            with open(path, "rb") as fh:
                check_complete(fh, os.fstat(fh.fileno()).st_size, label)
    try:
        with sf.SoundFile(src) as f:
            if start:
                f.seek(start)
            if f.seekable():
                data = f.read(frames=frames, dtype="float32", always_2d=True)
            else:  # e.g. a GSM610 wav: libsndfile cannot read "all frames" in one call
                limit = None if frames < 0 else frames
                parts = list(read_blocks(f, 1 << 16, limit, channel=None))
                data = np.concatenate(parts) if parts else np.zeros((0, f.channels), np.float32)
            sr, declared = f.samplerate, f.frames
    except READ_ERRORS as e:
        raise AnsError(f"not a readable audio file ({reason(e)})", label) from None
    if whole:
        from ans.truncation import check_frames

        check_frames(declared, len(data), label)
    return np.ascontiguousarray(data[:, 0]), int(sr)


def read_blocks(f: sf.SoundFile, block: int, limit: int | None = None, channel: int | None = 0):
    """Consecutive float32 blocks of an open file (channel 0, or all channels with channel=None);
    reads with an explicit frame count, which non-seekable formats (GSM610) need."""
    left = limit
    while left is None or left > 0:
        data = f.read(frames=block if left is None else min(left, block), dtype="float32", always_2d=True)
        if not data.shape[0]:
            return
        if left is not None:
            left -= data.shape[0]
        yield data if channel is None else np.ascontiguousarray(data[:, channel])


def check_waveform(x: np.ndarray, sr: int, label: str = "<array>") -> np.ndarray:
    """Validate a mono waveform: finite samples and a supported rate. Returns float32."""
    try:
        x = np.asarray(x)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise AnsError(f"not an audio array ({str(e).splitlines()[0] if str(e) else type(e).__name__})",
                       label) from None
    if x.ndim == 2:
        x = x.reshape(0) if x.size == 0 else x[:, 0] if x.shape[0] > x.shape[1] else x[0]
    if x.ndim != 1:
        raise AnsError(f"expected mono or (samples, channels) audio, got shape {x.shape}", label)
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise AnsError(f"unsupported sample type {x.dtype}", label)
    if np.issubdtype(x.dtype, np.integer):  # PCM; unsigned (e.g. uint8 wav) is offset binary
        info = np.iinfo(x.dtype)
        scale = float(info.max) + 1.0 if info.min < 0 else (float(info.max) + 1.0) / 2
        x = (x.astype(np.float64) - (0.0 if info.min < 0 else scale)) / scale
    with np.errstate(over="ignore"):  # float64 beyond float32 range -> inf -> refused below
        x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise AnsError("audio contains NaN or Inf samples", label)
    if isinstance(sr, bool) or not isinstance(sr, int | np.integer):
        raise AnsError(f"sample rate must be an integer number of Hz, got {sr!r}", label)
    if sr < MIN_SAMPLE_RATE:
        raise AnsError(f"unsupported sample rate {sr} Hz (need >= {MIN_SAMPLE_RATE} Hz)", label)
    if sr > 384_000:
        raise AnsError(f"unsupported sample rate {sr} Hz (need <= 384000 Hz)", label)
    return x


_MAX_KERNEL = 1 << 18  # torchaudio kernel elements (1 MB) above which the direct path is used


def resample(x: torch.Tensor, sr_from: int, sr_to: int = SAMPLE_RATE) -> torch.Tensor:
    """Band-limited resampling (torchaudio's windowed sinc); identity when rates match.

    torchaudio builds one kernel row per output phase: (sr_to/g) x (sr_from/g) for g = gcd, so
    a rate like 44101 Hz would need an 8 GB kernel. Such ratios use `_resample_direct`, the same
    filter evaluated per output sample (bounded memory, same output length).
    """
    sr_from, sr_to = int(sr_from), int(sr_to)
    if sr_from == sr_to:
        return x
    g = math.gcd(sr_from, sr_to)
    width = math.ceil(6 * sr_from / (min(sr_from, sr_to) * 0.99))
    if (sr_to // g) * (sr_from // g + 2 * width) <= _MAX_KERNEL:
        fast = _torchaudio_resample()
        if fast is not None:
            return fast(x, sr_from, sr_to)
    return _resample_direct(x, sr_from, sr_to)


@functools.cache
def _torchaudio_resample():
    """torchaudio's resample, or None where it cannot load: a PyPI torchaudio wheel beside a CPU
    torch (`pip install ans[train]`) fails on its CUDA-linked extension; `_resample_direct` is the
    same filter (tests compare them). Imported here, not at the top: the onnx runtime imports this
    module."""
    try:
        import torchaudio.functional as AF
    except (ImportError, OSError):
        return None
    return AF.resample


class SincStreamResampler:
    """`resample` of a long signal pushed in blocks, with the whole-signal result (to float
    rounding) and exactly `total_out` samples over the stream (trimmed, or zero-padded at
    `finish`); bounded memory. The output grid repeats every p_out = sr_to/g samples (p_in =
    sr_from/g input samples, g = gcd), so blocks of whole periods computed with `ctx` periods
    of input on each side (zeros before the start and after the end, as the whole-signal
    padding) give the same samples as the whole signal."""

    def __init__(self, sr_from: int, sr_to: int, total_out: int):
        self.sr_from, self.sr_to, self.total, self.done = int(sr_from), int(sr_to), int(total_out), 0
        g = math.gcd(self.sr_from, self.sr_to)
        self.p_in, self.p_out = self.sr_from // g, self.sr_to // g
        width = math.ceil(6 * self.sr_from / (min(self.sr_from, self.sr_to) * 0.99)) + 2  # sinc half width
        self.ctx = -(-width // self.p_in) + 1
        self.per = max(4 * self.ctx, (1 << 16) // self.p_in)  # periods per resample call
        self.buf = np.zeros(self.ctx * self.p_in, np.float32)  # starts at input sample (next - ctx) * p_in
        self.next = 0  # next output period to compute

    def _cap(self, y: np.ndarray) -> np.ndarray:
        y = y[:max(0, self.total - self.done)]
        self.done += y.size
        return y

    def _run(self) -> np.ndarray:
        import torch

        out = []
        while (k := min(self.buf.size // self.p_in - 2 * self.ctx, self.per)) > 0:
            seg = torch.from_numpy(self.buf[:(k + 2 * self.ctx) * self.p_in])
            out.append(resample(seg, self.sr_from, self.sr_to)[self.ctx * self.p_out:(self.ctx + k) * self.p_out]
                       .numpy())
            self.buf, self.next = self.buf[k * self.p_in:], self.next + k
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def push(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if self.sr_from == self.sr_to:
            return self._cap(x)
        self.buf = np.concatenate([self.buf, x])
        return self._cap(self._run())

    def finish(self) -> np.ndarray:
        y = np.zeros(0, np.float32)
        if self.sr_from != self.sr_to:
            periods = -(-self.total // self.p_out) - self.next  # still to compute
            need = (max(periods, 0) + 2 * self.ctx) * self.p_in
            self.buf = np.concatenate([self.buf, np.zeros(max(0, need - self.buf.size), np.float32)])
            y = self._cap(self._run())
        pad = np.zeros(self.total - self.done, np.float32)
        self.done = self.total
        return np.concatenate([y, pad])


def _resample_direct(x: torch.Tensor, sr_from: int, sr_to: int, lowpass_filter_width: int = 6,
                     rolloff: float = 0.99, chunk: int = 1 << 14) -> torch.Tensor:
    """torchaudio's sinc_interp_hann resampler computed per output sample, in chunks."""
    import torch

    shape, n = x.shape[:-1], x.shape[-1]
    flat = x.reshape(-1, n).to(torch.float32)
    n_out = -(-sr_to * n // sr_from)  # ceil, as torchaudio
    base = min(sr_from, sr_to) * rolloff
    width = math.ceil(lowpass_filter_width * sr_from / base)
    padded = torch.nn.functional.pad(flat, (width + 1, width + 2))
    taps = torch.arange(-width, width + 2, dtype=torch.int64)
    out = flat.new_empty(flat.shape[0], n_out)
    for k0 in range(0, n_out, chunk):
        k = torch.arange(k0, min(n_out, k0 + chunk), dtype=torch.int64)
        pos = k * sr_from
        i0, frac = pos // sr_to, (pos % sr_to).to(torch.float64) / sr_to
        t = ((taps[None, :] - frac[:, None]) * (base / sr_from)).clamp(
            -lowpass_filter_width, lowpass_filter_width).to(torch.float32)
        window = torch.cos(t * (math.pi / lowpass_filter_width / 2)) ** 2
        kernel = torch.sinc(t) * window * (base / sr_from)
        idx = i0[:, None] + taps[None, :] + width + 1
        out[:, k0:k0 + k.numel()] = (padded[:, idx] * kernel).sum(-1)
    return out.to(x.dtype).reshape(*shape, n_out)


def pcm16_bytes(y: np.ndarray, sr: int, container: str = "WAV") -> bytes:
    """16-bit PCM of [-1, 1] audio (clipped) in memory: a WAV file, or headerless little-endian
    samples with container="RAW" (the reference service's `output_pcm`)."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(y, -1.0, 1.0), int(sr), format=container, subtype="PCM_16", endian="LITTLE")
    return buf.getvalue()


def write_audio(path: str | os.PathLike, x: np.ndarray | torch.Tensor, sr: int = SAMPLE_RATE,
                subtype: str = "PCM_16") -> Path:
    """Write a wav atomically: a temp file in the same folder, then rename over the target."""
    path = Path(path)
    data = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)  # torch.Tensor
    data = np.clip(data.astype(np.float32), -1.0, 1.0) if subtype.startswith("PCM") else data
    with atomic_target(path) as tmp:
        sf.write(tmp, data, sr, subtype=subtype, format=_format_for(path))
    return path


def _format_for(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    return {"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}.get(ext, "WAV")


def _default_mode() -> int:
    """Permissions a plain open() would give (mkstemp's temp files are owner-only)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_target(path: Path):
    """Yield a temp path beside `path`; on success it is renamed over `path`, else removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes to `path` via temp file + rename (reports, JSON, checkpoints)."""
    path = Path(path)
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))
