"""How LightTrack networks train: balanced BCE and IoU loss on the Siamese score grid, LightTrack's
crops; and SPOS supernet training (one uniformly random path per step, from a seeded generator,
optionally with both heads held at the largest for the first epochs).

SPOS: the path generator is part of the task's state, so the engine's exact resume continues the
same path sequence. Under DDP every process draws the same path at each step (the generator is
seeded from ``train.seed`` alone, not the rank): all processes then run the same modules,
gradients are averaged over the same parameters, and the engine's ``find_unused_parameters``
covers the modules the path skips.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from torch import nn

from compresstracker.data.pairs import PairCrops
from compresstracker.families.lighttrack.arch import LightTrackArch, LightTrackConfig
from compresstracker.families.lighttrack.losses import lighttrack_loss
from compresstracker.families.lighttrack.supernet import LightTrackSupernet
from compresstracker.training.tasks import BackboneSchedule, TrainingFamily, backbone_param_groups, unwrap

__all__ = ["SUPERNET_TRAINING", "TRAINING", "LightTrackTask", "SupernetTask", "lighttrack_crops"]


class LightTrackTask(BackboneSchedule):
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



def lighttrack_crops(config: LightTrackConfig) -> PairCrops:
    """LightTrack's crops: the context square (context 0.5) to the template size, the same square
    scaled by search_size / template_size to the search size, mean-colour padding, no heatmap."""
    return PairCrops(
        config.template_size, config.search_size, 1.0, config.search_size / config.template_size,
        context_amount=0.5, pad_mean=True,
    )


PATH_SEED_OFFSET = 7_919  # keeps the path stream apart from the data and init streams of the same seed


class SupernetTask(LightTrackTask):
    """LightTrack's loss on one random path of the supernet per step.

    ``train.spos_fixed_head_epochs``: for the first N epochs both heads are held at the supernet's
    largest head (backbone and output block still drawn per step), so the score head learns before
    its towers are drawn anew every step; the path stream advances the same either way.
    """

    def __init__(self, model: LightTrackSupernet, recipe: dict):
        super().__init__(model, recipe)
        self.rng = np.random.default_rng(int(recipe["train"]["seed"]) + PATH_SEED_OFFSET)
        self.fixed_head_epochs = int(recipe["train"]["spos_fixed_head_epochs"])
        self.fixed_head = False
        self.heads_inherited = False
        self.last_path: str | None = None

    def begin_epoch(self, epoch: int) -> dict[str, float]:
        logs = super().begin_epoch(epoch)
        self.fixed_head = epoch < self.fixed_head_epochs
        if self.fixed_head_epochs and not unwrap(self.module).config.held_heads:  # (held heads: no other head to start)
            logs["head_fixed"] = float(self.fixed_head)
            if not self.fixed_head and not self.heads_inherited:  # once, at the first drawn epoch (a resume keeps the flag)
                unwrap(self.module).inherit_heads()
                self.heads_inherited = True
        return logs

    def step(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        supernet: LightTrackSupernet = unwrap(module)
        arch = supernet.sample_arch(self.rng)  # drawn whole every step: held heads leave the stream as it is
        if self.fixed_head:
            head = supernet.largest_head()
            arch = LightTrackArch(backbone=arch.backbone, output=arch.output, cls=head, reg=head)
        self.last_path = arch.to_path()
        out = module(batch["template"], batch["search"], arch)
        return lighttrack_loss(
            out, batch["search_box"], supernet.config.stride, batch["search"].shape[-1],
            cls_weight=self.loss["cls"], iou_weight=self.loss["iou"], pos_radius=self.loss["pos_radius"],
        )

    def state_dict(self) -> dict[str, Any]:
        return {"path_rng": json.dumps(self.rng.bit_generator.state), "heads_inherited": self.heads_inherited}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "path_rng" in state:
            self.rng.bit_generator.state = json.loads(state["path_rng"])
        self.heads_inherited = bool(state.get("heads_inherited", False))


# model.drop_path is a ViT setting; LightTrack networks have none.
TRAINING = TrainingFamily(LightTrackTask, lambda model: dict(model["overrides"]), lighttrack_crops)
SUPERNET_TRAINING = TrainingFamily(SupernetTask, lambda model: dict(model["overrides"]), lambda config: lighttrack_crops(config.base))
