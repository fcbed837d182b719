"""Parameter and MAC counts, each family by its own published convention (say which).

Each family's plug-in registers its counter (:func:`register_mac_counter`). Two counting rules
live here for them: PyTorch's FlopCounterMode on one forward pass (:func:`count_flop_macs`:
matrix multiplications, convolutions and fused attention, 2 FLOPs per multiply-add halved to MACs;
element-wise work such as LayerNorm, GELU, softmax, BatchNorm and adds not counted, as in most
published figures), and thop's rules (:func:`count_thop_macs`), which LightTrack's figures use.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from compresstracker.models import family_of
from compresstracker.plugins import load_families


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# thop's counting rules, as LightTrack's published figures use them -------------------------------
THOP_RULES = (
    "thop's rules: convolutions and linear layers (multiply-adds, bias not counted), BatchNorm 4 ops per "
    "element, adaptive average pooling (window + 1) per output; activations, element-wise products and "
    "the correlation matrix multiply are not counted"
)


def thop_ops(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> int:
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
        total += thop_ops(mod, args, out)

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    try:
        (forward or module)(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return total


FLOP_COUNTER_RULES = (
    "PyTorch FlopCounterMode on template + search: matrix multiplications, convolutions and attention; "
    "element-wise work not counted"
)
# Per model family (registered by its plug-in): (MAC counter, how it counts).
_MAC_COUNTERS: dict[str, tuple[Callable[[torch.nn.Module], int], str]] = {}


def register_mac_counter(family: str, counter: Callable[[torch.nn.Module], int], rules: str) -> None:
    """Count the MACs of ``family``'s networks with ``counter``, described by ``rules``."""
    _MAC_COUNTERS[family] = (counter, rules)


def zero_crops(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(template, search) batch-1 zero crops of the sizes ``model.config`` names, on the model's device and dtype."""
    cfg = model.config
    param = next(model.parameters())
    return tuple(torch.zeros(1, 3, side, side, device=param.device, dtype=param.dtype)  # type: ignore[return-value]
                 for side in (cfg.template_size, cfg.search_size))


@torch.no_grad()
def count_flop_macs(model: torch.nn.Module, *inputs: Any) -> int:
    """Multiply-accumulates of one ``model(*inputs)`` call by FlopCounterMode (eval mode, restored after)."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        with counter:
            model(*inputs)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def count_family_macs(model: torch.nn.Module) -> tuple[int | None, str]:
    """(MACs, how they were counted) by the model family's own convention; (None, why) for a family
    with no single count (a supernet: each path has its own, see ``ctrack search --dry-run``)."""
    family = family_of(model.config).name
    load_families()
    if family not in _MAC_COUNTERS:
        return None, f"no single count for a {family} (each path has its own; `ctrack search --dry-run` gives the range)"
    counter, rules = _MAC_COUNTERS[family]
    return counter(model), rules
