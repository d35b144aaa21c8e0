"""Per-file speech-quality metrics for a (clean reference, estimate) pair, and delay alignment.

Everything takes float numpy waveforms (48 kHz by default) and returns plain Python floats:

| key | what | computed at |
|---|---|---|
| `pesq_wb` | PESQ wide-band (P.862.2, `pesq` package, mode 'wb') | 16 kHz |
| `pesq_nb` | PESQ narrow-band (P.862, mode 'nb') | 8 kHz |
| `stoi`, `estoi` | (extended) short-time objective intelligibility (`pystoi`) | 10 kHz inside pystoi |
| `si_sdr` | scale-invariant SDR in dB (zero-mean, standard definition) | input rate |
| `dnsmos_sig/bak/ovrl/p808` | DNSMOS P.835 SIG/BAK/OVRL and P.808 MOS, no reference | 16 kHz |
| `csig`, `cbak`, `covl` (`composite`) | Hu & Loizou composite measures (ans.composite) | 16 kHz |

A metric that cannot be computed for one file (PESQ "no utterances detected", a silent
reference for SI-SDR, an empty signal, ...) is NaN, never an exception: the evaluator counts
the NaNs in its report.

DNSMOS runs the ONNX models bundled in the `speechmos` wheel (offline, no download) with the
exact segmentation and polynomial mapping of `speechmos.dnsmos.run` (itself the official
`dnsmos_local.py`): the clip is tiled to >= 9.01 s and scored on 9.01 s windows every 1 s.
Three deliberate differences, all for speed, with the same numbers (tests compare them):
windows that are identical because a short clip was tiled (offsets equal modulo the clip
length) are scored once and weighted by their count; the windows are scored in batched ONNX
calls; and the P.808 log-mel input is computed with numpy instead of librosa (librosa's numba
kernels cost ~15 s to compile on a cold venv).
ONNX Runtime runs with one intra-op thread and no spin-waiting so that files can be scored in
parallel processes without oversubscribing the cores (`dnsmos_threads()` changes that).
"""

from __future__ import annotations

import functools
import math
import os
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from scipy.signal import correlate, get_window

from ans.runtime.resample import resample
from ans.signal_spec import REFERENCE

SAMPLE_RATE = REFERENCE.sample_rate  # the shipped models' rate (ans.signal_spec)
PESQ_WB_RATE = 16_000
PESQ_NB_RATE = 8_000
DNSMOS_RATE = 16_000

ALL_METRICS: tuple[str, ...] = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "hf_kept", "dnsmos",
                                 "composite")
DNSMOS_KEYS: tuple[str, ...] = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808")
# Keys `compute_metrics` returns for each name in `which` (dnsmos expands to four columns).
METRIC_KEYS: dict[str, tuple[str, ...]] = {
    "pesq_wb": ("pesq_wb",), "pesq_nb": ("pesq_nb",), "stoi": ("stoi",), "estoi": ("estoi",),
    "si_sdr": ("si_sdr",), "hf_kept": ("hf_kept",), "dnsmos": DNSMOS_KEYS,
    "composite": ("csig", "cbak", "covl"),
}
# Higher is better for every metric here; the plausible range is for plots and sanity checks.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "pesq_wb": (1.0, 4.65), "pesq_nb": (1.0, 4.65), "stoi": (0.0, 1.0), "estoi": (0.0, 1.0),
    "si_sdr": (-np.inf, np.inf), "hf_kept": (-np.inf, np.inf), "dnsmos_sig": (1.0, 5.0),
    "dnsmos_bak": (1.0, 5.0), "dnsmos_ovrl": (1.0, 5.0), "dnsmos_p808": (1.0, 5.0), "csig": (1.0, 5.0),
    "cbak": (1.0, 5.0), "covl": (1.0, 5.0),
}
# Display names of the keys (report tables and plots).
METRIC_LABELS: dict[str, str] = {
    "pesq_wb": "PESQ-WB", "pesq_nb": "PESQ-NB", "stoi": "STOI", "estoi": "ESTOI", "si_sdr": "SI-SDR",
    "hf_kept": "8-16 kHz kept (dB)", "dnsmos_sig": "DNSMOS SIG", "dnsmos_bak": "DNSMOS BAK",
    "dnsmos_ovrl": "DNSMOS OVRL", "dnsmos_p808": "DNSMOS P.808", "csig": "CSIG", "cbak": "CBAK", "covl": "COVL",
}

