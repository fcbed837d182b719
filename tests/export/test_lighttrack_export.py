"""LightTrack deployed as two ONNX graphs: verified export, dynamic sides, int8, the tracker backend, bench rows."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from compresstracker.bench.flops import count_params
from compresstracker.families.lighttrack.macs import count_lighttrack_macs
from compresstracker.bench.latency import bench_models
from compresstracker.data import get_dataset
from compresstracker.data.synthetic import generate
from compresstracker.deploy import load_network
from compresstracker.families.lighttrack.deploy import LightTrackGraphNetwork
from compresstracker.deploy.onnx import export_onnx, read_onnx
from compresstracker.deploy.quantize import quantize_onnx_int8
from compresstracker.evaluation.runner import ModelSpec, build_tracker, track_sequence

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

MOBILE_SIZES = {"template_size": 128, "search_size": 256}  # the tracker's presets fit with no flags


@pytest.fixture
def lighttrack(make_model):
    return make_model("lighttrack_tiny", seed=0, **MOBILE_SIZES).eval()


@pytest.fixture
def sequence(tmp_path):
    root = tmp_path / "synthetic"
    generate("lasot", root, sequences=1, frames=8, seed=4)
    return get_dataset("synthetic", root, split="all").sequences[0]


def test_two_graphs_are_written_and_verified(lighttrack, tmp_path):
    info = export_onnx(lighttrack, tmp_path / "lt.onnx")
    assert info["family"] == "lighttrack" and info["arch"] == "lighttrack_tiny"
    assert set(info["graphs"]) == {"template", "search"}
    assert info["graphs"]["template"]["path"] == str(tmp_path / "lt.template.onnx")
    assert info["graphs"]["search"]["path"] == str(tmp_path / "lt.onnx")  # the per-frame graph is the named file
    assert info["graphs"]["search"]["inputs"] == {"zf": [1, 24, 8, 8], "search": [1, 3, 256, 256]}
    assert set(info["max_abs_diff_per_output"]) == {"template/zf", "search/cls", "search/reg"}
    assert info["max_abs_diff"] < 1e-4
    deployed = read_onnx(tmp_path / "lt.onnx")
    assert deployed.family == "lighttrack" and deployed.config == lighttrack.config
    assert set(deployed.graphs) == {"template", "search"}


@pytest.mark.parametrize("template, search", [(127, 256), (128, 288)])
def test_graphs_take_the_trackers_other_sizes(lighttrack, tmp_path, template, search):
    export_onnx(lighttrack, tmp_path / "lt.onnx")
    network = load_network(tmp_path / "lt.onnx", "onnxruntime")
    assert isinstance(network, LightTrackGraphNetwork)
    gen = torch.Generator().manual_seed(2)
    z, x = torch.randn(1, 3, template, template, generator=gen), torch.randn(1, 3, search, search, generator=gen)
    with torch.no_grad():
        zf = lighttrack.features(z)
        expected = lighttrack.track(x, zf)
    got_zf = network.template(z)
    got = network.track(x, got_zf)
    assert (got_zf - zf).abs().max() < 1e-4
    assert got["cls"].shape == (1, 1, search // 16, search // 16)
    for name in ("cls", "reg"):
        assert (got[name] - expected[name]).abs().max() < 1e-4


def test_onnxruntime_tracker_gives_the_torch_boxes(lighttrack, save, sequence, tmp_path):
    ckpt = save(lighttrack, "lighttrack")
    torch_boxes, _ = track_sequence(build_tracker(ModelSpec(str(ckpt))), sequence)
    export_onnx(lighttrack, tmp_path / "lt.onnx")
    for source in (tmp_path / "lt.onnx", ckpt):  # an exported file, and a checkpoint exported on the fly
        tracker = build_tracker(ModelSpec(str(source), backend="onnxruntime"))
        assert isinstance(tracker.network, LightTrackGraphNetwork)
        ort_boxes, _ = track_sequence(tracker, sequence)
        np.testing.assert_allclose(ort_boxes, torch_boxes, rtol=0, atol=1e-2)
    assert len({tuple(np.round(b, 1)) for b in torch_boxes}) > 3  # the boxes move: agreement means something


def test_int8_files_run_in_the_tracker(lighttrack, sequence, tmp_path):
    export_onnx(lighttrack, tmp_path / "lt.onnx")
    info = quantize_onnx_int8(tmp_path / "lt.onnx", tmp_path / "lt.int8.onnx")
    assert info["precision"] == "int8" and (tmp_path / "lt.int8.template.onnx").is_file()
    deployed = read_onnx(tmp_path / "lt.int8.onnx")
    assert deployed.precision == "int8" and set(deployed.graphs) == {"template", "search"}
    tracker = build_tracker(ModelSpec(str(tmp_path / "lt.int8.onnx"), backend="onnxruntime"))
    boxes, _ = track_sequence(tracker, sequence)
    assert boxes.shape == (len(sequence.frames), 4) and np.isfinite(boxes).all()


def test_export_and_track_cli_run_the_two_graphs(lighttrack, save, sequence, tmp_path, run_cli):
    ckpt = save(lighttrack, "lighttrack")
    exported = run_cli("export", ckpt, "--format", "onnx", "--out", tmp_path / "lt.onnx")
    assert exported.exit_code == 0, exported.output
    compact = "".join(exported.stdout.split())  # rich may fold long paths
    assert f"graphtemplate:{tmp_path / 'lt.template.onnx'}(maxabsdiffzf" in compact
    assert f"graphsearch:{tmp_path / 'lt.onnx'}(maxabsdiffcls" in compact
    sources = {"torch": ckpt, "onnxruntime": tmp_path / "lt.onnx"}
    box = ",".join(str(v) for v in sequence.ground_truth[0])
    for backend, source in sources.items():
        result = run_cli("track", "-c", source, "--backend", backend, "--preset", "vot2019",
                         "--frames", Path(sequence.frames[0]).parent, "--init-box", box, "-o", tmp_path / f"{backend}.txt", "--json")
        assert result.exit_code == 0, result.output
        assert result.json()["backend"] == backend
    np.testing.assert_allclose(np.loadtxt(tmp_path / "onnxruntime.txt"), np.loadtxt(tmp_path / "torch.txt"), rtol=0, atol=1e-2)


def test_bench_reports_lighttrack_rows_with_their_mac_convention(lighttrack, save, run_cli):
    ckpt = str(save(lighttrack, "lighttrack"))
    shown = run_cli("bench", ckpt, "--threads", "1", "--runs", "50")
    assert shown.exit_code == 0, shown.output
    assert "MACs of lighttrack.safetensors: search branch, thop's rules" in " ".join(shown.stdout.split())
    report = bench_models([ckpt], ["torch", "onnxruntime"], threads=1, runs=50)
    rows = report["models"]
    assert [r["backend"] for r in rows] == ["torch", "onnxruntime"]
    for row in rows:
        assert row["params"] == count_params(lighttrack) and row["macs"] == count_lighttrack_macs(lighttrack)
        assert row["macs_counted"].startswith("search branch, thop's rules") and "correlation" in row["macs_counted"]
        assert row["latency_ms"] > 0 and row["track_ms"] > 0 and row["ce"] is False


def test_a_renamed_copy_runs_its_own_graphs_and_a_foreign_sibling_is_refused(lighttrack, make_model, tmp_path):
    import shutil

    from compresstracker.errors import CheckpointError

    export_onnx(lighttrack, tmp_path / "lt.onnx")
    for name in ("lt.onnx", "lt.template.onnx"):
        shutil.copy(tmp_path / name, tmp_path / name.replace("lt.", "copy.", 1))
    other = make_model("lighttrack_tiny", seed=5, **MOBILE_SIZES).eval()
    export_onnx(other, tmp_path / "lt.onnx")  # the names stored in copy.onnx now hold another network
    copy = load_network(tmp_path / "copy.onnx", backend="onnxruntime")
    assert copy.deployed.graphs == {"template": tmp_path / "copy.template.onnx", "search": tmp_path / "copy.onnx"}
    z, x = torch.randn(1, 3, 128, 128), torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        expected = lighttrack.track(x, lighttrack.template(z))["cls"]
    assert (copy.track(x, copy.template(z))["cls"] - expected).abs().max() < 1e-4
    quantize_onnx_int8(tmp_path / "lt.onnx", tmp_path / "q.onnx")
    shutil.copy(tmp_path / "q.template.onnx", tmp_path / "copy.template.onnx")  # an int8 template graph beside fp32
    with pytest.raises(CheckpointError, match=r"not from the same export as copy.onnx \(its precision differs\)"):
        load_network(tmp_path / "copy.onnx", backend="onnxruntime")
    shutil.copy(tmp_path / "lt.onnx", tmp_path / "copy.template.onnx")  # the search graph where the template belongs
    with pytest.raises(CheckpointError, match="holds graph 'search', not the 'template' graph"):
        load_network(tmp_path / "copy.onnx", backend="onnxruntime")
    shutil.copy(tmp_path / "lt.template.onnx", tmp_path / "alone.onnx")  # a template graph under a main file's name
    with pytest.raises(CheckpointError, match="holds the 'template' graph of an export"):
        load_network(tmp_path / "alone.onnx", backend="onnxruntime")
