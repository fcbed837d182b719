"""A tiny saved OSTrack-family checkpoint for the toolkit integration tests."""
from __future__ import annotations

import pytest
import torch

from compresstracker.checkpoints import save_native
from compresstracker.families import plugins
from compresstracker.models import build_model


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """The OSTrack plug-in's tiny network with non-degenerate weights, saved natively."""
    torch.manual_seed(0)
    model = build_model(plugins()["ostrack"].tiny).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # a fresh head gives flat maps
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(0.02 * torch.randn(tensor.shape, generator=gen))
    return save_native(model, model.config, tmp_path_factory.mktemp("ckpt") / "ct.safetensors")
