"""Every registered tracker family holds every hook, and each hook works on a tiny instance.

Walks :func:`compresstracker.families.plugins` (no family is named here): build, native and
release save/load round trips, forward, one tracking step, export + tracking on each graph
backend installed, one training step from the family's recipe, one compression step where the
family has a teacher adapter.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from compresstracker import load_model
from compresstracker.checkpoints import save_native, save_release
from compresstracker.families import plugins
from compresstracker.models import build_model, family_of, get_config
from compresstracker.tracking import make_tracker

FAMILIES = sorted(plugins())
HOOKS = ("model", "architectures", "formats", "tracker", "deploy", "macs", "macs_rules", "training", "tiny", "recipe")
# Graph backends and the export format that feeds each; a backend runs where its runtime is installed.
GRAPH_BACKENDS = {"onnxruntime": ("onnx", ".onnx", "onnxruntime"), "openvino": ("openvino", ".xml", "openvino")}
OWN_PROCESS = {"openvino"}


def test_every_family_is_listed_with_its_hooks():
    assert {"ostrack", "lighttrack"} <= set(FAMILIES)
    rows = []
    for name, plugin in plugins().items():
        missing = [hook for hook in HOOKS if not getattr(plugin, hook)]
        assert missing == [], f"{name} lacks {missing}"
        rows.append(f"{name}: {', '.join(h for h in HOOKS + ('adapter', 'release', 'supernet') if getattr(plugin, h) is not None)}")
    print("\n".join(rows))


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    from compresstracker.data.synthetic import generate

    root = tmp_path_factory.mktemp("conformance")
    generate("lasot", root, sequences=2, frames=12, seed=5, image_size=(160, 120))
    return root


def _tiny(plugin):
    torch.manual_seed(0)
    model = build_model(plugin.tiny).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-degenerate weights: a fresh head can give flat outputs
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(0.02 * torch.randn(tensor.shape, generator=gen))
    return model


def _sequence(frames):
    seq = next(p for p in sorted(frames.rglob("*")) if (p / "groundtruth.txt").is_file())
    images = sorted((seq / "img").iterdir())
    box = [float(v) for v in (seq / "groundtruth.txt").read_text().splitlines()[0].split(",")]
    return seq, images, box


@pytest.mark.parametrize("name", FAMILIES)
def test_build_save_load_forward_track(name, tmp_path, frames):
    plugin = plugins()[name]
    model = _tiny(plugin)
    assert family_of(model.config).name == name and isinstance(model, plugin.model.network)
    assert get_config(plugin.tiny) == model.config
    native = load_model(save_native(model, model.config, tmp_path / "m.safetensors"))
    expected = model.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in native.state_dict().items())
    if plugin.release is not None:
        released = load_model(save_release(model, tmp_path / plugin.release.filename))
        assert all(torch.equal(v, expected[k]) for k, v in released.state_dict().items())
    macs = plugin.macs(model)
    assert macs > 0
    from compresstracker.tracking import read_rgb

    _, images, box = _sequence(frames)
    tracker = make_tracker(native)
    tracker.initialize(read_rgb(images[0]), box)
    out = tracker.track(read_rgb(images[1]))
    assert len(out) == 4 and np.isfinite(out).all()


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("backend", sorted(GRAPH_BACKENDS))
def test_export_and_track_on_each_backend(name, backend, run_cli, tmp_path, frames):
    fmt, suffix, module = GRAPH_BACKENDS[backend]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"optional extra {module} is not installed")
    plugin = plugins()[name]
    model = _tiny(plugin)
    path = save_native(model, model.config, tmp_path / "m.safetensors")
    exported = tmp_path / f"m{suffix}"
    seq, _, box = _sequence(frames)
    track = ["--frames", seq / "img", "--init-box", ",".join(map(str, box))]
    # OpenVINO runs in commands of their own: OpenVINO's threads in a process that goes on to train and
    # fork loader workers corrupted its heap (see tests/export/test_openvino.py); a ctrack command
    # loads one backend and exits, which is also the faithful setting.
    run = _ctrack_process if backend in OWN_PROCESS else run_cli
    result = run("export", path, "--format", fmt, "--out", exported, "--json")
    assert result.exit_code == 0, result.stderr
    runs = {}
    for label, runner, args in (("torch", run_cli, ["-c", path]), (backend, run, ["-c", exported, "--backend", backend])):
        out = tmp_path / f"{label}.txt"
        result = runner("track", *args, *track, "-o", out)
        assert result.exit_code == 0, result.stderr
        runs[label] = np.loadtxt(out, delimiter="\t")
    assert runs[backend].shape == runs["torch"].shape
    assert np.abs(runs[backend][:3] - runs["torch"][:3]).max() < 1.0  # the first steps, before any drift can compound


def _ctrack_process(*args):
    """``ctrack ARGS`` in a process of its own: exit code and stderr, as run_cli gives them."""
    result = subprocess.run([sys.executable, "-m", "compresstracker.cli.main", *map(str, args)], capture_output=True, text=True,
                            timeout=300)
    return SimpleNamespace(exit_code=result.returncode, stderr=result.stderr)


@pytest.mark.parametrize("name", FAMILIES)
def test_one_training_step(name, run_cli, tmp_path, frames):
    plugin = plugins()[name]
    out = tmp_path / "run"
    result = run_cli("train", "-r", plugin.recipe, f"model.arch={plugin.tiny}", "--data", f"lasot={frames}:all", "--out", out,
                     "--epochs", "1", "--samples-per-epoch", "4", "--batch-size", "2", "--loader-workers", "0", "--json")
    assert result.exit_code == 0, result.stderr
    steps = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert any("loss" in r and np.isfinite(r["loss"]) for r in steps)
    assert family_of(load_model(out / "model.safetensors").config).name == name


@pytest.mark.parametrize("name", [n for n in FAMILIES if plugins()[n].adapter is not None])
def test_one_compression_step(name, run_cli, tmp_path, frames):
    plugin = plugins()[name]
    model = _tiny(plugin)
    teacher = save_native(model, model.config, tmp_path / "teacher.safetensors")
    out = tmp_path / "ct"
    result = run_cli("compress", "--teacher", teacher, "--stages", "2", "--data", f"lasot={frames}:all", "--out", out,
                     "--epochs", "1", "--samples-per-epoch", "4", "--batch-size", "2", "--loader-workers", "0", "--json")
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    student = load_model(summary["student"])
    assert family_of(student.config).name == name
    assert plugin.adapter.depth(student) == 2
    if plugin.release is not None:
        assert family_of(load_model(summary[f"student_{plugin.release.name}"]).config).name == name
