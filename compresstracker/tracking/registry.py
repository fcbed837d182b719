"""Which tracking loop runs a network: the model family of its config picks it.

OSTrack-family networks run OSTrack's loop (no presets); LightTrack networks run LightTrack's loop
with a preset and ``key=value`` parameters. A new family registers its loop here once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import torch

from compresstracker.errors import ConfigError
from compresstracker.models import family_of
from compresstracker.tracking.lighttrack import LIGHTTRACK_PRESETS, LightTrackTracker
from compresstracker.tracking.tracker import Tracker

__all__ = ["TrackerKind", "make_tracker", "register_tracker", "tracker_kind"]


@dataclass(frozen=True)
class TrackerKind:
    """A family's tracking loop: ``build(network, device, preset, params)`` and the presets it knows."""

    family: str
    description: str
    build: Callable[[Any, torch.device, Optional[str], Mapping[str, Any]], Any]
    presets: tuple[str, ...] = ()


_TRACKERS: dict[str, TrackerKind] = {}


def register_tracker(kind: TrackerKind) -> TrackerKind:
    _TRACKERS[kind.family] = kind
    return kind


def tracker_kind(network: Any) -> TrackerKind:
    family = family_of(network.config).name
    if family not in _TRACKERS:
        raise ConfigError(f"no tracking loop is registered for the {family} model family")
    return _TRACKERS[family]


def make_tracker(
    network: Any, device: str | torch.device = "cpu", preset: Optional[str] = None,
    params: Mapping[str, Any] | None = None,
):
    """The tracker of the network's family. ``preset`` / ``params`` (key -> value, strings allowed)
    choose its hyper-parameters; a loop without presets refuses them."""
    kind = tracker_kind(network)
    if (preset or params) and not kind.presets:
        raise ConfigError(f"the {kind.family} tracker has no presets or parameters; drop --preset/--param")
    return kind.build(network, torch.device(device), preset, dict(params or {}))


register_tracker(TrackerKind(
    "ostrack", "OSTrack's loop: fixed template, Hann-windowed centre head, no update",
    lambda network, device, preset, params: Tracker(network, device),
))
register_tracker(TrackerKind(
    "lighttrack", "LightTrack's Siamese loop: cosine window, scale/ratio penalty, smoothed size update",
    lambda network, device, preset, params: LightTrackTracker(network, device, preset, params),
    presets=tuple(LIGHTTRACK_PRESETS),
))
