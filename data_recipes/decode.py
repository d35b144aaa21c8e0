"""Decoders for the packaged formats that soundfile cannot open by itself, plus small signal helpers.

- `.g722` (Asterisk raw G.722, 64 kbit/s, 16 kHz): the `g722` PyPI package (module `G722`).
- `.gsm` (raw GSM 06.10 frames, 8 kHz): libsndfile's RAW + GSM610 reader.
- `.wv` (WavPack) and `.mkv` (Matroska/Opus ringtones): the ffmpeg binary bundled with the
  `imageio-ffmpeg` wheel when it is installed, otherwise the caller skips the file.
- everything else (wav, ogg/oga vorbis, opus): `ans.audio.read_audio` (channel 0).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from ans.audio import read_audio
from ans.errors import AnsError

G722_RATE = 16_000
G722_BITRATE = 64_000
GSM_RATE = 8_000


def decode_g722(data: bytes) -> np.ndarray:
    """Raw 64 kbit/s G.722 bytes -> float32 mono at 16 kHz."""
    import G722

    pcm = np.asarray(G722.G722(G722_RATE, G722_BITRATE).decode(data), dtype=np.int16)
    return pcm.astype(np.float32) / 32768.0


def encode_g722(x: np.ndarray) -> bytes:
    """float32 16 kHz -> raw G.722 bytes (used by the tests to make a stream)."""
    import G722

    pcm = np.clip(np.round(np.asarray(x) * 32767.0), -32768, 32767).astype(np.int16)
    return bytes(G722.G722(G722_RATE, G722_BITRATE).encode(pcm))


def decode_gsm(path: Path) -> np.ndarray:
    data, _ = sf.read(str(path), format="RAW", subtype="GSM610", samplerate=GSM_RATE, channels=1,
                      dtype="float32", always_2d=True)
    return data[:, 0]


def ffmpeg_exe() -> str | None:
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        return None


def decode_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    exe = ffmpeg_exe()
    if exe is None:
        raise AnsError("needs ffmpeg (pip install imageio-ffmpeg) to decode", path)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        run = subprocess.run([exe, "-nostdin", "-loglevel", "error", "-i", str(path), "-map", "0:a:0",
                              "-ac", "1", "-c:a", "pcm_s16le", str(out)], capture_output=True, text=True)
        if run.returncode != 0 or not out.is_file():
            raise AnsError(f"ffmpeg could not decode it ({run.stderr.strip()[-120:]})", path)
        return read_audio(out, name=str(path))


def decode_file(path: Path) -> tuple[np.ndarray, int]:
    """Any supported packaged audio file -> (float32 mono, rate). Raises AnsError if unreadable."""
    ext = path.suffix.lower()
    if ext == ".g722":
        return decode_g722(path.read_bytes()), G722_RATE
    if ext == ".gsm":
        return decode_gsm(path), GSM_RATE
    if ext in (".wv", ".mkv"):
        return decode_ffmpeg(path)
    return read_audio(path)


def trim_silence(x: np.ndarray, sr: int, threshold_db: float = -45.0, pad_s: float = 0.05) -> np.ndarray:
    """Cut leading/trailing samples quieter than `threshold_db` re. the peak (keeping `pad_s`)."""
    if x.size == 0:
        return x
    peak = float(np.max(np.abs(x)))
    if peak <= 0.0:
        return x[:0]
    loud = np.flatnonzero(np.abs(x) > peak * 10 ** (threshold_db / 20))
    pad = int(pad_s * sr)
    return x[max(0, loud[0] - pad): loud[-1] + 1 + pad]


def chunks(x: np.ndarray, sr: int, max_s: float, min_s: float) -> list[np.ndarray]:
    """Split into pieces of at most `max_s` seconds; a tail shorter than `min_s` is dropped
    (unless it is the whole signal)."""
    n = int(max_s * sr)
    pieces = [x[i:i + n] for i in range(0, len(x), n)] or [x]
    return [p for i, p in enumerate(pieces) if i == 0 or len(p) >= int(min_s * sr)]


def join_utterances(items: list[np.ndarray], sr: int, target_s: float, gap_s: float) -> list[np.ndarray]:
    """Concatenate short prompts (in order) with `gap_s` of silence into ~`target_s` files, so a
    training segment of a few seconds is mostly speech instead of one short prompt."""
    gap = np.zeros(int(gap_s * sr), dtype=np.float32)
    out: list[np.ndarray] = []
    cur: list[np.ndarray] = []
    length = 0
    for x in items:
        if cur and length + len(x) > target_s * sr:
            out.append(np.concatenate(cur[:-1]))
            cur, length = [], 0
        cur += [x.astype(np.float32), gap]
        length += len(x) + len(gap)
    if cur:
        out.append(np.concatenate(cur[:-1]))
    return out
