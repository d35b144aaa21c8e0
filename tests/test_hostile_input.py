"""Hostile input (issue 10): property tests over the audio loader, `Enhancer.enhance`,
`Enhancer.enhance_file` and `ans.pipeline`.

Every case either enhances correctly (finite 48 kHz output of length round(n * 48000 / sr),
at least 1 sample, bounded by a small multiple of the input peak) or raises AnsError with a
one-line message naming the input; never another exception type, never a hang (pytest-timeout
per test, hypothesis deadline per example), never a partial output file (after a failure the
output folder is empty: no output, no *.tmp / *.part leftovers).

Deterministic (`derandomize=True`, no example database) and sized to run in well under a
minute; ANS_FUZZ=20 multiplies every example count for a deeper local run.
"""

from __future__ import annotations

import io
import math
import os
import struct
import tempfile
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ans import pipeline
from ans.audio import read_audio
from ans.checkpoint import build_model, save_model
from ans.enhance import Enhancer
from ans.errors import AnsError
from ans.features import Normalizer
from ans.runtime.resample import StreamResampler, output_length, resample

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("one_torch_thread")]  # threads: conftest.py

FUZZ = float(os.environ.get("ANS_FUZZ", "1"))
STD_RATES = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 192000, 384000]
DTYPES = ["int16", "int32", "float32", "float64", "uint8"]
BOUND = 8.0  # |output| <= BOUND * input peak (mask <= 1; resampling and overlap-add overshoot a little)


def fuzz(n: int, **kw):
    return settings(max_examples=max(1, int(n * FUZZ)), derandomize=True, database=None,
                    deadline=timedelta(seconds=60), print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example], **kw)




