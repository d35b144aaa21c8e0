"""CSIG / CBAK / COVL composite measures (Hu & Loizou, "Evaluation of objective quality measures
for speech enhancement", IEEE TASLP 16(1), 2008), as speech-enhancement papers report them on
VCTK-DEMAND.

No maintained PyPI package provides them (torchmetrics 1.9 has PESQ/STOI/SI-SDR/DNSMOS but no
composite; pysepm is not on PyPI and pysepm-evo had its last release in 2022), so they are
implemented here from the published definitions, following Loizou's reference `composite.m`
("Speech Enhancement: Theory and Practice", 2nd ed.): 30 ms Hann frames every 7.5 ms at 16 kHz,

    LLR  log-likelihood ratio of order-16 LPC models (mean of the best 95 % of frames)
    WSS  Klatt's weighted spectral slope over 25 critical bands (mean of the best 95 %)
    segSNR  frame SNRs clipped to [-10, 35] dB, averaged
    CSIG = 3.093 - 1.029 LLR + 0.603 PESQ - 0.009 WSS
    CBAK = 1.634 + 0.478 PESQ - 0.007 WSS + 0.063 segSNR
    COVL = 1.594 + 0.805 PESQ - 0.512 LLR - 0.007 WSS        (each clipped to [1, 5])

PESQ is the wide-band P.862.2 score, as in the Python evaluation scripts most recent papers use
(the 2008 paper used narrow-band raw PESQ); say so when comparing.

Cross-checked line by line against the copy of composite.m in
github.com/IMLHF/Speech-Enhancement-Measures (frames, window, critical bands, Klatt weights,
LPC order, LLR without clipping, segSNR limits, 95 % trimming, coefficients, [1, 5] limits) and
against pysepm's `composite` (github.com/schmiph2/pysepm): same coefficients, LLR unclipped
when used for the composite. Known differences of other ports, not followed here: pysepm drops
the last segSNR frame and rescales the WSS spectrum; CMGAN's `src/tools/compute_metrics.py`
divides by 32768 inside WSS (meant for int16 input), which lowers float inputs by 90 dB against
the 1e-10 energy floor.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import solve_toeplitz

RATE = 16_000
ALPHA = 0.95  # fraction of best frames kept for LLR and WSS
CENT_FREQ = np.array([50.0, 120, 190, 260, 330, 400, 470, 540, 617.372, 703.378, 798.717, 904.128, 1020.38,
                      1148.30, 1288.72, 1442.54, 1610.70, 1794.16, 1993.93, 2211.08, 2446.71, 2701.97, 2978.04,
                      3276.17, 3597.63])
BANDWIDTH = np.array([70.0, 70, 70, 70, 70, 70, 70, 77.3724, 86.0056, 95.3398, 105.411, 116.256, 127.914,
                      140.423, 153.823, 168.154, 183.457, 199.776, 217.153, 235.631, 255.255, 276.072, 298.126,
                      321.465, 346.136])


def _frames(x: np.ndarray, fs: int) -> np.ndarray:
    """30 ms frames every 7.5 ms, Hann-windowed as composite.m does (1..N over N+1)."""
    win = round(30 * fs / 1000)
    hop = win // 4
    n = int(x.size / hop - win / hop)
    if n < 1:
        return np.zeros((0, win))
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    window = 0.5 * (1 - np.cos(2 * np.pi * np.arange(1, win + 1) / (win + 1)))
    return x[idx] * window


def _crit_filters(fs: int, n_fft: int) -> np.ndarray:
    half, nyq = n_fft // 2, fs / 2.0
    j = np.arange(half)
    out = np.empty((CENT_FREQ.size, half))
    min_factor = math.exp(-30.0 / (2.0 * 2.303))
    for i, (f, bw) in enumerate(zip(CENT_FREQ, BANDWIDTH)):
        f_bin, bw_bins = math.floor(f / nyq * half), bw / nyq * half
        norm = math.log(BANDWIDTH[0]) - math.log(bw)
        out[i] = np.exp(-11 * ((j - f_bin) / bw_bins) ** 2 + norm)
        out[i] *= out[i] > min_factor
    return out


def _nearest_peaks(energy: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Klatt's nearest local peak for each band, indexed exactly as composite.m does (rising:
    the band before the first non-rising slope; falling: after the last rising one)."""
    peaks = np.empty(slope.size)
    for i in range(slope.size):
        n = i
        if slope[i] > 0:
            while n < slope.size and slope[n] > 0:
                n += 1
            peaks[i] = energy[n - 1]
        else:
            while n >= 0 and slope[n] <= 0:
                n -= 1
            peaks[i] = energy[n + 1]
    return peaks


