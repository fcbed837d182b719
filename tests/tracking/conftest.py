"""Shared tracking fixtures: a small folder of frames with a moving red box."""
import cv2
import numpy as np
import pytest


@pytest.fixture
def frames(tmp_path):
    """Five 96 x 72 jpg frames: noise with a 20 x 16 box moving one pixel per frame from (30, 20)."""
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)
    for i in range(5):
        img = base.copy()
        img[20 + i : 36 + i, 30 + i : 50 + i] = (0, 0, 255)
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), img)
    return folder
