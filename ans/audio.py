"""Audio I/O with soundfile (torchaudio.load would need torchcodec) and atomic writes."""

from __future__ import annotations

import contextlib
import io
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
def atomic_target(path: Path, overwrite: bool = True):
    """Yield a temp path beside `path` (the one atomic writer: reports, checkpoints, audio, the
    enhancer's outputs); on success it is moved to `path`, else removed. Without overwrite the
    move is a hard link, which fails with FileExistsError instead of replacing a file another
    process put there first (a rename where the filesystem has no hard links)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _default_mode())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise
            except OSError:  # no hard links on this filesystem
                if path.exists():
                    raise FileExistsError(path) from None
                os.replace(tmp, path)
    finally:
        try:
            os.remove(tmp)
        except FileNotFoundError:  # moved into place
            pass
        except OSError:  # e.g. the folder itself is gone or unreadable: nothing was left there
            pass


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes to `path` via temp file + rename (reports, JSON, checkpoints)."""
    path = Path(path)
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))
