"""Fuzz of the web API (issue 16), in the style of test_hostile_input.py: hypothesis over
upload names, headers, form fields and bodies, sent as real HTTP requests (TestClient).

Every response is JSON {"error": one line} with a 4xx status, or a 200 whose download
header is valid Latin-1; never a 500, never FastAPI's {"detail": ...}, and the security
headers are on every answer. Deterministic and bounded (a few seconds); ANS_FUZZ=20
multiplies the example counts for a deeper local run.
"""

from __future__ import annotations

import io
import os
from datetime import timedelta

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from ans.app import create_app  # noqa: E402
from ans.checkpoint import build_model, save_model  # noqa: E402
from ans.features import Normalizer  # noqa: E402

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("one_torch_thread")]
FUZZ = float(os.environ.get("ANS_FUZZ", "1"))


def fuzz(n: int):
    return settings(max_examples=max(1, int(n * FUZZ)), derandomize=True, database=None,
                    deadline=timedelta(seconds=20), suppress_health_check=list(HealthCheck))


def wav(seconds: float = 0.2, sr: int = 16000) -> bytes:
    buf = io.BytesIO()
    x = 0.1 * np.random.default_rng(0).standard_normal(int(sr * seconds))
    sf.write(buf, x.astype(np.float32), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


GOOD = wav()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("fuzz") / "pretrained" / "student" / "model.pt"
    save_model(path, build_model("ans.models.student.DFSMN"), "student", Normalizer())
    # raise_server_exceptions=False: a crash must show up as the app's 500, which the checks refuse
    return TestClient(create_app([path], root=path.parents[2], max_bytes=2**20, max_seconds=5.0),
                      base_url="http://127.0.0.1:7860", raise_server_exceptions=False)


def check(r, allowed=(200, 400, 404, 413, 421, 422)) -> None:
    assert r.status_code in allowed, (r.status_code, r.text[:300])
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    if r.status_code != 200:
        body = r.json()
        assert set(body) == {"error"} and body["error"] and "\n" not in body["error"], body
        assert "Traceback" not in body["error"]


names = st.text(min_size=0, max_size=60)
bodies = st.one_of(st.binary(max_size=2048), st.just(GOOD), st.builds(lambda b, k: GOOD[:k] + b,
                                                                       st.binary(max_size=64), st.integers(0, 200)))
fields = st.one_of(st.just(""), st.text(max_size=12), st.sampled_from(["0", "6", "-1", "inf", "1e400", "nan"]))


@fuzz(25)
@given(name=names, body=bodies, model=st.one_of(st.just("0"), st.text(max_size=8)), atten=fields,
       keep=st.sampled_from(["true", "false", "1", "0", "", "maybe"]))
def test_uploads(client, name, body, model, atten, keep):
    try:
        r = client.post("/api/enhance", files={"file": (name, body, "application/octet-stream")},
                        data={"model": model, "atten_lim_db": atten, "keep_rate": keep})
    except UnicodeEncodeError:  # the client cannot even encode such a name (lone surrogates)
        return
    check(r)
    if r.status_code == 200:
        dl = client.get(r.json()["audio_url"], params={"download": 1})
        check(dl)
        dl.headers["content-disposition"].encode("latin-1")
        assert dl.headers["content-disposition"].count("filename*=") == 1


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=80)


@fuzz(40)
@given(host=st.one_of(header_text, st.sampled_from(["127.0.0.1", "localhost:1", "[::1]:7860", "[::1", "a:b:c"])),
       ctype=st.one_of(header_text, st.just("multipart/form-data; boundary=x")),
       length=st.one_of(st.none(), header_text, st.integers(0, 2**40).map(str)),
       body=st.binary(max_size=512), path=st.sampled_from(["/api/enhance", "/api/models", "/", "/api/result/x/y"]))
def test_raw_requests(client, host, ctype, length, body, path):
    headers = {"host": host, "content-type": ctype}
    if length is not None:
        headers["content-length"] = length
    try:
        r = client.request("POST" if path == "/api/enhance" else "GET", path, content=body, headers=headers)
    except (UnicodeError, ValueError, TypeError):  # a header the client itself refuses to send
        return
    check(r, allowed=(200, 400, 404, 405, 413, 421, 422))
