"""The web demo's HTTP API through FastAPI's TestClient (no browser; see test_app_browser.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from ans.app import create_app, find_models  # noqa: E402
from ans.enhance import output_length  # noqa: E402


def wav(x, sr, fmt="WAV", subtype=None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def tone(sr=16000, seconds=1.5, seed=0):
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * 440 * t)
            + 0.05 * np.random.default_rng(seed).standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def client(model_path):
    return TestClient(create_app([model_path], root=model_path.parents[2], max_bytes=10 * 2**20),
                      base_url="http://127.0.0.1:7860")


def post(client, data: bytes, name="in.wav", model="0"):
    return client.post("/api/enhance", files={"file": (name, data, "application/octet-stream")},
                       data={"model": model})


def test_page_and_model_list(client, model_path):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="enhance"' in page.text
    assert not any(f'{a}="{p}' in page.text for a in ("src", "href") for p in ("http", "//"))  # no external assets
    models = client.get("/api/models").json()
    assert models["max_bytes"] == 10 * 2**20
    [m] = models["models"]
    assert m == {"id": "0", "label": "pretrained/student", "kind": "student",
                 "streamable": True, "parameters": m["parameters"]} and m["parameters"] > 0
    assert str(model_path.parent) not in client.get("/api/models").text  # no server paths (issue 16)


def test_find_models(tmp_path, model_path):
    for rel in ("pretrained/student/model.pt", "outputs/teacher/run1/model.pt", "outputs/x/model.pt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = find_models(tmp_path, [model_path, model_path])
    assert found == [model_path, tmp_path / "pretrained/student/model.pt",
                     tmp_path / "outputs/teacher/run1/model.pt"]


@pytest.mark.parametrize("fmt,subtype,name", [("WAV", "PCM_16", "a.wav"), ("OGG", "VORBIS", "a.ogg"),
                                              ("FLAC", "PCM_16", "a.flac")])
def test_good_upload_returns_wav_of_input_duration(client, fmt, subtype, name):
    x = tone()
    r = post(client, wav(x, 16000, fmt, subtype), name=name)
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["input_rate"] == 16000 and j["input_samples"] == x.size and j["duration_s"] == pytest.approx(1.5)
    # both are rounded to 4 decimals by the server
    assert j["processing_s"] > 0 and j["rtf"] == pytest.approx(j["processing_s"] / 1.5, rel=1e-2, abs=1e-4)
    assert j["download_name"] == "a_enhanced.wav" and j["streamable"] is True
    audio = client.get(j["audio_url"], params={"download": 1})
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    assert audio.headers["content-disposition"].startswith("attachment")
    y, sr = sf.read(io.BytesIO(audio.content))
    assert sr == 48000 and y.shape == (output_length(x.size, 16000),) and np.isfinite(y).all()
    png = client.get(j["spectrogram_url"])
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_browser_recording_webm_is_decoded_with_ffmpeg(client, tmp_path):
    import subprocess

    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    src, dst = tmp_path / "rec.wav", tmp_path / "rec.webm"
    sf.write(src, tone(48000, 1.0), 48000)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(src),
                    "-c:a", "libopus", str(dst)], check=True)
    r = post(client, dst.read_bytes(), name="recording.webm")
    assert r.status_code == 200, r.text
    assert r.json()["duration_s"] == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("data,name,status,needle", [
    (b"this is not audio at all", "notes.txt", 400, "notes.txt: not a readable audio file"),
    (b"", "empty.wav", 400, "empty.wav: empty upload"),
    (wav(np.zeros(0, np.float32), 16000), "zero.wav", 400, "zero.wav: empty audio (0 samples)"),
    (wav(np.full(800, np.nan, np.float32), 16000, subtype="FLOAT"), "nan.wav", 400, "NaN"),
    (wav(tone(4000), 4000), "low.wav", 400, "unsupported sample rate 4000 Hz"),
    (wav(tone(), 16000)[:-5000], "cut.wav", 400, "truncated wav file"),
])
def test_bad_uploads_get_one_line_4xx(client, data, name, status, needle):
    r = post(client, data, name=name)
    assert r.status_code == status
    msg = r.json()["error"]
    assert needle in msg and "\n" not in msg and "Traceback" not in msg and "BytesIO" not in msg


def test_unknown_model_and_expired_result(client):
    r = post(client, wav(tone(), 16000), model="7")
    assert r.status_code == 404 and "unknown model" in r.json()["error"]
    r = client.get("/api/result/nope/enhanced.wav")
    assert r.status_code == 404 and "expired" in r.json()["error"]


def test_over_10_mb_is_refused(client):
    big = wav(np.zeros(10 * 2**20 // 2 + 100, np.float32), 16000, subtype="PCM_16")  # 10 MB of samples + header
    assert len(big) > 10 * 2**20
    r = post(client, big, name="big.wav")
    assert r.status_code == 413 and "over the 10 MB limit" in r.json()["error"]
    # a body just over the limit is refused before it is parsed, from Content-Length alone
    r = client.post("/api/enhance", content=b"x" * (10 * 2**20 + 2**17),
                    headers={"content-type": "multipart/form-data; boundary=zz"})
    assert r.status_code == 413 and "10 MB" in r.json()["error"]
