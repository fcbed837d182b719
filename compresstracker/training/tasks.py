"""Training tasks for the engine, one per model family, behind a small registry.

``ctrack train`` resolves ``model.arch`` to a config, and the config's family picks its
``TrainingFamily``: the task that computes the loss, the recipe's model options for that family,
and the pair crops the family's tracker sees. OSTrack: centre-head losses and the CE keep-rate
ramp; LightTrack: balanced BCE and IoU loss on the Siamese score grid; LightTrack's supernet:
the same loss on one random path per step (SPOS).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from compresstracker.data.pairs import PairCrops
from compresstracker.errors import ConfigError
from compresstracker.models import LightTrackConfig, LightTrackSupernet, TrackerNet, ctr_point_mask, family_of
from compresstracker.training.engine import Task, ce_keep_rate
from compresstracker.training.lighttrack_loss import lighttrack_loss
from compresstracker.training.losses import tracking_loss


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


class _BackboneSchedule:
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


class TrackingTask(_BackboneSchedule):
    """Train a tracker network on ground truth with OSTrack's loss and CE keep-rate ramp."""

    backbone_name = "backbone"

    def __init__(self, model: TrackerNet, recipe: dict):
        self.module = model
        self.recipe = recipe
        self.loss_weights = recipe["train"]["loss"]
        self.keep_rate: float | None = None

    def param_groups(self, recipe: dict) -> list[dict]:
        return backbone_param_groups(self.module, recipe, self.backbone_name)

    def begin_epoch(self, epoch: int) -> dict[str, float]:
        extra = self._begin_backbone(epoch, self.recipe)
        if not self.module.ce_enabled:
            return extra
        ce = self.recipe["train"]["ce"]
        self.keep_rate = ce_keep_rate(epoch + 1, ce["start_epoch"], ce["warm_epochs"], ce["keep_ratio"])
        return {**extra, "keep_rate": self.keep_rate}

    def step(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        net = unwrap(module)
        mask = ctr_point_mask(net.config, batch["template"].shape[0], batch["template"].device) if net.ce_enabled else None
        keep = self.keep_rate if module.training else None
        out = module(batch["template"], batch["search"], mask, keep)
        return tracking_loss(out, batch, self.loss_weights)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


class LightTrackTask(_BackboneSchedule):
    """Train a LightTrack network: ``train.siamese_loss`` weights of balanced BCE and IoU loss.

    Labels are made per batch on the network's own score grid (stride from the config, score
    size from the output), so any architecture of the space trains with it.
    """

    backbone_name = "features"

    def __init__(self, model: nn.Module, recipe: dict):
        self.module = model
        self.recipe = recipe
        self.loss = recipe["train"]["siamese_loss"]

    def param_groups(self, recipe: dict) -> list[dict]:
        return backbone_param_groups(self.module, recipe, self.backbone_name)

    def begin_epoch(self, epoch: int) -> dict[str, float]:
        return self._begin_backbone(epoch, self.recipe)

    def step(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        out = module(batch["template"], batch["search"])
        return lighttrack_loss(
            out, batch["search_box"], unwrap(module).config.stride, batch["search"].shape[-1],
            cls_weight=self.loss["cls"], iou_weight=self.loss["iou"], pos_radius=self.loss["pos_radius"],
        )

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


PATH_SEED_OFFSET = 7_919  # keeps the path stream apart from the data and init streams of the same seed


class SupernetTask(LightTrackTask):
    """SPOS supernet training: LightTrack's loss on one uniformly random path per step.

    The path generator is part of the task's state, so the engine's exact resume continues the
    same path sequence. Under DDP every process draws the same path at each step (the generator
    is seeded from ``train.seed`` alone, not the rank): all processes then run the same modules,
    gradients are averaged over the same parameters, and the engine's ``find_unused_parameters``
    covers the modules the path skips. Backbone freezing and its lr multiplier are
    LightTrackTask's (``train.freeze_backbone_epochs``, ``train.backbone_lr_mult``).
    """

    def __init__(self, model: LightTrackSupernet, recipe: dict):
        super().__init__(model, recipe)
        self.rng = np.random.default_rng(int(recipe["train"]["seed"]) + PATH_SEED_OFFSET)
        self.last_path: str | None = None

    def step(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        supernet: LightTrackSupernet = unwrap(module)
        arch = supernet.sample_arch(self.rng)
        self.last_path = arch.to_path()
        out = module(batch["template"], batch["search"], arch)
        return lighttrack_loss(
            out, batch["search_box"], supernet.config.stride, batch["search"].shape[-1],
            cls_weight=self.loss["cls"], iou_weight=self.loss["iou"], pos_radius=self.loss["pos_radius"],
        )

    def state_dict(self) -> dict[str, Any]:
        return {"path_rng": json.dumps(self.rng.bit_generator.state)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "path_rng" in state:
            self.rng.bit_generator.state = json.loads(state["path_rng"])


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
    if name not in _TRAINING:
        raise ConfigError(f"ctrack cannot train {name} models (trainable families: {', '.join(sorted(_TRAINING))})")
    return _TRAINING[name]


def lighttrack_crops(config: LightTrackConfig) -> PairCrops:
    """LightTrack's crops: the context square (context 0.5) to the template size, the same square
    scaled by search_size / template_size to the search size, mean-colour padding, no heatmap."""
    return PairCrops(
        config.template_size, config.search_size, 1.0, config.search_size / config.template_size,
        context_amount=0.5, pad_mean=True,
    )


register_training("ostrack", TrainingFamily(
    TrackingTask, lambda model: {"drop_path": model["drop_path"], **model["overrides"]}, PairCrops.from_tracker,
))
# model.drop_path is a ViT setting; LightTrack networks have none.
register_training("lighttrack", TrainingFamily(LightTrackTask, lambda model: dict(model["overrides"]), lighttrack_crops))
register_training("lighttrack_supernet", TrainingFamily(
    SupernetTask, lambda model: dict(model["overrides"]), lambda config: lighttrack_crops(config.base),
))

__all__ = [
    "LightTrackTask", "SupernetTask", "TrackingTask", "TrainingFamily", "backbone_param_groups", "freeze_backbone",
    "lighttrack_crops", "register_training", "training_family", "unwrap",
]

