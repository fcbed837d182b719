"""Training LightTrack with the engine: recipe resolution, schedule, frozen backbone, loss going down, exact resume."""
import json

import pytest
import torch

from compresstracker.errors import ConfigError
from compresstracker.models import resolve_config
from compresstracker.families.lighttrack.arch import LightTrackArch
from compresstracker.families.lighttrack.arch import MOBILE_PATH
from compresstracker.training.engine import lr_factor
from compresstracker.training.recipe import load_recipe
from compresstracker.training.run import build_recipe_model, train_tracker
from compresstracker.training.tasks import training_family
from compresstracker.families.lighttrack.training import LightTrackTask, lighttrack_crops
from compresstracker.families.ostrack.training import TrackingTask

from .conftest import train_killed_then_resumed

OTHER_PATH = "back_00123450123450123450+cls_010201222+reg_200000000_ops_22"


def lt_overrides(root, epochs=1, samples=32, batch=8, extra=()):
    """A run of a few CPU seconds on the tiny LightTrack at 32/64 inputs (a 4 x 4 score map)."""
    return [
        "model.overrides.template_size=32", "model.overrides.search_size=64", f"train.epochs={epochs}", f"data.samples_per_epoch={samples}", f"train.batch_size={batch}",
        "data.workers=0", "train.log_every=1", f"data.train.0.root={root}", *extra,
    ]


def _log(out_dir):
    return [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]


def test_model_arch_accepts_name_path_string_and_json_file(tmp_path):
    assert resolve_config("lighttrack_tiny").name == "lighttrack_tiny"
    mobile = resolve_config(MOBILE_PATH)
    assert mobile.path == MOBILE_PATH and mobile.name == "lighttrack_mobile" and mobile.stage_channels == (24, 40, 80, 96)
    other = resolve_config(OTHER_PATH, template_size=64)
    assert other.path == OTHER_PATH and other.name == "lighttrack_custom" and other.template_size == 64
    arch_file = tmp_path / "arch.json"
    arch_file.write_text(LightTrackArch.from_path(OTHER_PATH).to_json())
    assert resolve_config(str(arch_file)).path == OTHER_PATH
    string_file = tmp_path / "path.json"
    string_file.write_text(json.dumps(OTHER_PATH))
    assert resolve_config(str(string_file)).path == OTHER_PATH
    config_file = tmp_path / "config.json"
    config_file.write_text(resolve_config("lighttrack_tiny").to_json())
    assert resolve_config(str(config_file)) == resolve_config("lighttrack_tiny")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="unknown architecture 'nope'"):
        resolve_config("nope")
    with pytest.raises(ConfigError, match="path string"):
        resolve_config("back_0123")


def test_family_registry_picks_task_and_crops():
    recipe = load_recipe("lighttrack_tiny")
    model = build_recipe_model(recipe["model"])
    family = training_family(model.config)
    assert isinstance(family.task(model, recipe), LightTrackTask)
    crops = family.crops(model.config)
    assert (crops.template_size, crops.search_size, crops.template_factor, crops.search_factor) == (128, 256, 1.0, 2.0)
    assert crops.context_amount == 0.5 and crops.pad_mean and crops.heatmap_size == 0
    assert lighttrack_crops(resolve_config("lighttrack_mobile")).search_factor == 2.0
    ostrack = load_recipe("ostrack_tiny", ["model.arch=tiny_64_ce"])
    net = build_recipe_model(ostrack["model"])
    assert isinstance(training_family(net.config).task(net, ostrack), TrackingTask)
    assert net.config.drop_path == ostrack["model"]["drop_path"]


def test_mobile_recipe_is_the_papers():
    recipe = load_recipe("lighttrack_mobile")
    train = recipe["train"]
    assert resolve_config(recipe["model"]["arch"]).path == MOBILE_PATH
    assert (train["optimizer"], train["momentum"], train["weight_decay"]) == ("sgd", 0.9, 1.0e-4)
    assert (train["freeze_backbone_epochs"], train["backbone_lr_mult"], train["lr_schedule"]) == (10, 0.1, "log")
    assert train["siamese_loss"] == {"cls": 1.0, "iou": 1.2, "pos_radius": 1.0}


