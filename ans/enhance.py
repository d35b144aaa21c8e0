"""Offline enhancement of waveforms, files and folders with an exported model.pt.

    python -m ans.enhance INPUT -o OUTPUT [--model PATH] [--backend auto|onnx|torch] [--overwrite]
                          [--float] [--jobs N] [--atten-lim-db DB] [--keep-rate] [--device cuda]

Backends: `torch` (a model.pt; needs torch) and `onnx` (ans.runtime: numpy + onnxruntime, a
folder written by `ans-export`, by default the bundled student; files are enhanced in blocks,
so memory stays flat in their length). `auto`: onnx for an export folder or when torch is
not installed, torch otherwise. Both give the same output (within 1e-6).

INPUT is a file (-> OUTPUT file) or a folder (-> OUTPUT folder, same relative names for every
*.wav/*.flac/*.ogg below it). The input is never overwritten; an existing output is refused
(file mode) or reported and left alone (folder mode) unless --overwrite; every output is
written atomically, so concurrent runs never leave half-written files. Bad input gets one
line on stderr naming the file, and the exit code is 1 (folder mode: after the other files).

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
import math
import os
import struct
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ans.audio import SAMPLE_RATE, check_waveform, read_audio, resample, write_audio
from ans.errors import AnsError

# torch, ans.checkpoint and ans.features are imported inside Enhancer: the CLI's --help and its
# onnx backend (ans.runtime) must work without torch.
if TYPE_CHECKING:
    import torch

    from ans.features import Normalizer

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_ROOT / "pretrained" / "student" / "model.pt"
if not DEFAULT_MODEL.is_file():  # an installed wheel: the copy shipped as package data
    DEFAULT_MODEL = Path(__file__).resolve().parent / "pretrained" / "student" / "model.pt"
AUDIO_EXTS = (".wav", ".flac", ".ogg")
BLOCK = 512  # frames per block for the frame-local stages (~10 s)


def default_model_path() -> Path:
    if not DEFAULT_MODEL.is_file():
        raise AnsError("no default model: pass --model PATH (or model=PATH) or train one with "
                       "`python -m ans.train student`", DEFAULT_MODEL)
    return DEFAULT_MODEL


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def load_enhancer(model: str | os.PathLike | None = None, backend: str = "auto",
                  atten_lim_db: float | None = None, device: str | None = None):
    """An Enhancer (torch, model.pt) or an OnnxEnhancer (ans.runtime, export folder).

    `auto`: onnx for an export folder (or its export.json), or when torch is not installed
    and no model.pt is named; torch otherwise. `model` None: the shipped student."""
    if backend not in ("auto", "onnx", "torch"):
        raise AnsError(f"unknown backend {backend!r} (choose auto, onnx or torch)")
    path = None if model is None else Path(model)
    is_export = path is not None and (path.is_dir() or path.name == "export.json")
    if backend == "auto":
        backend = "onnx" if is_export or (path is None and not torch_available()) else "torch"
    if backend == "onnx":
        if device not in (None, "cpu"):
            raise AnsError(f"--device {device} needs --backend torch (the onnx runtime runs on the CPU)")
        if path is not None and not is_export:
            raise AnsError("the onnx backend takes a folder written by `ans-export MODEL.pt -o DIR`", path)
        from ans.runtime.offline import OnnxEnhancer

        return OnnxEnhancer(path, atten_lim_db=atten_lim_db)
    if is_export:
        raise AnsError("the torch backend takes a model.pt, not an ONNX export folder", path)
    if not torch_available():
        raise AnsError("the torch backend needs torch (pip install 'ans[train]'), or use --backend onnx "
                       "with an `ans-export` folder", path)
    return Enhancer.from_checkpoint(path or default_model_path(), atten_lim_db=atten_lim_db, device=device)


def output_length(n: int, sr: int) -> int:
    """Samples at 48 kHz for n samples at sr (same duration, rounded half up)."""
    return int(math.floor(n * SAMPLE_RATE / sr + 0.5))


def check_wav_complete(data: bytes, size: int, label: str) -> None:
    """Refuse a RIFF/WAVE whose data chunk declares more bytes than the file holds.

    libsndfile silently reads what is there, so a truncated upload would pass unnoticed.
    `data` is the head of the file (enough to reach the data chunk), `size` its full length.
    """
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        return
    fmt = "<I" if data[:4] == b"RIFF" else ">I"
    pos = 12
    while pos + 8 <= len(data):
        cid, csize = data[pos:pos + 4], struct.unpack(fmt, data[pos + 4:pos + 8])[0]
        if cid == b"data":
            avail = size - pos - 8
            if 0 < csize < 0xFFFFFFFF and csize > avail:
                raise AnsError(f"truncated wav file (header declares {csize} bytes of audio, "
                               f"file holds {max(avail, 0)})", label)
            return
        pos += 8 + csize + (csize & 1)


def load_input(path: str | os.PathLike, max_bytes: int | None = None) -> tuple[np.ndarray, int]:
    """Read channel 0 of an audio file after the size and truncation checks."""
    check_input(path, max_bytes)
    return read_audio(path)


def check_input(path: str | os.PathLike, max_bytes: int | None = None) -> None:
    """The size and truncation checks of `load_input`, without reading the audio."""
    path = Path(path)
    if not path.is_file():
        raise AnsError("no such file", path)
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise AnsError(f"file is {size} bytes, over the {max_bytes}-byte limit", path)
    with open(path, "rb") as f:
        check_wav_complete(f.read(1 << 16), size, str(path))


class Enhancer:
    """Mask-based enhancement with a teacher or student model (whole file at once)."""

    def __init__(self, model: torch.nn.Module, normalizer: Normalizer | None = None,
                 kind: str | None = None, source: str | None = None,
                 atten_lim_db: float | None = None, device: str | None = None):
        from ans.features import FeatureExtractor, Normalizer
        from ans.runtime.model import atten_floor

        self.device = device or "cpu"
        self.model = model.eval().float().to(self.device)
        self.normalizer = (normalizer or Normalizer()).eval().float().to(self.device)
        self.fe = FeatureExtractor().eval().to(self.device)
        self.atten_lim_db, self.floor = atten_lim_db, atten_floor(atten_lim_db)  # mask floor
        self.kind = kind or ("student" if getattr(model, "streamable", False) else "teacher")
        self.source = source

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **kwargs) -> Enhancer:
        from ans.checkpoint import load_model

        model, normalizer, payload = load_model(path)
        return cls(model, normalizer, kind=payload.get("kind"), source=str(path), **kwargs)

    @property
    def streamable(self) -> bool:
        return bool(getattr(self.model, "streamable", False))

    def enhance_48k(self, wave: torch.Tensor) -> torch.Tensor:
        """(N,) float32 48 kHz tensor -> enhanced (N,) tensor.

        Same result as fbank -> model -> mask * stft -> istft on the whole signal, but the
        frame-local stages run BLOCK frames at a time so a long file needs little memory.
        """
        import torch

        with torch.inference_mode():
            return self._enhance_48k(wave.to(self.device)).cpu()

    def _enhance_48k(self, wave: torch.Tensor) -> torch.Tensor:
        import torch

        from ans.features import FRAME, HOP, pad_for_frames

        n = wave.shape[-1]
        frames = pad_for_frames(wave.reshape(1, n).float())[0].unfold(0, FRAME, HOP)  # (T, FRAME) view
        t_total = frames.shape[0]
        feats = torch.cat([self.fe.fbank_frames(frames[i:i + BLOCK]) for i in range(0, t_total, BLOCK)])
        mask = self.model(self.normalizer(feats).unsqueeze(0))[0]
        if self.floor > 0:
            mask = mask.clamp_min(self.floor)
        hops = wave.new_zeros(t_total + 1, HOP)  # weighted overlap-add, one row per hop
        for i in range(0, t_total, BLOCK):
            blk = frames[i:i + BLOCK]
            synth = self.fe.synthesis_frame(self.fe.analysis_frame(blk) * mask[i:i + BLOCK])
            hops[i:i + blk.shape[0]] += synth[:, :HOP]
            hops[i + 1:i + 1 + blk.shape[0]] += synth[:, HOP:]
        return (hops[1:] / self.fe.ola_envelope()).reshape(-1)[:n]

    def enhance(self, x: np.ndarray, sr: int, name: str = "<array>", keep_rate: bool = False) -> np.ndarray:
        """Any-rate waveform (mono, or (samples, channels): channel 0) -> 48 kHz float32, same
        duration (keep_rate: back at `sr`, resampled with soxr)."""
        y = self._enhance(x, sr, name)
        if keep_rate and int(sr) != SAMPLE_RATE:
            from ans.runtime.resample import resample as soxr_resample

            y = soxr_resample(y, SAMPLE_RATE, int(sr))
            n = check_waveform(x, sr, name).size
            y = np.pad(y[:n], (0, max(0, n - y.size)))
        return y

    def _enhance(self, x: np.ndarray, sr: int, name: str) -> np.ndarray:
        import torch

        x = check_waveform(x, sr, name)
        if x.size == 0:
            raise AnsError("empty audio (0 samples)", name)
        n_out = max(1, output_length(x.size, int(sr)))
        if not np.any(x):
            return np.zeros(n_out, dtype=np.float32)
        peak = float(np.max(np.abs(x)))
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
                     max_bytes: int | None = None, keep_rate: bool = False) -> Path:
        """Enhance one file into `out_path` (never the input; existing output only with overwrite)."""
        src, dst = Path(in_path), Path(out_path)
        if not src.is_file():
            raise AnsError("no such file", src)
        if is_same_file(src, dst):
            raise AnsError("refusing to overwrite the input file (choose another output)", dst)
        if dst.is_dir():
            raise AnsError("output is a folder, expected a file name", dst)
        if dst.exists() and not overwrite:
            raise AnsError("output exists (pass --overwrite to replace it)", dst)
        x, sr = load_input(src, max_bytes)
        y = self.enhance(x, sr, name=str(src), keep_rate=keep_rate)
        return publish(dst, y, subtype_for(dst, subtype), overwrite, sr if keep_rate else SAMPLE_RATE)

    def streaming(self):
        """A StreamingEnhancer sharing this (streamable student) model."""
        from ans.streaming import StreamingEnhancer
        return StreamingEnhancer((self.model.cpu(), self.normalizer.cpu()), atten_lim_db=self.atten_lim_db)


def is_same_file(a: Path, b: Path) -> bool:
    try:
        if b.exists() and os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return a.resolve() == b.resolve()


def subtype_for(path: Path, subtype: str) -> str:
    """soundfile subtype for the output container (FLAC has no float, OGG is Vorbis)."""
    ext = path.suffix.lower()
    if ext == ".ogg":
        return "VORBIS"
    if ext == ".flac":
        return "PCM_24" if subtype == "FLOAT" else "PCM_16"
    return subtype


def publish(dst: Path, y: np.ndarray | None, subtype: str, overwrite: bool, sr: int = SAMPLE_RATE,
            write=None) -> Path:
    """Write a complete temp file next to dst, then move it in; without overwrite a hard
    link makes the final step fail (instead of replacing) if another run got there first.
    `write(tmp_path)`, when given, writes the temp file instead of `y` (block-wise writers)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part{dst.suffix}")
    try:  # the temp file goes away whatever happens (a block-wise writer may fail half-way)
        if write is not None:
            write(tmp)
        else:
            write_audio(tmp, np.clip(y, -1.0, 1.0) if subtype != "FLOAT" else y, sr, subtype=subtype)
        if overwrite:
            os.replace(tmp, dst)
        else:
            try:
                os.link(tmp, dst)
            except FileExistsError:
                raise AnsError("output exists (pass --overwrite to replace it)", dst) from None
            except OSError:  # no hard links on this filesystem
                if dst.exists():
                    raise AnsError("output exists (pass --overwrite to replace it)", dst) from None
                os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
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


