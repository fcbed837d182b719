"""Per-frame cost of the VOT toolkit over TraX against `ctrack track`, in interleaved rounds.

    python docs/trax_overhead.py WORKSPACE ROUNDS

WORKSPACE: a VOT workspace with tracker `ct` (`ctrack vot setup WORKSPACE -c ct.safetensors --name ct
--threads 1`) and ct.safetensors in it. Each round runs `vot evaluate --force ct` (the toolkit's own
per-frame clock) and then `ctrack track` on the first sequence (tracking step, end to end).
"""
import json, os, statistics, subprocess, sys
from pathlib import Path

import numpy as np

ws = sys.argv[1]
bin_ = str(Path(sys.executable).parent)
env = {**os.environ, "VOT_WORKER_POOL_SIZE": "1", "VOT_RESULTS_BINARY": "0", "PATH": bin_ + os.pathsep + os.environ["PATH"]}
seq = open(f"{ws}/sequences/list.txt").read().split()[0]
box = open(f"{ws}/sequences/{seq}/groundtruth.txt").readline().strip()
trax, step, e2e = [], [], []
for r in range(int(sys.argv[2])):
    subprocess.run(["vot", "evaluate", "--force", "ct"], cwd=ws, env=env, capture_output=True, check=True)
    t = np.loadtxt(f"{ws}/results/ct/baseline/{seq}/{seq}_001_time.value")[1:]
    trax.append(1000 * t.mean())
    out = subprocess.run(["ctrack", "track", "-c", "ct.safetensors", "--threads", "1", "--frames", f"sequences/{seq}/color",
                          "--init-box", box, "--json"], cwd=ws, env=env, capture_output=True, text=True, check=True)
    d = json.loads(out.stdout)
    step.append(1000 / d["fps"]); e2e.append(1000 / d["end_to_end_fps"])
    print(f"round {r + 1}: trax {trax[-1]:.2f} ms/frame, ctrack track step {step[-1]:.2f} ms, end to end {e2e[-1]:.2f} ms", flush=True)
m = statistics.median
print(f"median: trax {m(trax):.2f} ms, track step {m(step):.2f} ms, end to end {m(e2e):.2f} ms; "
      f"ratio trax / end to end {m([a / b for a, b in zip(trax, e2e)]):.3f}, trax / step {m([a / b for a, b in zip(trax, step)]):.3f}")
