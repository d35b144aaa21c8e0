"""`make eval`: score every system on a test set and write `reports/<name>/`.

    python -m ans.eval [hydra overrides]      (configs/eval.yaml)

Systems (rows): `noisy` (the input itself), `spectral_gate` (DSP baseline, ans.baselines),
`oracle_psm` (the true phase-sensitive mask applied to the noisy STFT: the ceiling of this
model family), every model.pt (teacher, student, ...) and the open peers when installed
(RNNoise, DeepFilterNet3). Peers run on their raw delayed stream; the delay is found by
cross-correlation with the input (`ans.metrics.estimate_delay`), removed before scoring and
reported. Metrics (ans.metrics) per file; no-reference mode (no clean files) scores DNSMOS only.

Files are evaluated in parallel worker processes (spawned; one torch thread each; systems
loaded once per worker). A metric that fails on a file (PESQ's "no utterances", ...) is NaN
and counted in the report. Systems and test set: ans.eval.inputs (built by ans.eval.test_set
when missing); aggregation and writing: ans.eval.report; plots: ans.eval.plots. `run(overrides)`
is the Python entry point.
"""

from __future__ import annotations

import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from ans.config import CONFIG_DIR
from ans.errors import AnsError
from ans.eval.inputs import _resolve, find_models, load_test_set, system_specs
from ans.signal_spec import REFERENCE

__all__ = ["evaluate", "evaluate_file", "find_models", "load_test_set", "run", "system_specs"]
SAMPLE_RATE = REFERENCE.sample_rate  # the shipped models' rate (ans.signal_spec)
NO_REF_METRICS = ("dnsmos",)


# --------------------------------------------------------------------------- worker side
_W: dict = {}


def _init_worker(specs: list[dict], metrics: list[str], peer_max_lag_s: float) -> None:
    import torch

    torch.set_num_threads(1)
    from ans.baselines import get_baseline
    from ans.enhance import Enhancer

    systems = {}
    for s in specs:
        if s["type"] == "model":
            systems[s["name"]] = Enhancer.from_checkpoint(s["path"])
        elif s["type"] == "baseline":
            systems[s["name"]] = get_baseline(s["name"])
        elif s["type"] == "peer":
            systems[s["name"]] = get_baseline(s["name"], compensate_delay=False)
    _W.update(specs=specs, systems=systems, metrics=list(metrics), max_lag=int(peer_max_lag_s * SAMPLE_RATE))


def _oracle_psm(noisy: np.ndarray, clean: np.ndarray) -> np.ndarray:
    import torch

    from ans.features import FeatureExtractor
    from ans.losses import psm

    fe = FeatureExtractor()
    with torch.inference_mode():
        y, s = torch.from_numpy(noisy).float(), torch.from_numpy(clean).float()
        spec_y = fe.stft(y)
        return fe.apply_mask(psm(fe.stft(s), spec_y), y, spec_y).numpy()


def _score(clean: np.ndarray | None, est: np.ndarray) -> dict[str, float]:
    from ans.metrics import compute_metrics, dnsmos_only

    if clean is None:
        return dnsmos_only(est, SAMPLE_RATE) if "dnsmos" in _W["metrics"] else {}
    return compute_metrics(clean, est, SAMPLE_RATE, which=_W["metrics"])