def _run_folder(enh: Enhancer, src: Path, dst: Path, args) -> int:
    if dst.exists() and not dst.is_dir():
        raise AnsError("input is a folder, so the output must be a folder", dst)
    files = find_audio(src, exclude=dst.resolve() if dst.resolve() != src.resolve() else None)
    if not files:
        raise AnsError(f"no audio files ({', '.join('*' + e for e in AUDIO_EXTS)}) in folder", src)
    from tqdm import tqdm

    def one(p: Path) -> str | None:
        try:
            enh.enhance_file(p, dst / p.relative_to(src), args.overwrite, args.subtype, args.max_bytes,
                             keep_rate=args.keep_rate)
        except AnsError as e:
            return str(e)
        except (OSError, RuntimeError, ValueError) as e:
            return f"{p}: failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        return None

    failed = 0
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool, \
            tqdm(total=len(files), desc="enhance", unit="file", disable=None) as bar:
        for err in pool.map(one, files):
            if err:
                failed += 1
                tqdm.write(err, file=sys.stderr)
            bar.update(1)
    print(f"enhanced {len(files) - failed} of {len(files)} files into {dst}"
          + (f"; {failed} failed" if failed else ""), file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ans.enhance", description=__doc__.split("\n\n")[0])
    ap.add_argument("input", type=Path, help="audio file or folder")
    ap.add_argument("-o", "--output", type=Path, required=True, help="output file or folder")
    ap.add_argument("--version", action="version", version=f"ans {_version()}")
    ap.add_argument("--model", type=Path, default=None,
                    help="model.pt (torch) or an `ans-export` folder (onnx); default: the shipped student")
    ap.add_argument("--backend", choices=("auto", "onnx", "torch"), default="auto",
                    help="auto (default): onnx for an export folder or without torch, else torch")
    ap.add_argument("--overwrite", action="store_true", help="replace existing outputs (never the input)")
    ap.add_argument("--float", dest="subtype", action="store_const", const="FLOAT", default="PCM_16",
                    help="write 32-bit float wav instead of 16-bit PCM")
    ap.add_argument("--jobs", type=int, default=1, help="files enhanced in parallel (folder mode)")
    ap.add_argument("--max-bytes", type=int, default=None, help="refuse input files larger than this")
    ap.add_argument("--atten-lim-db", type=float, default=None,
                    help="attenuation limit: the mask never goes below -DB dB (default: no limit)")
    ap.add_argument("--keep-rate", action="store_true",
                    help="write the output at the input's sample rate (default: 48 kHz)")
    ap.add_argument("--device", default=None, help="torch device, e.g. cuda or cuda:1 (torch backend)")
    args = ap.parse_args(argv)
    try:
        src = args.input
        if not src.exists():
            raise AnsError("no such file or folder", src)
        enh = load_enhancer(args.model, args.backend, args.atten_lim_db, args.device)
        if src.is_dir():
            return _run_folder(enh, src, args.output, args)
        dst = args.output / src.name if args.output.is_dir() else args.output
        enh.enhance_file(src, dst, args.overwrite, args.subtype, args.max_bytes, keep_rate=args.keep_rate)
        print(dst)
        return 0
    except AnsError as e:
        print(str(e), file=sys.stderr)
        return 1


def _version() -> str:
    from ans import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
