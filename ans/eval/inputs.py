"""Inputs of `ans.eval`: the systems to score and the test-set items.

- systems: `noisy`, `spectral_gate`, `oracle_psm`, the peers (skipped with a reason when not
  installed) and model.pt files (default: the newest outputs/{teacher,student}/*/model.pt,
  else pretrained/), each as a plain dict spec that worker processes rebuild from;
- test set: a paired folder (noisy/, clean/, same names; optional metadata.csv), a folder of
  noisy files only (no-reference mode), or a manifest CSV/JSONL.
"""

from __future__ import annotations

from pathlib import Path

from ans.config import REPO_ROOT, STAGES
from ans.errors import AnsError
from ans.paths import newest

PEER_NAMES = ("rnnoise", "deepfilternet3")
BUILTIN = ("noisy", "spectral_gate", "oracle_psm", *PEER_NAMES)


# --------------------------------------------------------------------------- systems
def find_models(output_dir: str | Path, pretrained_dir: str | Path = REPO_ROOT / "pretrained") -> list[str]:
    """Newest outputs/{teacher,student}/*/model.pt per kind; pretrained/ when there is none."""
    found = []
    for kind in STAGES:
        path = (newest(f"{output_dir}/{kind}/*/model.pt")
                or newest(f"{pretrained_dir}/{kind}/model.pt", f"{pretrained_dir}/*/{kind}/model.pt"))
        if path:
            found.append(path)
    return found


def _resolve(path: str | Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() or p.exists() else REPO_ROOT / p


def model_specs(paths: list[str]) -> list[dict]:
    """{name, type: model, path, kind, params, latency_ms} per model.pt (names made unique)."""
    from ans.model import MaskEstimator

    specs, seen = [], {}
    for p in paths:
        path = _resolve(p)
        est = MaskEstimator.load(path)  # streamability and latency: the model's own answers
        kind = str(est.kind or "model")
        params = int(sum(t.numel() for t in est.net.parameters()))
        lat = est.latency_ms if est.streamable else None
        seen[kind] = seen.get(kind, 0) + 1
        specs.append({"name": kind, "type": "model", "path": str(path), "kind": kind, "params": params,
                      "latency_ms": lat, "latency": f"{lat:g} ms (streaming)" if lat is not None else
                      "whole utterance"})
    for s in specs:  # several models of one kind: name them by their run folder
        if seen[s["name"]] > 1:
            s["name"] = f"{s['kind']}:{Path(s['path']).parent.name}"
    return specs


def system_specs(baselines: list[str], model_paths: list[str], with_reference: bool
                 ) -> tuple[list[dict], dict[str, str]]:
    """(ordered system specs, {skipped system: reason})."""
    from ans.baselines import PEERS, SpectralGate

    specs, skipped = [], {}
    for b in baselines:
        if b not in BUILTIN:
            raise AnsError(f"unknown baseline {b!r}; choose from {list(BUILTIN)}")
        if b == "noisy":
            specs.append({"name": "noisy", "type": "noisy", "params": None, "latency_ms": 0.0,
                          "latency": "0 ms (input)"})
        elif b == "oracle_psm":
            if with_reference:
                specs.append({"name": "oracle_psm", "type": "oracle", "params": None, "latency_ms": None,
                              "latency": "oracle (needs clean)"})
            else:
                skipped["oracle_psm"] = "no-reference mode: the oracle needs the clean signal"
        elif b == "spectral_gate":
            specs.append({"name": b, "type": "baseline", "params": SpectralGate.params,
                          "latency_ms": None, "latency": "whole utterance"})
        else:
            reason = PEERS[b].unavailable_reason()
            if reason is not None:
                skipped[b] = reason
                continue
            from ans.audio import SAMPLE_RATE  # the peers' rate

            lat = 1000.0 * (PEERS[b].delay_samples + PEERS[b].hop) / SAMPLE_RATE
            specs.append({"name": b, "type": "peer", "params": PEERS[b].params, "latency_ms": lat,
                          "latency": f"{lat:g} ms (streaming)"})
    specs += model_specs(model_paths)
    return specs, skipped


# --------------------------------------------------------------------------- test set
def _read_table(path: Path) -> list[dict]:
    import csv
    import json

    if path.suffix.lower() in (".jsonl", ".json"):
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def load_test_set(test_set: str | Path | None, manifest: str | Path | None = None,
                  reference: str | bool = "auto", max_files: int | None = None,
                  split: str | None = None) -> list[dict]:
    """Items {name, noisy, clean|None, category, snr_db|None, snr_band|None, source_rate|None}.
    `split`: keep only the manifest rows of that split (e.g. vctk_demand's pairs.jsonl: test)."""
    from ans.enhance import find_audio

    items = []
    if manifest:
        mpath = _resolve(manifest)
        if not mpath.is_file():
            raise AnsError("no such manifest", mpath)
        rows = _read_table(mpath)
        if split:
            rows = [r for r in rows if r.get("split") == split]
            if not rows:
                raise AnsError(f"no rows of split {split!r}", mpath)
        for row in rows:
            if not row.get("noisy"):
                raise AnsError("manifest rows need a 'noisy' column", mpath)
            noisy = mpath.parent / row["noisy"]
            clean = mpath.parent / row["clean"] if row.get("clean") else None
            items.append({**row, "name": row.get("name") or Path(row["noisy"]).stem,
                          "noisy": str(noisy), "clean": str(clean) if clean else None})
    else:
        root = _resolve(test_set)
        if not root.is_dir():
            raise AnsError("test set folder not found (make one: python scripts/make_test_set.py)", root)
        noisy_dir = root / "noisy" if (root / "noisy").is_dir() else root
        meta = {}
        if (root / "metadata.csv").is_file():
            meta = {r["name"]: r for r in _read_table(root / "metadata.csv")}
        for p in find_audio(noisy_dir):
            name = str(p.relative_to(noisy_dir).with_suffix(""))
            clean = root / "clean" / p.relative_to(noisy_dir)
            items.append({**meta.get(name, {}), "name": name, "noisy": str(p),
                          "clean": str(clean) if noisy_dir != root and clean.is_file() else None})
    if not items:
        raise AnsError("test set has no audio files", manifest or test_set)
    items.sort(key=lambda r: r["name"])
    if max_files:
        items = items[: int(max_files)]
    paired = reference not in (False, "false", "False") and all(it["clean"] for it in items)
    if reference in (True, "true", "True") and not paired:
        raise AnsError("reference=true but some noisy files have no clean counterpart", manifest or test_set)
    for it in items:
        if not paired:
            it["clean"] = None
        it["category"] = it.get("category") or "unknown"
        for k in ("snr_db", "source_rate"):
            v = it.get(k)
            it[k] = float(v) if v not in (None, "") else None
        it["snr_band"] = it.get("snr_band") or None
    check_readable(items)
    return items


def check_readable(items: list[dict]) -> None:
    """Every noisy/clean file exists and has a readable audio header: checked before anything is
    scored, so a bad item costs a second, not a whole evaluation."""
    import soundfile as sf

    for it in items:
        for key in ("noisy", "clean"):
            path = it.get(key)
            if not path:
                continue
            if not Path(path).is_file():
                raise AnsError(f"{key} file of test item {it['name']!r} not found (nothing was scored)", path)
            try:
                sf.info(path)
            except (RuntimeError, OSError, ValueError, TypeError) as e:
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise AnsError(f"{key} file of test item {it['name']!r} is not readable audio ({msg}; "
                               "nothing was scored)", path) from None
