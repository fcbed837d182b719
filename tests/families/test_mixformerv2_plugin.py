"""MixFormerV2 as a family plug-in: release files through the generic loader, the CLI's tracker,
presets and parameters, ONNX Runtime tracking, `ctrack train` and `ctrack compress` on a tiny network."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from compresstracker import load_model
from compresstracker.checkpoints import inspect_checkpoint
from compresstracker.checkpoints.formats import detect_format
from compresstracker.models import build_model
from compresstracker.families.mixformerv2 import MixFormerV2Net, MixFormerV2Tracker, named_config
from tests.conftest import randomize_model


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A tiny network saved exactly as the official trainer saves (no ctrack config in the file)."""
    torch.manual_seed(0)
    net = randomize_model(MixFormerV2Net(named_config("mixformerv2_tiny")), seed=3)
    path = tmp_path_factory.mktemp("release") / "MixFormerV2_ep0500.pth.tar"
    torch.save({"net": net.state_dict(), "epoch": 500, "net_type": "MixFormerV2"}, path)
    return net, path


def _frames_and_box(synth: Path) -> tuple[Path, str]:
    seq = sorted(p for p in (synth).rglob("img") if p.is_dir())[0]
    gt = np.loadtxt(seq.parent / "groundtruth.txt", delimiter=",")[0]
    return seq, ",".join(str(v) for v in gt)


def test_release_file_loads_with_no_flags_and_inspect_names_it(release, run_cli):
    net, path = release
    model = load_model(path)
    assert isinstance(model, MixFormerV2Net) and model.config == named_config("mixformerv2_tiny")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), net.state_dict().values()))
    keys = set(net.state_dict())
    # OSTrack's two required prefixes match these keys too: the most specific layout wins, in any registration order
    assert detect_format(keys, {}, "release").name == "mixformerv2"
    assert detect_format(set(build_model("tiny_64_ce").state_dict()), {}, "ostrack").name == "ostrack"
    info = inspect_checkpoint(path)
    assert (info["format"], info["family"]) == ("mixformerv2", "mixformerv2")
    shown = run_cli("inspect", path, "--json")
    assert shown.exit_code == 0, shown.stderr
    assert (shown.json()["format"], shown.json()["family"]) == ("mixformerv2", "mixformerv2")


def test_track_cli_picks_the_mixformerv2_loop_presets_and_params(release, synth, run_cli, tmp_path):
    _, path = release
    frames, box = _frames_and_box(synth)
    plain = run_cli("track", "-c", path, "--frames", frames, "--init-box", box, "-o", tmp_path / "a.txt", "--json")
    assert plain.exit_code == 0, plain.stderr
    assert plain.json()["tracker"]["preset"] == "lasot" and plain.json()["tracker"]["update_interval"] == 200
    tuned = run_cli("track", "-c", path, "--frames", frames, "--init-box", box, "-o", tmp_path / "b.txt", "--json",
                    "--preset", "got10k", "--param", "update_interval=3")
    assert tuned.exit_code == 0, tuned.stderr
    assert tuned.json()["tracker"]["preset"] == "got10k" and tuned.json()["tracker"]["update_interval"] == 3
    assert np.loadtxt(tmp_path / "a.txt").shape == (12, 4)
    bad = run_cli("track", "-c", path, "--frames", frames, "--init-box", box, "-o", tmp_path / "c.txt", "--preset", "nope")
    assert bad.exit_code != 0 and "unknown MixFormerV2 preset 'nope'" in bad.stderr and "Traceback" not in bad.output


