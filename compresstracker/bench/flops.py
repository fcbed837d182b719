"""Parameter and MAC counts, each family by its own published convention (say which).

MACs are counted with PyTorch's FlopCounterMode on one forward pass at batch 1 (template +
search, both through the network, as at tracking time): it counts matrix multiplications,
convolutions and fused attention (2 FLOPs per multiply-add, halved here to MACs). Element-wise
work (LayerNorm, GELU, softmax, BatchNorm, adds) is not counted, as in most published figures.
LightTrack's figures are thop's count of the search branch (:func:`count_lighttrack_macs`).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from compresstracker.models import LightTrackNet, TrackerNet, ctr_point_mask, family_of


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


# thop's counting rules, as LightTrack's published figures use them -------------------------------
THOP_RULES = (
    "thop's rules: convolutions and linear layers (multiply-adds, bias not counted), BatchNorm 4 ops per "
    "element, adaptive average pooling (window + 1) per output; activations, element-wise products and "
    "the correlation matrix multiply are not counted"
)


def _thop_ops(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    if isinstance(module, torch.nn.Conv2d):
        return output.numel() * module.weight[0].numel()
    if isinstance(module, torch.nn.Linear):
        return output.numel() * module.in_features
    if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
        return inputs[0].numel() * (4 if module.affine else 2)
    if isinstance(module, torch.nn.AdaptiveAvgPool2d):
        window = inputs[0][0, 0].numel() // output[0, 0].numel()
        return output.numel() * (window + 1)
    return 0


@torch.no_grad()
def count_thop_macs(module: torch.nn.Module, *inputs: torch.Tensor, forward=None) -> int:
    """Operations of one call ``(forward or module)(*inputs)`` counted by :data:`THOP_RULES`.

    Written from thop's documented rules (not with thop): LightTrack-Mobile's search branch at 256
    counts 544.5 M this way (convolutions alone: 510.6 M).
    """
    total = 0

    def hook(mod: torch.nn.Module, args: tuple, out: torch.Tensor) -> None:
        nonlocal total
        total += _thop_ops(mod, args, out)

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    try:
        (forward or module)(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return total


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


FLOP_COUNTER_RULES = (
    "PyTorch FlopCounterMode on template + search: matrix multiplications, convolutions and attention; "
    "element-wise work not counted"
)
# Per model family: (MAC counter, how it counts).
MAC_COUNTERS: dict[str, tuple[Callable[[torch.nn.Module], int], str]] = {
    "ostrack": (count_macs, FLOP_COUNTER_RULES),
    "lighttrack": (count_lighttrack_macs, "search branch, " + THOP_RULES),
}


def count_family_macs(model: torch.nn.Module) -> tuple[int, str]:
    """(MACs, how they were counted) by the model family's own convention."""
    counter, rules = MAC_COUNTERS[family_of(model.config).name]
    return counter(model), rules
