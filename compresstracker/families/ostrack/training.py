"""How OSTrack-family networks train: CenterNet focal loss on the score map, GIoU and L1 on the box,
and OSTrack's candidate-elimination keep-rate ramp."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from compresstracker.data.pairs import PairCrops
from compresstracker.families.ostrack.network import OSTrackNet, ctr_point_mask
from compresstracker.training.engine import ce_keep_rate
from compresstracker.training.losses import box_losses
from compresstracker.training.tasks import BackboneSchedule, TrainingFamily, backbone_param_groups, unwrap

__all__ = ["TRAINING", "TrackingTask", "focal_loss", "tracking_loss"]


def focal_loss(pred: Tensor, target: Tensor) -> Tensor:
    """CenterNet focal loss (alpha 2, beta 4), normalised by the number of cells equal to 1."""
    positive = target.eq(1).float()
    negative = target.lt(1).float()
    pred = pred.clamp(min=1e-12)
    pos_loss = (torch.log(pred) * (1 - pred) ** 2 * positive).sum()
    neg_loss = (torch.log(1 - pred) * pred**2 * (1 - target) ** 4 * negative).sum()
    num_pos = positive.sum()
    if num_pos == 0:
        return -neg_loss
    return -(pos_loss + neg_loss) / num_pos


def tracking_loss(out: dict[str, Tensor], batch: dict[str, Tensor], weights: dict[str, float]) -> tuple[Tensor, dict[str, float]]:
    """weights['giou'] * GIoU + weights['l1'] * L1 + weights['focal'] * focal, plus the terms for logging."""
    giou, l1, iou = box_losses(out["pred_boxes"], batch["search_box"])
    focal = focal_loss(out["score_map"], batch["heatmap"].unsqueeze(1).to(out["score_map"].dtype))
    total = weights["giou"] * giou + weights["l1"] * l1 + weights["focal"] * focal
    return total, {"giou": giou.detach(), "l1": l1.detach(), "focal": focal.detach(), "iou": iou}


class TrackingTask(BackboneSchedule):
    """Train a tracker network on ground truth with OSTrack's loss and CE keep-rate ramp."""

    backbone_name = "backbone"

    def __init__(self, model: OSTrackNet, recipe: dict):
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


# model.drop_path is a ViT setting.
TRAINING = TrainingFamily(
    TrackingTask, lambda model: {"drop_path": model["drop_path"], **model["overrides"]}, PairCrops.from_tracker,
)
