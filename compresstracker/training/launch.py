"""Deciding what a train or compress run is before it starts: fresh or resumed, its data, its processes.

``ctrack train`` and ``ctrack compress`` (and a Python caller) go through the same three steps:
:func:`resolve_run` turns a recipe (or the run's own ``config.yaml`` on resume) and the requested
changes into the recipe to run, refusing a resume that would change the result; :func:`preflight`
refuses data that cannot be read before anything is loaded or written; :func:`execute` relaunches
under torchrun when more processes are asked for, else runs the run function with the run's
thread count and hands its summary to rank 0 only.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from compresstracker.errors import ConfigError
from compresstracker.training.data import data_problems
from compresstracker.training.distributed import launch_torchrun, strip_option
from compresstracker.training.recipe import drop_unrooted_val, load_recipe, recipe_from_dict, set_data_roots
from compresstracker.training.resume import SavedRun, check_resume, saved_run

# The recipe a run kind uses when none is named (train has none: a network must be chosen).
DEFAULT_RECIPES: dict[str, Optional[str]] = {"train": None, "compress": "compresstracker"}

# What the user typed for a recipe key, so a refused resume names it ("--stages 3 but the run has 4").
FLAG_LABELS = {
    "compress.stages": "--stages", "compress.split": "--split", "compress.init": "--init",
    "train.epochs": "--epochs", "data.samples_per_epoch": "--samples-per-epoch", "train.batch_size": "--batch-size",
    "data.train": "--data",
}

# The convenience options of train and compress and the recipe keys they set.
FLAG_KEYS = {
    "epochs": "train.epochs", "samples_per_epoch": "data.samples_per_epoch",
    "batch_size": "train.batch_size", "loader_workers": "data.workers",
}


@dataclass
class RunRequest:
    """A run decided but not started: the recipe to run, lines to show, and the saved run it continues (or None)."""

    recipe: dict[str, Any]
    out: Path
    resume: bool
    notes: list[str]
    saved: Optional[SavedRun]

    def threads(self, asked: Optional[int]) -> Optional[int]:
        """The thread count to run with: the one asked for, else the one the resumed run started with."""
        return asked or (self.saved.threads if self.saved else None)


def flag_overrides(overrides: Sequence[str], **flags: Any) -> list[str]:
    """``key=value`` overrides followed by those of the convenience flags given (flags win), e.g. epochs=2."""
    return list(overrides) + [f"{FLAG_KEYS[name]}={value}" for name, value in flags.items() if value is not None]


def resolve_run(kind: str, recipe: Optional[str], overrides: Sequence[str], data_specs: Sequence[str],
                out: str | os.PathLike, resume: bool) -> RunRequest:
    """The recipe a train/compress run runs, with lines to show and the saved run it continues.

    A fresh run: the recipe (or the kind's default) with ``overrides`` and ``--data`` applied.
    ``resume``: the run's own config.yaml with only what is asked applied; anything that would
    change the result is refused (ConfigError) naming the difference; more epochs are allowed.
    """
    saved = saved_run(out) if resume else None
    if saved is None:
        name = recipe or DEFAULT_RECIPES[kind]
        if name is None:
            raise ConfigError("Missing option '--recipe' / '-r' (or --resume an existing run).")
        resolved = load_recipe(name, list(overrides))
        if resolved["kind"] != kind:
            raise ConfigError(f"recipe {name} is a {resolved['kind']} recipe; use `ctrack {resolved['kind']}`")
        notes = set_data_roots(resolved, data_specs)
        if resume:
            notes.append(f"{out} holds no run yet; starting one")
    else:
        source = saved.recipe.get("source", f"{out}/config.yaml")
        if recipe is not None and load_recipe(recipe)["source"] != source:
            raise ConfigError(f"--recipe {recipe} but the run used {source}; resume with the run's recipe or choose another --out")
        resolved = recipe_from_dict(saved.recipe, source, list(overrides))
        set_data_roots(resolved, data_specs)
        notes = check_resume(saved.recipe, resolved, FLAG_LABELS)
    skipped = drop_unrooted_val(resolved)
    return RunRequest(resolved, Path(out), resume, notes + (skipped if resolved["train"]["epochs"] else []), saved)


def preflight(request: RunRequest, dry_run: bool = False) -> list[str]:
    """The lines to show before the run (notes, then data problems); refuses unreadable data unless ``dry_run``.

    Called before any teacher is loaded or file written, so a bad root costs nothing.
    """
    problems = data_problems(request.recipe)
    if problems and not dry_run:
        raise ConfigError("; ".join(problems))
    return request.notes + problems


def relaunch(nproc: Optional[int], argv: Sequence[str]) -> Optional[int]:
    """With ``nproc`` > 1 (and not already under torchrun) rerun ``ctrack ARGV`` under torchrun: its exit code.

    None means this process runs the work itself.
    """
    if not nproc or nproc <= 1 or "LOCAL_RANK" in os.environ:
        return None
    return launch_torchrun(nproc, strip_option(list(argv), "--nproc"))


def is_main_process() -> bool:
    """Rank 0 (or no torchrun at all): the process that reports."""
    return int(os.environ.get("RANK", "0")) == 0


def check_amp(recipe: dict[str, Any], device: str) -> None:
    """Refuse mixed precision (``train.amp``) the device cannot run: autocast to fp16/bf16 is CUDA
    only here, and a CPU run would train fp32 while its config.yaml said otherwise."""
    import torch

    from compresstracker.devices import resolve_device

    amp = recipe.get("train", {}).get("amp", "none")  # a recipe without it runs fp32
    if amp == "none":
        return
    resolved = resolve_device(device)
    if resolved.type != "cuda":
        raise ConfigError(f"train.amp={amp} needs a CUDA device, this run is on {resolved}; use train.amp=none or --device cuda")
    if amp == "bf16" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"train.amp=bf16 but {torch.cuda.get_device_name(resolved)} has no bf16; use train.amp=fp16 or none")


def execute(run: Callable[..., dict[str, Any]], request: RunRequest, device: str = "cpu",
            progress: bool | str | None = True, threads: Optional[int] = None, **kwargs: Any) -> Optional[dict[str, Any]]:
    """The shared tail of train and compress: ``run(recipe, out, device, resume, ...)`` with
    :meth:`RunRequest.threads`; the summary on rank 0, None elsewhere (rank 0 reports).
    A precision the device cannot run is refused first (:func:`check_amp`)."""
    check_amp(request.recipe, device)
    summary = run(request.recipe, request.out, device, request.resume, progress=progress, threads=request.threads(threads),
                  **kwargs)
    return summary if is_main_process() else None