def wss(clean: np.ndarray, est: np.ndarray, fs: int = RATE) -> np.ndarray:
    """Weighted spectral slope distance per frame (Klatt 1982; Kmax 20, Klocmax 1)."""
    fc, fe = _frames(clean, fs), _frames(est, fs)
    win = round(30 * fs / 1000)
    n_fft = 1 << math.ceil(math.log2(2 * win))
    filt = _crit_filters(fs, n_fft)
    out = np.empty(fc.shape[0])
    for k in range(fc.shape[0]):
        bands = []
        for frame in (fc[k], fe[k]):
            spec = np.abs(np.fft.fft(frame, n_fft)[: n_fft // 2]) ** 2
            bands.append(10 * np.log10(np.maximum(filt @ spec, 1e-10)))
        weights, slopes = [], []
        for e in bands:
            slope = e[1:] - e[:-1]
            peaks = _nearest_peaks(e, slope)
            w_max = 20.0 / (20.0 + e.max() - e[:-1])
            w_loc = 1.0 / (1.0 + peaks - e[:-1])
            weights.append(w_max * w_loc)
            slopes.append(slope)
        w = (weights[0] + weights[1]) / 2
        out[k] = np.sum(w * (slopes[0] - slopes[1]) ** 2) / np.sum(w)
    return out


def _lpc(frame: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """(autocorrelation r[0..order], LPC polynomial [1, -a1, ..., -ap])."""
    r = np.array([np.dot(frame[: frame.size - k], frame[k:]) for k in range(order + 1)])
    if r[0] <= 0:
        return r, np.r_[1.0, np.zeros(order)]
    try:
        a = solve_toeplitz(r[:-1], r[1:])
    except np.linalg.LinAlgError:
        a = np.zeros(order)
    return r, np.r_[1.0, -a]


def llr(clean: np.ndarray, est: np.ndarray, fs: int = RATE) -> np.ndarray:
    """Log-likelihood ratio per frame (LPC order 16 at 16 kHz, 10 below 10 kHz)."""
    order = 10 if fs < 10_000 else 16
    out = []
    for c, e in zip(_frames(clean, fs), _frames(est, fs)):
        rc, ac = _lpc(c, order)
        _, ae = _lpc(e, order)
        toe = rc[np.abs(np.arange(order + 1)[:, None] - np.arange(order + 1)[None, :])]
        num, den = ae @ toe @ ae, ac @ toe @ ac
        if num > 0 and den > 0:
            out.append(math.log(num / den))
    return np.asarray(out)


def seg_snr(clean: np.ndarray, est: np.ndarray, fs: int = RATE) -> float:
    fc, fe = _frames(clean, fs), _frames(est, fs)
    eps = np.finfo(np.float64).eps
    sig, noise = np.sum(fc ** 2, 1), np.sum((fc - fe) ** 2, 1)
    snr = 10 * np.log10(sig / (noise + eps) + eps)
    return float(np.mean(np.clip(snr, -10, 35))) if snr.size else math.nan


def _best_mean(values: np.ndarray) -> float:
    v = np.sort(values[np.isfinite(values)])
    return float(np.mean(v[: round(v.size * ALPHA)])) if v.size else math.nan


def composite(clean: np.ndarray, est: np.ndarray, pesq_wb: float, fs: int = RATE) -> dict[str, float]:
    """{csig, cbak, covl} of 16 kHz signals given their PESQ-WB; NaN when PESQ failed."""
    c = np.asarray(clean, np.float64)
    e = np.asarray(est, np.float64)
    n = min(c.size, e.size)
    # composite.m adds eps to both signals after truncation: keeps LPC defined on digital silence
    eps = np.finfo(np.float64).eps
    c, e = c[:n] + eps, e[:n] + eps
    if not math.isfinite(pesq_wb) or n < fs // 10:
        return {"csig": math.nan, "cbak": math.nan, "covl": math.nan}
    w, ll, seg = _best_mean(wss(c, e, fs)), _best_mean(llr(c, e, fs)), seg_snr(c, e, fs)
    clip = lambda v: float(min(5.0, max(1.0, v)))  # noqa: E731
    return {"csig": clip(3.093 - 1.029 * ll + 0.603 * pesq_wb - 0.009 * w),
            "cbak": clip(1.634 + 0.478 * pesq_wb - 0.007 * w + 0.063 * seg),
            "covl": clip(1.594 + 0.805 * pesq_wb - 0.512 * ll - 0.007 * w)}
