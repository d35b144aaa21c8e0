"""PNG plots of `ans.eval` (matplotlib, Agg backend, atomic writes).

- `metrics_bars.png`: one panel per metric, a bar per system with its 95 % CI;
- `delta_pesq_vs_snr.png`: per-file ΔPESQ (system − noisy input) against the input SNR, with
  the mean per SNR band as a line (paired mode only);
- `spectrograms/NAME.png`: noisy / each model / clean log spectrograms of a few files.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from ans.audio import atomic_write_bytes
from ans.metrics import METRIC_LABELS as LABELS
from ans.signal_spec import REFERENCE

SAMPLE_RATE = REFERENCE.sample_rate  # the shipped models' rate (ans.signal_spec)


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_bars(path: Path, overall: dict, systems: list[str], keys: list[str]) -> None:
    plt = _plt()
    ncol = min(3, len(keys))
    nrow = math.ceil(len(keys) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 2.9 * nrow), squeeze=False)
    colors = plt.get_cmap("tab10")(np.arange(len(systems)) % 10)
    for ax, k in zip(axes.flat, keys):
        means = [overall[s][k]["mean"] for s in systems]
        cis = [overall[s][k]["ci95"] for s in systems]
        ax.bar(range(len(systems)), np.nan_to_num(means), yerr=np.nan_to_num(cis), color=colors, capsize=3)
        ax.set_title(LABELS.get(k, k))
        ax.set_xticks(range(len(systems)), systems, rotation=35, ha="right", fontsize=8)
        finite = [m for m in means if math.isfinite(m)]
        if finite and k.startswith(("pesq", "dnsmos")):
            ax.set_ylim(1.0, max(finite) * 1.1)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    _save(fig, path)


def plot_delta_vs_snr(path: Path, rows: list[dict], systems: list[str], key: str) -> bool:
    """Band means use each row's `snr_band` (the test set's own bands), ordered by mean SNR."""
    noisy = {r["name"]: r.get(key, math.nan) for r in rows if r["system"] == "noisy"}
    if not noisy:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    cmap = plt.get_cmap("tab10")
    drawn = False
    for i, s in enumerate([s for s in systems if s != "noisy"]):
        pts = [(r["snr_db"], r.get(key, math.nan) - noisy.get(r["name"], math.nan), r["snr_band"]) for r in rows
               if r["system"] == s and r["snr_db"] is not None]
        pts = [p for p in pts if math.isfinite(p[0]) and math.isfinite(p[1])]
        if not pts:
            continue
        c = cmap((i + 1) % 10)
        xy = np.array([p[:2] for p in pts])
        ax.scatter(xy[:, 0], xy[:, 1], s=10, alpha=0.45, color=c)
        bands = np.array([p[2] for p in pts])
        means = sorted((xy[bands == b].mean(axis=0) for b in set(bands.tolist())), key=lambda m: m[0])
        ax.plot([m[0] for m in means], [m[1] for m in means], "-o", color=c, label=s)
        drawn = True
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xlabel("input SNR (dB)")
    ax.set_ylabel(f"Δ {LABELS.get(key, key)} vs noisy")
    ax.set_title(f"Δ {LABELS.get(key, key)} against input SNR (dots: files, lines: band means)")
    if drawn:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)
    return True


def _logspec(x: np.ndarray) -> np.ndarray:
    from scipy.signal import stft

    _, _, z = stft(x, fs=SAMPLE_RATE, nperseg=1024, noverlap=768, boundary=None, padded=False)
    return 20 * np.log10(np.abs(z) + 1e-7)


def plot_spectrograms(path: Path, name: str, audio: dict[str, np.ndarray], systems: list[str]) -> None:
    plt = _plt()
    order = [s for s in ["noisy", *[s for s in systems if s != "noisy"], "clean"] if s in audio]
    fig, axes = plt.subplots(len(order), 1, figsize=(9, 1.9 * len(order)), sharex=True, squeeze=False)
    ref = _logspec(audio.get("clean", audio[order[0]]))
    vmax = float(ref.max())
    for ax, s in zip(axes[:, 0], order):
        spec = _logspec(audio[s])
        dur = audio[s].size / SAMPLE_RATE
        ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=vmax - 90, vmax=vmax,
                  extent=(0, dur, 0, SAMPLE_RATE / 2000))
        ax.set_ylabel("kHz")
        ax.set_title(s, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(name, fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def plot_all(out_dir: Path, rows: list[dict], results: list[dict], specs: list[dict], keys: list[str],
             overall: dict) -> list[str]:
    """Every plot; returns their paths relative to out_dir. Old spectrograms are removed."""
    systems = [s["name"] for s in specs]
    made = []
    if keys:
        plot_bars(out_dir / "metrics_bars.png", overall, systems, keys)
        made.append("metrics_bars.png")
    key = next((k for k in ("pesq_wb", "pesq_nb", "si_sdr", "estoi", "stoi") if k in keys), None)
    if key and plot_delta_vs_snr(out_dir / "delta_pesq_vs_snr.png", rows, systems, key):
        made.append("delta_pesq_vs_snr.png")
    spec_dir = out_dir / "spectrograms"
    if spec_dir.is_dir():
        for old in spec_dir.glob("*.png"):
            old.unlink()
    model_systems = [s["name"] for s in specs if s["type"] in ("noisy", "model")]
    for res in results:
        if res.get("audio"):
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in res["name"])
            spec_dir.mkdir(exist_ok=True)
            plot_spectrograms(spec_dir / f"{safe}.png", res["name"], res["audio"], model_systems)
            made.append(f"spectrograms/{safe}.png")
    return made
