"""Every ratio and range of the simulator (defaults: docs/signal_path.md "Training data"),
the noise categories and SNR bands that training and evaluation share, and the band-limiting
resampler."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ans.errors import AnsError
from ans.runtime.resample import resample
from ans.signal_spec import REFERENCE
# The noise categories, in the order the test sets cycle through them (ans.eval.test_set).
# babble and howling are made from speech; only these are drawn from noise files:
CATEGORIES = ("ordinary", "babble", "howling", "ring")
FILE_CATEGORIES = ("ordinary", "ring")
# Source rates of the training mix and the demo test set (a file's band is min(drawn, its own)).
SOURCE_RATES = (48_000, 44_100, 16_000, 8_000)
# Input-SNR bands (dB) of the training mix and of the demo test set / report groups.
SNR_BANDS = ((0.0, 10.0), (10.0, 25.0), (25.0, 40.0))


def snr_band_label(lo: float, hi: float) -> str:
    return f"{lo:g}-{hi:g} dB"


def snr_band_of(snr_db: float | None, bands=SNR_BANDS) -> str:
    """Band label of an input SNR; values outside the bands get open-ended labels."""
    if snr_db is None or not math.isfinite(snr_db):
        return "unknown"
    if snr_db < bands[0][0]:
        return f"<{bands[0][0]:g} dB"
    for lo, hi in bands:
        if snr_db < hi:
            return snr_band_label(lo, hi)
    return snr_band_label(*bands[-1]) if snr_db <= bands[-1][1] + 1e-6 else f">{bands[-1][1]:g} dB"


@dataclass
class SimConfig:
    sample_rate: int = REFERENCE.sample_rate  # output rate = the model's (data.sample_rate: ${features.spec...})
    segment_seconds: float = 4.0
    # mixes: value -> probability (normalised; must sum to ~1)
    rate_mix: dict = field(default_factory=lambda: dict(zip(SOURCE_RATES, (0.3, 0.3, 0.2, 0.2))))
    category_mix: dict = field(default_factory=lambda: dict(zip(CATEGORIES, (0.5, 0.2, 0.2, 0.1))))
    snr_bands: list = field(default_factory=lambda: [[lo, hi, p] for (lo, hi), p in
                                                     zip(SNR_BANDS, (0.7, 0.2, 0.1))])  # [lo dB, hi dB, prob]
    level_dbfs: tuple = (-35.0, -15.0)  # output RMS level of the mixture
    max_peak: float = 0.99  # never clip: common rescale above this peak
    second_talker_prob: float = 0.1  # soft second talker added to the TARGET
    second_talker_db: tuple = (10.0, 30.0)  # ... this far below the main talker
    # A drawn rate above 2 x fullband_min_hz is honoured with a talker whose *measured*
    # bandwidth reaches fullband_min_hz (manifest `bandwidth_hz`), so the 48/44.1 kHz shares are
    # real full-band speech, never up-sampled narrowband (false: any file, band = its own).
    band_match: bool = True
    fullband_min_hz: float = 9000.0
    reverb_prob: float = 0.0  # room reverb on the target (and on the noise, another room position)
    reverb_rt60: tuple = (0.1, 0.4)
    real_rir_prob: float = 0.5  # ... of which from the corpus's rir.jsonl when it has one
    eq_prob: float = 0.0  # random spectral tilt/EQ of speech and of noise (microphone colour)
    eq_tilt_db: tuple = (-6.0, 6.0)  # tilt per octave re. 1 kHz ... within +-eq_max_db
    eq_max_db: float = 12.0
    mic_lowpass_prob: float = 0.0  # the whole mixture band-limited by a cheap microphone/codec
    mic_lowpass_hz: tuple = (6000.0, 16000.0)
    babble_talkers: tuple = (3, 8)  # inclusive
    babble_spread_db: float = 3.0  # level spread between babble talkers
    synthetic_noise_prob: float = 0.1  # 'ordinary' replaced by generated white/pink/brown noise
    howling_noise_prob: float = 0.5  # room noise also enters the feedback loop
    howling_noise_db: tuple = (10.0, 30.0)  # ... this far below the talker
    howling_delay: tuple = (0.010, 0.040)  # loop delay, s
    howling_margin: tuple = (1.02, 1.25)  # loop gain relative to the edge of instability
    howling_clip_db: tuple = (10.0, 20.0)  # loudspeaker saturation above the talker RMS
    min_active_fraction: float = 0.5  # speech-active window: share of active 20 ms frames
    active_rel_db: float = -40.0  # frame active: energy within this of the loudest frame
    active_abs_dbfs: float = -75.0  # ... and above this absolute level
    speech_tries: int = 8  # windows tried before taking the most active one
    speed_perturb_prob: float = 0.0  # target talker played faster/slower (more voices from few)
    speed_perturb: tuple = (0.9, 1.1)  # speed factor range (tempo and pitch together)
    chain_gap: tuple = (0.1, 0.4)  # pause between chained short files, s
    max_redraws: int = 32  # unreadable files tolerated in a row per draw
    resample_quality: str = "VHQ"  # python-soxr quality of the band-limiting resampler

    @classmethod
    def from_dict(cls, d: dict | Any) -> SimConfig:
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise AnsError(f"unknown simulation option(s): {', '.join(sorted(unknown))}")
        out = {}
        for k, v in d.items():
            if hasattr(v, "items"):
                v = {kk: float(vv) for kk, vv in v.items()}
            elif isinstance(v, list | tuple) or (hasattr(v, "__iter__") and not isinstance(v, str)):
                v = [list(map(float, e)) if hasattr(e, "__iter__") else e for e in v]
                v = v if k == "snr_bands" else tuple(v)
            out[k] = v
        cfg = cls(**out)
        cfg.rate_mix = {int(k): float(v) for k, v in cfg.rate_mix.items()}
        cfg.category_mix = {str(k): float(v) for k, v in cfg.category_mix.items()}
        cfg.validate()
        return cfg

    def validate(self) -> None:
        for name, probs in (("rate_mix", self.rate_mix.values()),
                            ("category_mix", self.category_mix.values()),
                            ("snr_bands", [b[2] for b in self.snr_bands])):
            p = list(probs)
            if not p or min(p) < 0 or not math.isclose(sum(p), 1.0, abs_tol=1e-3):
                raise AnsError(f"simulation.{name}: probabilities must be >= 0 and sum to 1, got {p}")
        bad = set(self.category_mix) - set(CATEGORIES)
        if bad:
            raise AnsError(f"simulation.category_mix: unknown categories {sorted(bad)}")
        if any(r < min(SOURCE_RATES) or r > max(SOURCE_RATES) for r in self.rate_mix):
            raise AnsError(f"simulation.rate_mix: rates must lie in {min(SOURCE_RATES)}..{max(SOURCE_RATES)}")
        if not isinstance(self.sample_rate, int) or self.sample_rate < min(SOURCE_RATES):
            raise AnsError(f"simulation.sample_rate must be an integer >= {min(SOURCE_RATES)} Hz")
        if self.babble_talkers[0] < 1 or self.babble_talkers[1] < self.babble_talkers[0]:
            raise AnsError("simulation.babble_talkers must be [min, max] with 1 <= min <= max")
        if self.resample_quality not in ("QQ", "LQ", "MQ", "HQ", "VHQ"):
            raise AnsError("simulation.resample_quality must be one of QQ, LQ, MQ, HQ, VHQ")
        lo, hi = self.speed_perturb
        if not 0.5 <= lo <= hi <= 2.0 or not 0 <= self.speed_perturb_prob <= 1:
            raise AnsError("simulation.speed_perturb must be [low, high] within 0.5..2 and "
                           "speed_perturb_prob within 0..1")
        if self.segment_seconds <= 0:
            raise AnsError("simulation.segment_seconds must be > 0")

    def _norm(self, p) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        return p / p.sum()

    def category_table(self) -> tuple[list[str], np.ndarray]:
        return list(self.category_mix), self._norm(list(self.category_mix.values()))

    def rate_table(self) -> tuple[list[int], np.ndarray]:
        return list(self.rate_mix), self._norm(list(self.rate_mix.values()))

    def snr_table(self) -> tuple[list[tuple[float, float]], np.ndarray]:
        return [(float(b[0]), float(b[1])) for b in self.snr_bands], self._norm([b[2] for b in self.snr_bands])


def bandlimit_to(x: np.ndarray, sr: int, band: int, cfg: SimConfig) -> np.ndarray:
    """x (at sr) limited to the band of a `band`-Hz recording and returned at cfg.sample_rate (float64).

    The one resampler (python-soxr, at `cfg.resample_quality`): steep, ~-140 dB stop band at VHQ,
    8x faster than torchaudio's kaiser-sinc, whose kernel was rebuilt on every call and took a
    quarter of the simulator's time.
    """
    out = cfg.sample_rate
    band = min(band, out)
    if sr == out and band >= out:
        return x.astype(np.float64)
    y = np.ascontiguousarray(x, dtype=np.float64)
    if band < sr:
        y = resample(y, sr, band, cfg.resample_quality)
        sr = band
    if sr != out:
        y = resample(y, sr, out, cfg.resample_quality)
    return y
