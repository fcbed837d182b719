"""Runs behind ``ctrack train`` and ``ctrack compress``: set-up, the engine, exports.

Both write into an output folder: ``config.yaml`` (the fully resolved recipe), ``log.jsonl``,
``checkpoints/`` (full training state, atomic, resumable) and the exported model files.
"""
from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Iterator

import torch

from compresstracker.errors import ConfigError
from compresstracker.fileio import atomic_write_text
from compresstracker.training.distributed import DistInfo, barrier, init_distributed, local_device, shutdown
from compresstracker.training.engine import CHECKPOINT_DIR, LAST, Trainer
from compresstracker.training.recipe import dump_recipe


def prepare_out_dir(out_dir: Path, resume: bool) -> None:
    """Create ``out_dir``; refuse to overwrite a previous run's state unless resuming it."""
    if (out_dir / CHECKPOINT_DIR / LAST).exists() and not resume:
        raise ConfigError(f"{out_dir} already holds a run; pass --resume to continue it or choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)


def progress_bar(enabled: bool):
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from compresstracker.console import console

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console,
    )


def configure_cpu_threads(recipe: dict, dist: DistInfo, device: torch.device) -> None:
    """On CPU, give this process the cores its loader workers and sibling ranks do not use.

    Oversubscribed OpenMP threads stall on a busy machine (measured here: 11 pairs/s with 2
    threads beside one loader worker on 2 cores, 41 pairs/s with 1). OMP_NUM_THREADS wins.
    """
    if device.type != "cpu" or "OMP_NUM_THREADS" in os.environ:
        return
    from compresstracker.devices import available_cores

    torch.set_num_threads(max(1, available_cores() // dist.world_size - recipe["data"]["workers"]))


@contextmanager
def run_context(recipe: dict, out_dir: Path, device_name: str, resume: bool) -> Iterator[tuple[DistInfo, torch.device]]:
    """Start-up shared by every run: devices and process group, the output folder, threads, seeds."""
    from compresstracker.devices import resolve_device

    device = resolve_device(device_name)
    dist = init_distributed(device)
    device = local_device(device, dist)
    try:
        if dist.is_main:
            prepare_out_dir(Path(out_dir), resume)
        barrier(dist)
        configure_cpu_threads(recipe, dist, device)
        torch.manual_seed(int(recipe["train"]["seed"]) + dist.rank)
        yield dist, device
    finally:
        shutdown(dist)


def track_eval(recipe: dict, checkpoint: Path, results: Path, epoch: int) -> dict:
    """``train.track_eval``: every ``val_every`` epochs, AUC (or AO) of the current model on a few sequences."""
    spec, every = recipe["train"]["track_eval"], recipe["train"]["val_every"]
    if not spec["dataset"] or not every or (epoch + 1) % every:
        return {}
    from compresstracker.evaluation.compare import evaluate_model
    from compresstracker.data import get_dataset

    dataset = get_dataset(spec["dataset"], spec["root"], split=spec["split"])
    dataset.sequences = dataset.sequences[: spec["sequences"]]
    metrics = evaluate_model(str(checkpoint), "model", dataset, results)["metrics"]
    return {f"track_{name}": value for name, value in metrics.items()}


def train_tracker(recipe: dict, out_dir: Path, device_name: str = "cpu", resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train a tracker network with the recipe (``kind: train``); exports ``model.safetensors``."""
    from compresstracker.checkpoints import load_checkpoint, save_native
    from compresstracker.models import build_model
    from compresstracker.training.data import build_loader_factory
    from compresstracker.training.tasks import TrackingTask

    out_dir = Path(out_dir)
    with run_context(recipe, out_dir, device_name, resume) as (dist, device):
        seed = int(recipe["train"]["seed"])
        model_cfg = recipe["model"]
        if model_cfg["init"]:
            model = load_checkpoint(model_cfg["init"]).model
        else:
            model = build_model(model_cfg["arch"], drop_path=model_cfg["drop_path"], **model_cfg["overrides"])
        config = model.config
        if dist.is_main:
            atomic_write_text(out_dir / "config.yaml", dump_recipe({**recipe, "resolved_model": config.to_dict(), "world_size": dist.world_size}))
        task = TrackingTask(model, recipe)
        train_loader = build_loader_factory(recipe, config, dist, pin_memory=device.type == "cuda")
        val_loader = build_loader_factory(recipe, config, dist, pin_memory=device.type == "cuda", section="val")
        provenance = {"recipe": recipe.get("source"), "seed": seed, "world_size": dist.world_size}

        def export(trainer: Trainer, epoch: int) -> dict:
            if not dist.is_main:
                return {}
            save_native(task.module, config, out_dir / "model.safetensors", provenance={**provenance, "epoch": epoch + 1})
            return track_eval(recipe, out_dir / "model.safetensors", out_dir / "track_eval" / f"epoch_{epoch + 1:04d}", epoch)

        with progress_bar(progress and dist.is_main) as bar:
            trainer = Trainer(task, recipe, out_dir, device, dist, train_loader, val_loader, bar, export)
            if resume:
                trainer.resume()
            summary = trainer.fit()
        if dist.is_main and recipe["train"]["epochs"] == 0:
            save_native(task.module, config, out_dir / "model.safetensors", provenance=provenance)
        summary.update({"out": str(out_dir), "model": str(out_dir / "model.safetensors"), "world_size": dist.world_size})
        return summary
