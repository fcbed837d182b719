"""compression.run: the teacher as a typed argument checked once; the teacher precision resolved and recorded."""
import pytest
import torch
import yaml

from compresstracker.checkpoints import inspect_checkpoint, save_native
from compresstracker.compression import run as compression_run
from compresstracker.compression.run import PRECISION_KEY, TeacherFile, compress_tracker, resolve_teacher, resolve_teacher_precision
from compresstracker.errors import CheckpointError, ConfigError, CTrackWarning
from compresstracker.fileio import file_sha256
from compresstracker.training.recipe import load_recipe
from compresstracker.training.resume import SavedRun, saved_run

RECIPE = ["train.epochs=0", "data.workers=0", "model.drop_path=0.0"]


@pytest.fixture
def teacher(make_model, tmp_path):
    model = make_model("tiny_64_ce", seed=4)
    return save_native(model, model.config, tmp_path / "teacher.safetensors")


def test_resolve_teacher_checks_the_file_and_the_runs_sha(teacher, tmp_path):
    recipe = load_recipe("compresstracker_tiny")
    checked = resolve_teacher(teacher, recipe)
    assert checked == TeacherFile(teacher, file_sha256(teacher))
    recorded = load_recipe("compresstracker_tiny", [f"compress.teacher={teacher}"])
    assert resolve_teacher(None, recorded) == checked  # a resumed run's own teacher
    with pytest.raises(ConfigError, match="records no teacher"):
        resolve_teacher(None, recipe)
    with pytest.raises(CheckpointError, match=r"does not exist; pass --teacher PATH$"):
        resolve_teacher(tmp_path / "moved.safetensors", recipe, SavedRun(recipe={}))
    other = SavedRun(recipe={}, teacher_sha256="0" * 64)
    with pytest.raises(ConfigError, match="teacher teacher.safetensors has sha256 .* but the run's teacher has 000000000000"):
        resolve_teacher(teacher, recipe, other)


def test_compress_takes_the_teacher_as_an_argument_and_records_it(teacher, tmp_path):
    recipe = load_recipe("compresstracker_tiny", [*RECIPE, "compress.stages=2", "compress.teacher_precision=fp32"])
    summary = compress_tracker(recipe, tmp_path / "run", progress=False, threads=1, teacher=teacher)
    assert summary["teacher"] == str(teacher) and summary[PRECISION_KEY] == "fp32"
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["compress"]["teacher"] == str(teacher)  # where a resume finds it
    assert config[PRECISION_KEY] == "fp32" and config["cpu_kernels"] == torch.backends.cpu.get_cpu_capability()
    provenance = inspect_checkpoint(summary["student"])["provenance"]
    assert provenance[PRECISION_KEY] == "fp32" and provenance["threads"] == 1 and provenance["cpu_kernels"] == config["cpu_kernels"]


def _fake_machine(monkeypatch, dtype):
    import compresstracker.devices

    monkeypatch.setattr(compresstracker.devices, "fast_dtype", lambda device: dtype)


def test_auto_precision_is_recorded_as_resolved(teacher, tmp_path, monkeypatch):
    _fake_machine(monkeypatch, torch.bfloat16)  # a CPU with AMX
    recipe = load_recipe("compresstracker_tiny", [*RECIPE, "compress.stages=2"])
    compress_tracker(recipe, tmp_path / "run", progress=False, threads=1, teacher=teacher)
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["compress"]["teacher_precision"] == "auto" and config[PRECISION_KEY] == "bf16"
    assert inspect_checkpoint(tmp_path / "run" / "student.safetensors")["provenance"][PRECISION_KEY] == "bf16"
    assert saved_run(tmp_path / "run").extra[PRECISION_KEY] == "bf16"


def test_a_resumed_run_keeps_the_precision_it_started_with(monkeypatch):
    cpu = torch.device("cpu")
    started_on_amx = SavedRun(recipe={}, extra={PRECISION_KEY: "bf16"})
    _fake_machine(monkeypatch, None)  # resumed on a CPU without AMX (or with ONEDNN_MAX_CPU_ISA hiding it)
    precision, notes = resolve_teacher_precision("auto", cpu, started_on_amx)
    assert precision == "bf16" and len(notes) == 1 and "continues in bf16, although this machine would pick fp32" in notes[0]
    assert resolve_teacher_precision("auto", cpu, SavedRun(recipe={})) == ("fp32", [])  # an old run records none
    assert resolve_teacher_precision("auto", cpu) == ("fp32", [])
    assert resolve_teacher_precision("fp16", cpu, started_on_amx) == ("fp16", [])  # named, not resolved
    _fake_machine(monkeypatch, torch.bfloat16)
    assert resolve_teacher_precision("auto", cpu, started_on_amx) == ("bf16", [])


def test_resume_on_another_cpu_trains_in_the_runs_precision(teacher, tmp_path, monkeypatch, synth):
    _fake_machine(monkeypatch, torch.bfloat16)
    overrides = ["data.workers=0", "model.drop_path=0.0", "compress.stages=2", "train.batch_size=4",
                 "data.samples_per_epoch=4", f"data.train.0.root={synth}", "data.train.0.split=all", "data.val=[]"]
    compress_tracker(load_recipe("compresstracker_tiny", [*overrides, "train.epochs=1"]), tmp_path / "run", progress=False,
                     threads=1, teacher=teacher)
    _fake_machine(monkeypatch, None)
    seen = []
    original = compression_run.ReplacementModel
    monkeypatch.setattr(compression_run, "ReplacementModel", lambda *a, **k: seen.append(k["teacher_dtype"]) or original(*a, **k))
    with pytest.warns(CTrackWarning, match="continues in bf16"):
        compress_tracker(load_recipe("compresstracker_tiny", [*overrides, "train.epochs=2"]), tmp_path / "run", resume=True,
                         progress=False, threads=1, teacher=teacher)
    assert seen == [torch.bfloat16]  # the guidance pass of the resumed epochs runs as the first one did
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())[PRECISION_KEY] == "bf16"


def test_a_student_exported_mid_run_is_marked_unfinished_and_the_final_one_is_not(teacher, tmp_path, monkeypatch, synth):
    saved = []
    import compresstracker.checkpoints as checkpoints  # the run imports save_native from here when it starts

    monkeypatch.setattr(checkpoints, "save_native", lambda *a, **k: saved.append(dict(k["provenance"])) or save_native(*a, **k))
    overrides = ["data.workers=0", "model.drop_path=0.0", "compress.stages=2", "train.batch_size=4", "data.samples_per_epoch=4",
                 f"data.train.0.root={synth}", "data.train.0.split=all", "data.val=[]", "train.epochs=2"]
    compress_tracker(load_recipe("compresstracker_tiny", overrides), tmp_path / "run", progress=False, threads=1, teacher=teacher)
    assert [(p.get("epoch"), p.get("unfinished")) for p in saved] == [(1, True), (2, True), (None, None)]
    assert inspect_checkpoint(tmp_path / "run" / "student.safetensors")["provenance"].get("unfinished") is None
