"""Load any checkpoint ctrack understands into its family's network: read safely, detect, map keys, load strictly."""
from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import safetensors
import torch
from torch import nn

from compresstracker.checkpoints.formats import (
    RELEASE_CONFIG_KEY,
    TRAIN_STATE_FORMAT,
    CheckpointFormat,
    config_from_dict,
    detect_format,
    find_state_dict,
    first_items,
    infer_family_config,
    native_config,
    native_extras,
)
from compresstracker.checkpoints.safe_pickle import load_pickle_checkpoint, require_file
from compresstracker.errors import CheckpointError, CTrackWarning, GuessedConfigWarning
from compresstracker.models import build_model, family_of, get_config, list_models

__all__ = ["LoadedCheckpoint", "checkpoint_info", "inspect_checkpoint", "load_checkpoint", "load_model"]


@dataclass
class LoadedCheckpoint:
    """A checkpoint loaded into an eval-mode CPU network of its family, with what was learned on the way."""

    model: nn.Module  # the network of its family
    config: Any  # its family's config
    format: str
    ignored: list[str] = field(default_factory=list)  # pickled globals that were not rebuilt
    dropped_keys: int = 0  # teacher keys removed from CompressTracker training files
    metadata: dict[str, Any] = field(default_factory=dict)  # native files: plan, provenance, format_version


SAFETENSORS_SUFFIX = ".safetensors"


def _safetensors_header(path: Path) -> tuple[int, int] | None:
    """(header length the file declares, file size) when it starts like a safetensors file (an 8-byte
    little-endian length, then a JSON object); None when it does not."""
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9 or head[8:] != b"{":
        return None
    return struct.unpack("<Q", head[:8])[0], path.stat().st_size


def unfinished_run(path: str | Path) -> str | None:
    """``epoch E of N`` when ``path`` is a student a run exported before it finished (marked in its
    provenance), else None. Reads the safetensors header only."""
    path = Path(path)
    header = _safetensors_header(path) if path.is_file() else None
    if header is None or 8 + header[0] > header[1]:
        return None
    try:
        with safetensors.safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
    except safetensors.SafetensorError:
        return None  # a damaged file is reported by whatever loads it
    return _unfinished(native_extras(metadata, path.name).get("provenance"))


def _unfinished(provenance: Any) -> str | None:
    if isinstance(provenance, Mapping) and provenance.get("unfinished"):
        return f"epoch {provenance.get('epoch')} of {provenance.get('epochs')}"
    return None


def _read(path: Path) -> tuple[Any, dict[str, str], list[str]]:
    """(loaded object, safetensors metadata, ignored pickled globals).

    A ``.safetensors`` name promises safetensors content: anything else under it (a pickle, a torch
    zip) is refused, never unpickled; a damaged header is named as such.
    """
    require_file(path)
    header = _safetensors_header(path)
    if header is None:
        if path.suffix.lower() == SAFETENSORS_SUFFIX:
            raise CheckpointError(f"{path.name} is not a safetensors file (no safetensors header); a .safetensors name must hold one")
        obj, ignored = load_pickle_checkpoint(path)
        return obj, {}, ignored
    length, size = header
    if 8 + length > size:
        raise CheckpointError(
            f"{path.name} is a damaged safetensors file: its header says {length} bytes but the file holds {size - 8} after the length"
        )
    try:
        with safetensors.safe_open(str(path), framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {}), []
    except safetensors.SafetensorError as exc:
        raise CheckpointError(f"{path.name} is a damaged safetensors file ({exc})") from None


def _base_config(
    obj: Any, metadata: Mapping[str, str], state: Mapping[str, torch.Tensor], fmt: CheckpointFormat,
    source: str, num_heads: int | None,
) -> tuple[Any, bool]:
    """(config, whether it was inferred from shapes). Files ctrack wrote carry their config."""
    if fmt.metadata_key is not None:
        return native_config(metadata, source), False
    if _is_train_state(obj):
        if isinstance(obj.get("model_config"), Mapping):
            return config_from_dict(obj["model_config"], f"{source}['model_config']"), False
        model = _train_state_recipe(obj).get("model")
        if isinstance(model, Mapping) and model.get("arch") in {m["name"] for m in list_models()}:  # written before model_config
            overrides = dict(model.get("overrides") or {})
            return get_config(model["arch"], **overrides), False
    if isinstance(obj, Mapping) and isinstance(obj.get(RELEASE_CONFIG_KEY), Mapping):
        return config_from_dict(obj[RELEASE_CONFIG_KEY], f"{source}['{RELEASE_CONFIG_KEY}']"), False
    return infer_family_config(state, fmt, source, num_heads), True


def _warn_guessed(source: str, config: Any, fmt: CheckpointFormat, given: set[str]) -> None:
    """One warning line naming the config values that were assumed (the format's ``guessed``), and how to set them."""
    guessed = [name for name in fmt.guessed if name not in given]
    if not guessed:
        return
    values = ", ".join(f"{name}={_plain(getattr(config, name))}" for name in guessed)
    warnings.warn(GuessedConfigWarning(
        f"{source} ({fmt.name} layout) does not store its model config; assumed {values} (OSTrack's conventions); if one is wrong, every score is: "
        f"write the right ones into a file once with `ctrack export {source} --format safetensors --num-heads N "
        "--config FIELD=VALUE -o FIXED.safetensors`"
    ), stacklevel=3)


