"""MixFormerV2's family (NeurIPS 2023): a mixed-attention ViT over two templates, the search region
and four prediction tokens, with side-distribution box and score MLP heads.

Registered in one call: the network and its named configs (:mod:`.config`, :mod:`.network`), the
official release layout read off the weights (:mod:`.weights`), the online tracking loop and its
presets (:mod:`.tracker`), the exported graph (:mod:`.deploy`), the MAC count (:mod:`.macs`), the
training task (:mod:`.training`), the teacher adapter (:mod:`.compression`) and the release layout
a compressed student is written in.
"""
from __future__ import annotations

from typing import Any

from compresstracker.families import Architecture, FamilyPlugin, register_plugin
from compresstracker.families.mixformerv2.compression import MixFormerV2Adapter
from compresstracker.families.mixformerv2.config import FAMILY, LIMITS, NAMED_CONFIGS, MixFormerV2Config, named_config
from compresstracker.families.mixformerv2.deploy import MixFormerV2Family
from compresstracker.families.mixformerv2.macs import RULES, count_macs
from compresstracker.families.mixformerv2.network import MixFormerV2Net
from compresstracker.families.mixformerv2.tracker import (
    DEFAULT_PRESET,
    MIXFORMERV2_PRESETS,
    MixFormerV2Params,
    MixFormerV2Tracker,
    build_tracker,
    mixformerv2_params,
)
from compresstracker.families.mixformerv2.training import TRAINING
from compresstracker.families.mixformerv2.weights import FORMAT, RELEASE, config_from_state
from compresstracker.models import ModelFamily
from compresstracker.tracking.registry import TrackerKind

__all__ = [
    "DEFAULT_PRESET", "FAMILY", "MIXFORMERV2_PRESETS", "MixFormerV2Config", "MixFormerV2Net", "MixFormerV2Params",
    "MixFormerV2Tracker", "NAMED_CONFIGS", "PLUGIN", "build_tracker", "config_from_state", "mixformerv2_params",
    "named_config",
]


def _summary(c: MixFormerV2Config) -> dict[str, Any]:
    return {"depth": c.depth, "embed_dim": c.embed_dim, "num_heads": c.num_heads, "mlp_ratio": c.mlp_ratio,
            "patch_size": c.patch_size, "bins": c.bins}


def _architecture(c: MixFormerV2Config) -> str:
    return (f"mixed-attention ViT {c.depth} blocks x {c.embed_dim}, {c.num_heads} heads, MLP x{c.mlp_ratio:g}, "
            f"patch {c.patch_size}, {c.template_size}/{c.search_size} inputs, {c.bins} bins")


def _inspect(c: MixFormerV2Config, model: Any) -> dict[str, Any]:
    return {"template_factor": c.template_factor, "search_factor": c.search_factor,
            "tokens": c.num_tokens}


PLUGIN = register_plugin(FamilyPlugin(
    model=ModelFamily(
        FAMILY, "mixed-attention ViT with prediction tokens and side-distribution box head (MixFormerV2)",
        MixFormerV2Config, MixFormerV2Net, _summary, _architecture, inspect=_inspect, limits=LIMITS,
    ),
    architectures=tuple(Architecture(name, description, config) for name, (config, description) in NAMED_CONFIGS.items()),
    formats=(FORMAT,),
    tracker=TrackerKind(
        FAMILY, "MixFormerV2's online loop: full network per frame, score-gated online-template update, no window",
        build_tracker, presets=MIXFORMERV2_PRESETS,
    ),
    deploy=MixFormerV2Family(),
    macs=count_macs,
    macs_rules=RULES,
    training=TRAINING,
    adapter=MixFormerV2Adapter(),
    release=RELEASE,
    tiny="mixformerv2_tiny",
    recipe="mixformerv2_tiny",
))
