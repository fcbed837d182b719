"""LightTrack architectures as values: path strings, JSON, validation, configs."""
from __future__ import annotations

import pytest

from compresstracker.errors import ConfigError
from compresstracker.families.lighttrack.arch import (
    MOBILE_PATH,
    HeadArch,
    LightTrackArch,
    LightTrackConfig,
    backbone_choice,
)


def test_mobile_path_decodes_to_the_published_architecture():
    arch = LightTrackArch.from_path(MOBILE_PATH)
    # (kernel, expansion) per built block, from the spec's table of LightTrack-Mobile.
    built = [(k, e) for _, _, k, e in arch.built_blocks()]
    assert built == [
        (7, 4), (7, 6),
        (3, 4), (5, 4), (7, 6), (3, 6),
        (7, 4), (3, 4), (7, 4), (7, 4),
        (7, 6), (5, 4), (3, 6),
    ]
    assert arch.output == (3, 2)
    assert arch.stage_choices(3) == (5, 2, 1, 0)  # the 4th c96 gene is carried, not built
    assert arch.unused == (4, 2, 5, 4)
    assert (arch.cls.width, arch.cls.kernels) == (2, (5, 5, 3, 3, 3, 3))
    assert (arch.reg.width, arch.reg.kernels) == (1, (3, 3, 3, 3, 3, 5, 5, 5))


@pytest.mark.parametrize("path", [
    MOBILE_PATH,
    "back_00123450123450123450+cls_011111111+reg_200000000_ops_10",
    "back_05555555555555555550+cls_100220020+reg_012222222_ops_23",
])
def test_path_string_round_trip(path):
    arch = LightTrackArch.from_path(path)
    assert arch.to_path() == path
    assert LightTrackArch.from_json(arch.to_json()) == arch
    assert LightTrackArch.parse(arch.to_json()) == arch
    assert LightTrackArch.parse(path) == arch
    assert LightTrackArch.from_dict(arch.to_dict()) == arch


@pytest.mark.parametrize("path, words", [
    ("back_0450251404452104254+cls_211000022+reg_100000111_ops_32", "20 digits"),
    ("back_14502514044521042540+cls_211000022+reg_100000111_ops_32", "must be a 0"),
    ("back_04502514044521042560+cls_211000022+reg_100000111_ops_32", "0..5"),
    ("back_04502514044521042540+cls_221000022+reg_100000111_ops_32", "cannot be skip"),
    ("back_04502514044521042540+cls_211000023+reg_100000111_ops_32", "0..2"),
    ("back_04502514044521042540+cls_21100002+reg_100000111_ops_32", "width index and 8"),
    ("back_04502514044521042540+cls_211000022+reg_100000111_ops_34", "not one of"),
    ("back_04502514044521042540+cls_211000022+reg_100000111_ops_02", "not one of"),
    ("lighttrack", "not a LightTrack path string"),
])
def test_bad_path_strings_are_one_line_errors(path, words):
    with pytest.raises(ConfigError, match=words) as info:
        LightTrackArch.from_path(path)
    assert "\n" not in str(info.value)


def test_head_from_kernels_is_canonical():
    head = HeadArch.from_kernels(1, (3, 5))
    assert head.ops == (0, 1, 2, 2, 2, 2, 2, 2) and head.kernels == (3, 5)
    # Skips anywhere build the same layers.
    assert HeadArch(1, (0, 2, 2, 1, 2, 2, 2, 2)).kernels == head.kernels
    assert backbone_choice(7, 6) == 5
    with pytest.raises(ConfigError):
        backbone_choice(9, 4)


def test_config_derived_numbers_and_json_round_trip():
    config = LightTrackConfig()
    assert config.path == MOBILE_PATH
    assert (config.output_channels, config.stride, config.correlation_channels, config.score_size) == (96, 16, 64, 16)
    assert config.feature_size(127) == 8 and config.feature_size(288) == 18
    stride8 = config.replace(arch=MOBILE_PATH.replace("_ops_32", "_ops_13"))
    assert (stride8.output_channels, stride8.stride, stride8.correlation_channels, stride8.score_size) == (40, 8, 256, 32)
    data = config.to_dict()
    assert data["family"] == "lighttrack" and data["arch"] == MOBILE_PATH
    assert LightTrackConfig.from_dict(data) == config
    with pytest.raises(ConfigError, match="unknown LightTrack config keys: depth"):
        LightTrackConfig.from_dict({**data, "depth": 3})
    with pytest.raises(ConfigError, match="head_widths"):
        config.replace(head_widths=(8, 16))
