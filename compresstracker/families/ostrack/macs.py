"""OSTrack's MAC count: one tracking forward (template + search) at batch 1 by FlopCounterMode."""
from __future__ import annotations

import torch

from compresstracker.bench.flops import FLOP_COUNTER_RULES, count_flop_macs, zero_crops
from compresstracker.families.ostrack.network import OSTrackNet, ctr_point_mask

__all__ = ["RULES", "count_macs"]

RULES = FLOP_COUNTER_RULES


@torch.no_grad()
def count_macs(model: OSTrackNet) -> int:
    """Multiply-accumulates of one tracking forward (batch 1, the model's own CE setting)."""
    template, search = zero_crops(model)
    mask = ctr_point_mask(model.config, 1, template.device) if model.ce_enabled else None
    return count_flop_macs(model, template, search, mask)