def _plain(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    return str(value)


def _is_train_state(obj: Any) -> bool:
    return isinstance(obj, Mapping) and obj.get("format") == TRAIN_STATE_FORMAT


def _train_state_recipe(obj: Mapping) -> dict:
    import yaml

    try:
        recipe = yaml.safe_load(obj.get("recipe_yaml") or "")
    except yaml.YAMLError:
        return {}
    return recipe if isinstance(recipe, dict) else {}


def _check_fits(config: Any, state: Mapping[str, torch.Tensor], fmt: str, source: str) -> None:
    """An error unless the file's keys and shapes are exactly those of the network ``config`` builds.

    The network is built on the meta device (shapes, no memory), so a config that does not describe
    the weights beside it (a forged or mistaken one) is refused before a byte is allocated for it.
    """
    with torch.device("meta"):
        expected = build_model(config).state_dict()
    # BatchNorm step counters do nothing at inference; files saved without them load as the model's.
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        problems = [f"missing {len(missing)} keys: {first_items(missing)}"] if missing else []
        problems += [f"unexpected {len(unexpected)} keys: {first_items(unexpected)}"] if unexpected else []
        raise CheckpointError(
            f"{source} ({fmt} layout) does not fit a {config.name} model: {'; '.join(problems)}; "
            "check that it is a tracker checkpoint and that num_heads/config overrides match it"
        )
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise CheckpointError(
                f"{source}: shape mismatch for {key}: checkpoint {list(tensor.shape)} vs model "
                f"{list(expected[key].shape)}; the config does not match the weights"
            )


def _load_strict(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load a state dict :func:`_check_fits` accepted (missing BatchNorm step counters keep the model's)."""
    expected = model.state_dict()
    state = {**{k: v for k, v in expected.items() if k.endswith("num_batches_tracked") and k not in state}, **state}
    model.load_state_dict(state, strict=True)


def _ce_enabled(config: Any, ce: bool | None, source: str) -> bool:
    if not family_of(config).supports_ce:
        if ce:
            raise CheckpointError(f"{source}: a {family_of(config).name} model has no candidate elimination (CE)")
        return False
    if ce is None:
        return config.has_ce
    if ce and not config.has_ce:
        raise CheckpointError(
            f"{source}: the model has no candidate-elimination (CE) layers; load it without ce=True, "
            "or give ce_layers and ce_keep_ratios as config overrides"
        )
    return bool(ce)


def load_checkpoint(
    path: str | Path,
    ce: bool | None = None,
    num_heads: int | None = None,
    config_overrides: Mapping[str, Any] | None = None,
) -> LoadedCheckpoint:
    """Load a checkpoint of any known format into an eval-mode network of its family on the CPU.

    ``ce``: None keeps the checkpoint's default (OSTrack: on), False runs all blocks plain.
    ``num_heads`` (ViT files) and ``config_overrides`` (fields of the family's config) fix what the
    weights cannot tell.
    """
    path = Path(path)
    source = path.name
    obj, metadata, ignored = _read(path)
    state = find_state_dict(obj, source)
    fmt = detect_format(set(state), metadata, source)
    state, dropped = fmt.convert(state)
    config, inferred = _base_config(obj, metadata, state, fmt, source, num_heads)
    overrides = dict(config_overrides or {})
    if num_heads is not None:
        overrides["num_heads"] = num_heads
    if overrides:
        config = config_from_dict({**config.to_dict(), **overrides}, "config overrides")
    if inferred and fmt.name_config is not None and "arch" not in overrides:
        config = fmt.name_config(config)
    if inferred:
        _warn_guessed(source, config, fmt, set(overrides))
    _check_fits(config, state, fmt.name, source)
    model = build_model(config)
    _load_strict(model, state)
    model.eval()
    model.ce_enabled = _ce_enabled(config, ce, source)
    extras = native_extras(metadata, source) if fmt.metadata_key is not None else {}
    stopped = _unfinished(extras.get("provenance"))
    if stopped:
        warnings.warn(CTrackWarning(f"{source} is the student of an unfinished run (exported after {stopped}); "
                                    "resume the run (--resume) for the finished student"), stacklevel=2)
    return LoadedCheckpoint(
        model=model,
        config=config,
        format="ctrack_train_state" if _is_train_state(obj) else fmt.name,
        ignored=ignored,
        dropped_keys=dropped,
        metadata=extras,
    )


def load_model(path: str | Path, ce: bool | None = None, device: str | torch.device = "cpu", **kwargs: Any) -> nn.Module:
    """The eval-mode network of a checkpoint on ``device``; see :func:`load_checkpoint` for the arguments."""
    return load_checkpoint(path, ce=ce, **kwargs).model.to(device)


def inspect_checkpoint(path: str | Path, **kwargs: Any) -> dict[str, Any]:
    """What a checkpoint holds: format, family, architecture, parameter count, what was ignored or dropped."""
    return checkpoint_info(path, load_checkpoint(path, **kwargs))


def checkpoint_info(path: str | Path, loaded: LoadedCheckpoint) -> dict[str, Any]:
    """The :func:`inspect_checkpoint` summary of an already loaded checkpoint."""
    c = loaded.config
    family = family_of(c)
    info: dict[str, Any] = {
        "path": str(path),
        "format": loaded.format,
        "family": family.name,
        "arch": c.name,
        "architecture": family.architecture(c),
        **family.summary(c),
        "template_size": c.template_size,
        "search_size": c.search_size,
    }
    if family.inspect is not None:
        info.update(family.inspect(c, loaded.model))
    info.update({
        "params": sum(p.numel() for p in loaded.model.parameters()),
        "ignored": loaded.ignored,
        "dropped_keys": loaded.dropped_keys,
        "config": c.to_dict(),
    })
    info.update({k: v for k, v in loaded.metadata.items() if k in ("plan", "provenance")})
    return info
