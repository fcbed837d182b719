"""A LaSOT-layout root with annotations only (no images): 280 sequences x 2,500 frames, and results."""
import os, sys
import numpy as np
root, results = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
os.makedirs(results, exist_ok=True)
for i in range(280):
    cls = f"class{i % 70}"
    name = f"{cls}-{i // 70 + 1}"
    d = os.path.join(root, cls, name); os.makedirs(d, exist_ok=True)
    n = 2500
    xy = 100 + np.cumsum(rng.normal(0, 2, (n, 2)), axis=0)
    wh = np.abs(rng.normal(60, 5, (n, 2))) + 5
    gt = np.round(np.hstack([xy, wh])).astype(int)
    np.savetxt(os.path.join(d, "groundtruth.txt"), gt, fmt="%d", delimiter=",")
    flags = (rng.random(n) < 0.02).astype(int)
    for f in ("full_occlusion.txt", "out_of_view.txt"):
        open(os.path.join(d, f), "w").write(",".join(map(str, flags)) + "\n")
    pred = gt + rng.normal(0, 8, gt.shape).round().astype(int)
    np.savetxt(os.path.join(results, f"{name}.txt"), pred, fmt="%d", delimiter="\t")
