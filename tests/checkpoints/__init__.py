"""Checkpoint tests. Shared helpers: tiny models with trained-looking weights, and their outputs."""
from __future__ import annotations

import torch

from compresstracker.models import build_model
from compresstracker.families.ostrack.config import OSTrackConfig
from compresstracker.families.ostrack.network import OSTrackNet, ctr_point_mask


def tiny_model(config: OSTrackConfig | str = "tiny_64_ce", seed: int = 0) -> OSTrackNet:
    """An eval-mode tiny network whose every tensor (LayerNorm, BN statistics too) is non-default."""
    torch.manual_seed(seed)
    model = build_model(config).eval()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
            elif tensor.is_floating_point():
                tensor.add_(torch.randn_like(tensor) * 0.1)
            else:
                tensor.fill_(7)  # num_batches_tracked: must survive a round trip too
    return model


def run(model: OSTrackNet, seed: int = 1) -> dict[str, torch.Tensor]:
    """Outputs on fixed random inputs, with the CTR_POINT template mask."""
    c = model.config
    g = torch.Generator().manual_seed(seed)
    template = torch.randn(2, 3, c.template_size, c.template_size, generator=g)
    search = torch.randn(2, 3, c.search_size, c.search_size, generator=g)
    with torch.no_grad():
        return model(template, search, ctr_point_mask(c, batch=2))


def assert_same_outputs(a: OSTrackNet, b: OSTrackNet) -> None:
    out_a, out_b = run(a), run(b)
    for key in ("pred_boxes", "score_map", "size_map", "offset_map", "tokens"):
        torch.testing.assert_close(out_a[key], out_b[key], rtol=0, atol=0, msg=key)


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert torch.equal(a[key], b[key]), key
