"""Offline enhancement of waveforms, files and folders with an exported model.pt.

    python -m ans.enhance INPUT -o OUTPUT [--model PATH] [--overwrite] [--float] [--jobs N]

INPUT is a file (-> OUTPUT file; an OUTPUT ending in "/" or an existing folder gets INPUT's
name inside it, created when missing) or a folder (-> OUTPUT folder, same relative names for
every *.wav/*.flac/*.ogg/*.opus/*.mp3 below it). The output extension picks the format (.wav,
.flac, .ogg Vorbis, .opus, .mp3); any other is refused. The input is never overwritten; an
existing output is refused (file mode) or skipped and reported (folder mode; exit code 0 when
nothing failed) unless --overwrite; every output is written atomically, so concurrent runs
never leave half-written files. Bad input, or an output that cannot be written, gets one line
on stderr naming the file, and the exit code is 1 (folder mode: after the other files).
Ctrl-C / SIGTERM stop cleanly (no partial or temp files) with exit code 130 / 143.

Memory: a causal student enhances in blocks of ~10 s (with enough left context that the
result equals the whole-file result), and files are read and written block by block, so peak
memory does not grow with the file length. The bidirectional teacher needs the whole file.

Input policy (`Enhancer.enhance`, hence files, folders and `ans.pipeline`): rates 8 kHz ..
384 kHz, any integer rate (odd ones such as 44101 Hz included); integer PCM is scaled to
[-1, 1) (unsigned, e.g. uint8 wav, is offset binary); empty audio, NaN/Inf samples, other
rates or dtypes, and unreadable, truncated or non-audio files raise AnsError. Huge
amplitudes: float input beyond full scale (peak > 1, e.g. int16 values passed as float) is
accepted; the model sees it scaled to peak 1 and the output is scaled back by the same
factor, so it stays finite and in the input's units (bounded by a small multiple of the
input peak; PCM outputs are clipped to [-1, 1] when written).
"""

from __future__ import annotations

import argparse
import io
import math
import os
import signal
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ans.audio import (
    READ_BLOCK,
    SAMPLE_RATE,
    _reason,
    atomic_target,
    check_complete,
    check_frames,
    check_waveform,
    read_audio,
    resample,
)
from ans.checkpoint import load_model
from ans.errors import AnsError
from ans.features import FRAME, HOP, FeatureExtractor, Normalizer, num_frames, pad_for_frames

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_ROOT / "pretrained" / "student" / "model.pt"
# Output extension -> (libsndfile format, subtype or None = from --float/PCM_16).
OUTPUT_FORMATS = {k: v for k, v in {".wav": ("WAV", None), ".flac": ("FLAC", None), ".ogg": ("OGG", "VORBIS"),
                                     ".opus": ("OGG", "OPUS"), ".mp3": ("MP3", "MPEG_LAYER_III")}.items()
                  if v[0] in sf.available_formats()}
AUDIO_EXTS = tuple(OUTPUT_FORMATS)  # what folder mode picks up (file mode reads anything libsndfile does)
BLOCK = 512  # frames per block for the frame-local stages (~10 s)
_STOP = threading.Event()  # set on Ctrl-C / SIGTERM: writers stop at the next block


class OutputExists(AnsError):
    """The output file is already there (and --overwrite was not given)."""


class Interrupted(Exception):
    """A write stopped by Ctrl-C / SIGTERM (its temp file is removed)."""


def default_model_path() -> Path:
    if not DEFAULT_MODEL.is_file():
        raise AnsError("no default model: pass --model PATH (or model=PATH) or train one with "
                       "`python -m ans.train student`", DEFAULT_MODEL)
    return DEFAULT_MODEL


def output_length(n: int, sr: int) -> int:
    """Samples at 48 kHz for n samples at sr (same duration, rounded half up)."""
    return int(math.floor(n * SAMPLE_RATE / sr + 0.5))


