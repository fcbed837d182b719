"""LightTrack's MAC count as its paper reports it: thop's rules on the search branch."""
from __future__ import annotations

import torch

from compresstracker.bench.flops import THOP_RULES, count_thop_macs
from compresstracker.families.lighttrack.network import LightTrackNet

__all__ = ["RULES", "count_lighttrack_macs"]

RULES = "search branch, " + THOP_RULES


@torch.no_grad()
def count_lighttrack_macs(model: LightTrackNet) -> int:
    """LightTrack's published count: the search branch (backbone, neck, fusion, heads) at batch 1 and
    the config's search size, template features precomputed, by :data:`THOP_RULES`."""
    cfg = model.config
    param = next(model.parameters())
    side = cfg.feature_size(cfg.template_size)
    zf = torch.zeros(1, cfg.output_channels, side, side, device=param.device, dtype=param.dtype)
    search = torch.zeros(1, 3, cfg.search_size, cfg.search_size, device=param.device, dtype=param.dtype)
    was_training = model.training
    model.eval()
    try:
        return count_thop_macs(model, search, zf, forward=model.track)
    finally:
        model.train(was_training)
