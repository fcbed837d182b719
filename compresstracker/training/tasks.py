"""Training tasks for the engine: OSTrack-style tracking training."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from compresstracker.models import TrackerNet, ctr_point_mask
from compresstracker.training.engine import ce_keep_rate
from compresstracker.training.losses import tracking_loss


def backbone_param_groups(module: nn.Module, recipe: dict) -> list[dict]:
    """Two AdamW groups: everything outside ``backbone`` at lr, the backbone at lr x backbone_lr_mult."""
    train = recipe["train"]
    backbone, other = [], []
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        (backbone if ".backbone." in f".{name}" else other).append(param)
    groups = [{"params": other, "lr": train["lr"]}]
    if backbone:
        groups.append({"params": backbone, "lr": train["lr"] * train["backbone_lr_mult"]})
    return groups


class TrackingTask:
    """Train a tracker network on ground truth with OSTrack's loss and CE keep-rate ramp."""

    def __init__(self, model: TrackerNet, recipe: dict):
        self.module = model
        self.recipe = recipe
        self.loss_weights = recipe["train"]["loss"]
        self.keep_rate: float | None = None

    def param_groups(self, recipe: dict) -> list[dict]:
        return backbone_param_groups(self.module, recipe)

    def begin_epoch(self, epoch: int) -> dict[str, float]:
        if not self.module.ce_enabled:
            return {}
        ce = self.recipe["train"]["ce"]
        self.keep_rate = ce_keep_rate(epoch + 1, ce["start_epoch"], ce["warm_epochs"], ce["keep_ratio"])
        return {"keep_rate": self.keep_rate}

    def step(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        net = module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module
        mask = ctr_point_mask(net.config, batch["template"].shape[0], batch["template"].device) if net.ce_enabled else None
        keep = self.keep_rate if module.training else None
        out = module(batch["template"], batch["search"], mask, keep)
        return tracking_loss(out, batch, self.loss_weights)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None
