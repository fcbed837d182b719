"""A candidate's fitness: cut it out of the supernet, recalibrate its BatchNorm, track, score.

BatchNorm statistics of a path are not those the supernet accumulated over all paths, so each
candidate's are reset and re-estimated on training pairs in train mode without gradients (SPOS,
LightTrack). Every candidate sees the same calibration batches (drawn once from a seeded
sampler), so its fitness depends on its architecture alone: a resumed search scores exactly as
an uninterrupted one. Tracking and scoring are ``ctrack eval``'s: the candidate is written as an
ordinary checkpoint and run through the runner and ``score_trackers`` (GOT-10k protocol: AO and
SR0.5; OPE benchmarks: AUC and OP50, their analogues).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn


def reset_batchnorm(net: nn.Module) -> int:
    """Forget every BatchNorm's running statistics and make it average over all batches to come."""
    count = 0
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative moving average: every batch weighs the same
            count += 1
    return count


@torch.no_grad()
def recalibrate_batchnorm(net: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> nn.Module:
    """Re-estimate BatchNorm statistics of ``net`` on ``batches`` (template/search pairs), then eval mode."""
    reset_batchnorm(net)
    net.train()
    device = next(net.parameters()).device
    for batch in batches:
        net(batch["template"].to(device), batch["search"].to(device))
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = 0.1  # PyTorch's default again: the saved network behaves like any other
    return net.eval()


class CalibrationBatches:
    """The same ``count`` batches for every candidate: kept in memory when small, else re-read with one seed."""

    MAX_BYTES = 512 * 2**20

    def __init__(self, loader_factory, count: int):
        self.loader_factory = loader_factory
        self.count = count
        self.kept: list[dict[str, torch.Tensor]] | None = None

    def _read(self) -> Iterable[dict[str, torch.Tensor]]:
        for i, batch in enumerate(self.loader_factory(0, 0)):
            if i >= self.count:
                return
            valid = batch.get("valid")
            if valid is not None and not bool(valid.all()):
                batch = {k: v[valid] for k, v in batch.items() if torch.is_tensor(v)}
            yield {"template": batch["template"], "search": batch["search"]}

    def __iter__(self):
        if self.kept is not None:
            return iter(self.kept)
        kept, size = [], 0
        for batch in self._read():
            size += sum(v.numel() * v.element_size() for v in batch.values())
            if size > self.MAX_BYTES:
                return self._read()
            kept.append(batch)
        self.kept = kept
        return iter(kept)


PAPER_CALIB_BATCHES = 200  # LightTrack: 200 train-mode batches of 32 pairs
SMALL_CALIB_BATCHES = 10  # supernets built for smaller inputs than the paper's (tiny CPU sizes)


def default_calib_batches(config) -> int:
    """The paper's 200 batches for a paper-size supernet; 10 for small-input ones, whose BN statistics
    settle sooner and where 200 batches would cost minutes per candidate on a CPU."""
    paper = (config.template_size, config.search_size) == (128, 256)
    return PAPER_CALIB_BATCHES if paper else SMALL_CALIB_BATCHES


def fitness_dataset(spec: str | None):
    """The dataset of ``--data NAME=ROOT[:SPLIT]`` (the sequences that score candidates)."""
    from compresstracker.data import get_dataset
    from compresstracker.errors import ConfigError
    from compresstracker.training.recipe import split_root

    name, _, rest = (spec or "").partition("=")
    if not name or not rest:
        raise ConfigError("ctrack search needs --data NAME=ROOT[:SPLIT]: the sequences that score candidates")
    root, split = split_root(rest)
    return get_dataset(name, root, split=split)


def calibration_loader(crops, supernet_path: Path, calib: str | None, batches: int, batch_size: int):
    """A loader factory of training pairs cut as ``crops`` (the space's) for BatchNorm recalibration.

    Default: the supernet run's own training data (its ``config.yaml``); ``calib`` (NAME=ROOT[:SPLIT])
    replaces it. Augmented train-mode pairs, one fixed seed.
    """
    import yaml

    from compresstracker.errors import ConfigError
    from compresstracker.training.data import build_loader_factory
    from compresstracker.training.distributed import DistInfo
    from compresstracker.training.recipe import SCHEMA, set_data_roots

    run_config = Path(supernet_path).parent / "config.yaml"
    if run_config.is_file():
        recipe = yaml.safe_load(run_config.read_text())
    elif calib:
        import copy

        recipe = copy.deepcopy(SCHEMA)
    else:
        raise ConfigError(f"no config.yaml beside {supernet_path} to take calibration data from; pass --calib NAME=ROOT[:SPLIT]")
    if calib:
        recipe["data"]["train"] = []
        set_data_roots(recipe, [calib])
    recipe["data"]["samples_per_epoch"] = batches * batch_size
    recipe["train"]["batch_size"] = batch_size
    return build_loader_factory(recipe, crops, DistInfo(), pin_memory=False)


def track_and_score(net: nn.Module, dataset, work: Path, device: str = "cpu", threads: int | None = None) -> dict[str, Any]:
    """Track ``dataset`` with ``net`` on ``device`` and score it exactly as ``ctrack eval`` does (its runner, result
    files, tracker choice by model family with its default preset, and ``score_trackers``); ``work`` is removed after.
    ``threads``: the tracker's (default: the runner's policy); the search passes its own, as one thread on a
    busy 2-core machine tracked these small networks 8-20x faster than two."""
    from compresstracker.checkpoints import save_native
    from compresstracker.evaluation.report import GOT10K_PROTOCOL, score_trackers
    from compresstracker.evaluation.runner import ModelSpec, run_tracker

    work.mkdir(parents=True, exist_ok=True)
    try:
        checkpoint = save_native(net, net.config, work / "candidate.safetensors")
        results = work / "results"
        run_tracker(ModelSpec(checkpoint=str(checkpoint), device=device), dataset, results, replace_stale=True, threads=threads)
        metrics = score_trackers(dataset, [results])[0].metrics()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if dataset.protocol == GOT10K_PROTOCOL:
        ao, sr50 = metrics["ao"], metrics["sr50"]
    else:  # OPE benchmarks: AUC and OP50, the same quantities over the success curve
        ao, sr50 = metrics["auc"], metrics["op50"]
    return {"fitness": (ao + sr50) / 2, "ao": ao, "sr50": sr50}
