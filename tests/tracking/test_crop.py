"""The crop, window and clip helpers against hand-computed reference behaviour."""
import math

import numpy as np
import pytest

from compresstracker.errors import TrackingError
from compresstracker.tracking import clip_box, crop_window, hann1d, hann2d, sample_target


def test_crop_window_uses_half_to_even_rounding():
    # centre 10.5 - 5 = 5.5 -> round half to even gives 6; 4.5 -> 4
    assert crop_window([3.0, 3.0, 5.0, 5.0], 2.0)[:2] == (round(5.5 - 5 + 0.0), round(5.5 - 5))
    x1, y1, size = crop_window([0.0, 0.0, 9.0, 1.0], 1.0)  # sqrt(9) = 3 -> crop 3; 4.5 - 1.5 = 3.0
    assert (x1, size) == (3, 3)
    x1, _, size = crop_window([1.0, 0.0, 6.0, 6.0], 1.5)  # crop 9; cx 4.0 - 4.5 = -0.5 -> round -> -0 (even)
    assert size == 9 and x1 == 0
    x1, _, _ = crop_window([2.0, 0.0, 6.0, 6.0], 1.5)  # 5.0 - 4.5 = 0.5 -> 0 (even)
    assert x1 == 0
    x1, _, _ = crop_window([3.0, 0.0, 6.0, 6.0], 1.5)  # 6.0 - 4.5 = 1.5 -> 2 (even)
    assert x1 == 2


def test_crop_size_is_ceil_of_context_area():
    _, _, size = crop_window([0, 0, 10, 7], 4.0)
    assert size == math.ceil(math.sqrt(70) * 4.0)


def test_crop_rejects_empty_box():
    with pytest.raises(TrackingError):
        crop_window([0, 0, 0, 5], 2.0)


def _gradient_image(h=20, w=30):
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.arange(w)[None, :] * 8
    img[..., 1] = np.arange(h)[:, None] * 12
    img[..., 2] = 200
    return img


def test_crop_inside_is_plain_resize():
    img = _gradient_image()
    patch, factor = sample_target(img, [10, 5, 4, 4], 2.0, 8)  # crop 8 px from (8, 3): fully inside
    assert factor == 1.0
    np.testing.assert_array_equal(patch, img[3:11, 8:16])


def test_crop_right_edge_loses_last_column_to_padding():
    img = _gradient_image(h=20, w=30)
    # crop 8 px at x1 = 22 -> x2 = 30 == W: padding right = 30 - 30 + 1 = 1 (the reference's +1)
    patch, _ = sample_target(img, [24, 5, 4, 4], 2.0, 8)
    np.testing.assert_array_equal(patch[:, :7], img[3:11, 22:29])
    assert (patch[:, 7] == 0).all()


def test_crop_left_and_top_padding_is_zero():
    img = _gradient_image()
    patch, _ = sample_target(img, [-2, -1, 4, 4], 2.0, 8)  # x1 = -4, y1 = -3
    assert (patch[:, :4] == 0).all() and (patch[:3] == 0).all()
    np.testing.assert_array_equal(patch[3:, 4:], img[0:5, 0:4])


def test_crop_resize_is_bilinear_uint8():
    import cv2

    img = _gradient_image()
    patch, factor = sample_target(img, [10, 5, 4, 4], 2.0, 16)
    assert patch.dtype == np.uint8 and patch.shape == (16, 16, 3) and factor == 2.0
    np.testing.assert_array_equal(patch, cv2.resize(img[3:11, 8:16], (16, 16), interpolation=cv2.INTER_LINEAR))


def test_hann_window_values():
    w = hann1d(16).numpy()
    k = np.arange(1, 17)
    np.testing.assert_allclose(w, 0.5 * (1 - np.cos(2 * np.pi * k / 17)), rtol=1e-6)
    assert w[0] > 0 and w[-1] > 0  # 'centered' window never reaches zero
    w2 = hann2d(16)
    assert tuple(w2.shape) == (1, 1, 16, 16)
    np.testing.assert_allclose(w2[0, 0].numpy(), np.outer(w, w), rtol=1e-6)


@pytest.mark.parametrize(
    "box,expected",
    [
        ([5, 5, 20, 20], [5, 5, 20, 20]),
        ([-5, -5, 20, 20], [0, 0, 15, 15]),
        ([95, 5, 20, 20], [90, 5, 10, 20]),  # x1 clamped to W - margin, width floor 10
        ([40, 40, 2, 2], [40, 40, 10, 10]),
        ([-50, 5, 20, 20], [0, 5, 10, 20]),  # x2 = -30 -> margin 10
    ],
)
def test_clip_box_margin(box, expected):
    assert clip_box(box, 100, 100, margin=10) == pytest.approx(expected)


def _reference_crop(image, box, factor, size, context_amount, pad_mean):
    """An independent formulation: OpenCV pads the whole image (its last column/row turned to padding
    when the crop reaches past it, the reference's +1), the crop is sliced out and resized."""
    import cv2

    x1, y1, crop_sz = crop_window(box, factor, context_amount)
    height, width = image.shape[:2]
    colour = tuple(int(v) for v in image.reshape(-1, 3).mean(axis=0).astype(np.uint8)) if pad_mean else (0, 0, 0)
    outside = x1 < 0 or y1 < 0 or x1 + crop_sz >= width or y1 + crop_sz >= height
    if not pad_mean or not outside:
        colour = (0, 0, 0)
    marked = image.copy()
    if x1 + crop_sz >= width:
        marked[:, width - 1] = colour
    if y1 + crop_sz >= height:
        marked[height - 1] = colour
    big = cv2.copyMakeBorder(marked, crop_sz, crop_sz, crop_sz, crop_sz, cv2.BORDER_CONSTANT, value=colour)
    window = big[y1 + crop_sz : y1 + 2 * crop_sz, x1 + crop_sz : x1 + 2 * crop_sz]
    return cv2.resize(window, (size, size)), size / crop_sz


def test_crop_on_a_reused_canvas_equals_opencv_padding():
    rng = np.random.default_rng(3)
    padded_cases = 0
    for _ in range(400):
        h, w = (int(v) for v in rng.integers(12, 160, 2))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        bw, bh = rng.uniform(2, w), rng.uniform(2, h)
        box = [rng.uniform(-bw / 2, w - bw / 2), rng.uniform(-bh / 2, h - bh / 2), bw, bh]
        args = (float(rng.choice([2.0, 4.0, 5.0])), int(rng.choice([16, 64, 128])), float(rng.choice([0.0, 0.5])),
                bool(rng.integers(2)))
        x1, y1, crop_sz = crop_window(box, args[0], args[2])
        padded_cases += x1 < 0 or y1 < 0 or x1 + crop_sz >= w or y1 + crop_sz >= h
        expected, expected_factor = _reference_crop(image, box, *args)
        patch, factor = sample_target(image, box, *args)
        np.testing.assert_array_equal(patch, expected)
        assert factor == expected_factor
    assert padded_cases > 100  # the canvas path was exercised, across sizes that grow and shrink
    image = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    first, _ = sample_target(image, [-5, -5, 10, 10], 4.0, 40)  # crop 40 = output 40: no resampling
    kept = first.copy()
    sample_target(255 - image, [-5, -5, 10, 10], 4.0, 40)
    np.testing.assert_array_equal(first, kept)  # a patch handed out does not share the reused buffer
