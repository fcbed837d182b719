"""Training-pair augmentation: box jitter, crops to training patches, grayscale, brightness, flip.

The crop is the tracking loop's ``sample_target``; only the box arithmetic around it lives here.
All randomness comes from the ``numpy.random.Generator`` the caller passes in.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np
import torch

from compresstracker.errors import TrackingError
from compresstracker.tracking.crop import crop_window, sample_target
from compresstracker.tracking.base import MEAN, STD

_MEAN = np.array(MEAN, dtype=np.float32)
_STD = np.array(STD, dtype=np.float32)


def jitter_box(box: np.ndarray, rng: np.random.Generator, scale_jitter: float, center_jitter: float) -> np.ndarray:
    """OSTrack's jittered box (x, y, w, h): size * exp(N(0, 1) * scale_jitter) per side, then the
    centre moved by sqrt(w' h') * center_jitter * (U(0, 1) - 0.5) per axis.

    As in the reference, the centre offset scales with the JITTERED size (w', h').
    """
    size = box[2:] * np.exp(rng.standard_normal(2) * scale_jitter)
    max_offset = np.sqrt(size[0] * size[1]) * center_jitter
    center = box[:2] + 0.5 * box[2:] + max_offset * (rng.random(2) - 0.5)
    return np.concatenate([center - 0.5 * size, size])


def box_in_crop(box: np.ndarray, crop_box: np.ndarray, crop_sz: int) -> np.ndarray:
    """``box`` (x, y, w, h, image pixels) in the crop around ``crop_box``, normalised to [0, 1].

    The crop's origin is taken at centre(crop_box) - crop_sz / 2 and its scale is 1 / crop_sz:
    exactly the frame the tracking loop maps predictions back with (cx_img = cx + cx_prev -
    crop_sz / 2), so a perfect prediction of this label maps back onto the ground truth. The
    pixels themselves start at round(centre - crop_sz / 2) (``crop_window``), up to half an image
    pixel away; the reference ignores that as well. (OSTrack's transform_image_to_crop puts the
    centre at (out - 1) / 2 output pixels instead of out / 2, a half-pixel bias not reproduced.)
    """
    crop_center = crop_box[:2] + 0.5 * crop_box[2:]
    xy = (box[:2] - crop_center) / crop_sz + 0.5
    return np.concatenate([xy, box[2:] / crop_sz])


def crop_has_content(x1: int, y1: int, crop_sz: int, width: int, height: int) -> bool:
    """Whether the crop at (x1, y1, crop_sz) keeps any image pixel after ``sample_target``'s padding.

    ``sample_target`` keeps columns [max(x1, 0), min(x1 + crop_sz, W - 1)) (its right padding is
    x2 - W + 1), likewise rows.
    """
    return max(x1, 0) < min(x1 + crop_sz, width - 1) and max(y1, 0) < min(y1 + crop_sz, height - 1)


def training_patch(
    image: np.ndarray, box: np.ndarray, crop_box: np.ndarray, factor: float, output_size: int,
    context_amount: float = 0.0, pad_mean: bool = False,
) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """Crop ``image`` around ``crop_box`` with context ``factor`` to ``output_size`` pixels.

    ``context_amount`` and ``pad_mean`` as in ``sample_target``. Returns (patch uint8, ``box``
    normalised in the patch), or None when the crop would be entirely padding (or has no size):
    the sampler rejects such a pair and draws another.
    """
    try:
        x1, y1, crop_sz = crop_window(crop_box, factor, context_amount)
    except TrackingError:
        return None
    height, width = image.shape[:2]
    if not crop_has_content(x1, y1, crop_sz, width, height):
        return None
    patch, _ = sample_target(image, crop_box, factor, output_size, context_amount, pad_mean)
    return patch, box_in_crop(box, crop_box, crop_sz)


def to_grayscale(patch: np.ndarray) -> np.ndarray:
    """RGB uint8 -> its luminance repeated in 3 channels (OSTrack's ToGrayscale)."""
    return cv2.cvtColor(cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def flip_horizontal(patch: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror a patch left-right and its normalised box (x -> 1 - x - w)."""
    return cv2.flip(patch, 1), np.array([1.0 - box[0] - box[2], box[1], box[2], box[3]])


def to_normalized_tensor(patch: np.ndarray, brightness: float = 1.0) -> torch.Tensor:
    """uint8 HxWx3 RGB -> (3, H, W) float32: clamp(pixel / 255 * brightness, 0, 1), then (v - mean) / std.

    The brightness factor and the clamp are OSTrack's ToTensorAndJitter; mean/std the tracker's
    (with brightness 1 the result equals the tracker's ``Normalizer`` bit for bit). A uint8 pixel
    has 256 values, so each channel is a lookup in a 256-entry table computed with those float32
    operations: single-threaded numpy, several times faster than the arithmetic on every pixel.
    """
    levels = np.arange(256, dtype=np.float32) / np.float32(255.0)
    levels *= np.float32(brightness)
    np.clip(levels, 0.0, 1.0, out=levels)
    table = (levels[None, :] - _MEAN[:, None]) / _STD[:, None]
    planes = np.ascontiguousarray(patch.transpose(2, 0, 1))
    out = np.empty(planes.shape, dtype=np.float32)
    for channel in range(3):
        np.take(table[channel], planes[channel], out=out[channel])
    return torch.from_numpy(out)
