"""LightTrack checkpoints: the official release layout, architecture read off the weights, strictness,
ctrack's own safetensors, and `ctrack inspect`."""
from __future__ import annotations

import pytest
import torch

from compresstracker.checkpoints import load_checkpoint, load_model, save_native
from compresstracker.families.lighttrack.weights import canonical_arch
from compresstracker.errors import CheckpointError
from compresstracker.models import build_model, get_config
from compresstracker.families.lighttrack.arch import LightTrackConfig
from compresstracker.families.lighttrack.network import LightTrackNet
from compresstracker.families.lighttrack.arch import MOBILE_PATH
from tests.conftest import randomize_model

# Stride-8 output, skips inside the towers, 192-channel genes that differ from 0.
ODD_PATH = "back_00123450123450154320+cls_012020102+reg_201222222_ops_12"


def _official_file(path, net: LightTrackNet, prefix: str = "", container: bool = True):
    """Save as the official code does: {'state_dict': OrderedDict} with num_batches_tracked."""
    state = {prefix + k: v for k, v in net.state_dict().items()}
    assert any(k.endswith("num_batches_tracked") for k in state)
    torch.save({"epoch": 50, "state_dict": state} if container else state, path)
    return path


def _outputs(net, seed=0, template=128, search=256):
    gen = torch.Generator().manual_seed(seed)
    z, x = torch.randn(1, 3, template, template, generator=gen), torch.randn(1, 3, search, search, generator=gen)
    with torch.no_grad():
        return net(z, x)


def _assert_same_outputs(a, b, **sizes):
    oa, ob = _outputs(a, **sizes), _outputs(b, **sizes)
    assert torch.equal(oa["cls"], ob["cls"]) and torch.equal(oa["reg"], ob["reg"])


def test_official_mobile_file_loads_with_no_flags(tmp_path):
    net = randomize_model(build_model("lighttrack_mobile"), seed=2)
    path = _official_file(tmp_path / "LightTrackM.pth", net)
    loaded = load_checkpoint(path)
    assert loaded.format == "lighttrack" and isinstance(loaded.model, LightTrackNet)
    assert loaded.config == get_config("lighttrack_mobile")  # the official string, c192 genes included
    assert loaded.config.path == MOBILE_PATH
    assert sum(p.numel() for p in loaded.model.parameters()) == 1_969_397
    _assert_same_outputs(net, loaded.model, template=127, search=288)


@pytest.mark.parametrize("prefix, container", [("module.", True), ("module.feature_extractor.", False), ("", False)])
def test_prefixes_and_bare_state_dicts(tmp_path, prefix, container):
    net = randomize_model(build_model("lighttrack_tiny"), seed=4)
    model = load_model(_official_file(tmp_path / "w.pth", net, prefix, container))
    assert model.config == get_config("lighttrack_tiny")
    _assert_same_outputs(net, model)


def test_architecture_is_read_off_the_weights(tmp_path):
    config = LightTrackConfig(
        name="x", arch=ODD_PATH, stem_channels=8, stage_channels=(8, 16, 24, 32), head_widths=(8, 12, 20),
        adj_channels=16, template_size=64, search_size=128,
    )
    net = randomize_model(LightTrackNet(config), seed=5)
    loaded = load_checkpoint(_official_file(tmp_path / "odd.pth", net))
    got = loaded.config
    # Unbuilt genes, skip positions and unused head widths are not in the weights: the canonical
    # path (unbuilt choices 0, skips last, widths indexed among the widths seen), same network.
    assert canonical_arch(config.arch).to_path() == "back_00123400000000000000+cls_010010222+reg_201222222_ops_12"
    assert got.path == "back_00123400000000000000+cls_010010222+reg_101222222_ops_12"
    assert got.head_widths == (8, 20) and got.arch.cls.kernels == (5, 3, 3, 5, 3) and got.arch.reg.kernels == (3, 5)
    assert (got.name, got.stride, got.template_size, got.stem_channels) == ("lighttrack_custom", 8, 64, 8)
    assert got.stage_channels[:2] == (8, 16) and got.adj_channels == 16
    _assert_same_outputs(net, loaded.model, template=64, search=128)


def test_missing_batch_counters_load(tmp_path):
    net = randomize_model(build_model("lighttrack_tiny"), seed=6)
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": state}, tmp_path / "old.pth")
    _assert_same_outputs(net, load_model(tmp_path / "old.pth"))


def test_missing_and_unexpected_keys_are_one_line_errors(tmp_path):
    state = build_model("lighttrack_tiny").state_dict()
    missing = {k: v for k, v in state.items() if k != "head.reg_pred.bbox_pred.bias"}
    torch.save({"state_dict": missing}, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match=r"missing 1 keys: head\.reg_pred\.bbox_pred\.bias") as info:
        load_model(tmp_path / "missing.pth")
    assert "\n" not in str(info.value)
    torch.save({"state_dict": {**state, "head.cls_perd.extra": torch.zeros(1)}}, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match=r"unexpected 1 keys: head\.cls_perd\.extra"):
        load_model(tmp_path / "extra.pth")
    gap = {k: v for k, v in state.items() if not k.startswith("features.blocks.2.1.")}
    torch.save(gap, tmp_path / "gap.pth")
    with pytest.raises(CheckpointError, match=r"blocks 2\.1 missing"):
        load_model(tmp_path / "gap.pth")


def test_native_safetensors_carry_the_lighttrack_config(tmp_path):
    config = get_config("lighttrack_tiny_s8", search_size=144)
    net = randomize_model(LightTrackNet(config), seed=7)
    loaded = load_checkpoint(save_native(net, config, tmp_path / "lt.safetensors"))
    assert loaded.format == "ctrack" and loaded.config == config
    _assert_same_outputs(net, loaded.model)


def test_inspect_cli_reports_family_path_params_and_macs(tmp_path, run_cli):
    net = build_model("lighttrack_mobile")
    path = _official_file(tmp_path / "LightTrackM.pth", net)
    result = run_cli("inspect", str(path), "--json")
    assert result.exit_code == 0, result.output
    info = result.json()
    assert (info["family"], info["arch"], info["arch_path"]) == ("lighttrack", "lighttrack_mobile", MOBILE_PATH)
    assert info["params"] == 1_969_397 and info["format"] == "lighttrack"
    assert info["macs"] == 544_533_504 and "thop" in info["macs_counted"]  # the official 544.5 M
    table = run_cli("inspect", str(path))
    assert table.exit_code == 0 and "1,969,397" in table.stdout and "544.5M" in table.stdout
