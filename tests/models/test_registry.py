"""Registered architectures: the numbers of OSTrack-256/384 and the tiny test sizes."""
from __future__ import annotations

import pytest
import torch

from compresstracker.errors import ConfigError
from compresstracker.models import build_model, get_config, list_models


def meta_parameter_count(name: str) -> int:
    with torch.device("meta"):  # no memory is allocated for the weights
        model = build_model(name)
    assert all(p.is_meta for p in model.parameters())
    return sum(p.numel() for p in model.parameters())


def test_ostrack_256_has_92_5_million_parameters():
    assert round(meta_parameter_count("ostrack_vitb_256_ce") / 1e6, 1) == 92.5


def test_ostrack_384_differs_only_in_position_tables():
    extra = meta_parameter_count("ostrack_vitb_384_ce") - meta_parameter_count("ostrack_vitb_256_ce")
    assert extra == (144 - 64 + 576 - 256) * 768


def test_ostrack_configs():
    c256, c384, plain = get_config("ostrack_vitb_256_ce"), get_config("ostrack_vitb_384_ce"), get_config("ostrack_vitb_256")
    assert (c256.embed_dim, c256.depth, c256.num_heads, c256.patch_size) == (768, 12, 12, 16)
    assert (c256.template_size, c256.search_size, c256.search_factor, c256.template_factor) == (128, 256, 4.0, 2.0)
    assert (c256.num_template_tokens, c256.num_search_tokens, c256.legacy_pos_len) == (64, 256, 197)
    assert c256.ce_layers == (3, 6, 9) and c256.ce_keep_ratios == (0.7, 0.7, 0.7) and c256.has_ce
    assert (c384.template_size, c384.search_size, c384.search_factor, c384.search_feat) == (192, 384, 5.0, 24)
    assert c384.ce_layers == (3, 6, 9)
    assert not plain.has_ce
    assert plain.replace(arch="x", ce_layers=(3, 6, 9), ce_keep_ratios=(0.7,) * 3) == c256.replace(arch="x")


def test_listing_and_overrides():
    names = [row["name"] for row in list_models()]
    expected = {"ostrack_vitb_256_ce", "ostrack_vitb_384_ce", "ostrack_vitb_256", "tiny_64_ce", "tiny_256_ce", "tiny_256"}
    assert expected <= set(names)
    assert get_config("tiny_256_ce", depth=4, ce_layers=(1,), ce_keep_ratios=(0.5,)).depth == 4
    with pytest.raises(ConfigError, match="unknown architecture"):
        get_config("ostrack_vitl_999")
    with pytest.raises(ConfigError, match="ce_layers"):
        get_config("tiny_64_ce", depth=4)  # CE at block 9 of a 4-block model


def test_state_dict_keys_are_ostracks():
    keys = set(build_model("tiny_64_ce", legacy_pos_len=5).state_dict())
    expected = {"backbone.cls_token", "backbone.pos_embed", "backbone.pos_embed_z", "backbone.pos_embed_x",
                "backbone.patch_embed.proj.weight", "backbone.patch_embed.proj.bias",
                "backbone.norm.weight", "backbone.norm.bias"}
    for i in range(12):
        for part in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            expected |= {f"backbone.blocks.{i}.{part}.weight", f"backbone.blocks.{i}.{part}.bias"}
    for branch in ("ctr", "offset", "size"):
        for j in range(1, 5):
            expected |= {f"box_head.conv{j}_{branch}.0.{p}" for p in ("weight", "bias")}
            bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
            expected |= {f"box_head.conv{j}_{branch}.1.{p}" for p in bn}
        expected |= {f"box_head.conv5_{branch}.weight", f"box_head.conv5_{branch}.bias"}
    assert keys == expected


def test_families_dispatch_build_config_and_listing():
    from compresstracker.models import config_from_dict, family_of
    from compresstracker.families.lighttrack.arch import LightTrackConfig
    from compresstracker.families.lighttrack.network import LightTrackNet
    from compresstracker.families.ostrack.network import OSTrackNet

    assert isinstance(build_model("lighttrack_tiny"), LightTrackNet)
    assert isinstance(build_model("tiny_64_ce"), OSTrackNet)
    tiny = get_config("lighttrack_tiny", search_size=144)
    assert isinstance(tiny, LightTrackConfig) and tiny.search_size == 144 and family_of(tiny).name == "lighttrack"
    # Stored configs come back as their own family; OSTrack configs carry no family entry.
    assert config_from_dict(tiny.to_dict()) == tiny
    ostrack = get_config("tiny_64_ce")
    assert "family" not in ostrack.to_dict() and config_from_dict(ostrack.to_dict()) == ostrack
    families = {row["name"]: row["family"] for row in list_models()}
    assert families["lighttrack_mobile"] == "lighttrack" and families["ostrack_vitb_256_ce"] == "ostrack"
    with pytest.raises(ConfigError, match="unknown model family 'siamfc'"):
        config_from_dict({"family": "siamfc"})
