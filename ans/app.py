"""Local web demo: upload or record a noisy file, pick a model, hear and see the result.

    python -m ans.app [--host 127.0.0.1] [--port 7860] [--models-dir DIR] [--model PATH ...]
                      [--allow-host NAME ...] [--max-seconds S]

Models offered: DIR/pretrained/*/model.pt, DIR/outputs/*/*/model.pt (DIR defaults to the
repository) and every --model. One plain HTML page (ans/static/index.html, no external
assets) talks to a small JSON API:
  GET  /api/models                     -> [{id, label, kind, streamable}]
  POST /api/enhance (file, model[, atten_lim_db][, keep_rate])
                                       -> {id, duration_s, processing_s, rtf, audio_url, spectrogram_url, ...}
  GET  /api/result/{id}/enhanced.wav   -> 16-bit PCM wav at 48 kHz, or at the input's rate with
                                          keep_rate (same duration as the input)
  GET  /api/result/{id}/spectrogram.png
`atten_lim_db` and `keep_rate` are the CLI's --atten-lim-db / --keep-rate (ans.enhance).
Every error (bad upload, malformed form, unknown route) is HTTP 4xx/5xx with
{"error": "<one line>"}; never a traceback. Uploads are capped in bytes and in duration (read
from the file's header before decoding, so a small file of hours is refused at once). Only
requests whose Host is this machine (localhost, 127.0.0.1, [::1]), the bound host or an
--allow-host name are served (DNS rebinding); responses carry CSP, nosniff and no-framing headers.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import ipaddress
import re
import subprocess
import tempfile
import threading
import time
import urllib.parse
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
    ap.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                    help="also serve requests for this Host name (repeatable; default: this machine only)")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="longest upload accepted, in seconds of audio (default 300)")
    return ap


if __name__ == "__main__":  # answer --help/bad usage before the heavy imports below (seconds)
    build_parser().parse_args()

import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ans import SERVICE_MAX_BYTES
from ans.audio import pcm16_bytes, read_audio
from ans.enhance import DEFAULT_MODEL, REPO_ROOT, Enhancer, check_wav_complete
from ans.errors import AnsError

STATIC = Path(__file__).resolve().parent / "static"
MAX_BYTES = SERVICE_MAX_BYTES  # 10 MiB
MAX_SECONDS = 300.0  # decoded length cap: 10 MB of FLAC/Opus can hold hours (GBs once decoded)
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
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
    from ans.model import MaskEstimator

    try:
        est = MaskEstimator.load(path)
    except AnsError:
        return {"kind": "unreadable", "streamable": False, "parameters": 0}
    return {"kind": est.kind, "streamable": est.streamable,  # the model's answer (a look-ahead student: no)
            "parameters": int(sum(p.numel() for p in est.net.parameters()))}


def check_length(data: bytes, name: str, max_seconds: float) -> int | None:
    """Refuse an upload whose header declares more than max_seconds of audio, before decoding.

    Returns the most frames to decode (libsndfile formats), None when libsndfile cannot read the
    header (a browser recording: ffmpeg's decode is cut at max_seconds instead)."""
    import soundfile as sf

    if not data:
        raise AnsError("empty upload (0 bytes)", name)
    check_wav_complete(data[:1 << 16], len(data), name)
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError):
        return None
    if info.samplerate <= 0:
        return None
    if info.frames > max_seconds * info.samplerate:
        raise too_long(name, info.frames / info.samplerate, max_seconds)
    return int(max_seconds * info.samplerate) + 1  # a header that under-declares still stops here


def too_long(name: str, seconds: float | None, max_seconds: float) -> HTTPError:
    what = f"{seconds:.0f} s of audio" if seconds is not None else "the audio"
    return HTTPError(413, f"{name}: {what} is over the {max_seconds:g} s limit")


def decode_upload(data: bytes, name: str, max_seconds: float = MAX_SECONDS) -> tuple[np.ndarray, int]:
    """Bytes of an uploaded file -> (channel 0 as float32, rate), at most max_seconds long.
    libsndfile reads wav/flac/ogg (Vorbis, Opus)/mp3; anything else (a browser recording in
    webm, m4a, ...) goes through the ffmpeg binary of imageio-ffmpeg; if that fails too, the
    libsndfile error is reported."""
    frames = check_length(data, name, max_seconds)
    try:
        x, sr = read_audio(data, frames=-1 if frames is None else frames, name=name)
    except AnsError as e:  # libsndfile names the BytesIO object: keep only its reason
        first = AnsError(re.sub(r"Error opening <[^>]*>: ?", "", str(e).removeprefix(f"{name}: ")), name)
        x, sr = decode_with_ffmpeg(data, name, max_seconds, first)
    if x.size > max_seconds * sr:
        raise too_long(name, None, max_seconds)
    return x, sr


