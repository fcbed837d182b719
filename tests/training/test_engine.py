"""The training engine: steps on synthetic data, exact resume, recipes, torchrun with gloo."""
import json
import os
import subprocess
import sys

import pytest
import torch

from compresstracker.errors import ConfigError
from compresstracker.training.engine import ce_keep_rate, lr_factor
from compresstracker.training.recipe import load_recipe
from compresstracker.training.run import train_tracker

from .conftest import tiny_overrides, train_killed_then_resumed


def _losses(out_dir):
    lines = [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]
    return [(r["step"], round(r["loss"], 6)) for r in lines if "loss" in r]


def test_few_steps_write_model_state_and_log(synth_lasot, tmp_path):
    from compresstracker import load_model

    recipe = load_recipe("ostrack_tiny", tiny_overrides(synth_lasot))
    summary = train_tracker(recipe, tmp_path / "run", progress=False)
    out = tmp_path / "run"
    assert (out / "model.safetensors").exists() and (out / "config.yaml").exists()
    assert (out / "checkpoints" / "last.pt").exists()
    assert len(_losses(out)) == 4  # 32 pairs / batch 8
    model = load_model(out / "model.safetensors")
    assert model.config.arch == "tiny_64_ce"
    assert summary["samples_per_s"] > 0
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 1 and state["global_step"] == 4
    # The training file itself loads with no flags (its config travels with it).
    from compresstracker.checkpoints import inspect_checkpoint

    info = inspect_checkpoint(out / "checkpoints" / "last.pt")
    assert info["format"] == "ctrack_train_state" and info["config"] == model.config.to_dict()
    in_file = load_model(out / "checkpoints" / "last.pt")
    assert all(torch.equal(a, b) for a, b in zip(in_file.state_dict().values(), model.state_dict().values()))


def test_existing_run_needs_resume(synth_lasot, tmp_path):
    recipe = load_recipe("ostrack_tiny", tiny_overrides(synth_lasot))
    train_tracker(recipe, tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="--resume"):
        train_tracker(recipe, tmp_path / "run", progress=False)


def test_kill_and_resume_matches_uninterrupted_run(synth_lasot, tmp_path, monkeypatch):
    extra = ("train.checkpoint_every_steps=3", "model.drop_path=0.1")
    full = load_recipe("ostrack_tiny", tiny_overrides(synth_lasot, epochs=2, extra=extra))
    train_tracker(full, tmp_path / "full", progress=False)
    killed = train_killed_then_resumed(full, tmp_path / "killed", monkeypatch)
    assert len(killed) < len(_losses(tmp_path / "full"))
    assert _losses(tmp_path / "killed") == _losses(tmp_path / "full")
    a = torch.load(tmp_path / "full" / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "killed" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_missing_data_root_is_a_clear_error(tmp_path):
    recipe = load_recipe("ostrack_tiny", ["model.arch=tiny_64_ce"])
    with pytest.raises(ConfigError, match="--data lasot=ROOT"):
        train_tracker(recipe, tmp_path / "run", progress=False)


def test_schedules():
    recipe = load_recipe("ostrack_vitb_256")
    assert lr_factor(0, recipe) == 1.0 and lr_factor(239, recipe) == 1.0
    assert lr_factor(240, recipe) == pytest.approx(0.1)
    warm = load_recipe("ostrack_tiny", ["train.warmup_epochs=2"])
    assert lr_factor(0, warm) == 0.5 and lr_factor(1, warm) == 1.0
    assert ce_keep_rate(19, 20, 80, 0.7) == 1.0
    assert ce_keep_rate(20, 20, 80, 0.7) == pytest.approx(1.0)
    assert ce_keep_rate(60, 20, 80, 0.7) == pytest.approx(0.85)
    assert ce_keep_rate(100, 20, 80, 0.7) == 0.7


def test_torchrun_two_processes_gloo(synth_lasot, tmp_path):
    out = tmp_path / "ddp"
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "compresstracker.cli.main", "train", "-r", "ostrack_tiny", "--out", str(out), "--json",
            *tiny_overrides(synth_lasot)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert state["global_step"] == 2  # 32 pairs / (batch 8 x 2 processes)
    assert (out / "model.safetensors").exists()
    assert "world_size: 2" in (out / "config.yaml").read_text()


def test_validation_loss_and_short_tracking_eval(synth_lasot, tmp_path):
    recipe = load_recipe("ostrack_tiny", tiny_overrides(synth_lasot, extra=(
        "train.val_every=1", "train.track_eval.dataset=lasot", f"train.track_eval.root={synth_lasot}",
        "train.track_eval.split=all", "train.track_eval.sequences=2", "data.val_samples=16")))
    recipe["data"]["val"] = [dict(recipe["data"]["train"][0])]
    train_tracker(recipe, tmp_path / "run", progress=False)
    end = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines() if "epoch_end" in line][-1]
    assert end["val_loss"] > 0 and 0 <= end["track_auc"] <= 100
    assert len(list((tmp_path / "run" / "track_eval" / "epoch_0001" / "model").glob("*_time.txt"))) == 2
