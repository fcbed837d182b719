"""Shared compression fixtures."""
import pytest


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """A small synthetic LaSOT-layout dataset (4 sequences x 20 frames)."""
    from compresstracker.data.synthetic import generate

    root = tmp_path_factory.mktemp("synth")
    generate("lasot", root, sequences=4, frames=20, seed=9, image_size=(96, 72))
    return root
