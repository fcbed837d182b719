"""How MixFormerV2 networks train, in the official two stages (``train.stage``).

``box``: GIoU and L1 on the box decoded from the four side distributions (the official box
losses, weights ``train.loss.giou`` / ``train.loss.l1``: 2.0 / 5.0), against the search crop's
ground truth, optionally with a cross-entropy of the distributions themselves (``train.loss.dist``).
``score``: the score head alone on a trained network (everything else frozen), BCE of its logit
against whether the predicted box overlaps the truth with IoU above 0.5; half of each batch gets
another pair's template, whose target the search crop does not hold (label 0).

Pairs are (template, search) crops; the template is fed as both the first and the online
template, as at a sequence's first frame.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compresstracker.data.pairs import PairCrops
from compresstracker.errors import ConfigError
from compresstracker.training.losses import box_cxcywh_to_xyxy, box_losses, box_xywh_to_xyxy, giou_loss
from compresstracker.families.mixformerv2.config import NUM_PREDICTION_TOKENS
from compresstracker.training.tasks import BackboneSchedule, TrainingFamily, backbone_param_groups, unwrap

__all__ = ["MixFormerV2Task", "SCORE_IOU", "TRAINING", "adopt_vit", "attention_loss", "crops", "distribution_loss", "score_loss", "token_attention", "tracking_loss"]

SCORE_IOU = 0.5  # a prediction whose IoU with the truth is above this is a positive of the score head


def side_targets(search_box: Tensor) -> Tensor:
    """(B, 4) true sides left, right, top, bottom (token order) of (B, 4) x y w h boxes, within [0, 1]."""
    x, y, w, h = search_box.unbind(-1)
    return torch.stack([x, x + w, y, y + h], dim=-1).clamp(0.0, 1.0)


def distribution_loss(logits: Tensor, sides: Tensor) -> Tensor:
    """Cross-entropy of the (B, 4, bins) side distributions against each true side as a distribution:
    the two bins around it, weighted so that their expectation is the side (the bins sit at i / bins).

    Summed over the 4 sides, averaged over the batch. Why: GIoU and L1 reach the distribution only
    through its expectation, a weak signal when it starts flat; this target says which bins.
    """
    bins = logits.shape[-1]
    position = (sides * bins).clamp(0.0, bins - 1 - 1e-4)
    lower = position.floor()
    upper_weight = position - lower
    log_prob = logits.float().log_softmax(dim=-1)
    lower_log = log_prob.gather(-1, lower.long()[..., None])[..., 0]
    upper_log = log_prob.gather(-1, lower.long()[..., None] + 1)[..., 0]
    return -((1 - upper_weight) * lower_log + upper_weight * upper_log).sum(dim=-1).mean()


def token_attention(model: nn.Module, normed: Tensor) -> Tensor:
    """(B, 4, Ns) attention of the 4 prediction tokens over the search tokens in the last block, mean over
    heads, from that block's normalised input ``normed`` (B, N, D) (the tokens' queries see all keys)."""
    block = model.blocks[-1]
    attn = block.attn
    B, N, _ = normed.shape
    q, k, _ = attn.qkv(normed).reshape(B, N, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    probs = (q[:, :, -NUM_PREDICTION_TOKENS:] @ k.transpose(-1, -2) * attn.scale).softmax(dim=-1).mean(dim=1)
    start = model.num_template_tokens
    return probs[..., start:start + model.config.num_search_tokens]


def attention_loss(probs: Tensor, search_box: Tensor) -> Tensor:
    """-log of the attention mass the prediction tokens put on the search tokens covering the true box
    (patch centres within the box grown by half a patch), averaged over tokens and pairs.

    Why: the tokens must learn where to look before the box losses can say anything; on their own,
    those reach the attention only through the averaged values, and a network trained from scratch
    on them first settles on one box for every input.
    """
    side = int(round(probs.shape[-1] ** 0.5))
    centres = (torch.arange(side, device=probs.device, dtype=probs.dtype) + 0.5) / side
    x, y, w, h = search_box.float().unbind(-1)
    margin = 0.5 / side
    inside_x = (centres >= (x - margin)[:, None]) & (centres <= (x + w + margin)[:, None])
    inside_y = (centres >= (y - margin)[:, None]) & (centres <= (y + h + margin)[:, None])
    mask = (inside_y[:, :, None] & inside_x[:, None, :]).reshape(probs.shape[0], 1, -1)
    mass = (probs.float() * mask).sum(dim=-1)
    return -mass.clamp_min(1e-6).log().mean()


def tracking_loss(out: dict[str, Tensor], batch: dict[str, Tensor], weights: dict[str, float]) -> tuple[Tensor, dict[str, Any]]:
    """weights['giou'] * GIoU + weights['l1'] * L1 of the decoded box (+ weights['dist'] times the
    :func:`distribution_loss` where a recipe asks for it), plus the terms for logging.

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
    logs = {"giou": giou.detach(), "l1": l1.detach(), "iou": iou}
    if weights.get("dist", 0.0) > 0:
        dist = distribution_loss(out["logits"], side_targets(batch["search_box"]))
        total = total + weights["dist"] * dist
        logs["dist"] = dist.detach()
    return total, logs


