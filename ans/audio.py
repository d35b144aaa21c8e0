"""Audio I/O with soundfile (torchaudio.load would need torchcodec) and atomic writes."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from ans.errors import AnsError

SAMPLE_RATE = 48_000
MIN_SAMPLE_RATE = 8_000


def read_audio(path: str | os.PathLike | bytes, *, start: int = 0, frames: int = -1,
               name: str | None = None) -> tuple[np.ndarray, int]:
    """Read channel 0 of a wav/flac/ogg file (or wav bytes) as float32 in [-1, 1].

    `start`/`frames` read a slice without loading the whole file (lazy corpus reads).
    Raises AnsError with one line naming the file for anything unreadable.
    """
    label = name or ("<bytes>" if isinstance(path, bytes | bytearray) else str(path))
    src = io.BytesIO(path) if isinstance(path, bytes | bytearray) else path
    if not isinstance(path, bytes | bytearray) and not Path(path).is_file():
        raise AnsError("no such file", label)
    try:
        with sf.SoundFile(src) as f:
            if start:
                f.seek(start)
            data = f.read(frames=frames, dtype="float32", always_2d=True)
            sr = f.samplerate
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AnsError(f"not a readable audio file ({msg})", label) from None
    return np.ascontiguousarray(data[:, 0]), int(sr)


def check_waveform(x: np.ndarray, sr: int, label: str = "<array>") -> np.ndarray:
    """Validate a mono waveform: finite samples and a supported rate. Returns float32."""
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[:, 0] if x.shape[0] > x.shape[1] else x[0]
    if x.ndim != 1:
        raise AnsError(f"expected mono or (samples, channels) audio, got shape {x.shape}", label)
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise AnsError(f"unsupported sample type {x.dtype}", label)
    if np.issubdtype(x.dtype, np.integer):
        scale = float(np.iinfo(x.dtype).max) + 1.0
        x = x.astype(np.float64) / scale
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise AnsError("audio contains NaN or Inf samples", label)
    if not isinstance(sr, int | np.integer) or sr < MIN_SAMPLE_RATE:
        raise AnsError(f"unsupported sample rate {sr} Hz (need >= {MIN_SAMPLE_RATE} Hz)", label)
    if sr > 384_000:
        raise AnsError(f"unsupported sample rate {sr} Hz (need <= 384000 Hz)", label)
    return x


def resample(x: torch.Tensor, sr_from: int, sr_to: int = SAMPLE_RATE) -> torch.Tensor:
    """Band-limited resampling (torchaudio's windowed sinc); identity when rates match."""
    if sr_from == sr_to:
        return x
    return AF.resample(x, int(sr_from), int(sr_to))


def write_audio(path: str | os.PathLike, x: np.ndarray | torch.Tensor, sr: int = SAMPLE_RATE,
                subtype: str = "PCM_16") -> Path:
    """Write a wav atomically: a temp file in the same folder, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    data = np.clip(data.astype(np.float32), -1.0, 1.0) if subtype.startswith("PCM") else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, data, sr, subtype=subtype, format=_format_for(path))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _format_for(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    return {"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}.get(ext, "WAV")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes to `path` via temp file + rename (reports, JSON, checkpoints)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))
