"""`ctrack plan` and `ctrack compress` end to end on a tiny teacher and generated data."""
import json

import pytest
import torch

from compresstracker import load_model
from compresstracker.checkpoints import inspect_checkpoint, save_native, save_release


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
    ostrack = save_release(model, tmp_path / "OSTrack_ep0300.pth.tar")
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
    assert table.exit_code == 0 and "teacher 11" in table.stdout


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


def _snapshot(folder):
    """Every file under ``folder`` with its sha256 and mtime (a refused resume must change none)."""
    import hashlib

    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


QUICK = ["--epochs", "1", "--samples-per-epoch", "8", "--batch-size", "4", "--loader-workers", "0"]


def test_design_card_command_with_one_dataset_and_the_default_recipe(run_cli, teacher_files, synth, tmp_path):
    """`ctrack compress --teacher T --stages 4 --data lasot=ROOT --out RUN`: the --data dataset is the mix."""
    _, native, _ = teacher_files
    out = tmp_path / "ct4"
    result = run_cli("compress", "--teacher", native, "--stages", "4", "--data", f"lasot={synth}", "--out", out, *QUICK)
    assert result.exit_code == 0, result.stderr
    assert "training on lasot only" in result.stderr and "validation on got10k skipped" in result.stderr
    assert "student ->" in result.stdout  # the summary is output; notes and progress are not
    import yaml

    config = yaml.safe_load((out / "config.yaml").read_text())
    assert [e["name"] for e in config["data"]["train"]] == ["lasot"] and config["data"]["train"][0]["ratio"] == 1
    assert config["data"]["val"] == [] and config["threads"] >= 1
    assert "arch" not in config["model"] and "ce" not in config["train"] and config["teacher"]["depth"] == 12
    assert load_model(out / "student.safetensors").config.depth == 4
    assert inspect_checkpoint(out / "student.safetensors")["provenance"]["threads"] == config["threads"]


def test_progress_lines_per_epoch_when_stderr_is_not_a_terminal(run_cli, teacher_files, synth, tmp_path):
    _, native, _ = teacher_files
    out = tmp_path / "ct2"
    args = ["compress", "--teacher", native, "--stages", "2", "-r", "compresstracker_tiny", "--data", f"lasot={synth}:all",
            "--out", out, *QUICK[2:], "--epochs", "2", "--json"]
    result = run_cli(*args)
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]
    assert all(" loss " in line and " lr " in line and "pairs/s" in line and "elapsed" in line and "ETA" in line for line in lines)
    assert result.json()["student"].endswith("student.safetensors")  # --json: stdout holds only the document
    quiet = run_cli("compress", "--out", out, "--resume", "--epochs", "3", "--quiet")
    assert quiet.exit_code == 0, quiet.stderr
    assert not any(line.startswith("epoch ") for line in quiet.stderr.splitlines())
    assert "--epochs 3: continuing the run past its 2" in quiet.stderr


def test_resume_refuses_a_changed_run_and_touches_nothing(run_cli, teacher_files, synth, tmp_path):
    _, native, ostrack = teacher_files
    out = tmp_path / "ct4"
    first = run_cli("compress", "--teacher", native, "--stages", "4", "-r", "compresstracker_tiny", "--data", f"lasot={synth}:all",
                    "--out", out, *QUICK)
    assert first.exit_code == 0, first.stderr
    before = _snapshot(out)
    refusals = {
        ("--stages", "3"): "--stages 3 but the run has 4",
        ("--split", "3,3,3,3"): "--split 3,3,3,3 but the run has none",
        ("train.lr=0.1",): "train.lr 0.1 but the run has 0.0005",
        ("--recipe", "compresstracker"): "--recipe compresstracker but the run used recipe:compresstracker_tiny",
        ("--data", f"got10k={synth}"): "--data (data.train.0.name) got10k but the run has lasot",
        ("--teacher", str(ostrack)): "teacher OSTrack_ep0300.pth.tar has sha256",
        ("--epochs", "0"): "--epochs 0 but the run has 1",
    }
    for flags, message in refusals.items():
        refused = run_cli("compress", "--out", out, "--resume", *flags)
        assert refused.exit_code == 2, (flags, refused.stderr)
        assert refused.stderr.count("\n") == 1 and message in refused.stderr, refused.stderr
        assert "Traceback" not in refused.output
        assert _snapshot(out) == before, flags
    done = run_cli("compress", "--out", out, "--resume")
    assert done.exit_code == 0 and "the run is complete (1 epochs); nothing to train" in done.stderr
    assert _snapshot(out) == before


def test_resume_with_no_other_flag_continues_a_killed_run(run_cli, teacher_files, synth, tmp_path, monkeypatch):
    from compresstracker.training.engine import Trainer

    _, native, _ = teacher_files
    args = ["--teacher", native, "--stages", "2", "-r", "compresstracker_tiny", "--data", f"lasot={synth}:all", *QUICK[2:], "--epochs", "2"]
    full = run_cli("compress", *args, "--out", tmp_path / "full")
    assert full.exit_code == 0, full.stderr
    original_save = Trainer.save

    def save_then_die(self, tag):
        path = original_save(self, tag)
        if tag == "epoch_0001":
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(Trainer, "save", save_then_die)
    killed = run_cli("compress", *args, "--out", tmp_path / "killed")
    assert killed.exit_code != 0
    monkeypatch.setattr(Trainer, "save", original_save)
    resumed = run_cli("compress", "--out", tmp_path / "killed", "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    a = torch.load(tmp_path / "full" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "killed" / "checkpoints" / "last.pt", weights_only=True)
    assert b["epoch"] == 2 and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert len(b["run_info"]["teacher_sha256"]) == 64


def test_dry_run_writes_nothing(run_cli, teacher_files, synth, tmp_path):
    _, native, _ = teacher_files
    out = tmp_path / "dry"
    missing = run_cli("compress", "--teacher", native, "--stages", "4", "--out", out, "--dry-run")
    assert missing.exit_code == 2 and "no root for lasot, got10k, coco, trackingnet" in missing.stderr
    assert "kind: compress" in missing.stdout and "teacher layers" in missing.stdout
    ok = run_cli("compress", "--teacher", native, "--stages", "4", "--data", f"lasot={synth}", "--out", out, "--dry-run", "--json")
    assert ok.exit_code == 0, ok.stderr
    assert ok.json()["plan"]["student_depth"] == 4 and ok.json()["problems"] == []
    assert not out.exists()
