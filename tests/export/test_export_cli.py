"""``ctrack export``: ONNX (fp32 and int8), OSTrack and safetensors files, one-line errors."""
from __future__ import annotations

import sys

import pytest

from compresstracker.checkpoints import load_checkpoint
from compresstracker.deploy import load_network

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def _one_line_error(result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], result.stderr


def test_onnx_export_prints_the_difference(teacher, save, tmp_path, run_cli):
    out = tmp_path / "teacher.onnx"
    result = run_cli("export", save(teacher, "teacher"), "--format", "onnx", "--out", out, "--opset", "17")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())  # the summary is output (rich wraps long lines)
    assert "max abs diff" in text and "CE on" in text
    network = load_network(out, backend="onnxruntime")
    assert network.config == teacher.config and network.ce_enabled and network.precision == "fp32"


def test_int8_export_reports_the_auc_change(teacher, save, tmp_path, run_cli):
    out = tmp_path / "teacher.int8.onnx"
    result = run_cli(
        "export", save(teacher, "teacher"), "--format", "onnx", "--quantize", "int8", "--out", out,
        "--eval-sequences", "1", "--eval-frames", "12", "--json",
    )
    assert result.exit_code == 0, result.output
    info = result.json()
    assert info["path"] == str(out) and info["precision"] == "int8"
    assert 1e-4 < info["max_abs_diff"] < 1.0  # this int8 file's own difference, not the fp32 graph's
    accuracy = info["accuracy"]
    assert 0 <= accuracy["auc_reference"] <= 100 and 0 <= accuracy["auc"]["int8"] <= 100
    assert accuracy["auc_change"]["int8"] == pytest.approx(accuracy["auc"]["int8"] - accuracy["auc_reference"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["teacher.int8.onnx", "teacher.safetensors"]
    assert "MatMulInteger" in {node.op_type for node in onnx.load(str(out)).graph.node}
    network = load_network(out, backend="onnxruntime")
    assert network.precision == "int8" and network.config == teacher.config


@pytest.mark.parametrize("fmt, name", [("ostrack", "student.pth.tar"), ("safetensors", "copy.safetensors")])
def test_weights_export_round_trips(fmt, name, student, save, tmp_path, run_cli):
    out = tmp_path / name
    result = run_cli("export", save(student, "student"), "--format", fmt, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    assert result.json()["format"] == fmt
    loaded = load_checkpoint(out)
    assert loaded.config == student.config and loaded.format == ("ostrack" if fmt == "ostrack" else "ctrack")
    state = loaded.model.state_dict()
    assert all((state[k] == v).all() for k, v in student.state_dict().items())


@pytest.mark.parametrize(
    "name, extra, message",
    [
        ("missing.safetensors", ["--format", "onnx"], "checkpoint not found"),
        ("notes.txt", ["--format", "onnx"], "not a readable PyTorch checkpoint"),
        ("model.onnx", ["--format", "safetensors"], "already a deployed model"),
        ("student", ["--format", "ostrack", "--quantize", "int8"], "apply to --format onnx"),
        ("student", ["--format", "onnx", "--opset", "13"], "13 is not in the range x>=14"),
        ("student", ["--format", "onnx"], "--format onnx files are named NAME.onnx"),
        ("student", ["--format", "openvino"], "--format openvino files are named NAME.xml"),
    ],
)
def test_export_errors_are_one_line(name, extra, message, student, save, tmp_path, run_cli):
    path = save(student, "student") if name == "student" else tmp_path / name
    if name in ("notes.txt", "model.onnx"):
        path.write_bytes(b"hello\n")
    out = tmp_path / ("out.bin" if name == "student" else "out.onnx")  # an unreadable source, not the name, is the fault
    result = run_cli("export", path, *extra, "--out", out)
    if "--opset" in extra:  # a click usage error: exit 2, no traceback, the reason on its own line
        assert result.exit_code == 2 and "Traceback" not in result.output and message in result.stderr
    else:
        _one_line_error(result, message)
    assert not out.exists()


def test_unknown_format_is_a_usage_error(student, save, tmp_path, run_cli):
    result = run_cli("export", save(student, "student"), "--format", "tflite", "--out", tmp_path / "m.tflite")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Invalid value for '--format'" in result.stderr


@pytest.mark.parametrize("command", ["export", "track"])
def test_missing_onnxruntime_says_how_to_install(command, student, save, tmp_path, run_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    ckpt = save(student, "student")
    if command == "export":
        args = ["export", ckpt, "--format", "onnx", "--out", tmp_path / "m.onnx"]
    else:
        frames = tmp_path / "frames"
        frames.mkdir()
        (frames / "0001.jpg").write_bytes(b"")
        args = ["track", "-c", ckpt, "--backend", "onnxruntime", "--frames", frames, "--init-box", "1,1,5,5", "-o", tmp_path / "o.txt"]
    _one_line_error(run_cli(*args), 'pip install "ctrack[onnx]"')
    assert not (tmp_path / "m.onnx").exists()


def test_the_accuracy_reference_is_the_network_exported_with_its_overrides(student, save, tmp_path, run_cli, monkeypatch):
    """--config / --num-heads build the exported network; the AUC change is against that network, not the bare file."""
    import compresstracker.evaluation.accuracy as accuracy

    seen = {}

    def capture(reference, candidates, **kwargs):
        seen["config"] = load_checkpoint(reference.checkpoint).config
        return {"dataset": "x", "auc_reference": 50.0, "auc": {"int8": 49.0}, "auc_change": {"int8": -1.0}}

    monkeypatch.setattr(accuracy, "accuracy_change", capture)
    result = run_cli(
        "export", save(student, "student"), "--format", "onnx", "--precision", "int8", "--config", "search_factor=5.0",
        "--out", tmp_path / "s.int8.onnx", "--json",
    )
    assert result.exit_code == 0, result.output
    assert student.config.search_factor != 5.0 and seen["config"].search_factor == 5.0
    assert result.json()["accuracy"]["auc_change"] == {"int8": -1.0}
