"""Tracker families as plug-ins: everything one family brings, in one package, registered in one call.

A family package (``families/ostrack``, ``families/lighttrack``, ...) holds its architecture and
named configs, checkpoint layouts and how to read a config off the weights, its tracking loop and
presets, the graphs it exports, how its MACs are counted, its training task, its teacher adapter
for compression, its release layout and, where it has one, its search space. Its ``__init__``
builds one :class:`FamilyPlugin` and calls :func:`register_plugin`, which hands each hook to the
room that uses it. The pipeline rooms (checkpoints, tracking, deploy, bench, training,
compression, search, cli) only ever ask their own registries, and the registries load the
families on first use (:mod:`compresstracker.plugins`), so no pipeline module names a family.

Why packages, one per family, above the pipeline rooms: a family's hooks extend every room
(its tracker builds on ``tracking``'s crops, its task on ``training``'s engine, its adapter on
``compression``'s base), so it sits above all of them and imports downwards only; keeping a family
together makes a new one a new folder plus one line in ``plugins.BUILTIN_FAMILIES``, and lets the
conformance test (tests/families/test_conformance.py) hold every family to every hook.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from torch import nn

from compresstracker.bench.flops import register_mac_counter
from compresstracker.checkpoints.formats import CheckpointFormat, register_format
from compresstracker.checkpoints.writers import ReleaseLayout, register_release
from compresstracker.compression.adapters import TeacherAdapter, register_adapter
from compresstracker.deploy.family import DeployFamily
from compresstracker.deploy.family import register_deploy_family
from compresstracker.models.registry import ModelFamily, register, register_family
from compresstracker.plugins import load_families
from compresstracker.search.space import SearchSpace, register_space
from compresstracker.training.tasks import TrainingFamily, register_training
from compresstracker.tracking.registry import TrackerKind, register_tracker

__all__ = ["Architecture", "FamilyPlugin", "SupernetPlugin", "plugins", "register_plugin"]


@dataclass(frozen=True)
class Architecture:
    """A named config of the family (``ctrack models list`` shows it; recipes name it in model.arch)."""

    name: str
    description: str
    config: Any


@dataclass(frozen=True)
class SupernetPlugin:
    """A family's weight-sharing supernet: its own config family, named supernets, SPOS task and search space."""

    model: ModelFamily
    architectures: tuple[Architecture, ...]
    training: TrainingFamily
    space: Callable[[Any], SearchSpace]
    space_description: str


@dataclass(frozen=True)
class FamilyPlugin:
    """Every hook of one tracker family. ``adapter`` (compression), ``release`` and ``supernet`` are
    optional: a family that is not a transformer has no teacher adapter, one with no layout of its
    own writes only ctrack's native file, one with no search space is not searchable."""

    model: ModelFamily
    architectures: tuple[Architecture, ...]
    formats: tuple[CheckpointFormat, ...]
    tracker: TrackerKind
    deploy: DeployFamily
    macs: Callable[[nn.Module], int]
    macs_rules: str
    training: TrainingFamily
    adapter: Optional[TeacherAdapter] = None
    release: Optional[ReleaseLayout] = None
    supernet: Optional[SupernetPlugin] = None
    # for the conformance test and examples: a registered architecture that runs every code path on a
    # CPU in milliseconds, and a recipe that trains it on generated data
    tiny: str = ""
    recipe: str = ""

    @property
    def name(self) -> str:
        return self.model.name


_PLUGINS: dict[str, FamilyPlugin] = {}


def register_plugin(plugin: FamilyPlugin) -> FamilyPlugin:
    """Register every hook of ``plugin`` with the room that uses it (one call per family)."""
    name = plugin.name
    if name in _PLUGINS:
        raise ValueError(f"tracker family {name!r} is already registered")
    for part in (plugin.tracker.family, plugin.deploy.name, *(f.family for f in plugin.formats)):
        if part != name:
            raise ValueError(f"a hook of family {name!r} says it belongs to {part!r}")
    register_family(plugin.model)
    for arch in plugin.architectures:
        register(arch.name, arch.description, arch.config)
    for fmt in plugin.formats:
        register_format(fmt)
    register_tracker(plugin.tracker)
    register_deploy_family(plugin.deploy)
    register_mac_counter(name, plugin.macs, plugin.macs_rules)
    register_training(name, plugin.training)
    if plugin.adapter is not None:
        register_adapter(plugin.adapter)
    if plugin.release is not None:
        register_release(name, plugin.release)
    if plugin.supernet is not None:
        supernet = plugin.supernet
        register_family(supernet.model)
        for arch in supernet.architectures:
            register(arch.name, arch.description, arch.config)
        register_training(supernet.model.name, supernet.training)
        register_space(supernet.model.name, supernet.space, supernet.space_description)
    _PLUGINS[name] = plugin
    return plugin


def plugins() -> dict[str, FamilyPlugin]:
    """Every registered family by name (loads them first)."""
    load_families()
    return dict(_PLUGINS)


# Importing one family's package first (``from compresstracker.families.mixformerv2 import ...``)
# registers all of them here, in BUILTIN_FAMILIES order, so registries list them in one order
# whatever was imported first.
load_families()