def test_log_schedule_with_warmup():
    recipe = load_recipe("lighttrack_tiny", ["train.epochs=6", "train.warmup_epochs=2", "train.lr=0.02", "train.lr_end=2.0e-4"])
    factors = [lr_factor(e, recipe) for e in range(6)]
    assert factors[:2] == [0.5, 1.0]  # linear warm-up
    assert factors[2] == 1.0 and factors[5] == pytest.approx(0.01)  # lr -> lr_end over epochs 2..5
    assert factors[3] == pytest.approx(0.01 ** (1 / 3)) and factors[4] == pytest.approx(0.01 ** (2 / 3))


def test_frozen_backbone_keeps_weights_and_bn_statistics(synth_lasot):
    recipe = load_recipe("lighttrack_tiny", lt_overrides(synth_lasot, extra=("train.freeze_backbone_epochs=1",)))
    torch.manual_seed(0)
    model = build_recipe_model(recipe["model"])
    task = LightTrackTask(model, recipe)
    optimizer = torch.optim.SGD(task.param_groups(recipe), lr=0.1, momentum=0.9, weight_decay=1e-4)
    batch = {"template": torch.randn(4, 3, 32, 32), "search": torch.randn(4, 3, 64, 64),
             "search_box": torch.tensor([[0.4, 0.4, 0.2, 0.2]] * 4)}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for epoch, frozen in ((0, True), (1, False)):
        model.train()
        assert task.begin_epoch(epoch) == {"backbone_frozen": float(frozen)}
        assert model.features.training is not frozen and model.head.training
        loss, _ = task.step(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        after = model.state_dict()
        backbone_same = all(torch.equal(before[k], after[k]) for k in before if k.startswith("features."))
        assert backbone_same is frozen  # weights and running statistics
        assert not torch.equal(before["head.cls_perd.cls_pred.weight"], after["head.cls_perd.cls_pred.weight"])
        before = {k: v.clone() for k, v in after.items()}


def test_short_run_lowers_the_loss(synth_lasot, tmp_path):
    recipe = load_recipe("lighttrack_tiny", lt_overrides(synth_lasot, epochs=3, samples=64, extra=(
        "train.lr=0.05", "train.lr_end=0.01", "train.warmup_epochs=0")))
    train_tracker(recipe, tmp_path / "run", progress=False)
    ends = [r for r in _log(tmp_path / "run") if r.get("epoch_end")]
    assert len(ends) == 3 and ends[0]["lr"] == 0.05 and ends[-1]["lr"] == pytest.approx(0.01)
    assert ends[-1]["mean_loss"] < 0.9 * ends[0]["mean_loss"]
    assert ends[-1]["mean_iou"] > ends[0]["mean_iou"]
    assert "resolved_model" in (tmp_path / "run" / "config.yaml").read_text()


def test_kill_and_resume_is_bit_exact(synth_lasot, tmp_path, monkeypatch):
    extra = ("train.checkpoint_every_steps=3", "train.freeze_backbone_epochs=1", "train.backbone_lr_mult=0.1")
    recipe = load_recipe("lighttrack_tiny", lt_overrides(synth_lasot, epochs=2, extra=extra))
    train_tracker(recipe, tmp_path / "full", progress=False)
    killed = train_killed_then_resumed(recipe, tmp_path / "killed", monkeypatch)  # in epoch 2, the backbone thawed
    assert killed and killed[-1]["epoch"] == 2
    losses = lambda run: [(r["step"], r["loss"]) for r in _log(run) if "loss" in r]  # noqa: E731
    assert losses(tmp_path / "killed") == losses(tmp_path / "full")
    a = torch.load(tmp_path / "full" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "killed" / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    # Every parameter, the thawed backbone's too, has an SGD momentum buffer, equal in both runs.
    assert len(a["optimizer"]["state"]) == len(list(build_recipe_model(recipe["model"]).parameters()))
    assert all(torch.equal(x["momentum_buffer"], y["momentum_buffer"])
               for x, y in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()))
