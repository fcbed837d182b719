"""OSTrack's family: one-stream ViT with candidate elimination and a centre head (OSTrack, CompressTracker).

Everything ctrack knows about it, registered in one call: the network and its named configs
(:mod:`.config`, :mod:`.network`), OSTrack's and CompressTracker's release layouts (:mod:`.weights`),
the tracking loop (:mod:`.tracker`), the exported graph (:mod:`.deploy`), the MAC count
(:mod:`.macs`), the training task (:mod:`.training`) and the teacher adapter (:mod:`.compression`).
"""
from __future__ import annotations

from typing import Any

from compresstracker.families import Architecture, FamilyPlugin, register_plugin
from compresstracker.families.ostrack.compression import OneStreamViTAdapter
from compresstracker.families.ostrack.config import LIMITS, OSTrackConfig
from compresstracker.families.ostrack.deploy import OstrackFamily
from compresstracker.families.ostrack.macs import RULES, count_macs
from compresstracker.families.ostrack.network import OSTrackNet
from compresstracker.families.ostrack.tracker import OSTrackTracker
from compresstracker.families.ostrack.training import TRAINING
from compresstracker.families.ostrack.weights import FORMATS, RELEASE
from compresstracker.models import ModelFamily
from compresstracker.tracking.registry import TrackerKind
from compresstracker.families.elastic_space import ElasticConfig, ElasticViTSpace
from compresstracker.search.space import register_space

__all__ = ["OSTrackConfig", "OSTrackNet", "OSTrackTracker", "PLUGIN"]


def _summary(c: OSTrackConfig) -> dict[str, Any]:
    return {
        "depth": c.depth, "embed_dim": c.embed_dim, "num_heads": c.num_heads, "patch_size": c.patch_size,
        "ce": c.has_ce, "ce_layers": list(c.ce_layers),
    }


def _architecture(c: OSTrackConfig) -> str:
    ce = f", CE at {','.join(map(str, c.ce_layers))}" if c.has_ce else ""
    return f"ViT {c.depth} blocks x {c.embed_dim}, {c.num_heads} heads, patch {c.patch_size}{ce}"


def _inspect(c: OSTrackConfig, model: Any) -> dict[str, Any]:
    return {"ce": model.ce_enabled, "ce_keep_ratios": list(c.ce_keep_ratios), "search_factor": c.search_factor}


_NO_CE: dict = {"ce_layers": (), "ce_keep_ratios": ()}
# Tiny sizes run every code path on a CPU in milliseconds (tests, examples).
_TINY: dict = dict(embed_dim=32, num_heads=2, head_channels=16, legacy_pos_len=0)


def _arch(name: str, description: str, **fields: Any) -> Architecture:
    return Architecture(name, description, OSTrackConfig(arch=name, **fields))


PLUGIN = register_plugin(FamilyPlugin(
    model=ModelFamily(
        "ostrack", "one-stream ViT tracker with candidate elimination and a centre head (OSTrack, CompressTracker)",
        OSTrackConfig, OSTrackNet, _summary, _architecture, default=True, supports_ce=True, inspect=_inspect, limits=LIMITS,
    ),
    architectures=(
        _arch("ostrack_vitb_256_ce", "OSTrack-256: ViT-B/16, 128/256 inputs, candidate elimination at 3, 6, 9"),
        _arch("ostrack_vitb_384_ce", "OSTrack-384: ViT-B/16, 192/384 inputs, candidate elimination at 3, 6, 9",
              template_size=192, search_size=384, search_factor=5.0),
        _arch("ostrack_vitb_256", "OSTrack-256 without candidate elimination", **_NO_CE),
        _arch("tiny_256_ce", "ViT 32-wide, 12 blocks, 128/256 inputs, CE at 3, 6, 9 (tests)", **_TINY),
        _arch("tiny_256", "ViT 32-wide, 12 blocks, 128/256 inputs, no CE (tests)", **_TINY, **_NO_CE),
        _arch("tiny_64_ce", "ViT 32-wide, 12 blocks, patch 8, 32/64 inputs, CE at 3, 6, 9 (fast tests)",
              **_TINY, patch_size=8, template_size=32, search_size=64),
        _arch("ctrack_tiny_ce", "Built-in teacher: ViT 64-wide, 12 blocks, patch 8, 48/96 inputs, CE at 3, 6, 9 (CPU-sized)",
              embed_dim=64, num_heads=2, patch_size=8, template_size=48, search_size=96, head_channels=64, legacy_pos_len=0),
    ),
    formats=FORMATS,
    tracker=TrackerKind(
        "ostrack", "OSTrack's loop: fixed template, Hann-windowed centre head, no update",
        lambda network, device, preset, params: OSTrackTracker(network, device),
    ),
    deploy=OstrackFamily(),
    macs=count_macs,
    macs_rules=RULES,
    training=TRAINING,
    adapter=OneStreamViTAdapter(),
    release=RELEASE,
    tiny="tiny_64_ce",
    recipe="ostrack_tiny",
))
# the students of an elastic compression run (compress --elastic) are searchable: ctrack search --supernet RUN
register_space(ElasticConfig.family, ElasticViTSpace, "ViT elastic: depth and MLP width per stage of a compress --elastic run")
