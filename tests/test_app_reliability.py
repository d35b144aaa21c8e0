"""Issue 16 (web demo items 1-4) and issue 15 (atten-lim-db / keep-rate in the app): each
failure reproduced with real HTTP requests through FastAPI's TestClient."""

from __future__ import annotations

import io
import time
import urllib.parse

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from ans.app import content_disposition, create_app  # noqa: E402
from ans.enhance import Enhancer  # noqa: E402

BASE = "http://127.0.0.1:7860"


def audio(x, sr, fmt="WAV", subtype="PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def noise(sr=16000, seconds=1.0, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal(int(sr * seconds))).astype(np.float32)


@pytest.fixture(scope="module")
def client(model_path):
    return TestClient(create_app([model_path], root=model_path.parents[2], max_seconds=60.0), base_url=BASE)


def post(client, data: bytes, name="in.wav", **form):
    return client.post("/api/enhance", files={"file": (name, data, "application/octet-stream")},
                       data={"model": "0", **form})


def is_one_line_error(r) -> bool:
    msg = r.json()["error"]
    return isinstance(msg, str) and msg and "\n" not in msg and "Traceback" not in msg


@pytest.mark.parametrize("name", ["日本.wav", "ß😀 take 2.wav", 'a"; filename*=UTF-8\'\'hack.exe; b="c.wav'])
def test_any_upload_name_downloads_with_an_rfc6266_header(client, name):
    """Item 1 (non-Latin-1 name: 500 UnicodeEncodeError) and item 2 (a quote injected parameters)."""
    r = post(client, audio(noise(), 16000), name=name)
    assert r.status_code == 200, r.text
    dl = client.get(r.json()["audio_url"], params={"download": 1})
    assert dl.status_code == 200
    header = dl.headers["content-disposition"]
    header.encode("latin-1")
    # exactly three parts: the type, an ASCII fallback without quotes inside, the exact UTF-8 name
    kind, fallback, exact = header.split("; ")
    assert kind == "attachment" and fallback.startswith('filename="') and fallback.count('"') == 2
    # (httpx, like browsers, sends a quote in a multipart filename as %22)
    assert urllib.parse.unquote(exact.removeprefix("filename*=UTF-8''")) == r.json()["download_name"]
    assert r.json()["download_name"].replace("%22", '"') == name.rsplit(".", 1)[0] + "_enhanced.wav"
    assert header.count("filename*=") == 1


def test_content_disposition_helper_keeps_ascii_names():
    assert content_disposition("inline", "a b.wav") == "inline; filename=\"a b.wav\"; filename*=UTF-8''a%20b.wav"


def test_long_flac_is_refused_from_its_header_without_decoding(client, tmp_path):
    """Item 3: 30 min of (silent) FLAC is ~1 MB; it used to be decoded whole (2.6 GB, 42 s)."""
    sr = 48000
    path = tmp_path / "long.flac"
    with sf.SoundFile(path, "w", sr, 1, format="FLAC", subtype="PCM_16") as f:
        block = np.zeros(sr * 60, np.float32)
        for _ in range(30):
            f.write(block)
    data = path.read_bytes()
    assert len(data) < 10 * 2**20
    t0 = time.perf_counter()
    r = post(client, data, name="long.flac")
    assert time.perf_counter() - t0 < 2.0
    assert r.status_code == 413 and is_one_line_error(r)
    assert r.json()["error"] == "long.flac: 1800 s of audio is over the 60 s limit"


def test_duration_cap_also_holds_when_the_header_is_not_libsndfile(client, tmp_path):
    """A container libsndfile cannot read goes through ffmpeg, which decodes at most the cap."""
    import subprocess

    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    src, dst = tmp_path / "long.wav", tmp_path / "long.webm"
    sf.write(src, np.zeros(8000 * 70, np.float32), 8000)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(src),
                    "-c:a", "libopus", "-b:a", "6k", str(dst)], check=True)
    r = post(client, dst.read_bytes(), name="long.webm")
    assert r.status_code == 413 and r.json()["error"] == "long.webm: the audio is over the 60 s limit"


