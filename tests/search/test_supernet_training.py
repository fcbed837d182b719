"""SPOS supernet training through the engine: random paths, exact resume, frozen backbone, DDP."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from compresstracker.models import build_model
from compresstracker.training.recipe import load_recipe
from compresstracker.training.run import train_tracker
from compresstracker.families.lighttrack.training import SupernetTask

from tests.training.conftest import train_killed_then_resumed

from .conftest import supernet_overrides


def test_paths_are_uniform_seeded_and_rank_independent():
    supernet = build_model("lighttrack_supernet_tiny")
    recipe = load_recipe("lighttrack_supernet_tiny")
    a, b = SupernetTask(supernet, recipe), SupernetTask(supernet, recipe)
    paths = [supernet.sample_arch(a.rng) for _ in range(300)]
    assert paths[:20] == [supernet.sample_arch(b.rng) for _ in range(20)]  # no rank in the stream
    outputs = [p.output for p in paths]
    assert len(set(outputs)) == 8 and len({p.backbone[0] for p in paths}) == 6
    assert all(p.cls.ops[0] != 2 for p in paths)
    assert min(np.unique([p.backbone[0] for p in paths], return_counts=True)[1]) > 30  # roughly uniform


def _state(out):
    return torch.load(out / "checkpoints" / "last.pt", weights_only=True)


# heads drawn from the start, and held for epoch 1 then copied from the largest once: the kill falls in epoch 2
@pytest.mark.parametrize("held", [0, 1])
def test_kill_and_resume_continues_the_path_sequence(synth_search, tmp_path, monkeypatch, held):
    recipe = load_recipe("lighttrack_supernet_tiny", supernet_overrides(
        synth_search, epochs=2, extra=["train.checkpoint_every_steps=1", f"train.spos_fixed_head_epochs={held}"]))
    train_tracker(recipe, tmp_path / "full", progress=False)
    train_killed_then_resumed(recipe, tmp_path / "killed", monkeypatch)
    full, resumed = _state(tmp_path / "full"), _state(tmp_path / "killed")
    assert full["task"]["path_rng"] == resumed["task"]["path_rng"]
    assert all(torch.equal(full["model"][k], resumed["model"][k]) for k in full["model"])
    # one step trains only its path: some block choices never ran and kept their initial weights
    fresh = build_model("lighttrack_supernet_tiny").state_dict()
    assert (tmp_path / "full" / "model.safetensors").exists()
    assert any(not torch.equal(fresh[k], full["model"][k]) for k in fresh)


def test_frozen_backbone_epochs_keep_the_backbone(synth_search, tmp_path):
    recipe = load_recipe("lighttrack_supernet_tiny", supernet_overrides(synth_search, extra=["train.freeze_backbone_epochs=1"]))
    torch.manual_seed(int(recipe["train"]["seed"]))
    start = build_model("lighttrack_supernet_tiny").state_dict()
    train_tracker(recipe, tmp_path / "run", progress=False)
    end = _state(tmp_path / "run")["model"]
    backbone = [k for k in start if k.startswith("features.") and "running" not in k and "num_batches" not in k]
    heads = [k for k in start if k.startswith("towers.") and k.endswith("weight")]
    assert all(torch.equal(start[k], end[k]) for k in backbone)
    assert any(not torch.equal(start[k], end[k]) for k in heads)


def test_torchrun_two_processes_gloo_same_path_per_step(synth_search, tmp_path):
    out = tmp_path / "ddp"
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "compresstracker.cli.main", "train", "-r", "lighttrack_supernet_tiny", "--out", str(out), "--json",
            *supernet_overrides(synth_search, samples=32)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    state = _state(out)
    assert state["global_step"] == 2  # 32 pairs / (8 x 2 processes)
    # the path stream advanced once per step, the same on every rank (it holds no rank)
    single = SupernetTask(build_model("lighttrack_supernet_tiny"), load_recipe("lighttrack_supernet_tiny"))
    for _ in range(2):
        single.module.sample_arch(single.rng)
    assert single.state_dict()["path_rng"] == state["task"]["path_rng"]


def _steps(task, epoch, count):
    """``count`` steps of ``task`` in ``epoch`` on random pairs (no optimizer): the paths it ran."""
    task.begin_epoch(epoch)
    torch.manual_seed(0)
    batch = {"template": torch.rand(2, 3, 64, 64), "search": torch.rand(2, 3, 128, 128),
             "search_box": torch.tensor([[0.4, 0.4, 0.2, 0.2]] * 2)}
    paths = []
    for _ in range(count):
        with torch.no_grad():
            task.step(task.module, batch)
        paths.append(task.last_path)
    return paths


def test_fixed_head_epochs_hold_the_largest_heads_then_draw_them():
    from compresstracker.families.lighttrack.arch import LightTrackArch

    supernet = build_model("lighttrack_supernet_tiny")
    largest = supernet.largest_head()
    assert largest.width == len(supernet.config.base.head_widths) - 1 and set(largest.kernels) == {5} and len(largest.kernels) == 8
    held = SupernetTask(supernet, load_recipe("lighttrack_supernet_tiny", ["train.spos_fixed_head_epochs=1"]))
    plain = SupernetTask(supernet, load_recipe("lighttrack_supernet_tiny", ["train.spos_fixed_head_epochs=0"]))
    first, later = _steps(held, 0, 6), _steps(held, 1, 6)
    plain_first = _steps(plain, 0, 6)
    heads = lambda path: (LightTrackArch.from_path(path).cls, LightTrackArch.from_path(path).reg)  # noqa: E731
    backbone = lambda path: path.split("+")[0]  # noqa: E731
    assert all(heads(p) == (largest, largest) for p in first)
    assert [backbone(p) for p in first] == [backbone(p) for p in plain_first]  # the backbone stream is SPOS's own
    assert sum(heads(p) != (largest, largest) for p in later) >= 5  # drawn again after the fixed epochs
    assert held.begin_epoch(0)["head_fixed"] == 1.0 and held.begin_epoch(1)["head_fixed"] == 0.0
    _steps(plain, 1, 6)
    assert held.state_dict()["path_rng"] == plain.state_dict()["path_rng"]  # one draw per step either way: resume and DDP see the same stream
    assert "head_fixed" not in plain.begin_epoch(0)


def test_fixed_head_epochs_are_validated():
    from compresstracker.errors import ConfigError

    with pytest.raises(ConfigError, match="spos_fixed_head_epochs"):
        load_recipe("lighttrack_supernet_tiny", ["train.spos_fixed_head_epochs=-1"])


def test_drawn_heads_start_from_the_largest_once():
    supernet = build_model("lighttrack_supernet_tiny")
    largest = supernet.largest_head()
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    task = SupernetTask(supernet, load_recipe("lighttrack_supernet_tiny", ["train.spos_fixed_head_epochs=1"]))
    task.begin_epoch(0)
    assert all(torch.equal(before[k], v) for k, v in supernet.state_dict().items())  # nothing copied while held
    task.begin_epoch(1)
    big = supernet.towers["cls"][largest.width][3][largest.ops[3]]
    small = supernet.towers["cls"][0][3][0]  # narrowest width, 3x3: leading channels, kernel centre
    assert torch.equal(small.conv1.weight, big.conv1.weight[:small.conv1.weight.shape[0], :, 1:4, 1:4])
    assert torch.equal(small.BN.running_var, big.BN.running_var[:small.BN.running_var.shape[0]])
    assert torch.equal(supernet.reg_preds[1].bbox_pred.weight, supernet.reg_preds[largest.width].bbox_pred.weight[:, :24])
    largest_keys = [k for k in before for i in range(8) if k.startswith(f"towers.cls.{largest.width}.{i}.{largest.ops[i]}.")]
    assert largest_keys and all(torch.equal(before[k], supernet.state_dict()[k]) for k in largest_keys)
    # a resumed run (state saved after the copy) does not copy again over the trained heads
    torch.nn.init.zeros_(small.conv1.weight)
    resumed = SupernetTask(supernet, load_recipe("lighttrack_supernet_tiny", ["train.spos_fixed_head_epochs=1"]))
    resumed.load_state_dict(task.state_dict())
    resumed.begin_epoch(1)
    assert not small.conv1.weight.any()


def test_held_heads_train_the_largest_head_on_every_step():
    plain_net, held_net = build_model("lighttrack_supernet_tiny"), build_model("lighttrack_supernet_tiny", heads="held")
    largest = held_net.largest_head()
    recipe = load_recipe("lighttrack_supernet_tiny", ["train.spos_fixed_head_epochs=0"])
    held, plain = SupernetTask(held_net, recipe), SupernetTask(plain_net, recipe)
    held_paths, plain_paths = _steps(held, 0, 6) + _steps(held, 1, 6), _steps(plain, 0, 6) + _steps(plain, 1, 6)
    from compresstracker.families.lighttrack.arch import LightTrackArch

    assert all(LightTrackArch.from_path(p).cls == LightTrackArch.from_path(p).reg == largest for p in held_paths)
    assert [p.split("+")[0] for p in held_paths] == [p.split("+")[0] for p in plain_paths]  # the backbone stream is SPOS's own
    assert len({p.split("+")[0] for p in held_paths}) == 12
    # the held head's modules change under training; no other head is started from it
    before = {k: v.clone() for k, v in held_net.state_dict().items() if k.startswith("towers.cls.0.")}
    SupernetTask(held_net, load_recipe("lighttrack_supernet_tiny", ["train.spos_fixed_head_epochs=1"])).begin_epoch(1)
    assert all(torch.equal(before[k], v) for k, v in held_net.state_dict().items() if k in before)
