"""On-the-fly conferencing-noise simulator (docs/signal_path.md "Training data").

`Simulator(corpus, cfg, split).item(seed, epoch, index)` is a pure function of its three
integers: they seed (through numpy's SeedSequence hash) two independent generators, one
for the metadata decisions (`draw_decisions`: category, source rate, SNR, level, second
talker, reverb, babble size) and one for everything audio (files, offsets, noise
synthesis). The decisions can therefore be drawn without synthesising audio and are
exactly the ones `item()` uses. Unreadable files are redrawn from the audio generator,
so even redraws are deterministic.

Steps: speech-active clean segment (short files are chained with pauses; windows whose
20 ms frames are mostly silent are rejected) -> band-limit to min(drawn rate, file source
rate) and back to 48 kHz -> optional soft second talker added to the target -> optional
mild reverb -> noise of the drawn category -> noise scaled to the drawn SNR exactly ->
random output level -> one common rescale of noisy/clean/noise if any peak exceeds 0.99.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ans.data.corpus import Corpus, Manifest
from ans.data.noises import babble, coloured_noise, howl, reverberate, ring_tones, rms
from ans.data.rooms import lowpass, random_eq, room_rirs
from ans.data.simconfig import FILE_CATEGORIES, SimConfig, bandlimit_to
from ans.errors import AnsError

log = logging.getLogger(__name__)
_TAG_DECIDE, _TAG_AUDIO = 0xDEC1DE, 0xA0D10
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class Decisions:
    category: str
    rate: int  # drawn source rate of the rate mix (the clean band is min(rate, file's rate))
    snr_band: int
    snr_db: float
    level_dbfs: float
    second_talker: bool
    second_talker_db: float  # how far below the main talker (nan when absent)
    reverb: bool
    n_talkers: int  # babble talkers (0 for other categories)
    speed: float = 1.0  # speed perturbation of the target talker (tempo and pitch x speed)


def item_rngs(seed: int, epoch: int, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(decision rng, audio rng), a pure function of (seed, epoch, index)."""
    key = [int(seed) & _MASK64, int(epoch) & _MASK64, int(index) & _MASK64]
    return (np.random.Generator(np.random.PCG64(np.random.SeedSequence(key + [_TAG_DECIDE]))),
            np.random.Generator(np.random.PCG64(np.random.SeedSequence(key + [_TAG_AUDIO]))))


def draw_decisions(rng: np.random.Generator, cfg: SimConfig) -> Decisions:
    """The metadata decisions of one item (no audio touched)."""
    cats, cat_p = cfg.category_table()
    rates, rate_p = cfg.rate_table()
    bands, band_p = cfg.snr_table()
    category = str(cats[rng.choice(len(cats), p=cat_p)])
    rate = int(rates[rng.choice(len(rates), p=rate_p)])
    band = int(rng.choice(len(bands), p=band_p))
    snr = float(rng.uniform(*bands[band]))
    level = float(rng.uniform(*cfg.level_dbfs))
    second = bool(rng.random() < cfg.second_talker_prob)
    second_db = float(rng.uniform(*cfg.second_talker_db)) if second else math.nan
    reverb = bool(rng.random() < cfg.reverb_prob)
    n_talkers = int(rng.integers(cfg.babble_talkers[0], cfg.babble_talkers[1] + 1)) \
        if category == "babble" else 0
    speed = 1.0
    if cfg.speed_perturb_prob > 0 and rng.random() < cfg.speed_perturb_prob:  # drawn only when on:
        speed = float(rng.uniform(*cfg.speed_perturb))  # configs without it keep their items
    return Decisions(category, rate, band, snr, level, second, second_db, reverb, n_talkers, speed)


