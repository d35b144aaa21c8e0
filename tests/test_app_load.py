"""10 concurrent uploads against the real server (`python -m ans.app`): every one succeeds
with its own result (the latency and RSS numbers are `make bench`'s, scripts/bench_app.py)."""

from __future__ import annotations

import io
import sys
import urllib.request
from pathlib import Path

import pytest
import soundfile as sf
import torch

pytest.importorskip("fastapi")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from bench_app import Server, concurrent_uploads, make_wav  # noqa: E402

from ans.checkpoint import build_model, save_model  # noqa: E402
from ans.features import Normalizer  # noqa: E402

pytestmark = pytest.mark.timeout(300)


def test_ten_concurrent_uploads_all_succeed(tmp_path):
    torch.manual_seed(0)
    model = save_model(tmp_path / "student" / "model.pt", build_model("ans.models.student.DFSMN"), "student",
                       Normalizer())
    data = make_wav(1.0)
    with Server(model, log=tmp_path / "server.log") as url:
        results = concurrent_uploads(url, 10, data)
        assert [status for status, _, _ in results] == [200] * 10, [a for _, _, a in results]
        ids = {answer["id"] for _, _, answer in results}
        assert len(ids) == 10
        # the newest results are still held for playback (KEEP_RESULTS), each a full-length wav
        last = max(results, key=lambda r: r[1])[2]
        with urllib.request.urlopen(url + last["audio_url"], timeout=30) as r:
            y, sr = sf.read(io.BytesIO(r.read()))
        assert sr == 48000 and y.size == 48000
