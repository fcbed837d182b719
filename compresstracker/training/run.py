"""Runs behind ``ctrack train`` and ``ctrack compress``: set-up, the engine, exports.

Both write into an output folder: ``config.yaml`` (the fully resolved recipe), ``log.jsonl``,
``checkpoints/`` (full training state, atomic, resumable) and the exported model files.
"""
from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional

import torch

from compresstracker.errors import ConfigError, CTrackError, CTrackWarning
from compresstracker.fileio import atomic_write_text
from compresstracker.training.distributed import DistInfo, barrier, init_distributed, local_device, shutdown
from compresstracker.training.engine import CHECKPOINT_DIR, LAST, Trainer
from compresstracker.threads import loader_worker_cap, resolve_threads, set_threads
from compresstracker.training.recipe import dump_recipe
from compresstracker.training.resume import SavedRun, applicable, check_resume, saved_run

if TYPE_CHECKING:
    from compresstracker.training.tasks import Adopt


def prepare_out_dir(out_dir: Path, resume: bool) -> None:
    """Create ``out_dir``; refuse to overwrite a previous run's state unless resuming it."""
    if (out_dir / CHECKPOINT_DIR / LAST).exists() and not resume:
        raise ConfigError(f"{out_dir} already holds a run; pass --resume to continue it or choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)


def write_if_changed(path: Path, text: str) -> None:
    """Atomically write ``text`` unless the file already holds exactly it (a resume leaves the run untouched)."""
    if path.is_file() and path.read_text() == text:
        return
    atomic_write_text(path, text)


def make_progress(progress: bool | str | None):
    """The engine's progress reporter: True/'bar'/'lines' -> a TrainingProgress, False/None -> none."""
    from compresstracker.progress import TrainingProgress, resolve_progress

    mode = resolve_progress(progress)
    return TrainingProgress(mode) if mode else None


@dataclass
class RunSetup:
    """What run_context hands a run: process group, device, thread count, and the checked saved run."""

    dist: DistInfo
    device: torch.device
    threads: int
    saved: Optional[SavedRun]
    notes: list[str]

    def resolved_choices(self) -> dict[str, Any]:
        """What this run chose for itself that changes its numbers (thread count, CPU kernel family):
        recorded in config.yaml and the exported model's provenance, so a figure can be traced to them."""
        from compresstracker.devices import cpu_kernels

        return {"threads": self.threads, "cpu_kernels": cpu_kernels()}


def configure_threads(recipe: dict, dist: DistInfo, threads: Optional[int]) -> int:
    """Set this process's thread count explicitly (training results depend on it: reduction order).

    Default: the cores this process may use, shared by this machine's ranks, minus loader workers.
    """
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", dist.world_size))
    workers = min(recipe["data"]["workers"], loader_worker_cap(local_world))  # what the loader will run (training.data)
    return set_threads(resolve_threads(threads, processes=local_world, reserved=workers))


def check_saved_run(recipe: dict, out_dir: Path, dist: DistInfo, threads: int) -> tuple[Optional[SavedRun], list[str]]:
    """On resume: the run in ``out_dir`` and notes, or a one-line ConfigError if the request changes its result."""
    saved = saved_run(out_dir)
    if saved is None:
        return None, []
    check_resume(saved.recipe, recipe)  # refuses a changed run; the CLI says what it allowed, in its own words
    notes = []
    if saved.world_size is not None and saved.world_size != dist.world_size:
        raise ConfigError(f"{dist.world_size} process(es) but the run has {saved.world_size} (the total batch would change)")
    if saved.threads is not None and saved.threads != threads:
        notes.append(f"{threads} threads but the run started with {saved.threads}; the weights may differ "
                     f"in the last digits from an uninterrupted run (--threads {saved.threads} matches it)")
    return saved, notes


@contextmanager
def run_context(recipe: dict, out_dir: Path, device_name: str, resume: bool, threads: Optional[int] = None) -> Iterator[RunSetup]:
    """Start-up shared by every run: devices and process group, the resume check, the output folder, threads, seeds.

    Nothing is written before the resume check has passed.
    """
    from compresstracker.devices import resolve_device

    device = resolve_device(device_name)
    dist = init_distributed(device)
    device = local_device(device, dist)
    created = not Path(out_dir).exists()
    try:
        threads = configure_threads(recipe, dist, threads)
        saved, notes = check_saved_run(recipe, Path(out_dir), dist, threads) if resume else (None, [])
        if dist.is_main:
            prepare_out_dir(Path(out_dir), resume)
            for note in notes:
                warnings.warn(CTrackWarning(note), stacklevel=2)
        barrier(dist)
        torch.manual_seed(int(recipe["train"]["seed"]) + dist.rank)
        yield RunSetup(dist, device, threads, saved, notes)
    except CTrackError:
        # bad input found while setting up (a teacher, data or --init that does not fit): leave no empty --out behind
        if created and dist.is_main and Path(out_dir).is_dir() and not any(Path(out_dir).iterdir()):
            Path(out_dir).rmdir()
        raise
    finally:
        shutdown(dist)


def finished(setup: RunSetup, recipe: dict, *files: Path) -> bool:
    """True when the resumed run has already trained every epoch and exported ``files``: nothing to do."""
    saved = setup.saved
    done = saved is not None and saved.epochs_done is not None and saved.epochs_done >= recipe["train"]["epochs"]
    if done and all(Path(f).is_file() for f in files):
        if setup.dist.is_main:
            warnings.warn(CTrackWarning(f"the run is complete ({saved.epochs_done} epochs); nothing to train"), stacklevel=2)
        return True
    return False


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


def init_weights(model: torch.nn.Module, source: torch.nn.Module, path: str, adopt: Optional[Adopt] = None) -> None:
    """Copy ``source``'s weights into the recipe's ``model``; an error when they are not the same network.

    The recipe's ``model.arch`` decides what is trained (and is what config.yaml records); ``--init``
    only supplies weights, so a checkpoint of another architecture or family is refused, not trained
    in the recipe's place, unless the model's family can ``adopt`` the parts it shares with it.
    """
    if adopt is not None and type(model) is not type(source):
        adopt(model, source)
        return
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in source.state_dict().items()}
    if ours != theirs or type(model) is not type(source):
        differ = sorted(set(ours) ^ set(theirs)) or sorted(k for k in ours if ours[k] != theirs.get(k))
        raise ConfigError(
            f"--init {Path(path).name} holds a {source.config.name} network, not the recipe's {model.config.name} "
            f"(first difference: {differ[0] if differ else type(source).__name__}); "
            "give the matching model.arch (a search's best.json for its subnet)"
        )
    model.load_state_dict(source.state_dict(), strict=True)


