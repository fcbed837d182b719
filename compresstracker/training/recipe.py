"""Recipes: YAML files naming every knob of a run, validated before anything starts.

A recipe is checked against a schema of defaults (the types come from the defaults); unknown
keys, wrong types and out-of-range values are all reported at once. ``key=value`` overrides use
dotted paths (``train.lr=1e-4``, ``data.train.0.root=/data/lasot``), values parsed as YAML.
"""
from __future__ import annotations

import copy
import importlib.resources
import re
from pathlib import Path
from typing import Any, Callable

import yaml

from compresstracker.data.registry import split_root
from compresstracker.errors import ConfigError, did_you_mean

DATA_ENTRY = {"name": "", "root": None, "split": None, "ratio": 1.0, "sequences": None}

SCHEMA: dict[str, Any] = {
    "kind": "train",  # train | compress
    "description": "",
    # arch: a registered name, a LightTrack path string or a .json architecture file; drop_path: ViT (OSTrack) only.
    "model": {"arch": "ostrack_vitb_256_ce", "init": None, "drop_path": 0.1, "overrides": {}},
    "data": {
        "train": [],
        "val": [],
        "samples_per_epoch": 60000,
        "val_samples": 0,
        "max_gap": 200,
        "workers": 2,
    },
    "train": {
        "epochs": 300,
        "batch_size": 32,  # per process
        "lr": 4.0e-4,
        "backbone_lr_mult": 0.1,
        "weight_decay": 1.0e-4,
        "grad_clip": 0.1,
        "lr_drop_epoch": 240,
        "lr_drop_factor": 0.1,
        "lr_schedule": "step",  # step (lr_drop_*) | log (lr -> lr_end, evenly on a log scale)
        "lr_end": 1.0e-4,  # last epoch's lr of the log schedule
        "warmup_epochs": 0,
        "optimizer": "adamw",  # adamw | sgd
        "momentum": 0.9,  # sgd only
        "stage": "box",  # box | score (MixFormerV2: the score head alone, the rest frozen, from model.init)
        "freeze_backbone_epochs": 0,  # backbone weights and BN statistics fixed for the first N epochs
        "amp": "none",  # none | bf16 | fp16 (CUDA only)
        "seed": 42,
        # MixFormerV2 only, 0: off. dist: its side distributions against the true sides (two-bin
        # cross-entropy); attn: its prediction tokens' last-block attention on the true box.
        "loss": {"giou": 2.0, "l1": 5.0, "focal": 1.0, "dist": 0.0, "attn": 0.0},
        # Siamese (LightTrack) heads: balanced BCE x cls + IoU loss x iou, positives within pos_radius cells.
        "siamese_loss": {"cls": 1.0, "iou": 1.2, "pos_radius": 1.0},
        # LightTrack supernets: both heads held at the largest for the first N epochs (0: SPOS draws them from the start).
        "spos_fixed_head_epochs": 0,
        "ce": {"start_epoch": 20, "warm_epochs": 80, "keep_ratio": 0.7},
        "checkpoint_every_steps": 0,
        "keep_checkpoints": 2,
        "log_every": 50,
        "val_every": 0,
        "track_eval": {"dataset": None, "root": None, "split": None, "sequences": 5},
    },
    "compress": {
        "teacher": None,
        "stages": 4,
        "split": None,  # explicit stage sizes, e.g. [2, 2, 6, 2]
        "init": "stage-end",  # stage-end | stage-start | comma list of teacher layers
        "layers_per_stage": 1,
        "replacement": True,
        "p_init": 0.5,
        "alpha1": 0.1,
        "alpha2": 0.1,
        "fixed_p": None,  # a number: fixed replacement probability instead of the progressive schedule
        "loss": {"track": 1.0, "pred": 1.0, "feat": 0.2},
        "student_ce": False,
        # The frozen teacher's no-grad guidance pass: auto = bf16 where the device runs it natively
        # (CPUs with AVX-512 BF16/AMX; CUDA: bf16, else fp16), fp32 elsewhere.
        "teacher_precision": "auto",
        # Elastic replacement training (compress --elastic): the student is a supernet of the paths below,
        # per stage a depth (its last d layers) and an MLP ratio (its first embed_dim * r hidden units).
        "elastic": {
            "enabled": False,
            "depths": [1, 2],  # per-stage depth choices; the supernet holds the largest
            "mlp_ratios": [4.0, 2.0, 1.0],  # MLP ratio choices, at most the teacher's
            "sampling": "single",  # single: one random path per step (a fixed run's cost) | sandwich: largest + smallest + random_paths
            "random_paths": 2,
            "path": None,  # one path (d..-h.., a search's best) trained alone: the fine-tuning of compress --from-search
        },
        "supernet": None,  # an elastic run's supernet.safetensors whose weights start the student
    },
}

