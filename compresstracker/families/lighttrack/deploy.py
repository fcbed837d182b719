"""The LightTrack family (:class:`~compresstracker.models.LightTrackNet`) for deployment: two graphs.

``template``: ``template`` (1, 3, E, E) -> ``zf``, the backbone features of the template crop, run
once per target. ``search``: ``zf`` and ``search`` (1, 3, I, I) -> ``cls`` (1, 1, S, S) logits and
``reg`` (1, 4, S, S) l/t/r/b distances in search-crop pixels, run every frame (neck BNs,
pixel-wise correlation, channel attention and both heads are inside it). The image sides are
dynamic axes, so one export serves the 127 and 128 templates and the 256 and 288 searches the
tracker uses; the template features' side is fixed by the network (its correlation width).
Mobile runtimes (ncnn, TensorRT, ...) take the two files as they are.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from compresstracker.deploy.family import DeployedFile, DeployFamily, Graph, GraphNetwork, Runner
from compresstracker.families.lighttrack.arch import LightTrackConfig
from compresstracker.families.lighttrack.network import LightTrackNet

__all__ = ["LightTrackFamily", "LightTrackGraphNetwork", "SearchBranch", "TemplateBranch"]


class TemplateBranch(nn.Module):
    """z -> template features (what ``LightTrackNet.template`` returns, without keeping them)."""

    def __init__(self, model: LightTrackNet):
        super().__init__()
        self.model = model

    def forward(self, template: torch.Tensor) -> torch.Tensor:
        return self.model.features(template)


class SearchBranch(nn.Module):
    """(template features, x) -> (cls, reg): ``LightTrackNet.track`` as a pure function."""

    def __init__(self, model: LightTrackNet):
        super().__init__()
        self.model = model

    def forward(self, zf: torch.Tensor, search: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model.track(search, zf)
        return out["cls"], out["reg"]


def _example(config: LightTrackConfig, device: torch.device, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded normal (template, template features, search) of the config's sizes."""
    gen = torch.Generator().manual_seed(seed)
    side = config.feature_size(config.template_size)
    template = torch.randn(1, 3, config.template_size, config.template_size, generator=gen)
    zf = torch.randn(1, config.output_channels, side, side, generator=gen)
    search = torch.randn(1, 3, config.search_size, config.search_size, generator=gen)
    return template.to(device), zf.to(device), search.to(device)


class LightTrackGraphNetwork(GraphNetwork):
    """The two graphs called like a LightTrackNet: ``template(z) -> zf`` and ``track(x, zf) -> {cls, reg}``."""

    def template(self, z: torch.Tensor) -> torch.Tensor:
        return self.run("template", template=z)["zf"]

    def track(self, x: torch.Tensor, zf: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.run("search", zf=zf, search=x)

    def __call__(self, template: torch.Tensor, search: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.track(search, self.template(template))


class LightTrackFamily(DeployFamily):
    name = "lighttrack"
    model_type = LightTrackNet
    signature = {"template": ({"template": 4}, {"zf": 4}), "search": ({"zf": 4, "search": 4}, {"cls": 4, "reg": 4})}

    def graphs(self, model: LightTrackNet, ce: bool) -> list[Graph]:
        device = next(model.parameters()).device
        side = {2: "height", 3: "width"}
        score = {2: "score_height", 3: "score_width"}
        return [
            Graph("template", TemplateBranch(model).eval(), ("template",), ("zf",),
                  lambda seed: _example(model.config, device, seed)[:1],
                  dynamic_axes={"template": side}),
            Graph("search", SearchBranch(model).eval(), ("zf", "search"), ("cls", "reg"),
                  lambda seed: _example(model.config, device, seed)[1:],
                  dynamic_axes={"search": side, "cls": score, "reg": score}),
        ]

    def config_name(self, config: LightTrackConfig) -> str:
        return config.name

    def config_from_dict(self, data: dict, source: str) -> LightTrackConfig:
        from compresstracker.checkpoints.formats import config_from_dict

        return config_from_dict(data, source)

    def network(self, runners: dict[str, Runner], deployed: DeployedFile, device: torch.device) -> LightTrackGraphNetwork:
        return LightTrackGraphNetwork(runners, deployed, device)

    def calibration_inputs(self, model: LightTrackNet, ce: bool, sequences: list, samples: int) -> dict[str, list[tuple[torch.Tensor, ...]]]:
        """Template crops of frame 0 and search crops around each previous frame's box, cut as
        LightTrack's tracker cuts them (context square, mean padding, the config's sizes)."""
        from compresstracker.tracking import Normalizer, read_rgb, round_half_away, siamese_crop
        from compresstracker.families.lighttrack.tracker import context_side

        cfg = model.config
        normalize = Normalizer(torch.device("cpu"))
        templates: dict[str, torch.Tensor] = {}
        inputs: dict[str, list[tuple[torch.Tensor, ...]]] = {"template": [], "search": []}
        frame = 1
        while len(inputs["search"]) < samples and any(len(s.frames) > frame for s in sequences):
            for seq in [s for s in sequences if len(s.frames) > frame][: samples - len(inputs["search"])]:
                box = np.asarray(seq.ground_truth[frame - 1], dtype=np.float64)
                if not (np.isfinite(box).all() and box[2] > 0 and box[3] > 0):
                    continue
                if seq.name not in templates:
                    image = read_rgb(seq.frames[0])
                    first = np.asarray(seq.ground_truth[0], dtype=np.float64)
                    z = siamese_crop(image, first[:2] + first[2:] / 2, cfg.template_size,
                                     round(float(context_side(first[2], first[3]))), image.mean(axis=(0, 1)))
                    templates[seq.name] = normalize(z)
                    inputs["template"].append((templates[seq.name],))
                image = read_rgb(seq.frames[frame])
                s_x = float(context_side(box[2], box[3])) * cfg.search_size / cfg.template_size
                x = siamese_crop(image, box[:2] + box[2:] / 2, cfg.search_size, round_half_away(s_x), image.mean(axis=(0, 1)))
                with torch.no_grad():
                    zf = model.features(templates[seq.name])
                inputs["search"].append((zf, normalize(x)))
            frame += 1
        return inputs

    def architecture(self, deployed: DeployedFile) -> LightTrackNet:
        return LightTrackNet(deployed.config).eval()

