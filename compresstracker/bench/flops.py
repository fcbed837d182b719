"""Parameter and MAC counts.

MACs are counted with PyTorch's FlopCounterMode on one forward pass at batch 1 (template +
search, both through the network, as at tracking time): it counts matrix multiplications,
convolutions and fused attention (2 FLOPs per multiply-add, halved here to MACs). Element-wise
work (LayerNorm, GELU, softmax, BatchNorm, adds) is not counted, as in most published figures.
"""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from compresstracker.models import TrackerNet, ctr_point_mask


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: TrackerNet) -> int:
    """Multiply-accumulates of one tracking forward (batch 1, the model's own CE setting)."""
    cfg = model.config
    param = next(model.parameters())
    template = torch.zeros(1, 3, cfg.template_size, cfg.template_size, device=param.device, dtype=param.dtype)
    search = torch.zeros(1, 3, cfg.search_size, cfg.search_size, device=param.device, dtype=param.dtype)
    mask = ctr_point_mask(cfg, 1, param.device) if model.ce_enabled else None
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter:
        model(template, search, mask)
    model.train(was_training)
    return counter.get_total_flops() // 2
