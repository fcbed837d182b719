#!/usr/bin/env bash
# Reproduces docs/results.md: CompressTracker ablations on synthetic data at equal budget.
# Usage: bash docs/ablations.sh [OUT_DIR] [EPOCHS] [SAMPLES_PER_EPOCH] [TEST_SEQUENCES]
set -euo pipefail
OUT=${1:-ablations}
EPOCHS=${2:-4}
SAMPLES=${3:-2048}
TEST_SEQS=${4:-48}
CTRACK=${CTRACK:-.venv/bin/ctrack}
TEACHER=$(.venv/bin/python -c "from compresstracker.demo import builtin_teacher; print(builtin_teacher())")
mkdir -p "$OUT"
$CTRACK data synth --layout lasot --out "$OUT/data/train" --sequences 40 --frames 120 --seed 21 >/dev/null
$CTRACK data synth --layout lasot --out "$OUT/data/test" --sequences "$TEST_SEQS" --frames 150 --seed 22 >/dev/null

run() {  # name stages extra-overrides...: compress (resumable), then evaluate the student
  local name=$1 stages=$2; shift 2
  mkdir -p "$OUT/$name"
  $CTRACK compress --teacher "$TEACHER" --stages "$stages" -r compresstracker_tiny \
    --data "lasot=$OUT/data/train:all" --out "$OUT/$name" --epochs "$EPOCHS" --samples-per-epoch "$SAMPLES" \
    --resume --json "$@" > "$OUT/$name/summary.json"
  $CTRACK eval -c "$OUT/$name/student.safetensors" -d lasot --root "$OUT/data/test" --split all \
    --out "$OUT/results" --name "$name" -j 2 --json > "$OUT/$name/eval.json"
}

run gt_only         4 compress.replacement=false compress.loss.pred=0 compress.loss.feat=0
run replacement     4 compress.loss.pred=0 compress.loss.feat=0
run repl_guidance   4 compress.loss.feat=0
run repl_mimic      4 compress.loss.pred=0
run all             4
run fixed_p05       4 compress.fixed_p=0.5
run stages2         2
run stages3         3
run stages6         6
$CTRACK eval -c "$TEACHER" -d lasot --root "$OUT/data/test" --split all --out "$OUT/results" --name teacher -j 2 --json > "$OUT/teacher_eval.json"
$CTRACK score -d lasot --root "$OUT/data/test" --split all \
  --results "$OUT/results/teacher" --results "$OUT/results/gt_only" --results "$OUT/results/replacement" --results "$OUT/results/repl_guidance" \
  --results "$OUT/results/repl_mimic" --results "$OUT/results/all" --results "$OUT/results/fixed_p05" \
  --results "$OUT/results/stages2" --results "$OUT/results/stages3" --results "$OUT/results/stages6" --plot "$OUT/plots"

# One markdown table of everything above (the figures docs/results.md quotes).
.venv/bin/python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
teacher = json.loads((out / "teacher_eval.json").read_text())
rows = [("teacher", None, teacher)]
for name in ("gt_only", "replacement", "repl_guidance", "repl_mimic", "all", "fixed_p05", "stages2", "stages3", "stages6"):
    rows.append((name, json.loads((out / name / "summary.json").read_text()), json.loads((out / name / "eval.json").read_text())))
t_auc = teacher["metrics"]["auc"]
print("| run | blocks | params (M) | MACs (M) | AUC | Prec. | Norm. Prec. | kept | FPS |")
print("|---|---|---|---|---|---|---|---|---|")
for name, summary, ev in rows:
    m = ev["metrics"]
    if summary is None:  # the teacher: its size is in every plan
        plan = json.loads((out / "gt_only" / "summary.json").read_text())["plan"]
        blocks, params, macs = plan["teacher_depth"], plan["teacher_params"], plan["teacher_macs"]
    else:
        plan = summary["plan"]
        blocks, params, macs = plan["student_depth"], plan["student_params"], plan["student_macs"]
    kept = f"{100 * m['auc'] / t_auc:.0f}%" if t_auc > 0 else "-"
    print(f"| {name} | {blocks} | {params / 1e6:.2f} | {macs / 1e6:.1f} | {m['auc']:.2f} | {m['precision']:.2f} | {m['norm_precision']:.2f} | {kept} | {ev['run']['fps']:.0f} |")
PY
