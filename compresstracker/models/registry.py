"""Model families and named architectures.

A model family is registered once (by its plug-in under ``compresstracker/families``) with its
config class, its network class and how to describe a config in a listing; a named architecture
is a config of a family. ``build_model``, ``get_config``, ``list_models`` and ``config_from_dict``
dispatch on the family, so no function here names one. Every lookup first loads the families
(:func:`compresstracker.plugins.load_families`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from torch import nn

from compresstracker.errors import ConfigError
from compresstracker.plugins import load_families

__all__ = [
    "ModelFamily", "build_model", "check_config", "config_from_dict", "default_family", "family_of", "get_config", "get_family", "list_families",
    "list_models", "register", "register_family", "resolve_config",
]


@dataclass(frozen=True)
class ModelFamily:
    """One family: its config class (``from_dict``/``to_dict``/``replace``), its network, and a summary.

    ``summary(config)`` gives the family's own listing fields; ``architecture(config)`` one line
    that names the architecture (shown in tables).
    """

    name: str
    description: str
    config_cls: type
    network: Callable[[Any], nn.Module]
    summary: Callable[[Any], dict[str, Any]]
    architecture: Callable[[Any], str]
    default: bool = False  # configs stored without a "family" entry belong to it
    # A config from a spec that is not a registered name (a LightTrack path string, a JSON file); None: not ours.
    parse_spec: Callable[[str], Any] | None = None
    spec_hint: str = ""  # what parse_spec accepts, for the error of an unknown spec
    supports_ce: bool = False  # candidate elimination (tokens dropped inside the network) can be switched on
    # extra `ctrack inspect` fields of a loaded network (config, model) -> dict
    inspect: Callable[[Any, nn.Module], dict[str, Any]] | None = None
    # Sane inclusive ranges of config fields or properties, each item of a tuple field (name -> (low, high)): a stored config is
    # checked against them before a network is built, so a forged value cannot ask for terabytes.
    limits: Mapping[str, tuple[float, float]] = field(default_factory=dict)


_FAMILIES: dict[str, ModelFamily] = {}
_REGISTRY: dict[str, tuple[Any, str]] = {}


def register_family(family: ModelFamily) -> ModelFamily:
    _FAMILIES[family.name] = family
    return family


def get_family(name: str) -> ModelFamily:
    load_families()
    if name not in _FAMILIES:
        raise ConfigError(f"unknown model family {name!r}; known: {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name]


def list_families() -> list[ModelFamily]:
    load_families()
    return list(_FAMILIES.values())


def family_of(config: Any) -> ModelFamily:
    """The family whose config class ``config`` is."""
    load_families()
    for family in _FAMILIES.values():
        if isinstance(config, family.config_cls):
            return family
    raise ConfigError(f"{type(config).__name__} is not the config of a registered model family")


def default_family() -> ModelFamily:
    """The family of configs stored without a "family" entry (files written before families had names)."""
    load_families()
    return next(f for f in _FAMILIES.values() if f.default)


def config_from_dict(data: dict[str, Any]) -> Any:
    """A config of any family from its ``to_dict()`` form (OSTrack configs carry no family entry), checked
    by :func:`check_config`."""
    load_families()
    data = dict(data)
    name = data.get("family")
    family = default_family() if name is None else get_family(str(name))
    problems = _type_problems_of(family.config_cls, data)  # before the config's own checks trip over a wrong type
    if problems:
        raise ConfigError(f"invalid {family.name} config: {'; '.join(problems)}")
    return check_config(family.config_cls.from_dict(data))


def check_config(config: Any) -> Any:
    """``config`` if every plain field has its default's type (numbers finite) and every limit of its
    family holds; else a ConfigError naming each bad value. Files and command lines feed configs in, so
    a string, NaN or absurd size is refused here, before anything is built from it."""
    family = family_of(config)
    problems = _type_problems_of(type(config), {f.name: getattr(config, f.name) for f in dataclasses.fields(config)})
    if not problems:
        for name, (low, high) in family.limits.items():
            value = getattr(config, name)
            if not all(low <= v <= high for v in (value if isinstance(value, tuple) else (value,))):
                problems.append(f"{name} {_shown(value)} is outside the sane range [{low:g}, {high:g}]")
    if problems:
        raise ConfigError(f"invalid {family.name} config: {'; '.join(problems)}")
    return config


def _type_problems_of(cls: type, values: Mapping[str, Any]) -> list[str]:
    """Each value of ``values`` whose type is not its field's default's (tuple fields: per item)."""
    problems = []
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING or f.name not in values:
            continue
        value, default = values[f.name], f.default
        if isinstance(default, tuple):
            kinds = {type(v) for v in default}
            if len(kinds) == 1 and isinstance(value, (list, tuple)):  # the items' type; an empty default says nothing
                kind = kinds.pop()
                problems += [p for v in value for p in _type_problems(f.name, v, kind)][:1]
        else:
            problems += _type_problems(f.name, value, type(default))
    return problems


def _shown(value: Any) -> str:
    return str(list(value)) if isinstance(value, tuple) else str(value)


def _type_problems(name: str, value: Any, kind: type) -> list[str]:
    """Why ``value`` cannot stand for a field whose default is a ``kind`` (empty when it can)."""
    if kind is bool:
        return [] if isinstance(value, bool) else [f"{name} must be true or false, got {value!r}"]
    if kind in (int, float):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind is int and not (number and isinstance(value, int)):
            return [f"{name} must be an integer, got {value!r}"]
        if not number or not math.isfinite(value):
            return [f"{name} must be a finite number, got {value!r}"]
        return []
    if kind is str and not isinstance(value, str):
        return [f"{name} must be a string, got {value!r}"]
    return []


def register(name: str, description: str, config: Any) -> Any:
    """Register ``config`` (of a registered family; its name field says ``name``) under ``name``."""
    _REGISTRY[name] = (config, description)
    return config


def get_config(name: str, **overrides: Any) -> Any:
    """The registered config ``name`` with ``overrides`` applied."""
    load_families()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown architecture {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    config = _REGISTRY[name][0]
    return config.replace(**overrides) if overrides else config


def resolve_config(spec: str, **overrides: Any) -> Any:
    """The config a recipe's ``model.arch`` names: a registered name, or any spec a family parses
    (LightTrack: an official path string or a JSON file), with ``overrides`` applied."""
    load_families()
    if spec in _REGISTRY:
        return get_config(spec, **overrides)
    for family in _FAMILIES.values():
        config = family.parse_spec(spec) if family.parse_spec else None
        if config is not None:
            return config.replace(**overrides) if overrides else config
    hints = "".join(f", {family.spec_hint}" for family in _FAMILIES.values() if family.spec_hint)
    raise ConfigError(f"unknown architecture {spec!r}: not a registered name ({', '.join(sorted(_REGISTRY))}){hints}")


def list_models() -> list[dict]:
    """One row per registered architecture: name, family, description, and the config's fields."""
    load_families()
    rows = []
    for name, (config, description) in _REGISTRY.items():
        rows.append({**config.to_dict(), "name": name, "family": family_of(config).name, "description": description})
    return rows


def build_model(config: Any, **overrides: Any) -> nn.Module:
    """Build an (untrained) network of the config's family from a config or registered name."""
    if isinstance(config, str):
        config = get_config(config, **overrides)
    elif overrides:
        config = config.replace(**overrides)
    return family_of(config).network(check_config(config))
