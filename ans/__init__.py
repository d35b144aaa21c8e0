"""ans: 48 kHz causal speech noise suppression (Conv+BLSTM teacher distilled into a DFSMN student).

    from ans import pipeline
    ans = pipeline(model="outputs/student/RUN/model.pt")
    result = ans("noisy.wav", output_path="enhanced.wav")
    result["output_pcm"]  # int16 little-endian PCM bytes at 48 kHz

`import ans` stays light: torch and friends load on first use.
"""

from __future__ import annotations

import os

from ans.errors import AnsError

__all__ = ["AnsError", "Enhancer", "StreamingEnhancer", "__version__", "pipeline"]
__version__ = "0.1.0"

SERVICE_MAX_BYTES = 10 * 2**20


def pipeline(model=None, max_bytes: int | None = SERVICE_MAX_BYTES, backend: str = "auto",
             atten_lim_db: float | None = None, keep_rate: bool = False, device: str | None = None):
    """A callable `ans(input, output_path=None, sample_rate=None) -> dict` around one model.

    `model`: a model.pt path (teacher or student), an `ans-export` folder, an Enhancer or
    OnnxEnhancer, or None for the shipped student. `backend`, `atten_lim_db`, `device`: as
    `python -m ans.enhance` (auto: torch when installed, else the torch-free ans.runtime).
    `keep_rate`: output at the input's rate (then 'sample_rate' says which). `input`: a path,
    the bytes of an audio file or an open binary file, or a numpy array (then `sample_rate` is
    required); errors name the path, `<bytes>`, `<file NAME>` or `<array>`. Inputs over
    `max_bytes` (file size, byte string length, or array nbytes; None = no limit) are refused
    with AnsError. Returns
    {'output_pcm': bytes (int16 LE), 'output_wav': float32 array, 'sample_rate': the model's rate
    (48000 for the shipped models) or the input's with keep_rate};
    `output_path` (never the input file) is written atomically as 16-bit PCM.
    """
    from ans.enhance import load_enhancer

    enh = model if hasattr(model, "enhance_file") else load_enhancer(model, backend, atten_lim_db, device)
    return _Pipeline(enh, max_bytes, keep_rate)


class _Pipeline:
    def __init__(self, enhancer, max_bytes: int | None, keep_rate: bool = False):
        self.enhancer, self.max_bytes, self.keep_rate = enhancer, max_bytes, keep_rate

    def _too_big(self, size: int, label: str) -> None:
        if self.max_bytes is not None and size > self.max_bytes:
            raise AnsError(f"input is {size} bytes, over the {self.max_bytes}-byte limit", label)

    def _read_file_object(self, f) -> tuple[bytes, str]:
        """The bytes of an open binary file (at most max_bytes + 1 read), labelled by its name."""
        name = getattr(f, "name", None)
        label = f"<file {name}>" if isinstance(name, str) else f"<{type(f).__name__} input>"
        try:
            data = f.read() if self.max_bytes is None else f.read(self.max_bytes + 1)
        except (OSError, ValueError) as e:  # closed, not readable, text mode
            raise AnsError(f"cannot read the file object ({type(e).__name__}: {e})", label) from None
        if not isinstance(data, bytes | bytearray):
            raise AnsError("expected a file opened in binary mode ('rb')", label)
        return data, label

    def __call__(self, input, output_path=None, sample_rate: int | None = None) -> dict:
        import numpy as np

        from ans.audio import pcm16_bytes, read_audio
        from ans.enhance import is_same_file, load_input, publish, subtype_for

        if hasattr(input, "read") and not isinstance(input, str | os.PathLike):  # an open binary file
            input, label = self._read_file_object(input)
        else:
            label = None
        if isinstance(input, bytes | bytearray | memoryview):
            data, label = bytes(input), label or "<bytes>"
            self._too_big(len(data), label)
            x, sr = read_audio(data, name=label)  # refuses truncated files too
        elif isinstance(input, str | os.PathLike):
            label = str(input)
            x, sr = load_input(input, self.max_bytes)
            if output_path is not None and is_same_file(_path(input), _path(output_path)):
                raise AnsError("refusing to overwrite the input file (choose another output)", output_path)
        elif hasattr(input, "__array__"):
            label = "<array>"
            x = np.asarray(input)
            if sample_rate is None:
                raise AnsError("a numpy array input needs sample_rate=", label)
            self._too_big(x.nbytes, label)
            sr = sample_rate
        else:
            raise AnsError(f"unsupported input type {type(input).__name__} "
                           "(expected a path, an audio file's bytes or open binary file, or a numpy array)")
        out_subtype = subtype_for(_path(output_path), "PCM_16") if output_path is not None else None
        y = self.enhancer.enhance(x, sr, name=label, keep_rate=self.keep_rate)
        out_sr = int(sr) if self.keep_rate else self.enhancer.sample_rate
        if output_path is not None:
            out = _path(output_path)
            publish(out, y, out_subtype, overwrite=True, sr=out_sr)  # OS errors -> one AnsError line
        return {"output_pcm": pcm16_bytes(y, out_sr, "RAW"), "output_wav": y, "sample_rate": out_sr}


def _path(p):
    from pathlib import Path

    if not isinstance(p, str | os.PathLike):
        raise AnsError(f"output_path must be a file path, got {type(p).__name__}")
    return Path(p)


def __getattr__(name: str):
    if name == "Enhancer":
        from ans.enhance import Enhancer

        return Enhancer
    if name == "StreamingEnhancer":
        from ans.streaming import StreamingEnhancer

        return StreamingEnhancer
    raise AttributeError(f"module 'ans' has no attribute {name!r}")
