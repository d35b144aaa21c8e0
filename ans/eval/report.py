"""Aggregation and output of `ans.eval`: report.md, summary.md (the compact table),
metrics.json, per_file.csv, plots.

Statistics per system and metric: mean over the files where the metric is finite, its 95 %
confidence interval (Student t, half-width t_.975(n-1) * sd / sqrt(n)), the number of NaNs
(failed metric, e.g. PESQ "no utterances"), and Δ vs noisy: the mean (and 95 % CI) of the
per-file paired difference system - noisy input over the files where both are finite.
Groups: overall, per noise category, per SNR band (the test set's band from metadata.csv, else
the input SNR of the clean/noisy pair in ans.data.simconfig's SNR_BANDS). Every file is written atomically.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
from pathlib import Path

import numpy as np

from ans.audio import atomic_write_text
from ans.data.simconfig import snr_band_of
from ans.eval.plots import plot_all
from ans.metrics import METRIC_LABELS as LABELS

SUMMARY_KEYS = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "hf_kept", "dnsmos_ovrl")


def mean_ci(values) -> dict:
    """{mean, ci95, n, nan} of a sequence with NaNs."""
    v = np.asarray(values, dtype=np.float64)
    ok = v[np.isfinite(v)]
    n, nan = int(ok.size), int(v.size - ok.size)
    if n == 0:
        return {"mean": math.nan, "ci95": math.nan, "n": 0, "nan": nan}
    if n == 1:
        return {"mean": float(ok[0]), "ci95": math.nan, "n": 1, "nan": nan}
    from scipy.stats import t

    half = float(t.ppf(0.975, n - 1) * ok.std(ddof=1) / math.sqrt(n))
    return {"mean": float(ok.mean()), "ci95": half, "n": n, "nan": nan}


def metric_keys(rows: list[dict]) -> list[str]:
    skip = {"name", "system", "rtf", "delay_ms", "category", "snr_db", "snr_band", "source_rate"}
    keys = []
    for r in rows:
        for k in r:
            if k not in skip and k not in keys:
                keys.append(k)
    order = list(LABELS)
    return sorted(keys, key=lambda k: order.index(k) if k in order else len(order))


def aggregate(rows: list[dict], systems: list[str], keys: list[str], group: str | None = None) -> dict:
    """{group value: {system: {metric: stats + delta, delta_ci95}}} (group None: {'all': ...})."""
    noisy = {(r["name"], k): r.get(k, math.nan) for r in rows if r["system"] == "noisy" for k in keys}
    groups = sorted({str(r[group]) for r in rows}) if group else ["all"]
    out = {}
    for g in groups:
        sub = [r for r in rows if group is None or str(r[group]) == g]
        out[g] = {}
        for s in systems:
            srows = [r for r in sub if r["system"] == s]
            if not srows:
                continue
            stats = {}
            for k in keys:
                st = mean_ci([r.get(k, math.nan) for r in srows])
                if noisy and s != "noisy":
                    d = mean_ci([r.get(k, math.nan) - noisy.get((r["name"], k), math.nan) for r in srows])
                    st.update(delta=d["mean"], delta_ci95=d["ci95"])
                stats[k] = st
            out[g][s] = stats
    return out


def _fmt(v: float, digits: int = 2, sign: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def _digits(key: str) -> int:
    return 2 if key in ("si_sdr", "hf_kept") or key.startswith(("pesq", "dnsmos")) else 3


def _cell(st: dict, key: str, with_delta: bool = True) -> str:
    d = _digits(key)
    s = _fmt(st["mean"], d)
    if math.isfinite(st.get("ci95", math.nan)):
        s += f" ± {_fmt(st['ci95'], d)}"
    if with_delta and "delta" in st:
        s += f" ({_fmt(st['delta'], d, True)})"
    if st.get("nan"):
        s += f" [{st['nan']} NaN]"
    return s


def _table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def _params(p) -> str:
    if p is None:
        return "–"
    return f"{p / 1e6:.2f} M" if p >= 1e5 else f"{p:,}"


def summary_table(overall: dict, specs: list[dict], keys: list[str], rtf: dict) -> str:
    """Compact fixed-width text table (what `make demo` prints)."""
    cols = [k for k in SUMMARY_KEYS if k in keys] or keys[:5]
    width = max(len(s["name"]) for s in specs) + 2
    head = f"{'system':<{width}}" + "".join(f"{LABELS.get(k, k):>16}" for k in cols) + f"{'RTF':>9}"
    lines = [head, "-" * len(head)]
    for s in specs:
        st = overall.get(s["name"], {})
        line = f"{s['name']:<{width}}"
        for k in cols:
            v = st.get(k, {})
            m, d = v.get("mean", math.nan), v.get("delta", math.nan)
            txt = _fmt(m, _digits(k)) + (f" ({_fmt(d, _digits(k), True)})" if math.isfinite(d) else "")
            line += f"{txt:>16}"
        line += f"{_fmt(rtf.get(s['name'], math.nan), 4):>9}"
        lines.append(line)
    return "\n".join(lines)


def write_report(out_dir: Path, items: list[dict], results: list[dict], specs: list[dict],
                 run: dict) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = {it["name"]: it for it in items}
    rows = []
    for res in results:
        it = info[res["name"]]
        band = it.get("snr_band") or snr_band_of(res["snr_db"])
        for r in res["rows"]:
            rows.append({"name": r["name"], "system": r["system"], "category": it["category"],
                         "snr_db": res["snr_db"], "snr_band": band, "source_rate": it.get("source_rate"),
                         **{k: v for k, v in r.items() if k not in ("name", "system")}})
    systems = [s["name"] for s in specs]
    keys = metric_keys(rows)
    overall = aggregate(rows, systems, keys)["all"]
    by_cat = aggregate(rows, systems, keys, "category")
    by_band = aggregate(rows, systems, keys, "snr_band")
    rtf = {s: float(np.mean([r["rtf"] for r in rows if r["system"] == s])) for s in systems}
    delay = {}
    for s in systems:
        d = [r["delay_ms"] for r in rows if r["system"] == s and math.isfinite(r["delay_ms"])]
        if d:
            delay[s] = {"median_ms": float(np.median(d)), "min_ms": float(np.min(d)), "max_ms": float(np.max(d))}

    # per_file.csv
    fields = ["name", "system", "category", "snr_db", "snr_band", "source_rate", *keys, "rtf", "delay_ms"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else ("" if v is None else v))
                    for k, v in r.items()})
    atomic_write_text(out_dir / "per_file.csv", buf.getvalue())

    plots = plot_all(out_dir, rows, results, specs, keys, overall)
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    sys_info = {s["name"]: {k: s.get(k) for k in ("type", "path", "kind", "params", "latency_ms", "latency")}
                for s in specs}
    for s in systems:
        sys_info[s]["rtf_mean"] = rtf[s]
        if s in delay:
            sys_info[s]["delay"] = delay[s]
    nan_counts = {s: {k: overall[s][k]["nan"] for k in keys if overall[s][k]["nan"]} for s in systems}
    metrics = {"created": created, **run, "systems": sys_info, "metric_keys": keys,
               "overall": overall, "by_category": by_cat, "by_snr_band": by_band,
               "nan_counts": {s: v for s, v in nan_counts.items() if v}, "plots": plots}
    atomic_write_text(out_dir / "metrics.json", json.dumps(_clean(metrics), indent=1) + "\n")

    summary = summary_table(overall, specs, keys, rtf)
    atomic_write_text(out_dir / "summary.md",
                      f"Evaluation `{out_dir.name}`: {run['n_files']} files of `{run['test_set']}`; "
                      f"mean (Δ vs noisy); full tables in report.md\n\n```\n{summary}\n```\n")
    atomic_write_text(out_dir / "report.md", _markdown(run, specs, keys, overall, by_cat, by_band, rtf,
                                                       delay, metrics["nan_counts"], plots, created, items))
    return {"report_dir": str(out_dir), "summary": summary, "metrics": metrics}


def _clean(o):
    """JSON-safe: NaN/inf -> null."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    if isinstance(o, float | np.floating):
        return float(o) if math.isfinite(o) else None
    if isinstance(o, np.integer):
        return int(o)
    return o


