"""MixFormerV2's online tracking loop, exact to the official tracker's arithmetic.

Per sequence: the template is cropped once (factor 2.0); it is also the first online template
and the first candidate. Per frame: a search crop around the previous box, the full network on
both templates and the search crop (no cached-template shortcut), the mean of the predicted boxes
mapped back and clipped (margin 10). The online template: a frame whose score (sigmoid of the
logit) is above 0.5 and above the best score since the last update gives the new candidate
(cropped around the new box); every ``update_interval`` frames the candidate becomes the online
template, and the best score and candidate are reset (to -1 and the first template). No window
penalty, no smoothing. One online template; the official default of 3 for datasets outside its
table crashes its own code, so 1 is used for every preset.

The network contract: ``network(template, online_template, search)`` -> ``{"pred_boxes": (1, 1, 4)
cx, cy, w, h normalised by the search size, "score": (1, 1) logit}`` and ``network.config`` with
``template_size``, ``search_size``, ``template_factor``, ``search_factor`` and ``name``.
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
from compresstracker.tracking.crop import clip_box, map_box_back, sample_target
from compresstracker.tracking.base import Normalizer, Timing, TrackedBox, validate_init_box

__all__ = ["DEFAULT_PRESET", "MIXFORMERV2_PRESETS", "MixFormerV2Params", "MixFormerV2Tracker", "build_tracker", "mixformerv2_params"]

MARGIN = 10  # pixels: the smallest box side, and how far inside the image a box must start


@dataclass(frozen=True)
class MixFormerV2Params:
    """Hyper-parameters of the online tracker."""

    search_factor: float
    update_interval: int  # frames between online-template updates
    score_threshold: float = 0.5  # a candidate template needs a score above this ...
    max_score_decay: float = 1.0  # ... and above the best score so far, multiplied by this each frame

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.search_factor) and self.search_factor > 0):
            problems.append(f"search_factor must be a positive finite number, got {self.search_factor}")
        if self.update_interval <= 0:
            problems.append(f"update_interval must be a positive number of frames, got {self.update_interval}")
        if not (math.isfinite(self.score_threshold) and 0 <= self.score_threshold <= 1):
            problems.append(f"score_threshold must lie in [0, 1], got {self.score_threshold}")
        if not (math.isfinite(self.max_score_decay) and 0 < self.max_score_decay <= 1):
            problems.append(f"max_score_decay must lie in (0, 1], got {self.max_score_decay}")
        if problems:
            raise ConfigError("invalid MixFormerV2 tracker parameters: " + "; ".join(problems))


# Per preset: the release -> (search factor, update interval), from the official test settings.
# VOT: the table gives the interval only; the search factor is each release's own (B 5.0, S 4.4).
_RELEASE_SETTINGS: dict[str, dict[str, tuple[float, int]]] = {
    "lasot": {"mixformerv2_b": (5.0, 200), "mixformerv2_s": (4.4, 200)},
    "got10k": {"mixformerv2_b": (5.0, 10), "mixformerv2_s": (4.55, 15)},
    "trackingnet": {"mixformerv2_b": (5.0, 25), "mixformerv2_s": (4.55, 25)},
    "vot": {"mixformerv2_b": (5.0, 10), "mixformerv2_s": (4.4, 10)},
}
MIXFORMERV2_PRESETS: tuple[str, ...] = tuple(_RELEASE_SETTINGS)
DEFAULT_PRESET = "lasot"
OTHER_INTERVAL = 200  # any other network: its config's search factor and LaSOT's interval, for every preset


def _parse(key: str, value: Any, kind: type) -> int | float:
    """A command-line value (string or number) as ``kind``; a one-line ConfigError when it is not one."""
    refusal = ConfigError(f"MixFormerV2 tracker parameter {key}={value!r} is not {'an integer' if kind is int else 'a number'}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise refusal from None
    if isinstance(value, bool) or (kind is int and not number.is_integer()):
        raise refusal
    return kind(number)


def mixformerv2_params(config: Any, preset: Optional[str] = None, overrides: Mapping[str, Any] | None = None) -> MixFormerV2Params:
    """The preset's parameters for the network of ``config`` (B and S have their own), with ``key=value``
    overrides; values may be strings (command line) and are typed by field."""
    name = preset or DEFAULT_PRESET
    if name not in _RELEASE_SETTINGS:
        raise ConfigError(f"unknown MixFormerV2 preset {name!r}; choose one of {', '.join(MIXFORMERV2_PRESETS)}")
    factor, interval = _RELEASE_SETTINGS[name].get(config.name, (config.search_factor, OTHER_INTERVAL))
    fields = {f.name: f for f in dataclasses.fields(MixFormerV2Params)}
    typed: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key not in fields:
            raise ConfigError(f"unknown MixFormerV2 tracker parameter {key!r}; known: {', '.join(fields)}")
        typed[key] = _parse(key, value, int if fields[key].type in ("int", int) else float)
    return MixFormerV2Params(**{"search_factor": factor, "update_interval": interval, **typed})


class MixFormerV2Tracker:
    """``initialize(image, box)`` then ``track(image)`` per frame; RGB uint8 frames, boxes (x, y, w, h) in pixels.

    The returned box's ``confidence`` is the network's score (sigmoid of its logit).
    """

    def __init__(
        self, network: Any, device: str | torch.device = "cpu", preset: Optional[str] = None,
        params: Mapping[str, Any] | None = None,
    ):
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        self.config = network.config
        self.preset = preset or DEFAULT_PRESET
        self.params = mixformerv2_params(self.config, self.preset, params)
        self.normalize = Normalizer(self.device)
        self.timing = Timing()
        self.state: Optional[list[float]] = None

    @property
    def settings(self) -> dict[str, Any]:
        """The preset and every parameter in effect (for run records and JSON output)."""
        return {"preset": self.preset, **dataclasses.asdict(self.params)}

    def _template(self, image: np.ndarray, box: Sequence[float]) -> torch.Tensor:
        patch, _ = sample_target(image, box, self.config.template_factor, self.config.template_size)
        return self.normalize(patch)

    @on_host_threads
    @torch.inference_mode()
    def initialize(self, image: np.ndarray, box: Sequence[float]) -> TrackedBox:
        """Crop the template around ``box``; it is also the online template and the first candidate."""
        height, width = image.shape[:2]
        box = validate_init_box(box, height, width)
        self.template = self._template(image, box)
        self.online_template = self.template
        self.candidate = self.template
        self.best_score = -1.0
        self.frame_id = 0
        self.state = box
        self.timing = Timing()
        return TrackedBox(box, 1.0)

    @on_host_threads
    @torch.inference_mode()
    def track(self, image: np.ndarray) -> TrackedBox:
        """Track the target into ``image``; returns and keeps the new box."""
        if self.state is None:
            raise TrackingError("track() called before initialize()")
        start = time.perf_counter()
        size = self.config.search_size
        height, width = image.shape[:2]
        self.frame_id += 1
        search, resize_factor = self._search(image)
        model_start = time.perf_counter()
        out = self.network(self.template, self.online_template, search)
        score = float(torch.sigmoid(out["score"].view(1)).item())
        pred = (out["pred_boxes"].view(-1, 4).mean(dim=0) * size / resize_factor).tolist()
        model_s = time.perf_counter() - model_start
        self.state = clip_box(map_box_back(self.state, pred, size, resize_factor), height, width, margin=MARGIN)
        self._update_online(image, score)
        self.timing.add(model_s, time.perf_counter() - start)
        return TrackedBox(self.state, score)

    def _search(self, image: np.ndarray) -> tuple[torch.Tensor, float]:
        """(normalised search crop around the current box, its resize factor)."""
        patch, resize_factor = sample_target(image, self.state, self.params.search_factor, self.config.search_size)
        return self.normalize(patch), resize_factor

    @torch.inference_mode()
    def probe_outputs(self, image: np.ndarray, box: Sequence[float]) -> dict[str, torch.Tensor]:
        """The network's outputs (fp32) on both templates and the search crop around ``box`` in ``image``:
        what ``ctrack bench`` compares between backends. Initialises the tracker on ``box``."""
        self.initialize(image, box)
        search, _ = self._search(image)
        out = self.network(self.template, self.online_template, search)
        return {name: out[name].float() for name in ("pred_boxes", "score")}

    def _update_online(self, image: np.ndarray, score: float) -> None:
        """Keep the best-scoring crop since the last update; swap it in every ``update_interval`` frames."""
        p = self.params
        self.best_score *= p.max_score_decay
        if score > p.score_threshold and score > self.best_score:
            self.candidate = self._template(image, self.state)
            self.best_score = score
        if self.frame_id % p.update_interval == 0:
            self.online_template = self.candidate
            self.best_score = -1.0
            self.candidate = self.template


def build_tracker(network: Any, device: torch.device, preset: Optional[str], params: Mapping[str, Any]) -> MixFormerV2Tracker:
    """The tracker registry's builder: ``build(network, device, preset, params)``."""
    return MixFormerV2Tracker(network, device, preset, params)