CHOICES = {
    ("kind",): ("train", "compress"),
    ("train", "amp"): ("none", "bf16", "fp16"),
    ("train", "optimizer"): ("adamw", "sgd"),
    ("train", "lr_schedule"): ("step", "log"),
    ("train", "stage"): ("box", "score"),
    ("compress", "teacher_precision"): ("auto", "fp32", "bf16", "fp16"),
    ("compress", "elastic", "sampling"): ("sandwich", "single"),
}

# Lists of numbers (other lists in a recipe are data entries): dotted path -> (element check, message)
SCALAR_LISTS: dict[tuple, tuple[Callable[[Any], bool], str]] = {
    ("compress", "elastic", "depths"): (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                                        "must be a non-empty list of integers >= 1"),
    ("compress", "elastic", "mlp_ratios"): (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 16,
                                            "must be a non-empty list of numbers in (0, 16]"),
}

# Checks beyond types: dotted path -> (predicate, message)
_AT_LEAST_0 = (lambda v: v >= 0, "must be >= 0")
_AT_LEAST_1 = (lambda v: v >= 1, "must be >= 1")
_POSITIVE = (lambda v: v > 0, "must be > 0")
RANGES: dict[tuple, tuple[Callable[[Any], bool], str]] = {
    ("train", "epochs"): _AT_LEAST_0,
    ("train", "batch_size"): _AT_LEAST_1,
    ("train", "lr"): _POSITIVE,
    ("train", "backbone_lr_mult"): _POSITIVE,
    ("train", "weight_decay"): _AT_LEAST_0,
    ("train", "grad_clip"): (lambda v: v >= 0, "must be >= 0 (0 turns clipping off)"),
    ("train", "lr_end"): _POSITIVE,
    ("train", "momentum"): (lambda v: 0 <= v < 1, "must lie in [0, 1)"),
    ("train", "freeze_backbone_epochs"): _AT_LEAST_0,
    ("train", "siamese_loss", "cls"): _AT_LEAST_0,
    ("train", "siamese_loss", "iou"): _AT_LEAST_0,
    ("train", "siamese_loss", "pos_radius"): (lambda v: v >= 0, "must be >= 0 (cells)"),
    ("train", "spos_fixed_head_epochs"): _AT_LEAST_0,
    ("train", "lr_drop_epoch"): _AT_LEAST_0,
    ("train", "lr_drop_factor"): _POSITIVE,
    ("train", "warmup_epochs"): _AT_LEAST_0,
    ("train", "seed"): _AT_LEAST_0,
    ("train", "loss", "giou"): _AT_LEAST_0,
    ("train", "loss", "l1"): _AT_LEAST_0,
    ("train", "loss", "focal"): _AT_LEAST_0,
    ("train", "loss", "dist"): _AT_LEAST_0,
    ("train", "loss", "attn"): _AT_LEAST_0,
    ("train", "ce", "start_epoch"): _AT_LEAST_0,
    ("train", "ce", "warm_epochs"): _AT_LEAST_0,
    ("train", "ce", "keep_ratio"): (lambda v: 0 < v <= 1, "must lie in (0, 1]"),
    ("train", "checkpoint_every_steps"): (lambda v: v >= 0, "must be >= 0 (0: at epoch ends only)"),
    ("train", "keep_checkpoints"): _AT_LEAST_1,
    ("train", "log_every"): _AT_LEAST_1,
    ("train", "val_every"): (lambda v: v >= 0, "must be >= 0 (0: never)"),
    ("train", "track_eval", "sequences"): _AT_LEAST_1,
    ("data", "samples_per_epoch"): _AT_LEAST_1,
    ("data", "val_samples"): _AT_LEAST_0,
    ("data", "max_gap"): _AT_LEAST_1,
    ("data", "workers"): _AT_LEAST_0,
    ("compress", "stages"): _AT_LEAST_1,
    ("compress", "layers_per_stage"): _AT_LEAST_1,
    ("compress", "p_init"): (lambda v: 0 < v <= 1, "must lie in (0, 1]"),
    ("compress", "alpha1"): (lambda v: 0 <= v < 1, "must lie in [0, 1)"),
    ("compress", "alpha2"): (lambda v: 0 <= v < 1, "must lie in [0, 1)"),
    ("compress", "fixed_p"): (lambda v: v is None or 0 < v <= 1, "must be null or lie in (0, 1]"),
    ("compress", "loss", "track"): _AT_LEAST_0,
    ("compress", "loss", "pred"): _AT_LEAST_0,
    ("compress", "loss", "feat"): _AT_LEAST_0,
    ("compress", "elastic", "random_paths"): _AT_LEAST_0,
    ("model", "drop_path"): (lambda v: 0 <= v < 1, "must lie in [0, 1)"),
}
INIT_MODES = ("stage-end", "stage-start")

