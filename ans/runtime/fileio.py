"""File in, file out, block by block: two reads of the input (check, then enhance), one temp
file written as the blocks come, then the atomic publish of `ans.enhance`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from ans.errors import AnsError
from ans.runtime.dsp import SAMPLE_RATE
from ans.runtime.offline import READ_BLOCK
from ans.runtime.resample import StreamResampler, output_length


def _blocks(src: Path, name: str):
    """Channel 0 of the file as float32 blocks (unreadable files -> one-line AnsError)."""
    try:
        with sf.SoundFile(src) as f:
            while True:
                data = f.read(READ_BLOCK, dtype="float32", always_2d=True)
                if not data.shape[0]:
                    return
                yield np.ascontiguousarray(data[:, 0])
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AnsError(f"not a readable audio file ({msg})", name) from None


def scan(src: Path, name: str) -> tuple[int, int, float]:
    """(samples, rate, peak) after the checks of `check_waveform` on every block."""
    from ans.audio import check_waveform

    try:
        sr = sf.info(str(src)).samplerate
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AnsError(f"not a readable audio file ({msg})", name) from None
    n, peak = 0, 0.0
    for x in _blocks(src, name):
        x = check_waveform(x, sr, name)
        n += x.size
        peak = max(peak, float(np.max(np.abs(x))))
    if n == 0:
        raise AnsError("empty audio (0 samples)", name)
    return n, sr, peak


def enhance_file_blocks(enh, src: Path, dst: Path, overwrite: bool, subtype: str, max_bytes: int | None,
                        keep_rate: bool) -> Path:
    from ans.enhance import check_input, is_same_file, publish, subtype_for

    if not src.is_file():
        raise AnsError("no such file", src)
    if is_same_file(src, dst):
        raise AnsError("refusing to overwrite the input file (choose another output)", dst)
    if dst.is_dir():
        raise AnsError("output is a folder, expected a file name", dst)
    if dst.exists() and not overwrite:
        raise AnsError("output exists (pass --overwrite to replace it)", dst)
    check_input(src, max_bytes)
    name = str(src)
    n, sr, peak = scan(src, name)
    n48 = max(1, output_length(n, sr, SAMPLE_RATE))
    out_sr, n_out = (sr, n) if keep_rate else (SAMPLE_RATE, n48)
    subtype = subtype_for(dst, subtype)
    scale = np.float32(peak) if peak > 1.0 else None  # beyond full scale: enhance at peak 1 (as Enhancer)

    def write(tmp: Path) -> None:
        up, eng = StreamResampler(sr, SAMPLE_RATE, n48), enh.engine()
        down = StreamResampler(SAMPLE_RATE, out_sr, n_out)
        fmt = {".flac": "FLAC", ".ogg": "OGG"}.get(dst.suffix.lower(), "WAV")
        with sf.SoundFile(tmp, "w", out_sr, 1, subtype=subtype, format=fmt) as f:
            def put(y: np.ndarray) -> None:
                if scale is not None:
                    y = y * scale
                if not np.isfinite(y).all():
                    raise AnsError("enhancement produced NaN or Inf samples", name)
                if y.size:
                    f.write(np.clip(y, -1.0, 1.0) if subtype != "FLOAT" else y)

            for x in _blocks(src, name):
                put(down.push(eng.feed(up.push(x / scale if scale is not None else x))))
            put(down.push(eng.feed(up.finish())))
            put(down.push(eng.finish()))
            put(down.finish())

    return publish(dst, None, subtype, overwrite, out_sr, write=write)
