"""Recipes for public corpora the user has already downloaded (see public.py for the approach).

Real folder layouts handled (`--src` may be the folder shown or its parent):
- dns5: `datasets_fullband/{clean_fullband/<subset>/…, noise_fullband/*.wav,
  impulse_responses/{SLR26,SLR28}/…}` (48 kHz). Speaker = `reader_NNNNN` from read_speech
  file names, `pNNN` for the VCTK subset, `vocalset_<female|male>N` for VocalSet, else the file
  (one group per file). Noise -> `ordinary`. RIRs grouped by room folder.
- vctk_demand: Valentini `{clean,noisy}_testset_wav/pNNN_MMM.wav` (and, when present,
  `{clean,noisy}_trainset_{28,56}spk_wav/`) -> `pairs.jsonl` with `noisy`/`clean` paths and
  `split`: test set -> test, training speakers p226/p287 -> valid, the other ones -> train.
- vctk: VCTK 0.92 `wav48_silence_trimmed/pNNN/pNNN_MMM_mic1.flac` (mic1 only; mic2 is the same
  take) or VCTK 0.80 `wav48/pNNN/*.wav`. Speakers p232 and p257 (the Valentini test
  speakers) are always `test`, so vctk-trained models can be scored on vctk_demand.
- libritts: `LibriTTS/<subset>/<speaker>/<chapter>/*.wav` (24 kHz); the split follows the subset
  (train-* / dev-* / test-*, whose speakers are disjoint by design).
- musan: `musan/{noise,music}/<subset>/*.wav` -> noise.jsonl (`ordinary`);
  `musan/speech/<subset>/*.wav` -> speech.jsonl (kind speech: a babble/talker pool; MUSAN has no
  speaker ids, so each file is its own speaker).
- rirs: SLR28 `RIRS_NOISES/simulated_rirs/<size>room/RoomNNN/*.wav` and
  `real_rirs_isotropic_noises/*.wav` -> rir.jsonl (rooms grouped); the isotropic `*noise*`
  files and `pointsource_noises/*.wav` -> noise.jsonl (`ordinary`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from data_recipes.manifest import assign_splits
from data_recipes.public import CorpusInfo, audio_files, build, find_root, line_for, stream

DNS5 = CorpusInfo("dns5", "the DNS Challenge fullband folder (datasets_fullband)",
                  "https://github.com/microsoft/DNS-Challenge (download-dns-challenge-5 scripts)",
                  "CC-BY-4.0 (DNS Challenge; per-subset licences in the corpus)",
                  ("clean_fullband", "noise_fullband", "impulse_responses"))
VCTK_DEMAND = CorpusInfo("vctk_demand", "the Valentini VoiceBank+DEMAND folder (clean_testset_wav, noisy_testset_wav)",
                         "https://datashare.ed.ac.uk/handle/10283/2791", "CC-BY-4.0 (Valentini-Botinhao 2017)",
                         ("clean_testset_wav", "noisy_testset_wav"))
VCTK = CorpusInfo("vctk", "the VCTK corpus folder (wav48_silence_trimmed or wav48)",
                  "https://datashare.ed.ac.uk/handle/10283/3443", "CC-BY-4.0 (CSTR VCTK)",
                  ("wav48_silence_trimmed", "wav48"))
LIBRITTS = CorpusInfo("libritts", "the LibriTTS folder (train-clean-100, dev-clean, test-clean, ...)",
                      "https://www.openslr.org/60/", "CC-BY-4.0 (LibriTTS)",
                      ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other",
                       "test-clean", "test-other"))
MUSAN = CorpusInfo("musan", "the MUSAN folder (noise, music, speech)", "https://www.openslr.org/17/",
                   "CC (per-file; see musan/*/*/LICENSE)", ("noise", "music", "speech"))
RIRS = CorpusInfo("rirs", "the SLR28 RIRS_NOISES folder (simulated_rirs, real_rirs_isotropic_noises)",
                  "https://www.openslr.org/28/", "Apache-2.0 (SLR28 RIRS_NOISES)",
                  ("simulated_rirs", "real_rirs_isotropic_noises", "pointsource_noises"))

VALENTINI_TEST_SPEAKERS = ("p232", "p257")
# Two of the 28 training speakers held out for validation (a common choice in the literature),
# so `data=pairs` validates on unseen talkers and the 824-file test split stays untouched.
VALENTINI_VALID_SPEAKERS = ("p226", "p287")


def _rel(p: Path, base: Path) -> str:
    return p.relative_to(base).as_posix()


def _grouped(out: Path, files: list[Path], group, salt: str, desc: str, info: CorpusInfo, **kw) -> Iterator[dict]:
    """Stream lines for `files`, each split by its group key (hash split over all groups)."""
    split = assign_splits((group(p) for p in files), salt=salt)
    yield from stream(out, files, desc, lambda p: line_for(out, p, info, split=split[group(p)], **kw))


# ---------------------------------------------------------------------------------------- dns5
def _dns_speaker(p: Path, clean: Path) -> str:
    rel = _rel(p, clean)
    subset = rel.split("/", 1)[0]
    if m := re.search(r"reader_(\d+)", p.name):
        return f"reader_{m.group(1)}"
    if m := re.search(r"vocalset_((?:fe)?male\d+)", p.name):
        return f"vocalset_{m.group(1)}"
    if "vctk" in subset.lower() and re.fullmatch(r"p\d+", p.parent.name):
        return f"vctk_{p.parent.name}"
    return f"{subset}/{p.stem}"


def dns5(src, out: Path, force: bool = False) -> dict:
    root = find_root(DNS5, src, parents=("datasets_fullband",))

    def speech(link: Path):
        clean = link / "clean_fullband"
        yield from _speech_lines(link.parent, audio_files(clean), lambda p: _dns_speaker(p, clean), "dns5", DNS5)

    def noise(link: Path):
        files = audio_files(link / "noise_fullband")
        yield from _grouped(link.parent, files, lambda p: p.name, "dns5-noise", "dns5 noise", DNS5,
                            kind="noise", category="ordinary")

    def rir(link: Path):
        files = audio_files(link / "impulse_responses")
        yield from _grouped(link.parent, files, lambda p: _rel(p.parent, link), "dns5-rir", "dns5 rir", DNS5,
                            kind="rir")

    return build(DNS5, root, out, {"speech": speech, "noise": noise, "rir": rir}, force)


def _speech_lines(out: Path, files: list[Path], speaker_of, salt: str, info: CorpusInfo,
                  fixed: dict[str, str] | None = None, split_of=None) -> Iterator[dict]:
    speakers = {p: speaker_of(p) for p in files}
    split = assign_splits(speakers.values(), salt=salt) if split_of is None else {}
    split |= fixed or {}

    def make(p: Path) -> dict:
        spk = speakers[p]
        return line_for(out, p, info, kind="speech", speaker=spk,
                        split=split_of(p) if split_of else split[spk])
    yield from stream(out, files, f"{info.name} speech", make)


# ------------------------------------------------------------------------------------- vctk(s)
def vctk(src, out: Path, force: bool = False) -> dict:
    root = find_root(VCTK, src, parents=("VCTK-Corpus-0.92", "VCTK-Corpus"))

    def speech(link: Path):
        if (link / "wav48_silence_trimmed").is_dir():
            files = [p for p in audio_files(link / "wav48_silence_trimmed") if p.stem.endswith("_mic1")]
        else:
            files = audio_files(link / "wav48")
        fixed = dict.fromkeys((f"vctk_{s}" for s in VALENTINI_TEST_SPEAKERS), "test")
        yield from _speech_lines(link.parent, files, lambda p: f"vctk_{p.parent.name}", "vctk", VCTK, fixed)

    return build(VCTK, root, out, {"speech": speech}, force)


def vctk_demand(src, out: Path, force: bool = False) -> dict:
    root = find_root(VCTK_DEMAND, src, parents=("DS_10283_2791",))

    def pairs(link: Path):
        sets = [("testset", "test")] + [(f"trainset_{n}spk", "train") for n in (28, 56)]
        for name, split in sets:
            clean_dir, noisy_dir = link / f"clean_{name}_wav", link / f"noisy_{name}_wav"
            if not (clean_dir.is_dir() and noisy_dir.is_dir()):
                continue

            def make(noisy: Path, clean_dir=clean_dir, split=split) -> dict | None:
                clean = clean_dir / noisy.name
                if not clean.is_file():
                    print(f"warning: {noisy.name}: no clean counterpart in {clean_dir.name}; skipped")
                    return None
                spk = noisy.name.split("_")[0]
                if split == "train" and spk in VALENTINI_VALID_SPEAKERS:
                    split = "valid"
                line = line_for(link.parent, clean, VCTK_DEMAND, kind="speech", split=split,
                                speaker=f"vctk_{spk}")
                return line | {"clean": line["path"], "noisy": _rel(noisy, link.parent)}
            yield from stream(link.parent, audio_files(noisy_dir), f"vctk_demand {name}", make)

    return build(VCTK_DEMAND, root, out, {"pairs": pairs}, force)


def libritts(src, out: Path, force: bool = False) -> dict:
    root = find_root(LIBRITTS, src, parents=("LibriTTS", "LibriTTS_R"))
    subset_split = {"train": "train", "dev": "valid", "test": "test"}

    def speech(link: Path):
        files = []
        for sub in sorted(d for d in link.iterdir() if re.fullmatch(r"(train|dev|test)-(clean|other)(-\d+)?", d.name)):
            files += audio_files(sub, (".wav",))
        yield from _speech_lines(link.parent, files, lambda p: f"libritts_{_rel(p, link).split('/')[1]}",
                                 "libritts", LIBRITTS,
                                 split_of=lambda p: subset_split[_rel(p, link).split("-", 1)[0]])

    return build(LIBRITTS, root, out, {"speech": speech}, force)


# ---------------------------------------------------------------------------------- noise, rir
def musan(src, out: Path, force: bool = False) -> dict:
    root = find_root(MUSAN, src, parents=("musan",))

    def noise(link: Path):
        files = audio_files(link / "noise") + audio_files(link / "music")
        yield from _grouped(link.parent, files, lambda p: _rel(p, link), "musan-noise", "musan noise+music",
                            MUSAN, kind="noise", category="ordinary")

    def speech(link: Path):
        yield from _speech_lines(link.parent, audio_files(link / "speech"), lambda p: f"musan_{p.stem}",
                                 "musan", MUSAN)

    return build(MUSAN, root, out, {"noise": noise, "speech": speech}, force)


def rirs(src, out: Path, force: bool = False) -> dict:
    root = find_root(RIRS, src, parents=("RIRS_NOISES",))

    def is_noise(p: Path, link: Path) -> bool:
        rel = _rel(p, link)
        return rel.startswith("pointsource_noises/") or (
            rel.startswith("real_rirs_isotropic_noises/") and "noise" in p.stem.lower())

    def rir(link: Path):
        files = [p for p in audio_files(link / "simulated_rirs") + audio_files(link / "real_rirs_isotropic_noises")
                 if not is_noise(p, link)]
        group = lambda p: _rel(p.parent if "simulated_rirs" in p.parts else p, link)  # noqa: E731
        yield from _grouped(link.parent, files, group, "rirs-rir", "rirs rir", RIRS, kind="rir")

    def noise(link: Path):
        files = [p for p in audio_files(link / "real_rirs_isotropic_noises") + audio_files(link / "pointsource_noises")
                 if is_noise(p, link)]
        yield from _grouped(link.parent, files, lambda p: _rel(p, link), "rirs-noise", "rirs noise", RIRS,
                            kind="noise", category="ordinary")

    return build(RIRS, root, out, {"rir": rir, "noise": noise}, force)


RECIPES = {"dns5": (dns5, DNS5), "vctk_demand": (vctk_demand, VCTK_DEMAND), "vctk": (vctk, VCTK),
           "libritts": (libritts, LIBRITTS), "musan": (musan, MUSAN), "rirs": (rirs, RIRS)}
