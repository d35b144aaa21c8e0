"""Offline enhancement of waveforms, files and folders with an exported model.pt.

    python -m ans.enhance INPUT -o OUTPUT [--model PATH] [--backend auto|onnx|torch] [--overwrite]
                          [--float] [--jobs N] [--atten-lim-db DB] [--keep-rate] [--device cuda]

Backends: `torch` (a model.pt; needs torch) and `onnx` (ans.runtime: numpy + onnxruntime, a
folder written by `ans-export`, by default the bundled student; files are enhanced in blocks,
so memory stays flat in their length). `auto`: onnx for an export folder or when torch is
not installed, torch otherwise. Both give the same output (within 1e-6).

The model's SignalSpec sets the rate it works at (48 kHz for the shipped models, 16 or 8 kHz
for a model trained with `features=16k|8k`): input is resampled to it, and the output is at
that rate, or at the input's own rate with --keep-rate.

INPUT is a file (-> OUTPUT file; an OUTPUT ending in "/" or an existing folder gets INPUT's
name inside it, the folder created when missing) or a folder (-> OUTPUT folder, same relative
names for every *.wav/*.flac/*.ogg/*.opus/*.mp3 below it). The output extension picks the
format (.wav, .flac, .ogg Vorbis, .opus, .mp3); any other is refused. The input is never
overwritten; an existing output is refused (file mode) or skipped and counted (folder mode,
exit code 0 when nothing failed) unless --overwrite; every output is written atomically, so
concurrent runs never leave half-written files. Bad input, or an output that cannot be
written (read-only folder, full disk), gets one line on stderr naming the file, and the exit
code is 1 (folder mode: after the other files). Ctrl-C / SIGTERM stop cleanly, leaving no
partial or temp file, with exit code 130 / 143.

Memory: files are read, resampled, enhanced and written in blocks by both backends (a causal
student carries its 171 frames of left context across blocks, so the output equals the
whole-file result): memory stays flat in the file's length. The bidirectional teacher (and a
look-ahead student) still needs the whole file at once.

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
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ans.audio import check_waveform, read_audio
from ans.errors import AnsError
from ans.runtime.fileio import (  # the one home of the file side; re-exported for ans.pipeline and the app
    OUTPUT_FORMATS,
    STOP,
    Interrupted,
    OutputExists,
    check_input,
    is_same_file,
    publish,
    subtype_for,
)
from ans.runtime.resample import fit_length, resample
from ans.signal_spec import REFERENCE

# torch, ans.checkpoint, ans.model and ans.features are imported inside Enhancer: the CLI's
# --help and its onnx backend (ans.runtime) must work without torch.
if TYPE_CHECKING:
    import torch

    from ans.features import Normalizer
    from ans.model import MaskEstimator

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_ROOT / "pretrained" / "student" / "model.pt"
if not DEFAULT_MODEL.is_file():  # an installed wheel: the copy shipped as package data
    DEFAULT_MODEL = Path(__file__).resolve().parent / "pretrained" / "student" / "model.pt"
AUDIO_EXTS = tuple(OUTPUT_FORMATS)  # what folder mode picks up (file mode reads anything libsndfile does)
__all__ = ["Enhancer", "check_input", "is_same_file", "load_enhancer", "main", "publish", "subtype_for"]
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


def output_length(n: int, sr: int, rate: int = REFERENCE.sample_rate) -> int:
    """Samples at `rate` (a model's; the shipped models': 48 kHz) for n samples at sr."""
    from ans.runtime.resample import output_length as _length

    return _length(n, sr, rate)


def check_wav_complete(data: bytes, size: int, label: str) -> None:
    """Refuse a RIFF/RIFX/RF64/W64 file whose data chunk declares more bytes than `size`
    (`data`: the file's bytes, or at least its head). See `ans.truncation.check_complete`."""
    from ans.truncation import check_complete

    check_complete(io.BytesIO(data), size, label)


def load_input(path: str | os.PathLike, max_bytes: int | None = None) -> tuple[np.ndarray, int]:
    """Read channel 0 of an audio file after the size and truncation checks."""
    check_input(path, max_bytes)
    return read_audio(path)


class Enhancer:
    """Mask-based enhancement with a MaskEstimator (a bare network + normaliser is wrapped
    with the reference spec), at the model's own rate."""

    def __init__(self, model: MaskEstimator | torch.nn.Module, normalizer: Normalizer | None = None,
                 kind: str | None = None, source: str | None = None,
                 atten_lim_db: float | None = None, device: str | None = None):
        from ans.model import MaskEstimator
        from ans.runtime.model import atten_floor

        self.device = device or "cpu"
        est = MaskEstimator.wrap(model, normalizer, kind=kind, source=source)
        self.estimator = est.eval().float().to(self.device)
        self.spec = est.spec
        self.fe = est.features()
        self.atten_lim_db, self.floor = atten_lim_db, atten_floor(atten_lim_db)  # mask floor
        self.kind, self.source = est.kind, source or est.source

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **kwargs) -> Enhancer:
        from ans.model import MaskEstimator

        return cls(MaskEstimator.load(path), **kwargs)

    @property
    def model(self) -> torch.nn.Module:
        """The mask network (`estimator.net`)."""
        return self.estimator.net

    @property
    def normalizer(self) -> Normalizer:
        return self.estimator.normalizer

    @property
    def sample_rate(self) -> int:
        return self.spec.sample_rate

    @property
    def streamable(self) -> bool:
        return self.estimator.streamable

    def enhance_native(self, wave: torch.Tensor) -> torch.Tensor:
        """(N,) float32 tensor at the model's rate -> enhanced (N,) tensor.

        Same result as fbank -> model -> mask * stft -> istft on the whole signal, but the
        frame-local stages run BLOCK frames at a time so a long file needs little memory.
        """
        import torch

        with torch.inference_mode():
            return self._enhance_native(wave.to(self.device)).cpu()

    def _enhance_native(self, wave: torch.Tensor) -> torch.Tensor:
        import torch

        hop = self.spec.hop
        n = wave.shape[-1]
        frames = self.fe.frames(wave)  # (T, frame) view of the padded signal
        t_total = frames.shape[0]
        feats = torch.cat([self.fe.fbank_frames(frames[i:i + BLOCK]) for i in range(0, t_total, BLOCK)])
        mask = self.estimator(feats.unsqueeze(0))[0]
        if self.floor > 0:
            mask = mask.clamp_min(self.floor)
        hops = wave.new_zeros(t_total + 1, hop)  # weighted overlap-add, one row per hop
        for i in range(0, t_total, BLOCK):
            blk = frames[i:i + BLOCK]
            synth = self.fe.synthesis_frame(self.fe.analysis_frame(blk) * mask[i:i + BLOCK])
            hops[i:i + blk.shape[0]] += synth[:, :hop]
            hops[i + 1:i + 1 + blk.shape[0]] += synth[:, hop:]
        return (hops[1:] / self.fe.ola_envelope()).reshape(-1)[:n]

    def enhance(self, x: np.ndarray, sr: int, name: str = "<array>", keep_rate: bool = False) -> np.ndarray:
        """Any-rate waveform (mono, or (samples, channels): channel 0) -> float32 at the model's
        rate, same duration (keep_rate: back at `sr`, resampled with soxr)."""
        y = self._enhance(x, sr, name)
        if keep_rate and int(sr) != self.sample_rate:
            y = resample(y, self.sample_rate, int(sr))
            n = check_waveform(x, sr, name).size
            y = fit_length(y, n)
        return y

    def _enhance(self, x: np.ndarray, sr: int, name: str) -> np.ndarray:
        import torch

        x = check_waveform(x, sr, name)
        if x.size == 0:
            raise AnsError("empty audio (0 samples)", name)
        n_out = max(1, self.spec.samples_at(x.size, int(sr)))
        if not np.any(x):
            return np.zeros(n_out, dtype=np.float32)
        peak = float(np.max(np.abs(x)))
        if peak > 1.0:  # beyond full scale: enhance at peak 1, scale back (module docstring)
            x = x / np.float32(peak)
        with torch.inference_mode():
            wave = torch.from_numpy(np.ascontiguousarray(resample(x, int(sr), self.sample_rate)))
            if wave.shape[-1] != n_out:
                wave = torch.nn.functional.pad(wave[:n_out], (0, max(0, n_out - wave.shape[-1])))
            y = self.enhance_native(wave).numpy().astype(np.float32, copy=False)
        if peak > 1.0:
            big = float(np.finfo(np.float32).max)
            y = np.clip(y.astype(np.float64) * peak, -big, big).astype(np.float32)
        if not np.isfinite(y).all():
            raise AnsError("enhancement produced NaN or Inf samples", name)
        return y

    def enhance_file(self, in_path: str | os.PathLike, out_path: str | os.PathLike,
                     overwrite: bool = False, subtype: str = "PCM_16",
                     max_bytes: int | None = None, keep_rate: bool = False) -> Path:
        """Enhance one file into `out_path` (never the input; existing output only with overwrite),
        block by block: equal to `enhance` on the whole file, in memory flat in its length."""
        from ans.runtime.fileio import enhance_file_blocks

        return enhance_file_blocks(self, Path(in_path), Path(out_path), overwrite, subtype, max_bytes, keep_rate)

    def engine(self):
        """The runtime's block engine (ans.runtime.offline.FrameEngine) on this torch model."""
        from ans.runtime.offline import FrameEngine

        return FrameEngine(_TorchGraph(self), _TorchDsp(self.fe), self.floor, BLOCK)

    def streaming(self):
        """A StreamingEnhancer sharing this (streamable) model."""
        from ans.streaming import StreamingEnhancer
        return StreamingEnhancer(self.estimator.cpu(), atten_lim_db=self.atten_lim_db)


