"""The on-the-fly simulator (ans/data/simulate.py): mixes, SNR, band limits, determinism, faults."""

import math

import numpy as np
import pytest
import torch

from ans.data.corpus import Corpus
from ans.data.simconfig import SimConfig
from ans.data.simulate import Simulator, draw_decisions, item_rngs
from ans.data.toy_corpus import make_toy_corpus
from ans.errors import AnsError

SR = 48_000


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_corpus(tmp_path_factory.mktemp("s") / "toy", seed=0)


@pytest.fixture(scope="module")
def sim(toy):
    return Simulator(Corpus(toy), None, "train")


def _snr(item):
    c, n = item["clean"].double(), item["noise"].double()
    return 10 * math.log10(float((c ** 2).sum() / (n ** 2).sum()))


@pytest.mark.parametrize("cfg", [{}, {"category_mix": {"ordinary": 0.1, "babble": 0.3, "howling": 0.3,
                                                       "ring": 0.3},
                                      "rate_mix": {48000: 0.5, 16000: 0.5},
                                      "snr_bands": [[-5, 0, 0.4], [0, 20, 0.6]]}])
def test_decision_frequencies_match_config(cfg):
    c = SimConfig.from_dict(cfg)
    n = 4000
    decs = [draw_decisions(item_rngs(11, 0, i)[0], c) for i in range(n)]
    for name, mix in (("category", c.category_mix), ("rate", c.rate_mix)):
        for value, p in mix.items():
            assert abs(sum(getattr(d, name) == value for d in decs) / n - p) < 0.03, (name, value)
    for b, (lo, hi, p) in enumerate(c.snr_bands):
        in_band = [d for d in decs if d.snr_band == b]
        assert abs(len(in_band) / n - p) < 0.03
        assert all(lo <= d.snr_db <= hi for d in in_band)
    talkers = [d.n_talkers for d in decs if d.category == "babble"]
    assert min(talkers) == c.babble_talkers[0] and max(talkers) == c.babble_talkers[1]


def test_items_use_the_drawn_decisions_snr_and_never_clip(sim):
    for i in range(16):
        it = sim.item(5, 2, i)
        d, m = sim.decisions(5, 2, i), it["meta"]
        assert (m["category"], m["rate_drawn"], m["n_talkers"]) == (d.category, d.rate, d.n_talkers)
        assert m["snr_db"] == d.snr_db
        assert m["source_rate"] <= d.rate
        assert abs(_snr(it) - d.snr_db) < 0.1
        for k in ("noisy", "clean", "noise"):
            assert it[k].dtype == torch.float32 and it[k].shape == (4 * SR,)
            assert float(it[k].abs().max()) <= 1.0
        torch.testing.assert_close(it["noisy"], it["clean"] + it["noise"])
        level = 20 * math.log10(float(it["noisy"].double().pow(2).mean().sqrt()))
        assert level == pytest.approx(m["level_dbfs"], abs=0.01)
        assert level <= d.level_dbfs + 0.01


def _band_share_db(x, cutoff):
    p = np.abs(np.fft.rfft(x.double().numpy())) ** 2
    f = np.fft.rfftfreq(x.numel(), 1 / SR)
    return 10 * np.log10(p[f > cutoff].sum() / p.sum() + 1e-30)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_band_limited_clean_has_no_energy_above_half_the_rate(toy, rate):
    s = Simulator(Corpus(toy), {"rate_mix": {rate: 1.0}, "second_talker_prob": 0.5}, "train")
    for i in range(6):
        it = s.item(0, 0, i)
        assert it["meta"]["source_rate"] <= rate
        assert _band_share_db(it["clean"], rate / 2) < -50


def test_full_band_items_exist(toy):
    s = Simulator(Corpus(toy), {"rate_mix": {48000: 1.0}}, "train")
    bands = {s.item(0, 0, i)["meta"]["source_rate"] for i in range(16)}
    assert 48000 in bands  # the toy corpus has 48 k material; it is not band-limited


def test_same_key_identical_other_keys_different(sim, toy):
    a, b = sim.item(1, 0, 3), Simulator(Corpus(toy), None, "train").item(1, 0, 3)
    for k in ("noisy", "clean", "noise"):
        assert torch.equal(a[k], b[k])
    assert str(a["meta"]) == str(b["meta"])  # str: NaN fields compare equal
    for other in (sim.item(1, 0, 4), sim.item(1, 1, 3), sim.item(2, 0, 3)):
        assert not torch.equal(a["noisy"], other["noisy"])


def test_babble_has_at_least_three_other_talkers(sim):
    found = 0
    for i in range(200):
        if sim.decisions(3, 0, i).category != "babble":
            continue
        it = sim.item(3, 0, i)
        talkers = it["meta"]["noise_id"].removeprefix("babble:").split("+")
        assert it["meta"]["n_talkers"] >= 3 and len(talkers) == it["meta"]["n_talkers"]
        target = Corpus(sim.corpus.root).speech
        spk = [r for r in range(len(target)) if target.row(r)["path"] == it["meta"]["speech_id"]]
        assert target.row(spk[0])["speaker"] not in talkers  # other talkers only
        assert len(set(talkers)) >= 3  # the train split has >= 3 other speakers
        found += 1
        if found == 3:
            break
    assert found == 3


