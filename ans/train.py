"""`python -m ans.train teacher|student [hydra overrides]`: run one training stage.

The first argument picks the primary config (configs/teacher.yaml or configs/student.yaml);
everything after it goes to Hydra unchanged (group=option, key=value, -m for multirun).
"""

from __future__ import annotations

import os
import sys
import time

HELP = """usage: python -m ans.train {teacher,student} [hydra overrides ...]

  teacher   stage 1: train the non-causal Conv+BLSTM teacher on simulated noisy speech
            (configs/teacher.yaml)
  student   stage 2: distil the causal DFSMN student from a frozen teacher
            (configs/student.yaml; teacher_ckpt=PATH/model.pt, default: newest teacher run)

Overrides are Hydra syntax, e.g.
  python -m ans.train teacher data=demo trainer=gpu trainer.max_steps=5000
  python -m ans.train student teacher_ckpt=outputs/teacher/RUN/model.pt distill.alpha=0.7
  python -m ans.train teacher run_name=exp1        # rerun the same command to resume exp1
  python -m ans.train teacher ckpt_path=last       # resume the newest teacher run
  python -m ans.train teacher -m optim.lr=1e-3,3e-4  # multirun sweep
  python -m ans.train teacher --help               # Hydra's help: groups and options
Runs are written to outputs/<stage>/<run_name>/ (model.pt, checkpoints/, logs)."""
_STAGE_ENV = "ANS_TRAIN_STAGE"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(HELP)
        return 0
    from ans.config import CONFIG_DIR, STAGES

    stage, rest = argv[0], argv[1:]
    if stage not in STAGES and os.environ.get(_STAGE_ENV) in STAGES and "LOCAL_RANK" in os.environ:
        # A DDP worker re-launched by Lightning as `python -m ans.train <overrides>`.
        stage, rest = os.environ[_STAGE_ENV], argv
    if stage not in STAGES:
        print(f"ans.train: unknown stage {stage!r} (choose one of: {', '.join(STAGES)})", file=sys.stderr)
        return 2
    import hydra

    from ans.errors import AnsError

    def _task(cfg) -> float | None:
        try:
            from ans.training import run  # torch and Lightning: after the run folder checks below

            metrics = run(cfg)
        except AnsError as e:
            print(f"ans.train: {e}", file=sys.stderr)
            raise SystemExit(1) from None
        return metrics.get("val/loss")

    os.environ[_STAGE_ENV] = stage
    if not any(a.startswith("run_name=") for a in rest) and "-m" not in rest and "--multirun" not in rest:
        # Fix the timestamp once, so DDP workers (which re-run this command) share the run dir.
        rest.append(f"run_name={time.strftime('%Y-%m-%d_%H-%M-%S')}")
    run_dir, created = None, None
    if "LOCAL_RANK" not in os.environ and not any(a.startswith(("-", "hydra.")) for a in rest):
        # One plain run: create and lock its folder before Hydra writes into it, so a second
        # training with the same run_name and an unwritable output folder get one line each.
        run_dir = _run_dir(stage, rest)
        if run_dir is not None:
            from ans.rundir import first_missing, lock_run_dir, remove_leftovers

            created = first_missing(run_dir)
            try:
                lock_run_dir(run_dir)
            except AnsError as e:
                print(f"ans.train: {e}", file=sys.stderr)
                return 1
    sys.argv = [sys.argv[0], *rest]
    try:
        hydra.main(config_path=str(CONFIG_DIR), config_name=stage, version_base="1.3")(_task)()
    except SystemExit as e:
        if e.code not in (None, 0) and created is not None:
            remove_leftovers(run_dir, created)  # a failed new run leaves no empty outputs/... folders
        raise
    return 0


def _run_dir(stage: str, overrides: list[str]):
    """The run folder these overrides give (None when they do not compose: Hydra reports that)."""
    from pathlib import Path

    from ans.config import compose

    try:
        return Path(str(compose(stage, overrides).paths.run_dir))
    except Exception:  # noqa: BLE001 - bad overrides: left to Hydra's own message
        return None


if __name__ == "__main__":
    sys.exit(main())