class Simulator:
    """Items of one split of a corpus; see the module docstring."""

    def __init__(self, corpus: Corpus, cfg: SimConfig | dict | None = None, split: str = "train"):
        self.corpus = corpus
        self.cfg = cfg if isinstance(cfg, SimConfig) else SimConfig.from_dict(cfg or {})
        self.split = split
        self.rate = self.cfg.sample_rate  # the output rate: the model's (its SignalSpec's)
        self.n = int(round(self.cfg.segment_seconds * self.rate))
        sp = corpus.speech
        self.speech_pool = sp.select(split=split, min_duration=0.0)
        if self.speech_pool.size == 0:
            raise AnsError(f"no speech files for split '{split}'", sp.path)
        # Babble and second talkers come from other speakers of the split; a split with too few
        # speakers for babble (the demo corpus's valid/test splits) borrows the other splits'.
        n_spk = np.unique(sp.speaker[self.speech_pool]).size
        self.other_pool = self.speech_pool
        if n_spk <= self.cfg.babble_talkers[0]:
            self.other_pool = sp.select(kind="speech", min_duration=0.0)
            log.warning("%s: split '%s' has %d speaker(s); babble and second talkers are drawn "
                        "from all splits", corpus.root, split, n_spk)
        dur = sp.duration[self.speech_pool].astype(np.float64)
        self._speech_cdf = np.cumsum(dur) / dur.sum()  # duration-weighted file draws
        # real full-band talkers (measured bandwidth), drawn for the 48/44.1 kHz shares
        full = sp.bandwidth_hz[self.speech_pool] >= self.cfg.fullband_min_hz
        self.fullband_pool = self.speech_pool[full]
        fdur = dur[full]
        self._fullband_cdf = np.cumsum(fdur) / fdur.sum() if fdur.size else fdur
        if self.cfg.band_match and self.fullband_pool.size == 0 and any(
                r > 2 * self.cfg.fullband_min_hz for r in self.cfg.rate_mix):
            log.warning("%s: split '%s' has no full-band speech (bandwidth >= %.0f Hz); the high "
                        "rates of the rate mix up-sample band-limited talkers", corpus.root, split,
                        self.cfg.fullband_min_hz)
        self.rir_pool = (corpus.rir.select(split=split) if corpus.rir is not None
                         else np.zeros(0, dtype=np.int64))
        self.noise_pools: dict[str, np.ndarray] = {}
        for cat in FILE_CATEGORIES:
            pool = (corpus.noise.select(split=split, category=cat) if corpus.noise is not None
                    else np.zeros(0, dtype=np.int64))
            self.noise_pools[cat] = pool
            if pool.size == 0 and self.cfg.category_mix.get(cat, 0) > 0:
                log.warning("%s: no '%s' noise files for split '%s'; using synthetic %s",
                            corpus.root, cat, split, "coloured noise" if cat == "ordinary" else "tones")

    # -- public ------------------------------------------------------------------------------
    def decisions(self, seed: int, epoch: int, index: int) -> Decisions:
        return draw_decisions(item_rngs(seed, epoch, index)[0], self.cfg)

    def item(self, seed: int, epoch: int, index: int) -> dict[str, Any]:
        d_rng, rng = item_rngs(seed, epoch, index)
        dec = draw_decisions(d_rng, self.cfg)
        skipped0 = self.corpus.skipped
        clean, speech_i, band = self._target(rng, dec.rate, dec.speed)
        target_spk = int(self.corpus.speech.speaker[speech_i])
        bandwidth = min(band / 2, float(self.corpus.speech.bandwidth_hz[speech_i]) * dec.speed)
        if dec.second_talker:
            other, _, _ = self._segment_from(rng, self._other_speaker(rng, target_spk), dec.rate)
            clean = clean + other * (rms(clean) / (rms(other) + 1e-12)) * 10 ** (-dec.second_talker_db / 20)
        noise_rir = None
        if dec.reverb:
            rir, noise_rir = self._rirs(rng)
            clean = reverberate(clean, rir)
        noise, noise_id = self._noise(rng, dec, clean, target_spk)
        if noise_rir is not None and dec.category != "howling":  # howling already went through a room
            noise = reverberate(noise, noise_rir)
        cfg = self.cfg
        if cfg.eq_prob > 0 and rng.random() < cfg.eq_prob:  # talker's microphone / voice colour
            clean = random_eq(clean, rng, self.rate, cfg.eq_tilt_db, cfg.eq_max_db)
        if cfg.eq_prob > 0 and rng.random() < cfg.eq_prob:  # the noise source's own colour
            noise = random_eq(noise, rng, self.rate, cfg.eq_tilt_db, cfg.eq_max_db)
        if cfg.mic_lowpass_prob > 0 and rng.random() < cfg.mic_lowpass_prob:
            cutoff = float(rng.uniform(*cfg.mic_lowpass_hz))  # the whole mixture: a cheap microphone
            clean, noise = lowpass(clean, self.rate, cutoff), lowpass(noise, self.rate, cutoff)
            bandwidth = min(bandwidth, cutoff)
        # exact SNR, then level, then one common anti-clip rescale (keeps the SNR)
        noise = noise * math.sqrt(np.sum(clean ** 2) / (np.sum(noise ** 2) * 10 ** (dec.snr_db / 10) + 1e-30))
        mix = clean + noise
        gain = 10 ** (dec.level_dbfs / 20) / (rms(mix) + 1e-12)
        peak = gain * max(np.abs(mix).max(), np.abs(clean).max(), np.abs(noise).max())
        if peak > self.cfg.max_peak:
            gain *= self.cfg.max_peak / peak
        clean_t = torch.from_numpy((clean * gain).astype(np.float32))
        noise_t = torch.from_numpy((noise * gain).astype(np.float32))
        meta = {"snr_db": dec.snr_db, "category": dec.category, "source_rate": band,
                "bandwidth_hz": float(bandwidth),
                "speech_id": self.corpus.speech.row(speech_i)["path"], "noise_id": noise_id,
                "seed": int(seed), "epoch": int(epoch), "index": int(index),
                "rate_drawn": dec.rate, "level_dbfs": 20 * math.log10(gain * rms(mix) + 1e-12),
                "second_talker_db": dec.second_talker_db, "reverb": int(dec.reverb),
                "n_talkers": dec.n_talkers, "speed": dec.speed, "skipped": self.corpus.skipped - skipped0}
        return {"noisy": clean_t + noise_t, "clean": clean_t, "noise": noise_t, "meta": meta}

    # -- speech ------------------------------------------------------------------------------
    def _draw_speech(self, rng: np.random.Generator, rate: int) -> int:
        pool, cdf = self.speech_pool, self._speech_cdf
        if self.cfg.band_match and rate > 2 * self.cfg.fullband_min_hz and self.fullband_pool.size:
            pool, cdf = self.fullband_pool, self._fullband_cdf
        return int(pool[np.searchsorted(cdf, rng.random(), side="right").clip(0, pool.size - 1)])

    def _rirs(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(talker RIR, noise RIR): a measured one from rir.jsonl (with probability
        real_rir_prob, when the split has any) for both, else a simulated room."""
        if self.rir_pool.size and rng.random() < self.cfg.real_rir_prob:
            for _ in range(self.cfg.max_redraws):
                i = int(self.rir_pool[rng.integers(self.rir_pool.size)])
                got = self.corpus.read(self.corpus.rir, i)
                if got is not None:
                    h = bandlimit_to(got[0], got[1], got[1], self.cfg)
                    start = int(np.argmax(np.abs(h) > 0.1 * np.abs(h).max()))
                    h = h[max(0, start - 8):]
                    return h, h
        return room_rirs(rng, self.rate, float(rng.uniform(*self.cfg.reverb_rt60)))

    def _other_speaker(self, rng: np.random.Generator, exclude: int, avoid: set[int] | None = None) -> int:
        """A speech file by another speaker (new ones preferred; falls back)."""
        spk = self.corpus.speech.speaker
        pool = self.other_pool
        best = None
        for _ in range(64):
            i = int(pool[rng.integers(pool.size)])
            if spk[i] != exclude:
                if avoid is None or int(spk[i]) not in avoid:
                    return i
                best = i if best is None else best
        return best if best is not None else int(pool[rng.integers(pool.size)])

    def _active_fraction(self, x: np.ndarray) -> float:
        frame = self.rate // 50
        m = x.size // frame
        if m == 0:
            return 0.0
        e = np.mean(x[: m * frame].reshape(m, frame) ** 2, axis=1)
        thr = max(e.max() * 10 ** (self.cfg.active_rel_db / 10), 10 ** (self.cfg.active_abs_dbfs / 10))
        return float(np.mean(e > thr))

    def _target(self, rng: np.random.Generator, rate: int, speed: float = 1.0) -> tuple[np.ndarray, int, int]:
        best = None
        for _ in range(self.cfg.speech_tries):
            x, i, band = self._segment_from(rng, self._draw_speech(rng, rate), rate, speed)
            frac = self._active_fraction(x)
            if frac >= self.cfg.min_active_fraction:
                return x, i, band
            if best is None or frac > best[0]:
                best = (frac, x, i, band)
        if best[0] <= 0:
            raise AnsError(f"no speech-active segment found in split '{self.split}'", self.corpus.root)
        return best[1], best[2], best[3]

    def _segment_from(self, rng: np.random.Generator, i: int, rate: int,
                      speed: float = 1.0) -> tuple[np.ndarray, int, int]:
        """n samples at 48 kHz starting with file i; short files are chained with pauses by
        more files of the same speaker. Unreadable files are redrawn. Returns (x, first file,
        band = highest effective source rate used). `speed`: every file played that much faster."""
        sp = self.corpus.speech
        spk = sp.speaker
        pieces, filled, band, first = [], 0, 0, None
        for _ in range(self.cfg.max_redraws):
            got = self._read(sp, i, self.n - filled, rate, rng, loop=False, speed=speed)
            if got is not None:
                x, b = got
                if first is None:
                    first = i
                pieces.append(x)
                filled += x.size
                band = max(band, b)
                if filled >= self.n:
                    break
                gap = min(self.n - filled, int(rng.uniform(*self.cfg.chain_gap) * self.rate))
                pieces.append(np.zeros(gap))
                filled += gap
                if filled >= self.n:
                    break
            # chain more of the same speaker (other_pool holds every file the split may draw from)
            # (same speaker and same effective rate: a chain never mixes full-band and narrowband)
            src = sp.source_rate
            same = (self.other_pool[(spk[self.other_pool] == spk[i]) & (src[self.other_pool] == src[first])]
                    if first is not None else self.speech_pool)
            i = int(same[rng.integers(same.size)])
        if first is None:
            raise AnsError(f"{self.cfg.max_redraws} unreadable speech files in a row", sp.path)
        x = np.concatenate(pieces)[: self.n]
        return np.pad(x, (0, self.n - x.size)), first, band

    def _read(self, man: Manifest, i: int, n48: int, rate: int, rng: np.random.Generator,
              loop: bool, speed: float = 1.0) -> tuple[np.ndarray, int] | None:
        """Up to n48 samples (exactly n48 when loop) of file i from a random offset at 48 kHz,
        band-limited to min(rate, source rate). None when the file is unusable. `speed` != 1:
        the file played at speed x its rate (Kaldi-style speed perturbation: tempo and pitch
        scale together, so do the source's band edges; the channel's `rate` does not)."""
        sr = int(man.sample_rate[i])
        band = min(int(rate), round(int(man.source_rate[i]) * speed), round(sr * speed))
        need = math.ceil(n48 * sr / (self.rate * speed)) + 16
        total = int(man.duration[i] * sr)
        start = int(rng.integers(0, total - need + 1)) if total > need else 0
        got = self.corpus.read(man, i, start, need if total > need else -1)
        if got is None:
            return None
        x, sr_file = got
        if sr_file != sr:  # manifest rate wrong: trust the file
            sr, band = sr_file, min(band, round(sr_file * speed))
        if loop and x.size < need:
            x = np.resize(np.roll(x, int(rng.integers(x.size))), need)
        y = bandlimit_to(x, round(sr * speed), band, self.cfg)[:n48]
        if loop and y.size < n48:  # resampler rounding: wrap to the exact length
            y = np.resize(y, n48)
        return y, band

    # -- noise -------------------------------------------------------------------------------
    def _noise_file(self, rng: np.random.Generator, cat: str) -> tuple[np.ndarray, str] | None:
        pool = self.noise_pools[cat]
        if pool.size == 0:
            return None
        man = self.corpus.noise
        for _ in range(self.cfg.max_redraws):
            i = int(pool[rng.integers(pool.size)])
            got = self._read(man, i, self.n, self.rate, rng, loop=True)
            if got is not None and rms(got[0]) > 1e-6:
                return got[0], man.row(i)["path"]
        return None

    def _ordinary(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        got = None if rng.random() < self.cfg.synthetic_noise_prob else self._noise_file(rng, "ordinary")
        if got is not None:
            return got
        colour = str(rng.choice(["white", "pink", "brown"]))
        return coloured_noise(rng, self.n, colour), f"synthetic:{colour}"

    def _noise(self, rng: np.random.Generator, dec: Decisions, clean: np.ndarray, target_spk: int
               ) -> tuple[np.ndarray, str]:
        if dec.category == "ordinary":
            return self._ordinary(rng)
        if dec.category == "ring":
            got = self._noise_file(rng, "ring")
            return got if got is not None else (ring_tones(rng, self.n, self.rate), "synthetic:ring")
        if dec.category == "babble":
            talkers, used, ids = [], {target_spk}, []
            for _ in range(dec.n_talkers):
                j = self._other_speaker(rng, target_spk, avoid=used)
                x, j, _ = self._segment_from(rng, j, self.rate)
                used.add(int(self.corpus.speech.speaker[j]))
                talkers.append(x)
                ids.append(self.corpus.speech.speakers[self.corpus.speech.speaker[j]]
                            if self.corpus.speech.speaker[j] >= 0 else "?")
            return babble(talkers, rng, self.cfg.babble_spread_db), "babble:" + "+".join(ids)
        if dec.category == "howling":
            cfg = self.cfg
            x = clean.copy()
            if rng.random() < cfg.howling_noise_prob:
                n0, _ = self._ordinary(rng)
                x += n0 * rms(clean) / (rms(n0) + 1e-12) * 10 ** (-rng.uniform(*cfg.howling_noise_db) / 20)
            y, p = howl(x, rng, self.rate, delay=cfg.howling_delay, margin=cfg.howling_margin,
                        clip_db=cfg.howling_clip_db)
            return y - clean, f"howling:delay={p['delay_s']:.4f},margin={p['loop_margin']:.3f}"
        raise AnsError(f"unknown noise category '{dec.category}'")
