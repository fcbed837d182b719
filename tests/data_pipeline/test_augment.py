"""Box jitter, the crop-to-patch box transform, padding rejection and the photometric steps."""
import math

import numpy as np
import pytest
import torch

from compresstracker.data.augment import (
    box_in_crop, flip_horizontal, jitter_box, to_grayscale, to_normalized_tensor, training_patch,
)
from compresstracker.tracking.base import Normalizer


def test_unjittered_box_lands_at_the_crop_centre():
    box = np.array([40.3, 17.9, 21.0, 13.0])
    crop_sz = math.ceil(math.sqrt(21 * 13) * 4.0)
    out = box_in_crop(box, box, crop_sz)
    np.testing.assert_allclose(out, [0.5 - 10.5 / crop_sz, 0.5 - 6.5 / crop_sz, 21 / crop_sz, 13 / crop_sz])
    assert out[0] + out[2] / 2 == pytest.approx(0.5) and out[1] + out[3] / 2 == pytest.approx(0.5)


def test_jitter_draws_and_moves_the_label_by_the_expected_amount():
    box = np.array([50.0, 30.0, 20.0, 10.0])
    jittered = jitter_box(box, np.random.default_rng(7), scale_jitter=0.25, center_jitter=3.0)
    draws = np.random.default_rng(7)
    size = box[2:] * np.exp(draws.standard_normal(2) * 0.25)
    shift = math.sqrt(size[0] * size[1]) * 3.0 * (draws.random(2) - 0.5)
    np.testing.assert_allclose(jittered[2:], size)
    np.testing.assert_allclose(jittered[:2] + jittered[2:] / 2, [60.0, 35.0] + shift)
    crop_sz = math.ceil(math.sqrt(size[0] * size[1]) * 4.0)
    out = box_in_crop(box, jittered, crop_sz)
    # the target centre moves opposite to the crop centre, in crop units; the size just rescales
    np.testing.assert_allclose(out[:2] + out[2:] / 2, 0.5 - shift / crop_sz)
    np.testing.assert_allclose(out[2:], box[2:] / crop_sz)
    assert np.all(np.abs(shift) <= 1.5 * math.sqrt(size[0] * size[1]))


def test_zero_jitter_is_identity():
    box = np.array([5.0, 6.0, 7.0, 8.0])
    np.testing.assert_allclose(jitter_box(box, np.random.default_rng(0), 0.0, 0.0), box)


@pytest.mark.parametrize("crop_box", [[30.0, 22.0, 18.0, 14.0], [37.4, 18.6, 15.2, 19.9], [26.0, 8.0, 10.0, 12.0]])  # the last pads at the top
def test_label_matches_the_pixels_of_the_crop(crop_box):
    # a white rectangle on black: find it in the crop and compare with the label box
    image = np.zeros((80, 100, 3), np.uint8)
    box = np.array([34.0, 20.0, 16.0, 12.0])
    image[20:32, 34:50] = 255
    patch, label = training_patch(image, box, np.array(crop_box), 4.0, 128)
    crop_sz = math.ceil(math.sqrt(crop_box[2] * crop_box[3]) * 4.0)
    scale = 128 / crop_sz
    ys, xs = np.nonzero(patch[..., 0] > 127)
    found = np.array([xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]) / 128
    # pixels start at the rounded crop corner: up to half an image pixel from the label's frame
    tolerance = (0.5 * scale + 1.0) / 128
    np.testing.assert_allclose(found, label, atol=tolerance)


def test_all_padding_crops_are_rejected():
    image = np.full((50, 60, 3), 200, np.uint8)
    box = np.array([10.0, 10.0, 8.0, 8.0])
    assert training_patch(image, box, np.array([500.0, 10.0, 8.0, 8.0]), 4.0, 32) is None  # far right
    assert training_patch(image, box, np.array([-80.0, -80.0, 8.0, 8.0]), 4.0, 32) is None  # above left
    # crop of 32 px starting at x1 = W - 1: sample_target pads that last column too (its +1), all padding
    assert training_patch(image, box, np.array([59.0 + 12.0, 10.0, 8.0, 8.0]), 4.0, 32) is None
    patch, _ = training_patch(image, box, np.array([58.0 + 12.0, 10.0, 8.0, 8.0]), 4.0, 32)  # x1 = W - 2
    assert patch.max() == 200 and patch.min() == 0
    assert training_patch(image, box, np.array([10.0, 10.0, 0.0, 8.0]), 4.0, 32) is None  # no size


def test_flip_mirrors_patch_and_box():
    patch = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    flipped, box = flip_horizontal(patch, np.array([0.1, 0.2, 0.3, 0.4]))
    np.testing.assert_array_equal(flipped, patch[:, ::-1])
    np.testing.assert_allclose(box, [0.6, 0.2, 0.3, 0.4])


def test_grayscale_has_equal_channels_of_the_luminance():
    patch = np.zeros((2, 2, 3), np.uint8)
    patch[..., 0] = 255  # pure red: luminance 0.299 * 255 = 76
    gray = to_grayscale(patch)
    assert gray.shape == (2, 2, 3) and (gray == 76).all()


def test_normalisation_matches_the_tracker_and_brightness_clamps():
    patch = np.random.default_rng(0).integers(0, 256, size=(6, 7, 3), dtype=np.uint8)
    plain = to_normalized_tensor(patch)
    assert plain.shape == (3, 6, 7) and plain.dtype == torch.float32
    torch.testing.assert_close(plain, Normalizer(torch.device("cpu"))(patch)[0], rtol=0, atol=0)
    bright = to_normalized_tensor(np.full((1, 1, 3), 250, np.uint8), 1.2)  # 250 * 1.2 / 255 > 1: clamped to 1
    torch.testing.assert_close(bright.flatten(), (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225]))
    dark = to_normalized_tensor(np.full((1, 1, 3), 100, np.uint8), 0.8)
    torch.testing.assert_close(dark.flatten(), (80 / 255 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225]))
