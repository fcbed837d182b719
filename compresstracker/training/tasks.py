"""Training tasks for the engine, one per model family, behind a small registry.

``ctrack train`` resolves ``model.arch`` to a config, and the config's family picks its
``TrainingFamily`` (registered by the family's plug-in): the task that computes the loss, the
recipe's model options for that family, and the pair crops the family's tracker sees. Shared
here: parameter groups with a backbone learning-rate multiplier, and backbone freezing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

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


# (model, source of another type) -> the keys copied: a family starting its network from another's parts.
Adopt = Callable[[nn.Module, nn.Module], list[str]]


@dataclass(frozen=True)
class TrainingFamily:
    """How ``ctrack train`` trains one model family.

    ``task(model, recipe)`` builds the engine's task; ``config_overrides(recipe_model)`` turns the
    recipe's ``model`` section into config changes; ``crops(config)`` gives the pair crops;
    ``stages`` the values of ``train.stage`` the task knows (MixFormerV2 adds ``score``);
    ``adopt``, where a family has it, lets ``--init`` name a network of another type whose shared
    parts it copies (MixFormerV2: a ViT tracker's backbone).
    """

    task: Callable[[nn.Module, dict], Task]
    config_overrides: Callable[[dict], dict[str, Any]]
    crops: Callable[[Any], PairCrops]
    stages: tuple[str, ...] = ("box",)
    adopt: Optional[Adopt] = None


_TRAINING: dict[str, TrainingFamily] = {}


def register_training(family: str, entry: TrainingFamily) -> None:
    _TRAINING[family] = entry


def training_family(config: Any, stage: str = "box") -> TrainingFamily:
    """The training entry of the config's model family; a ConfigError when it has none, or when it
    does not know the recipe's ``train.stage``."""
    name = family_of(config).name
    load_families()
    if name not in _TRAINING:
        raise ConfigError(f"ctrack cannot train {name} models (trainable families: {', '.join(sorted(_TRAINING))})")
    entry = _TRAINING[name]
    if stage not in entry.stages:
        raise ConfigError(f"train.stage {stage} is not a stage of {name} training (its stages: {', '.join(entry.stages)})")
    return entry


__all__ = ["Adopt", "BackboneSchedule", "TrainingFamily", "backbone_param_groups", "freeze_backbone", "register_training", "training_family", "unwrap"]
