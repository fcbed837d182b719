"""Fixtures for export and backend tests: a tiny CE teacher, a tiny 4-block student, saved files."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch

from compresstracker.checkpoints import save_native
from compresstracker.families.ostrack.network import OSTrackNet

# A 4-block student of the tiny teacher, as compression writes them: no CE layers.
STUDENT = {"depth": 4, "ce_layers": (), "ce_keep_ratios": ()}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and one thread keeps them quick on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def teacher(make_model) -> OSTrackNet:
    return make_model("tiny_64_ce", seed=0)


@pytest.fixture
def student(make_model) -> OSTrackNet:
    return make_model("tiny_64_ce", seed=1, **STUDENT)


@pytest.fixture
def save(tmp_path) -> Callable[[OSTrackNet, str], Path]:
    """Write a model as a native checkpoint named ``NAME.safetensors`` under tmp_path."""

    def _save(model: OSTrackNet, name: str) -> Path:
        return save_native(model, model.config, tmp_path / f"{name}.safetensors")

    return _save
