"""The OSTrack family (:class:`~compresstracker.models.OSTrackNet`, teachers and students) for deployment.

One graph, ``maps``: ``template`` (1, 3, Ht, Ht) and ``search`` (1, 3, Hs, Hs) -> ``score_map``,
``size_map``, ``offset_map``; box decoding and the Hann window stay in the tracker. Candidate
elimination is exported with static shapes: the CTR_POINT template row enters as a constant int64
index instead of a boolean mask (same values, see ``select_template_rows``), the elimination sort
becomes TopK with a fixed k and the gathers/scatter have fixed sizes.
"""
from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn

from compresstracker.deploy.family import DeployedFile, DeployFamily, Graph, GraphNetwork, Runner
from compresstracker.errors import CheckpointError
from compresstracker.families.ostrack.config import OSTrackConfig
from compresstracker.families.ostrack.network import OSTrackNet, ctr_point_rows

INPUT_NAMES = ("template", "search")
OUTPUT_NAMES = ("score_map", "size_map", "offset_map")


class MapsNet(nn.Module):
    """What the exported graph computes: (template, search) -> (score_map, size_map, offset_map).

    With ``ce`` the CE blocks eliminate search tokens ranked by the CTR_POINT template row, given
    as a constant index; without it every block runs plain.
    """

    def __init__(self, model: OSTrackNet, ce: bool):
        super().__init__()
        cfg = model.config
        self.model = model
        self.keep_ratios = [cfg.keep_ratio(i) for i in range(cfg.depth)] if ce else None
        self.register_buffer("rows", ctr_point_rows(cfg, next(model.parameters()).device), persistent=False)

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        tokens = self.model.backbone(template, search, self.rows, self.keep_ratios)
        return self.model.head_maps(tokens)


def example_inputs(config: OSTrackConfig, device: torch.device, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded normal template and search tensors of the config's sizes."""
    gen = torch.Generator().manual_seed(seed)
    template = torch.randn(1, 3, config.template_size, config.template_size, generator=gen)
    search = torch.randn(1, 3, config.search_size, config.search_size, generator=gen)
    return template.to(device), search.to(device)


class OstrackGraphNetwork(GraphNetwork):
    """The ``maps`` graph called like a OSTrackNet. CE is inside the graph (its CTR_POINT row is a
    constant), so ``template_mask`` is accepted and not used."""

    def __call__(
        self, template: torch.Tensor, search: torch.Tensor, template_mask: Optional[torch.Tensor] = None
    ) -> dict[str, torch.Tensor]:
        return self.run("maps", template=template, search=search)


class OstrackFamily(DeployFamily):
    name = "ostrack"
    model_type = OSTrackNet
    signature = {"maps": ({name: 4 for name in INPUT_NAMES}, {name: 4 for name in OUTPUT_NAMES})}
    casts = True

    def graphs(self, model: OSTrackNet, ce: bool) -> list[Graph]:
        device = next(model.parameters()).device
        net = MapsNet(self.inference_form(copy.deepcopy(model).eval()), ce).eval()
        return [Graph(
            "maps", net, INPUT_NAMES, OUTPUT_NAMES, lambda seed: example_inputs(model.config, device, seed),
            reference=MapsNet(model.eval(), ce).eval(),
        )]

    def inference_form(self, model: OSTrackNet) -> OSTrackNet:
        return model.fuse_head()

    def resolve_ce(self, model: OSTrackNet, ce: Optional[bool]) -> bool:
        if ce is None:
            return bool(model.ce_enabled)
        if ce and not model.config.has_ce:
            raise CheckpointError(f"{model.config.arch} has no candidate-elimination (CE) layers; export it without CE")
        return bool(ce)

    def config_from_dict(self, data: dict, source: str) -> OSTrackConfig:
        from compresstracker.checkpoints.formats import config_from_dict

        return config_from_dict(data, source)

    def network(self, runners: dict[str, Runner], deployed: DeployedFile, device: torch.device) -> OstrackGraphNetwork:
        return OstrackGraphNetwork(runners, deployed, device)

    def calibration_inputs(self, model: OSTrackNet, ce: bool, sequences: list, samples: int) -> dict[str, list[tuple[torch.Tensor, ...]]]:
        """(template, search) crops as the tracker cuts them (:func:`template_search_crops`)."""
        from compresstracker.deploy.calibration import template_search_crops

        return {"maps": template_search_crops(model.config, sequences, samples)}

    def architecture(self, deployed: DeployedFile) -> OSTrackNet:
        model = OSTrackNet(deployed.config).eval()
        model.ce_enabled = deployed.ce
        return model

