"""`python -m data_recipes folders --speech DIR [DIR...] --noise DIR [...] [--rir DIR] [--name NAME]`

Your own audio, any folder tree of wav/flac/ogg/mp3, as a corpus `data/<name>/` with
`speech.jsonl`, `noise.jsonl` and `rir.jsonl` (docs/contracts.md). Like the public recipes, the
audio stays where it is: `data/<name>/links/<kind><i>` is a symlink to the i-th folder given
for that kind, and every manifest `path` starts `links/…`.

Per file: duration, rate and channels from the header; `bandwidth_hz` measured from the audio
(data_recipes.bandwidth) and `source_rate = min(header rate, 2 x bandwidth rounded to a standard
rate)`, so an 8 kHz recording stored at 48 kHz is band-limited like the 8 kHz material it is.
Speakers: `--speaker-pattern REGEX` is searched in each speech file's path relative to its
folder; the named group `speaker` (else group 1, else the whole match) is the speaker id and
the split is drawn per speaker. Files it does not match, or every file without a pattern, are
each their own speaker (split per file; babble then draws other files). Noise: category
`ordinary`, split per file; RIRs likewise.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ans.audio import atomic_write_text, read_audio
from ans.errors import AnsError
from data_recipes.bandwidth import measure_bandwidth, source_rate_for
from data_recipes.manifest import ManifestWriter, Stamps, Tally, assign_splits, audio_line, iter_jsonl
from data_recipes.public import MissingSource, audio_files, stream

EXTS = (".wav", ".flac", ".ogg", ".mp3")
KINDS = ("speech", "noise", "rir")


def measured_line(root: Path, path: Path, **kw) -> dict:
    """audio_line + `bandwidth_hz` measured from the audio and the source_rate it implies."""
    line = audio_line(root, path, **kw)
    x, sr = read_audio(path)
    if x.size == 0:
        raise AnsError("empty audio file", path)
    bw = measure_bandwidth(x, sr)
    return line | {"bandwidth_hz": round(bw, 1), "source_rate": source_rate_for(bw, line["sample_rate"])}


def speaker_of(rel: str, pattern: re.Pattern | None) -> str | None:
    if pattern is None:
        return None
    m = pattern.search(rel)
    if not m:
        return None
    if "speaker" in pattern.groupindex:
        return m.group("speaker")
    return m.group(1) if pattern.groups else m.group(0)


def link_folders(out: Path, kind: str, dirs: Sequence[str | os.PathLike]) -> list[Path]:
    """`out/links/<kind><i>` -> each folder (re-pointed when it changed)."""
    links = []
    for i, d in enumerate(dirs):
        src = Path(d).expanduser()
        if not src.is_dir():
            raise MissingSource(f"{src}: no such folder (--{kind})")
        link = out / "links" / f"{kind}{i}"
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and Path(os.readlink(link)) != src.resolve():
            link.unlink()
        if not link.is_symlink():
            if link.exists():
                raise AnsError("exists and is not a symlink; remove it first", link)
            link.symlink_to(src.resolve(), target_is_directory=True)
        links.append(link)
    return links


def _lines(out: Path, kind: str, links: list[Path], name: str, pattern: re.Pattern | None,
           license: str) -> Iterator[dict]:
    files = [(link, p) for link in links for p in audio_files(link, EXTS)]
    keys: dict[Path, str] = {}
    for link, p in files:
        rel = p.relative_to(link).as_posix()
        spk = speaker_of(rel, pattern) if kind == "speech" else None
        keys[p] = f"{name}_{spk}" if spk else f"{link.name}/{rel}"
    split = assign_splits(keys.values(), salt=f"{name}-{kind}")
    category = "ordinary" if kind == "noise" else None

    def make(p: Path) -> dict:
        return measured_line(out, p, kind=kind, split=split[keys[p]], category=category,
                             speaker=keys[p] if kind == "speech" else None, license=license, source=name)
    yield from stream(out, [p for _, p in files], f"{name} {kind}", make)


def build(out: Path, speech: Sequence[str], noise: Sequence[str] = (), rir: Sequence[str] = (),
          name: str | None = None, speaker_pattern: str | None = None, license: str = "user-provided",
          force: bool = False) -> dict:
    """Write `out/{speech,noise,rir}.jsonl` for the given folders; returns the summary."""
    if not speech:
        raise MissingSource("folders needs --speech DIR (one or more folders of speech files)")
    name = name or out.name
    try:
        pattern = re.compile(speaker_pattern) if speaker_pattern else None
    except re.error as e:
        raise AnsError(f"--speaker-pattern {speaker_pattern!r}: not a regular expression ({e})") from None
    groups: dict[str, Callable[[], Iterator[dict]]] = {}
    for kind, dirs in zip(KINDS, (speech, noise, rir)):
        if dirs:
            links = link_folders(out, kind, dirs)
            groups[kind] = lambda kind=kind, links=links: _lines(out, kind, links, name, pattern, license)
    summary: dict = {"root": str(out), "folders": {k: [str(Path(d).resolve()) for d in v]
                                                   for k, v in zip(KINDS, (speech, noise, rir)) if v}}
    stamps = Stamps(out)
    for kind, lines in groups.items():
        target, tally = out / f"{kind}.jsonl", Tally()
        key = json.dumps([summary["folders"][kind], speaker_pattern, name])
        if not force and target.is_file() and stamps.done(kind, key):
            print(f"folders: {target} is up to date (skipped; --force rebuilds)")
            for line in iter_jsonl(target):
                tally.add(line)
        else:
            with ManifestWriter(target) as w:
                for line in lines():
                    w.write(line)
                    tally.add(line)
                if tally.files == 0:  # raised inside: no empty manifest is left behind
                    raise AnsError(f"no readable {'/'.join(EXTS)} files in the --{kind} folder(s)",
                                   out / "links")
            stamps.mark(kind, key)
        summary[kind] = tally.as_dict()
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
