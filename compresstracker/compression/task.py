"""The engine task of CompressTracker: replacement training with prediction guidance and feature mimicking."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from compresstracker.compression.elastic import ElasticPath
from compresstracker.compression.replacement import ReplacementModel
from compresstracker.compression.schedule import replacement_probability, sample_pattern
from compresstracker.training.tasks import backbone_param_groups


def feature_mimic_loss(stage_tokens: list[torch.Tensor], targets: list[torch.Tensor], num_template: int) -> torch.Tensor:
    """Mean over stages of (MSE on search tokens + MSE on template tokens) / 2."""
    losses = []
    for tokens, target in zip(stage_tokens, targets):
        search = F.mse_loss(tokens[:, num_template:], target[:, num_template:])
        template = F.mse_loss(tokens[:, :num_template], target[:, :num_template])
        losses.append((search + template) / 2)
    return torch.stack(losses).mean()


class CompressionTask:
    """Per step: sample the stage pattern, run the path, add the guidance losses."""

    def __init__(self, model: ReplacementModel, recipe: dict):
        self.module = model
        self.recipe = recipe
        self.compress = recipe["compress"]
        self.epochs = recipe["train"]["epochs"]
        self.track_weights = recipe["train"]["loss"]
        self.generator = torch.Generator().manual_seed(int(recipe["train"]["seed"]) + 1)
        self.p = 1.0
        self.pattern_counts = [0] * model.plan.num_stages
        self.steps = 0
        fixed = self.compress.get("elastic", {}).get("path")
        self.fixed = ElasticPath.decode(fixed) if fixed else None  # one path trained alone (compress --from-search)

    def param_groups(self, recipe: dict) -> list[dict]:
        return backbone_param_groups(self.module, recipe)

    def begin_epoch(self, epoch: int) -> dict[str, float]:
        c = self.compress
        if not c["replacement"]:
            self.p = 1.0
        elif c["fixed_p"] is not None:
            self.p = float(c["fixed_p"])
        else:
            self.p = replacement_probability(epoch + 1, self.epochs, c["p_init"], c["alpha1"], c["alpha2"])
        return {"p": self.p}

    def step(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        model: ReplacementModel = module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module
        num_stages = model.plan.num_stages
        if module.training and self.p < 1.0:
            pattern = sample_pattern(num_stages, self.p, self.generator)
        else:
            pattern = [True] * num_stages
        template, search = batch["template"], batch["search"]
        weights = self.compress["loss"]
        need_teacher = weights["pred"] > 0 or weights["feat"] > 0 or not all(pattern)
        teacher = model.teacher_pass(template, search) if need_teacher else None
        if model.elastic is None:
            out = module(template, search, pattern, teacher)
            total, logs = self._losses(model, out, batch, teacher)
        else:
            # training: the sampling rule's paths; evaluation: the largest student
            if self.fixed is not None:
                paths = [self.fixed]
            else:
                paths = model.elastic.training_paths(self.generator) if module.training else [model.elastic.largest()]
            outs = module(template, search, pattern, teacher, paths)
            per_path = [self._losses(model, o, batch, teacher) for o in outs]
            total = torch.stack([t for t, _ in per_path]).mean()
            logs = {k: torch.stack([torch.as_tensor(l[k]) for _, l in per_path]).float().mean() for k in per_path[0][1]}
            logs["paths"] = len(paths)
            out = outs[0]
        if module.training:
            self.steps += 1
            for i, used in enumerate(pattern):
                self.pattern_counts[i] += int(used)
            logs["p"] = self.p
            logs["student_stages"] = sum(pattern)
            logs["teacher_stages_run"] = out["computed_teacher_stages"]
        return total, logs

    def _losses(self, model: ReplacementModel, out: dict, batch: dict[str, torch.Tensor], teacher) -> tuple[torch.Tensor, dict[str, Any]]:
        """Tracking loss, prediction guidance and feature mimicking of one path's outputs, weighted and summed."""
        weights = self.compress["loss"]
        track, logs = model.adapter.tracking_loss(out, batch, self.track_weights)
        total = weights["track"] * track
        logs = {"track": track.detach(), **logs}
        if weights["pred"] > 0:
            pred = model.adapter.prediction_loss(out, teacher.outputs, self.track_weights)
            total = total + weights["pred"] * pred
            logs["pred"] = pred.detach()
        if weights["feat"] > 0:
            feat = feature_mimic_loss(out["stage_tokens"], teacher.stage_tokens, model.adapter.num_template_tokens(model.student))
            total = total + weights["feat"] * feat
            logs["feat"] = feat.detach()
        return total, logs

    def pattern_share(self) -> list[float]:
        """Share of steps in which each stage ran the student."""
        return [c / max(self.steps, 1) for c in self.pattern_counts]

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "pattern_counts": torch.tensor(self.pattern_counts), "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.pattern_counts = [int(c) for c in state["pattern_counts"]]
        self.steps = int(state["steps"])

