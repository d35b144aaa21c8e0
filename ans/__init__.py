"""ans: 48 kHz causal speech noise suppression (Conv+BLSTM teacher distilled into a DFSMN student).

    from ans import pipeline
    ans = pipeline(model="outputs/student/RUN/model.pt")
    result = ans("noisy.wav", output_path="enhanced.wav")
    result["output_pcm"]  # int16 little-endian PCM bytes at 48 kHz

`import ans` stays light: torch and friends load on first use.
"""

from __future__ import annotations

import io
import os

from ans.errors import AnsError

__all__ = ["AnsError", "Enhancer", "StreamingEnhancer", "pipeline"]

SERVICE_MAX_BYTES = 10 * 2**20


def pipeline(model=None, max_bytes: int | None = SERVICE_MAX_BYTES):
    """A callable `ans(input, output_path=None, sample_rate=None) -> dict` around one model.

    `model`: a model.pt path (teacher or student), an Enhancer, or None for
    pretrained/student/model.pt. `input`: a path, the bytes of an audio file, or a numpy
    array (then `sample_rate` is required). Inputs over `max_bytes` (file size, byte string
    length, or array nbytes; None = no limit) are refused with AnsError. Returns
    {'output_pcm': bytes (int16 LE, 48 kHz), 'output_wav': float32 array, 'sample_rate': 48000};
    `output_path` (never the input file) is written atomically as 16-bit PCM.
    """
    from ans.enhance import Enhancer, default_model_path

    enh = model if isinstance(model, Enhancer) else Enhancer.from_checkpoint(model or default_model_path())
    return _Pipeline(enh, max_bytes)


class _Pipeline:
    def __init__(self, enhancer, max_bytes: int | None):
        self.enhancer, self.max_bytes = enhancer, max_bytes

    def _too_big(self, size: int, label: str) -> None:
        if self.max_bytes is not None and size > self.max_bytes:
            raise AnsError(f"input is {size} bytes, over the {self.max_bytes}-byte limit", label)

    def __call__(self, input, output_path=None, sample_rate: int | None = None) -> dict:
        import numpy as np
        import soundfile as sf

        from ans.audio import SAMPLE_RATE, read_audio
        from ans.enhance import is_same_file, load_input, publish, subtype_for

        if isinstance(input, bytes | bytearray | memoryview):
            data, label = bytes(input), "<bytes input>"
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
                           "(expected a path, wav bytes or a numpy array)")
        out_subtype = subtype_for(_path(output_path), "PCM_16") if output_path is not None else None
        y = self.enhancer.enhance(x, sr, name=label)
        buf = io.BytesIO()
        sf.write(buf, np.clip(y, -1.0, 1.0), SAMPLE_RATE, format="RAW", subtype="PCM_16", endian="LITTLE")
        if output_path is not None:
            out = _path(output_path)
            publish(out, y, out_subtype, overwrite=True)  # OS errors -> AnsError naming the file
        return {"output_pcm": buf.getvalue(), "output_wav": y, "sample_rate": SAMPLE_RATE}


def _path(p):
    from pathlib import Path

    return Path(p)


def __getattr__(name: str):
    if name == "Enhancer":
        from ans.enhance import Enhancer

        return Enhancer
    if name == "StreamingEnhancer":
        from ans.streaming import StreamingEnhancer

        return StreamingEnhancer
    raise AttributeError(f"module 'ans' has no attribute {name!r}")
