"""`ctrack plan` and `ctrack compress` end to end on a tiny teacher and generated data."""
import json

import pytest
import torch

from compresstracker import load_model
from compresstracker.checkpoints import inspect_checkpoint, save_native, save_ostrack


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from compresstracker.data.synthetic import generate

    root = tmp_path_factory.mktemp("synth")
    generate("lasot", root, sequences=4, frames=20, seed=9, image_size=(96, 72))
    return root


@pytest.fixture
def teacher_files(make_model, tmp_path):
    model = make_model("tiny_64_ce", seed=4)
    native = save_native(model, model.config, tmp_path / "teacher.safetensors")
    ostrack = save_ostrack(model, tmp_path / "OSTrack_ep0300.pth.tar")
    return model, native, ostrack


TINY = ["train.batch_size=4", "data.workers=0", "train.log_every=1", "model.drop_path=0.0"]


def test_plan_json(run_cli, teacher_files):
    _, native, _ = teacher_files
    result = run_cli("plan", "--teacher", native, "--stages", "4", "--json")
    assert result.exit_code == 0, result.stderr
    plan = result.json()
    assert plan["teacher_depth"] == 12 and plan["stages"][1] == [3, 4, 5]
    assert plan["student_init"] == [2, 5, 8, 11]
    assert plan["student_params"] < plan["teacher_params"] and plan["student_macs"] < plan["teacher_macs"]
    table = run_cli("plan", "--teacher", native, "--split", "2,2,6,2")
    assert table.exit_code == 0 and "teacher 11" in table.stderr


def test_plan_rejects_bad_split(run_cli, teacher_files):
    _, native, _ = teacher_files
    result = run_cli("plan", "--teacher", native, "--split", "2,2,2")
    assert result.exit_code == 2
    assert "covers 6 layers but the teacher has 12" in result.stderr and "Traceback" not in result.output


def test_compress_zero_epochs_exports_initialised_student(run_cli, teacher_files, tmp_path):
    teacher, _, ostrack = teacher_files
    out = tmp_path / "ct4"
    result = run_cli("compress", "--teacher", ostrack, "--stages", "4", "--epochs", "0", "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    student = load_model(summary["student"])
    assert student.config.depth == 4
    t, s = teacher.state_dict(), student.state_dict()
    assert torch.equal(s["backbone.blocks.3.attn.qkv.weight"], t["backbone.blocks.11.attn.qkv.weight"])
    info = inspect_checkpoint(summary["student"])
    assert info["plan"]["student_init"] == [2, 5, 8, 11]
    assert info["provenance"]["teacher_file"] == "OSTrack_ep0300.pth.tar"
    assert len(info["provenance"]["teacher_sha256"]) == 64
    ostrack_student = load_model(summary["student_ostrack"])
    assert ostrack_student.config.depth == 4
    raw = torch.load(summary["student_ostrack"], weights_only=True)
    assert "backbone.blocks.3.mlp.fc2.weight" in raw["net"] and "backbone.blocks.4.mlp.fc2.weight" not in raw["net"]
    assert (out / "config.yaml").exists() and json.loads((out / "plan.json").read_text())["student_depth"] == 4


def test_compress_trains_resumes_and_evaluates(run_cli, teacher_files, synth, tmp_path):
    _, native, _ = teacher_files
    out = tmp_path / "ct3"
    args = ["compress", "--teacher", native, "--stages", "3", "-r", "compresstracker_tiny", "--data", f"lasot={synth}:all",
            "--out", out, "--epochs", "1", "--samples-per-epoch", "8", "--json", *TINY]
    first = run_cli(*args)
    assert first.exit_code == 0, first.stderr
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "loss" in r]
    assert len(steps) == 2 and all({"track", "pred", "feat", "p", "student_stages"} <= set(r) for r in steps)
    again = run_cli(*args)
    assert again.exit_code == 2 and "--resume" in again.stderr
    more = run_cli(*[a if a != "1" else "2" for a in args], "--resume", "--eval", f"lasot={synth}:all")
    assert more.exit_code == 0, more.stderr
    summary = more.json()
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and state["global_step"] == 4
    report = summary["eval"][0]
    assert {"teacher", "student", "kept", "speedup_macs"} <= set(report)
    assert 0 <= report["student"]["metrics"]["auc"] <= 100
    assert (out / "report.json").exists()
    student = load_model(out / "student.safetensors")
    assert student.config.depth == 3
    in_training_file = load_model(out / "checkpoints" / "last.pt")  # the student, config from the file
    assert in_training_file.config == student.config
    assert all(torch.equal(a, b) for a, b in zip(in_training_file.state_dict().values(), student.state_dict().values()))


def test_compress_missing_teacher_is_one_line(run_cli, tmp_path):
    result = run_cli("compress", "--teacher", tmp_path / "nope.pth.tar", "--stages", "4", "--out", tmp_path / "o")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
