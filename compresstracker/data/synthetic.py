"""Synthetic tracking sequences written in the on-disk layout of a real benchmark.

Each sequence shows one textured target moving over a textured, panning background, with what
makes tracking hard: smooth random motion with sudden dashes, scale and aspect change, an
occluder that passes in front, stretches where the target leaves the image, distractors with a
similar texture, motion blur, illumination change and camera noise. Ground truth and labels
(occlusion, out of view, GOT-10k cover/absence/cut) are computed from the same integer boxes
the renderer draws, so they are exact.

Two difficulties: ``hard`` (everything above; for ablations and stress tests) and ``fair``
(a plain tracking task, the demo's test split: a larger target (6-12 % of the image instead of
1.2-6 %) drifts steadily across a calm background (the same colour field, no clutter shapes),
bouncing off the image sides, while it sways, changes scale and shape and the light changes;
sharp frames (no motion blur), no distractors, occluders, dashes or out-of-view stretches). The steady drift
(FAIR_SPEED pixels a frame at 320 px width) moves the target off its first box within a few
frames, so a tracker that repeats the first box fails even on short clips, while a working
tracker rarely loses the target: its score then measures how well it tracks, not which
sequences happen to make it lose the target, and many short clips give a stable average.

Everything is drawn from ``numpy.random.default_rng([seed, index])``: a sequence depends only
on the seed and its index, and the same arguments give byte-identical files. Each sequence is
written into a temporary folder and renamed into place, so an interrupted run can be rerun
with the same arguments and finishes the rest. The output root also gets ``synthetic.json``
(settings and splits; read by the ``synthetic`` dataset) and ``split_<name>.txt`` files, which
any reader accepts as a split (``get_dataset("lasot", out, split=f"{out}/split_test.txt")``).
"""
from __future__ import annotations

import functools
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from compresstracker.data.readers import SYNTHETIC_MANIFEST
from compresstracker.errors import DatasetError
from compresstracker.fileio import atomic_write_json, atomic_write_text

FORMAT_VERSION = 1
DIFFICULTIES = ("hard", "fair")
TARGET_AREA = {"hard": (0.012, 0.06), "fair": (0.06, 0.12)}  # share of the image, drawn per sequence
FAIR_SPEED = (12.0, 20.0)  # pixels a frame at 320 px width: the fair split's steady drift
PARTIAL_DIR = ".ctrack-partial"  # temporary sequence folders live here until renamed into place
JPEG_QUALITY = 90
SPRITE_SIZE = 64  # textures are drawn once at this size and resized to the box every frame
SHAPES = ("ellipse", "box", "diamond", "triangle", "capsule", "cross")
PATTERNS = ("striped", "checked", "spotted", "ringed", "mottled")
COLOURS = {  # name -> RGB
    "red": (215, 45, 40), "orange": (240, 140, 30), "yellow": (235, 215, 50), "green": (50, 170, 60),
    "cyan": (40, 190, 210), "blue": (40, 70, 200), "purple": (130, 50, 170), "pink": (235, 120, 175),
    "white": (235, 235, 235), "black": (25, 25, 25), "brown": (120, 75, 40), "grey": (128, 128, 128),
}
# Label thresholds on the fraction of the box area that is visible / inside the image.
OUT_OF_VIEW_BELOW = 0.05  # inside-image fraction under this: out of view
FULL_OCCLUSION_FROM = 0.95  # occluded share of the in-image part from this: fully occluded
ABSENT_BELOW = 0.05  # visible fraction under this: absent (GOT-10k), cover 0


