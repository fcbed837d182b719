"""SPOS supernet training (LightTrack): one uniformly random path per step, from a seeded generator.

The path generator is part of the task's state, so the engine's exact resume continues the same
path sequence. Under DDP every process draws the same path at each step (the generator is seeded
from ``train.seed`` alone, not the rank): all processes then run the same modules, gradients
are averaged over the same parameters, and the engine's ``find_unused_parameters`` covers the
modules the path skips. Backbone freezing and its lr multiplier are LightTrack's task's
(``train.freeze_backbone_epochs``, ``train.backbone_lr_mult``).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from torch import nn

from compresstracker.models import LightTrackSupernet
from compresstracker.training.lighttrack_loss import lighttrack_loss
from compresstracker.training.tasks import LightTrackTask, TrainingFamily, lighttrack_crops, register_training, unwrap

PATH_SEED_OFFSET = 7_919  # keeps the path stream apart from the data and init streams of the same seed


class SupernetTask(LightTrackTask):
    """LightTrack's loss on one random path of the supernet per step."""

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


register_training("lighttrack_supernet", TrainingFamily(
    SupernetTask, lambda model: dict(model["overrides"]), lambda config: lighttrack_crops(config.base),
))
