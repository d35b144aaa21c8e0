#!/usr/bin/env bash
# Compare the "speech has no high band" remedies (docs/training_data.md) with short
# student-alone runs, then score them on the dev held-out set:
#   A  wave-1 recipe: any talker for any drawn rate, loss on every bin, linear weights
#   B  band_match: the 48/44.1 kHz shares draw measured full-band talkers
#   C  B + band_limit: no loss weight above an item's measured speech bandwidth
#   D  C + log weighting
#   E  D distilled from the teacher (alpha 0.5) instead of trained alone
# Usage: bash scripts/ablate_bandwidth.sh [STEPS]   (resumes finished/stopped runs)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
STEPS=${1:-1000}
run() {  # name, overrides...
  local name=$1; shift
  [ -f "outputs/student/abl_$name/model.pt" ] && [ -f "outputs/student/abl_$name/DONE" ] && return 0
  OMP_NUM_THREADS=1 $PY -m ans.train student experiment=ablation_student run_name="abl_$name" \
    trainer.max_steps="$STEPS" trainer.enable_progress_bar=false "$@"
  touch "outputs/student/abl_$name/DONE"
}
run A ++data.simulation.band_match=false loss.band_limit=false loss.weighting=linear
run B ++data.simulation.band_match=true loss.band_limit=false loss.weighting=linear
run C ++data.simulation.band_match=true loss.band_limit=true loss.weighting=linear
run D ++data.simulation.band_match=true loss.band_limit=true loss.weighting=log
# E: D distilled from the teacher instead of trained alone (same steps): does distillation help?
run E ++data.simulation.band_match=true loss.band_limit=true loss.weighting=log distill.enabled=true \
  distill.alpha=0.5 teacher_ckpt="${TEACHER:-outputs/teacher/gen_teacher/model.pt}"
$PY scripts/make_test_set.py --profile dev_heldout
$PY -m ans.eval name=ablation_bandwidth test_set=data/dev_heldout build_from_corpus=null \
  baselines='[noisy]' metrics='[pesq_wb,stoi,si_sdr,hf_kept]' jobs=1 \
  models="[outputs/student/abl_A/model.pt,outputs/student/abl_B/model.pt,outputs/student/abl_C/model.pt,outputs/student/abl_D/model.pt,outputs/student/abl_E/model.pt]"
