"""Standard benchmarks by name: `python -m ans.eval test_set=vctk_demand | dns_blind`.

- `vctk_demand`: the Valentini VoiceBank+DEMAND test set (824 pairs, speakers p232 and p257),
  the rows of split `test` of `data/vctk_demand/pairs.jsonl` (`python -m data_recipes
  vctk_demand --src ...`). Scored as the papers do: PESQ-WB, STOI, SI-SDR and the composite
  CSIG/CBAK/COVL (ans.composite), next to published numbers of other systems (`PEERS`).
- `dns_blind`: a DNS Challenge blind test set (noisy only) indexed by `python -m data_recipes
  dns_blind --src ...` into `data/dns_blind/test.jsonl`: no reference, DNSMOS only; no peer
  numbers are shown, since published DNSMOS values depend on the DNSMOS model version and the
  blind set of each challenge year.

A name sets the test set, split, reference mode and metrics (and the report name when it is
left at `default`); every other eval option still applies (models, max_files, jobs, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, open_dict

from ans.errors import AnsError


@dataclass(frozen=True)
class Peer:
    system: str
    scores: dict[str, float]   # metric key -> published value
    source: str                # paper + table


@dataclass(frozen=True)
class Benchmark:
    manifest: str              # relative to paths.data_dir
    split: str | None
    reference: bool
    metrics: tuple[str, ...]
    recipe: str                # how to make the manifest
    expected_files: int | None = None
    peers: tuple[Peer, ...] = field(default_factory=tuple)
    note: str = ""


# Published numbers on the same 824-file test set, not re-measured here. Each row was checked
# against the source named in it; where the paper's own table could not be opened, the source
# names the public copy the numbers were checked against. PESQ in these papers is the
# P.862.2 wide-band score.
# Removed: "DEMUCS (causal, H=64)" 2.93 / STOI 0.95 / 4.22 / 3.25 / 3.52 (Défossez et al.,
# Interspeech 2020). The paper's table could not be opened, and the one public copy of those
# numbers found lists them for a causal DEMUCS of 18.87 M parameters, while facebookresearch/denoiser
# launch_valentini.sh trains the causal Valentini model with hidden=48, so the H=64 label is doubtful.
_SEGAN = ("Pascual et al., SEGAN, Interspeech 2017 (arXiv:1703.09452), objective-evaluation table; "
          "as reproduced, citing that paper, in github.com/anicolson/DeepXi README.md and "
          "github.com/nanahou/Awesome-Speech-Enhancement README.md")
VCTK_DEMAND_PEERS = (
    Peer("noisy input (as published)", {"pesq_wb": 1.97, "csig": 3.35, "cbak": 2.44, "covl": 2.63}, _SEGAN),
    Peer("Wiener filter", {"pesq_wb": 2.22, "csig": 3.23, "cbak": 2.68, "covl": 2.67}, _SEGAN),
    Peer("SEGAN", {"pesq_wb": 2.16, "csig": 3.48, "cbak": 2.94, "covl": 2.80}, _SEGAN),
    Peer("MetricGAN+", {"pesq_wb": 3.15, "csig": 4.14, "cbak": 3.16, "covl": 3.64},
         "Fu et al., MetricGAN+ (arXiv:2104.03538); results table of the authors' "
         "recipe, github.com/speechbrain/speechbrain recipes/Voicebank/enhance/MetricGAN/README.md"),
    Peer("CMGAN", {"pesq_wb": 3.41, "stoi": 0.96, "csig": 4.63, "cbak": 3.94, "covl": 4.12},
         "Cao et al., CMGAN, Interspeech 2022 (PESQ 3.41 in the abstract, github.com/ruizhecao96/CMGAN "
         "README.md); CSIG/CBAK/COVL/STOI as listed for arXiv:2209.11112 on "
         "physics.paperswithcode.com/paper/cmgan-conformer-based-metric-gan-for-monaural"),
)

BENCHMARKS: dict[str, Benchmark] = {
    "vctk_demand": Benchmark(
        "vctk_demand/pairs.jsonl", "test", True, ("pesq_wb", "stoi", "si_sdr", "composite"),
        "python -m data_recipes vctk_demand --src /path/to/valentini", 824, VCTK_DEMAND_PEERS,
        "Peer rows are published numbers, not re-measured here; each names where it was checked "
        "(some are public copies of the paper's table: check the paper before quoting them). "
        "Our rows score 48 kHz models on the 48 kHz files; "
        "PESQ/composite at 16 kHz, STOI at 10 kHz inside pystoi. CSIG/CBAK/COVL: ans.composite "
        "(Hu & Loizou 2008 formulas with PESQ-WB, as in the papers' Python scripts)."),
    "dns_blind": Benchmark(
        "dns_blind/test.jsonl", "test", False, ("dnsmos",),
        "python -m data_recipes dns_blind --src /path/to/blind_test_set", None, (),
        "No reference: DNSMOS P.835 (SIG/BAK/OVRL) and P.808 only. No published numbers are shown: "
        "they depend on the DNSMOS model version and on the challenge year's blind set."),
}


def apply_benchmark(cfg: DictConfig) -> Benchmark | None:
    """When `cfg.test_set` names a benchmark, point the config at it (in place); returns it."""
    name = cfg.get("test_set")
    if not isinstance(name, str) or name not in BENCHMARKS:
        return None
    bench = BENCHMARKS[name]
    manifest = Path(cfg.paths.data_dir) / bench.manifest
    if not manifest.is_file():
        raise AnsError(f"benchmark {name}: {manifest} not found; make it with `{bench.recipe}`")
    with open_dict(cfg):
        cfg.manifest = str(manifest)
        cfg.split = bench.split
        cfg.reference = bench.reference
        cfg.metrics = list(bench.metrics)
        cfg.build_from_corpus = None
        cfg.benchmark = name
        if cfg.get("name") == "default":
            cfg.name = name  # report_dir follows unless it was set explicitly
    return bench


def peer_table(bench: Benchmark, overall: dict, specs: list[dict], n_files: int) -> str:
    """Markdown: our systems' means next to the published peer numbers, same columns."""
    from ans.eval.report import LABELS

    keys = [k for k in ("pesq_wb", "stoi", "csig", "cbak", "covl", "si_sdr")
            if any(k in p.scores for p in bench.peers) or any(k in overall.get(s["name"], {}) for s in specs)]
    head = "| system | source | " + " | ".join(LABELS.get(k, k) for k in keys) + " |"
    rows = [head, "|" + "---|" * (len(keys) + 2)]
    for s in specs:
        stats = overall.get(s["name"], {})
        cells = [f"{stats[k]['mean']:.2f}" if k in stats and stats[k]["n"] else "–" for k in keys]
        rows.append(f"| **{s['name']}** | measured here ({n_files} files) | " + " | ".join(cells) + " |")
    for p in bench.peers:
        cells = [f"{p.scores[k]:.2f}" if k in p.scores else "–" for k in keys]
        rows.append(f"| {p.system} | {p.source} | " + " | ".join(cells) + " |")
    if bench.expected_files and n_files != bench.expected_files:
        rows.append(f"\n**Not comparable as is:** {n_files} files scored, the benchmark has {bench.expected_files}.")
    return "\n".join(rows) + "\n\n" + bench.note + "\n"