def test_onnx_export_tracks_like_torch(release, synth, run_cli, tmp_path):
    pytest.importorskip("onnxruntime")
    _, path = release
    exported = run_cli("export", path, "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert exported.exit_code == 0, exported.output
    frames, box = _frames_and_box(synth)
    for backend, source in (("torch", path), ("onnxruntime", tmp_path / "m.onnx")):
        result = run_cli("track", "-c", source, "--backend", backend, "--frames", frames, "--init-box", box,
                         "--param", "update_interval=3", "-o", tmp_path / f"{backend}.txt", "--json")
        assert result.exit_code == 0, result.output
        assert result.json()["backend"] == backend
    np.testing.assert_allclose(np.loadtxt(tmp_path / "onnxruntime.txt"), np.loadtxt(tmp_path / "torch.txt"), rtol=0, atol=1e-2)


def test_train_one_epoch_from_the_tiny_recipe(synth, run_cli, tmp_path):
    out = tmp_path / "train"
    result = run_cli("train", "-r", "mixformerv2_tiny", "--data", f"lasot={synth}:all", "--out", out,
                     "train.epochs=1", "data.samples_per_epoch=8", "train.batch_size=4", "data.workers=0",
                     "train.log_every=1", "train.warmup_epochs=0")
    assert result.exit_code == 0, result.stderr
    steps = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    steps = [r for r in steps if "loss" in r]
    assert len(steps) == 2 and all({"giou", "l1", "iou"} <= set(r) for r in steps)
    assert all(np.isfinite(r["loss"]) for r in steps)
    trained = load_model(out / "checkpoints" / "last.pt")
    assert isinstance(trained, MixFormerV2Net) and trained.config.name == "mixformerv2_tiny"


def test_compress_writes_both_student_files_that_load_and_track(release, synth, run_cli, tmp_path):
    teacher, path = release
    out = tmp_path / "ct"
    result = run_cli("compress", "--teacher", path, "--stages", "2", "-r", "compresstracker_tiny", "--data", f"lasot={synth}:all",
                     "--out", out, "--epochs", "1", "--samples-per-epoch", "8", "--batch-size", "4", "--loader-workers", "0",
                     "model.drop_path=0.0", "--json")
    assert result.exit_code == 0, result.stderr
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["pred"]) and r["pred"] > 0 for r in log if "loss" in r)
    native = load_model(out / "student.safetensors")
    official = load_model(out / "student_mixformerv2.pth.tar")
    assert native.config.depth == official.config.depth == 2 and native.config.name == "mixformerv2_tiny_student2"
    assert all(torch.equal(a, b) for a, b in zip(native.state_dict().values(), official.state_dict().values()))
    raw = torch.load(out / "student_mixformerv2.pth.tar", weights_only=True)
    assert "backbone.blocks.1.mlp.fc2.weight" in raw["net"] and "backbone.blocks.2.mlp.fc2.weight" not in raw["net"]
    frames, box = _frames_and_box(synth)
    for name in ("student.safetensors", "student_mixformerv2.pth.tar"):
        tracked = run_cli("track", "-c", out / name, "--frames", frames, "--init-box", box, "-o", tmp_path / f"{name}.txt")
        assert tracked.exit_code == 0, tracked.stderr
        assert np.isfinite(np.loadtxt(tmp_path / f"{name}.txt")).all()


def test_student_keeps_the_teachers_heads_and_tokens(release):
    from compresstracker.compression.adapters import adapter_for
    from compresstracker.compression.plan import plan_stages
    from compresstracker.compression.student import init_student

    teacher, _ = release
    adapter = adapter_for(teacher)
    plan = plan_stages(adapter.depth(teacher), 2)
    student = init_student(teacher, plan)
    t, s = teacher.state_dict(), student.state_dict()
    for key in ("backbone.reg_tokens", "box_head.layers.1.0.weight", "score_head.layers.1.weight"):
        assert torch.equal(s[key], t[key])
    assert torch.equal(s["backbone.blocks.1.attn.qkv.weight"], t[f"backbone.blocks.{plan.student_init[1]}.attn.qkv.weight"])
    assert adapter.num_template_tokens(teacher) == 2 * teacher.config.num_template_tokens
    assert 0 < adapter.macs(student) < adapter.macs(teacher)
    assert isinstance(MixFormerV2Tracker(student).network, MixFormerV2Net)