NAN = float("nan")


def _to_rate(x: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """float64 copy of a 1-D signal at sr_to (the one resampler, ans.runtime.resample)."""
    return resample(np.asarray(x, dtype=np.float64), sr_from, sr_to)


def _as_1d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        x = np.squeeze(x)
        if x.ndim != 1:
            raise ValueError(f"expected a mono waveform, got shape {np.shape(x)}")
    return x


def _pair(clean: np.ndarray, est: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both signals as float64, trimmed to their common length."""
    c, e = _as_1d(clean), _as_1d(est)
    n = min(c.size, e.size)
    return c[:n], e[:n]


# --------------------------------------------------------------------------- single metrics
def si_sdr(reference: np.ndarray, estimate: np.ndarray, eps: float = 1e-20) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019): both signals made zero-mean,
    target = <s, ŝ>/||s||² · s, SI-SDR = 10 log10(||target||² / ||ŝ − target||²).
    NaN when either signal is silent or empty (0/0: undefined)."""
    s, e = _pair(reference, estimate)
    if s.size == 0:
        return NAN
    s = s - s.mean()
    e = e - e.mean()
    ss = float(np.dot(s, s))
    if ss <= eps or not np.isfinite(ss) or not np.isfinite(e).all() or not np.any(e):
        return NAN
    target = (float(np.dot(s, e)) / ss) * s
    noise = e - target
    return float(10.0 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


def _pesq_at(ref: np.ndarray, deg: np.ndarray, rate: int, mode: str) -> float:
    from pesq import pesq  # C extension; imported lazily so `import ans.metrics` stays cheap

    if ref.size < rate // 4 or not np.any(ref) or not (np.isfinite(ref).all() and np.isfinite(deg).all()):
        return NAN  # < 0.25 s, silent or non-finite: PESQ is undefined (the C code may misbehave)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(pesq(rate, ref, deg, mode))
    except Exception:  # cypesq.NoUtterancesError, BufferTooShortError, ValueError, ...
        return NAN


def pesq_wb(clean: np.ndarray, est: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """PESQ wide-band (P.862.2) at 16 kHz; NaN when PESQ fails on this file."""
    c, e = _pair(clean, est)
    return _pesq_at(_to_rate(c, sr, PESQ_WB_RATE), _to_rate(e, sr, PESQ_WB_RATE), PESQ_WB_RATE, "wb")


def pesq_nb(clean: np.ndarray, est: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """PESQ narrow-band (P.862, raw MOS-LQO mapping of the `pesq` package) at 8 kHz; NaN on failure."""
    c, e = _pair(clean, est)
    return _pesq_at(_to_rate(c, sr, PESQ_NB_RATE), _to_rate(e, sr, PESQ_NB_RATE), PESQ_NB_RATE, "nb")


def stoi(clean: np.ndarray, est: np.ndarray, sr: int = SAMPLE_RATE, extended: bool = False) -> float:
    """STOI (or ESTOI with extended=True) via pystoi, which resamples to 10 kHz itself."""
    from pystoi import stoi as _stoi

    c, e = _pair(clean, est)
    if c.size == 0 or not np.any(c) or not (np.isfinite(c).all() and np.isfinite(e).all()):
        return NAN  # empty or silent reference: undefined (pystoi would return noise)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = float(_stoi(c, e, int(sr), extended=extended))
    except Exception:  # too short for one 30-frame segment, etc.
        return NAN
    return v if np.isfinite(v) else NAN


def estoi(clean: np.ndarray, est: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    return stoi(clean, est, sr, extended=True)


# --------------------------------------------------------------------------- DNSMOS
_DNSMOS_WINDOW_S = 9.01  # INPUT_LENGTH of the official script
_DNSMOS_BATCH = 16  # windows per ONNX call (each is 144160 float32 samples)
_dnsmos_lock = threading.Lock()
_dnsmos_state: dict[str, object] = {"threads": 1}


def dnsmos_threads(n: int) -> None:
    """Intra-op threads for the DNSMOS ONNX sessions (default 1); rebuilds them on next use."""
    with _dnsmos_lock:
        _dnsmos_state["threads"] = max(1, int(n))
        _dnsmos_state.pop("sessions", None)


def _speechmos_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("DNSMOS needs the `speechmos` package (pip install speechmos==0.0.1.1)")
    return Path(next(iter(spec.submodule_search_locations)))


def _dnsmos_sessions():
    """(primary SIG/BAK/OVRL session, P.808 session), loaded once per process from the wheel."""
    with _dnsmos_lock:
        sessions = _dnsmos_state.get("sessions")
        if sessions is None:
            import onnxruntime as ort

            models = _speechmos_dir() / "dnsmos_models"
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = int(_dnsmos_state["threads"])
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.log_severity_level = 3
            prov = ["CPUExecutionProvider"]
            sessions = (
                ort.InferenceSession(str(models / "sig_bak_ovr.onnx"), opts, providers=prov),
                ort.InferenceSession(str(models / "model_v8.onnx"), opts, providers=prov),
            )
            _dnsmos_state["sessions"] = sessions
        return sessions


def _hz_to_slaney_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    lin = f / f_sp
    log = min_log_hz / f_sp + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log, lin)


def _slaney_mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def slaney_mel_filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """(n_mels, n_fft//2+1) triangular filters, slaney area normalisation: the same numbers as
    `librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)` without depending on librosa."""
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_hz = _slaney_mel_to_hz(np.linspace(_hz_to_slaney_mel(0.0), _hz_to_slaney_mel(sr / 2.0), n_mels + 2))
    fdiff = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    return weights


@functools.lru_cache(maxsize=1)
def _p808_mel_basis() -> tuple[np.ndarray, np.ndarray]:
    """Hann window and mel filterbank of the P.808 input (librosa's: n_fft 321, 120 mels, slaney)."""
    window = get_window("hann", 321, fftbins=True).astype(np.float32)
    basis = slaney_mel_filterbank(DNSMOS_RATE, 321, 120).astype(np.float32)
    return window, basis


def _p808_features(seg: np.ndarray) -> np.ndarray:
    """librosa.feature.melspectrogram(n_fft=321, hop 160, centre, zero pad) -> power_to_db(ref=max)
    -> (x + 40) / 40, as (frames, 120) float32 — the P.808 model input of speechmos/DNSMOS."""
    window, basis = _p808_mel_basis()
    n_fft, hop = 321, 160
    y = np.pad(seg.astype(np.float32), (n_fft // 2, n_fft // 2))
    n_frames = 1 + (y.size - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop][:n_frames]
    spec = np.fft.rfft(frames * window, axis=-1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)  # (T, 161)
    mel_spec = power @ basis.T  # (T, 120)
    amin, top_db = 1e-10, 80.0
    log_spec = 10.0 * np.log10(np.maximum(amin, mel_spec))
    log_spec -= 10.0 * np.log10(max(amin, float(mel_spec.max())))
    log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return ((log_spec + 40.0) / 40.0).astype(np.float32)


_P835_POLY = {  # non-personalised DNSMOS P.835 calibration (speechmos / dnsmos_local.py)
    "sig": np.poly1d([-0.08397278, 1.22083953, 0.0052439]),
    "bak": np.poly1d([-0.13166888, 1.60915514, -0.39604546]),
    "ovrl": np.poly1d([-0.06766283, 1.11546468, 0.04602535]),
}


def dnsmos_16k(x16: np.ndarray) -> dict[str, float]:
    """DNSMOS of a 16 kHz mono clip: {'dnsmos_sig', 'dnsmos_bak', 'dnsmos_ovrl', 'dnsmos_p808'}.
    Values are clipped to [-1, 1] first (speechmos refuses anything else); NaN for an empty or
    non-finite clip."""
    audio = np.asarray(x16, dtype=np.float32).reshape(-1)
    if audio.size == 0 or not np.isfinite(audio).all():
        return dict.fromkeys(DNSMOS_KEYS, NAN)
    audio = np.clip(audio, -1.0, 1.0)
    fs = DNSMOS_RATE
    period = audio.size  # tiling makes the clip periodic: equal offsets mod period = same window
    len_samples = int(_DNSMOS_WINDOW_S * fs)
    while len(audio) < len_samples:  # tile short clips, exactly as the reference does
        audio = np.append(audio, audio)
    num_hops = int(np.floor(len(audio) / fs) - _DNSMOS_WINDOW_S) + 1
    starts: dict[int, int] = {}  # distinct window start (mod period) -> how many windows share it
    for idx in range(num_hops):
        start, stop = int(idx * fs), int((idx + _DNSMOS_WINDOW_S) * fs)
        if min(stop, len(audio)) - start >= len_samples:
            key = start % period if period < len_samples else start
            starts[key] = starts.get(key, 0) + 1
    if not starts:
        return dict.fromkeys(DNSMOS_KEYS, NAN)
    primary, p808 = _dnsmos_sessions()
    keys = list(starts)
    weights = np.array([starts[k] for k in keys], dtype=np.float64)
    raw, p808_mos = [], []
    for b in range(0, len(keys), _DNSMOS_BATCH):
        batch = [audio[k: k + len_samples] for k in keys[b: b + _DNSMOS_BATCH]]
        raw.append(primary.run(None, {"input_1": np.stack(batch).astype(np.float32)})[0])
        mel = np.stack([_p808_features(s[:-160]) for s in batch])
        p808_mos.append(p808.run(None, {"input_1": mel})[0][:, 0])
    raw_all = np.concatenate(raw).astype(np.float64)  # (windows, 3): sig, bak, ovrl
    p808_all = np.concatenate(p808_mos).astype(np.float64)

    def mean(v: np.ndarray) -> float:
        return float(np.sum(v * weights) / weights.sum())

    return {
        "dnsmos_sig": mean(_P835_POLY["sig"](raw_all[:, 0])),
        "dnsmos_bak": mean(_P835_POLY["bak"](raw_all[:, 1])),
        "dnsmos_ovrl": mean(_P835_POLY["ovrl"](raw_all[:, 2])),
        "dnsmos_p808": mean(p808_all),
    }


def dnsmos_only(x: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, float]:
    """No-reference mode: DNSMOS SIG/BAK/OVRL/P808 of one waveform at any rate."""
    return dnsmos_16k(_to_rate(_as_1d(x), sr, DNSMOS_RATE))


# --------------------------------------------------------------------------- all together
def compute_metrics(clean: np.ndarray, est: np.ndarray, sr: int = SAMPLE_RATE,
                    which: Iterable[str] = ALL_METRICS) -> dict[str, float]:
    """Every metric in `which` for one (clean reference, estimate) pair at rate `sr`.

    The two signals are trimmed to their common length (align peers first with `align`).
    DNSMOS scores the estimate only. Returns {key: float}, NaN where a metric failed.
    """
    which = tuple(which)
    unknown = [w for w in which if w not in METRIC_KEYS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(METRIC_KEYS)}")
    c, e = _pair(clean, est)
    out: dict[str, float] = {}
    e16 = None
    if "pesq_wb" in which or "dnsmos" in which or "composite" in which:
        e16 = _to_rate(e, sr, PESQ_WB_RATE)
    for name in which:
        if name == "pesq_wb":
            out["pesq_wb"] = _pesq_at(_to_rate(c, sr, PESQ_WB_RATE), e16, PESQ_WB_RATE, "wb")
        elif name == "pesq_nb":
            out["pesq_nb"] = pesq_nb(c, e, sr)
        elif name == "stoi":
            out["stoi"] = stoi(c, e, sr)
        elif name == "estoi":
            out["estoi"] = stoi(c, e, sr, extended=True)
        elif name == "si_sdr":
            out["si_sdr"] = si_sdr(c, e)
        elif name == "hf_kept":  # 8-16 kHz speech energy kept (dB; 0 = kept, very negative = erased)
            out["hf_kept"] = band_energy_db(c, e, sr)
        elif name == "dnsmos":
            out.update(dnsmos_16k(e16))
        elif name == "composite":  # needs PESQ-WB of the same pair: reuse it when computed
            from ans.composite import composite

            c16 = _to_rate(c, sr, PESQ_WB_RATE)
            p = out["pesq_wb"] if "pesq_wb" in out else _pesq_at(c16, e16, PESQ_WB_RATE, "wb")
            out.update(composite(c16, e16, p))
    return out


# --------------------------------------------------------------------------- high band
HF_BAND = (8000.0, 16000.0)


def band_energy_db(clean: np.ndarray, est: np.ndarray, sr: int = SAMPLE_RATE,
                   band: tuple[float, float] = HF_BAND, active_db: float = 30.0) -> float:
    """Energy of `est` relative to `clean` (dB) in `band`, over the frames where the clean
    signal has energy in that band (within `active_db` of its loudest such frame, 1024-point
    STFT). 0 dB: the band passes unchanged; -50 dB: erased; NaN: no such frames in the clean."""
    from scipy.signal import stft as _stft

    c, e = _pair(clean, est)
    if c.size < 1024 or sr < 2 * band[1]:
        return NAN
    f, _, C = _stft(c, fs=sr, nperseg=1024, noverlap=512)
    _, _, E = _stft(e, fs=sr, nperseg=1024, noverlap=512)
    sel = (f >= band[0]) & (f < band[1])
    ec = np.sum(np.abs(C[sel]) ** 2, axis=0)
    ee = np.sum(np.abs(E[sel]) ** 2, axis=0)
    if ec.max() <= 1e-12:
        return NAN
    active = ec > ec.max() * 10 ** (-active_db / 10)
    return float(10 * np.log10((ee[active].sum() + 1e-20) / (ec[active].sum() + 1e-20)))


# --------------------------------------------------------------------------- alignment
def estimate_delay(reference: np.ndarray, estimate: np.ndarray, max_lag: int) -> int:
    """Integer lag d (|d| <= max_lag) maximising the cross-correlation, so that
    estimate[n] ≈ reference[n − d]: d > 0 means the estimate is late."""
    r, e = _as_1d(reference), _as_1d(estimate)
    if r.size == 0 or e.size == 0 or not np.any(r) or not np.any(e):
        return 0
    r = r - r.mean()
    e = e - e.mean()
    xc = correlate(e, r, mode="full", method="fft")  # index k <-> lag k - (len(r) - 1)
    zero = r.size - 1
    lo = max(0, zero - max_lag)
    hi = min(xc.size, zero + max_lag + 1)
    return int(np.argmax(xc[lo:hi]) + lo - zero)


def shift(x: np.ndarray, delay: int) -> np.ndarray:
    """Undo a delay of `delay` samples: drop that many leading samples (or prepend zeros for a
    negative delay), zero-padded/trimmed back to the original length."""
    x = np.asarray(x)
    n = x.size
    out = np.zeros_like(x)
    if delay >= 0:
        if delay < n:
            out[: n - delay] = x[delay:]
    elif -delay < n:
        out[-delay:] = x[: n + delay]
    return out


def align(reference: np.ndarray, estimate: np.ndarray, sr: int = SAMPLE_RATE,
          max_lag_s: float = 0.5) -> tuple[np.ndarray, int]:
    """Time-align `estimate` to `reference` by FFT cross-correlation within ±max_lag_s.

    Returns (aligned estimate, same length as `estimate`; delay in samples that was removed,
    positive when the estimate lagged the reference).
    """
    max_lag = max(0, int(math.ceil(max_lag_s * sr)))
    d = estimate_delay(reference, estimate, max_lag)
    return shift(np.asarray(estimate), d), d


def default_workers() -> int:
    """Cores available to this process (for evaluating files in parallel)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)
