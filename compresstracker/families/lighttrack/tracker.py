"""LightTrack's own tracking loop (Siamese style), exact to the official tracker's arithmetic.

Per sequence: a template crop of the context square (side rounded half to even), mean-colour
padding, template features computed once; the search size is 288 instead of 256 when the target
covers less than 0.4% of the first frame. Per frame: a search crop whose side is rounded half away
from zero, the network's (l, t, r, b) distances and scores, the scale/ratio penalty and cosine
window, the size smoothing applied twice (as the reference does), and the clamps.

The network contract: ``network.template(z) -> zf`` and ``network.track(x, zf) -> {"cls", "reg"}``
(:class:`~compresstracker.models.LightTrackNet`, or a runtime with the same two calls).
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch

from compresstracker.errors import ConfigError, TrackingError
from compresstracker.threads import on_host_threads
from compresstracker.tracking.crop import round_half_away, siamese_crop
from compresstracker.tracking.base import Normalizer, Timing, TrackedBox, validate_init_box

__all__ = ["DEFAULT_PRESET", "LIGHTTRACK_PRESETS", "LightTrackParams", "LightTrackTracker", "lighttrack_params"]

MIN_SIZE = 10.0  # pixels: the smallest target side the tracker keeps


@dataclass(frozen=True)
class LightTrackParams:
    """Hyper-parameters of LightTrack's tracker (the official names)."""

    penalty_k: float
    window_influence: float
    lr: float
    exemplar_size: int  # template crop: 127 (the official VOT script) or 128
    small_sz: int = 256  # search crop
    big_sz: int = 288  # search crop for small targets
    small_target_ratio: float = 0.004  # target area / image area below which big_sz is used
    context_amount: float = 0.5

    def __post_init__(self) -> None:
        problems = []
        floats = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.type in ("float", float)}
        if not all(math.isfinite(v) for v in floats.values()):
            problems.append(f"{', '.join(k for k, v in floats.items() if not math.isfinite(v))} must be finite")
        if not 0 <= self.lr <= 1:
            problems.append("lr must lie in [0, 1]")
        if min(self.exemplar_size, self.small_sz, self.big_sz) <= 0:
            problems.append("exemplar_size, small_sz and big_sz must be positive")
        if not 0 <= self.window_influence <= 1:
            problems.append("window_influence must lie in [0, 1]")
        if self.context_amount < 0 or self.small_target_ratio < 0:
            problems.append("context_amount and small_target_ratio must not be negative")
        if problems:
            raise ConfigError("invalid LightTrack tracker parameters: " + "; ".join(problems))


LIGHTTRACK_PRESETS: dict[str, LightTrackParams] = {
    # The only released settings (experiments/test/VOT/LightTrack.yaml), run with template 127.
    "vot2019": LightTrackParams(penalty_k=0.007, window_influence=0.225, lr=0.616, exemplar_size=127),
    # The tracker code's own defaults, with the 128 template the network was trained on.
    "default": LightTrackParams(penalty_k=0.062, window_influence=0.38, lr=0.765, exemplar_size=128),
}
DEFAULT_PRESET = "default"


def lighttrack_params(preset: Optional[str] = None, overrides: Mapping[str, Any] | None = None) -> LightTrackParams:
    """A preset with ``key=value`` overrides; values may be strings (command line) and are typed by field."""
    name = preset or DEFAULT_PRESET
    if name not in LIGHTTRACK_PRESETS:
        raise ConfigError(f"unknown LightTrack preset {name!r}; choose one of {', '.join(LIGHTTRACK_PRESETS)}")
    params = LIGHTTRACK_PRESETS[name]
    fields = {f.name: f for f in dataclasses.fields(LightTrackParams)}
    typed = {}
    for key, value in (overrides or {}).items():
        if key not in fields:
            raise ConfigError(f"unknown LightTrack tracker parameter {key!r}; known: {', '.join(fields)}")
        kind = int if fields[key].type in ("int", int) else float
        try:
            typed[key] = kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"LightTrack tracker parameter {key}={value!r} is not {'an integer' if kind is int else 'a number'}") from None
    return dataclasses.replace(params, **typed)


def network_sizes(config) -> dict[str, int]:
    """Crop sizes for a network built for other inputs than the paper's 128/256 (tiny sizes): its own
    template and search sizes, and the small-target search scaled as 288 is to 256. None for 128/256."""
    if (config.template_size, config.search_size) == (128, 256):
        return {}
    return {"exemplar_size": config.template_size, "small_sz": config.search_size, "big_sz": round(config.search_size * 288 / 256)}


def _change(r: np.ndarray) -> np.ndarray:
    return np.maximum(r, 1.0 / r)


def context_side(w, h):
    """sqrt((w + p)(h + p)) with p = (w + h) / 2: the side of the context square."""
    pad = (w + h) * 0.5
    return np.sqrt((w + pad) * (h + pad))


