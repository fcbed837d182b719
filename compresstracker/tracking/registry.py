"""Which tracking loop runs a network: the model family of its config picks it.

Each family's plug-in registers its loop (:class:`TrackerKind`): how to build it, and the presets
it knows (a loop with presets also takes ``key=value`` parameters).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import torch

from compresstracker.errors import ConfigError
from compresstracker.models import family_of
from compresstracker.plugins import load_families

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
    load_families()
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