def check_wav_complete(data: bytes, size: int, label: str) -> None:
    """Refuse a RIFF/RIFX/RF64/W64 file whose data chunk declares more bytes than `size`
    (`data`: the file's bytes, or at least its head). See `ans.audio.check_complete`."""
    check_complete(io.BytesIO(data), size, label)


def load_input(path: str | os.PathLike, max_bytes: int | None = None) -> tuple[np.ndarray, int]:
    """Read channel 0 of an audio file after the size and truncation checks."""
    path = Path(path)
    if not path.is_file():
        raise AnsError("no such file", path)
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise AnsError(f"file is {size} bytes, over the {max_bytes}-byte limit", path)
    return read_audio(path)  # refuses truncated files (header vs size, declared vs decoded frames)


def scan_file(path: Path) -> tuple[int, int, float]:
    """One pass over an audio file in blocks: (samples, rate, peak |x|) after every check that
    `load_input` + `Enhancer.enhance` make (readable, complete, finite, rate, not empty)."""
    with open(path, "rb") as fh:
        check_complete(fh, os.fstat(fh.fileno()).st_size, str(path))
    n, sr, peak = 0, 0, 0.0
    with _open(path) as f:
        sr, declared = f.samplerate, f.frames
        check_waveform(np.zeros(0, np.float32), sr, str(path))
        for blk in _file_blocks(f, path):
            blk = check_waveform(blk, sr, str(path))
            n += blk.size
            if blk.size:
                peak = max(peak, float(np.max(np.abs(blk))))
    check_frames(declared, n, str(path))
    if n == 0:
        raise AnsError("empty audio (0 samples)", path)
    return n, int(sr), peak


def _open(path: Path) -> sf.SoundFile:
    try:
        return sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError) as e:
        raise AnsError(f"not a readable audio file ({_reason(e)})", path) from None


def _file_blocks(f: sf.SoundFile, path: Path, scale: float = 1.0) -> Iterator[np.ndarray]:
    """Channel 0 of an open file, READ_BLOCK frames at a time (works for non-seekable GSM610)."""
    while True:
        try:
            blk = f.read(frames=READ_BLOCK, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, ValueError, EOFError, AssertionError) as e:
            raise AnsError(f"not a readable audio file ({_reason(e)})", path) from None
        if not len(blk):
            return
        x = np.ascontiguousarray(blk[:, 0])
        yield x if scale == 1.0 else x / np.float32(scale)


class _Window:
    """Forward-only random access to a stream of sample blocks: `get(lo, hi)` with non-decreasing
    `lo` returns samples [lo, hi), zeros outside [0, n); only [lo, hi) is kept in memory."""

    def __init__(self, blocks: Iterable[np.ndarray], n: int):
        self.blocks, self.n = iter(blocks), n
        self.buf, self.base = np.zeros(0, np.float32), 0  # buf[0] is sample `base`

    def get(self, lo: int, hi: int) -> np.ndarray:
        want = min(hi, self.n)
        while self.base + self.buf.size < want:
            blk = next(self.blocks, None)
            if blk is None:
                break
            self.buf = np.concatenate([self.buf, np.asarray(blk, np.float32)])
        out = np.zeros(hi - lo, np.float32)
        a, b = max(lo, 0), min(want, self.base + self.buf.size)
        if b > a:
            out[a - lo:b - lo] = self.buf[a - self.base:b - self.base]
        drop = min(max(0, lo - self.base), self.buf.size)
        if drop:
            self.buf, self.base = self.buf[drop:], self.base + drop
        return out