OPEN_DICTS = {("model", "overrides")}  # free-form (validated by the model config itself)


def recipe_dir():
    return importlib.resources.files("compresstracker.recipes")


def list_recipes() -> list[dict[str, str]]:
    """Shipped recipes: name, kind, description."""
    rows = []
    for entry in sorted(recipe_dir().iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            data = yaml.safe_load(entry.read_text()) or {}
            rows.append({"name": entry.name[:-5], "kind": data.get("kind", "train"), "description": data.get("description", "")})
    return rows


def read_recipe_text(name_or_path: str) -> tuple[str, str]:
    """(text, source) of a shipped recipe name or a YAML path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or "/" in name_or_path or "\\" in name_or_path:
        if not path.is_file():
            raise ConfigError(f"recipe file {path} does not exist")
        return path.read_text(), str(path)
    entry = recipe_dir() / f"{name_or_path}.yaml"
    if not entry.is_file():
        names = [r["name"] for r in list_recipes()]
        raise ConfigError(
            f"unknown recipe {name_or_path!r}{did_you_mean(name_or_path, names)}; shipped recipes: {', '.join(names)} (or give a .yaml path)"
        )
    return entry.read_text(), f"recipe:{name_or_path}"


def load_recipe(name_or_path: str, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Read, merge with defaults, apply ``key=value`` overrides and validate (all problems at once)."""
    text, source = read_recipe_text(name_or_path)
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source} must hold a mapping at the top level")
    return recipe_from_dict(raw, source, overrides)


