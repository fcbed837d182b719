"""CompressTracker on MixFormerV2: the teacher adapter (stages over the backbone's blocks; the
prediction tokens, position tables and both heads are copied from the teacher)."""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from compresstracker.compression.adapters import TeacherAdapter, cxcywh_to_xywh
from compresstracker.compression.plan import StagePlan
from compresstracker.errors import ConfigError
from compresstracker.families.mixformerv2.config import MixFormerV2Config
from compresstracker.families.mixformerv2.macs import count_macs
from compresstracker.families.mixformerv2.network import MixFormerV2Net
from compresstracker.families.mixformerv2.training import tracking_loss
from compresstracker.training.losses import box_losses

__all__ = ["CORNER_WEIGHT", "MixFormerV2Adapter", "student_config"]

CORNER_WEIGHT = 5.0  # the official student distillation's weight of the side-distribution KL


def student_config(teacher: MixFormerV2Config, plan: StagePlan) -> MixFormerV2Config:
    """The teacher's config with the student's depth (its name says so: the tracker presets of the
    releases B and S do not apply to it)."""
    depth = plan.student_depth
    name = f"{teacher.name}_student{depth}" if "_student" not in teacher.name else teacher.name
    return teacher.replace(name=name, depth=depth)


class MixFormerV2Adapter(TeacherAdapter):
    """MixFormerV2's ViT over [template, online template, search, 4 prediction tokens] with its MLP heads.

    The compression pairs carry one template: it is fed as both templates, as at a sequence's start.
    """

    name = "mixformerv2"
    description = "MixFormerV2: mixed-attention ViT with prediction tokens and side-distribution box head"
    layer_prefix = "backbone.blocks."

    def matches(self, model: nn.Module) -> bool:
        return isinstance(model, MixFormerV2Net)

    def layers(self, model: MixFormerV2Net) -> Sequence[nn.Module]:
        return model.blocks

    def embed(self, model: MixFormerV2Net, template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        return model.embed(template, template, search)

    def head(self, model: MixFormerV2Net, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        return model.head(tokens)

    def num_template_tokens(self, model: MixFormerV2Net) -> int:
        return model.num_template_tokens

    def build_student(self, teacher: MixFormerV2Net, plan: StagePlan, ce: bool = False, drop_path: float = 0.0) -> MixFormerV2Net:
        if ce:
            raise ConfigError("MixFormerV2 has no candidate elimination: compress it without student CE")
        return MixFormerV2Net(student_config(teacher.config, plan))  # no stochastic depth in its blocks: drop_path unused

    def macs(self, model: MixFormerV2Net) -> int:
        return count_macs(model)

    def tracking_loss(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], weights: dict[str, float],
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        return tracking_loss(out, batch, weights)

    def prediction_loss(
        self, out: dict[str, torch.Tensor], teacher_out: dict[str, torch.Tensor], weights: dict[str, float],
    ) -> torch.Tensor:
        """CORNER_WEIGHT * KL(teacher || student) of the side distributions, summed over the 4 sides and
        averaged over the batch, plus weights['giou'] * GIoU + weights['l1'] * L1 against the teacher's box.

        Why both: the box is the distributions' expectation, so matching boxes alone leaves their
        shape free; the KL term is the official MixFormerV2 distillation (dense-to-sparse, weight
        5.0) and passes on the teacher's uncertainty, the box terms keep the guidance in the same
        units as the tracking loss (as for OSTrack). A teacher box whose sides cross (an untrained
        teacher's can) has no GIoU; those samples get the KL term only.
        """
        student_log = out["logits"].float().log_softmax(dim=-1)
        teacher_prob = teacher_out["prob"].float()
        loss = CORNER_WEIGHT * F.kl_div(student_log, teacher_prob, reduction="sum") / student_log.shape[0]
        target = cxcywh_to_xywh(teacher_out["pred_boxes"].float())
        valid = (target[:, 2] > 0) & (target[:, 3] > 0)
        if valid.any():  # a side crossed over (width or height <= 0) gives no box to match: the KL alone guides there
            giou, l1, _ = box_losses(out["pred_boxes"].reshape(-1, 4)[valid], target[valid])
            loss = loss + weights["giou"] * giou + weights["l1"] * l1
        return loss