def _resampled_blocks(src: _Window, sr: int, n_out: int, block_in: int) -> Iterator[np.ndarray]:
    """`resample` of the whole source, computed in blocks: the output sample grid repeats every
    p_out = 48000/g samples (p_in = sr/g input samples, g = gcd), so blocks that start on a period
    and carry enough input context on both sides give the same samples as the whole signal."""
    if sr == SAMPLE_RATE:
        for lo in range(0, n_out, block_in):
            yield src.get(lo, min(lo + block_in, n_out))
        return
    g = math.gcd(sr, SAMPLE_RATE)
    p_in, p_out = sr // g, SAMPLE_RATE // g
    width = math.ceil(6 * sr / (min(sr, SAMPLE_RATE) * 0.99)) + 2  # the sinc kernel's half width
    ctx = -(-width // p_in) + 1  # periods of context on each side
    per = max(1, block_in // p_in)
    periods = -(-n_out // p_out)
    for a in range(0, periods, per):
        b = min(a + per, periods)
        seg = torch.from_numpy(src.get((a - ctx) * p_in, (b + ctx) * p_in))
        yield resample(seg, sr)[ctx * p_out:(ctx + b - a) * p_out].numpy()


def _causal_context(model: torch.nn.Module) -> int | None:
    """Frames of left context a causal DFSMN needs (each layer looks back lorder-1 frames);
    None when the model must see the whole file (teacher, look-ahead student)."""
    depth, lorder = getattr(model, "fsmn_depth", None), getattr(model, "lorder", None)
    if not getattr(model, "streamable", False) or depth is None or lorder is None:
        return None
    return int(depth) * (int(lorder) - 1)


class Enhancer:
    """Mask-based enhancement with a teacher or student model (whole file at once)."""

    def __init__(self, model: torch.nn.Module, normalizer: Normalizer | None = None,
                 kind: str | None = None, source: str | None = None):
        self.model = model.eval().float()
        self.normalizer = (normalizer or Normalizer()).eval().float()
        self.fe = FeatureExtractor().eval()
        self.kind = kind or ("student" if getattr(model, "streamable", False) else "teacher")
        self.source = source

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike) -> Enhancer:
        model, normalizer, payload = load_model(path)
        return cls(model, normalizer, kind=payload.get("kind"), source=str(path))

    @property
    def streamable(self) -> bool:
        return bool(getattr(self.model, "streamable", False))

    @torch.inference_mode()
    def enhance_48k(self, wave: torch.Tensor) -> torch.Tensor:
        """(N,) float32 48 kHz tensor -> enhanced (N,) tensor.

        Same result as fbank -> model -> mask * stft -> istft on the whole signal, but the
        frame-local stages run BLOCK frames at a time so a long file needs little memory.
        """
        n = wave.shape[-1]
        frames = pad_for_frames(wave.reshape(1, n).float())[0].unfold(0, FRAME, HOP)  # (T, FRAME) view
        t_total = frames.shape[0]
        feats = torch.cat([self.fe.fbank_frames(frames[i:i + BLOCK]) for i in range(0, t_total, BLOCK)])
        mask = self.model(self.normalizer(feats).unsqueeze(0))[0]
        hops = wave.new_zeros(t_total + 1, HOP)  # weighted overlap-add, one row per hop
        for i in range(0, t_total, BLOCK):
            blk = frames[i:i + BLOCK]
            synth = self.fe.synthesis_frame(self.fe.analysis_frame(blk) * mask[i:i + BLOCK])
            hops[i:i + blk.shape[0]] += synth[:, :HOP]
            hops[i + 1:i + 1 + blk.shape[0]] += synth[:, HOP:]
        return (hops[1:] / self.fe.ola_envelope()).reshape(-1)[:n]

    @torch.inference_mode()
    def enhance_blocks(self, blocks: Iterable[np.ndarray], n_in: int, sr: int, peak: float,
                       name: str = "<array>") -> Iterator[np.ndarray]:
        """Causal student only: the input as consecutive blocks (n_in samples at sr, peak |x|)
        -> the enhanced 48 kHz output as consecutive blocks; equal to `enhance` on the whole
        signal, in memory bounded by the block size whatever the length."""
        ctx = _causal_context(self.model)
        if ctx is None:
            raise ValueError("enhance_blocks needs a causal student")
        n = max(1, output_length(n_in, int(sr)))
        if peak == 0.0:
            for lo in range(0, n, BLOCK * HOP):
                yield np.zeros(min(BLOCK * HOP, n - lo), np.float32)
            return
        scale = peak if peak > 1.0 else 1.0  # beyond full scale: enhance at peak 1, scale back
        src = _Window((b / np.float32(scale) if scale != 1.0 else b for b in blocks), n_in)
        wave = _Window(_resampled_blocks(src, int(sr), n, max(1, BLOCK * HOP * sr // SAMPLE_RATE)), n)
        env, tail, done = self.fe.ola_envelope(), torch.zeros(HOP), 0
        past = torch.zeros(0, self.fe.mel_banks.shape[0])  # features of the last `ctx` frames
        t_total = num_frames(n)
        for t0 in range(0, t_total, BLOCK):
            t1 = min(t0 + BLOCK, t_total)
            frames = torch.from_numpy(wave.get(HOP * (t0 - 1), HOP * t1)).unfold(0, FRAME, HOP)
            feats = torch.cat([past, self.normalizer(self.fe.fbank_frames(frames))])
            mask = self.model(feats.unsqueeze(0))[0, past.shape[0]:]  # the context frames' masks: dropped
            past = feats[-ctx:]
            synth = self.fe.synthesis_frame(self.fe.analysis_frame(frames) * mask)
            rows = synth[:, :HOP].clone()  # output hop t-1 = synth[t][:HOP] + synth[t-1][HOP:]
            rows[0] += tail
            rows[1:] += synth[:-1, HOP:]
            tail = synth[-1, HOP:].clone()
            y = (rows / env).reshape(-1)[HOP if t0 == 0 else 0:][:n - done].numpy()
            done += y.size
            if scale != 1.0:
                big = float(np.finfo(np.float32).max)
                y = np.clip(y.astype(np.float64) * scale, -big, big).astype(np.float32)
            if not np.isfinite(y).all():
                raise AnsError("enhancement produced NaN or Inf samples", name)
            yield y

    def enhance(self, x: np.ndarray, sr: int, name: str = "<array>") -> np.ndarray:
        """Any-rate waveform (mono, or (samples, channels): channel 0) -> 48 kHz float32, same duration."""
        x = check_waveform(x, sr, name)
        if x.size == 0:
            raise AnsError("empty audio (0 samples)", name)
        n_out = max(1, output_length(x.size, int(sr)))
        if not np.any(x):
            return np.zeros(n_out, dtype=np.float32)
        peak = float(np.max(np.abs(x)))
        if _causal_context(self.model) is not None:  # blocks: no whole-file spectra or masks
            step = BLOCK * HOP
            out = np.empty(n_out, np.float32)
            pos = 0
            for y in self.enhance_blocks((x[i:i + step] for i in range(0, x.size, step)), x.size, int(sr),
                                         peak, name):
                out[pos:pos + y.size] = y
                pos += y.size
            return out
        if peak > 1.0:  # beyond full scale: enhance at peak 1, scale back (module docstring)
            x = x / np.float32(peak)
        with torch.inference_mode():
            wave = resample(torch.from_numpy(np.ascontiguousarray(x)), int(sr))
            if wave.shape[-1] != n_out:
                wave = torch.nn.functional.pad(wave[:n_out], (0, max(0, n_out - wave.shape[-1])))
            y = self.enhance_48k(wave).numpy().astype(np.float32, copy=False)
        if peak > 1.0:
            big = float(np.finfo(np.float32).max)
            y = np.clip(y.astype(np.float64) * peak, -big, big).astype(np.float32)
        if not np.isfinite(y).all():
            raise AnsError("enhancement produced NaN or Inf samples", name)
        return y

    def enhance_file(self, in_path: str | os.PathLike, out_path: str | os.PathLike,
                     overwrite: bool = False, subtype: str = "PCM_16",
                     max_bytes: int | None = None) -> Path:
        """Enhance one file into `out_path` (never the input; existing output only with overwrite)."""
        src, dst = Path(in_path), Path(out_path)
        if not src.is_file():
            raise AnsError("no such file", src)
        if is_same_file(src, dst):
            raise AnsError("refusing to overwrite the input file (choose another output)", dst)
        if dst.is_dir():
            raise AnsError("output is a folder, expected a file name", dst)
        if dst.exists() and not overwrite:
            raise OutputExists("output exists (pass --overwrite to replace it)", dst)
        out_subtype = subtype_for(dst, subtype)  # refuses an unknown output extension up front
        if _causal_context(self.model) is None:  # the teacher sees the whole file
            x, sr = load_input(src, max_bytes)
            return publish(dst, self.enhance(x, sr, name=str(src)), out_subtype, overwrite)
        size = src.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise AnsError(f"file is {size} bytes, over the {max_bytes}-byte limit", src)
        n, sr, peak = scan_file(src)  # pass 1: checks and peak; pass 2 streams in -> out
        with _open(src) as f:
            return publish(dst, self.enhance_blocks(_file_blocks(f, src), n, sr, peak, name=str(src)),
                           out_subtype, overwrite)

    def streaming(self):
        """A StreamingEnhancer sharing this (streamable student) model."""
        from ans.streaming import StreamingEnhancer
        return StreamingEnhancer((self.model, self.normalizer))


def is_same_file(a: Path, b: Path) -> bool:
    try:
        if b.exists() and os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return a.resolve() == b.resolve()


def output_format(path: Path) -> str:
    """libsndfile format named by the output extension; anything else is refused."""
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


def publish(dst: Path, y: np.ndarray | Iterable[np.ndarray], subtype: str, overwrite: bool) -> Path:
    """Write `y` (an array, or consecutive blocks) to a complete temp file next to dst in the
    format its extension names, then move it in; without overwrite a hard link makes the final
    step fail (instead of replacing) if another run got there first. OS and libsndfile errors
    (read-only folder, full disk, a file where a folder should be) become one AnsError line."""
    dst = Path(dst)
    fmt = output_format(dst)
    blocks = [y] if isinstance(y, np.ndarray) else y
    part = dst.with_name(f".{dst.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part{dst.suffix}")
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        with atomic_target(part) as tmp, sf.SoundFile(tmp, "w", SAMPLE_RATE, 1, subtype, format=fmt) as f:
            for blk in blocks:
                if _STOP.is_set():
                    raise Interrupted(str(dst))
                f.write(np.clip(blk, -1.0, 1.0) if subtype != "FLOAT" else blk)
        if overwrite:
            os.replace(part, dst)
        else:
            try:
                os.link(part, dst)
            except FileExistsError:
                raise OutputExists("output exists (pass --overwrite to replace it)", dst) from None
            except OSError:  # no hard links on this filesystem
                if dst.exists():
                    raise OutputExists("output exists (pass --overwrite to replace it)", dst) from None
                os.replace(part, dst)
    except (OSError, sf.SoundFileRuntimeError, AssertionError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else _reason(e)
        raise AnsError(f"cannot write the output ({why})", dst) from None
    finally:
        try:
            part.unlink(missing_ok=True)
        except OSError:
            pass
    return dst


def find_audio(root: Path, exclude: Path | None = None) -> list[Path]:
    out = []
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in AUDIO_EXTS or p.name.startswith(".") or not p.is_file():
            continue
        if exclude is not None and p.resolve().is_relative_to(exclude):
            continue
        out.append(p)
    return out


def output_in_folder(folder: Path, name: str) -> Path:
    """Where INPUT `name` goes inside an output folder: same name, or .wav when its extension
    names no writable format."""
    p = folder / name
    return p if p.suffix.lower() in OUTPUT_FORMATS else p.with_suffix(".wav")


def _run_folder(enh: Enhancer, src: Path, dst: Path, args) -> int:
    if dst.exists() and not dst.is_dir():
        raise AnsError("input is a folder, so the output must be a folder", dst)
    files = find_audio(src, exclude=dst.resolve() if dst.resolve() != src.resolve() else None)
    if not files:
        raise AnsError(f"no audio files ({', '.join('*' + e for e in AUDIO_EXTS)}) in folder", src)
    from tqdm import tqdm

    def one(p: Path) -> tuple[str, str | None]:
        if _STOP.is_set():
            return "stopped", None
        try:
            enh.enhance_file(p, output_in_folder(dst, str(p.relative_to(src))), args.overwrite, args.subtype,
                             args.max_bytes)
        except OutputExists:
            return "skipped", None
        except Interrupted:
            return "stopped", None
        except AnsError as e:
            return "failed", str(e)
        except (OSError, RuntimeError, ValueError) as e:
            return "failed", f"{p}: failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        return "done", None

    counts = {"done": 0, "skipped": 0, "failed": 0, "stopped": 0}
    pool = ThreadPoolExecutor(max_workers=max(1, args.jobs))
    try:
        with tqdm(total=len(files), desc="enhance", unit="file", disable=None) as bar:
            for status, err in pool.map(one, files):
                counts[status] += 1
                if err:
                    tqdm.write(err, file=sys.stderr)
                bar.update(1)
    except BaseException:  # Ctrl-C / SIGTERM: running files stop at their next block, queued ones never start
        _STOP.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    msg = f"enhanced {counts['done']} of {len(files)} files into {dst}"
    if counts["skipped"]:
        msg += f"; {counts['skipped']} skipped (output exists; --overwrite replaces)"
    if counts["failed"]:
        msg += f"; {counts['failed']} failed"
    print(msg, file=sys.stderr if counts["failed"] else sys.stdout)
    return 1 if counts["failed"] else 0


_SIGNAL: list[int] = []


def _on_sigterm(signum, _frame):
    _SIGNAL.append(signum)
    _STOP.set()
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ans.enhance", description=__doc__.split("\n\n")[0])
    ap.add_argument("input", type=Path, help="audio file or folder")
    ap.add_argument("-o", "--output", required=True,
                    help="output file (its extension picks the format) or folder (trailing / or existing)")
    ap.add_argument("--model", type=Path, default=None, help=f"model.pt (default {DEFAULT_MODEL})")
    ap.add_argument("--overwrite", action="store_true", help="replace existing outputs (never the input)")
    ap.add_argument("--float", dest="subtype", action="store_const", const="FLOAT", default="PCM_16",
                    help="write 32-bit float wav instead of 16-bit PCM")
    ap.add_argument("--jobs", type=int, default=1, help="files enhanced in parallel (folder mode)")
    ap.add_argument("--max-bytes", type=int, default=None, help="refuse input files larger than this")
    args = ap.parse_args(argv)
    out_arg = str(args.output)
    args.output = Path(out_arg)
    _STOP.clear()
    _SIGNAL.clear()
    try:
        old = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: leave signals alone
        old = None
    try:
        src = args.input
        if not src.exists():
            raise AnsError("no such file or folder", src)
        enh = Enhancer.from_checkpoint(args.model or default_model_path())
        if src.is_dir():
            return _run_folder(enh, src, args.output, args)
        as_folder = out_arg.endswith(("/", os.sep)) or args.output.is_dir()
        dst = output_in_folder(args.output, src.name) if as_folder else args.output
        enh.enhance_file(src, dst, args.overwrite, args.subtype, args.max_bytes)
        print(dst)
        return 0
    except AnsError as e:
        print(str(e), file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Interrupted):
        _STOP.set()
        term = bool(_SIGNAL)
        print(f"ans.enhance: interrupted by {'SIGTERM' if term else 'Ctrl-C'}; unfinished outputs were "
              "removed", file=sys.stderr)
        return 143 if term else 130
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


if __name__ == "__main__":
    sys.exit(main())
