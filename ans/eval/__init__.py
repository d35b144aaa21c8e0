"""Evaluation: `python -m ans.eval [hydra overrides]` (configs/eval.yaml) scores every system on
a test set and writes `reports/<name>/`.

Modules, each importing only the ones above it (no cycle):
- `test_set`: the frozen, stratified test sets (demo test, dev held-out) built from a corpus;
- `inputs`: the systems to score and the test-set items;
- `plots`, `report`: PNG plots; aggregation and report.md/summary.md/metrics.json/per_file.csv;
- `curves`: training curves from the runs' CSV logs;
- `evaluate`: the driver (parallel workers, `evaluate(cfg)`, `run(overrides)`, the CLI).
"""
