"""Every ratio and range of the simulator (SPEC.md defaults), plus the band-limiting resampler."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torchaudio.functional as AF

from ans.audio import resample
from ans.errors import AnsError

SAMPLE_RATE = 48_000


@dataclass
class SimConfig:
    segment_seconds: float = 4.0
    # mixes: value -> probability (normalised; must sum to ~1)
    rate_mix: dict = field(default_factory=lambda: {48000: 0.3, 44100: 0.3, 16000: 0.2, 8000: 0.2})
    category_mix: dict = field(default_factory=lambda: {"ordinary": 0.5, "babble": 0.2,
                                                        "howling": 0.2, "ring": 0.1})
    snr_bands: list = field(default_factory=lambda: [[0.0, 10.0, 0.7], [10.0, 25.0, 0.2],
                                                     [25.0, 40.0, 0.1]])  # [lo dB, hi dB, prob]
    level_dbfs: tuple = (-35.0, -15.0)  # output RMS level of the mixture
    max_peak: float = 0.99  # never clip: common rescale above this peak
    second_talker_prob: float = 0.1  # soft second talker added to the TARGET
    second_talker_db: tuple = (10.0, 30.0)  # ... this far below the main talker
    reverb_prob: float = 0.0  # mild synthetic reverb on the target
    reverb_rt60: tuple = (0.1, 0.4)
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
    chain_gap: tuple = (0.1, 0.4)  # pause between chained short files, s
    max_redraws: int = 32  # unreadable files tolerated in a row per draw
    resample_width: int = 16  # torchaudio kaiser-sinc resampler (stop band ~ -55 dB)
    resample_rolloff: float = 0.9
    resample_beta: float = 8.6

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
        bad = set(self.category_mix) - {"ordinary", "babble", "howling", "ring"}
        if bad:
            raise AnsError(f"simulation.category_mix: unknown categories {sorted(bad)}")
        if any(r < 8000 or r > SAMPLE_RATE for r in self.rate_mix):
            raise AnsError("simulation.rate_mix: rates must lie in 8000..48000")
        if self.babble_talkers[0] < 1 or self.babble_talkers[1] < self.babble_talkers[0]:
            raise AnsError("simulation.babble_talkers must be [min, max] with 1 <= min <= max")
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


def _resample(x: torch.Tensor, a: int, b: int, cfg: SimConfig) -> torch.Tensor:
    g = math.gcd(int(a), int(b))
    if (b // g) * (a // g) > 1 << 18:  # an odd rate (e.g. 22051 Hz): avoid a multi-GB kernel
        return resample(x, a, b)
    return AF.resample(x, a, b, lowpass_filter_width=cfg.resample_width, rolloff=cfg.resample_rolloff,
                       resampling_method="sinc_interp_kaiser", beta=cfg.resample_beta)


def bandlimit_to_48k(x: np.ndarray, sr: int, band: int, cfg: SimConfig) -> np.ndarray:
    """x (at sr) limited to the band of a `band`-Hz recording and returned at 48 kHz (float64)."""
    if sr == SAMPLE_RATE and band >= SAMPLE_RATE:
        return x.astype(np.float64)
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if band < sr:
        t = _resample(t, sr, band, cfg)
        sr = band
    if sr != SAMPLE_RATE:
        t = _resample(t, sr, SAMPLE_RATE, cfg)
    return t.numpy().astype(np.float64)