def _markdown(run, specs, keys, overall, by_cat, by_band, rtf, delay, nan_counts, plots, created, items) -> str:
    mode = "paired (clean reference)" if run["with_reference"] else "no reference (DNSMOS only)"
    cats = sorted({it["category"] for it in items})
    md = ["# Evaluation report\n",
          f"- created: {created}; test set: `{run['test_set']}` ({run['n_files']} files, {mode})",
          f"- noise categories: {', '.join(cats)}; metrics: {', '.join(run['metrics'])}",
          f"- {run['jobs']} worker processes, {run['wall_s']:.1f} s wall "
          f"({run['wall_s'] * run['jobs'] / max(1, run['n_files']):.2f} core-s per file, all systems)"]
    for s in specs:
        if s["type"] == "model":
            md.append(f"- {s['name']}: `{s['path']}`")
    for name, why in run["skipped"].items():
        md.append(f"- not evaluated: **{name}** — {why}")
    md.append("\nCells: mean ± 95 % CI (Δ vs noisy input, paired per file); `[k NaN]` = files where "
              "the metric failed (excluded from the mean). Higher is better for every metric. "
              "RTF = enhancement time / audio duration, one thread per worker. Peers are aligned by "
              "cross-correlation before scoring; their measured delay is listed.\n")
    md.append("## Overall\n")
    header = ["system", *[LABELS.get(k, k) for k in keys], "RTF", "latency", "params", "delay"]
    body = []
    for s in specs:
        n = s["name"]
        dl = f"{delay[n]['median_ms']:.1f} ms" if n in delay else "–"
        body.append([f"**{n}**", *[_cell(overall[n][k], k) for k in keys], _fmt(rtf[n], 4),
                     s["latency"], _params(s["params"]), dl])
    md.append(_table(header, body))
    for title, groups in (("Per noise category", by_cat), ("Per SNR band (input SNR)", by_band)):
        md.append(f"\n## {title}\n")
        gnames = list(groups)
        count = {g: next(iter(groups[g].values()))[keys[0]]["n"] + next(iter(groups[g].values()))[keys[0]]["nan"]
                 for g in gnames}
        for k in keys:
            md.append(f"\n### {LABELS.get(k, k)}\n")
            hdr = ["system", *[f"{g} (n={count[g]})" for g in gnames]]
            body = [[f"**{s['name']}**", *[_cell(groups[g][s["name"]][k], k) if s["name"] in groups[g] else "–"
                                            for g in gnames]] for s in specs]
            md.append(_table(hdr, body))
    if nan_counts:
        md.append("\n## Failed metrics (NaN)\n")
        md.append(_table(["system", "metric: files"],
                         [[s, ", ".join(f"{LABELS.get(k, k)}: {v}" for k, v in d.items())]
                          for s, d in nan_counts.items()]))
    if plots:
        md.append("\n## Plots\n")
        md += [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(md) + "\n"
