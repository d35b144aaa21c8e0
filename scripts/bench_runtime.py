"""Torch-free runtime (ans.runtime) numbers for scripts/benchmark.py, also standalone:

    python scripts/bench_runtime.py [--quick]

- peak RSS (VmHWM) of a fresh process enhancing a 60 s and a 10 min file (target <= 150 MB, flat);
- offline RTF (1 thread) and its cost per 20 ms frame;
- streaming cost per hop (OnnxStreamingEnhancer.process of 960 samples) and the ratio to the
  offline cost per frame (target <= 2x: absolute times vary 3-8x between machines);
- live callback time p50/p99 (ans.live.LiveProcessor with 480-sample device blocks).
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
    from ans.live import LiveProcessor
    from ans.runtime.offline import OnnxEnhancer
    from ans.runtime.streaming import OnnxStreamingEnhancer

    x = _signal(10.0 if quick else 60.0)
    enh = OnnxEnhancer()
    enh.enhance_native(x[:SR])
    t = time.perf_counter()
    enh.enhance_native(x)
    offline_s = time.perf_counter() - t
    frames = x.size // 960 + 1
    s = OnnxStreamingEnhancer()
    for i in range(50):
        s.process(x[i * 960:(i + 1) * 960])
    hops = 300 if quick else 1500
    times = np.empty(hops)
    for i in range(hops):
        chunk = x[(i * 960) % (x.size - 960):][:960]
        t = time.perf_counter()
        s.process(chunk)
        times[i] = time.perf_counter() - t
    proc = LiveProcessor(OnnxStreamingEnhancer())
    buf_in, buf_out = np.zeros((480, 1), np.float32), np.zeros((480, 1), np.float32)
    for i in range(2 * hops):
        buf_in[:, 0] = x[(i * 480) % (x.size - 480):][:480]
        proc(buf_in, buf_out, 480)
    cb = np.asarray(proc.times_ms)
    off_ms = 1e3 * offline_s / frames
    return {"offline_rtf": offline_s / (x.size / SR), "offline_ms_per_frame": off_ms,
            "stream_ms_per_hop_mean": float(1e3 * times.mean()), "stream_ms_per_hop_p99": float(1e3 * np.percentile(times, 99)),
            "stream_over_offline": float(1e3 * times.mean() / off_ms),
            "live_callback_480_p50_ms": float(np.percentile(cb, 50)), "live_callback_480_p99_ms": float(np.percentile(cb, 99))}


def run(quick: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="ans-bench-rt-") as d:
        res = {"rss_60s": rss(60.0, Path(d))}
        if not quick:
            res["rss_600s"] = rss(600.0, Path(d))
    res.update(per_frame(quick))
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
    out.append(("runtime streaming per hop (1 thread)", f"mean {r['stream_ms_per_hop_mean']:.3f} ms, p99 "
                f"{r['stream_ms_per_hop_p99']:.3f} ms = {r['stream_over_offline']:.1f}x offline per frame",
                "<= 2x"))
    out.append(("live callback, 480-sample blocks", f"p50 {r['live_callback_480_p50_ms']:.3f} ms, p99 "
                f"{r['live_callback_480_p99_ms']:.3f} ms", "< 10 ms"))
    return out


if __name__ == "__main__":
    res = run("--quick" in sys.argv)
    for a, b, c in rows(res):
        print(f"{a:<45} {b:<70} {c}")
    print(json.dumps(res))
