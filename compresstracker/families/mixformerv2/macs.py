"""MixFormerV2's MAC count: one tracking forward (template, online template, search) at batch 1 by FlopCounterMode."""
from __future__ import annotations

import torch

from compresstracker.bench.flops import FLOP_COUNTER_RULES, count_flop_macs, zero_crops
from compresstracker.families.mixformerv2.network import MixFormerV2Net

__all__ = ["RULES", "count_macs"]

RULES = FLOP_COUNTER_RULES.replace("template + search", "template + online template + search")


@torch.no_grad()
def count_macs(model: MixFormerV2Net) -> int:
    """Multiply-accumulates of one tracking forward at batch 1 (the tracker runs the whole network every frame)."""
    template, search = zero_crops(model)
    return count_flop_macs(model, template, template, search)
