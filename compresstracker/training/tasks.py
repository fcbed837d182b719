"""Training tasks for the engine, one per model family, behind a small registry.

``ctrack train`` resolves ``model.arch`` to a config, and the config's family picks its
``TrainingFamily`` (registered by the family's plug-in): the task that computes the loss, the
recipe's model options for that family, and the pair crops the family's tracker sees. Shared
here: parameter groups with a backbone learning-rate multiplier, and backbone freezing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from compresstracker.data.pairs import PairCrops
from compresstracker.errors import ConfigError
from compresstracker.models import family_of
from compresstracker.plugins import load_families
from compresstracker.training.engine import Task


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper (or the module itself)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def backbone_param_groups(module: nn.Module, recipe: dict, backbone: str = "backbone") -> list[dict]:
    """Two groups: everything outside the submodule ``backbone`` at lr, the backbone at lr x backbone_lr_mult."""
    train = recipe["train"]
    inside, other = [], []
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        (inside if f".{backbone}." in f".{name}" else other).append(param)
    groups = [{"params": other, "lr": train["lr"]}]
    if inside:
        groups.append({"params": inside, "lr": train["lr"] * train["backbone_lr_mult"]})
    return groups


def freeze_backbone(backbone: nn.Module, frozen: bool) -> None:
    """Fix (or release) a backbone: no gradients, so the optimiser skips it, and BN statistics in eval mode.

    Call after ``module.train()`` (the engine does), since ``train()`` would put the BNs back.
    """
    for param in backbone.parameters():
        param.requires_grad_(not frozen)
    if frozen:
        backbone.eval()


class BackboneSchedule:
    """``train.freeze_backbone_epochs``: the backbone is frozen for the first N epochs."""

    backbone_name: str
    module: nn.Module

    def _begin_backbone(self, epoch: int, recipe: dict) -> dict[str, float]:
        epochs = recipe["train"]["freeze_backbone_epochs"]
        if not epochs:
            return {}
        frozen = epoch < epochs
        freeze_backbone(self.module.get_submodule(self.backbone_name), frozen)
        return {"backbone_frozen": float(frozen)}


@dataclass(frozen=True)
class TrainingFamily:
    """How ``ctrack train`` trains one model family.

    ``task(model, recipe)`` builds the engine's task; ``config_overrides(recipe_model)`` turns the
    recipe's ``model`` section into config changes; ``crops(config)`` gives the pair crops.
    """

    task: Callable[[nn.Module, dict], Task]
    config_overrides: Callable[[dict], dict[str, Any]]
    crops: Callable[[Any], PairCrops]


_TRAINING: dict[str, TrainingFamily] = {}


def register_training(family: str, entry: TrainingFamily) -> None:
    _TRAINING[family] = entry


def training_family(config: Any) -> TrainingFamily:
    """The training entry of the config's model family; a ConfigError when it has none."""
    name = family_of(config).name
    load_families()
    if name not in _TRAINING:
        raise ConfigError(f"ctrack cannot train {name} models (trainable families: {', '.join(sorted(_TRAINING))})")
    return _TRAINING[name]


__all__ = ["BackboneSchedule", "TrainingFamily", "backbone_param_groups", "freeze_backbone", "register_training", "training_family", "unwrap"]
