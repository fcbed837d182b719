"""Recipe -> training/validation loaders (the engine asks for one per epoch, with batches to skip)."""
from __future__ import annotations

import os
from typing import Any, TYPE_CHECKING, Callable, Optional

from compresstracker.errors import ConfigError
from compresstracker.threads import loader_workers
from compresstracker.training.distributed import DistInfo

if TYPE_CHECKING:
    from compresstracker.data.pairs import PairCrops

LoaderFactory = Callable[[int, int], object]


def data_problems(recipe: dict) -> list[str]:
    """Training data that cannot be read as given: entries without a root, roots that are not folders.

    Checked before a teacher is loaded or a file written (and by ``--dry-run``); nothing when
    the run trains no epoch.
    """
    import os

    if recipe["train"]["epochs"] == 0:
        return []
    if not recipe["data"]["train"]:
        return ["the recipe lists no training data (data.train); pass --data NAME=ROOT"]
    problems = []
    for section in ("train", "val"):
        entries = recipe["data"][section]
        missing = [e["name"] for e in entries if not e.get("root")]
        if missing:
            flags = " ".join(f"--data {name}=ROOT" for name in missing)
            problems.append(f"data.{section}: no root for {', '.join(missing)}; pass {flags}")
        problems.extend(f"data.{section}: {e['name']} root {e['root']} is not a folder"
                        for e in entries if e.get("root") and not os.path.isdir(e["root"]))
    return problems


def _sources(entries: list[dict], section: str):
    from compresstracker.data.sources import build_source

    missing = [f"{e['name']}" for e in entries if not e.get("root")]
    if missing:
        flags = " ".join(f"--data {name}=ROOT" for name in missing)
        raise ConfigError(f"data.{section}: no root for {', '.join(missing)}; pass {flags} (or set data.{section}.N.root)")
    return [(build_source(e["name"], e["root"], e.get("split")), float(e["ratio"])) for e in entries]


def build_loader_factory(
    recipe: dict, crops: PairCrops | Any, dist: DistInfo, pin_memory: bool, section: str = "train"
) -> Optional[LoaderFactory]:
    """A function (epoch, skip_batches) -> DataLoader over this rank's share of the epoch's pairs.

    ``crops``: the pair crops (an OSTrack-family config stands for its own). ``section`` 'val'
    uses the validation sources and ``data.val_samples`` pairs without augmentation.
    """
    from compresstracker.data.pairs import PairDataset, PairSampling, make_loader

    data = recipe["data"]
    entries = data[section]
    if not entries:
        if section == "train":
            raise ConfigError("the recipe lists no training data (data.train); add entries or pass --data NAME=ROOT")
        return None
    samples = data["samples_per_epoch"] if section == "train" else data["val_samples"]
    if samples < 1:
        return None
    seed = int(recipe["train"]["seed"]) + (0 if section == "train" else 10_000)
    batch = recipe["train"]["batch_size"]
    if samples < batch * dist.world_size:
        raise ConfigError(f"data.samples_per_epoch {samples} is smaller than one batch ({batch} x {dist.world_size} processes)")
    pairs = PairDataset(
        _sources(entries, section), samples, crops, seed, augment=section == "train",
        sampling=PairSampling(max_gap=data["max_gap"]),
    )
    workers = loader_workers(data["workers"], int(os.environ.get("LOCAL_WORLD_SIZE", dist.world_size)))
    loader = make_loader(pairs, batch, workers, seed, dist.rank, dist.world_size, pin_memory=pin_memory)

    def factory(epoch: int, skip_batches: int):
        pairs.set_epoch(epoch)
        loader.sampler.set_epoch(epoch, skip_batches=skip_batches)
        return loader

    return factory
