"""How MixFormerV2 networks train: GIoU and L1 on the box decoded from the four side distributions
(the official box losses, weights ``train.loss.giou`` / ``train.loss.l1``: 2.0 / 5.0), against the
search crop's ground truth. Pairs are (template, search) crops; the template is fed as both the
first and the online template, as at a sequence's first frame."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from compresstracker.data.pairs import PairCrops
from compresstracker.training.losses import box_losses
from compresstracker.training.tasks import BackboneSchedule, TrainingFamily, backbone_param_groups

__all__ = ["MixFormerV2Task", "TRAINING", "crops", "tracking_loss"]


def tracking_loss(out: dict[str, Tensor], batch: dict[str, Tensor], weights: dict[str, float]) -> tuple[Tensor, dict[str, Any]]:
    """weights['giou'] * GIoU + weights['l1'] * L1 of the decoded box, plus the terms for logging.

    The four sides are decoded independently, so a box may come out crossed (right of left: negative
    width), as every side does at initialisation. L1 on the sides as decoded pulls each side to its
    own edge and so uncrosses the box; GIoU of a crossed box is undefined (it can exceed 1, and the
    optimiser then drives boxes inside out), so GIoU sees the box the sides span: the same centre,
    |w| and |h|.
    """
    pred = out["pred_boxes"]
    giou, _, iou = box_losses(torch.cat([pred[..., :2], pred[..., 2:].abs()], dim=-1), batch["search_box"])
    _, l1, _ = box_losses(pred, batch["search_box"])
    total = weights["giou"] * giou + weights["l1"] * l1
    return total, {"giou": giou.detach(), "l1": l1.detach(), "iou": iou}


class MixFormerV2Task(BackboneSchedule):
    """Train a MixFormerV2 network on ground truth boxes (the score head is not trained: the official
    code trains it in a second stage with the rest frozen)."""

    backbone_name = "backbone"

    def __init__(self, model: nn.Module, recipe: dict):
        self.module = model
        self.recipe = recipe
        self.loss_weights = recipe["train"]["loss"]

    def param_groups(self, recipe: dict) -> list[dict]:
        return backbone_param_groups(self.module, recipe, self.backbone_name)

    def begin_epoch(self, epoch: int) -> dict[str, float]:
        return self._begin_backbone(epoch, self.recipe)

    def step(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        out = module(batch["template"], batch["template"], batch["search"])
        return tracking_loss(out, batch, self.loss_weights)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


def crops(config: Any) -> PairCrops:
    """MixFormerV2's tracker crops (no context, factors of the config, black padding), no heatmap label."""
    return PairCrops(config.template_size, config.search_size, config.template_factor, config.search_factor, heatmap_size=0)


# model.drop_path is a setting of OSTrack's ViT; MixFormerV2's blocks have no stochastic depth.
TRAINING = TrainingFamily(MixFormerV2Task, lambda model: dict(model["overrides"]), crops)