def decode_with_ffmpeg(data: bytes, name: str, max_seconds: float, first: AnsError) -> tuple[np.ndarray, int]:
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        raise first from None
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in", Path(tmp) / "out.wav"
        src.write_bytes(data)
        try:  # -t: decode at most a little over the cap, whatever the container claims
            run = subprocess.run([exe, "-nostdin", "-loglevel", "error", "-i", str(src), "-map", "0:a:0",
                                  "-t", f"{max_seconds + 1:g}", "-c:a", "pcm_f32le", str(dst)],
                                 capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            raise first from None
        if run.returncode != 0 or not dst.is_file():
            raise first from None
        return read_audio(dst, name=name)


def content_disposition(kind: str, filename: str) -> str:
    """RFC 6266 header: an ASCII fallback plus the exact name RFC 5987-encoded, so any
    character (non-Latin-1, quotes, semicolons) is data, never header syntax."""
    fallback = re.sub(r"[^A-Za-z0-9 ._()+,-]", "_", filename) or "enhanced.wav"  # plain ASCII: no syntax
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"


def host_allowed(host_header: str | None, allowed: frozenset[str], any_ip: bool) -> bool:
    """Host header (name[:port], [v6][:port]) against the allow-list; any IP literal when the
    server listens on all interfaces (rebinding needs a DNS name, never an IP)."""
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.rstrip(".")
    if host in allowed:
        return True
    if any_ip:
        try:
            ipaddress.ip_address(host)
            return True
        except ValueError:
            return False
    return False


def csp_header(page: str) -> str:
    """Content-Security-Policy for the one page: its inline script by hash, nothing external."""
    hashes = " ".join("'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
                      for m in re.findall(r"<script>(.*?)</script>", page, flags=re.S))
    return (f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; connect-src 'self'; "
            "img-src 'self'; media-src 'self' blob:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


def spectrogram_db(x: np.ndarray, sr: int, max_cols: int = 1200) -> tuple[np.ndarray, float]:
    """Magnitude spectrogram in dB (freq, time) with a ~21 ms Hann window; at most max_cols frames."""
    n_fft = 1 << int(np.ceil(np.log2(sr * 0.021)))
    hop = max(n_fft // 4, int(np.ceil(max(len(x) - n_fft, 1) / max_cols)))
    x = np.pad(x, (0, max(0, n_fft - len(x))))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    spec = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2
    return 10 * np.log10(spec.T + 1e-10), len(x) / sr


def spectrogram_png(noisy: np.ndarray, sr: int, enhanced: np.ndarray, out_sr: int) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    panels = [("Noisy", *spectrogram_db(noisy, sr), sr), ("Enhanced", *spectrogram_db(enhanced, out_sr), out_sr)]
    vmax = max(float(s.max()) for _, s, _, _ in panels)
    fig = Figure(figsize=(11, 3.4), dpi=100, layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (title, spec, dur, rate) in zip(axes, panels):
        im = ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=vmax - 90, vmax=vmax,
                       extent=(0, dur, 0, rate / 2000), interpolation="nearest")
        ax.set_title(f"{title} ({rate / 1000:g} kHz)", fontsize=11)
        ax.set_xlabel("time (s)")
        ax.set_ylim(0, max(sr, out_sr) / 2000)
        ax.set_facecolor(im.cmap(0))  # above a low-rate input's Nyquist: no content
    axes[0].set_ylabel("frequency (kHz)")
    fig.colorbar(im, ax=axes, label="dB", pad=0.01, aspect=30)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def parse_atten(value: str) -> float | None:
    """The form's atten_lim_db: empty = no limit (as the CLI without --atten-lim-db)."""
    from ans.runtime.model import atten_floor

    if not value.strip():
        return None
    try:
        db = float(value)
    except ValueError:
        raise AnsError(f"atten_lim_db must be a number of dB, got {value[:40]!r}") from None
    atten_floor(db)  # the CLI's check: >= 0, not NaN
    return None if db == float("inf") else db  # inf = no limit (and JSON has no inf)


def create_app(models: list[Path], root: Path | None = REPO_ROOT, max_bytes: int = MAX_BYTES,
               max_seconds: float = MAX_SECONDS, host: str = "127.0.0.1",
               allow_hosts: tuple[str, ...] = ()) -> FastAPI:
    app = FastAPI(title="ans demo", docs_url=None, redoc_url=None, openapi_url=None)
    catalog = {str(i): (Path(p), model_label(Path(p), root), describe(Path(p))) for i, p in enumerate(models)}
    enhancers: dict[str, Enhancer] = {}
    results: OrderedDict[str, dict] = OrderedDict()
    lock = threading.Lock()  # one enhancement at a time: the demo should not starve the machine
    wildcard = host in ("0.0.0.0", "::", "")
    allowed = LOCAL_HOSTS | {h.strip("[]").lower() for h in (host, *allow_hosts) if h and h not in ("0.0.0.0", "::")}
    security = {"Content-Security-Policy": csp_header((STATIC / "index.html").read_text(encoding="utf-8")),
                "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                "Cross-Origin-Resource-Policy": "same-origin"}

    @app.exception_handler(HTTPError)
    def _http_error(_req: Request, e: HTTPError):
        return JSONResponse({"error": str(e)}, status_code=e.status)

    @app.exception_handler(AnsError)
    def _ans_error(_req: Request, e: AnsError):
        return JSONResponse({"error": str(e)}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    def _starlette_error(_req: Request, e: StarletteHTTPException):  # 404/405, unparsable multipart
        msg = " ".join(str(e.detail).split()) if isinstance(e.detail, str) else f"HTTP {e.status_code}"
        return JSONResponse({"error": msg}, status_code=e.status_code)

    @app.exception_handler(RequestValidationError)
    def _invalid(_req: Request, e: RequestValidationError):  # a missing or mistyped form field
        first = e.errors()[0] if e.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return JSONResponse({"error": f"{field}: {first.get('msg', 'invalid')} "
                                      "(POST multipart/form-data with file=<audio> and model=<id>)"},
                            status_code=422)

    @app.exception_handler(Exception)
    def _crash(_req: Request, e: Exception):
        # Starlette answers a crash outside the http middleware: the headers must ride along here
        return JSONResponse({"error": f"internal error ({type(e).__name__})"}, status_code=500, headers=security)

    def enhancer(model_id: str, atten_lim_db: float | None) -> Enhancer:
        if model_id not in catalog:
            raise HTTPError(404, f"unknown model {model_id!r} (reload the page)")
        if model_id not in enhancers:
            enh = Enhancer.from_checkpoint(catalog[model_id][0])
            enh.enhance(np.random.default_rng(0).normal(0, 0.01, enh.sample_rate // 2), enh.sample_rate)  # warm-up
            enhancers[model_id] = enh
        enh = enhancers[model_id]
        if atten_lim_db is None:
            return enh
        # the same weights with the CLI's mask floor: no second copy of the model is loaded
        return Enhancer(enh.estimator, atten_lim_db=atten_lim_db, device=enh.device)

    @app.get("/")
    def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.middleware("http")
    async def _guard(request: Request, call_next):
        if not host_allowed(request.headers.get("host"), allowed, wildcard):
            # DNS rebinding: a page on evil.example resolving to 127.0.0.1 still sends its own Host
            response = JSONResponse({"error": "unknown Host header (start the server with --allow-host NAME "
                                              "to serve that name)"}, status_code=421)
        elif not (request.headers.get("content-length") or "0").isdigit():
            response = JSONResponse({"error": "bad Content-Length header"}, status_code=400)
        elif int(request.headers.get("content-length") or 0) > max_bytes + (1 << 16):  # before reading the body
            response = JSONResponse({"error": f"upload is over the {max_bytes / 2**20:g} MB limit"}, status_code=413)
        else:
            response = await call_next(request)
        response.headers.update(security)
        return response

    @app.get("/api/models")
    def list_models():  # labels only: the server's file system layout is nobody's business
        return {"models": [{"id": mid, "label": label, **info} for mid, (_path, label, info) in catalog.items()],
                "max_bytes": max_bytes, "max_seconds": max_seconds}

    @app.post("/api/enhance")
    def enhance(file: UploadFile = File(...), model: str = Form("0"), atten_lim_db: str = Form(""),
                keep_rate: bool = Form(False)):
        name = " ".join(Path(file.filename or "upload").name.split()) or "upload"
        atten = parse_atten(atten_lim_db)
        data = file.file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise HTTPError(413, f"{name}: file is over the {max_bytes / 2**20:g} MB limit")
        check_length(data, name, max_seconds)  # before waiting for the lock: a long file is refused at once
        with lock:
            enh = enhancer(model, atten)
            x, sr = decode_upload(data, name, max_seconds)
            t0 = time.perf_counter()
            y = enh.enhance(x, sr, name=name, keep_rate=keep_rate)
            elapsed = time.perf_counter() - t0
            out_sr = sr if keep_rate else enh.sample_rate
            png = spectrogram_png(x, sr, y, out_sr)
            rid = uuid.uuid4().hex[:12]
            results[rid] = {"wav": pcm16_bytes(y, out_sr), "png": png, "filename": f"{Path(name).stem}_enhanced.wav"}
            while len(results) > KEEP_RESULTS:
                results.popitem(last=False)
        duration = len(x) / sr
        return {"id": rid, "model": catalog[model][1], "kind": enh.kind, "streamable": enh.streamable,
                "input_rate": sr, "input_samples": int(len(x)), "duration_s": round(duration, 4),
                "output_rate": out_sr, "output_samples": int(len(y)), "atten_lim_db": atten,
                "keep_rate": keep_rate, "processing_s": round(elapsed, 4),
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
        return Response(r["wav"], media_type="audio/wav", headers={
            "Content-Disposition": content_disposition("attachment" if download else "inline", r["filename"])})

    @app.get("/api/result/{rid}/spectrogram.png")
    def result_png(rid: str):
        return Response(result(rid)["png"], media_type="image/png")

    return app


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.max_seconds is not None and not args.max_seconds > 0:
        ap.error(f"--max-seconds must be > 0, got {args.max_seconds}")
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
    app = create_app(models, root=args.models_dir, max_seconds=args.max_seconds or MAX_SECONDS, host=args.host,
                     allow_hosts=tuple(args.allow_host))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