@pytest.fixture(scope="module")
def enhancer(tmp_path_factory):
    """An untrained student (the exported-model path, as shipped)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model(path, build_model("ans.models.student.DFSMN"), "student", Normalizer())
    return Enhancer.from_checkpoint(path)


# ------------------------------------------------------------------------------------ oracles
def expected_length(n: int, sr: int) -> int:
    """round(n * 48000 / sr), halves up, at least 1 sample."""
    return max(1, math.floor(Fraction(n * 48_000, sr) + Fraction(1, 2)))


def assert_one_line(err: AnsError, label: str | None = None) -> None:
    msg = str(err)
    assert msg.strip() and "\n" not in msg and "\r" not in msg, repr(msg)
    if label is not None:
        assert label in msg, (label, msg)


def assert_nothing_written(out_dir: Path) -> None:
    """After a failure: no output, no temp file, no partial file."""
    left = sorted(p.name for p in out_dir.iterdir())
    assert left == [], left


def check_output(y: np.ndarray, n: int, sr: int, peak: float) -> None:
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.ndim == 1
    assert y.size == expected_length(n, sr), (y.size, n, sr)
    assert np.isfinite(y).all()
    assert float(np.max(np.abs(y))) <= BOUND * peak + 1e-6, (float(np.max(np.abs(y))), peak)


# ----------------------------------------------------------------------------------- wav bytes
FMT_PCM, FMT_FLOAT = 1, 3
WAV_FORMAT = {"uint8": (FMT_PCM, 8), "int16": (FMT_PCM, 16), "int32": (FMT_PCM, 32),
              "float32": (FMT_FLOAT, 32), "float64": (FMT_FLOAT, 64)}


def riff(payload: bytes, *, fmt_tag: int, channels: int, sr: int, bits: int, block_align: int | None = None,
         byte_rate: int | None = None, data_size: int | None = None, riff_size: int | None = None,
         extra: bytes = b"") -> bytes:
    """A RIFF/WAVE file with the given (possibly inconsistent) header fields."""
    u16, u32 = 0xFFFF, 0xFFFFFFFF
    align = (channels * bits // 8) if block_align is None else block_align
    rate = sr * align if byte_rate is None else byte_rate
    fmt = struct.pack("<HHIIHH", fmt_tag & u16, channels & u16, sr & u32, rate & u32, align & u16, bits & u16)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
            + b"data" + struct.pack("<I", (len(payload) if data_size is None else data_size) & u32) + payload)
    return b"RIFF" + struct.pack("<I", (len(body) if riff_size is None else riff_size) & u32) + body


def samples(dtype: str, n: int, channels: int, seed: int, kind: str, amp: float) -> np.ndarray:
    """(n, channels) array of `dtype`: noise / silence / dc / impulse, floats scaled by `amp`,
    `nan`/`inf` kinds poison one sample (floats only; ints cannot hold them)."""
    rng = np.random.default_rng(seed)
    if dtype.startswith("float"):
        with np.errstate(over="ignore"):
            x = (rng.standard_normal((n, channels)) * 0.3 * amp).astype(dtype)
        if kind == "silence":
            x[:] = 0
        elif kind == "dc":
            x[:] = np.asarray(0.5 * amp).astype(dtype)
        elif kind == "impulse" and n:
            x[:] = 0
            x[rng.integers(n)] = np.asarray(amp).astype(dtype)
        elif kind in ("nan", "inf") and n:
            x[rng.integers(n), 0] = np.nan if kind == "nan" else -np.inf
        return x
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, size=(n, channels), endpoint=True, dtype=dtype)
    zero = 0 if info.min < 0 else (info.max + 1) // 2
    if kind == "silence":
        x[:] = zero
    elif kind == "dc":
        x[:] = info.max
    elif kind == "impulse" and n:
        x[:] = zero
        x[rng.integers(n)] = info.min
    return x


def as_float(x: np.ndarray) -> np.ndarray:
    """The [-1, 1] float32 the enhancer should see (channel 0), for the oracle."""
    x = x[:, 0] if x.ndim == 2 else x
    if np.issubdtype(x.dtype, np.integer):
        info = np.iinfo(x.dtype)
        half = (float(info.max) + 1) if info.min < 0 else (float(info.max) + 1) / 2
        return ((x.astype(np.float64) - (0 if info.min < 0 else half)) / half).astype(np.float32)
    with np.errstate(over="ignore"):
        return x.astype(np.float32)


@st.composite
def audio_cases(draw, max_seconds: float = 3.0):
    """(array (n, channels), sr) over dtypes, rates 1 Hz .. 384 kHz, lengths 0 .. max_seconds."""
    dtype = draw(st.sampled_from(DTYPES))
    sr = draw(st.one_of(st.sampled_from(STD_RATES), st.integers(1, 400_000), st.integers(8000, 384_000)))
    odd = sr not in STD_RATES
    cap = min(max_seconds, 0.3) if odd else max_seconds  # odd rates: keep the many examples short
    seconds = min(cap, draw(st.one_of(st.sampled_from([0.0, 1e-4, 0.02, 0.25, 1.0, 2.0, 3.0]),
                                      st.floats(0.0, cap))))
    n = min(int(round(seconds * sr)), int(3 * sr))
    event(f"length {'0' if n == 0 else '<0.1 s' if seconds < 0.1 else '<1 s' if seconds < 1 else '1..3 s'}")
    channels = draw(st.integers(1, 8))
    kind = draw(st.sampled_from(["noise", "noise", "silence", "dc", "impulse", "nan", "inf"]))
    amp = draw(st.sampled_from([1.0, 1.0, 1e-6, 0.99, 1.5, 32768.0, 1e10, 1e30, 1e38]))
    seed = draw(st.integers(0, 2**32 - 1))
    return samples(dtype, n, channels, seed, kind, amp), sr


def valid(x: np.ndarray, sr: int) -> bool:
    """Must the enhancer accept this?"""
    f = as_float(x)
    return 8000 <= sr <= 384_000 and f.size > 0 and bool(np.isfinite(f).all())


def wav_bytes(x: np.ndarray, sr: int) -> bytes:
    tag, bits = WAV_FORMAT[str(x.dtype)]
    return riff(np.ascontiguousarray(x).astype(x.dtype.newbyteorder("<")).tobytes(), fmt_tag=tag,
                channels=x.shape[1], sr=sr, bits=bits)


# ------------------------------------------------------------------------ the loader on bytes
def check_read(data: bytes, label: str = "<bytes>") -> tuple[np.ndarray, int] | None:
    try:
        x, sr = read_audio(data)
    except AnsError as e:
        assert_one_line(e, label)
        event("read: AnsError")
        return None
    event("read: ok")
    assert isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim == 1
    assert isinstance(sr, int) and sr > 0
    return x, sr


@fuzz(300)
@given(data=st.binary(max_size=4096), header=st.sampled_from([b"", b"RIFF\x00\x00\x00\x00WAVE",
                                                             b"RIFF\xff\xff\xff\xffWAVEfmt ", b"RIFX", b"fLaC",
                                                             b"OggS", b"FORM\x00\x00\x00\x00AIFF"]))
def test_read_audio_random_bytes(data, header):
    check_read(header + data)


hostile_headers = st.fixed_dictionaries({
    "fmt_tag": st.one_of(st.sampled_from([FMT_PCM, FMT_FLOAT, 0, 2, 6, 7, 0xFFFE]), st.integers(0, 0xFFFF)),
    "channels": st.one_of(st.integers(1, 8), st.integers(0, 0xFFFF)),
    "sr": st.one_of(st.integers(1, 384_000), st.sampled_from([0, 1, 2**31, 2**32 - 1]), st.integers(0, 2**32 - 1)),
    "bits": st.one_of(st.sampled_from([0, 8, 16, 24, 32, 64]), st.integers(0, 0xFFFF)),
    "block_align": st.one_of(st.none(), st.integers(0, 0xFFFF)),
    "byte_rate": st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    "data_size": st.one_of(st.none(), st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 0xFFFFFFFF])),
    "riff_size": st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    "extra": st.sampled_from([b"", b"LIST\x04\x00\x00\x00abcd", b"fact\x04\x00\x00\x00\xff\xff\xff\xff",
                              b"junk\xff\xff\xff\x7f"]),
})


plausible_headers = st.sampled_from(list(WAV_FORMAT.values())).flatmap(lambda tb: st.fixed_dictionaries({
    "fmt_tag": st.just(tb[0]), "bits": st.just(tb[1]), "channels": st.integers(1, 8),
    "sr": st.one_of(st.sampled_from(STD_RATES), st.integers(1, 400_000)),
}))  # a consistent header over random bytes: the payload decides (garbage audio, NaN floats, ...)
any_header = st.one_of(hostile_headers, plausible_headers)
payloads = st.one_of(st.binary(max_size=64), st.binary(min_size=256, max_size=4096))


@fuzz(300)
@given(fields=any_header, payload=payloads, cut=st.one_of(st.just(0), st.integers(1, 64)))
def test_read_audio_random_header_fields(fields, payload, cut):
    data = riff(payload, **fields)
    check_read(data[:len(data) - cut] if cut else data)


@fuzz(100)
@given(case=audio_cases(), cut=st.one_of(st.just(0), st.integers(1, 4096)))
def test_read_audio_valid_and_truncated_wavs(case, cut):
    """A well-formed wav reads back exactly (channel 0); a truncated one reads a prefix or fails cleanly."""
    x, sr = case
    data = wav_bytes(x, sr)
    got = check_read(data[:len(data) - cut] if cut else data)
    if not cut:
        assert got is not None
        y, sr_read = got
        assert sr_read == sr and y.size == x.shape[0]
        ref = as_float(x)
        both = np.isfinite(ref)
        assert np.array_equal(np.isnan(y), np.isnan(ref))
        np.testing.assert_allclose(y[both], ref[both], rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------- Enhancer.enhance
@fuzz(150)
@given(case=audio_cases(), layout=st.sampled_from(["mono", "samples_first", "channels_first"]))
def test_enhance_arrays(enhancer, case, layout):
    x, sr = case
    n, channels = x.shape
    arr = x[:, 0] if layout == "mono" or n <= channels else (x if layout == "samples_first" else x.T)
    if valid(x, sr):
        y = enhancer.enhance(arr, sr)
        check_output(y, n, sr, float(np.max(np.abs(as_float(x)))))
    else:
        with pytest.raises(AnsError) as err:
            enhancer.enhance(arr, sr, name="clip.wav")
        assert_one_line(err.value, "clip.wav")


@fuzz(60)
@given(sr=st.integers(8000, 384_000), n=st.integers(1, 4000), seed=st.integers(0, 2**16))
def test_any_integer_rate_right_length(enhancer, sr, n, seed):
    """Odd rates (gcd with 48000 tiny) once needed multi-GB resampling kernels."""
    x = (np.random.default_rng(seed).standard_normal(n) * 0.1).astype(np.float32)
    check_output(enhancer.enhance(x, sr), n, sr, float(np.max(np.abs(x))))


@pytest.mark.parametrize("sr", [8001, 44101, 383_999])
def test_odd_rate_3s_bounded_memory(enhancer, sr):
    x = (np.random.default_rng(0).standard_normal(3 * sr) * 0.1).astype(np.float32)
    check_output(enhancer.enhance(x, sr), x.size, sr, float(np.max(np.abs(x))))


@pytest.mark.parametrize("sr_from,sr_to", [(44100, 48000), (8000, 48000), (384000, 48000), (48000, 44100),
                                           (44101, 48000)])
def test_one_resampler_streams_and_band_limits(sr_from, sr_to):
    """The one resampler (soxr): whole-array length, blocks equal to the whole array (any block
    sizes, float rounding), channels resampled alike, and (downsampling) a tone above the new Nyquist
    removed."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, sr_from // 10)).astype(np.float32) * 0.1
    y = resample(x, sr_from, sr_to)
    n_out = output_length(x.shape[-1], sr_from, sr_to)
    assert y.shape == (2, n_out) and y.dtype == np.float32
    assert np.array_equal(resample(x[1], sr_from, sr_to), y[1])
    s, outs, i = StreamResampler(sr_from, sr_to, n_out), [], 0
    while i < x.shape[-1]:
        k = int(rng.integers(1, 3000))
        outs.append(s.push(x[0, i:i + k]))
        i += k
    streamed = np.concatenate([*outs, s.finish()])
    assert streamed.size == n_out and np.abs(streamed - y[0]).max() < 1e-5
    if sr_from < sr_to:
        return  # band limiting is a downsampling question
    nyq = sr_to / 2
    t = np.arange(sr_from // 5) / sr_from
    above = resample(np.sin(2 * np.pi * 1.04 * nyq * t), sr_from, sr_to)  # float64 stays float64
    below = resample(np.sin(2 * np.pi * 0.5 * nyq * t), sr_from, sr_to)
    assert above.dtype == np.float64
    core = slice(n_out // 4, n_out)  # past the filter's transient
    assert 20 * np.log10(np.std(above[core]) / np.std(below[core])) < -60


def test_bad_array_types(enhancer):
    for bad, sr in [(np.zeros((8, 0), np.float32), 16000), (np.zeros((0, 8), np.float32), 16000),
                    (np.zeros((2, 2, 2), np.float32), 16000), (np.zeros(100, bool), 16000),
                    (np.zeros(100, np.complex64), 16000), (np.array(["a"] * 100), 16000),
                    (np.zeros(100, np.float32), 16000.0), (np.zeros(100, np.float32), True),
                    (np.zeros(100, np.float32), None), ([[0.1, 0.2], [0.3]], 16000)]:
        with pytest.raises(AnsError) as err:
            enhancer.enhance(bad, sr, name="clip.wav")
        assert_one_line(err.value, "clip.wav")


def test_uint8_is_offset_binary(enhancer):
    """uint8 wav samples are unsigned: 128 is silence (no DC offset after conversion)."""
    x = np.full(16000, 128, np.uint8)
    assert not np.any(enhancer.enhance(x, 16000))
    pcm = (np.random.default_rng(0).integers(-100, 100, 16000)).astype(np.int16)
    y8 = enhancer.enhance((pcm + 128).astype(np.uint8), 16000)
    np.testing.assert_allclose(y8, enhancer.enhance(pcm.astype(np.float32) / 128, 16000), atol=1e-6)


def test_huge_amplitude_scales_back(enhancer):
    """Policy (ans.enhance docstring): float input beyond full scale is enhanced at peak 1 and
    scaled back, so int16 values passed as float give the int16 result times 32768."""
    pcm = (np.random.default_rng(0).standard_normal(16000) * 3000).astype(np.int16)
    ref = enhancer.enhance(pcm, 16000)
    big = enhancer.enhance(pcm.astype(np.float32), 16000)
    peak = float(np.max(np.abs(pcm))) / 32768
    np.testing.assert_allclose(big / 32768, enhancer.enhance(pcm / 32768 / peak, 16000) * peak, atol=1e-5)
    assert np.isfinite(big).all() and np.max(np.abs(big)) > 1 and np.max(np.abs(ref)) < 1


# -------------------------------------------------------------------- enhance_file, pipeline
def run_file(enhancer, data: bytes, label_name: str = "in.wav") -> None:
    """enhance_file on `data`: success -> right length; AnsError -> nothing written."""
    with tempfile.TemporaryDirectory() as d:
        src, out_dir = Path(d) / label_name, Path(d) / "out"
        src.write_bytes(data)
        out_dir.mkdir()
        dst = out_dir / "enhanced.wav"
        try:
            ref = read_audio(src)
        except AnsError:
            ref = None
        try:
            enhancer.enhance_file(src, dst)
        except AnsError as e:
            assert_one_line(e, str(src))
            assert_nothing_written(out_dir)
            event(f"enhance_file: AnsError ({str(e).split(': ', 1)[-1][:30]})")
            return
        event("enhance_file: enhanced")
        assert ref is not None, "enhance_file accepted a file read_audio refuses"
        assert sorted(p.name for p in out_dir.iterdir()) == ["enhanced.wav"]
        y, sr = read_audio(dst)
        assert sr == 48_000 and y.size == expected_length(ref[0].size, ref[1])
        assert src.read_bytes() == data  # input untouched


@fuzz(150)
@given(fields=any_header, payload=payloads, cut=st.one_of(st.just(0), st.integers(1, 64)))
def test_enhance_file_hostile_headers(enhancer, fields, payload, cut):
    data = riff(payload, **fields)
    run_file(enhancer, data[:len(data) - cut] if cut else data)


@fuzz(100)
@given(fields=plausible_headers, payload=st.binary(min_size=0, max_size=8192))
def test_enhance_file_random_samples_under_valid_header(enhancer, fields, payload):
    """Random bytes behind a consistent header: enhanced unless empty, NaN/Inf or a bad rate."""
    data = riff(payload, **fields)
    frame = fields["channels"] * fields["bits"] // 8
    n = len(payload) // frame
    dtype = {(FMT_PCM, 8): "uint8", (FMT_PCM, 16): "<i2", (FMT_PCM, 32): "<i4",
             (FMT_FLOAT, 32): "<f4", (FMT_FLOAT, 64): "<f8"}[(fields["fmt_tag"], fields["bits"])]
    ch0 = np.frombuffer(payload[:n * frame], dtype=dtype).reshape(n, fields["channels"])[:, 0]
    ok = n > 0 and 8000 <= fields["sr"] <= 384_000 and bool(np.isfinite(as_float(ch0)).all())
    with tempfile.TemporaryDirectory() as d:
        src, out_dir = Path(d) / "in.wav", Path(d) / "out"
        src.write_bytes(data)
        out_dir.mkdir()
        dst = out_dir / "enhanced.wav"
        if ok:
            enhancer.enhance_file(src, dst)
            y, sr_out = read_audio(dst)
            assert sr_out == 48_000 and y.size == expected_length(n, fields["sr"]) and np.isfinite(y).all()
        else:
            with pytest.raises(AnsError) as err:
                enhancer.enhance_file(src, dst)
            assert_one_line(err.value, str(src))
            assert_nothing_written(out_dir)


@fuzz(80)
@given(case=audio_cases(max_seconds=1.0), cut=st.one_of(st.just(0), st.integers(1, 4096)))
def test_enhance_file_valid_and_truncated(enhancer, case, cut):
    x, sr = case
    data = wav_bytes(x, sr)
    if cut:
        data = data[:len(data) - cut]
    with tempfile.TemporaryDirectory() as d:
        src, out_dir = Path(d) / "in.wav", Path(d) / "out"
        src.write_bytes(data)
        out_dir.mkdir()
        dst = out_dir / "enhanced.wav"
        if valid(x, sr) and not cut:
            enhancer.enhance_file(src, dst)
            y, sr_out = read_audio(dst)
            assert sr_out == 48_000 and y.size == expected_length(x.shape[0], sr) and np.isfinite(y).all()
            assert sorted(p.name for p in out_dir.iterdir()) == ["enhanced.wav"]
        else:  # bad rate, empty, NaN/Inf, or truncated (the data chunk declares more than is there)
            with pytest.raises(AnsError) as err:
                enhancer.enhance_file(src, dst)
            assert_one_line(err.value, str(src))
            assert_nothing_written(out_dir)


@fuzz(80)
@given(case=audio_cases(max_seconds=1.0), hostile=st.booleans(), fields=any_header,
       payload=st.binary(max_size=512), how=st.sampled_from(["bytes", "path", "array"]))
def test_pipeline(enhancer, case, hostile, fields, payload, how):  # noqa: PLR0913
    x, sr = case
    data = riff(payload, **fields) if hostile else wav_bytes(x, sr)
    ans = pipeline(enhancer, max_bytes=None)
    with tempfile.TemporaryDirectory() as d:
        src, out_dir = Path(d) / "in.wav", Path(d) / "out"
        src.write_bytes(data)
        out_dir.mkdir()
        dst = out_dir / "enhanced.wav"
        arr = x if x.shape[0] > x.shape[1] else x[:, 0]
        arg, label = {"bytes": (data, "<bytes>"), "path": (src, str(src)), "array": (arr, "<array>")}[how]
        expect_ok = valid(x, sr) and how == "array" or (not hostile and valid(x, sr))
        try:
            res = ans(arg, output_path=dst, sample_rate=sr if how == "array" else None)
        except AnsError as e:
            assert_one_line(e, label)
            assert_nothing_written(out_dir)
            assert not expect_ok, f"valid input refused: {e}"
            return
        assert hostile or expect_ok
        y = res["output_wav"]
        assert res["sample_rate"] == 48_000 and np.isfinite(y).all()
        assert len(res["output_pcm"]) == 2 * y.size
        if not hostile or how == "array":
            assert y.size == expected_length(x.shape[0], sr)
        back, sr_out = read_audio(dst)
        assert sr_out == 48_000 and back.size == y.size


def test_pipeline_size_limit_writes_nothing(enhancer, tmp_path):
    x = (np.random.default_rng(0).standard_normal(48_000) * 0.1).astype(np.float32)
    data = wav_bytes(x[:, None], 48_000)
    src, out_dir = tmp_path / "in.wav", tmp_path / "out"
    src.write_bytes(data)
    out_dir.mkdir()
    ans = pipeline(enhancer, max_bytes=1000)
    for arg, kw in [(data, {}), (src, {}), (x, {"sample_rate": 48_000})]:
        with pytest.raises(AnsError) as err:
            ans(arg, output_path=out_dir / "y.wav", **kw)
        assert_one_line(err.value)
        assert "limit" in str(err.value)
        assert_nothing_written(out_dir)


def test_pipeline_rejects_non_audio_objects(enhancer):
    ans = pipeline(enhancer)
    for bad in [None, 3, 1.5, object(), {"a": 1}]:
        with pytest.raises(AnsError) as err:
            ans(bad)
        assert_one_line(err.value)
    with pytest.raises(AnsError):
        ans(np.zeros(100, np.float32))  # array without sample_rate
    with pytest.raises(AnsError) as err:
        ans(io.BytesIO(b"RIFF"))  # a file object is not a path, bytes or array
    assert_one_line(err.value)
