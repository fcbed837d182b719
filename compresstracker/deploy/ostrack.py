"""The OSTrack family (:class:`~compresstracker.models.TrackerNet`, teachers and students) for deployment.

One graph, ``maps``: ``template`` (1, 3, Ht, Ht) and ``search`` (1, 3, Hs, Hs) -> ``score_map``,
``size_map``, ``offset_map``; box decoding and the Hann window stay in the tracker. Candidate
elimination is exported with static shapes: the CTR_POINT template row enters as a constant int64
index instead of a boolean mask (same values, see ``select_template_rows``), the elimination sort
becomes TopK with a fixed k and the gathers/scatter have fixed sizes.
"""
from __future__ import annotations

import copy
from typing import Optional

import numpy as np
import torch
from torch import nn

from compresstracker.deploy.family import DeployedFile, DeployFamily, Graph, GraphNetwork, Runner, register_deploy_family
from compresstracker.errors import CheckpointError
from compresstracker.models import TrackerConfig, TrackerNet, ctr_point_rows

INPUT_NAMES = ("template", "search")
OUTPUT_NAMES = ("score_map", "size_map", "offset_map")


class MapsNet(nn.Module):
    """What the exported graph computes: (template, search) -> (score_map, size_map, offset_map).

    With ``ce`` the CE blocks eliminate search tokens ranked by the CTR_POINT template row, given
    as a constant index; without it every block runs plain.
    """

    def __init__(self, model: TrackerNet, ce: bool):
        super().__init__()
        cfg = model.config
        self.model = model
        self.keep_ratios = [cfg.keep_ratio(i) for i in range(cfg.depth)] if ce else None
        self.register_buffer("rows", ctr_point_rows(cfg, next(model.parameters()).device), persistent=False)

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        tokens = self.model.backbone(template, search, self.rows, self.keep_ratios)
        return self.model.head_maps(tokens)


def example_inputs(config: TrackerConfig, device: torch.device, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded normal template and search tensors of the config's sizes."""
    gen = torch.Generator().manual_seed(seed)
    template = torch.randn(1, 3, config.template_size, config.template_size, generator=gen)
    search = torch.randn(1, 3, config.search_size, config.search_size, generator=gen)
    return template.to(device), search.to(device)


class OstrackGraphNetwork(GraphNetwork):
    """The ``maps`` graph called like a TrackerNet. CE is inside the graph (its CTR_POINT row is a
    constant), so ``template_mask`` is accepted and not used."""

    def __call__(
        self, template: torch.Tensor, search: torch.Tensor, template_mask: Optional[torch.Tensor] = None
    ) -> dict[str, torch.Tensor]:
        return self.run("maps", template=template, search=search)


class OstrackFamily(DeployFamily):
    name = "ostrack"
    model_type = TrackerNet

    def graphs(self, model: TrackerNet, ce: bool) -> list[Graph]:
        device = next(model.parameters()).device
        net = MapsNet(self.inference_form(copy.deepcopy(model).eval()), ce).eval()
        return [Graph(
            "maps", net, INPUT_NAMES, OUTPUT_NAMES, lambda seed: example_inputs(model.config, device, seed),
            reference=MapsNet(model.eval(), ce).eval(),
        )]

    def inference_form(self, model: TrackerNet) -> TrackerNet:
        return model.fuse_head()

    def resolve_ce(self, model: TrackerNet, ce: Optional[bool]) -> bool:
        if ce is None:
            return bool(model.ce_enabled)
        if ce and not model.config.has_ce:
            raise CheckpointError(f"{model.config.arch} has no candidate-elimination (CE) layers; export it without CE")
        return bool(ce)

    def config_from_dict(self, data: dict, source: str) -> TrackerConfig:
        from compresstracker.checkpoints.formats import config_from_dict

        return config_from_dict(data, source)

    def network(self, runners: dict[str, Runner], deployed: DeployedFile, device: torch.device) -> OstrackGraphNetwork:
        return OstrackGraphNetwork(runners, deployed, device)

    def calibration_inputs(self, model: TrackerNet, ce: bool, sequences: list, samples: int) -> dict[str, list[tuple[torch.Tensor, ...]]]:
        """(template, search) crops: the template around frame 0's box, each search region around the
        previous frame's box, as the tracker crops them (its normaliser, its factors), sequences in turn."""
        from compresstracker.tracking import Normalizer, read_rgb, sample_target

        cfg = model.config
        normalize = Normalizer(torch.device("cpu"))
        templates, pairs = {}, []
        frame = 1
        while len(pairs) < samples and sequences:
            usable = [s for s in sequences if len(s.frames) > frame]
            if not usable:
                break
            for seq in usable[: samples - len(pairs)]:
                box = seq.ground_truth[frame - 1]
                if not (np.isfinite(box).all() and box[2] > 0 and box[3] > 0):
                    continue  # the target is absent there: no crop the tracker would make
                if seq.name not in templates:
                    patch, _ = sample_target(read_rgb(seq.frames[0]), seq.ground_truth[0], cfg.template_factor, cfg.template_size)
                    templates[seq.name] = normalize(patch)
                patch, _ = sample_target(read_rgb(seq.frames[frame]), box, cfg.search_factor, cfg.search_size)
                pairs.append((templates[seq.name], normalize(patch)))
            frame += 1
        if not pairs:
            raise CheckpointError("no calibration crops: the calibration sequences need at least 2 frames")
        return {"maps": pairs}

    def architecture(self, deployed: DeployedFile) -> TrackerNet:
        model = TrackerNet(deployed.config).eval()
        model.ce_enabled = deployed.ce
        return model


register_deploy_family(OstrackFamily())
