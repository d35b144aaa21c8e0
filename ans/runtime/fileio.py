"""File in, file out, block by block, for both backends: the checks, two reads of the input
(check, then enhance), one temp file written as the blocks come, then the atomic publish.

The one home of the output side of `ans.enhance` (formats by extension, refusals, atomic
publish, write errors as one line, stop on Ctrl-C/SIGTERM); torch-free, so the onnx runtime
uses it as is and `ans.enhance` imports it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from ans.audio import atomic_target
from ans.errors import AnsError, reason
from ans.runtime.offline import READ_BLOCK
from ans.runtime.resample import StreamResampler, output_length

# Output extension -> (libsndfile format, fixed subtype or None = from --float / PCM_16).
OUTPUT_FORMATS = {ext: fmt for ext, fmt in {
    ".wav": ("WAV", None), ".flac": ("FLAC", None), ".ogg": ("OGG", "VORBIS"),
    ".opus": ("OGG", "OPUS"), ".mp3": ("MP3", "MPEG_LAYER_III")}.items() if fmt[0] in sf.available_formats()}
STOP = threading.Event()  # set on Ctrl-C / SIGTERM: writers stop at their next block
_WRITE_ERRORS = (OSError, sf.SoundFileRuntimeError)


class OutputExists(AnsError):
    """The output file is already there (and overwrite was not asked for)."""


class Interrupted(Exception):
    """A write stopped by Ctrl-C / SIGTERM (its temp file is removed)."""


def output_format(path: Path) -> str:
    """libsndfile format named by the output extension; any other extension is refused."""
    fmt = OUTPUT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise AnsError(f"unsupported output format {Path(path).suffix or '(no extension)'!r} "
                       f"(use {', '.join(OUTPUT_FORMATS)})", path)
    return fmt[0]


def subtype_for(path: Path, subtype: str) -> str:
    """soundfile subtype for the output container (FLAC has no float; OGG/OPUS/MP3 are lossy)."""
    output_format(path)
    fixed = OUTPUT_FORMATS[Path(path).suffix.lower()][1]
    if fixed:
        return fixed
    if Path(path).suffix.lower() == ".flac":
        return "PCM_24" if subtype == "FLOAT" else "PCM_16"
    return subtype


def is_same_file(a: Path, b: Path) -> bool:
    try:
        if b.exists() and os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_target(src: Path, dst: Path, overwrite: bool) -> None:
    """Refusals before any work: missing input, output = input, a folder, an existing output,
    an output extension that names no format."""
    if not src.is_file():
        raise AnsError("no such file", src)
    if is_same_file(src, dst):
        raise AnsError("refusing to overwrite the input file (choose another output)", dst)
    if dst.is_dir():
        raise AnsError("output is a folder, expected a file name", dst)
    if dst.exists() and not overwrite:
        raise OutputExists("output exists (pass --overwrite to replace it)", dst)
    output_format(dst)


def check_input(path: str | os.PathLike, max_bytes: int | None = None) -> None:
    """Size limit and truncation checks of an input file, without decoding it."""
    from ans.truncation import check_complete

    path = Path(path)
    if not path.is_file():
        raise AnsError("no such file", path)
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise AnsError(f"file is {size} bytes, over the {max_bytes}-byte limit", path)
    with open(path, "rb") as f:
        check_complete(f, size, str(path))


def publish(dst: Path, y: np.ndarray | None, subtype: str, overwrite: bool, sr: int,
            write: Callable[[sf.SoundFile], None] | None = None) -> Path:
    """Write a complete temp file next to dst in the format its extension names, then move it
    in (`ans.audio.atomic_target`); without overwrite the final step fails (instead of
    replacing) if another run got there first. `write(f)`, when given, writes the blocks into the open temp
    file instead of `y`. OS and libsndfile errors (read-only folder, full disk, a file where a
    folder should be) become one AnsError line naming dst; the temp file never stays."""
    dst = Path(dst)
    fmt = output_format(dst)
    try:
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise AnsError("cannot write the output (a file is in the way of its folder)", dst) from None
        # the SoundFile closes before atomic_target moves the temp file in
        with atomic_target(dst, overwrite) as tmp, sf.SoundFile(tmp, "w", sr, 1, subtype=subtype, format=fmt) as f:
            if write is not None:
                write(f)
            else:
                f.write(np.clip(y, -1.0, 1.0) if subtype != "FLOAT" else y)
    except FileExistsError:
        raise OutputExists("output exists (pass --overwrite to replace it)", dst) from None
    except _WRITE_ERRORS as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else reason(e)
        if why.rstrip(".") == "System error":  # libsndfile's word for a failed write(2)
            why = "the system refused the write: disk full or file too large?"
        raise AnsError(f"cannot write the output ({why})", dst) from None
    return dst


def _blocks(src: Path, name: str) -> Iterator[np.ndarray]:
    """Channel 0 of the file as float32 blocks (unreadable files -> one-line AnsError)."""
    from ans.audio import READ_ERRORS, read_blocks

    try:
        with sf.SoundFile(src) as f:
            yield from read_blocks(f, READ_BLOCK)
    except READ_ERRORS as e:
        raise AnsError(f"not a readable audio file ({reason(e)})", name) from None


def scan(src: Path, name: str) -> tuple[int, int, float]:
    """(samples, rate, peak) after the checks `read_audio` + `check_waveform` make on the whole
    file (readable, rate, finite, not cut short, not empty), one block at a time."""
    from ans.audio import READ_ERRORS, check_waveform
    from ans.truncation import check_frames

    try:
        info = sf.info(str(src))
    except READ_ERRORS as e:
        raise AnsError(f"not a readable audio file ({reason(e)})", name) from None
    sr = info.samplerate
    check_waveform(np.zeros(0, np.float32), sr, name)  # the rate, before decoding anything
    n, peak = 0, 0.0
    for x in _blocks(src, name):
        x = check_waveform(x, sr, name)
        n += x.size
        peak = max(peak, float(np.max(np.abs(x))))
    check_frames(info.frames, n, name)
    if n == 0:
        raise AnsError("empty audio (0 samples)", name)
    return n, sr, peak


def enhance_file_blocks(enh, src: Path, dst: Path, overwrite: bool, subtype: str, max_bytes: int | None,
                        keep_rate: bool) -> Path:
    """`enh.enhance_file` of both backends: `enh.engine()` (a FrameEngine) and soxr's streaming
    resampler in blocks, so the file equals `enh.enhance` on the whole array in memory flat in
    the file's length."""
    check_target(src, dst, overwrite)
    check_input(src, max_bytes)
    name = str(src)
    n, sr, peak = scan(src, name)
    rate = enh.sample_rate  # the model's
    n_model = max(1, output_length(n, sr, rate))
    out_sr, n_out = (sr, n) if keep_rate else (rate, n_model)
    subtype = subtype_for(dst, subtype)
    scale = np.float32(peak) if peak > 1.0 else None  # beyond full scale: enhance at peak 1 (as enhance)

    def write(f: sf.SoundFile) -> None:
        up, eng = StreamResampler(sr, rate, n_model), enh.engine()
        down = StreamResampler(rate, out_sr, n_out)

        def put(y: np.ndarray) -> None:
            if STOP.is_set():
                raise Interrupted(str(dst))
            if scale is not None:
                y = y * scale
            if not np.isfinite(y).all():
                raise AnsError("enhancement produced NaN or Inf samples", name)
            if y.size:
                f.write(np.clip(y, -1.0, 1.0) if subtype != "FLOAT" else y)

        if peak == 0.0:  # silence in, silence out (as enhance), without running the model
            for i in range(0, n_out, READ_BLOCK):
                put(np.zeros(min(READ_BLOCK, n_out - i), np.float32))
            return
        def feed(y48: np.ndarray) -> None:  # at most READ_BLOCK samples per step: upsampling multiplies
            for i in range(0, y48.size, READ_BLOCK):
                put(down.push(eng.feed(y48[i:i + READ_BLOCK])))

        for x in _blocks(src, name):
            feed(up.push(x / scale if scale is not None else x))
        feed(up.finish())
        put(down.push(eng.finish()))
        put(down.finish())

    return publish(dst, None, subtype, overwrite, out_sr, write=write)
