"""Torch-free runtime (ans.runtime) numbers for scripts/benchmark.py, also standalone:

    python scripts/bench_runtime.py [--quick]

- peak RSS (VmHWM) of a fresh process enhancing a 60 s and a 10 min file (target <= 150 MB, flat);
- offline RTF (1 thread) and its cost per 20 ms frame;
- streaming cost per hop (OnnxStreamingEnhancer.process of 960 samples) and the ratio to the
  offline cost per frame (target <= 2x: absolute times vary 3-8x between machines), both timed
  on the same audio in interleaved rounds, the median ratio reported with its range;
- live callback time p50/p99 (ans.live.LiveProcessor with 480-sample device blocks);
- the weight-read floor of a hop: the model's matrix products alone (numpy, random weights of
  the bundled model's shapes), one frame at a time vs in blocks of 64 frames. One frame reads
  every weight (1.5 M floats, ~6 MB: more than L2) for one row; offline reads them once per
  block. The floor over the offline cost per frame bounds the streaming ratio from below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SR = 48_000
HOP = 960
RSS_SCRIPT = r"""
import json, sys, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from ans.runtime.offline import OnnxEnhancer
enh = OnnxEnhancer()
t = time.perf_counter()
enh.enhance_file(sys.argv[1], sys.argv[2], overwrite=True)
print(json.dumps({"peak_rss_mb": hwm(), "wall_s": time.perf_counter() - t, "torch_loaded": "torch" in sys.modules}))
"""


def _signal(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = (0.1 * rng.standard_normal(SR * 10)).astype(np.float32)
    return np.tile(base, int(np.ceil(seconds / 10)))[: int(seconds * SR)]


def rss(seconds: float, tmp: Path) -> dict:
    src = tmp / f"in{int(seconds)}.wav"
    sf.write(src, _signal(seconds), SR, subtype="PCM_16")
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(src), str(tmp / "out.wav")], capture_output=True,
                         text=True, env=env, timeout=900)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1]}
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["rtf"] = r["wall_s"] / seconds
    return r


def per_frame(quick: bool) -> dict:
    """Offline vs streaming on the same 10 s of audio, interleaved over several rounds (this box's
    speed drifts by tens of percent within minutes: timing both sides of the ratio in one round and
    taking the median ratio keeps the drift out of it). Offline: `enhance_native` of the 10 s (per
    frame); streaming: the same 10 s fed hop by hop (mean per hop)."""
    from ans.live import LiveProcessor
    from ans.runtime.offline import OnnxEnhancer
    from ans.runtime.streaming import OnnxStreamingEnhancer

    x = _signal(10.0)
    frames = x.size // HOP + 1
    enh, s = OnnxEnhancer(), OnnxStreamingEnhancer()
    enh.enhance_native(x[:SR])
    for i in range(50):
        s.process(x[i * HOP:(i + 1) * HOP])
    rounds = 3 if quick else 9
    off_ms, hop_ms, hops = np.empty(rounds), np.empty(rounds), []
    for r in range(rounds):
        t = time.perf_counter()
        enh.enhance_native(x)
        off_ms[r] = 1e3 * (time.perf_counter() - t) / frames
        times = np.empty(x.size // HOP)
        for i in range(times.size):
            chunk = x[i * HOP:(i + 1) * HOP]
            t = time.perf_counter()
            s.process(chunk)
            times[i] = time.perf_counter() - t
        hop_ms[r] = 1e3 * times.mean()
        hops.append(times)
    hop_all = 1e3 * np.concatenate(hops)
    proc = LiveProcessor(OnnxStreamingEnhancer())
    buf_in, buf_out = np.zeros((480, 1), np.float32), np.zeros((480, 1), np.float32)
    for i in range(600 if quick else 3000):
        buf_in[:, 0] = x[(i * 480) % (x.size - 480):][:480]
        proc(buf_in, buf_out, 480)
    cb = np.asarray(proc.times_ms)
    off = float(np.median(off_ms))
    return {"rounds": rounds, "offline_rtf": off * frames / 1e3 / (x.size / SR), "offline_ms_per_frame": off,
            "stream_ms_per_hop_mean": float(np.median(hop_ms)), "stream_ms_per_hop_p99": float(np.percentile(hop_all, 99)),
            "stream_over_offline": float(np.median(hop_ms / off_ms)),
            "stream_over_offline_range": [float((hop_ms / off_ms).min()), float((hop_ms / off_ms).max())],
            "live_callback_480_p50_ms": float(np.percentile(cb, 50)), "live_callback_480_p99_ms": float(np.percentile(cb, 99))}


def _median_s(fn, n: int) -> float:
    fn()
    t = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        fn()
        t[i] = time.perf_counter() - t0
    return float(np.median(t))


def weight_floor(quick: bool) -> dict:
    """The bundled student's chain of matrix products (ReLU between), per frame: one row at a
    time (streaming) and 64 rows at a time (offline blocks)."""
    from ans.runtime.model import OnnxModel

    kw = OnnxModel().meta["model_kwargs"]
    h = kw["hidden"]
    shapes = [(kw["input_dim"], h)] + [(h, h)] * (2 * kw["fsmn_depth"]) + [(h, kw["output_dim"])]
    rng = np.random.default_rng(0)
    weights = [(rng.standard_normal(s) / np.sqrt(s[0])).astype(np.float32) for s in shapes]

    def chain(x):
        for w in weights:
            x = np.maximum(x @ w, 0.0)
        return x

    one, block = rng.standard_normal((1, shapes[0][0]), np.float32), rng.standard_normal((64, shapes[0][0]), np.float32)
    n = 300 if quick else 2000
    return {"weights": int(sum(w.size for w in weights)), "ms_one_frame": 1e3 * _median_s(lambda: chain(one), n),
            "ms_per_frame_in_64": 1e3 * _median_s(lambda: chain(block), n // 4) / 64}


def run(quick: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="ans-bench-rt-") as d:
        res = {"rss_60s": rss(60.0, Path(d))}
        if not quick:
            res["rss_600s"] = rss(600.0, Path(d))
    res.update(per_frame(quick))
    res["weight_floor"] = weight_floor(quick)
    res["weight_floor"]["over_offline"] = res["weight_floor"]["ms_one_frame"] / res["offline_ms_per_frame"]
    return res


def rows(r: dict) -> list[tuple[str, str, str]]:
    out = []
    for key, label in (("rss_60s", "60 s"), ("rss_600s", "10 min")):
        if key in r and "peak_rss_mb" in r[key]:
            v = r[key]
            out.append((f"runtime (onnx) peak RSS enhancing {label}", f"{v['peak_rss_mb']:.0f} MB (RTF {v['rtf']:.4f}, "
                        f"torch loaded: {v['torch_loaded']})", "<= 150 MB, flat"))
    out.append(("runtime offline RTF / per frame (1 thread)",
                f"{r['offline_rtf']:.4f} / {r['offline_ms_per_frame']:.3f} ms", ""))
    lo, hi = r["stream_over_offline_range"]
    out.append(("runtime streaming per hop (1 thread)", f"mean {r['stream_ms_per_hop_mean']:.3f} ms, p99 "
                f"{r['stream_ms_per_hop_p99']:.3f} ms = {r['stream_over_offline']:.1f}x offline per frame "
                f"({lo:.1f}-{hi:.1f}x over {r['rounds']} rounds)", "<= 2x"))
    f = r["weight_floor"]
    out.append(("  floor: the weight reads alone per hop", f"{f['ms_one_frame']:.3f} ms = {f['over_offline']:.1f}x "
                f"offline per frame ({f['weights'] / 1e6:.2f} M weights; {f['ms_per_frame_in_64']:.3f} ms per "
                "frame in blocks of 64)", ""))
    out.append(("live callback, 480-sample blocks", f"p50 {r['live_callback_480_p50_ms']:.3f} ms, p99 "
                f"{r['live_callback_480_p99_ms']:.3f} ms", "< 10 ms"))
    return out


if __name__ == "__main__":
    res = run("--quick" in sys.argv)
    for a, b, c in rows(res):
        print(f"{a:<45} {b:<70} {c}")
    print(json.dumps(res))
