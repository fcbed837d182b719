"""Format detection by keys, key maps, config inference, strict loading, CE switch."""
from __future__ import annotations

import argparse

import pytest
import torch
from safetensors.torch import save_file

import compresstracker
from compresstracker.checkpoints import inspect_checkpoint, load_checkpoint, load_model
from compresstracker.errors import CheckpointError
from compresstracker.models import get_config

from . import assert_same_outputs, assert_same_state, run, tiny_model

STUDENT = get_config("tiny_64_ce", depth=4, ce_layers=(), ce_keep_ratios=())


def _distill(state: dict, prefix: str = "") -> dict:
    """A student state dict in CompressTracker's naming (blocks under backbone.distill_blocks)."""
    return {prefix + k.replace("backbone.blocks.", "backbone.distill_blocks."): v for k, v in state.items()}


def test_ostrack_training_file(tmp_path):
    model = tiny_model("tiny_64_ce")
    path = tmp_path / "OSTrack_ep0300.pth.tar"
    torch.save({"net": model.state_dict(), "epoch": 300, "settings": argparse.Namespace(lr=4e-4)}, path)
    loaded = load_checkpoint(path, num_heads=2)
    assert loaded.format == "ostrack"
    assert loaded.config == get_config("tiny_64_ce")  # every field read off the shapes (arch name too)
    assert loaded.ignored == ["argparse.Namespace"] and loaded.dropped_keys == 0
    assert not loaded.model.training and loaded.model.ce_enabled
    assert_same_state(loaded.model.state_dict(), model.state_dict())
    assert_same_outputs(loaded.model, model)


def test_ostrack_ce_default_depends_on_depth(tmp_path):
    shallow = tiny_model(STUDENT)
    torch.save({"net": shallow.state_dict()}, tmp_path / "shallow.pth")
    config = load_checkpoint(tmp_path / "shallow.pth", num_heads=2).config
    assert config.ce_layers == () and not config.has_ce and config.arch == "vit32_d4_64"


def test_compresstracker_training_file_drops_the_teacher(tmp_path):
    student, teacher = tiny_model(STUDENT, seed=1), tiny_model("tiny_64_ce", seed=2)
    net = _distill(student.state_dict())
    teacher_state = teacher.state_dict()
    net.update({k: v for k, v in teacher_state.items() if k.startswith("backbone.blocks.")})
    net.update({"ori_" + k: v for k, v in teacher_state.items()})
    torch.save({"net": net, "epoch": 500}, tmp_path / "CompressTracker_ep0500.pth.tar")
    n_teacher = sum(k.startswith(("backbone.blocks.", "ori_")) for k in net)

    loaded = load_checkpoint(tmp_path / "CompressTracker_ep0500.pth.tar", num_heads=2)
    assert loaded.format == "compresstracker_train"
    assert loaded.dropped_keys == n_teacher == 12 * 12 + len(teacher_state)
    assert loaded.config.depth == 4 and not loaded.model.ce_enabled
    assert_same_outputs(loaded.model, student)


def test_compresstracker_inference_file(tmp_path):
    student = tiny_model(STUDENT.replace(depth=3), seed=3)
    torch.save({"net": _distill(student.state_dict())}, tmp_path / "student.pth")
    loaded = load_checkpoint(tmp_path / "student.pth", num_heads=2)
    assert (loaded.format, loaded.dropped_keys, loaded.config.depth) == ("compresstracker", 0, 3)
    assert_same_outputs(loaded.model, student)


def test_compresstracker_student_runs_plain_even_when_twelve_deep(tmp_path):
    student = tiny_model(STUDENT.replace(depth=12), seed=4)
    torch.save({"net": _distill(student.state_dict())}, tmp_path / "deep_student.pth")
    loaded = load_checkpoint(tmp_path / "deep_student.pth", num_heads=2)
    assert loaded.config.depth == 12 and not loaded.config.has_ce


@pytest.mark.parametrize("container", ["raw", "net", "model"])
@pytest.mark.parametrize("prefix", ["", "module."])
def test_raw_and_wrapped_state_dicts(tmp_path, container, prefix):
    model = tiny_model("tiny_64_ce")
    state = {prefix + k: v for k, v in model.state_dict().items()}
    torch.save(state if container == "raw" else {container: state, "epoch": 1}, tmp_path / "w.pth")
    loaded = load_checkpoint(tmp_path / "w.pth", num_heads=2)
    assert loaded.format == "ostrack" and loaded.ignored == []
    assert_same_outputs(loaded.model, model)


def test_compresstracker_layout_with_module_prefix(tmp_path):
    student = tiny_model(STUDENT, seed=5)
    torch.save({"model": _distill(student.state_dict(), prefix="module.")}, tmp_path / "ddp.pth")
    loaded = load_checkpoint(tmp_path / "ddp.pth", num_heads=2)
    assert loaded.format == "compresstracker"
    assert_same_outputs(loaded.model, student)


def test_safetensors_without_ctrack_metadata_is_detected_by_keys(tmp_path):
    model = tiny_model("tiny_64_ce")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "plain.safetensors")
    loaded = load_checkpoint(tmp_path / "plain.safetensors", num_heads=2)
    assert loaded.format == "ostrack" and loaded.metadata == {}
    assert_same_outputs(loaded.model, model)


def _save_net(tmp_path, state: dict, name: str = "edited.pth"):
    torch.save({"net": state}, tmp_path / name)
    return tmp_path / name


