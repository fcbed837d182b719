"""Supernet training step vs the single-path network's step (the same architectures, interleaved).

Usage: .venv/bin/python docs/search_step_bench.py [SUPERNET=lighttrack_supernet_tiny] [PATHS=10] [BATCH=32]
Prints the median seconds per step of each and their ratio (CPU, this process's torch threads).
"""
from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import torch


def step_time(module, template, search, arch=None, repeats: int = 3) -> float:
    optimizer = torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        out = module(template, search, arch) if arch is not None else module(template, search)
        loss = out["cls"].float().mean() + out["reg"].float().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main(name: str = "lighttrack_supernet_tiny", paths: int = 10, batch: int = 32) -> None:
    from compresstracker.models import build_model

    supernet = build_model(name).train()
    c = supernet.config
    template = torch.randn(batch, 3, c.template_size, c.template_size)
    search = torch.randn(batch, 3, c.search_size, c.search_size)
    rng = np.random.default_rng(0)
    ratios, supernet_s, single_s = [], [], []
    for _ in range(paths):
        arch = supernet.sample_arch(rng)
        single = supernet.extract(arch).train()
        a = step_time(supernet, template, search, arch)
        b = step_time(single, template, search)
        supernet_s.append(a)
        single_s.append(b)
        ratios.append(a / b)
    print(f"{name}, batch {batch}, {torch.get_num_threads()} threads, {paths} random paths: "
          f"supernet step {statistics.median(supernet_s):.3f} s, single-path network step {statistics.median(single_s):.3f} s, "
          f"median ratio {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0] if args else "lighttrack_supernet_tiny", *(int(a) for a in args[1:]))
