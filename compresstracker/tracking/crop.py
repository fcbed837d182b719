"""Search/template crops exactly as OSTrack's ``sample_target`` and as LightTrack's SiamFC-style cropping, and the Hann window."""
from __future__ import annotations

import math
import threading
from typing import Sequence

import cv2
import numpy as np
import torch

from compresstracker.errors import TrackingError


def crop_window(box: Sequence[float], factor: float, context_amount: float = 0.0) -> tuple[int, int, int]:
    """(x1, y1, crop_sz) of the square crop around ``box`` (x, y, w, h) with context ``factor``.

    The side is ceil(sqrt((w + p) (h + p)) * factor) with p = context_amount (w + h): OSTrack's
    sqrt(w h) * factor with the default 0, SiamFC/LightTrack's context square with 0.5.
    ``round`` is Python's (half to even), as in the reference.
    """
    x, y, w, h = (float(v) for v in box)
    if not (w > 0 and h > 0):
        raise TrackingError(f"box {list(box)} has no area; width and height must be positive")
    pad = context_amount * (w + h)
    crop_sz = math.ceil(math.sqrt((w + pad) * (h + pad)) * factor)
    if crop_sz < 1:
        raise TrackingError(f"box {list(box)} is too small to crop")
    x1 = round(x + 0.5 * w - crop_sz * 0.5)
    y1 = round(y + 0.5 * h - crop_sz * 0.5)
    return x1, y1, crop_sz


def sample_target(
    image: np.ndarray, box: Sequence[float], factor: float, output_size: int,
    context_amount: float = 0.0, pad_mean: bool = False,
) -> tuple[np.ndarray, float]:
    """Crop the square of ``crop_window`` around ``box``, pad, resize (uint8 bilinear).

    Padding on the right/bottom is ``x2 - W + 1``: a crop touching the right edge loses the last
    real column to padding, as the reference does. The padding is black, or with ``pad_mean``
    the image's per-channel mean truncated to uint8 (the Siamese trackers' padding colour).
    Returns (patch, resize_factor).
    """
    x1, y1, crop_sz = crop_window(box, factor, context_amount)
    height, width = image.shape[:2]
    x2, y2 = x1 + crop_sz, y1 + crop_sz
    left, top = max(0, -x1), max(0, -y1)
    right, bottom = max(x2 - width + 1, 0), max(y2 - height + 1, 0)
    inside = image[y1 + top : y2 - bottom, x1 + left : x2 - right]
    if max(top, bottom, left, right) == 0:
        return cv2.resize(inside, (output_size, output_size)), output_size / crop_sz
    colour = 0
    if pad_mean:
        colour = tuple(int(v) for v in image.reshape(-1, image.shape[-1]).mean(axis=0).astype(np.uint8))
    rows, cols = inside.shape[:2]
    padded = _canvas((top + rows + bottom, left + cols + right, *image.shape[2:]), image.dtype)
    padded[:top] = colour
    padded[top + rows:] = colour
    padded[top : top + rows, :left] = colour
    padded[top : top + rows, left + cols:] = colour
    padded[top : top + rows, left : left + cols] = inside
    patch = cv2.resize(padded, (output_size, output_size))
    return patch, output_size / crop_sz


_CANVAS = threading.local()


def _canvas(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised array of ``shape`` on a buffer this thread reuses (it only grows, to the
    largest crop seen). A fresh multi-megabyte padded crop per frame (OpenCV's copyMakeBorder) took
    5.6 ms of a 720p ViT-B tracking step; on the reused buffer the step is about 3 ms shorter.
    ``cv2.resize`` writes a new array, so no patch handed out aliases the buffer."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffer = getattr(_CANVAS, "buffer", None)
    if buffer is None or buffer.size < size:
        buffer = _CANVAS.buffer = np.empty(size, np.uint8)
    return buffer[:size].view(dtype).reshape(shape)


def hann1d(n: int) -> torch.Tensor:
    """0.5 (1 - cos(2 pi k / (n + 1))) for k = 1..n (OSTrack's 'centered' window)."""
    k = torch.arange(1, n + 1).float()
    return 0.5 * (1 - torch.cos((2 * math.pi / (n + 1)) * k))


def hann2d(n: int) -> torch.Tensor:
    """Outer product of two Hann windows, shaped (1, 1, n, n) to multiply a score map."""
    return hann1d(n).reshape(1, 1, -1, 1) * hann1d(n).reshape(1, 1, 1, -1)


def clip_box(box: Sequence[float], height: int, width: int, margin: float = 10) -> list[float]:
    """Clip (x, y, w, h) into the image keeping at least ``margin`` pixels of size, as the reference."""
    x1, y1, w, h = box
    x2, y2 = x1 + w, y1 + h
    x1 = min(max(0, x1), width - margin)
    x2 = min(max(margin, x2), width)
    y1 = min(max(0, y1), height - margin)
    y2 = min(max(margin, y2), height)
    return [x1, y1, max(margin, x2 - x1), max(margin, y2 - y1)]


def map_box_back(state: Sequence[float], pred: Sequence[float], search_size: int, resize_factor: float) -> list[float]:
    """A box (cx, cy, w, h) in search-crop pixels scaled to the image -> image (x, y, w, h).

    The crop was centred on the previous ``state`` (x, y, w, h), so its top-left corner lies half a
    crop side (``search_size / resize_factor`` image pixels) up and left of that centre.
    """
    half = 0.5 * search_size / resize_factor
    cx = pred[0] + (state[0] + 0.5 * state[2] - half)
    cy = pred[1] + (state[1] + 0.5 * state[3] - half)
    return [cx - 0.5 * pred[2], cy - 0.5 * pred[3], pred[2], pred[3]]


def round_half_away(value: float) -> float:
    """Round to the nearest integer, exact halves away from zero (Python 2's ``round``).

    LightTrack sizes its search crop this way; everything else in its loop rounds half to even.
    """
    floor = math.floor(value)
    if value - floor == 0.5:
        return float(floor + 1) if value > 0 else float(floor)
    return float(round(value))


def siamese_crop(
    image: np.ndarray, center: Sequence[float], model_size: int, original_size: float, fill: np.ndarray
) -> np.ndarray:
    """The ``original_size`` square around ``center`` (cx, cy), padded with ``fill``, resized to ``model_size``.

    SiamFC-style cropping as LightTrack does it: the left/top corner is ``round(c - (size + 1) / 2)``
    (Python's round, half to even); padding takes the per-channel ``fill`` written into uint8
    (truncated); the crop is resized on uint8 with OpenCV's bilinear filter, and not resized at all
    when it already has ``model_size``.
    """
    size = original_size
    half = (size + 1) / 2
    height, width = image.shape[:2]
    x_min, y_min = round(float(center[0]) - half), round(float(center[1]) - half)
    x_max, y_max = x_min + size - 1, y_min + size - 1
    left, top = int(max(0.0, -x_min)), int(max(0.0, -y_min))
    right, bottom = int(max(0.0, x_max - width + 1)), int(max(0.0, y_max - height + 1))
    x_min, x_max, y_min, y_max = x_min + left, x_max + left, y_min + top, y_max + top
    if top or bottom or left or right:
        canvas = np.empty((height + top + bottom, width + left + right, image.shape[2]), np.uint8)
        canvas[:] = np.asarray(fill, dtype=np.float64).astype(np.uint8)
        canvas[top:top + height, left:left + width] = image
    else:
        canvas = image
    patch = canvas[int(y_min):int(y_max + 1), int(x_min):int(x_max + 1)]
    if model_size != size:
        patch = cv2.resize(patch, (model_size, model_size))
    return patch