def test_missing_keys_are_named(tmp_path):
    state = tiny_model().state_dict()
    del state["box_head.conv5_size.bias"]
    with pytest.raises(CheckpointError, match=r"missing 1 keys: box_head\.conv5_size\.bias") as info:
        load_checkpoint(_save_net(tmp_path, state), num_heads=2)
    assert "\n" not in str(info.value)


def test_unexpected_keys_are_named_with_a_count(tmp_path):
    state = tiny_model().state_dict()
    extras = {f"backbone.adapter.{i}.weight": torch.zeros(1) for i in range(7)}
    with pytest.raises(CheckpointError, match=r"unexpected 7 keys: backbone\.adapter\.0\.weight.*\(7 in all\)"):
        load_checkpoint(_save_net(tmp_path, {**state, **extras}), num_heads=2)


def test_missing_block_is_named(tmp_path):
    state = {k: v for k, v in tiny_model().state_dict().items() if not k.startswith("backbone.blocks.5.")}
    with pytest.raises(CheckpointError, match=r"missing 12 keys: backbone\.blocks\.5\.norm1\.weight"):
        load_checkpoint(_save_net(tmp_path, state), num_heads=2)


def test_shape_mismatch_names_key_and_shapes(tmp_path):
    state = tiny_model().state_dict()
    state["backbone.blocks.1.mlp.fc1.weight"] = torch.zeros(64, 32)
    message = r"shape mismatch for backbone\.blocks\.1\.mlp\.fc1\.weight: checkpoint \[64, 32\] vs model \[128, 32\]"
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(_save_net(tmp_path, state), num_heads=2)


def test_unknown_layout_and_mixed_entries(tmp_path):
    with pytest.raises(CheckpointError, match=r"unknown key layout \(2 tensors, e\.g\. conv\.bias, conv\.weight\)"):
        load_checkpoint(_save_net(tmp_path, {"conv.weight": torch.zeros(1), "conv.bias": torch.zeros(1)}))
    with pytest.raises(CheckpointError, match=r"mixes tensors with 1 other entries \(note\)"):
        load_checkpoint(_save_net(tmp_path, {"backbone.norm.weight": torch.zeros(1), "note": "hi"}))
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "no_tensors.pth")
    with pytest.raises(CheckpointError, match="holds no tensors"):
        load_checkpoint(tmp_path / "no_tensors.pth")


def test_heads_must_be_given_when_width_is_not_a_multiple_of_64(tmp_path):
    path = _save_net(tmp_path, tiny_model().state_dict())
    with pytest.raises(CheckpointError, match="pass num_heads"):
        load_checkpoint(path)


def test_width_64_infers_one_head(tmp_path):
    model = tiny_model(get_config("tiny_64_ce", embed_dim=64, num_heads=1))
    loaded = load_checkpoint(_save_net(tmp_path, model.state_dict()))
    assert loaded.config.num_heads == 1


def test_ce_switch(tmp_path):
    model = tiny_model("tiny_64_ce")
    path = _save_net(tmp_path, model.state_dict())
    default, plain = load_model(path, num_heads=2), load_model(path, ce=False, num_heads=2)
    assert default.ce_enabled and not plain.ce_enabled
    assert_same_outputs(default, model)
    model.ce_enabled = False
    assert_same_outputs(plain, model)
    assert not torch.equal(run(default)["score_map"], run(plain)["score_map"])
    assert compresstracker.load_model(path, ce=True, num_heads=2).ce_enabled


def test_ce_true_on_a_model_without_ce_is_an_error(tmp_path):
    path = _save_net(tmp_path, tiny_model(STUDENT).state_dict())
    with pytest.raises(CheckpointError, match="has no candidate-elimination"):
        load_model(path, ce=True, num_heads=2)


def test_config_overrides(tmp_path):
    path = _save_net(tmp_path, tiny_model(STUDENT).state_dict())
    overrides = {"ce_layers": [1], "ce_keep_ratios": [0.5], "search_factor": 5.0}
    loaded = load_checkpoint(path, num_heads=2, config_overrides=overrides)
    assert loaded.config.ce_layers == (1,) and loaded.config.search_factor == 5.0 and loaded.model.ce_enabled
    assert loaded.config.arch == "vit32_d4_64_ce"
    with pytest.raises(CheckpointError, match="unknown model config keys: width"):
        load_checkpoint(path, num_heads=2, config_overrides={"width": 3})


def test_inspect_reports_everything(tmp_path):
    model = tiny_model("tiny_64_ce")
    path = tmp_path / "OSTrack.pth.tar"
    torch.save({"net": model.state_dict(), "settings": argparse.Namespace()}, path)
    info = inspect_checkpoint(path, num_heads=2)
    assert info["format"] == "ostrack" and info["arch"] == "tiny_64_ce"
    assert (info["embed_dim"], info["depth"], info["num_heads"], info["patch_size"]) == (32, 12, 2, 8)
    assert (info["template_size"], info["search_size"]) == (32, 64)
    assert info["ce"] is True and info["ce_layers"] == [3, 6, 9]
    assert info["params"] == sum(p.numel() for p in model.parameters())
    assert info["ignored"] == ["argparse.Namespace"] and info["dropped_keys"] == 0
    assert "plan" not in info and "provenance" not in info


def test_a_directory_is_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)
