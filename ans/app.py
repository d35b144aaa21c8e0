"""Local web demo: upload or record a noisy file, pick a model, hear and see the result.

    python -m ans.app [--host 127.0.0.1] [--port 7860] [--models-dir DIR] [--model PATH ...]

Models offered: DIR/pretrained/*/model.pt, DIR/outputs/*/*/model.pt (DIR defaults to the
repository) and every --model. One plain HTML page (ans/static/index.html, no external
assets) talks to a small JSON API:
  GET  /api/models                     -> [{id, label, kind, streamable}]
  POST /api/enhance (file, model)      -> {id, duration_s, processing_s, rtf, audio_url, spectrogram_url, ...}
  GET  /api/result/{id}/enhanced.wav   -> 16-bit PCM wav at 48 kHz (same duration as the input)
  GET  /api/result/{id}/spectrogram.png
Bad uploads get HTTP 4xx with {"error": "<one line>"}; never a traceback.
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m ans.app", description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--models-dir", type=Path, default=None,
                    help="scan DIR/pretrained/*/model.pt and DIR/outputs/*/*/model.pt (default: the repository)")
    ap.add_argument("--model", type=Path, action="append", default=[], help="a model.pt to offer (repeatable)")
    return ap


if __name__ == "__main__":  # answer --help/bad usage before the heavy imports below (seconds)
    build_parser().parse_args()

import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response

from ans import SERVICE_MAX_BYTES
from ans.audio import SAMPLE_RATE, read_audio
from ans.enhance import DEFAULT_MODEL, REPO_ROOT, Enhancer, check_wav_complete
from ans.errors import AnsError

STATIC = Path(__file__).resolve().parent / "static"
MAX_BYTES = SERVICE_MAX_BYTES  # 10 MiB
KEEP_RESULTS = 4  # finished results held in memory for playback/download


class HTTPError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def find_models(models_dir: Path | None, extra: list[Path] = ()) -> list[Path]:
    found = [Path(p) for p in extra]
    if models_dir is not None:
        found += sorted(models_dir.glob("pretrained/*/model.pt")) + sorted(models_dir.glob("outputs/*/*/model.pt"))
    out, seen = [], set()
    for p in found:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            out.append(p)
    return out


def model_label(path: Path, root: Path | None) -> str:
    p = path.resolve()
    if root is not None and p.is_relative_to(root.resolve()):
        return str(p.parent.relative_to(root.resolve()))
    return "/".join(p.parts[-3:-1]) if p.name == "model.pt" else p.name  # full path: in the tooltip


def describe(path: Path) -> dict:
    from ans.checkpoint import load_payload

    try:
        p = load_payload(path)
    except AnsError:
        return {"kind": "unreadable", "streamable": False, "parameters": 0}
    return {"kind": p.get("kind", "?"), "streamable": p.get("kind") == "student",
            "parameters": int(p.get("parameters") or 0)}


def decode_upload(data: bytes, name: str) -> tuple[np.ndarray, int]:
    """Bytes of an uploaded file -> (channel 0 as float32, rate). libsndfile reads wav/flac/ogg
    (Vorbis, Opus)/mp3; anything else (a browser recording in webm, m4a, ...) goes through the
    ffmpeg binary of imageio-ffmpeg; if that fails too, the libsndfile error is reported."""
    if not data:
        raise AnsError("empty upload (0 bytes)", name)
    check_wav_complete(data[:1 << 16], len(data), name)
    try:
        return read_audio(data, name=name)
    except AnsError as e:  # libsndfile names the BytesIO object: keep only its reason
        first = AnsError(re.sub(r"Error opening <[^>]*>: ?", "", str(e).removeprefix(f"{name}: ")), name)
        try:
            import imageio_ffmpeg

            exe = imageio_ffmpeg.get_ffmpeg_exe()
        except (ImportError, RuntimeError):
            raise first from None
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in", Path(tmp) / "out.wav"
            src.write_bytes(data)
            try:
                run = subprocess.run([exe, "-nostdin", "-loglevel", "error", "-i", str(src), "-map", "0:a:0",
                                      "-c:a", "pcm_f32le", str(dst)], capture_output=True, timeout=120)
            except subprocess.TimeoutExpired:
                raise first from None
            if run.returncode != 0 or not dst.is_file():
                raise first from None
            return read_audio(dst, name=name)


def spectrogram_db(x: np.ndarray, sr: int, max_cols: int = 1200) -> tuple[np.ndarray, float]:
    """Magnitude spectrogram in dB (freq, time) with a ~21 ms Hann window; at most max_cols frames."""
    n_fft = 1 << int(np.ceil(np.log2(sr * 0.021)))
    hop = max(n_fft // 4, int(np.ceil(max(len(x) - n_fft, 1) / max_cols)))
    x = np.pad(x, (0, max(0, n_fft - len(x))))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    spec = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2
    return 10 * np.log10(spec.T + 1e-10), len(x) / sr


def spectrogram_png(noisy: np.ndarray, sr: int, enhanced: np.ndarray) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    panels = [("Noisy", *spectrogram_db(noisy, sr), sr), ("Enhanced", *spectrogram_db(enhanced, SAMPLE_RATE),
                                                          SAMPLE_RATE)]
    vmax = max(float(s.max()) for _, s, _, _ in panels)
    fig = Figure(figsize=(11, 3.4), dpi=100, layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (title, spec, dur, rate) in zip(axes, panels):
        im = ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=vmax - 90, vmax=vmax,
                       extent=(0, dur, 0, rate / 2000), interpolation="nearest")
        ax.set_title(f"{title} ({rate / 1000:g} kHz)", fontsize=11)
        ax.set_xlabel("time (s)")
        ax.set_ylim(0, SAMPLE_RATE / 2000)
        ax.set_facecolor(im.cmap(0))  # above a low-rate input's Nyquist: no content
    axes[0].set_ylabel("frequency (kHz)")
    fig.colorbar(im, ax=axes, label="dB", pad=0.01, aspect=30)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def wav_bytes(y: np.ndarray) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(y, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def create_app(models: list[Path], root: Path | None = REPO_ROOT, max_bytes: int = MAX_BYTES) -> FastAPI:
    app = FastAPI(title="ans demo", docs_url=None, redoc_url=None, openapi_url=None)
    catalog = {str(i): (Path(p), model_label(Path(p), root), describe(Path(p))) for i, p in enumerate(models)}
    enhancers: dict[str, Enhancer] = {}
    results: OrderedDict[str, dict] = OrderedDict()
    lock = threading.Lock()  # one enhancement at a time: the demo should not starve the machine

    @app.exception_handler(HTTPError)
    def _http_error(_req: Request, e: HTTPError):
        return JSONResponse({"error": str(e)}, status_code=e.status)

    @app.exception_handler(AnsError)
    def _ans_error(_req: Request, e: AnsError):
        return JSONResponse({"error": str(e)}, status_code=400)

    @app.exception_handler(Exception)
    def _crash(_req: Request, e: Exception):
        return JSONResponse({"error": f"internal error ({type(e).__name__})"}, status_code=500)

    def enhancer(model_id: str) -> Enhancer:
        if model_id not in catalog:
            raise HTTPError(404, f"unknown model {model_id!r} (reload the page)")
        if model_id not in enhancers:
            enh = Enhancer.from_checkpoint(catalog[model_id][0])
            enh.enhance(np.random.default_rng(0).normal(0, 0.01, SAMPLE_RATE // 2), SAMPLE_RATE)  # warm-up
            enhancers[model_id] = enh
        return enhancers[model_id]

    @app.get("/")
    def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.middleware("http")
    async def _refuse_huge(request: Request, call_next):  # before the body is read at all
        if int(request.headers.get("content-length") or 0) > max_bytes + (1 << 16):
            return JSONResponse({"error": f"upload is over the {max_bytes / 2**20:g} MB limit"}, status_code=413)
        return await call_next(request)

    @app.get("/api/models")
    def list_models():
        return {"models": [{"id": mid, "label": label, "path": str(path), **info}
                           for mid, (path, label, info) in catalog.items()], "max_bytes": max_bytes}

    @app.post("/api/enhance")
    def enhance(file: UploadFile = File(...), model: str = Form("0")):
        name = Path(file.filename or "upload").name
        data = file.file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise HTTPError(413, f"{name}: file is over the {max_bytes / 2**20:g} MB limit")
        with lock:
            enh = enhancer(model)
            x, sr = decode_upload(data, name)
            t0 = time.perf_counter()
            y = enh.enhance(x, sr, name=name)
            elapsed = time.perf_counter() - t0
            png = spectrogram_png(x, sr, y)
            rid = uuid.uuid4().hex[:12]
            results[rid] = {"wav": wav_bytes(y), "png": png, "filename": f"{Path(name).stem}_enhanced.wav"}
            while len(results) > KEEP_RESULTS:
                results.popitem(last=False)
        duration = len(x) / sr
        return {"id": rid, "model": catalog[model][1], "kind": enh.kind, "streamable": enh.streamable,
                "input_rate": sr, "input_samples": int(len(x)), "duration_s": round(duration, 4),
                "output_samples": int(len(y)), "processing_s": round(elapsed, 4),
                "rtf": round(elapsed / duration, 4) if duration else None,
                "audio_url": f"/api/result/{rid}/enhanced.wav", "download_name": results[rid]["filename"],
                "spectrogram_url": f"/api/result/{rid}/spectrogram.png"}

    def result(rid: str) -> dict:
        if rid not in results:
            raise HTTPError(404, "result expired (enhance the file again)")
        return results[rid]

    @app.get("/api/result/{rid}/enhanced.wav")
    def result_wav(rid: str, download: bool = False):
        r = result(rid)
        disp = "attachment" if download else "inline"
        return Response(r["wav"], media_type="audio/wav",
                        headers={"Content-Disposition": f'{disp}; filename="{r["filename"]}"'})

    @app.get("/api/result/{rid}/spectrogram.png")
    def result_png(rid: str):
        return Response(result(rid)["png"], media_type="image/png")

    return app


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    for p in args.model:
        if not p.is_file():
            ap.error(f"--model {p}: no such file")
    from ans.paths import project_root

    args.models_dir = args.models_dir or project_root()
    models = find_models(args.models_dir if args.models_dir.is_dir() else None, args.model)
    if not models and DEFAULT_MODEL.is_file():  # an installed wheel: the shipped student
        models = [DEFAULT_MODEL]
    if not models:
        print("warning: no models found (pass --model PATH or train one with `python -m ans.train student`)")
    import uvicorn

    print(f"ans demo: {len(models)} model(s); open http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(create_app(models, root=args.models_dir), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