def recipe_from_dict(raw: dict[str, Any], source: str, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """A recipe from a mapping (a parsed YAML file, or a run's saved config): merged, overridden, validated."""
    problems: list[str] = []
    recipe = _merge(SCHEMA, {k: v for k, v in raw.items() if k != "source"}, (), problems)
    for item in overrides:
        _apply_override(recipe, item, problems)
    problems.extend(validate(recipe))
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    recipe["source"] = source
    return recipe


def _merge(schema: Any, value: Any, path: tuple, problems: list[str]) -> Any:
    if isinstance(schema, dict) and path not in OPEN_DICTS:
        if not isinstance(value, dict):
            problems.append(f"{'.'.join(path)} must be a mapping")
            return copy.deepcopy(schema)
        out = copy.deepcopy(schema)
        for key, sub in value.items():
            if key == "source" and not path:
                continue
            if key not in schema:
                problems.append(f"unknown key {'.'.join(path + (str(key),))}{did_you_mean(key, schema)}")
                continue
            out[key] = _merge(schema[key], sub, path + (key,), problems)
        return out
    if isinstance(schema, list):
        if not isinstance(value, list):
            problems.append(f"{'.'.join(path)} must be a list")
            return []
        if path in (("data", "train"), ("data", "val")):
            return [_merge(DATA_ENTRY, v, path + (str(i),), problems) for i, v in enumerate(value)]
        return value
    return value


def _apply_override(recipe: dict, item: str, problems: list[str]) -> None:
    if "=" not in item:
        problems.append(f"override {item!r} is not key=value")
        return
    key, _, text = item.partition("=")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    if isinstance(value, str):  # YAML 1.1 reads '1e-3' (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    parts = key.strip().split(".")
    node: Any = recipe
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                problems.append(f"override {key}: {'.'.join(parts[:i])} has no item {part}")
                return
            if last:
                node[int(part)] = value
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node and tuple(parts[:i]) not in OPEN_DICTS:
                problems.append(f"override {key}: unknown key {'.'.join(parts[: i + 1])}{did_you_mean(part, node)}")
                return
            if last:
                node[part] = value
            else:
                node = node[part]
        else:
            problems.append(f"override {key}: {'.'.join(parts[:i])} is not a mapping")
            return


def _type_ok(default: Any, value: Any) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, type(default))


def validate(recipe: dict[str, Any]) -> list[str]:
    """Every problem of a merged recipe, as messages: types, choices, ranges and cross-key rules."""
    problems: list[str] = []

    def walk(schema: Any, value: Any, path: tuple) -> None:
        name = ".".join(path)
        if isinstance(schema, dict) and path not in OPEN_DICTS:
            if path and not isinstance(value, dict):
                problems.append(f"{name} must be a mapping, got {value!r}")
                return
            for key, sub in schema.items():
                walk(sub, value.get(key), path + (key,))
            return
        if path in SCALAR_LISTS:
            check, message = SCALAR_LISTS[path]
            if not isinstance(value, list) or not value or not all(check(v) for v in value):
                problems.append(f"{name} {message}, got {value!r}")
            return
        if isinstance(schema, list):
            if not isinstance(value, list):
                problems.append(f"{name} must be a list, got {value!r}")
                return
            for i, entry in enumerate(value):
                walk(DATA_ENTRY, entry, path + (str(i),))
            return
        if not _type_ok(schema, value):
            problems.append(f"{name} must be {type(schema).__name__}, got {value!r}")
            return
        if path in CHOICES and value not in CHOICES[path]:
            problems.append(f"{name} must be one of {', '.join(CHOICES[path])}, got {value!r}")
        if path in RANGES and value is not None:
            check, message = RANGES[path]
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                problems.append(f"{name} must be a number, got {value!r}")
            elif not check(value):
                problems.append(f"{name} {message}, got {value!r}")
        if path[-1:] == ("ratio",) and isinstance(value, (int, float)) and value <= 0:
            problems.append(f"{name} must be > 0, got {value!r}")
        if path[-1:] == ("name",) and path[:1] == ("data",) and not value:
            problems.append(f"{name} is required")

    walk(SCHEMA, recipe, ())
    if isinstance(recipe.get("model"), dict):
        problems.extend(_model_problems(recipe["model"]))
    if isinstance(recipe.get("compress"), dict):
        problems.extend(_compress_problems(recipe["compress"]))
    return problems


def _model_problems(model: dict[str, Any]) -> list[str]:
    """An architecture the model registry resolves, and overrides that name fields of its config
    (of the default, OSTrack, family when the architecture is unknown)."""
    import dataclasses

    from compresstracker.models.registry import default_family, resolve_config

    problems = []
    config_cls: type = default_family().config_cls
    if isinstance(model.get("arch"), str):  # (not a string: the type check says so)
        try:
            config_cls = type(resolve_config(model["arch"]))
        except ConfigError as exc:
            problems.append(f"model.arch {model['arch']!r} is not a known architecture: {exc} (see `ctrack models list`)")
    overrides = model.get("overrides")
    if isinstance(overrides, dict):  # (not a mapping: the type check says so)
        fields = {f.name for f in dataclasses.fields(config_cls)} - {"arch", "name"}
        for key in overrides:
            if key not in fields:
                problems.append(f"unknown key model.overrides.{key} (a model config field: {', '.join(sorted(fields))})")
    return problems


