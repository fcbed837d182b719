"""Siamese (LightTrack) pair crops: the context square, mean-colour padding, items without a heatmap."""
import math

import numpy as np
import pytest
import torch

from compresstracker.data.pairs import PairCrops, PairDataset
from compresstracker.tracking.crop import crop_window, sample_target

from .conftest import TINY

SIAMESE = PairCrops(32, 64, 1.0, 2.0, context_amount=0.5, pad_mean=True)


def test_context_square():
    # w 9, h 1, p = 0.5 (9 + 1) = 5: sqrt(14 x 6) = 9.165 -> 10; corner 4.5 - 5 = -0.5 -> -0 and
    # 0.5 - 5 = -4.5 -> -4 (half to even)
    assert crop_window([0.0, 0.0, 9.0, 1.0], 1.0, context_amount=0.5) == (0, -4, 10)
    # search: the same square times 2 (256 / 128): ceil(18.33) = 19
    assert crop_window([0.0, 0.0, 9.0, 1.0], 2.0, context_amount=0.5)[2] == 19
    assert crop_window([0.0, 0.0, 9.0, 1.0], 1.0) == crop_window([0.0, 0.0, 9.0, 1.0], 1.0, context_amount=0.0)


def test_padding_is_the_truncated_image_mean():
    image = np.zeros((4, 4, 3), np.uint8)
    image[:, :2] = (10, 20, 31)
    image[:, 2:] = (11, 20, 30)  # channel means 10.5, 20, 30.5 -> 10, 20, 30
    patch, _ = sample_target(image, [-4.0, -4.0, 4.0, 4.0], 2.0, 8, pad_mean=True)  # x1 = y1 = -6
    assert patch[0, 0].tolist() == [10, 20, 30]
    black, _ = sample_target(image, [-4.0, -4.0, 4.0, 4.0], 2.0, 8)
    assert black[0, 0].tolist() == [0, 0, 0]
    inside, _ = sample_target(image, [1.0, 1.0, 1.0, 1.0], 2.0, 2, pad_mean=True)  # no padding needed
    assert inside.shape == (2, 2, 3)


def test_siamese_pairs_have_the_context_crops_and_no_heatmap(video_source):
    pairs = PairDataset([(video_source, 1.0)], 6, SIAMESE, seed=0, augment=False)
    for index in range(6):
        item = pairs.sample(0, index)
        assert "heatmap" not in item and bool(item["valid"])
        assert item["template"].shape == (3, 32, 32) and item["search"].shape == (3, 64, 64)
        # the template crop is the box's context square, centred on the box (16 x 12 boxes)
        side = math.ceil(math.sqrt((16 + 14) * (12 + 14)))
        x, y, w, h = item["template_box"].tolist()
        assert (w, h) == pytest.approx((16 / side, 12 / side), rel=1e-5)
        assert (x + w / 2, y + h / 2) == pytest.approx((0.5, 0.5), abs=1e-5)
    batch = torch.utils.data.default_collate([pairs.sample(0, i) for i in range(2)])
    assert set(batch) == {"template", "search", "template_box", "search_box", "valid"}
    # OSTrack's crops are unchanged: a config still gives its heatmap
    assert PairDataset([(video_source, 1.0)], 2, TINY, seed=0).sample(0, 0)["heatmap"].shape == (4, 4)
