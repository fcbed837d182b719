"""Resuming a run from its own folder: what it was started with, and whether a request may continue it.

A run folder records its settings twice: ``config.yaml`` (the resolved recipe plus the plan,
provenance and thread count) and ``checkpoints/last.pt`` (the resolved recipe and the teacher's
sha256, beside the training state). A resume may change nothing that changes the result; the
one allowed change is more epochs. :func:`check_resume` names the first difference in one line.
Search runs (``ctrack search --resume``) use the same two functions on their own config.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from compresstracker.errors import ConfigError

CONFIG_FILE = "config.yaml"
# Keys compared between a saved run and a resume request.
RESULT_SECTIONS = ("kind", "model", "data", "train", "compress")
# Keys that do not change the trained weights (logging, checkpoint cadence, loader processes, where the teacher lies).
NO_EFFECT = frozenset({
    "data.workers", "train.log_every", "train.keep_checkpoints", "train.checkpoint_every_steps", "compress.teacher",
})
GROWABLE = frozenset({"train.epochs"})
# Keys a run of each kind does not use: a compression run builds its student from the teacher and
# has no CE keep-rate schedule; a training run has no teacher. They are left out of config.yaml.
NOT_APPLICABLE = {"compress": ("model.arch", "model.init", "model.overrides", "train.ce", "train.stage"), "train": ("compress",)}
# Keys added after runs were already made, with the value that trains as those runs did: left out of config.yaml at
# that value, so a run made before the key existed resumes (and one made after reads the same).
ADDED_LATER = {"train.spos_fixed_head_epochs": 0}


def applicable(recipe: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe without the keys its kind does not use (what config.yaml records and resume compares)."""
    out = copy.deepcopy(dict(recipe))
    for key in NOT_APPLICABLE.get(out.get("kind", "train"), ()):
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    for key, default in ADDED_LATER.items():
        section, leaf = key.split(".")
        node = out.get(section)
        if isinstance(node, dict) and leaf in node and node[leaf] == default:
            del node[leaf]
    compress = out.get("compress")
    if isinstance(compress, dict) and isinstance(compress.get("elastic"), dict) and not compress["elastic"].get("enabled"):
        del compress["elastic"]  # a fixed-shape run records what it did before elastic runs existed (and resumes so)
    return out


@dataclass
class SavedRun:
    """What a run folder says about the run it holds."""

    recipe: dict[str, Any]
    teacher_sha256: str | None = None
    threads: int | None = None
    world_size: int | None = None
    epochs_done: int | None = None  # from checkpoints/last.pt; None when no checkpoint was written yet
    extra: dict[str, Any] = field(default_factory=dict)  # the rest of config.yaml (plan, provenance, ...)


def differences(saved: Any, requested: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any, Any]]:
    """(dotted key, saved value, requested value) for every leaf where two nested configs differ."""
    if isinstance(saved, Mapping) and isinstance(requested, Mapping):
        for key in list(saved) + [k for k in requested if k not in saved]:
            yield from differences(saved.get(key), requested.get(key), path + (str(key),))
    elif isinstance(saved, list) and isinstance(requested, list) and len(saved) == len(requested) and any(
        isinstance(v, (Mapping, list)) for v in saved
    ):
        for i, (a, b) in enumerate(zip(saved, requested)):
            yield from differences(a, b, path + (str(i),))
    elif saved != requested and not _same_number(saved, requested):
        yield ".".join(path), saved, requested


def _same_number(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool) and a == b


def _show(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, Mapping) and "name" in v for v in value):
        return ", ".join(str(v["name"]) for v in value) or "nothing"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "none" if value is None else str(value)


def check_resume(
    saved: Mapping[str, Any],
    requested: Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
    sections: tuple[str, ...] = RESULT_SECTIONS,
    no_effect: frozenset[str] = NO_EFFECT,
    growable: frozenset[str] = GROWABLE,
) -> list[str]:
    """Refuse (ConfigError, one line) a resume whose request changes the result; notes on allowed changes.

    ``labels`` maps a dotted key to what the user typed for it (``compress.stages`` ->
    ``--stages``), so the message reads "--stages 3 but the run has 4". Keys in ``growable``
    may increase (more epochs), nothing else may change except ``no_effect`` keys.
    """
    labels = labels or {}
    notes = []
    saved, requested = applicable(saved), applicable(requested)
    for section in sections:
        for key, old, new in differences(saved.get(section), requested.get(section), (section,)):
            if key in no_effect or any(key.startswith(k + ".") for k in no_effect):
                continue
            label = _label(key, labels)
            if key in growable and isinstance(old, int) and isinstance(new, int) and new > old:
                notes.append(f"{label} {new}: continuing the run past its {old}")
                continue
            raise ConfigError(f"{label} {_show(new)} but the run has {_show(old)}; resume with the run's settings or choose another --out")
    return notes


def _label(key: str, labels: Mapping[str, str]) -> str:
    if key in labels:
        return labels[key]
    for prefix, label in labels.items():  # data.train.0.root -> --data
        if key.startswith(prefix + "."):
            return f"{label} ({key})"
    return key


def saved_run(out_dir: str | Path, sections: tuple[str, ...] = RESULT_SECTIONS) -> SavedRun | None:
    """The settings a run folder holds (config.yaml, else checkpoints/last.pt); None for a folder without a run."""
    from compresstracker.training.engine import CHECKPOINT_DIR, LAST

    out_dir = Path(out_dir)
    last = out_dir / CHECKPOINT_DIR / LAST
    state = _read_state(last) if last.is_file() else None
    config_path = out_dir / CONFIG_FILE
    config: dict[str, Any] | None = None
    if config_path.is_file():
        try:
            config = yaml.safe_load(config_path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{config_path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(config, dict):
            raise ConfigError(f"{config_path} does not hold a run's settings")
    elif state is not None and state.get("recipe_yaml"):
        config = yaml.safe_load(state["recipe_yaml"])
    if config is None:
        return None
    run_info = (state or {}).get("run_info") or {}
    provenance = config.get("provenance") or {}
    return SavedRun(
        recipe={k: config[k] for k in (*sections, "source") if k in config},
        teacher_sha256=run_info.get("teacher_sha256") or provenance.get("teacher_sha256"),
        threads=config.get("threads", run_info.get("threads")),
        world_size=config.get("world_size", provenance.get("world_size")),
        epochs_done=int(state["epoch"]) if state is not None and "epoch" in state else None,
        extra={k: v for k, v in config.items() if k not in (*sections, "source")},
    )


def _read_state(path: Path) -> dict[str, Any]:
    """The small fields of a training checkpoint, without reading its tensors into memory."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:
        raise ConfigError(f"cannot read {path}: {exc}".splitlines()[0]) from None
    if not isinstance(state, dict):
        raise ConfigError(f"{path} is not a ctrack training checkpoint")
    return {k: state[k] for k in ("epoch", "recipe_yaml", "run_info", "format") if k in state}
