"""MixFormerV2's training stages: the box stage's side-distribution loss, the score stage (only the
score head learns, its loss falls, its score then gates the tracker's online template), the stage
key's checks, and starting a MixFormerV2 network from a trained ViT tracker."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from compresstracker import load_model
from compresstracker.checkpoints import save_native
from compresstracker.errors import ConfigError
from compresstracker.families.mixformerv2 import MixFormerV2Net, MixFormerV2Tracker, named_config
from compresstracker.families.mixformerv2.training import (
    adopt_vit,
    attention_loss,
    distribution_loss,
    negative_half,
    score_loss,
    side_targets,
)
from compresstracker.models import build_model, resolve_config
from compresstracker.training.recipe import load_recipe
from tests.conftest import randomize_model


@pytest.fixture(scope="module")
def box_trained(tmp_path_factory):
    """A tiny MixFormerV2 standing in for a box-trained network (random weights), saved as ctrack saves."""
    net = randomize_model(MixFormerV2Net(named_config("mixformerv2_tiny")), seed=5)
    path = tmp_path_factory.mktemp("init") / "box.safetensors"
    save_native(net, net.config, path)
    return net, path


def _logged(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_distribution_loss_is_least_at_the_true_sides():
    bins = 16
    sides = torch.tensor([[0.25, 0.75, 0.3, 0.6]])
    position = sides * bins
    exact = torch.full((1, 4, bins), -30.0)
    lower = position.floor().long()
    weight = position - lower
    exact.scatter_(-1, lower[..., None], (1 - weight).clamp(min=1e-9).log()[..., None])
    exact.scatter_(-1, lower[..., None] + 1, weight.clamp(min=1e-9).log()[..., None])
    flat = torch.zeros(1, 4, bins)
    shifted = exact.roll(2, dims=-1)
    assert distribution_loss(exact, sides) < distribution_loss(flat, sides) < distribution_loss(shifted, sides)
    assert side_targets(torch.tensor([[0.1, 0.2, 0.3, 0.4]]))[0].tolist() == pytest.approx([0.1, 0.4, 0.2, 0.6])


def test_attention_loss_rewards_attention_on_the_true_box():
    side = 4
    box = torch.tensor([[0.02, 0.52, 0.46, 0.46]])  # covers the centres of rows 2-3, columns 0-1 (grown by half a patch)
    inside = torch.zeros(side, side)
    inside[2:, :2] = 1
    on_box = (inside / inside.sum()).reshape(1, 1, -1).expand(1, 4, -1)
    elsewhere = ((1 - inside) / (1 - inside).sum()).reshape(1, 1, -1).expand(1, 4, -1)
    uniform = torch.full((1, 4, side * side), 1 / side**2)
    assert float(attention_loss(on_box, box)) == pytest.approx(0.0, abs=1e-6)
    assert float(attention_loss(uniform, box)) == pytest.approx(float(-torch.log(torch.tensor(0.25))), rel=1e-5)
    assert float(attention_loss(elsewhere, box)) > 10


def test_teacher_recipe_starts_from_a_vit_tracker_and_logs_its_losses(synth, run_cli, tmp_path):
    vit = randomize_model(build_model(resolve_config("ctrack_tiny_ce")), seed=4)
    init = tmp_path / "vit.safetensors"
    save_native(vit, vit.config, init)
    out = tmp_path / "teacher"
    result = run_cli("train", "-r", "mixformerv2_teacher_tiny", "--init", init, "--data", f"lasot={synth}:all", "--out", out,
                     "train.epochs=1", "data.samples_per_epoch=4", "train.batch_size=4", "data.workers=0", "train.log_every=1")
    assert result.exit_code == 0, result.stderr
    steps = [r for r in _logged(out) if "loss" in r]
    assert steps and all({"giou", "l1", "dist", "attn"} <= set(r) for r in steps)
    trained = load_model(out / "model.safetensors")
    assert isinstance(trained, MixFormerV2Net) and trained.config.name == "ctrack_mixformerv2_tiny"


def test_score_labels_come_from_the_iou_of_positive_pairs():
    template = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 2, 2)
    mixed, positive = negative_half(template)
    assert positive.tolist() == [True, True, False, False]
    assert mixed[:, 0, 0, 0].tolist() == [0.0, 1.0, 1.0, 2.0]  # the second half holds the previous pair's template
    truth = torch.tensor([[0.3, 0.3, 0.4, 0.4]] * 4)  # x y w h
    boxes = torch.tensor([[0.5, 0.5, 0.4, 0.4], [0.1, 0.1, 0.1, 0.1], [0.5, 0.5, 0.4, 0.4], [0.5, 0.5, 0.4, 0.4]])
    out = {"pred_boxes": boxes[:, None], "score": torch.tensor([[5.0], [-5.0], [-5.0], [5.0]])}
    loss, logs = score_loss(out, truth, positive)
    # labels 1 (exact box), 0 (IoU 0), 0 and 0 (negatives): three logits right, the last wrong
    assert float(logs["label_rate"]) == 0.25 and float(logs["score_acc"]) == 0.75
    expected = torch.nn.functional.binary_cross_entropy_with_logits(out["score"].view(-1), torch.tensor([1.0, 0, 0, 0]))
    assert float(loss) == pytest.approx(float(expected))
    assert negative_half(template[:1])[1].tolist() == [True]


def test_score_stage_changes_only_the_score_head(box_trained, synth, run_cli, tmp_path):
    net, path = box_trained
    out = tmp_path / "score"
    result = run_cli("train", "-r", "mixformerv2_tiny_score", "--init", path, "--data", f"lasot={synth}:all", "--out", out,
                     "train.epochs=1", "data.samples_per_epoch=8", "train.batch_size=4", "data.workers=0", "train.log_every=1")
    assert result.exit_code == 0, result.stderr
    steps = [r for r in _logged(out) if "loss" in r]
    assert len(steps) == 2 and all({"score_bce", "score_acc", "label_rate"} <= set(r) for r in steps)
    before, after = net.state_dict(), load_model(out / "model.safetensors").state_dict()
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("score_head.") for k in changed)
    assert {k for k in before if k.startswith("score_head.") and k.endswith("weight")} <= changed


def test_score_stage_needs_a_trained_network_and_a_family_that_has_it(synth, run_cli, tmp_path):
    result = run_cli("train", "-r", "mixformerv2_tiny_score", "--data", f"lasot={synth}:all", "--out", tmp_path / "a")
    assert result.exit_code == 2 and "--init" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    result = run_cli("train", "-r", "ostrack_tiny", "train.stage=score", "--data", f"lasot={synth}:all", "--out", tmp_path / "b")
    assert result.exit_code == 2 and "train.stage score is not a stage of ostrack training" in result.stderr
    assert "Traceback" not in result.output
    with pytest.raises(ConfigError, match="train.stage must be one of box, score"):
        load_recipe("mixformerv2_tiny", ["train.stage=head"])
    assert load_recipe("mixformerv2_b_score")["train"]["stage"] == "score"
    assert load_recipe("mixformerv2_tiny")["train"]["stage"] == "box"


@pytest.fixture(scope="module")
def teacher_score_run(tmp_path_factory):
    """The score stage on the built-in MixFormerV2 teacher over a few generated sequences, with the
    score head reset first (so the run must learn it again)."""
    from compresstracker.data.synthetic import generate
    from compresstracker.demo import builtin_teacher
    from compresstracker.training.run import train_tracker

    base = tmp_path_factory.mktemp("teacher-score")
    data = base / "data"
    generate("lasot", data, sequences=12, frames=40, seed=31)
    teacher = load_model(builtin_teacher("mixformerv2"))
    torch.manual_seed(0)
    fresh = MixFormerV2Net(teacher.config)
    teacher.score_head.load_state_dict(fresh.score_head.state_dict())
    init = base / "reset.safetensors"
    save_native(teacher, teacher.config, init)
    recipe = load_recipe("mixformerv2_tiny_score", [
        "model.arch=ctrack_mixformerv2_tiny", f"model.init={init}", f"data.train.0.root={data}", "data.workers=0",
        "data.samples_per_epoch=256", "train.epochs=4", "train.lr_drop_epoch=100", "train.log_every=4",
    ])
    train_tracker(recipe, base / "run", progress=False, threads=1)
    return base / "run", data


def test_score_stage_loss_falls_on_generated_data(teacher_score_run):
    run, _ = teacher_score_run
    epochs = [r for r in _logged(run) if r.get("epoch_end")]
    assert len(epochs) == 4
    assert epochs[-1]["mean_score_bce"] < 0.8 * epochs[0]["mean_score_bce"]
    assert epochs[-1]["mean_score_acc"] > 0.7


def test_trained_score_gates_the_online_template(teacher_score_run):
    """After the score stage its score gates the online template: a crop becomes the next online template
    exactly when its score clears the threshold, at the default 0.5 and at the median score (where
    some frames' crops are swapped in and others are not)."""
    from compresstracker.data import get_dataset
    from compresstracker.tracking.video import read_rgb

    run, data = teacher_score_run
    network = load_model(run / "model.safetensors")
    sequences = get_dataset("lasot", data, split="all").sequences
    cases = []  # (first frame, box, frame, shows the target): the sequence's next frame, another's
    for seq, other in zip(sequences, sequences[1:] + sequences[:1]):
        first, box = read_rgb(seq.frames[0]), seq.ground_truth[0]
        cases += [(first, box, read_rgb(seq.frames[1]), True), (first, box, read_rgb(other.frames[20]), False)]

    def run_gate(threshold: float) -> list[tuple[float, bool, bool]]:
        rows = []
        for first, box, frame, target in cases:
            tracker = MixFormerV2Tracker(network, params={"update_interval": 1, "score_threshold": threshold})
            tracker.initialize(first, box)
            score = tracker.track(frame).confidence
            moved = tracker.online_template is not tracker.template
            assert moved == (score > threshold)  # the gate
            rows.append((score, target, moved))
        return rows

    scores = [score for score, _, _ in run_gate(0.5)]
    assert len(set(scores)) > 1  # the score depends on the frame
    moved = [m for _, _, m in run_gate(float(np.median(scores)))]
    assert any(moved) and not all(moved)


def test_a_mixformerv2_network_starts_from_a_vit_trackers_backbone():
    vit = randomize_model(build_model(resolve_config("ctrack_tiny_ce")), seed=2)
    net = MixFormerV2Net(named_config("ctrack_mixformerv2_tiny"))
    own = {k: v.clone() for k, v in net.state_dict().items()}
    copied = adopt_vit(net, vit)
    source, after = vit.state_dict(), net.state_dict()
    assert torch.equal(net.backbone.blocks[7].mlp.fc2.weight, source["backbone.blocks.7.mlp.fc2.weight"])
    assert torch.equal(net.backbone.patch_embed.proj.weight, source["backbone.patch_embed.proj.weight"])
    assert all(k.startswith(("backbone.blocks.", "backbone.patch_embed.")) for k in copied)
    kept = [k for k in own if k not in copied]  # sin-cos tables, prediction tokens, heads
    assert "backbone.pos_embed_s" in kept and all(torch.equal(own[k], after[k]) for k in kept)
    with pytest.raises(ConfigError, match="no backbone.blocks"):
        adopt_vit(MixFormerV2Net(named_config("ctrack_mixformerv2_tiny").replace(depth=13)), vit)
    with pytest.raises(ConfigError, match="has shape"):
        adopt_vit(MixFormerV2Net(named_config("mixformerv2_tiny")), vit)
