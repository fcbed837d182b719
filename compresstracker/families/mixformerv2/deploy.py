"""MixFormerV2 (:class:`MixFormerV2Net`, releases and students) for deployment.

One graph, ``track``: ``template``, ``online_template`` (1, 3, T, T) and ``search`` (1, 3, S, S)
-> ``pred_boxes`` (1, 1, 4) and ``score`` (1, 1): the whole network, as the tracker calls it every
frame (the official tracker caches nothing between frames either). Mapping the box back and the
online-template update stay in the tracker.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from compresstracker.deploy.family import DeployedFile, DeployFamily, Graph, GraphNetwork, Runner
from compresstracker.families.mixformerv2.config import MixFormerV2Config
from compresstracker.families.mixformerv2.network import MixFormerV2Net

__all__ = ["INPUT_NAMES", "MixFormerV2Family", "MixFormerV2GraphNetwork", "OUTPUT_NAMES", "example_inputs"]

INPUT_NAMES = ("template", "online_template", "search")
OUTPUT_NAMES = ("pred_boxes", "score")


class TrackNet(nn.Module):
    """What the exported graph computes: the network's box and score logit (no side distributions)."""

    def __init__(self, model: MixFormerV2Net):
        super().__init__()
        self.model = model

    def forward(self, template: torch.Tensor, online_template: torch.Tensor, search: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(template, online_template, search)
        return out["pred_boxes"], out["score"]


def example_inputs(config: MixFormerV2Config, device: torch.device, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded normal template, online template and search tensors of the config's sizes."""
    gen = torch.Generator().manual_seed(seed)
    t, s = config.template_size, config.search_size
    return tuple(torch.randn(1, 3, n, n, generator=gen).to(device) for n in (t, t, s))  # type: ignore[return-value]


class MixFormerV2GraphNetwork(GraphNetwork):
    """The ``track`` graph called like a MixFormerV2Net (the tracker reads ``pred_boxes`` and ``score``)."""

    def __call__(self, template: torch.Tensor, online_template: torch.Tensor, search: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.run("track", template=template, online_template=online_template, search=search)


class MixFormerV2Family(DeployFamily):
    name = "mixformerv2"
    model_type = MixFormerV2Net
    signature = {"track": ({name: 4 for name in INPUT_NAMES}, {"pred_boxes": 3, "score": 2})}
    casts = True

    def graphs(self, model: MixFormerV2Net, ce: bool) -> list[Graph]:
        device = next(model.parameters()).device
        return [Graph(
            "track", TrackNet(copy.deepcopy(model).eval()).eval(), INPUT_NAMES, OUTPUT_NAMES,
            lambda seed: example_inputs(model.config, device, seed), reference=TrackNet(model.eval()).eval(),
        )]

    def config_from_dict(self, data: dict, source: str) -> Any:
        from compresstracker.checkpoints.formats import config_from_dict

        return config_from_dict(data, source)

    def config_name(self, config: MixFormerV2Config) -> str:
        return config.name

    def network(self, runners: dict[str, Runner], deployed: DeployedFile, device: torch.device) -> MixFormerV2GraphNetwork:
        return MixFormerV2GraphNetwork(runners, deployed, device)

    def calibration_inputs(self, model: MixFormerV2Net, ce: bool, sequences: list, samples: int) -> dict[str, list[tuple[torch.Tensor, ...]]]:
        """(template, template, search) crops as the tracker cuts them at a sequence's start (the
        online template is the first template until the first update)."""
        from compresstracker.deploy.calibration import template_search_crops

        return {"track": [(t, t, s) for t, s in template_search_crops(model.config, sequences, samples)]}

    def architecture(self, deployed: DeployedFile) -> MixFormerV2Net:
        return MixFormerV2Net(deployed.config).eval()
