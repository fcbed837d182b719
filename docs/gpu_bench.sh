#!/usr/bin/env bash
# The GPU section of docs/speed.md in one run: the ViT-B-256 teacher (CE) and its 4-block student
# (CT-4) at batch 1, torch eager fp32/fp16/bf16, torch.compile (CUDA graphs), ONNX Runtime's CUDA
# provider, and TensorRT through ONNX Runtime when that provider is installed.
#
#   bash docs/gpu_bench.sh OUT            # on the GPU machine (needs .venv or ctrack on PATH)
#   DEVICE=cpu RUNS=3 bash docs/gpu_bench.sh OUT   # the dry run on a CPU, same steps, fp32/bf16 only
#
# Every step writes OUT/<step>.json (or OUT/<step>.err); a failing step does not stop the others,
# so one run gives every figure there is. Weights do not change speed: the models are stand-ins.
set -uo pipefail
OUT=${1:?usage: docs/gpu_bench.sh OUT}
DEVICE=${DEVICE:-cuda}
RUNS=${RUNS:-100}
HERE=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$HERE/.venv/bin/python}
[ -x "$PY" ] || PY=python
mkdir -p "$OUT"
cd "$OUT" || exit 1

step() {  # step NAME COMMAND...: run, keep stdout as NAME.json and stderr as NAME.err, say how it went
  local name=$1; shift
  local start=$SECONDS
  if "$@" > "$name.json" 2> "$name.err"; then echo "$name: ok ($((SECONDS - start)) s)"; else echo "$name: FAILED ($((SECONDS - start)) s), see $OUT/$name.err"; fi
}

"$PY" - <<'PY'
from compresstracker.checkpoints import save_native
from compresstracker.deploy.onnx import export_onnx
from compresstracker.models import build_model

teacher = build_model("ostrack_vitb_256_ce").eval()
save_native(teacher, teacher.config, "vitb_teacher.safetensors")
student = build_model("ostrack_vitb_256_ce", arch="ostrack_vitb_256_ce_student4", depth=4, ce_layers=(), ce_keep_ratios=()).eval()
save_native(student, student.config, "vitb_ct4.safetensors")
for name, model in (("vitb_teacher", teacher), ("vitb_ct4", student)):
    export_onnx(model, f"{name}.onnx")
print("models written")
PY

CT=("$PY" -m compresstracker.cli.main)
MODELS=(vitb_teacher.safetensors vitb_ct4.safetensors)
if [ "$DEVICE" = cuda ]; then HALF=(--precision fp16 --precision bf16); else HALF=(--precision bf16); fi
"$PY" -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no cuda')" > env.txt 2>&1
nvidia-smi > nvidia-smi.txt 2>&1 || true

step eager "${CT[@]}" bench "${MODELS[@]}" --device "$DEVICE" --precision fp32 "${HALF[@]}" --runs "$RUNS" --json
step compile "${CT[@]}" bench "${MODELS[@]}" --device "$DEVICE" --compile --precision fp32 "${HALF[@]}" --runs "$RUNS" --json
step ort "${CT[@]}" bench vitb_teacher.onnx vitb_ct4.onnx --device "$DEVICE" --backend onnxruntime --runs "$RUNS" --json

# TensorRT through ONNX Runtime's provider: the network call alone (fp16 engines), when it installs.
step tensorrt "$PY" - "$RUNS" <<'PY'
import json, statistics, sys, time

import numpy as np
import onnxruntime as ort

runs = int(sys.argv[1])
if "TensorrtExecutionProvider" not in ort.get_available_providers():
    sys.exit(f"no TensorrtExecutionProvider in this onnxruntime ({ort.get_available_providers()})")
rows = []
for name in ("vitb_teacher", "vitb_ct4"):
    session = ort.InferenceSession(f"{name}.onnx", providers=[
        ("TensorrtExecutionProvider", {"trt_fp16_enable": True, "trt_engine_cache_enable": True, "trt_engine_cache_path": "trt"}),
        "CUDAExecutionProvider"])
    feeds = {i.name: np.random.default_rng(0).standard_normal([d if isinstance(d, int) else 1 for d in i.shape]).astype(np.float32)
             for i in session.get_inputs()}
    for _ in range(20):
        session.run(None, feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - start) * 1000)
    rows.append({"model": name, "latency_ms": statistics.median(times), "fps_model": 1000 / statistics.median(times)})
print(json.dumps({"provider": "TensorrtExecutionProvider", "precision": "fp16", "rows": rows}, indent=1))
PY
echo "figures in $OUT: eager.json compile.json ort.json tensorrt.json"
