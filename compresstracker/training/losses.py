"""Box losses every family trains with: GIoU and L1 on decoded boxes (normalised to the search crop)."""
from __future__ import annotations

import torch
from torch import Tensor

from compresstracker.errors import CTrackError


def box_cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def box_xywh_to_xyxy(boxes: Tensor) -> Tensor:
    x, y, w, h = boxes.unbind(-1)
    return torch.stack([x, y, x + w, y + h], dim=-1)


def giou_loss(pred_xyxy: Tensor, target_xyxy: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (1 - GIoU) over boxes and the plain IoU of each box pair."""
    area_p = (pred_xyxy[:, 2] - pred_xyxy[:, 0]) * (pred_xyxy[:, 3] - pred_xyxy[:, 1])
    area_t = (target_xyxy[:, 2] - target_xyxy[:, 0]) * (target_xyxy[:, 3] - target_xyxy[:, 1])
    lt = torch.max(pred_xyxy[:, :2], target_xyxy[:, :2])
    rb = torch.min(pred_xyxy[:, 2:], target_xyxy[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    union = area_p + area_t - inter
    iou = inter / union
    hull = (torch.max(pred_xyxy[:, 2:], target_xyxy[:, 2:]) - torch.min(pred_xyxy[:, :2], target_xyxy[:, :2])).clamp(min=0)
    hull_area = hull.prod(dim=1)
    giou = iou - (hull_area - union) / hull_area
    return (1 - giou).mean(), iou


def box_losses(pred_boxes: Tensor, target_xywh: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(GIoU loss, L1 loss, mean IoU) of predicted (cx, cy, w, h) against target (x, y, w, h) in [0, 1]."""
    pred = box_cxcywh_to_xyxy(pred_boxes.reshape(-1, 4))
    if not torch.isfinite(pred).all():
        raise CTrackError("the network predicted non-finite boxes: training diverged (lower the learning rate)")
    target = box_xywh_to_xyxy(target_xywh.reshape(-1, 4)).clamp(0.0, 1.0)
    giou, iou = giou_loss(pred, target)
    l1 = torch.nn.functional.l1_loss(pred, target)
    return giou, l1, iou.detach().mean()