def _compress_problems(compress: dict[str, Any]) -> list[str]:
    """Stage split against the stage count, and the init mode."""
    problems = []
    split, stages, init = compress.get("split"), compress.get("stages"), compress.get("init")
    if split is not None:
        if not isinstance(split, list) or not split or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in split):
            problems.append("compress.split must be a list of positive integers")
        elif isinstance(stages, int) and stages != len(split):
            problems.append(f"compress.stages is {stages} but compress.split {split} has {len(split)} stages; give one or make them agree")
    elastic = compress.get("elastic")
    path = elastic.get("path") if isinstance(elastic, dict) else None
    if path is not None and not (isinstance(path, str) and re.fullmatch(r"d\d+(\.\d+)*-h\d+(\.\d+)*", path)):
        problems.append(f"compress.elastic.path must be an elastic path like d1.2-h128.64 (a search's best.json arch), got {path!r}")
    if compress.get("supernet") is not None and not isinstance(compress["supernet"], str):
        problems.append(f"compress.supernet must be a file path, got {compress['supernet']!r}")
    if isinstance(init, str) and init not in INIT_MODES:
        parts = [p.strip() for p in init.split(",")]
        if not all(p.isdigit() for p in parts):
            problems.append(f"compress.init must be {' or '.join(INIT_MODES)} or teacher layer indices a,b,c, got {init!r}")
    return problems


def set_data_roots(recipe: dict[str, Any], specs: list[str] | tuple[str, ...]) -> list[str]:
    """Apply ``--data NAME=ROOT[:SPLIT]``: the named datasets become the training mix.

    A NAME the recipe lists keeps its entry's split and ratio (the spec's split wins); other
    names get the defaults recipe entries get (ratio 1). Validation entries of a NAME given
    here take its root. Returns lines saying how the mix differs from the recipe's.
    """
    if not specs:
        return []
    parsed = []
    for spec in specs:
        name, sep, rest = spec.partition("=")
        if not sep or not name or not rest:
            raise ConfigError(f"--data {spec!r} must look like NAME=ROOT[:SPLIT]")
        parsed.append((name, *split_root(rest)))
    recipe_names = [e["name"] for e in recipe["data"]["train"]]
    mix = []
    for name, root, split in parsed:
        entry = copy.deepcopy(next((e for e in recipe["data"]["train"] if e["name"] == name), DATA_ENTRY))
        entry.update(name=name, root=root)
        entry["split"] = split or entry["split"]
        mix.append(entry)
    recipe["data"]["train"] = mix
    for entry in recipe["data"]["val"]:
        match = next((root for name, root, _ in parsed if name == entry["name"]), None)
        if match and not entry["root"]:
            entry["root"] = match
    names = [e["name"] for e in mix]
    if recipe_names and sorted(set(names)) != sorted(set(recipe_names)):
        only = " only" if len(names) == 1 else ""
        return [f"the recipe trains on {', '.join(recipe_names)}; training on {', '.join(names)}{only}"]
    return []


def drop_unrooted_val(recipe: dict[str, Any]) -> list[str]:
    """Remove validation entries that have no root; lines saying which were skipped."""
    skipped = [e["name"] for e in recipe["data"]["val"] if not e["root"]]
    recipe["data"]["val"] = [e for e in recipe["data"]["val"] if e["root"]]
    if not skipped:
        return []
    return [f"validation on {', '.join(skipped)} skipped: no root (give it with --data NAME=ROOT or data.val.N.root=...)"]


def dump_recipe(recipe: dict[str, Any]) -> str:
    return yaml.safe_dump(recipe, sort_keys=False)
