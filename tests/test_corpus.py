"""Streaming manifests, lazy reads, fault tolerance (ans/data/corpus.py) and the toy corpus."""

import json
import logging

import numpy as np
import pytest

from ans.audio import read_audio
from ans.data.corpus import Corpus, Manifest
from ans.data.toy_corpus import make_toy_corpus
from ans.errors import AnsError


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_corpus(tmp_path_factory.mktemp("c") / "toy", seed=0)


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_toy_corpus_contract_and_splits(toy):
    speech, noise = _lines(toy / "speech.jsonl"), _lines(toy / "noise.jsonl")
    keys = {"path", "duration", "sample_rate", "channels", "source_rate", "kind", "speaker",
            "category", "split", "license", "source"}
    for row in speech + noise:
        assert set(row) == keys
        x, sr = read_audio(toy / row["path"])
        assert sr == row["sample_rate"] and abs(x.size / sr - row["duration"]) < 1e-3
        assert row["source_rate"] <= row["sample_rate"]
    assert {r["sample_rate"] for r in speech} == {8000, 16000, 48000}
    assert any(r["source_rate"] < r["sample_rate"] for r in speech)
    assert {r["category"] for r in noise} == {"ordinary", "ring"}
    by_split = {}
    for r in speech:
        by_split.setdefault(r["split"], set()).add(r["speaker"])
    assert set(by_split) == {"train", "valid", "test"}
    assert not (by_split["train"] & by_split["valid"]) and not (by_split["train"] & by_split["test"])
    assert not (by_split["valid"] & by_split["test"])
    for split in ("train", "valid", "test"):  # every split has both stored noise categories
        assert {r["category"] for r in noise if r["split"] == split} == {"ordinary", "ring"}


def test_toy_corpus_is_deterministic(tmp_path):
    a = make_toy_corpus(tmp_path / "a", seed=3, n_speakers=3, files_per_speaker=1, seconds=1.0,
                        n_noise_files=2)
    b = make_toy_corpus(tmp_path / "b", seed=3, n_speakers=3, files_per_speaker=1, seconds=1.0,
                        n_noise_files=2)
    c = make_toy_corpus(tmp_path / "c", seed=4, n_speakers=3, files_per_speaker=1, seconds=1.0,
                        n_noise_files=2)
    assert (a / "speech.jsonl").read_text() == (b / "speech.jsonl").read_text()
    for row in _lines(a / "speech.jsonl") + _lines(a / "noise.jsonl"):
        assert (a / row["path"]).read_bytes() == (b / row["path"]).read_bytes()
    row = _lines(a / "speech.jsonl")[0]
    assert (a / row["path"]).read_bytes() != (c / row["path"]).read_bytes()


def test_manifest_index_matches_lines_and_filters(toy):
    rows = _lines(toy / "speech.jsonl")
    m = Manifest(toy / "speech.jsonl")
    assert len(m) == len(rows)
    for i, row in enumerate(rows):
        assert m.row(i) == row
        assert m.entry(i).path == row["path"] and m.entry(i).speaker == row["speaker"]
        assert m.duration[i] == pytest.approx(row["duration"])
        assert m.source_rate[i] == row["source_rate"]
    for split in ("train", "valid", "test"):
        want = [i for i, r in enumerate(rows) if r["split"] == split]
        assert m.select(split=split).tolist() == want
    n = Manifest(toy / "noise.jsonl")
    nrows = _lines(toy / "noise.jsonl")
    assert n.select(category="ring", split="train").tolist() == [
        i for i, r in enumerate(nrows) if r["category"] == "ring" and r["split"] == "train"]
    assert m.duration.dtype == np.float32 and m.offsets.dtype == np.int64


def test_lazy_partial_read_equals_slice(toy):
    c = Corpus(toy)
    full, sr = c.read(c.speech, 0)
    part, sr2 = c.read(c.speech, 0, start=1234, frames=5000)
    assert sr == sr2 and part.size == 5000
    np.testing.assert_array_equal(part, full[1234:6234])


def test_bad_manifest_lines_are_skipped(tmp_path, caplog):
    p = tmp_path / "speech.jsonl"
    good = {"path": "a.wav", "duration": 1.0, "sample_rate": 16000, "split": "train",
            "kind": "speech", "speaker": "s"}
    p.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({"path": "b.wav"}) + "\n\n"
                 + json.dumps(good | {"path": "c.wav"}) + "\n")
    with caplog.at_level(logging.WARNING):
        m = Manifest(p)
    assert len(m) == 2 and m.bad_lines == 2
    assert m.row(1)["path"] == "c.wav"
    assert "bad manifest line" in caplog.text


def test_missing_corpus_and_manifest_are_clear_errors(tmp_path):
    with pytest.raises(AnsError, match="corpus folder not found"):
        Corpus(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnsError, match="speech.jsonl"):
        Corpus(tmp_path / "empty")


@pytest.mark.parametrize("damage", ["garbage", "empty", "missing", "truncated"])
def test_unreadable_file_is_skipped_and_counted(tmp_path, damage, caplog):
    root = make_toy_corpus(tmp_path / "toy", n_speakers=3, files_per_speaker=1, seconds=1.0,
                           n_noise_files=2)
    c = Corpus(root)
    target = root / c.speech.row(0)["path"]
    if damage == "garbage":
        target.write_bytes(b"RIFF\x00\x01garbage" * 10)
    elif damage == "empty":
        target.write_bytes(b"")
    elif damage == "missing":
        target.unlink()
    else:  # header of a wav with far fewer frames than the manifest claims
        x, sr = read_audio(target)
        import soundfile as sf

        sf.write(target, x[:10], sr)
    with caplog.at_level(logging.WARNING):
        got = c.read(c.speech, 0, start=1000 if damage == "truncated" else 0,
                     frames=100 if damage == "truncated" else -1)
        again = c.read(c.speech, 0)
    assert got is None and c.skipped >= 1
    if damage != "truncated":
        assert again is None and c.skipped == 2
        assert caplog.text.count("skipping corpus file") == 1  # warned once per file
    assert c.read(c.speech, 1) is not None