def test_second_talker_and_reverb_options(toy):
    s = Simulator(Corpus(toy), {"second_talker_prob": 1.0, "reverb_prob": 1.0}, "train")
    m = s.item(0, 0, 0)["meta"]
    assert 10 <= m["second_talker_db"] <= 30 and m["reverb"] == 1
    s0 = Simulator(Corpus(toy), {"second_talker_prob": 0.0}, "train")
    assert math.isnan(s0.item(0, 0, 0)["meta"]["second_talker_db"])


def test_corrupt_and_empty_files_are_skipped_counted_and_deterministic(tmp_path):
    root = make_toy_corpus(tmp_path / "toy", n_speakers=6, files_per_speaker=2, seconds=3.0)
    c = Corpus(root)
    train = c.speech.select(split="train")
    for k, i in enumerate(train[::2]):  # every other train speech file damaged
        p = root / c.speech.row(int(i))["path"]
        p.write_bytes(b"" if k % 2 else b"RIFF....WAVEfmt garbage")
    ring = c.noise.select(split="train", category="ring")
    (root / c.noise.row(int(ring[0]))["path"]).write_bytes(b"")
    s1, s2 = Simulator(Corpus(root), None, "train"), Simulator(Corpus(root), None, "train")
    items = [s1.item(0, 0, i) for i in range(16)]
    assert s1.corpus.skipped > 0 and sum(it["meta"]["skipped"] for it in items) == s1.corpus.skipped
    for i in (0, 7, 15):
        assert torch.equal(items[i]["noisy"], s2.item(0, 0, i)["noisy"])
    for it in items:
        assert abs(_snr(it) - it["meta"]["snr_db"]) < 0.1


def test_empty_split_is_a_clear_error(toy):
    with pytest.raises(AnsError, match="no speech files for split"):
        Simulator(Corpus(toy), None, "nosuchsplit")
    with pytest.raises(AnsError, match="sum to 1"):
        SimConfig.from_dict({"category_mix": {"ordinary": 0.5}})
    with pytest.raises(AnsError, match="unknown simulation option"):
        SimConfig.from_dict({"snr_band": []})


def test_missing_noise_category_falls_back_to_synthesis(tmp_path):
    root = make_toy_corpus(tmp_path / "toy", n_speakers=3, files_per_speaker=1, seconds=5.0,
                           n_noise_files=0)
    s = Simulator(Corpus(root), {"category_mix": {"ordinary": 0.5, "ring": 0.5}}, "train")
    ids = {s.item(0, 0, i)["meta"]["noise_id"].split(":")[0] for i in range(6)}
    assert ids == {"synthetic"}


def test_small_split_borrows_babble_talkers_and_chains_them(tmp_path):
    """A split with one speaker draws babble from the other splits (and can chain their files)."""
    corpus = Corpus(make_toy_corpus(tmp_path / "toy", seed=1, seconds=1.5))
    sim = Simulator(corpus, {"category_mix": {"babble": 1.0, "ordinary": 0.0, "howling": 0.0, "ring": 0.0},
                             "segment_seconds": 4.0}, split="test")
    assert sim.other_pool.size > sim.speech_pool.size
    for i in range(6):
        item = sim.item(0, 0, i)
        talkers = item["meta"]["noise_id"].removeprefix("babble:").split("+")
        target = corpus.speech.speakers[corpus.speech.speaker[sim.speech_pool[0]]]
        assert len(talkers) >= 3 and target not in talkers


def test_speed_perturbation_scales_pitch_tempo_and_band(toy):
    """speed_perturb: the target talker played 1.25x faster has its harmonics 1.25x higher and
    lasts 1/1.25 as long; the item says so (meta speed, bandwidth scaled); off by default,
    and turning it off leaves every item as it was (the draw happens only when on)."""
    corpus = Corpus(toy)
    sim = Simulator(corpus, {"speed_perturb_prob": 1.0, "speed_perturb": [1.25, 1.25]}, "train")
    sp = corpus.speech
    i = int(next(j for j in sim.speech_pool if sp.source_rate[j] == 48000))
    n = int(sp.duration[i] * SR)

    def peak_hz(x):  # the strongest harmonic of the voice
        return float(np.fft.rfftfreq(x.size, 1 / SR)[np.argmax(np.abs(np.fft.rfft(x)))])

    x1, _ = sim._read(sp, i, 2 * n, 48000, np.random.default_rng(0), loop=False, speed=1.0)
    x2, band = sim._read(sp, i, 2 * n, 48000, np.random.default_rng(0), loop=False, speed=1.25)
    assert abs(x2.size * 1.25 - x1.size) <= 2  # the whole file, 1.25x shorter
    assert abs(peak_hz(x2) / peak_hz(x1) - 1.25) < 0.02 and band == 48000
    it = sim.item(0, 0, 0)
    assert it["meta"]["speed"] == 1.25
    assert it["meta"]["bandwidth_hz"] <= it["meta"]["source_rate"] / 2
    off, base = Simulator(corpus, {"speed_perturb_prob": 0.0}, "train"), Simulator(corpus, None, "train")
    assert torch.equal(off.item(3, 0, 1)["clean"], base.item(3, 0, 1)["clean"])
    assert base.item(3, 0, 1)["meta"]["speed"] == 1.0
    with pytest.raises(AnsError, match="speed_perturb"):
        SimConfig.from_dict({"speed_perturb": [1.1, 0.9]})