def evaluate_file(item: dict, keep_audio: bool = False) -> dict:
    """All systems on one item -> {name, snr_db, rows: [...], audio: {system: wave} | None}."""
    from ans.audio import read_audio
    from ans.baselines import to_48k
    from ans.metrics import estimate_delay

    x, sr = read_audio(item["noisy"])
    noisy = to_48k(x, sr, item["noisy"])
    clean = None
    if item["clean"]:
        c, csr = read_audio(item["clean"])
        clean = to_48k(c, csr, item["clean"])
        n = min(noisy.size, clean.size)
        noisy, clean = noisy[:n], clean[:n]
    n = noisy.size
    snr = item["snr_db"]
    if snr is None and clean is not None:
        pn, ps = float(np.sum((noisy - clean).astype(np.float64) ** 2)), float(np.sum(clean.astype(np.float64) ** 2))
        snr = 10 * math.log10(ps / pn) if pn > 0 and ps > 0 else math.nan
    rows, audio = [], {}
    for spec in _W["specs"]:
        name, delay = spec["name"], None
        t0 = time.perf_counter()
        if spec["type"] == "noisy":
            est = noisy
        elif spec["type"] == "oracle":
            est = _oracle_psm(noisy, clean)
        elif spec["type"] == "peer":  # raw delayed stream of input + lag zeros, then aligned
            lag = _W["max_lag"]
            raw = _W["systems"][name].enhance(np.concatenate([noisy, np.zeros(lag, np.float32)]), SAMPLE_RATE)
            delay = estimate_delay(np.concatenate([noisy, np.zeros(lag)]), raw, lag)
            est = raw[max(0, delay): max(0, delay) + n]
            est = np.pad(est, (max(0, -delay), 0))[:n]
            est = np.pad(est, (0, n - est.size))
        elif spec["type"] == "model":  # at the test set's rate whatever the model's (a 16 kHz model too)
            est = _W["systems"][name].enhance(noisy, SAMPLE_RATE, keep_rate=True)
        else:
            est = _W["systems"][name].enhance(noisy, SAMPLE_RATE)
        elapsed = time.perf_counter() - t0
        est = np.asarray(est, dtype=np.float32)[:n]
        scores = _score(clean, est)
        rows.append({"name": item["name"], "system": name, **scores,
                     "rtf": elapsed / (n / SAMPLE_RATE) if spec["type"] != "noisy" else 0.0,
                     "delay_ms": 1000.0 * delay / SAMPLE_RATE if delay is not None else math.nan})
        if keep_audio and spec["type"] in ("noisy", "model"):
            audio[name] = est
    if keep_audio and clean is not None:
        audio["clean"] = clean
    return {"name": item["name"], "snr_db": snr, "rows": rows, "audio": audio or None}


def _task(item: dict, keep_audio: bool) -> dict:
    return evaluate_file(item, keep_audio)


# --------------------------------------------------------------------------- driver
def _pick_spectrogram_files(items: list[dict], k: int) -> set[str]:
    """Up to k files, one per noise category first (deterministic)."""
    chosen, cats = [], set()
    for it in items:
        if len(chosen) < k and it["category"] not in cats:
            chosen.append(it["name"])
            cats.add(it["category"])
    for it in items:
        if len(chosen) < k and it["name"] not in chosen:
            chosen.append(it["name"])
    return set(chosen)


def run_files(items: list[dict], specs: list[dict], metrics: list[str], jobs: int,
              keep_audio_for: set[str], peer_max_lag_s: float = 0.1, progress: bool = True) -> list[dict]:
    """Evaluate every item (in `jobs` spawned processes; inline when jobs == 1), in item order."""
    from tqdm import tqdm

    results: dict[str, dict] = {}
    bar = tqdm(total=len(items), desc="eval", unit="file", disable=not progress or None)
    try:
        if jobs <= 1:
            import torch

            old = torch.get_num_threads()
            _init_worker(specs, metrics, peer_max_lag_s)
            try:
                for it in items:
                    results[it["name"]] = evaluate_file(it, it["name"] in keep_audio_for)
                    bar.update(1)
            finally:
                torch.set_num_threads(old)
        else:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"),
                                     initializer=_init_worker, initargs=(specs, metrics, peer_max_lag_s)) as ex:
                futs = [ex.submit(_task, it, it["name"] in keep_audio_for) for it in items]
                for f in as_completed(futs):
                    r = f.result()
                    results[r["name"]] = r
                    bar.update(1)
    finally:
        bar.close()
    return [results[it["name"]] for it in items]


def _ensure_test_set(cfg) -> None:
    """Build the default test set from `build_from_corpus` when it is missing."""
    if cfg.get("manifest") or not cfg.get("build_from_corpus"):
        return
    root, corpus = _resolve(cfg.test_set), _resolve(cfg.build_from_corpus)
    if root.is_dir() or not (corpus / "speech.jsonl").is_file():
        return
    from ans.eval.test_set import make_test_set

    print(f"ans.eval: building the test set {root} from {corpus}")
    make_test_set(corpus, root, n_items=int(cfg.get("test_items") or 48))


