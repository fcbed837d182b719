"""OSTrack's Gaussian centre labels on the search feature grid, for a whole batch at once (numpy)."""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

MIN_OVERLAP = 0.7


def gaussian_radius(width: ArrayLike, height: ArrayLike, min_overlap: float = MIN_OVERLAP) -> np.ndarray:
    """CornerNet's ``gaussian_radius`` (as CenterNet and OSTrack use it), element-wise, float64.

    Three cases bound how far the box corners may move while the IoU with the true box stays at
    least ``min_overlap``; each is a quadratic a r^2 - b r + c = 0 (both corners inside, both
    outside, one of each) and the radius is the smallest of the three roots:
        r1 = (b1 + sqrt(b1^2 - 4 a1 c1)) / 2, a1 = 1,     b1 = h + w,          c1 = w h (1 - o) / (1 + o)
        r2 = (b2 + sqrt(b2^2 - 4 a2 c2)) / 2, a2 = 4,     b2 = 2 (h + w),      c2 = (1 - o) w h
        r3 = (b3 + sqrt(b3^2 - 4 a3 c3)) / 2, a3 = 4 o,   b3 = -2 o (h + w),   c3 = (o - 1) w h
    Every root is divided by 2, not by 2a, as in the reference code; labels must match it.
    """
    w, h, o = np.asarray(width, dtype=np.float64), np.asarray(height, dtype=np.float64), min_overlap
    b1, c1 = h + w, w * h * (1 - o) / (1 + o)
    r1 = (b1 + np.sqrt(b1**2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - o) * w * h
    r2 = (b2 + np.sqrt(b2**2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * o, -2 * o * (h + w), (o - 1) * w * h
    r3 = (b3 + np.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return np.minimum(r1, np.minimum(r2, r3))


def gaussian_heatmap(boxes: ArrayLike, feat_size: int, min_overlap: float = MIN_OVERLAP) -> np.ndarray:
    """Label maps (B, F, F) float32 for normalised boxes (B, 4) x y w h, F = ``feat_size``.

    Centre cell (round((x + w/2) F), round((y + h/2) F)) with round half to even (as torch.round
    in the reference); radius r = int(max(0, gaussian_radius(w F, h F))); the map is
    exp(-(dx^2 + dy^2) / (2 sigma^2)) with sigma = (2 r + 1) / 6 on cells with |dx|, |dy| <= r
    and 0 elsewhere, so the centre cell holds 1. (The reference also zeroes values below float64
    eps; inside the radius they never fall below exp(-9), so that rule changes nothing.)
    Centres on or outside the border keep the part of the Gaussian that falls on the grid.
    """
    scaled = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * feat_size
    wh = scaled[:, 2:]
    centers = np.round(scaled[:, :2] + wh / 2)
    radius = np.floor(np.maximum(gaussian_radius(wh[:, 0], wh[:, 1], min_overlap), 0))
    two_sigma_sq = (2 * ((2 * radius + 1) / 6) ** 2)[:, None, None]
    grid = np.arange(feat_size, dtype=np.float64)
    dx = grid[None, :] - centers[:, 0:1]  # (B, F) column offsets
    dy = grid[None, :] - centers[:, 1:2]  # (B, F) row offsets
    window = (np.abs(dy) <= radius[:, None])[:, :, None] & (np.abs(dx) <= radius[:, None])[:, None, :]
    heat = np.exp(-(dy[:, :, None] ** 2 + dx[:, None, :] ** 2) / two_sigma_sq)
    return (heat * window).astype(np.float32)
