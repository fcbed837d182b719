"""Gaussian centre labels against hand-computed cases."""
import math

import numpy as np
import pytest

from compresstracker.data.labels import gaussian_heatmap, gaussian_radius


def test_radius_of_hand_computed_boxes():
    # 4 x 4 cells: r3 = (-2*0.7*8 + sqrt((2*0.7*8)^2 + 4*(4*0.7)*(0.3*16))) / 2 = (-11.2 + sqrt(179.2)) / 2
    # 12 x 12: (-33.6 + sqrt(33.6^2 + 4*2.8*43.2)) / 2; r1 (7.6, 22.9) and r2 (14.7, 44.1) are larger.
    radius = gaussian_radius(np.array([4.0, 12.0]), np.array([4.0, 12.0]))
    assert radius.tolist() == pytest.approx([(-11.2 + math.sqrt(179.2)) / 2, (-33.6 + math.sqrt(1612.8)) / 2])
    assert np.floor(radius).tolist() == [1.0, 3.0]


def test_radius_is_the_smallest_root():
    # A flat 10 x 1 box: r1 = (11 + sqrt(121 - 40*0.3/1.7)) / 2 ~ 10.68, r2 = (22 + sqrt(484 - 48)) / 2 ~ 21.44,
    # r3 = (-15.4 + sqrt(237.16 + 33.6)) / 2 ~ 0.53: the third case decides.
    assert float(gaussian_radius(10.0, 1.0)) == pytest.approx((-15.4 + math.sqrt(270.76)) / 2)


def test_peak_value_location_and_radius():
    # box (0.25, 0.25, 0.25, 0.25) on 16 cells: centre cell (6, 6), 4 x 4 cells -> radius 1, sigma 0.5
    heat = gaussian_heatmap(np.array([[0.25, 0.25, 0.25, 0.25]]), 16)[0]
    assert heat.shape == (16, 16) and heat.dtype == np.float32
    assert heat[6, 6] == 1.0 and heat.max() == 1.0
    assert heat[6, 7] == pytest.approx(math.exp(-2.0))  # exp(-1 / (2 * 0.25))
    assert heat[5, 7] == pytest.approx(math.exp(-4.0))
    assert (heat > 0).sum() == 9  # the 3 x 3 window, nothing outside the radius
    assert heat[6, 8] == 0.0


def test_centre_rounds_half_to_even():
    # one-cell boxes (radius 0: a single 1) with centres at 6.5 and 7.5 cells -> cells 6 and 8
    boxes = np.array([[6.0 / 16, 3.0 / 16, 1 / 16, 1 / 16], [7.0 / 16, 3.0 / 16, 1 / 16, 1 / 16]])
    heat = gaussian_heatmap(boxes, 16)
    assert np.argwhere(heat[0] > 0).tolist() == [[4, 6]]  # row round(3.5) = 4 (even), column 6
    assert np.argwhere(heat[1] > 0).tolist() == [[4, 8]]


def test_batch_equals_one_by_one_and_border_is_partial():
    boxes = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.45, 0.1, 0.12], [0.7, 0.1, 0.3, 0.3]])
    batch = gaussian_heatmap(boxes, 16)
    for i in range(3):
        np.testing.assert_array_equal(batch[i], gaussian_heatmap(boxes[i : i + 1], 16)[0])
    # the third box is centred at column round(0.85 * 16) = 14, radius 1: it touches column 15
    assert batch[2, :, 15].max() == pytest.approx(math.exp(-2.0)) and batch[2].max() == 1.0
    # centre on the grid border (column 16): only the Gaussian's left part remains, peak below 1
    edge = gaussian_heatmap(np.array([[0.875, 0.4, 0.25, 0.25]]), 16)[0]
    assert edge.max() == pytest.approx(math.exp(-2.0)) and (edge[:, 15] > 0).sum() == 3
