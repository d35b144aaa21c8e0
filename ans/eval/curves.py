"""Training curves for the `ans.eval` report, read from runs' CSV logs.

A run folder (outputs/<stage>/<run>/) holds `csv/metrics.csv` (Lightning's CSVLogger, always
on). `runs=[outputs/teacher/X, ...]` names them; by default the run folder of every evaluated
model.pt that has one (the model.pt's own folder). One PNG per run: train/val loss, val PESQ-WB
and val STOI (enhanced and noisy input) against the step.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ans.eval.inputs import _resolve
from ans.eval.plots import _plt, _save


def read_curves(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """{column: [(step, value), ...]} of a run's csv/metrics.csv ({} when there is none)."""
    path = Path(run_dir) / "csv" / "metrics.csv"
    if not path.is_file():
        return {}
    out: dict[str, list[tuple[int, float]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            step = row.get("step")
            for k, v in row.items():
                if k in ("step", "epoch") or v in ("", None) or step in ("", None):
                    continue
                try:
                    out.setdefault(k, []).append((int(float(step)), float(v)))
                except ValueError:
                    continue
    return out


def run_dirs(runs, specs: list[dict]) -> list[Path]:
    if runs:
        return [_resolve(r) for r in ([runs] if isinstance(runs, str) else list(runs))]
    return [Path(s["path"]).parent for s in specs if s["type"] == "model"
            and (Path(s["path"]).parent / "csv" / "metrics.csv").is_file()]


PANELS = (("loss", ("train/loss", "val/loss")), ("PESQ-WB (validation)", ("val/pesq_wb", "val/pesq_wb_noisy")),
          ("STOI (validation)", ("val/stoi", "val/stoi_noisy")))


def plot_curves(out_dir: Path, runs, specs: list[dict]) -> list[tuple[str, str]]:
    """Write curves_<run>.png for each run with logs; returns [(run dir, png name)]."""
    plt, done = _plt(), []
    for run in run_dirs(runs, specs):
        curves = read_curves(run)
        if not curves:
            continue
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
        for ax, (title, keys) in zip(axes, PANELS):
            for k in keys:
                if k in curves:
                    xs, ys = zip(*[(s, v) for s, v in curves[k] if math.isfinite(v)])
                    ax.plot(xs, ys, "-" if k.startswith("train") else "o-", label=k, ms=3,
                            alpha=0.5 if k.startswith("train") else 1.0, ls="--" if k.endswith("_noisy") else "-")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle(str(run), fontsize=9)
        fig.tight_layout()
        name = f"curves_{run.parent.name}_{run.name}.png"
        _save(fig, out_dir / name)
        done.append((str(run), name))
    return done
