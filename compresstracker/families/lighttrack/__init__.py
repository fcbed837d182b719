"""LightTrack's family: searched Siamese trackers (MBConv backbone, pixel-wise correlation, DSConv towers).

Registered in one call: the network, its path strings and named configs (:mod:`.arch`,
:mod:`.network`), the official release layout read off the weights (:mod:`.weights`), the Siamese
tracking loop and its presets (:mod:`.tracker`), the two exported graphs (:mod:`.deploy`), thop's
MAC count (:mod:`.macs`), the training task (:mod:`.training`), and the weight-sharing supernet
with its SPOS task and search space (:mod:`.supernet`, :mod:`.space`). LightTrack is a CNN:
it has no teacher adapter (CompressTracker compresses transformers) and no release layout of
ctrack's making (a trained network is written in ctrack's native file).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

from compresstracker.checkpoints.formats import CheckpointFormat
from compresstracker.errors import ConfigError
from compresstracker.families import Architecture, FamilyPlugin, SupernetPlugin, register_plugin
from compresstracker.families.lighttrack.arch import LIMITS, MOBILE_PATH, LightTrackArch, LightTrackConfig
from compresstracker.families.lighttrack.deploy import LightTrackFamily
from compresstracker.families.lighttrack.macs import RULES, count_lighttrack_macs
from compresstracker.families.lighttrack.network import LightTrackNet
from compresstracker.families.lighttrack.space import LightTrackSpace
from compresstracker.families.lighttrack.supernet import LightTrackSupernet, SupernetConfig
from compresstracker.families.lighttrack.tracker import LIGHTTRACK_PRESETS, LightTrackTracker
from compresstracker.families.lighttrack.training import SUPERNET_TRAINING, TRAINING
from compresstracker.families.lighttrack.weights import infer_lighttrack_config
from compresstracker.models import ModelFamily, config_from_dict
from compresstracker.tracking.registry import TrackerKind

__all__ = ["LightTrackConfig", "LightTrackNet", "LightTrackSupernet", "LightTrackTracker", "PLUGIN"]


def _summary(c: LightTrackConfig) -> dict[str, Any]:
    return {"arch_path": c.path, "stride": c.stride, "output_channels": c.output_channels}


def _spec(spec: str) -> LightTrackConfig | None:
    """A path string, or a ``.json`` file holding a path string, an architecture or a whole config.

    A bare architecture gets LightTrack-Mobile's channels and sizes (change them with overrides).
    """
    text = spec.strip()
    if text.startswith("back_"):
        arch = LightTrackArch.from_path(text)
    elif text.lower().endswith(".json"):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"architecture file {path} does not exist")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path} is not a readable JSON file ({exc})") from None
        if isinstance(data, dict) and "family" in data:
            return config_from_dict(data)
        if isinstance(data, dict) and isinstance(data.get("config"), dict):  # a search's best.json: the whole network config
            return config_from_dict(data["config"])
        arch = LightTrackArch.parse(data if isinstance(data, dict) else str(data))
    else:
        return None
    name = "lighttrack_mobile" if arch.to_path() == MOBILE_PATH else "lighttrack_custom"
    return LightTrackConfig(name=name, arch=arch)


def _infer(state: Mapping[str, torch.Tensor], fmt: CheckpointFormat, source: str, num_heads: int | None) -> LightTrackConfig:
    return infer_lighttrack_config(state, source)


MOBILE = LightTrackConfig()
# Mobile's path with narrow channels at Mobile's input sizes (so the tracker presets apply): every
# code path on a CPU in milliseconds.
_TINY: dict = dict(stem_channels=8, stage_channels=(8, 16, 24, 24), head_widths=(16, 24, 32), adj_channels=16)
TINY = LightTrackConfig(name="lighttrack_tiny", **_TINY)

PLUGIN = register_plugin(FamilyPlugin(
    model=ModelFamily(
        "lighttrack", "searched Siamese tracker: MBConv backbone, pixel-wise correlation, DSConv towers (LightTrack)",
        LightTrackConfig, LightTrackNet, _summary, lambda c: c.path, parse_spec=_spec,
        spec_hint="a LightTrack path string (back_...+cls_...+reg_..._ops_XY) or a .json architecture file", limits=LIMITS,
    ),
    architectures=(
        Architecture("lighttrack_mobile", "LightTrack-Mobile (CVPR 2021): the searched path, 128/256 inputs, 1.97M params", MOBILE),
        Architecture("lighttrack_tiny", "LightTrack-Mobile's path with 8-24-channel stages and 16/24/32-wide heads (tests, CPU demos)", TINY),
        Architecture("lighttrack_tiny_s8", "Tiny LightTrack with its output at stride 8 (c40 block 3) (tests)",
                     LightTrackConfig(name="lighttrack_tiny_s8", arch="back_04502514044521042540+cls_000222222+reg_010222222_ops_13",
                                      **_TINY)),
    ),
    formats=(CheckpointFormat(
        "lighttrack",
        "LightTrack release ({'state_dict': ...} or a raw state dict); the architecture is read off the weights",
        requires=("features.conv_stem.", "features.blocks.", "neck.", "feature_fusor.", "head."),
        family="lighttrack", infer=_infer,
    ),),
    tracker=TrackerKind(
        "lighttrack", "LightTrack's Siamese loop: cosine window, scale/ratio penalty, smoothed size update",
        lambda network, device, preset, params: LightTrackTracker(network, device, preset, params),
        presets=tuple(LIGHTTRACK_PRESETS),
    ),
    deploy=LightTrackFamily(),
    macs=count_lighttrack_macs,
    macs_rules=RULES,
    training=TRAINING,
    supernet=SupernetPlugin(
        model=ModelFamily(
            SupernetConfig.FAMILY, "LightTrack's weight-sharing supernet: every path of the search space (one-shot NAS)",
            SupernetConfig, LightTrackSupernet,
            lambda c: {"paths_of": c.base.name, "stage_channels": list(c.base.stage_channels), "head_widths": list(c.base.head_widths)},
            lambda c: f"supernet: 14 blocks x 6, 8 outputs, heads {'/'.join(map(str, c.base.head_widths))} x 8 layers",
        ),
        architectures=(
            Architecture("lighttrack_supernet", "LightTrack's search space as a supernet (Mobile's channels, 128/256 inputs)",
                         SupernetConfig("lighttrack_supernet", MOBILE)),
            Architecture("lighttrack_supernet_tiny", "The same space with lighttrack_tiny's channels and 64/128 inputs (CPU demos)",
                         SupernetConfig("lighttrack_supernet_tiny", TINY.replace(template_size=64, search_size=128))),
        ),
        training=SUPERNET_TRAINING,
        space=LightTrackSpace,
        space_description="LightTrack: 14 MBConv blocks x 6, output block, two heads (width, 8 layers)",
    ),
    tiny="lighttrack_tiny",
    recipe="lighttrack_tiny",
))