def test_security_headers_on_every_response(client):
    """Item 4: CSP, nosniff, no framing; the page's inline script is allowed by its hash only."""
    for r in (client.get("/"), client.get("/api/models"), client.get("/api/result/x/spectrogram.png"),
              post(client, b"junk", name="j.txt")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "'sha256-" in csp
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


@pytest.mark.parametrize("host,ok", [("127.0.0.1:7860", True), ("localhost:7860", True), ("[::1]:7860", True),
                                     ("LOCALHOST", True), ("evil.example:7860", False),
                                     ("127.0.0.1.evil.example", False), ("", False)])
def test_host_header_allow_list(client, host, ok):
    """Item 4: a rebinding page (Host: evil.example resolving to 127.0.0.1) gets no answer."""
    r = client.get("/api/models", headers={"host": host})
    assert (r.status_code == 200) == ok
    if not ok:
        assert r.status_code == 421 and is_one_line_error(r)


def test_bind_host_and_allow_host_are_served(model_path):
    app = create_app([model_path], root=None, host="192.168.1.5", allow_hosts=("box.lan",))
    c = TestClient(app, base_url=BASE)
    assert c.get("/api/models", headers={"host": "192.168.1.5:7860"}).status_code == 200
    assert c.get("/api/models", headers={"host": "box.lan"}).status_code == 200
    assert c.get("/api/models", headers={"host": "10.0.0.9"}).status_code == 421
    wild = TestClient(create_app([model_path], root=None, host="0.0.0.0"), base_url=BASE)
    assert wild.get("/api/models", headers={"host": "10.0.0.9:7860"}).status_code == 200  # an IP: no rebinding
    assert wild.get("/api/models", headers={"host": "evil.example"}).status_code == 421


def test_model_list_outside_root_shows_no_absolute_path(model_path):
    c = TestClient(create_app([model_path], root=None), base_url=BASE)
    text = c.get("/api/models").text
    assert str(model_path.parents[2]) not in text and '"path"' not in text


@pytest.mark.parametrize("kwargs", [
    dict(content=b"--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nabc",
         headers={"content-type": "multipart/form-data; boundary=zz"}),
    dict(content=b"garbage", headers={"content-type": "multipart/form-data"}),
    dict(data={"model": "0"}),  # no file field
    dict(content=b"{}", headers={"content-type": "application/json"}),
])
def test_malformed_requests_answer_the_documented_error_shape(client, kwargs):
    """Item 4: FastAPI's own {"detail": ...} never leaks out."""
    r = client.post("/api/enhance", **kwargs)
    assert 400 <= r.status_code < 500 and set(r.json()) == {"error"} and is_one_line_error(r)


def test_unknown_route_and_method(client):
    for r in (client.get("/nope"), client.put("/api/enhance"), client.get("/docs")):
        assert r.status_code in (404, 405) and set(r.json()) == {"error"}


def test_atten_lim_db_and_keep_rate_match_the_cli_enhancer(client, model_path):
    """Issue 15: the app's options are the CLI's --atten-lim-db / --keep-rate (same Enhancer)."""
    x = noise(22050, 1.0, seed=3)
    r = post(client, audio(x, 22050, subtype="FLOAT"), atten_lim_db="6", keep_rate="true")
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["output_rate"] == 22050 and j["output_samples"] == x.size and j["atten_lim_db"] == 6.0
    y, sr = sf.read(io.BytesIO(client.get(j["audio_url"]).content), dtype="float32")
    assert sr == 22050 and y.size == x.size
    want = Enhancer.from_checkpoint(model_path, atten_lim_db=6.0).enhance(x, 22050, keep_rate=True)
    assert np.abs(y - np.clip(want, -1, 1)).max() < 2 / 32768  # 16-bit wav
    # the floor really acts: without a limit the untrained model attenuates more than 6 dB somewhere
    free = post(client, audio(x, 22050, subtype="FLOAT"), keep_rate="true").json()
    y_free, _ = sf.read(io.BytesIO(client.get(free["audio_url"]).content), dtype="float32")
    assert np.abs(y_free - y).max() > 1e-3 and free["atten_lim_db"] is None and free["output_rate"] == 22050
    default = post(client, audio(x, 22050, subtype="FLOAT")).json()
    assert default["output_rate"] == 48000 and default["keep_rate"] is False


@pytest.mark.parametrize("value,needle", [("-3", ">= 0 dB"), ("nan", ">= 0 dB"), ("loud", "must be a number")])
def test_bad_atten_lim_db_is_one_line_400(client, value, needle):
    r = post(client, audio(noise(), 16000), atten_lim_db=value)
    assert r.status_code == 400 and needle in r.json()["error"] and is_one_line_error(r)


def test_infinite_atten_lim_db_means_no_limit(client):
    """Found by test_app_fuzz: 'inf' (the CLI's 'no floor') made the JSON answer a 500."""
    r = post(client, audio(noise(), 16000), atten_lim_db="INF")
    assert r.status_code == 200 and r.json()["atten_lim_db"] is None
