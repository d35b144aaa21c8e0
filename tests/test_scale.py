"""Scale (issue 10): a fake corpus tree -> streamed manifests (the dns5 recipe) -> index ->
simulated mixtures, memory measured in a fresh process by scripts/scale_check.py.

The small variant (2 000 files, 200 mixtures) runs by default and checks the code path and that
memory stays far below 1 GB; the full size (100 000 files, 10 000 mixtures) is `slow`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "scale_check.py"


def scale_check(tmp_path: Path, files: int, mixtures: int, timeout: float) -> dict:
    out = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--files", str(files), "--mixtures", str(mixtures),
                           "--work", str(tmp_path), "--json", str(out)],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert not list(tmp_path.glob("ans-scale-*")), "the fake tree was not removed"
    assert report["manifest"]["speech_lines"] + report["manifest"]["noise_lines"] \
        + report["manifest"]["rir_lines"] == files
    assert report["index"]["entries"] == files and report["index"]["bad_lines"] == 0
    assert sum(report["draw"]["per_category"].values()) == mixtures
    assert report["draw"]["skipped_reads"] == 0
    return report


@pytest.mark.timeout(300)
def test_scale_small(tmp_path):
    report = scale_check(tmp_path, files=2_000, mixtures=200, timeout=280)
    assert report["peak_rss_mb"] < 700, report
    # what the corpus adds on top of the imports (torch alone is a few hundred MB)
    assert report["peak_rss_mb"] - report["after_imports"]["peak_mb"] < 200, report


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_scale_full_100k_files_10k_mixtures(tmp_path):
    report = scale_check(tmp_path, files=100_000, mixtures=10_000, timeout=3500)
    assert report["tree"]["files"] == 100_000
    assert report["peak_rss_mb"] < 1024, report
