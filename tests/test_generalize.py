"""Issue "Generalize": measured-bandwidth voices, band-matched draws, the band-limited loss,
the 8-16 kHz kept metric, rooms/EQ, and the dev held-out test-set profile."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import firwin, lfilter

from ans.data.corpus import Corpus
from ans.data.rooms import lowpass, random_eq, room_rirs
from ans.data.simconfig import SimConfig
from ans.data.simulate import Simulator
from ans.data.toy_corpus import make_toy_corpus
from ans.losses import MaskLoss
from ans.metrics import band_energy_db
from data_recipes import demo
from data_recipes import demo_sources as S
from data_recipes.bandwidth import measure_bandwidth

SR = 48_000
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def voice(seconds: float, sr: int, cut: float | None, seed: int) -> np.ndarray:
    """Bursty noise with speech-like pauses, low-passed at `cut` (None: full band)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * sr))
    x *= np.repeat(rng.random(int(seconds * 10) + 1) > 0.3, sr // 10)[: x.size]
    if cut is not None:
        x = lfilter(firwin(1023, cut, fs=sr, window=("kaiser", 10)), 1, x)
    return (0.2 * x / np.abs(x).max()).astype(np.float32)


def test_voices_step_measures_each_clip_and_never_mixes_bands(tmp_path):
    tree = tmp_path / "pkg"
    d = tree / "usr/share/v"
    d.mkdir(parents=True)
    for i in range(4):  # two readers; "xx" recorded full band, "yy" up-sampled telephone audio
        sf.write(d / f"w{i}_desc_xx.ogg", voice(1.2, 44_100, None, i), 44_100)
        sf.write(d / f"w{i}_desc_yy.ogg", voice(1.2, 44_100, 3600, 10 + i), 44_100)
    sf.write(d / "bird.ogg", voice(1.0, 44_100, None, 99), 44_100)  # an effect: no talker
    src = S.VoiceSource("t", "pkg", ("usr/share/v/*.ogg",), r"_desc_([a-z]+)\.ogg$")
    lines = demo.voices_step(tmp_path / "out", src, tree, "L")
    by = {x["speaker"]: x for x in lines}
    assert set(by) == {"t_xx", "t_yy"}
    assert by["t_xx"]["bandwidth_hz"] > 16_000 and by["t_xx"]["source_rate"] == 44_100
    assert 3_500 <= by["t_yy"]["bandwidth_hz"] <= 4_200 and by["t_yy"]["source_rate"] == 8_000
    # four 1.2 s clips joined with pauses into one ~6 s utterance per talker
    assert all(4.5 < x["duration"] < 6.5 for x in lines) and len(lines) == 2
    x, sr = sf.read(tmp_path / "out" / by["t_yy"]["path"])
    assert measure_bandwidth(x, sr) < 8_000  # still narrowband once joined (the joins add a little)


def test_splits_keep_heldout_talkers_and_noise_packages_out_of_training():
    held = {k for k, v in S.SPEAKER_SPLITS.items() if v == "heldout"}
    assert len(held) >= 4 and all(v in ("train", "valid", "test", "heldout") for v in S.SPEAKER_SPLITS.values())
    names = {f"{v.prefix}_" for v in S.VOICES}
    assert all(any(h.startswith(n) for n in names) for h in held)  # all real recorded voices
    packages = {n.package for n in S.NOISE}
    assert set(S.HELDOUT_NOISE.values()) <= packages
    reserved = ("nexuiz", "scratch", "sound-theme-freedesktop", "alsa-utils", "espeak")
    every = packages | {v.package for v in S.VOICES} | {s.package for s in S.SPEECH}
    assert not [p for p in every if p.startswith(reserved)]


@pytest.fixture(scope="module")
def mixed_band_corpus(tmp_path_factory):
    """The toy corpus with half its train speakers' files marked full band (bandwidth_hz)."""
    root = make_toy_corpus(tmp_path_factory.mktemp("g") / "toy", seed=0)
    rows = [json.loads(x) for x in (root / "speech.jsonl").read_text().splitlines()]
    for i, r in enumerate(rows):
        full = r["sample_rate"] >= 44_100 and (r["split"] != "train" or i % 2 == 0)
        r["bandwidth_hz"] = 20_000.0 if full else 3_800.0
        r["source_rate"] = r["sample_rate"] if full else 8_000
    (root / "speech.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_band_match_draws_full_band_talkers_for_high_rates(mixed_band_corpus):
    corpus = Corpus(mixed_band_corpus)
    cfg = {"rate_mix": {48000: 1.0}, "category_mix": {"ordinary": 1.0}, "segment_seconds": 1.0}
    on = Simulator(corpus, SimConfig.from_dict(cfg), "train")
    off = Simulator(corpus, SimConfig.from_dict(cfg | {"band_match": False}), "train")
    assert 0 < on.fullband_pool.size < on.speech_pool.size
    bw_on = [on.item(1, 0, i)["meta"]["bandwidth_hz"] for i in range(12)]
    bw_off = [off.item(1, 0, i)["meta"]["bandwidth_hz"] for i in range(24)]
    assert min(bw_on) >= 9_000
    assert min(bw_off) < 9_000  # without it a 48 kHz draw may be an up-sampled narrowband talker
    # 8 kHz draws are band-limited whatever the talker
    low = Simulator(corpus, SimConfig.from_dict(cfg | {"rate_mix": {8000: 1.0}}), "train")
    assert max(low.item(1, 0, i)["meta"]["bandwidth_hz"] for i in range(6)) <= 4_000


def test_band_limited_loss_ignores_bins_above_the_talkers_bandwidth():
    torch.manual_seed(0)
    pred, target = torch.rand(2, 5, 961), torch.rand(2, 5, 961)
    mag = torch.rand(2, 5, 961) + 0.1
    bw = torch.tensor([4_000.0, 24_000.0])
    plain = MaskLoss("none")(pred, target, mag, bw)
    limited = MaskLoss("none", band_limit=True)(pred, target, mag, bw)
    assert limited < plain
    # changing the prediction above 4 kHz of item 0 changes nothing; above 4 kHz of item 1 does
    k = 4_000 * 1920 // SR + 1  # first bin above 4 kHz
    p2 = pred.clone()
    p2[0, :, k:] = 1 - p2[0, :, k:]
    assert torch.isclose(MaskLoss("none", band_limit=True)(p2, target, mag, bw), limited)
    p3 = pred.clone()
    p3[1, :, k:] = 1 - p3[1, :, k:]
    assert not torch.isclose(MaskLoss("none", band_limit=True)(p3, target, mag, bw), limited)


def test_high_band_kept_metric():
    clean = voice(2.0, SR, None, 1).astype(np.float64)
    assert abs(band_energy_db(clean, clean)) < 1e-6
    assert band_energy_db(clean, 0.5 * clean) == pytest.approx(-6.02, abs=0.05)
    erased = lowpass(clean, SR, 7_000)
    assert band_energy_db(clean, erased) < -30
    assert np.isnan(band_energy_db(np.zeros_like(clean), clean))  # no high-band speech to keep


def test_rooms_and_colour_are_seeded_and_sane():
    rng = np.random.default_rng(3)
    talker, noise = room_rirs(rng, SR, 0.4)
    again = room_rirs(np.random.default_rng(3), SR, 0.4)
    assert np.array_equal(talker, again[0]) and np.array_equal(noise, again[1])
    assert np.argmax(np.abs(talker)) < 16 and np.abs(talker).max() == pytest.approx(1.0)
    tail = np.sum(noise[int(0.05 * SR):] ** 2) / np.sum(noise ** 2)
    near = np.sum(talker[int(0.05 * SR):] ** 2) / np.sum(talker ** 2)
    assert near < tail  # a near-field talker is drier than a noise source metres away
    x = voice(1.0, SR, None, 4).astype(np.float64)
    y = random_eq(x, np.random.default_rng(0), SR, (-4.0, 4.0), 12.0)
    gain = np.abs(np.fft.rfft(y)) / (np.abs(np.fft.rfft(x)) + 1e-12)
    assert y.shape == x.shape and 20 * np.log10(gain.max()) <= 12.01 and 20 * np.log10(gain.min()) >= -12.01


def test_dev_heldout_profile_builds_from_heldout_split(tmp_path, mixed_band_corpus):
    import shutil

    from ans.eval import test_set as M

    root = tmp_path / "c"
    shutil.copytree(mixed_band_corpus, root)
    for name in ("speech.jsonl", "noise.jsonl"):  # the toy's test split plays the held-out one
        rows = [json.loads(x) for x in (root / name).read_text().splitlines()]
        for r in rows:
            r["split"] = "heldout" if r["split"] == "test" else r["split"]
        (root / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = M.make_test_set(root, tmp_path / "dev", n_items=4, min_s=1.0, max_s=1.2,
                          profile="dev_heldout", progress=False)
    rows = M.read_metadata(out)
    assert len(rows) == 4 and {r["category"] for r in rows} == set(M.CATEGORIES)
    assert all(0 <= float(r["snr_db"]) <= 20 for r in rows)
    assert json.loads((out / "test_set.json").read_text())["split"] == "heldout"
    with pytest.raises(Exception, match="profile"):
        M.make_test_set(root, tmp_path / "x", profile="nope")
