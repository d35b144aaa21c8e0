"""Load test of the web demo for scripts/benchmark.py, also standalone:

    python scripts/bench_app.py [--quick] [--model PATH]

Starts the real server (`python -m ans.app` on 127.0.0.1, a free port) and sends N uploads
at once (default 10, each a 10 s 16 kHz WAV; --quick: 3 s), then reports the per-request
latency (p50, max; the app enhances one file at a time, so the last waits for the others),
the throughput and the server's peak RSS (VmHWM of its /proc status).
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_wav(seconds: float, sr: int = 16000, seed: int = 0) -> bytes:
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.random.default_rng(seed).standard_normal(t.size)
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


class Server:
    """`python -m ans.app` in a child process; `with Server(model) as url: ...`."""

    def __init__(self, model: Path, log: Path | None = None):
        self.model, self.log, self.proc = Path(model), log, None

    def __enter__(self) -> str:
        port = free_port()
        out = self.log.open("wb") if self.log else subprocess.DEVNULL
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen([sys.executable, "-m", "ans.app", "--port", str(port), "--models-dir",
                                      str(self.model.parent / "none"), "--model", str(self.model)],
                                     cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(self.url + "/api/models", timeout=2).read()
                return self.url
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"ans.app did not start (exit code {self.proc.returncode})") from None
                time.sleep(0.2)

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def upload(url: str, data: bytes, name: str = "load.wav") -> tuple[int, float, dict]:
    """POST one multipart upload; (status, seconds, JSON answer)."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n0\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(url + "/api/enhance", data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            status, answer = r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        status, answer = e.code, json.loads(e.read() or b"{}")
    return status, time.perf_counter() - t0, answer


def concurrent_uploads(url: str, n: int, data: bytes) -> list[tuple[int, float, dict]]:
    with ThreadPoolExecutor(n) as ex:
        return list(ex.map(lambda i: upload(url, data, f"load{i}.wav"), range(n)))


def run(quick: bool = False, model: Path | None = None, n: int = 10) -> dict:
    model = Path(model) if model else REPO / "pretrained" / "student" / "model.pt"
    seconds = 3.0 if quick else 10.0
    data = make_wav(seconds)
    server = Server(model)
    with server as url:
        upload(url, data)  # warm-up: the model loads on the first request
        t0 = time.perf_counter()
        res = concurrent_uploads(url, n, data)
        wall = time.perf_counter() - t0
        rss = server.peak_rss_mb()
    lat = np.array([s for _, s, _ in res])
    ok = sum(st == 200 for st, _, _ in res)
    return {"uploads": n, "ok": ok, "file_seconds": seconds, "latency_p50_s": float(np.percentile(lat, 50)),
            "latency_max_s": float(lat.max()), "wall_s": wall, "audio_s_per_s": n * seconds / wall,
            "server_peak_rss_mb": rss, "model": os.path.relpath(model, REPO) if model.is_relative_to(REPO) else model.name}


def rows(r: dict) -> list[tuple[str, str, str]]:
    return [(f"web demo: {r['uploads']} concurrent uploads of {r['file_seconds']:g} s",
             f"{r['ok']}/{r['uploads']} ok, latency p50 {r['latency_p50_s']:.2f} s, max {r['latency_max_s']:.2f} s, "
             f"{r['audio_s_per_s']:.0f} s audio/s, server peak RSS {r['server_peak_rss_mb']:.0f} MB", "all ok")]


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--model", type=Path, default=None)
    args = ap.parse_args()
    res = run(args.quick, args.model)
    for a, b, c in rows(res):
        print(f"{a:<45} {b:<90} {c}")
    print(json.dumps(res))
