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


def test_kill_and_resume_continues_the_path_sequence(synth_search, tmp_path, monkeypatch):
    recipe = load_recipe("lighttrack_supernet_tiny", supernet_overrides(synth_search, epochs=2, extra=["train.checkpoint_every_steps=1"]))
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
