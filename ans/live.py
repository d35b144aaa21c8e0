"""Live noise suppression: microphone -> streaming student -> output device (PortAudio).

    python -m ans.live [--input DEV] [--output DEV] [--atten-lim-db DB] [--model DIR] [--blocksize N]
                       [--rate HZ]
    python -m ans.live --list-devices

Runs the torch-free streaming runtime (ans.runtime) inside the PortAudio callback of a duplex
stream at the model's rate (48 kHz: 40 ms algorithmic latency plus the device buffers), or at
`--rate` for devices that lack it (soxr in and out: 44.1 kHz adds 40 ms, docs/signal_path.md). Prints, once a second,
the callbacks so far, xruns reported by PortAudio and callbacks that took longer than their
own audio (late). To use it as a microphone in other apps, route the output to a virtual
source (README: PipeWire `pw-loopback` / PulseAudio null sink).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="ans-live", description=__doc__.split("\n\n")[0])
    ap.add_argument("--list-devices", action="store_true", help="print the audio devices and exit")
    ap.add_argument("--input", default=None, help="input device (index or name substring; default: system)")
    ap.add_argument("--output", default=None, help="output device (index or name substring; default: system)")
    ap.add_argument("--atten-lim-db", type=float, default=None, help="at most this much attenuation (dB)")
    ap.add_argument("--model", default=None, help="an `ans-export` folder (default: the bundled student)")
    ap.add_argument("--blocksize", type=int, default=0, help="device block in samples (0: PortAudio's choice)")
    ap.add_argument("--rate", type=int, default=None, help="device rate in Hz (default: the model's)")
    ap.add_argument("--seconds", type=float, default=None, help="stop after this long (default: Ctrl-C)")
    return ap


class LiveProcessor:
    """The PortAudio callback as a plain object: any block size in, as many samples out, and
    counters. `stream` is anything with `process(chunk) -> same-length chunk` (the streaming
    runtime); tests drive `__call__` with a fake stream."""

    def __init__(self, stream, sample_rate: int | None = None):
        from ans.signal_spec import REFERENCE

        # default: the model's rate (a plain `process` object: the reference's)
        self.stream, self.sr = stream, int(sample_rate or getattr(stream, "sample_rate", REFERENCE.sample_rate))
        self.callbacks = self.xruns = self.late = 0
        self.times_ms: list[float] = []

    def __call__(self, indata: np.ndarray, outdata: np.ndarray, frames: int, time_info=None, status=None) -> None:
        t0 = time.perf_counter()
        if status:  # input overflow / output underflow reported by PortAudio
            self.xruns += 1
        try:
            outdata[:, 0] = self.stream.process(indata[:frames, 0])
        except Exception:  # never let an exception kill the audio thread: output silence
            outdata.fill(0)
            raise
        if outdata.shape[1] > 1:
            outdata[:, 1:] = outdata[:, :1]
        ms = 1e3 * (time.perf_counter() - t0)
        self.callbacks += 1
        self.times_ms.append(ms)
        if ms > 1e3 * frames / self.sr:
            self.late += 1

    def summary(self) -> str:
        t = np.asarray(self.times_ms[-1000:]) if self.times_ms else np.zeros(1)
        return (f"callbacks {self.callbacks}  xruns {self.xruns}  late {self.late}  "
                f"callback p50 {np.percentile(t, 50):.2f} ms p99 {np.percentile(t, 99):.2f} ms")


def _sounddevice():
    try:
        import sounddevice as sd
    except ImportError:
        raise SystemExit("ans-live: sounddevice is not installed (pip install 'ans[live]')") from None
    except OSError as e:
        raise SystemExit(f"ans-live: PortAudio not found ({e}); install it, e.g. "
                         "`apt install libportaudio2`") from None
    return sd


def _device(arg):
    return int(arg) if arg is not None and arg.isdigit() else arg


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sd = _sounddevice()
    if args.list_devices:
        print(sd.query_devices())
        return 0
    from ans.errors import AnsError
    from ans.runtime.streaming import OnnxStreamingEnhancer

    try:
        stream = OnnxStreamingEnhancer(args.model, atten_lim_db=args.atten_lim_db)
        if args.rate:
            stream = stream.at_rate(args.rate)
        proc = LiveProcessor(stream)
    except AnsError as e:
        print(f"ans-live: {e}", file=sys.stderr)
        return 1
    try:
        stream = sd.Stream(samplerate=proc.sr, blocksize=args.blocksize, channels=1, dtype="float32",
                           device=(_device(args.input), _device(args.output)), callback=proc)
    except Exception as e:  # PortAudioError, ValueError for an unknown device or rate
        print(f"ans-live: cannot open the audio devices at {proc.sr} Hz ({str(e).splitlines()[0]})", file=sys.stderr)
        return 1
    start = time.monotonic()
    with stream:
        print(f"ans-live: {stream.device} at {proc.sr} Hz (+{1e3 * proc.stream.latency_samples / proc.sr:.0f} ms), latency in/out {stream.latency}; Ctrl-C stops", flush=True)
        try:
            while args.seconds is None or time.monotonic() - start < args.seconds:
                time.sleep(1.0)
                print("\r" + proc.summary(), end="", flush=True)
        except KeyboardInterrupt:
            pass
    print("\n" + proc.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
