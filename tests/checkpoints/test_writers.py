"""Writers: native safetensors round trip, OSTrack-format export, atomic replacement."""
from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file


from compresstracker.checkpoints import load_checkpoint, save_native, save_release
from compresstracker.errors import CheckpointError
from compresstracker.models import get_config

from . import assert_same_outputs, assert_same_state, tiny_model

PLAN = {"teacher_depth": 12, "student_depth": 4, "stages": [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]}
PROVENANCE = {"teacher": "OSTrack_ep0300.pth.tar", "sha256": "ab" * 32, "recipe": "compress_vitb_256_4"}


def test_native_round_trip_is_exact(tmp_path):
    config = get_config("tiny_64_ce", depth=4, ce_layers=(2,), ce_keep_ratios=(0.6,), search_factor=4.5)
    model = tiny_model(config)
    path = save_native(model, config, tmp_path / "student.safetensors", plan=PLAN, provenance=PROVENANCE)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["ctrack.format_version"] == "1"
    assert json.loads(meta["ctrack.config"]) == config.to_dict()

    loaded = load_checkpoint(path)  # no num_heads needed: the config travels with the weights
    assert loaded.format == "ctrack" and loaded.config == config
    assert loaded.metadata == {"plan": PLAN, "provenance": PROVENANCE, "format_version": "1"}
    assert_same_state(loaded.model.state_dict(), model.state_dict())  # num_batches_tracked included
    assert loaded.model.ce_enabled
    assert_same_outputs(loaded.model, model)


def test_native_from_a_state_dict_with_shared_and_strided_tensors(tmp_path):
    model = tiny_model("tiny_64_ce")
    state = dict(model.state_dict())
    shared = state["box_head.conv5_ctr.weight"]
    state["box_head.conv5_size.weight"] = torch.cat([shared, shared])  # same shape, fresh storage
    weight = state["backbone.blocks.0.attn.qkv.weight"]
    state["backbone.blocks.0.attn.qkv.weight"] = weight.t().contiguous().t()  # same values, transposed strides
    state["backbone.blocks.1.norm1.bias"] = state["backbone.blocks.0.norm1.bias"]  # one storage, two keys
    path = save_native(state, model.config, tmp_path / "shared.safetensors")
    assert_same_state(load_checkpoint(path).model.state_dict(), state)


def test_native_without_plan_has_no_plan(tmp_path):
    model = tiny_model("tiny_64_ce")
    path = save_native(model.state_dict(), model.config, tmp_path / "m.safetensors")
    assert load_checkpoint(path).metadata == {"format_version": "1"}


def test_native_from_a_newer_ctrack_is_refused(tmp_path):
    model = tiny_model("tiny_64_ce")
    path = save_native(model, model.config, tmp_path / "m.safetensors")
    with safe_open(str(path), framework="pt") as f:
        tensors, meta = {k: f.get_tensor(k) for k in f.keys()}, f.metadata()
    save_file(tensors, path, metadata={**meta, "ctrack.format_version": "9"})
    with pytest.raises(CheckpointError, match="format version 9.*upgrade ctrack"):
        load_checkpoint(path)


def test_ostrack_export_loads_with_weights_only(tmp_path):
    model = tiny_model(get_config("tiny_64_ce", depth=4, ce_layers=(), ce_keep_ratios=(), legacy_pos_len=5))
    path = save_release(model, tmp_path / "student.pth.tar")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert set(raw) == {"net", "epoch", "ctrack_config"} and raw["epoch"] == 0
    assert_same_state(raw["net"], model.state_dict())
    assert "backbone.pos_embed" in raw["net"] and "backbone.cls_token" in raw["net"]
    loaded = load_checkpoint(path)  # config from ctrack_config: heads need not be given
    assert loaded.format == "ostrack" and loaded.config == model.config and loaded.ignored == []
    assert_same_outputs(loaded.model, model)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    model = tiny_model("tiny_64_ce")
    path = save_native(model, model.config, tmp_path / "m.safetensors")
    before = path.read_bytes()

    def dies_half_way(fd):  # the temporary file is written; the process is stopped before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_native(model, model.config, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_non_tensor_state_entries_are_refused(tmp_path):
    model = tiny_model("tiny_64_ce")
    with pytest.raises(CheckpointError, match="note are not tensors"):
        save_native({**model.state_dict(), "note": "x"}, model.config, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


def test_identical_weights_give_identical_files(tmp_path):
    """The safetensors writer orders metadata by hash; ctrack sorts it, so the sha256 is stable."""
    import hashlib

    config = get_config("tiny_64_ce", depth=2, ce_layers=(), ce_keep_ratios=())
    model = tiny_model(config)
    digests = set()
    for i in range(6):
        path = save_native(model, config, tmp_path / f"s{i}.safetensors", plan=PLAN, provenance=PROVENANCE)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
        with safe_open(str(path), framework="pt") as f:
            keys = list(json.loads(path.read_bytes()[8 : 8 + int.from_bytes(path.read_bytes()[:8], "little")])["__metadata__"])
            assert f.metadata()["ctrack.plan"] == json.dumps(PLAN, sort_keys=True)
    assert len(digests) == 1
    assert keys == sorted(keys) and len(keys) == 4
    assert_same_state(load_checkpoint(path).model.state_dict(), model.state_dict())
