"""The ONNX Runtime backend: the same boxes as PyTorch through the tracker, runner and CLI."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compresstracker.deploy import GraphNetwork, load_network
from compresstracker.deploy.onnx import export_onnx
from compresstracker.data import get_dataset
from compresstracker.data.synthetic import generate
from compresstracker.errors import CheckpointError, ConfigError
from compresstracker.evaluation.runner import ModelSpec, build_tracker, track_sequence

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture
def dataset_root(tmp_path):
    root = tmp_path / "synthetic"
    generate("lasot", root, sequences=2, frames=12, seed=3)
    return root


def _moving(boxes: np.ndarray) -> int:
    return len({tuple(np.round(b, 1)) for b in boxes})


@pytest.mark.parametrize("which", ["teacher", "student"])
def test_onnxruntime_tracker_gives_the_torch_boxes(which, request, save, dataset_root, tmp_path):
    model = request.getfixturevalue(which)
    ckpt = save(model, which)
    sequence = get_dataset("synthetic", dataset_root, split="all").sequences[0]
    torch_boxes, _ = track_sequence(build_tracker(ModelSpec(str(ckpt))), sequence)
    # The teacher is exported on the fly from its checkpoint, the student from an .onnx file.
    source = ckpt if which == "teacher" else export_onnx(model, tmp_path / "student.onnx")["path"]
    tracker = build_tracker(ModelSpec(str(source), backend="onnxruntime"))
    assert isinstance(tracker.network, GraphNetwork) and tracker.network.ce_enabled == (which == "teacher")
    ort_boxes, _ = track_sequence(tracker, sequence)
    np.testing.assert_allclose(ort_boxes, torch_boxes, rtol=0, atol=1e-2)
    assert _moving(torch_boxes) > 3  # the boxes really move, so agreement means something


def test_track_and_eval_cli_take_the_backend(teacher, save, dataset_root, tmp_path, run_cli):
    ckpt = save(teacher, "teacher")
    sequence = get_dataset("synthetic", dataset_root, split="all").sequences[0]
    box = ",".join(str(v) for v in sequence.ground_truth[0])
    outputs = {}
    for backend in ("torch", "onnxruntime"):
        outputs[backend] = tmp_path / f"{backend}.txt"
        result = run_cli(
            "track", "-c", ckpt, "--backend", backend, "--frames", Path(sequence.frames[0]).parent,
            "--init-box", box, "-o", outputs[backend], "--json",
        )
        assert result.exit_code == 0, result.output
        assert result.json()["backend"] == backend
    torch_boxes, ort_boxes = (np.loadtxt(outputs[b]) for b in ("torch", "onnxruntime"))
    np.testing.assert_allclose(ort_boxes, torch_boxes, rtol=0, atol=1e-2)

    scores = {}
    for backend in ("torch", "onnxruntime"):
        result = run_cli(
            "eval", "-c", ckpt, "--backend", backend, "-d", "synthetic", "--root", dataset_root, "--split", "all",
            "--out", tmp_path / "results", "--name", backend, "--json",
        )
        assert result.exit_code == 0, result.output
        scores[backend] = result.json()["metrics"]["auc"]
    assert scores["onnxruntime"] == pytest.approx(scores["torch"], abs=0.5)


def test_onnx_files_need_the_onnxruntime_backend(teacher, tmp_path, run_cli, dataset_root):
    path = tmp_path / "teacher.onnx"
    export_onnx(teacher, path, ce=False)
    with pytest.raises(CheckpointError, match="--backend onnxruntime"):
        load_network(path)
    with pytest.raises(ConfigError, match="unknown backend 'tensorrt'"):
        load_network(path, backend="tensorrt")
    assert load_network(path, backend="onnxruntime").ce_enabled is False
    with pytest.raises(CheckpointError, match="exported without candidate elimination"):
        load_network(path, backend="onnxruntime", ce=True)
    result = run_cli("eval", "-c", path, "-d", "synthetic", "--root", dataset_root, "--out", tmp_path / "r")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == ["Error: teacher.onnx is a deployed model: run it with --backend onnxruntime"]


def test_sessions_stop_spinning_when_a_run_returns(teacher, tmp_path, monkeypatch):
    """Spinning workers left behind by a run took the cores from the rest of the process."""
    import onnxruntime as ort

    from compresstracker.deploy.onnx import ort_runner

    export_onnx(teacher, tmp_path / "t.onnx")
    seen = []
    real = ort.InferenceSession

    def capture(path, sess_options=None, providers=None):
        seen.append(sess_options)
        return real(path, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(ort, "InferenceSession", capture)
    ort_runner(tmp_path / "t.onnx", "cpu", threads=1)
    assert seen and seen[0].get_session_config_entry("session.force_spinning_stop") == "1"
    assert seen[0].intra_op_num_threads == 1


def test_a_copied_file_runs_itself_and_calib_is_refused_where_it_does_nothing(teacher, student, save, tmp_path):
    import shutil

    import torch

    path = tmp_path / "model.onnx"
    export_onnx(student, path)
    shutil.copy(path, tmp_path / "copy.onnx")
    export_onnx(teacher, path)  # the name stored in copy.onnx now holds the teacher
    network = load_network(tmp_path / "copy.onnx", backend="onnxruntime")
    assert network.deployed.graphs == {"maps": tmp_path / "copy.onnx"}
    template, search = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = student(template, search)["score_map"]
    assert (network(template, search)["score_map"] - expected).abs().max() < 1e-4
    ckpt = save(teacher, "teacher")
    for backend, precision, source in [("torch", None, ckpt), ("onnxruntime", "int8", ckpt), ("onnxruntime", None, path)]:
        with pytest.raises(ConfigError, match="--calib applies where a checkpoint is quantised"):
            load_network(source, backend=backend, precision=precision, calib=f"synthetic={tmp_path}")
    with pytest.raises(ConfigError, match="must look like NAME=ROOT"):
        load_network(ckpt, calib="bogus")


def test_track_sizes_the_runtime_pool_by_threads(teacher, save, dataset_root, tmp_path, run_cli, monkeypatch):
    """--threads reaches ONNX Runtime's pool as an explicit count, not only through torch's setting."""
    import compresstracker.deploy.onnxruntime as ort_backend

    seen, original = [], ort_backend.ort_runner

    def spy(path, device="cpu", threads=None):
        seen.append(threads)
        return original(path, device, threads)

    monkeypatch.setattr(ort_backend, "ort_runner", spy)
    sequence = get_dataset("synthetic", dataset_root, split="all").sequences[0]
    box = ",".join(str(v) for v in sequence.ground_truth[0])
    result = run_cli("track", "-c", save(teacher, "teacher"), "--backend", "onnxruntime", "--threads", "1",
                     "--frames", Path(sequence.frames[0]).parent, "--init-box", box, "-o", tmp_path / "b.txt")
    assert result.exit_code == 0, result.output
    assert seen and set(seen) == {1}
