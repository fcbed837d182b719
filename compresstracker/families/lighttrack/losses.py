"""LightTrack's training labels and losses (anchor-free Siamese heads on a strided score grid).

Nothing here depends on a particular architecture: the score size and stride are arguments, so
the same functions label a stride-16 LightTrack-Mobile, a tiny test network, or any path a
supernet samples (stride 8 or 16 outputs).

Score cell (i, j) looks at the search-crop pixel (grid[j], grid[i]) with
``grid = (arange(S) - S // 2) * stride + search_size // 2``, the grid the tracker decodes with.
- Classification label: 1 on cells whose L1 distance to the target centre, in cells
  (|gx - cx| + |gy - cy|) / stride, is at most ``pos_radius`` (1 in the paper), 0 elsewhere.
- Regression label: the distances (left, top, right, bottom) from the cell's pixel to the target
  box's edges, in search-crop pixels; only cells whose pixel lies strictly inside the box are
  trained (the ``inside`` mask).
- Loss: 0.5 x mean BCE over the positives + 0.5 x mean BCE over the negatives (means pooled over
  the batch), and the IoU loss -log((I + 1) / (U + 1)) averaged over the cells inside the box.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def score_grid(score_size: int, stride: int, search_size: int, device: torch.device | None = None) -> Tensor:
    """(S,) float32 pixel coordinate of each score column (or row) in the search crop."""
    return ((torch.arange(score_size, device=device) - score_size // 2) * stride + search_size // 2).float()


@dataclass(frozen=True)
class SiameseLabels:
    """Labels of a batch on an S x S score grid."""

    cls: Tensor  # (B, 1, S, S) float: 1 positive, 0 negative
    reg: Tensor  # (B, 4, S, S) float: left, top, right, bottom target distances in pixels
    inside: Tensor  # (B, 1, S, S) bool: cell pixel strictly inside the target box (trains reg)


def lighttrack_labels(
    boxes_xyxy: Tensor, score_size: int, stride: int, search_size: int, pos_radius: float = 1.0
) -> SiameseLabels:
    """Labels for target boxes (B, 4) x1 y1 x2 y2 in search-crop pixels on an S x S grid.

    ``pos_radius`` is in cells (L1 distance); see the module docstring for the definitions.
    """
    boxes = boxes_xyxy.float()
    grid = score_grid(score_size, stride, search_size, boxes.device)
    gx = grid.view(1, 1, score_size)  # columns
    gy = grid.view(1, score_size, 1)  # rows
    x1, y1, x2, y2 = (boxes[:, k].view(-1, 1, 1) for k in range(4))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    distance = ((gx - cx).abs() + (gy - cy).abs()) / stride
    cls = (distance <= pos_radius).float().unsqueeze(1)
    reg = torch.stack([
        (gx - x1).expand(-1, score_size, -1), (gy - y1).expand(-1, -1, score_size),
        (x2 - gx).expand(-1, score_size, -1), (y2 - gy).expand(-1, -1, score_size),
    ], dim=1)
    inside = (reg > 0).all(dim=1, keepdim=True)
    return SiameseLabels(cls=cls, reg=reg, inside=inside)


def balanced_bce(logits: Tensor, label: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(0.5 pos + 0.5 neg, pos, neg): mean BCE-with-logits over label==1 and over label==0 cells.

    A side with no cells contributes 0 (a batch always has negatives; positives can fall off the
    grid when the target centre lies outside it).
    """
    per_cell = F.binary_cross_entropy_with_logits(logits.float(), label, reduction="none")
    positive = label > 0.5
    pos = per_cell[positive].mean() if positive.any() else per_cell.sum() * 0
    neg = per_cell[~positive].mean() if (~positive).any() else per_cell.sum() * 0
    return 0.5 * pos + 0.5 * neg, pos, neg


def iou_loss(pred: Tensor, target: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """(mean -log((I + 1) / (U + 1)), mean IoU) over cells where ``mask`` is set.

    ``pred`` and ``target`` are (B, 4, S, S) left/top/right/bottom distances from the same cell
    pixel, so I = (min(l) + min(r)) (min(t) + min(b)) and U = area(pred) + area(target) - I.
    With no masked cell the loss is 0 (with a graph) and the IoU is NaN-free 0.
    """
    select = mask.expand_as(pred)
    if not bool(select.any()):
        zero = pred.float().sum() * 0
        return zero, zero.detach()
    p = pred.float().permute(0, 2, 3, 1)[select.permute(0, 2, 3, 1)].view(-1, 4)
    t = target.float().permute(0, 2, 3, 1)[select.permute(0, 2, 3, 1)].view(-1, 4)
    p_area = (p[:, 0] + p[:, 2]) * (p[:, 1] + p[:, 3])
    t_area = (t[:, 0] + t[:, 2]) * (t[:, 1] + t[:, 3])
    width = torch.minimum(p[:, 0], t[:, 0]) + torch.minimum(p[:, 2], t[:, 2])
    height = torch.minimum(p[:, 1], t[:, 1]) + torch.minimum(p[:, 3], t[:, 3])
    inter = width * height
    union = p_area + t_area - inter
    loss = -torch.log((inter + 1.0) / (union + 1.0))
    return loss.mean(), (inter / union.clamp(min=1e-6)).mean().detach()


def normalized_to_xyxy(boxes_xywh: Tensor, search_size: int) -> Tensor:
    """Boxes (B, 4) x y w h normalised to the search crop -> x1 y1 x2 y2 in crop pixels."""
    x, y, w, h = (boxes_xywh.float() * search_size).unbind(-1)
    return torch.stack([x, y, x + w, y + h], dim=-1)


def lighttrack_loss(
    out: dict[str, Tensor], search_box: Tensor, stride: int, search_size: int,
    cls_weight: float = 1.0, iou_weight: float = 1.2, pos_radius: float = 1.0,
) -> tuple[Tensor, dict[str, Tensor]]:
    """cls_weight x balanced BCE + iou_weight x IoU loss of a network's ``{"cls", "reg"}`` output.

    ``search_box`` (B, 4) is x y w h normalised to the search crop (the pair pipeline's label);
    the score size is read off ``out["cls"]``. Returns the total and detached terms for logging.
    """
    score_size = out["cls"].shape[-1]
    labels = lighttrack_labels(normalized_to_xyxy(search_box, search_size), score_size, stride, search_size, pos_radius)
    cls, pos, neg = balanced_bce(out["cls"], labels.cls)
    iou, mean_iou = iou_loss(out["reg"], labels.reg, labels.inside)
    total = cls_weight * cls + iou_weight * iou
    return total, {"cls": cls.detach(), "cls_pos": pos.detach(), "cls_neg": neg.detach(), "iou_loss": iou.detach(), "iou": mean_iou}