def negative_half(template: Tensor) -> tuple[Tensor, Tensor]:
    """(templates, positive mask): the second half of the batch takes the next pair's template (rolled
    by one), so its search crop does not hold that template's target. A batch of one stays positive."""
    count = template.shape[0]
    positive = torch.ones(count, dtype=torch.bool, device=template.device)
    if count < 2:
        return template, positive
    positive[count // 2:] = False
    mixed = torch.where(positive[:, None, None, None], template, template.roll(1, dims=0))
    return mixed, positive


def score_loss(out: dict[str, Tensor], search_box: Tensor, positive: Tensor) -> tuple[Tensor, dict[str, Any]]:
    """BCE of the score logit against its label: a positive pair whose predicted box has IoU > SCORE_IOU
    with the truth is 1, anything else 0; plus accuracy and the share of positive labels for logging."""
    pred = out["pred_boxes"].reshape(-1, 4).detach().float()
    pred = torch.cat([pred[:, :2], pred[:, 2:].abs()], dim=-1)  # the box the sides span, as the box loss sees it
    _, iou = giou_loss(box_cxcywh_to_xyxy(pred), box_xywh_to_xyxy(search_box.reshape(-1, 4)).clamp(0.0, 1.0))
    labels = (positive & (iou > SCORE_IOU)).float()
    logit = out["score"].reshape(-1).float()
    loss = F.binary_cross_entropy_with_logits(logit, labels)
    accuracy = ((logit > 0).float() == labels).float().mean()
    return loss, {"score_bce": loss.detach(), "score_acc": accuracy, "label_rate": labels.mean(), "iou": iou[positive].mean()}


class MixFormerV2Task(BackboneSchedule):
    """Train a MixFormerV2 network: stage ``box`` (all but the score head, on ground truth boxes) or
    stage ``score`` (the score head alone, the rest frozen, starting from ``model.init``)."""

    backbone_name = "backbone"

    def __init__(self, model: nn.Module, recipe: dict):
        self.module = model
        self.recipe = recipe
        self.loss_weights = recipe["train"]["loss"]
        self.stage = recipe["train"]["stage"]
        if self.stage == "score":
            if not recipe["model"]["init"]:
                raise ConfigError("train.stage score trains the score head of a trained network: give its checkpoint with --init (model.init)")
            for name, param in model.named_parameters():
                param.requires_grad_(name.startswith("score_head."))

    def param_groups(self, recipe: dict) -> list[dict]:
        if self.stage == "score":
            return [{"params": list(self.module.score_head.parameters()), "lr": recipe["train"]["lr"]}]
        return backbone_param_groups(self.module, recipe, self.backbone_name)

    def begin_epoch(self, epoch: int) -> dict[str, float]:
        if self.stage == "score":  # the backbone stays frozen whatever freeze_backbone_epochs says
            return {}
        return self._begin_backbone(epoch, self.recipe)

    def step(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        if self.stage == "score":
            template, positive = negative_half(batch["template"])
            out = module(template, template, batch["search"])
            return score_loss(out, batch["search_box"], positive)
        if not self.loss_weights.get("attn", 0.0):
            return tracking_loss(module(batch["template"], batch["template"], batch["search"]), batch, self.loss_weights)
        net = unwrap(module)
        captured: dict[str, Tensor] = {}
        hook = net.blocks[-1].norm1.register_forward_hook(lambda _m, _i, output: captured.__setitem__("normed", output))
        try:
            out = module(batch["template"], batch["template"], batch["search"])
        finally:
            hook.remove()
        total, logs = tracking_loss(out, batch, self.loss_weights)
        attn = attention_loss(token_attention(net, captured["normed"]), batch["search_box"])
        return total + self.loss_weights["attn"] * attn, {**logs, "attn": attn.detach()}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


def crops(config: Any) -> PairCrops:
    """MixFormerV2's tracker crops (no context, factors of the config, black padding), no heatmap label."""
    return PairCrops(config.template_size, config.search_size, config.template_factor, config.search_factor, heatmap_size=0)


def adopt_vit(model: nn.Module, source: nn.Module) -> list[str]:
    """Copy a trained one-stream ViT tracker's patch embedding and first ``depth`` blocks into ``model`` (a
    MixFormerV2 network); returns the keys copied.

    Why: MixFormerV2 itself starts from its teacher's backbone (MixViT's) and learns how its prediction
    tokens read it; trained from nothing on ground truth, four tokens learn to find the target slowly.
    MixFormerV2's own sin-cos position tables stay (a ViT tracker's learned tables leave no position
    the tokens could read off the features they attend to), as do the prediction tokens and both
    heads. A ConfigError when shapes differ or the source has fewer blocks.
    """
    ours = model.state_dict()
    copied: dict[str, torch.Tensor] = {}
    for key, value in source.state_dict().items():
        if not key.startswith(_ADOPTED) or key not in ours:
            continue
        if tuple(value.shape) != tuple(ours[key].shape):
            raise ConfigError(f"{key} of the source has shape {list(value.shape)}, the MixFormerV2 network's {list(ours[key].shape)}")
        copied[key] = value
    missing = sorted(k for k in ours if k.startswith(_ADOPTED) and k not in copied)
    if missing:
        raise ConfigError(f"the source network has no {missing[0]} (a one-stream ViT tracker as wide and at least as deep is needed)")
    model.load_state_dict(copied, strict=False)
    return sorted(copied)


_ADOPTED = ("backbone.patch_embed.", "backbone.blocks.")  # what a MixFormerV2 network takes from a ViT tracker


# model.drop_path is a setting of OSTrack's ViT; MixFormerV2's blocks have no stochastic depth.
TRAINING = TrainingFamily(MixFormerV2Task, lambda model: dict(model["overrides"]), crops, stages=("box", "score"), adopt=adopt_vit)
