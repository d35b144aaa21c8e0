"""`make demo`: the main job, end to end on this machine.

  1. build the offline demo corpus            python -m data_recipes demo
  2. train the teacher                        python -m ans.train teacher experiment=demo_teacher
  3. distil the student from it               python -m ans.train student experiment=demo_student
  4. build the frozen test set and evaluate   python -m ans.eval name=demo ...

Each stage is skipped when its output is complete (a DONE stamp), so re-running is cheap and
an interrupted stage resumes from its last checkpoint. FORCE=1 redoes the training stages and
the report. Uses the GPU when one is visible (trainer=gpu), otherwise 2 CPU cores suffice.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
RUN = "demo"


def stage(title: str, cmd: list[str], stamp: Path | None, timings: dict) -> None:
    if stamp is not None and stamp.exists():
        print(f"[demo] {title}: done already ({stamp.relative_to(ROOT)}), skipping", flush=True)
        return
    print(f"[demo] {title}: {' '.join(cmd[1:] if cmd[0] == PY else cmd)}", flush=True)
    start = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT)
    if result.returncode != 0:
        print(f"[demo] {title} failed (exit {result.returncode}); re-run `make demo` to resume",
              file=sys.stderr)
        raise SystemExit(result.returncode)
    timings[title] = round(time.monotonic() - start, 1)
    if stamp is not None:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({"seconds": timings[title]}))
    print(f"[demo] {title}: {timings[title]:.0f} s", flush=True)


def main() -> int:
    force = os.environ.get("FORCE", "0") not in ("", "0")
    teacher_dir, student_dir = ROOT / "outputs/teacher" / RUN, ROOT / "outputs/student" / RUN
    report = ROOT / "reports" / RUN
    if force:
        for path in (teacher_dir, student_dir, report):
            shutil.rmtree(path, ignore_errors=True)
    import torch

    extra = ["trainer=gpu"] if torch.cuda.is_available() else []
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    stage("corpus", [PY, "-m", "data_recipes", "demo"], None, timings)
    stage("teacher", [PY, "-m", "ans.train", "teacher", "experiment=demo_teacher", f"run_name={RUN}", *extra],
          teacher_dir / "DONE", timings)
    stage("student", [PY, "-m", "ans.train", "student", "experiment=demo_student", f"run_name={RUN}",
                      f"teacher_ckpt={teacher_dir / 'model.pt'}", *extra], student_dir / "DONE", timings)
    models = f"models=[{teacher_dir / 'model.pt'},{student_dir / 'model.pt'}]"
    stage("evaluation", [PY, "-m", "ans.eval", f"name={RUN}", models], report / "DONE", timings)
    total = time.monotonic() - t0
    timings["total_this_run"] = round(total, 1)
    (report / "timings.json").write_text(json.dumps(timings, indent=2))
    summary = report / "summary.md"
    if summary.exists():
        print(summary.read_text())
    print(f"[demo] finished in {total / 60:.1f} min; report: {(report / 'report.md').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
