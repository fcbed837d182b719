"""Fixtures of the family tests."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """Three short generated LaSOT-layout sequences of small frames."""
    from compresstracker.data.synthetic import generate

    root = tmp_path_factory.mktemp("synth")
    generate("lasot", root, sequences=3, frames=12, seed=9, image_size=(96, 72))
    return root