def evaluate(cfg) -> dict:
    """Run the evaluation described by a composed eval config; returns
    {"report_dir", "summary" (text table), "metrics" (the metrics.json dict)}."""
    from ans.benchmarks import apply_benchmark
    from ans.eval.report import write_report
    from ans.metrics import ALL_METRICS, default_workers

    bench = apply_benchmark(cfg)  # test_set=vctk_demand | dns_blind: a standard benchmark by name
    _ensure_test_set(cfg)
    items = load_test_set(cfg.get("test_set"), cfg.get("manifest"), cfg.get("reference", "auto"),
                          cfg.get("max_files"), cfg.get("split"))
    with_ref = items[0]["clean"] is not None
    metrics = [str(m) for m in cfg.metrics]
    bad = [m for m in metrics if m not in ALL_METRICS]
    if bad:
        raise AnsError(f"unknown metric(s) {bad}; choose from {list(ALL_METRICS)}")
    if not with_ref:
        metrics = [m for m in metrics if m in NO_REF_METRICS]
        if not metrics:
            raise AnsError("no-reference mode scores DNSMOS only: add dnsmos to metrics")
    models = cfg.get("models")
    auto = models is None
    if auto:
        models = find_models(cfg.paths.output_dir)
    elif isinstance(models, str):
        models = [models]
    specs, skipped = system_specs([str(b) for b in cfg.baselines], [str(m) for m in models], with_ref)
    if auto and not models:
        skipped["models"] = (f"no model.pt under {cfg.paths.output_dir}/{{teacher,student}}/*/ or pretrained/ "
                             "(train one, or pass models='[PATH,...]')")
        print(f"ans.eval: {skipped['models']}; evaluating the baselines only", file=sys.stderr)
    if not specs:
        raise AnsError("nothing to evaluate: no baselines and no models")
    jobs = int(cfg.get("jobs") or default_workers())
    jobs = max(1, min(jobs, len(items)))
    keep = _pick_spectrogram_files(items, int(cfg.get("spectrogram_files") or 0))
    t0 = time.perf_counter()
    results = run_files(items, specs, metrics, jobs, keep, float(cfg.get("peer_max_lag_s", 0.1)),
                        bool(cfg.get("progress", True)))
    wall = time.perf_counter() - t0
    run_info = {"test_set": str(cfg.get("manifest") or _resolve(cfg.test_set)), "with_reference": with_ref,
                "n_files": len(items), "jobs": jobs, "wall_s": wall, "metrics": metrics,
                "models": [s["path"] for s in specs if s["type"] == "model"], "skipped": skipped}
    out = write_report(Path(cfg.report_dir), items, results, specs, run_info)
    _append_sections(cfg, out, bench, specs, len(items))
    return out


def _append_sections(cfg, out: dict, bench, specs: list[dict], n_files: int) -> None:
    """Extra report.md sections: training curves from the runs' CSV logs; published peer numbers
    of a named benchmark."""
    from ans.audio import atomic_write_text
    from ans.benchmarks import peer_table
    from ans.eval.curves import plot_curves

    extra = []
    curves = plot_curves(Path(out["report_dir"]), cfg.get("runs"), specs)
    if curves:
        extra.append("## Training curves\n\n" + "\n".join(f"`{run}`\n\n![curves]({png})\n" for run, png in curves))
        out["metrics"]["training_curves"] = [png for _, png in curves]
    if bench is not None:
        table = peer_table(bench, out["metrics"]["overall"], specs, n_files)
        extra.append(f"## Benchmark `{cfg.benchmark}`: this run next to published results\n\n{table}")
        out["summary"] += "\n\n" + table
    if extra:
        report = Path(out["report_dir"]) / "report.md"
        atomic_write_text(report, report.read_text(encoding="utf-8") + "\n" + "\n".join(extra))


def run(overrides: list[str] | None = None) -> dict:
    """Python entry point (e.g. `make demo`): compose configs/eval.yaml with Hydra-style
    overrides and evaluate; returns evaluate()'s dict (print its "summary")."""
    from ans.config import compose

    return evaluate(compose("eval", list(overrides or [])))


def main() -> None:
    import hydra

    @hydra.main(config_path=str(CONFIG_DIR), config_name="eval", version_base="1.3")
    def _main(cfg) -> None:
        try:
            out = evaluate(cfg)
        except AnsError as e:
            from ans.rundir import remove_leftovers

            remove_leftovers(cfg.report_dir)  # the folder Hydra made, when nothing was written in it
            print(f"ans.eval: {e}", file=sys.stderr)
            raise SystemExit(1) from None
        print(out["summary"])
        print(f"report: {out['report_dir']}/report.md")

    _main()


if __name__ == "__main__":
    main()
