"""`SignalSpec`: the one home of the signal path's framing (docs/signal_path.md). Torch-free.

Every model is trained with one spec and carries it (model.pt `features`, export.json
`features`); features, STFT, latency, frame counts, loss band limits, the simulator's
output rate and metric resampling are all derived from it. The framing rule: the waveform
gets one hop of zeros in front and enough behind that every real sample lies in exactly two
frames (frame = 2 x hop), so frame t covers input samples [hop(t-1), hop(t+1)),
`num_frames(n) = ceil(n / hop) + 1`, and a streaming enhancer has a fixed delay of one frame.

The field names are the keys of the `features` dict that "ans-model/1" files already store.
Built from the Hydra `features` group (configs/features/*.yaml: `spec:`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ans.errors import AnsError


@dataclass(frozen=True)
class SignalSpec:
    sample_rate: int  # Hz; the model's input and output rate
    frame: int  # analysis window = STFT size (samples)
    hop: int  # frame shift (samples); frame == 2 * hop
    n_mels: int  # Kaldi log-mel bins (model input size)
    fft_fbank: int  # fbank FFT size (Kaldi rounds the window up to a power of two)
    low_freq: float  # mel filterbank edges (Hz)
    high_freq: float
    preemphasis: float = 0.97
    input_scale: float = 32768.0  # [-1, 1] audio is scaled to int16 range before the fbank (Kaldi)

    def __post_init__(self):
        problem = self.problem()
        if problem:
            raise ValueError(f"invalid signal spec: {problem}")

    def problem(self) -> str | None:
        ints = {"sample_rate": self.sample_rate, "frame": self.frame, "hop": self.hop,
                "n_mels": self.n_mels, "fft_fbank": self.fft_fbank}
        for k, v in ints.items():
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                return f"{k} must be a positive integer, got {v!r}"
        if self.frame != 2 * self.hop:
            return f"frame ({self.frame}) must be twice the hop ({self.hop})"
        if self.fft_fbank < self.frame or self.fft_fbank & (self.fft_fbank - 1):
            return f"fft_fbank ({self.fft_fbank}) must be a power of two >= frame ({self.frame})"
        if not 0.0 <= self.low_freq < self.high_freq <= self.sample_rate / 2:
            return (f"need 0 <= low_freq < high_freq <= sample_rate / 2, got {self.low_freq}, "
                    f"{self.high_freq} at {self.sample_rate} Hz")
        if not 0.0 <= self.preemphasis < 1.0 or not self.input_scale > 0:
            return "preemphasis must be in [0, 1) and input_scale > 0"
        return None

    # -- derived ------------------------------------------------------------------------
    @property
    def n_fft(self) -> int:
        """STFT size of the spectrum the mask multiplies (= frame)."""
        return self.frame

    @property
    def n_bins(self) -> int:
        """STFT bins the mask multiplies."""
        return self.frame // 2 + 1

    @property
    def nyquist(self) -> float:
        return self.sample_rate / 2

    def ms(self, samples: int) -> float:
        return 1000.0 * samples / self.sample_rate

    def num_frames(self, n_samples: int) -> int:
        """Frames produced for an n-sample input (0 for empty input)."""
        return 0 if n_samples <= 0 else math.ceil(n_samples / self.hop) + 1

    def padding(self, n_samples: int) -> tuple[int, int]:
        """(front, back) zeros that make frames cover every sample exactly twice."""
        total = self.hop * (self.num_frames(n_samples) + 1)
        return self.hop, total - self.hop - n_samples

    def latency_samples(self, lookahead_frames: int = 0) -> int:
        """Algorithmic delay of frame-by-frame processing: one frame plus any look-ahead hops."""
        return self.frame + int(lookahead_frames) * self.hop

    def samples_at(self, n: int, sr: int) -> int:
        """Samples at this rate for n samples at sr (same duration, rounded half up: soxr's length)."""
        from ans.runtime.resample import output_length

        return output_length(n, int(sr), self.sample_rate)

    # -- storage ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The model.pt / export.json `features` dict (n_bins included for readers)."""
        return {**dataclasses.asdict(self), "n_bins": self.n_bins}

    @classmethod
    def from_dict(cls, d, label: object = None) -> SignalSpec:
        """From a stored `features` dict (or a Hydra node); AnsError naming `label` if invalid."""
        if isinstance(d, SignalSpec):
            return d
        if not hasattr(d, "keys"):
            raise AnsError(f"malformed signal spec (expected a dict, got {type(d).__name__})", label)
        d = {k: d[k] for k in d.keys() if k != "_target_"}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names - {"n_bins"})
        missing = sorted(f.name for f in dataclasses.fields(cls)
                         if f.default is dataclasses.MISSING and f.name not in d)
        if unknown or missing:
            raise AnsError("malformed signal spec (" + "; ".join(
                s for s in (f"unknown {', '.join(unknown)}" if unknown else "",
                            f"missing {', '.join(missing)}" if missing else "") if s) + ")", label)
        try:
            kw = {k: (int(v) if isinstance(v, float) and v.is_integer() and k in
                      ("sample_rate", "frame", "hop", "n_mels", "fft_fbank") else v)
                  for k, v in d.items() if k in names}
            spec = cls(**kw)
        except (TypeError, ValueError) as e:
            raise AnsError(str(e).splitlines()[0], label) from None
        if "n_bins" in d and d["n_bins"] != spec.n_bins:
            raise AnsError(f"invalid signal spec: n_bins {d['n_bins']} != frame // 2 + 1 = {spec.n_bins}", label)
        return spec

    def describe(self) -> str:
        return (f"{self.sample_rate} Hz, {self.ms(self.frame):g}/{self.ms(self.hop):g} ms frames, "
                f"{self.n_mels} mels, {self.n_bins} bins")


# The 48 kHz spec of the reference model (configs/features/kaldi.yaml): what an
# "ans-model/1" file without a `features` dict, the reference checkpoint and the bundled
# ONNX student use.
REFERENCE = SignalSpec(sample_rate=48_000, frame=1920, hop=960, n_mels=120, fft_fbank=2048,
                       low_freq=20.0, high_freq=24_000.0, preemphasis=0.97, input_scale=32768.0)