# ---------------------------------------------------------------- smooth random signals
def _wave(rng: np.random.Generator, t: np.ndarray, amplitude: float, periods: tuple[float, float], k: int = 3) -> np.ndarray:
    """A sum of ``k`` sinusoids with random periods and phases whose amplitudes sum to ``amplitude``."""
    amps = rng.dirichlet(np.ones(k)) * amplitude
    period = rng.uniform(*periods, size=k)
    phase = rng.uniform(0, 2 * np.pi, size=k)
    return (amps[:, None] * np.sin(2 * np.pi * t[None] / period[:, None] + phase[:, None])).sum(axis=0)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _reflect(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Fold ``x`` into [low, high] as a ball bouncing between two walls would move."""
    span = high - low
    folded = np.mod(x - low, 2 * span)
    return low + np.where(folded > span, 2 * span - folded, folded)


def _bump(t: np.ndarray, start: float, length: float, ramp: float) -> np.ndarray:
    """0 outside [start, start+length]; rises over ``ramp`` of the window, holds 1, falls back."""
    u = (t - start) / length
    return np.minimum(_smoothstep(u / ramp), _smoothstep((1 - u) / ramp))


# ---------------------------------------------------------------- textures
def _pattern(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    """A [0, 1] field of the named pattern kind."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == "striped":
        theta, period = rng.uniform(0, np.pi), rng.uniform(6, 16)
        field = 0.5 + 1.5 * np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period)
    elif kind == "checked":
        period = int(rng.integers(7, 17))
        field = ((xx // period + yy // period) % 2).astype(np.float32)
    elif kind == "spotted":
        field = np.zeros((size, size), np.float32)
        for _ in range(int(rng.integers(5, 12))):
            centre = tuple(int(v) for v in rng.integers(0, size, 2))
            cv2.circle(field, centre, int(rng.integers(3, 9)), 1.0, -1, cv2.LINE_AA)
    elif kind == "ringed":
        cy, cx = rng.uniform(0, size, 2)
        field = 0.5 + 1.5 * np.sin(2 * np.pi * np.hypot(xx - cx, yy - cy) / rng.uniform(7, 15))
    else:  # mottled
        coarse = rng.random((5, 5)).astype(np.float32)
        field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
        field = (field - field.min()) / max(float(np.ptp(field)), 1e-6)
    return np.clip(field, 0.0, 1.0)


def _shape_mask(shape: str, size: int) -> np.ndarray:
    """An anti-aliased [0, 1] mask that touches all four sides of the square (so the box is tight)."""
    scale = 4
    big = size * scale
    canvas = np.zeros((big, big), np.uint8)
    last = big - 1
    half = big // 2
    if shape == "ellipse":
        cv2.ellipse(canvas, (half, half), (half, half), 0, 0, 360, 255, -1)
    elif shape == "box":
        canvas[:] = 255
    elif shape == "diamond":
        cv2.fillPoly(canvas, [np.array([[half, 0], [last, half], [half, last], [0, half]], np.int32)], 255)
    elif shape == "triangle":
        cv2.fillPoly(canvas, [np.array([[half, 0], [last, last], [0, last]], np.int32)], 255)
    elif shape == "capsule":
        radius = big // 4
        cv2.rectangle(canvas, (radius, 0), (last - radius, last), 255, -1)
        cv2.rectangle(canvas, (0, radius), (last, last - radius), 255, -1)
        for cx in (radius, last - radius):
            for cy in (radius, last - radius):
                cv2.circle(canvas, (cx, cy), radius, 255, -1)
    else:  # cross
        third = big // 3
        canvas[third : big - third, :] = 255
        canvas[:, third : big - third] = 255
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _bgr(rgb: tuple[int, int, int], rng: np.random.Generator, jitter: float) -> np.ndarray:
    return np.clip(np.array(rgb[::-1], np.float32) + rng.uniform(-jitter, jitter, 3), 0, 255)


@dataclass(frozen=True)
class _Look:
    """What a textured object looks like: pattern kind and its two colours."""

    shape: str
    pattern: str
    colours: tuple[str, str]

    def sprite(self, rng: np.random.Generator, jitter: float = 12.0) -> np.ndarray:
        """Premultiplied BGRA float32 texture, SPRITE_SIZE square; fresh pattern parameters each call."""
        size = SPRITE_SIZE
        mix = _pattern(rng, self.pattern, size)[..., None]
        first, second = (_bgr(COLOURS[c], rng, jitter) for c in self.colours)
        rgb = first * (1 - mix) + second * mix
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
        angle = rng.uniform(0, 2 * np.pi)
        shade = 0.75 + 0.45 * (xx * np.cos(angle) + yy * np.sin(angle) + 0.5) / 2
        rgb = rgb * shade[..., None] + rng.normal(0, 5, (size, size, 3)).astype(np.float32)
        alpha = _shape_mask(self.shape, size)[..., None]
        return np.concatenate([np.clip(rgb, 0, 255) * alpha, alpha], axis=2).astype(np.float32)


def _background(rng: np.random.Generator, height: int, width: int, calm: bool = False) -> np.ndarray:
    """A cluttered BGR uint8 texture: smooth colour field, mid-scale blotches, random shapes.

    ``calm``: softer blotches and no shapes (the fair split's backdrop).
    """
    colour = rng.uniform(30, 220, (4, 5, 3)).astype(np.float32)
    colour = 0.5 * colour + 0.5 * colour.mean(axis=2, keepdims=True)  # muted, like real scenes
    base = cv2.resize(colour, (width, height), interpolation=cv2.INTER_CUBIC)
    blotch = rng.normal(0, 8 if calm else 25, (height // 10 + 2, width // 10 + 2)).astype(np.float32)
    image = base + cv2.resize(blotch, (width, height), interpolation=cv2.INTER_LINEAR)[..., None]
    scale = max(2, min(height, width) // 12)
    for _ in range(0 if calm else max(6, width * height // 4500)):
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        x, y = (int(v) for v in rng.integers(0, (width, height)))
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.rectangle(image, (x, y), (x + int(rng.integers(2, 3 * scale)), y + int(rng.integers(2, 3 * scale))), colour, -1)
        elif kind == 1:
            cv2.circle(image, (x, y), int(rng.integers(1, 2 * scale)), colour, -1, cv2.LINE_AA)
        else:
            end = (x + int(rng.integers(-4 * scale, 4 * scale)), y + int(rng.integers(-4 * scale, 4 * scale)))
            cv2.line(image, (x, y), end, colour, int(rng.integers(1, 4)), cv2.LINE_AA)
    image += rng.normal(0, 4, (height, width, 1)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- one sequence
def _random_look(rng: np.random.Generator, shape: str) -> _Look:
    names = list(COLOURS)
    first, second = rng.choice(len(names), size=2, replace=False)
    return _Look(shape, PATTERNS[int(rng.integers(len(PATTERNS)))], (names[first], names[second]))


def _rect_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection area of (T, 4) x0 y0 x1 y1 rectangles."""
    w = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    h = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def _corners(boxes: np.ndarray) -> np.ndarray:
    return np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]], axis=1)


def _blur_kernels(centres: np.ndarray) -> np.ndarray:
    """Per-frame (kx, ky) box-blur sizes along the dominant motion axis; 1 = no blur."""
    velocity = np.diff(centres, axis=0, prepend=centres[:1])
    speed = np.hypot(velocity[:, 0], velocity[:, 1])
    length = np.where(speed > 3, np.minimum(15, (speed * 0.6).astype(int)), 1).clip(1)
    horizontal = np.abs(velocity[:, 0]) >= np.abs(velocity[:, 1])
    return np.stack([np.where(horizontal, length, 1), np.where(horizontal, 1, length)], axis=1)


class _Scene:
    """Geometry, labels and renderer of one sequence; everything drawn up front from ``rng``."""

    def __init__(self, rng: np.random.Generator, frames: int, width: int, height: int, shape: str, fair: bool = False):
        self.width, self.height = width, height
        self.fair = fair
        t = np.arange(frames, dtype=np.float64)
        self.look = _random_look(rng, shape)
        self.sprite = self.look.sprite(rng)
        centre, size = self._target_path(rng, t)
        self.boxes = self._to_boxes(centre, size)
        self.blur = np.ones((len(t), 2), np.int64) if fair else _blur_kernels(centre)  # fair frames are sharp
        count = int(rng.choice([0, 1, 1, 2, 2, 3]))
        self.distractors = [] if fair else [self._distractor(rng, t, size[0]) for _ in range(count)]
        self.occluder, self.occluder_texture = self._occluder(rng, t, centre, size)
        self._camera(rng, t)
        self._photometry(rng, t)

    # geometry -------------------------------------------------------------------------
    def _target_path(self, rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        W, H, T = self.width, self.height, len(t)
        area = rng.uniform(*TARGET_AREA["fair" if self.fair else "hard"]) * W * H
        aspect0 = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
        scale = np.exp(_wave(rng, t, rng.uniform(0.1, 0.45), (60, 300)))
        aspect = np.exp(_wave(rng, t, rng.uniform(0.05, 0.3), (50, 250)))
        min_side = max(4.0, min(W, H) / 20)
        w = np.clip(math.sqrt(area * aspect0) * scale * np.sqrt(aspect), min_side, 0.6 * W)
        h = np.clip(math.sqrt(area / aspect0) * scale / np.sqrt(aspect), min_side, 0.6 * H)
        cx = W * rng.uniform(0.3, 0.7) + _wave(rng, t, rng.uniform(0.1, 0.3) * W, (40, 250))
        cy = H * rng.uniform(0.3, 0.7) + _wave(rng, t, rng.uniform(0.1, 0.3) * H, (40, 250))
        if self.fair:
            cx, cy = self._drift(rng, t, cx, cy, w, h)
        for _ in range(0 if self.fair else int(rng.poisson(T / 120))):  # dashes: fast moves away and back (motion blur)
            length = rng.uniform(10, 30)
            start = rng.uniform(1, max(1.0, T - length / 2))
            angle = rng.uniform(0, 2 * np.pi)
            reach = rng.uniform(0.1, 0.25) * W * _bump(t, start, length, 0.2)
            cx, cy = cx + reach * np.cos(angle), cy + reach * np.sin(angle)
        # The first frame holds the whole target: trackers start from it.
        cx += np.clip(cx[0], w[0] / 2 + 1, W - w[0] / 2 - 1) - cx[0]
        cy += np.clip(cy[0], h[0] / 2 + 1, H - h[0] / 2 - 1) - cy[0]
        if not self.fair and T >= 12 and rng.random() < 0.5:
            cx, cy = self._leave_view(rng, t, cx, cy, w, h)
        return np.stack([cx, cy], axis=1), np.stack([w, h], axis=1)

    def _drift(self, rng, t, cx, cy, w, h) -> tuple[np.ndarray, np.ndarray]:
        """Add a steady drift in a random direction, reflected at the image sides so the whole target stays in view."""
        speed = rng.uniform(*FAIR_SPEED) * self.width / 320
        angle = rng.uniform(0, 2 * np.pi)
        cx = _reflect(cx + speed * np.cos(angle) * t, w / 2 + 1, self.width - w / 2 - 1)
        cy = _reflect(cy + speed * np.sin(angle) * t, h / 2 + 1, self.height - h / 2 - 1)
        return cx, cy

    def _leave_view(self, rng, t, cx, cy, w, h) -> tuple[np.ndarray, np.ndarray]:
        """Send the target out through its nearest image side and back over a window of frames."""
        T = len(t)
        length = max(6, int(T * rng.uniform(0.15, 0.35)))
        start = int(rng.integers(max(1, T // 10), max(2, T - length // 2)))
        mid = min(T - 1, start + length // 2)
        needs = {  # distance along each direction that puts the whole box past that side, per frame
            (-1, 0): cx + w / 2, (1, 0): self.width - cx + w / 2,
            (0, -1): cy + h / 2, (0, 1): self.height - cy + h / 2,
        }
        direction = min(needs, key=lambda d: needs[d][mid])
        plateau = (t >= start + 0.35 * length) & (t <= start + 0.65 * length)
        reach = float(needs[direction][plateau].max() if plateau.any() else needs[direction][mid]) + 2
        push = reach * _bump(t, start, length, 0.35)
        return cx + direction[0] * push, cy + direction[1] * push

    @staticmethod
    def _to_boxes(centre: np.ndarray, size: np.ndarray) -> np.ndarray:
        wh = np.maximum(np.round(size), 1)
        xy = np.round(centre - wh / 2)
        return np.concatenate([xy, wh], axis=1).astype(np.int64)

    def _distractor(self, rng: np.random.Generator, t: np.ndarray, target_size: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """An object with the target's pattern kind and colours (fresh parameters); drawn behind it."""
        W, H = self.width, self.height
        look = _Look(self.look.shape if rng.random() < 0.5 else SHAPES[int(rng.integers(len(SHAPES)))], self.look.pattern, self.look.colours)
        size = (target_size * rng.uniform(0.7, 1.3, 2))[None] * np.exp(_wave(rng, t, 0.2, (60, 300)))[:, None]
        cx = W * rng.uniform(0.1, 0.9) + _wave(rng, t, rng.uniform(0.1, 0.35) * W, (40, 250))
        cy = H * rng.uniform(0.1, 0.9) + _wave(rng, t, rng.uniform(0.1, 0.35) * H, (40, 250))
        centre = np.stack([cx, cy], axis=1)
        return look.sprite(rng, jitter=25.0), self._to_boxes(centre, size), _blur_kernels(centre)

    def _occluder(self, rng, t, centre, size) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """A textured block or pole that crosses the target; (T, 4) boxes (zero size when none)."""
        T = len(t)
        none = np.zeros((T, 4), np.int64)
        if T < 8 or self.fair or rng.random() >= 0.55:
            return none, None
        cross = int(rng.integers(max(2, T // 5), T))
        if rng.random() < 0.6:  # block, large enough to hide the target
            ow, oh = size[cross] * rng.uniform(1.3, 2.2, 2)
        else:  # pole: partial occlusion
            ow, oh = size[cross, 0] * rng.uniform(0.3, 0.7), self.height * rng.uniform(0.6, 1.2)
        speed = rng.uniform(0.5, 3.0) * self.width / 320
        angle = rng.uniform(-0.4, 0.4) + (np.pi if rng.random() < 0.5 else 0.0)
        path = centre[cross] + rng.normal(0, 0.1, 2) * size[cross] + speed * (t - cross)[:, None] * [np.cos(angle), np.sin(angle)]
        boxes = self._to_boxes(path, np.tile([ow, oh], (T, 1)))
        if _rect_overlap(_corners(boxes[:1]), _corners(self.boxes[:1]))[0] > 0:
            return none, None  # the first frame must show the target unoccluded
        texture = _background(rng, int(boxes[0, 3]), int(boxes[0, 2]))
        return boxes, texture

    def _camera(self, rng, t) -> None:
        """Background texture larger than the image; a smooth pan with optional shake selects the view."""
        W, H = self.width, self.height
        pad_x, pad_y = max(2, W // 8), max(2, H // 8)
        self.background = _background(rng, H + 2 * pad_y, W + 2 * pad_x, calm=self.fair)
        pan = np.stack([pad_x + _wave(rng, t, 0.9 * pad_x, (60, 300)), pad_y + _wave(rng, t, 0.9 * pad_y, (60, 300))], axis=1)
        if rng.random() < 0.3:
            pan += rng.integers(-1, 2, pan.shape)
        self.pan = np.clip(np.round(pan), 0, [2 * pad_x, 2 * pad_y]).astype(np.int64)
        self.camera_blur = _blur_kernels(self.pan.astype(np.float64))

    def _photometry(self, rng, t) -> None:
        """Per-frame brightness look-up tables and a bank of camera noise."""
        gain = np.exp(_wave(rng, t, rng.uniform(0.05, 0.3), (30, 200)))
        if rng.random() < 0.3:  # a sudden lighting change
            gain *= 1 + rng.choice([-0.35, 0.35]) * _bump(t, rng.uniform(0, len(t)), rng.uniform(5, 30), 0.15)
        bias = _wave(rng, t, rng.uniform(0, 12), (30, 200))
        levels = np.arange(256, dtype=np.float64)
        self.luts = np.clip(levels[None] * gain[:, None] + bias[:, None], 0, 255).astype(np.uint8)
        noise = rng.normal(0, rng.uniform(1.5, 6.0), (self.height + 8, self.width + 8, 3))
        self.noise_up = np.clip(noise, 0, 255).astype(np.uint8)
        self.noise_down = np.clip(-noise, 0, 255).astype(np.uint8)
        self.noise_shift = rng.integers(0, 8, (len(t), 2))

    # labels ---------------------------------------------------------------------------
    def labels(self) -> dict[str, np.ndarray]:
        """Per-frame visibility labels computed from the drawn boxes."""
        target = _corners(self.boxes)
        image = np.tile([0, 0, self.width, self.height], (len(target), 1))
        inside_rect = np.concatenate([np.maximum(target[:, :2], 0), np.minimum(target[:, 2:], image[:, 2:])], axis=1)
        inside = _rect_overlap(target, image).astype(np.float64)
        occluded = _rect_overlap(inside_rect, _corners(self.occluder)) * (inside > 0)
        area = (self.boxes[:, 2] * self.boxes[:, 3]).astype(np.float64)
        visible = (inside - occluded) / area
        absent = visible < ABSENT_BELOW
        cover = np.where(visible >= 1.0, 8, np.clip(np.ceil(visible / 0.15), 1, 7)).astype(np.int64)
        return {
            "out_of_view": inside / area < OUT_OF_VIEW_BELOW,
            "full_occlusion": (inside > 0) & (occluded >= FULL_OCCLUSION_FROM * inside),
            "absent": absent,
            "cover": np.where(absent, 0, cover),
            "cut_by_image": inside < area,
            "visible_fraction": visible,
        }

    # rendering ------------------------------------------------------------------------
    def render(self, i: int) -> np.ndarray:
        """Frame ``i`` as BGR uint8."""
        W, H = self.width, self.height
        x, y = self.pan[i]
        frame = self.background[y : y + H, x : x + W].copy()
        for sprite, boxes, blur in self.distractors:
            _composite(frame, sprite, boxes[i], blur[i])
        _composite(frame, self.sprite, self.boxes[i], self.blur[i])
        if self.occluder_texture is not None:
            _paste(frame, self.occluder_texture, self.occluder[i])
        frame = cv2.LUT(frame, self.luts[i])
        kx, ky = self.camera_blur[i]
        if kx > 1 or ky > 1:
            frame = cv2.blur(frame, (int(kx), int(ky)))
        nx, ny = self.noise_shift[i]
        cv2.add(frame, self.noise_up[ny : ny + H, nx : nx + W], dst=frame)
        cv2.subtract(frame, self.noise_down[ny : ny + H, nx : nx + W], dst=frame)
        return frame


def _clip_region(frame: np.ndarray, x: int, y: int, w: int, h: int) -> Optional[tuple[slice, slice, slice, slice]]:
    """(frame rows, frame cols, patch rows, patch cols) of a w x h patch placed at (x, y), clipped."""
    H, W = frame.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x0 >= x1 or y0 >= y1:
        return None
    return slice(y0, y1), slice(x0, x1), slice(y0 - y, y1 - y), slice(x0 - x, x1 - x)


def _composite(frame: np.ndarray, sprite: np.ndarray, box: np.ndarray, blur: np.ndarray) -> None:
    """Alpha-blend a premultiplied BGRA sprite, resized to the box and motion-blurred, into ``frame``."""
    x, y, w, h = (int(v) for v in box)
    patch = cv2.resize(sprite, (w, h), interpolation=cv2.INTER_LINEAR)
    kx, ky = int(blur[0]), int(blur[1])
    if kx > 1 or ky > 1:
        px, py = kx // 2, ky // 2
        patch = cv2.blur(cv2.copyMakeBorder(patch, py, py, px, px, cv2.BORDER_CONSTANT, value=0), (kx, ky))
        x, y = x - px, y - py
    region = _clip_region(frame, x, y, patch.shape[1], patch.shape[0])
    if region is None:
        return
    rows, cols, prows, pcols = region
    part = patch[prows, pcols]
    roi = frame[rows, cols]
    roi[...] = np.clip(roi * (1 - part[..., 3:4]) + part[..., :3], 0, 255)


def _paste(frame: np.ndarray, texture: np.ndarray, box: np.ndarray) -> None:
    region = _clip_region(frame, int(box[0]), int(box[1]), texture.shape[1], texture.shape[0])
    if region is not None:
        rows, cols, prows, pcols = region
        frame[rows, cols] = texture[prows, pcols]


# ---------------------------------------------------------------- layouts
@dataclass(frozen=True)
class _Planned:
    """One sequence to write: its index, split, name, final folder and files written beside it."""

    index: int
    split: str
    name: str
    folder: str  # relative to the output root; renamed into place from a temporary folder
    sidecars: tuple[str, ...] = ()  # files outside the folder (TrackingNet anno), written first


def _fmt_boxes(boxes: np.ndarray, fmt: str) -> str:
    return "".join(f"{fmt % tuple(row)}\n" for row in boxes)


def _fmt_column(values: np.ndarray) -> str:
    return "".join(f"{int(v)}\n" for v in values)


class _Layout:
    """How one benchmark lays out files; subclasses say where things go and what label files hold."""

    name: str
    splits: tuple[str, ...] = ("train", "test")

    def split_sizes(self, n: int) -> dict[str, int]:
        """Sequences per split: about a quarter for test, at least one for the test split."""
        test = max(1, n // 4) if n > 1 else 1
        return {"train": n - test, "test": test}

    def plan(self, n: int) -> list[_Planned]:
        planned, index = [], 0
        for split, count in self.split_sizes(n).items():
            for k in range(count):
                planned.append(self.place(index, split, k))
                index += 1
        return planned

    def place(self, index: int, split: str, k: int) -> _Planned:
        raise NotImplementedError

    def frame_name(self, i: int) -> str:
        raise NotImplementedError

    def write_labels(self, folder: Path, item: _Planned, scene: _Scene, out: Path) -> None:
        raise NotImplementedError

    def finish(self, out: Path, planned: list[_Planned]) -> None:
        """Write index files that list the sequences (after all of them are in place)."""


def _shape_name(index: int) -> tuple[str, str]:
    """(class, sequence name) for LaSOT-like naming: ellipse-1, box-1, ..., ellipse-2, ..."""
    shape = SHAPES[index % len(SHAPES)]
    return shape, f"{shape}-{index // len(SHAPES) + 1}"


class _LasotLayout(_Layout):
    """``<class>/<class>-<n>/img/%08d.jpg`` + groundtruth.txt, full_occlusion.txt, out_of_view.txt, nlp.txt.

    With ``nested=False`` the same files sit in ``<name>/`` directly: the generic folder layout.
    """

    def __init__(self, name: str, nested: bool):
        self.name = name
        self.nested = nested

    def place(self, index: int, split: str, k: int) -> _Planned:
        shape, name = _shape_name(index)
        return _Planned(index, split, name, f"{shape}/{name}" if self.nested else name)

    def frame_name(self, i: int) -> str:
        return f"img/{i + 1:08d}.jpg"

    def write_labels(self, folder: Path, item: _Planned, scene: _Scene, out: Path) -> None:
        labels = scene.labels()
        (folder / "groundtruth.txt").write_text(_fmt_boxes(scene.boxes, "%d,%d,%d,%d"))
        for key in ("full_occlusion", "out_of_view"):
            (folder / f"{key}.txt").write_text(",".join(str(int(v)) for v in labels[key]) + "\n")
        look = scene.look
        (folder / "nlp.txt").write_text(f"the {look.colours[0]} and {look.colours[1]} {look.pattern} {look.shape}\n")


class _Got10kLayout(_Layout):
    """``{train,val,test}/GOT-10k_<Split>_%06d/%08d.jpg`` + labels; test holds the first box only."""

    name = "got10k"
    splits = ("train", "val", "test")

    def split_sizes(self, n: int) -> dict[str, int]:
        if n < 3:
            return {"train": n - 1, "val": 1, "test": 0}
        held_out = max(1, n // 5)
        return {"train": n - 2 * held_out, "val": held_out, "test": held_out}

    def place(self, index: int, split: str, k: int) -> _Planned:
        name = f"GOT-10k_{split.capitalize()}_{k + 1:06d}"
        return _Planned(index, split, name, f"{split}/{name}")

    def frame_name(self, i: int) -> str:
        return f"{i + 1:08d}.jpg"

    def write_labels(self, folder: Path, item: _Planned, scene: _Scene, out: Path) -> None:
        boxes = scene.boxes[:1] if item.split == "test" else scene.boxes
        (folder / "groundtruth.txt").write_text(_fmt_boxes(boxes.astype(np.float64), "%.4f,%.4f,%.4f,%.4f"))
        if item.split == "test":
            return
        labels = scene.labels()
        for key, stem in (("absent", "absence"), ("cover", "cover"), ("cut_by_image", "cut_by_image")):
            (folder / f"{stem}.label").write_text(_fmt_column(labels[key]))
        look = scene.look
        (folder / "meta_info.ini").write_text(
            "[METAINFO]\nurl: synthetic\nbegin: 00:00:00\nend: 00:00:00\nanno_fps: 10Hz\n"
            f"object_class: {look.shape}\nmotion_class: moving\nmajor_class: shape\nroot_class: object\n"
            f"motion_adverb: smoothly\nresolution: ({scene.width}, {scene.height})\n"
        )

    def finish(self, out: Path, planned: list[_Planned]) -> None:
        for split in self.splits:
            names = [p.name for p in planned if p.split == split]
            if names:
                atomic_write_text(out / split / "list.txt", "".join(f"{n}\n" for n in names))


class _TrackingNetLayout(_Layout):
    """``TRAIN_0/`` and ``TEST/`` with anno/<vid>.txt and frames/<vid>/<i>.jpg; TEST has the first box only.

    TrackingNet has no visibility labels, so frames where the target cannot be seen get a 0,0,0,0 box.
    """

    name = "trackingnet"
    CHUNKS = {"train": "TRAIN_0", "test": "TEST"}

    def place(self, index: int, split: str, k: int) -> _Planned:
        name = f"synth{index:05d}_0"
        chunk = self.CHUNKS[split]
        return _Planned(index, split, name, f"{chunk}/frames/{name}", (f"{chunk}/anno/{name}.txt",))

    def frame_name(self, i: int) -> str:
        return f"{i}.jpg"

    def write_labels(self, folder: Path, item: _Planned, scene: _Scene, out: Path) -> None:
        boxes = np.where(scene.labels()["absent"][:, None], 0, scene.boxes).astype(np.float64)
        boxes = boxes[:1] if item.split == "test" else boxes
        atomic_write_text(out / item.sidecars[0], _fmt_boxes(boxes, "%.1f,%.1f,%.1f,%.1f"))


class _VotLayout(_Layout):
    """The VOT toolkit's sequence layout: ``list.txt``, ``<seq>/color/%08d.jpg``, ``groundtruth.txt``
    (x,y,w,h per frame) and the ``sequence`` metadata file; every sequence in one list (VOT has no splits)."""

    name = "vot"
    splits = ("test",)

    def split_sizes(self, n: int) -> dict[str, int]:
        return {"test": n}

    def place(self, index: int, split: str, k: int) -> _Planned:
        _, name = _shape_name(index)
        return _Planned(index, split, name, name)

    def frame_name(self, i: int) -> str:
        return f"color/{i + 1:08d}.jpg"

    def write_labels(self, folder: Path, item: _Planned, scene: _Scene, out: Path) -> None:
        (folder / "groundtruth.txt").write_text(_fmt_boxes(scene.boxes, "%d,%d,%d,%d"))
        (folder / "sequence").write_text(
            f"name={item.name}\nformat=default\nfps=30\nchannels.color=color/%08d.jpg\n"
            f"width={scene.width}\nheight={scene.height}\nlength={len(scene.boxes)}\n"
        )

    def finish(self, out: Path, planned: list[_Planned]) -> None:
        atomic_write_text(out / "list.txt", "".join(f"{p.name}\n" for p in planned))


LAYOUTS: dict[str, _Layout] = {
    layout.name: layout
    for layout in (
        _LasotLayout("lasot", nested=True), _Got10kLayout(), _TrackingNetLayout(), _LasotLayout("folder", nested=False), _VotLayout(),
    )
}


# ---------------------------------------------------------------- the generator
def _prepare_output(out: Path, settings: dict) -> None:
    """Refuse to mix with other data; accept a rerun of the same settings (it resumes)."""
    manifest = out / SYNTHETIC_MANIFEST
    if manifest.is_file():
        try:
            previous = {"difficulty": "hard", **json.loads(manifest.read_text(encoding="utf-8"))}  # before difficulties
            previous = {key: previous.get(key) for key in settings}
        except (ValueError, AttributeError, TypeError):
            previous = None
        if previous != settings:
            raise DatasetError(
                f"{out} already holds synthetic data made with other settings ({_describe(previous)}); "
                "use a new --out folder or delete this one"
            )
    elif out.is_dir() and any(entry.name != PARTIAL_DIR for entry in os.scandir(out)):
        raise DatasetError(f"{out} is not empty and holds no {SYNTHETIC_MANIFEST}; generate into a new or empty folder")
    shutil.rmtree(out / PARTIAL_DIR, ignore_errors=True)  # leftovers of an interrupted run
    out.mkdir(parents=True, exist_ok=True)


def _describe(settings: dict | None) -> str:
    if not settings:
        return "unreadable synthetic.json"
    width, height = settings.get("image_size") or ("?", "?")
    return (
        f"layout {settings.get('layout')}, {settings.get('sequences')} sequences of {settings.get('frames')} "
        f"frames, seed {settings.get('seed')}, {width}x{height}, {settings.get('difficulty')}"
    )


def _is_done(out: Path, item: _Planned) -> bool:
    return (out / item.folder).is_dir() and all((out / s).is_file() for s in item.sidecars)


def _render_sequence(out: Path, layout: _Layout, frames: int, seed: int, width: int, height: int, difficulty: str,
                     item: _Planned, progress=None) -> None:
    """Draw sequence ``item`` from ``[seed, index]`` and write it (in a worker process or here)."""
    rng = np.random.default_rng([seed, item.index])
    scene = _Scene(rng, frames, width, height, SHAPES[item.index % len(SHAPES)], fair=difficulty == "fair")
    _write_sequence(out, layout, item, scene, frames, progress)


def _write_sequence(out: Path, layout: _Layout, item: _Planned, scene: _Scene, frames: int, progress) -> None:
    temporary = out / PARTIAL_DIR / item.folder.replace("/", "__")
    shutil.rmtree(temporary, ignore_errors=True)
    (temporary / layout.frame_name(0)).parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    for i in range(frames):
        path = temporary / layout.frame_name(i)
        if not cv2.imwrite(str(path), scene.render(i), params):
            raise DatasetError(f"cannot write {path}")
        if progress is not None:
            progress(1)
    layout.write_labels(temporary, item, scene, out)
    final = out / item.folder
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():  # a sidecar was missing: the folder is rewritten identically
        shutil.rmtree(final)
    os.replace(temporary, final)


def generate(
    layout: str,
    out: str | os.PathLike,
    sequences: int,
    frames: int,
    seed: int,
    image_size: tuple[int, int] = (320, 240),
    progress: Optional[Callable[[int], None]] = None,
    difficulty: str = "hard",
    workers: int = 1,
) -> dict:
    """Write ``sequences`` synthetic sequences of ``frames`` frames in ``layout`` under ``out``.

    ``layout`` is one of lasot, got10k, trackingnet, folder, vot; ``image_size`` is (width, height).
    ``difficulty`` is hard (distractors, full occlusion, out-of-view) or fair (a steady drift over a calm
    background, none of those; see the module's docstring).
    ``progress`` is called with the number of frames finished (also for sequences already on
    disk from an interrupted run with the same settings, which are skipped). ``workers`` > 1
    renders sequences in that many processes; a sequence depends only on the seed and its index,
    so the files are the same. Returns a summary.
    """
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown synthetic layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if difficulty not in DIFFICULTIES:
        raise DatasetError(f"unknown difficulty {difficulty!r}; choose one of {', '.join(DIFFICULTIES)}")
    width, height = (int(v) for v in image_size)
    if width < 32 or height < 32:
        raise DatasetError(f"image size {width}x{height} is too small; use at least 32x32")
    if sequences < 1 or frames < 1 or seed < 0:
        raise DatasetError("sequences and frames must be at least 1 and the seed non-negative")
    out = Path(out)
    writer = LAYOUTS[layout]
    planned = writer.plan(sequences)
    splits = {split: [p.name for p in planned if p.split == split] for split in writer.splits}
    settings = {
        "version": FORMAT_VERSION, "layout": layout, "sequences": sequences, "frames": frames,
        "seed": seed, "image_size": [width, height], "difficulty": difficulty,
    }
    _prepare_output(out, settings)
    manifest = {"format": "ctrack-synthetic", **settings, "splits": splits, "complete": False}
    atomic_write_json(out / SYNTHETIC_MANIFEST, manifest)

    start = time.perf_counter()
    written = skipped = 0
    todo = []
    for item in planned:
        if _is_done(out, item):
            skipped += 1
            if progress is not None:
                progress(frames)
        else:
            todo.append(item)
    render = functools.partial(_render_sequence, out, writer, frames, seed, width, height, difficulty)
    if workers > 1 and len(todo) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn: the caller may hold OpenMP threads (torch) that a forked child must not inherit
        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn")) as pool:
            for _ in pool.map(render, todo, chunksize=max(1, len(todo) // (8 * workers))):
                written += 1
                if progress is not None:
                    progress(frames)
    else:
        for item in todo:
            render(item, progress)
            written += 1
    seconds = time.perf_counter() - start

    writer.finish(out, planned)
    for split, names in splits.items():
        if names:
            atomic_write_text(out / f"split_{split}.txt", "".join(f"{n}\n" for n in names))
    shutil.rmtree(out / PARTIAL_DIR, ignore_errors=True)
    atomic_write_json(out / SYNTHETIC_MANIFEST, {**manifest, "complete": True})
    return {
        "layout": layout,
        "out": str(out),
        "seed": seed,
        "image_size": [width, height],
        "difficulty": difficulty,
        "frames_per_sequence": frames,
        "splits": {split: len(names) for split, names in splits.items()},
        "written": written,
        "skipped": skipped,
        "seconds": round(seconds, 3),
        "frames_per_second": round(written * frames / seconds, 1) if written and seconds > 0 else None,
    }