def build_recipe_model(model: dict) -> torch.nn.Module:
    """The untrained network of a recipe's ``model`` section (``arch`` resolved by the model
    registry: a name, a LightTrack path string or JSON file), with the family's options applied."""
    from compresstracker.models import build_model, resolve_config
    from compresstracker.training.tasks import training_family

    base = resolve_config(model["arch"])
    return build_model(base, **training_family(base).config_overrides(model))


def train_tracker(
    recipe: dict, out_dir: Path, device_name: str = "cpu", resume: bool = False, progress: bool | str | None = True,
    threads: Optional[int] = None,
) -> dict[str, Any]:
    """Train a tracker network with the recipe (``kind: train``); exports ``model.safetensors``."""
    from compresstracker.checkpoints import load_checkpoint, save_native
    from compresstracker.training.data import build_loader_factory
    from compresstracker.training.tasks import training_family

    out_dir = Path(out_dir)
    with run_context(recipe, out_dir, device_name, resume, threads) as setup:
        dist, device = setup.dist, setup.device
        summary: dict[str, Any] = {"out": str(out_dir), "model": str(out_dir / "model.safetensors"), "world_size": dist.world_size,
                                   "threads": setup.threads, "epochs": recipe["train"]["epochs"]}
        if finished(setup, recipe, out_dir / "model.safetensors"):
            return {**summary, "complete": True}
        seed = int(recipe["train"]["seed"])
        model = build_recipe_model(recipe["model"])
        config = model.config
        family = training_family(config, recipe["train"]["stage"])
        if recipe["model"]["init"]:
            init_weights(model, load_checkpoint(recipe["model"]["init"]).model, recipe["model"]["init"], family.adopt)
        task = family.task(model, recipe)
        crops = family.crops(config)
        train_loader = build_loader_factory(recipe, crops, dist, pin_memory=device.type == "cuda")
        val_loader = build_loader_factory(recipe, crops, dist, pin_memory=device.type == "cuda", section="val")
        if dist.is_main:
            write_if_changed(out_dir / "config.yaml", dump_recipe({
                **applicable(recipe), "resolved_model": config.to_dict(), "world_size": dist.world_size, **setup.resolved_choices()}))
        provenance = {"recipe": recipe.get("source"), "seed": seed, "world_size": dist.world_size, **setup.resolved_choices()}

        def export(trainer: Trainer, epoch: int) -> dict:
            if not dist.is_main:
                return {}
            save_native(task.module, config, out_dir / "model.safetensors", provenance={**provenance, "epoch": epoch + 1})
            return track_eval(recipe, out_dir / "model.safetensors", out_dir / "track_eval" / f"epoch_{epoch + 1:04d}", epoch)

        trainer = Trainer(task, recipe, out_dir, device, dist, train_loader, val_loader,
                          make_progress(progress) if dist.is_main else None, export, run_info={"threads": setup.threads})
        if resume:
            trainer.resume()
        summary.update(trainer.fit())
        if dist.is_main and recipe["train"]["epochs"] == 0:
            save_native(task.module, config, out_dir / "model.safetensors", provenance=provenance)
        return summary
