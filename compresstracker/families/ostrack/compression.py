"""CompressTracker on OSTrack: the one-stream ViT's teacher adapter and the student's config."""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from compresstracker.compression.adapters import TeacherAdapter
from compresstracker.compression.plan import StagePlan
from compresstracker.errors import ConfigError
from compresstracker.families.ostrack.config import OSTrackConfig
from compresstracker.families.ostrack.macs import count_macs
from compresstracker.families.ostrack.network import OSTrackNet
from compresstracker.families.ostrack.training import tracking_loss

__all__ = ["OneStreamViTAdapter", "student_config"]


def student_config(teacher: OSTrackConfig, plan: StagePlan, ce: bool = False, drop_path: float = 0.0) -> OSTrackConfig:
    """The teacher's config with the student's depth; no candidate elimination unless ``ce``.

    With ``ce`` the student eliminates tokens in the student layer that stands in for each
    teacher CE layer's stage (at that stage's first student layer).
    """
    depth = plan.student_depth
    ce_layers: tuple[int, ...] = ()
    ratios: tuple[float, ...] = ()
    if ce and teacher.has_ce:
        pairs = {}
        for layer, ratio in zip(teacher.ce_layers, teacher.ce_keep_ratios):
            stage = next(i for i, s in enumerate(plan.stages) if layer in s)
            pairs.setdefault(plan.student_layers(stage)[0], ratio)
        ce_layers, ratios = tuple(sorted(pairs)), tuple(pairs[k] for k in sorted(pairs))
    arch = f"{teacher.arch}_student{depth}" if "_student" not in teacher.arch else teacher.arch
    return teacher.replace(arch=arch, depth=depth, ce_layers=ce_layers, ce_keep_ratios=ratios, drop_path=drop_path)


class OneStreamViTAdapter(TeacherAdapter):
    """OSTrack's one-stream ViT with the centre head (:class:`OSTrackNet`), any width and depth."""

    name = "one_stream_vit"
    description = "OSTrack-style one-stream ViT + centre head (OSTrack, CompressTracker and ctrack checkpoints)"
    layer_prefix = "backbone.blocks."

    def matches(self, model: nn.Module) -> bool:
        return isinstance(model, OSTrackNet)

    def layers(self, model: OSTrackNet) -> Sequence[nn.Module]:
        return model.backbone.blocks

    def embed(self, model: OSTrackNet, template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        return model.backbone.embed(template, search)

    def head(self, model: OSTrackNet, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        return model.head(model.backbone.norm(tokens))

    def num_template_tokens(self, model: OSTrackNet) -> int:
        return model.config.num_template_tokens

    def build_student(self, teacher: OSTrackNet, plan: StagePlan, ce: bool = False, drop_path: float = 0.0) -> OSTrackNet:
        return OSTrackNet(student_config(teacher.config, plan, ce, drop_path))

    def macs(self, model: OSTrackNet) -> int:
        return count_macs(model)

    def tracking_loss(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], weights: dict[str, float],
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        return tracking_loss(out, batch, weights)

    def hidden_tensor_names(self) -> list[tuple[str, int]]:
        return [("mlp.fc1.weight", 0), ("mlp.fc2.weight", 1), ("mlp.fc1.bias", 0)]

    def elastic_forward(self, layer: nn.Module, tokens: torch.Tensor, hidden: int) -> torch.Tensor:
        """The block's forward (no candidate elimination) with the MLP cut to its first ``hidden`` units."""
        mlp = layer.mlp
        if not isinstance(mlp.norm, nn.Identity):
            raise ConfigError("an MLP with a norm between its layers cannot be sliced")
        x = tokens + layer.drop_path(layer.attn(layer.norm1(tokens)))
        h = mlp.drop1(mlp.act(F.linear(layer.norm2(x), mlp.fc1.weight[:hidden], mlp.fc1.bias[:hidden])))
        return x + layer.drop_path(mlp.drop2(F.linear(h, mlp.fc2.weight[:, :hidden], mlp.fc2.bias)))

    def build_subnet(self, supernet: OSTrackNet, hidden: Sequence[int]) -> OSTrackNet:
        c = supernet.config
        hidden = tuple(int(h) for h in hidden)
        uniform = len(set(hidden)) == 1 and int(c.embed_dim * (hidden[0] / c.embed_dim)) == hidden[0]
        arch = f"{c.arch.split('_student')[0]}_student{len(hidden)}" + ("" if uniform and hidden[0] == c.hidden(0) else "_elastic")
        config = c.replace(arch=arch, depth=len(hidden), ce_layers=(), ce_keep_ratios=(), drop_path=0.0,
                           mlp_ratio=hidden[0] / c.embed_dim if uniform else c.mlp_ratio, mlp_hidden=() if uniform else hidden)
        return OSTrackNet(config)

    def prepare_teacher(self, model: OSTrackNet) -> None:
        super().prepare_teacher(model)
        model.ce_enabled = False
