"""The OpenVINO backend: fp32 gives the torch boxes, int8 is calibrated on real crops, every file verified.

Not collected by the suite itself (no ``test_`` prefix): test_openvino.py runs this file in a
pytest process of its own, so OpenVINO's runtime never loads into the long-lived suite process.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from compresstracker.data import get_dataset
from compresstracker.data.synthetic import generate
from compresstracker.deploy import GraphNetwork, load_network
from compresstracker.deploy.family import deployed_differences
from compresstracker.deploy.calibration import calibration_sequences
from compresstracker.families.ostrack.deploy import OstrackFamily
from compresstracker.errors import ConfigError
from compresstracker.evaluation.runner import ModelSpec, build_tracker, track_sequence
from compresstracker.tracking import read_rgb
from compresstracker.families.ostrack.tracker import OSTrackTracker

pytest.importorskip("openvino")
pytest.importorskip("nncf")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    generate("lasot", root, sequences=2, frames=12, seed=3)
    return root


def test_fp32_ir_file_tracks_like_torch(teacher, save, dataset_root, tmp_path, run_cli):
    ckpt = save(teacher, "teacher")
    out = tmp_path / "teacher.xml"
    result = run_cli("export", ckpt, "--format", "openvino", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    info = result.json()
    assert info["precision"] == "fp32" and info["ce"] is True and info["max_abs_diff"] < 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["teacher.bin", "teacher.safetensors", "teacher.xml"]
    # The figure printed is the written file's, read back: measured again here, it is the same number.
    assert info["max_abs_diff"] == pytest.approx(max(deployed_differences(teacher, load_network(out, "openvino")).values()), abs=1e-7)
    sequence = get_dataset("synthetic", dataset_root, split="all").sequences[0]
    torch_boxes, _ = track_sequence(build_tracker(ModelSpec(str(ckpt))), sequence)
    tracker = build_tracker(ModelSpec(str(out), backend="openvino"))
    assert isinstance(tracker.network, GraphNetwork) and tracker.network.config == teacher.config
    ov_boxes, _ = track_sequence(tracker, sequence)
    np.testing.assert_allclose(ov_boxes, torch_boxes, rtol=0, atol=1e-2)
    assert len({tuple(np.round(b, 1)) for b in torch_boxes}) > 3  # the boxes move, so agreement means something


def test_int8_export_is_calibrated_verified_and_measured(student, save, dataset_root, tmp_path, run_cli):
    out = tmp_path / "student.int8.xml"
    result = run_cli(
        "export", save(student, "student"), "--format", "openvino", "--precision", "int8", "--calib",
        f"synthetic={dataset_root}:all", "--out", out, "--eval-sequences", "1", "--eval-frames", "12", "--json",
    )
    assert result.exit_code == 0, result.output
    info = result.json()  # stdout holds the JSON alone: NNCF's progress output is kept off it
    assert info["quantization"]["calibration"].startswith("synthetic (2 sequences)")
    assert info["quantization"]["samples"] == {"maps": 22}  # 2 sequences x 11 search frames
    network = load_network(out, backend="openvino")
    assert network.precision == "int8"
    # The figure printed is this int8 file's own difference to torch fp32, not the fp32 graph's.
    assert 1e-4 < info["max_abs_diff"] < 1.0
    accuracy = info["accuracy"]
    assert accuracy["auc_change"]["int8"] == pytest.approx(accuracy["auc"]["int8"] - accuracy["auc_reference"])


def test_calibration_crops_are_the_trackers_crops(student, dataset_root):
    with calibration_sequences(f"synthetic={dataset_root}:all") as (_, sequences):
        inputs = OstrackFamily().calibration_inputs(student, False, sequences, samples=3)["maps"]
        tracker = OSTrackTracker(student)
        first = sequences[0]
        tracker.initialize(read_rgb(first.frames[0]), first.ground_truth[0])
    assert len(inputs) == 3
    assert torch.equal(inputs[0][0], tracker.template)  # the template the tracker crops at frame 0
    assert inputs[0][1].shape == (1, 3, 64, 64) and not torch.equal(inputs[0][1], inputs[1][1])


def test_bf16_runs_where_the_cpu_has_it(student, save, monkeypatch):
    from compresstracker.deploy import openvino

    ckpt = save(student, "student")
    if openvino.cpu_supports("bf16"):
        network = load_network(ckpt, backend="openvino", precision="bf16")
        template, search = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            expected = student(template, search)["score_map"]
        assert network.precision == "bf16"
        assert (network(template, search)["score_map"] - expected).abs().max() < 0.05
    bf16_file = None
    if openvino.cpu_supports("bf16"):
        bf16_file = ckpt.with_suffix(".bf16.xml")
        openvino.export_openvino(student, bf16_file, "bf16")
    monkeypatch.setattr(openvino, "cpu_supports", lambda precision: precision == "fp32")
    with pytest.raises(ConfigError, match="no native bf16"):
        load_network(ckpt, backend="openvino", precision="bf16")
    if bf16_file is not None:  # a bf16 file on a CPU without bf16 is refused, not quietly run in fp32
        with pytest.raises(ConfigError, match=r"student.bf16.xml is a bf16 model and this CPU has no native bf16"):
            load_network(bf16_file, backend="openvino")


def test_copies_run_themselves_and_foreign_files_are_one_line_errors(teacher, student, save, tmp_path, run_cli):
    import shutil

    from compresstracker.deploy.openvino import export_openvino
    from compresstracker.errors import CheckpointError

    export_openvino(teacher, tmp_path / "m.xml")
    for suffix in (".xml", ".bin"):
        shutil.copy(tmp_path / f"m{suffix}", tmp_path / f"copy{suffix}")
    export_openvino(student, tmp_path / "m.xml")  # the name stored in copy.xml now holds the student
    network = load_network(tmp_path / "copy.xml", backend="openvino")
    assert network.deployed.graphs == {"maps": tmp_path / "copy.xml"} and network.config == teacher.config
    assert max(deployed_differences(teacher, network).values()) < 1e-4
    (tmp_path / "notes.xml").write_text("<?xml version='1.0'?><notes/>")
    (tmp_path / "notes.bin").write_bytes(b"")
    with pytest.raises(CheckpointError, match="notes.xml is not an OpenVINO IR model"):
        load_network(tmp_path / "notes.xml", backend="openvino")
    result = run_cli("export", save(student, "student"), "--format", "onnx", "--out", tmp_path / "s.xml")
    assert result.exit_code == 2 and "named NAME.onnx" in result.stderr and not (tmp_path / "s.xml").exists()


def test_lighttrack_ir_export_reports_in_json(make_model, save, tmp_path, run_cli):
    model = make_model("lighttrack_tiny", seed=0, template_size=128, search_size=256).eval()
    result = run_cli("export", save(model, "lt"), "--format", "openvino", "--out", tmp_path / "lt.xml", "--json")
    assert result.exit_code == 0, result.output
    info = result.json()
    assert info["arch"] == "lighttrack_tiny" and set(info["graphs"]) == {"template", "search"} and info["max_abs_diff"] < 1e-4
    assert load_network(tmp_path / "lt.xml", backend="openvino").deployed.graphs["template"] == tmp_path / "lt.template.xml"


def test_missing_openvino_says_how_to_install(student, save, tmp_path, run_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    result = run_cli("export", save(student, "student"), "--format", "openvino", "--out", tmp_path / "m.xml")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1].endswith('pip install "ctrack[openvino]"')