class LightTrackTracker:
    """``initialize(image, box)`` then ``track(image)`` per frame; boxes are (x, y, w, h) in pixels."""

    def __init__(
        self, network, device: str | torch.device = "cpu", preset: Optional[str] = None,
        params: Mapping[str, Any] | None = None,
    ):
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        self.preset = preset or DEFAULT_PRESET
        config = network.config
        self.params = lighttrack_params(self.preset, {**network_sizes(config), **(params or {})})
        self.stride = config.stride
        if config.feature_size(self.params.exemplar_size) ** 2 != config.correlation_channels:
            raise ConfigError(
                f"exemplar_size {self.params.exemplar_size} does not fit {config.name}: it was built for "
                f"{config.template_size} px templates; give --param exemplar_size={config.template_size}"
            )
        self.normalize = Normalizer(self.device)
        self.timing = Timing()
        self.zf: Optional[torch.Tensor] = None

    @property
    def settings(self) -> dict[str, Any]:
        """The preset and every parameter in effect (for run records and JSON output)."""
        return {"preset": self.preset, **dataclasses.asdict(self.params)}

    @on_host_threads
    @torch.inference_mode()
    def initialize(self, image: np.ndarray, box: Sequence[float]) -> list[float]:
        height, width = image.shape[:2]
        x, y, w, h = validate_init_box(box, height, width)
        p = self.params
        self.image_size = (width, height)
        self.pos = np.array([x + w / 2, y + h / 2])
        self.size = np.array([w, h])
        small = (w * h) / float(height * width) < p.small_target_ratio
        self.instance_size = p.big_sz if small else p.small_sz
        score_size = int(round(self.instance_size / self.stride))
        offsets = (np.arange(score_size) - np.floor(float(score_size // 2))) * self.stride + self.instance_size // 2
        self.grid_x, self.grid_y = np.meshgrid(offsets, offsets)
        self.window = np.outer(np.hanning(score_size), np.hanning(score_size))
        self.avg_chans = np.mean(image, axis=(0, 1))
        context = self.size + p.context_amount * self.size.sum()
        s_z = round(float(np.sqrt(context[0] * context[1])))  # half to even
        z = siamese_crop(image, self.pos, p.exemplar_size, s_z, self.avg_chans)
        self.zf = self.network.template(self.normalize(z))
        self.timing = Timing()
        return [x, y, w, h]

    @on_host_threads
    @torch.inference_mode()
    def track(self, image: np.ndarray) -> TrackedBox:
        if self.zf is None:
            raise TrackingError("track() called before initialize()")
        start = time.perf_counter()
        search, scale_z = self._search(image)
        model_start = time.perf_counter()
        out = self.network.track(search, self.zf)
        cls = torch.sigmoid(out["cls"]).squeeze().cpu().numpy()
        reg = out["reg"].squeeze().cpu().numpy()
        model_s = time.perf_counter() - model_start
        self._update(cls, reg, scale_z)
        width, height = self.image_size
        self.pos = np.array([max(0.0, min(width, self.pos[0])), max(0.0, min(height, self.pos[1]))])
        self.size = np.array([max(MIN_SIZE, min(width, self.size[0])), max(MIN_SIZE, min(height, self.size[1]))])
        cx, cy = self.pos
        w, h = self.size
        self.timing.add(model_s, time.perf_counter() - start)
        # The confidence: the classification peak (before penalties and window), as OSTrack's loop reports it.
        return TrackedBox([float(max(0.0, cx - w / 2)), float(max(0.0, cy - h / 2)), float(w), float(h)], float(cls.max()))

    def _search(self, image: np.ndarray) -> tuple[torch.Tensor, float]:
        """(normalised search crop around the current state, its scale against the image)."""
        p = self.params
        context = self.size + p.context_amount * self.size.sum()
        s_z = np.sqrt(context[0] * context[1])
        scale_z = p.exemplar_size / s_z
        s_x = s_z + 2 * ((self.instance_size - p.exemplar_size) / 2 / scale_z)
        x = siamese_crop(image, self.pos, self.instance_size, round_half_away(float(s_x)), self.avg_chans)
        return self.normalize(x), scale_z

    @torch.inference_mode()
    def probe_outputs(self, image: np.ndarray, box: Sequence[float]) -> dict[str, torch.Tensor]:
        """The network's outputs (fp32) on the template and search crops around ``box`` in ``image``:
        what ``ctrack bench`` compares between backends. Initialises the tracker on ``box``."""
        self.initialize(image, box)
        search, _ = self._search(image)
        out = self.network.track(search, self.zf)
        return {name: out[name].float() for name in ("cls", "reg")}

    def _update(self, cls: np.ndarray, reg: np.ndarray, scale_z: float) -> None:
        """Pick the best cell and move/resize the target (centre and size in image pixels)."""
        p = self.params
        x1, y1 = self.grid_x - reg[0], self.grid_y - reg[1]
        x2, y2 = self.grid_x + reg[2], self.grid_y + reg[3]
        size = self.size * scale_z  # in search-crop pixels
        with np.errstate(divide="ignore", invalid="ignore"):
            s_c = _change(context_side(x2 - x1, y2 - y1) / context_side(size[0], size[1]))
            r_c = _change((size[0] / size[1]) / ((x2 - x1) / (y2 - y1)))
            penalty = np.exp(-(r_c * s_c - 1) * p.penalty_k)
        pscore = penalty * cls
        pscore = pscore * (1 - p.window_influence) + self.window * p.window_influence
        r, c = np.unravel_index(pscore.argmax(), pscore.shape)
        box_x1, box_y1, box_x2, box_y2 = x1[r, c], y1[r, c], x2[r, c], y2[r, c]
        dx = ((box_x1 + box_x2) / 2 - self.instance_size // 2) / scale_z
        dy = ((box_y1 + box_y2) / 2 - self.instance_size // 2) / scale_z
        pred_w, pred_h = (box_x2 - box_x1) / scale_z, (box_y2 - box_y1) / scale_z
        size = size / scale_z
        lr = penalty[r, c] * cls[r, c] * p.lr
        smoothed = np.array([pred_w * lr + (1 - lr) * size[0], pred_h * lr + (1 - lr) * size[1]])
        self.pos = np.array([self.pos[0] + dx, self.pos[1] + dy])
        self.size = size * (1 - lr) + lr * smoothed  # the reference smooths twice