class _TorchGraph:
    """What FrameEngine calls on an exported graph (`offline`: raw fbank -> mask, `context`),
    on an Enhancer's torch model and normaliser."""

    def __init__(self, enh: Enhancer):
        self.enh = enh
        self.context = enh.estimator.context_frames  # None: the whole file at once
        self.spec = enh.spec

    def offline(self, fbank: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(fbank).to(self.enh.device)
            return self.enh.estimator(x.unsqueeze(0))[0].float().cpu().numpy()


class _TorchDsp:
    """The runtime Dsp interface on `ans.features.FeatureExtractor` (the torch path's own
    signal path, so a file equals `Enhancer.enhance` on the array)."""

    def __init__(self, fe):
        self.fe, self.device, self.spec = fe, fe.stft_window.device, fe.spec
        self.ola_env = fe.ola_envelope().cpu().numpy()

    def _run(self, fn, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return fn(torch.from_numpy(np.require(x, requirements=["C", "W"])).to(self.device)).cpu().numpy()

    def fbank(self, frames: np.ndarray) -> np.ndarray:
        return self._run(self.fe.fbank_frames, frames)

    def analysis(self, frames: np.ndarray) -> np.ndarray:
        return self._run(self.fe.analysis_frame, frames)

    def synthesis(self, spec: np.ndarray) -> np.ndarray:
        return self._run(self.fe.synthesis_frame, spec)

    def frames_of(self, padded: np.ndarray) -> np.ndarray:
        from ans.runtime.dsp import Dsp

        return Dsp.frames_of(self, padded)


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
    """Where input `name` goes inside an output folder: the same name, or .wav when its
    extension names no output format."""
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
        if STOP.is_set():
            return "stopped", None
        try:
            enh.enhance_file(p, output_in_folder(dst, str(p.relative_to(src))), args.overwrite, args.subtype,
                             args.max_bytes, keep_rate=args.keep_rate)
        except OutputExists:
            return "skipped", None
        except Interrupted:
            return "stopped", None
        except AnsError as e:
            return "failed", str(e)
        except (OSError, RuntimeError, ValueError) as e:
            return "failed", f"{p}: failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        return "done", None

    counts = dict.fromkeys(("done", "skipped", "failed", "stopped"), 0)
    pool = ThreadPoolExecutor(max_workers=max(1, args.jobs))
    try:
        with tqdm(total=len(files), desc="enhance", unit="file", disable=None) as bar:
            for status, err in pool.map(one, files):
                counts[status] += 1
                if err:
                    tqdm.write(err, file=sys.stderr)
                bar.update(1)
    except BaseException:  # Ctrl-C / SIGTERM: running files stop at their next block, queued ones never start
        STOP.set()
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


class _Terminated(KeyboardInterrupt):
    """SIGTERM, unwound like Ctrl-C so every temp file is removed on the way out."""


def _on_sigterm(signum, frame):
    STOP.set()
    raise _Terminated


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ans.enhance", description=__doc__.split("\n\n")[0])
    ap.add_argument("input", type=Path, help="audio file or folder")
    ap.add_argument("-o", "--output", required=True,
                    help="output file (its extension picks the format) or folder (trailing / or existing)")
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
    out_arg, args.output = args.output, Path(args.output)
    STOP.clear()
    old_int = signal.getsignal(signal.SIGINT)
    try:
        old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: leave signals alone
        old_term = None
    try:
        src = args.input
        if not src.exists():
            raise AnsError("no such file or folder", src)
        enh = load_enhancer(args.model, args.backend, args.atten_lim_db, args.device)
        if src.is_dir():
            return _run_folder(enh, src, args.output, args)
        as_folder = out_arg.endswith(("/", os.sep)) or args.output.is_dir()
        dst = output_in_folder(args.output, src.name) if as_folder else args.output
        enh.enhance_file(src, dst, args.overwrite, args.subtype, args.max_bytes, keep_rate=args.keep_rate)
        print(dst)
        return 0
    except AnsError as e:
        print(str(e), file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Interrupted) as e:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the cleanup short
            if old_term is not None:
                signal.signal(sig, signal.SIG_IGN)
        STOP.set()
        term = isinstance(e, _Terminated)
        print(f"ans.enhance: interrupted by {'SIGTERM' if term else 'Ctrl-C'}; unfinished outputs were removed",
              file=sys.stderr)
        return 143 if term else 130
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
            signal.signal(signal.SIGINT, old_int)


def _version() -> str:
    from ans import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
