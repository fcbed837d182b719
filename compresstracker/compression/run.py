"""``ctrack compress``: plan -> replacement training -> export (-> evaluation of teacher and student)."""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from compresstracker.compression.adapters import adapter_for
from compresstracker.compression.elastic import (
    PLAN_KEY, ElasticPath, ElasticSpace, elastic_enabled, elastic_plan_depth, extract_student, sort_hidden_units, space_from_recipe,
)
from compresstracker.compression.plan import StagePlan, plan_stages
from compresstracker.compression.replacement import ReplacementModel
from compresstracker.compression.report import describe_plan
from compresstracker.compression.student import init_student
from compresstracker.compression.task import CompressionTask
from compresstracker.checkpoints.writers import release_layouts, save_release
from compresstracker.errors import CheckpointError, ConfigError, CTrackWarning
from compresstracker.fileio import file_sha256
from compresstracker.models import family_of
from compresstracker.training.recipe import dump_recipe
from compresstracker.training.resume import SavedRun, applicable
from compresstracker.training.run import finished, make_progress, run_context, write_if_changed
from compresstracker.training.engine import Trainer

STUDENT_FILE = "student.safetensors"
SUPERNET_FILE = "supernet.safetensors"  # an elastic run's student supernet (its plan metadata holds the space)


def plan_from_recipe(teacher_depth: int, compress: dict) -> StagePlan:
    """The stage plan a recipe's ``compress`` section asks for, on a teacher of ``teacher_depth`` layers
    (an elastic run's: as many layers per stage as its largest depth choice)."""
    per_stage = compress["layers_per_stage"]
    if elastic_enabled(compress):
        if per_stage not in (1, elastic_plan_depth(compress)):
            raise ConfigError(f"compress.layers_per_stage {per_stage} with --elastic: an elastic run's stages hold "
                              f"max(compress.elastic.depths) = {elastic_plan_depth(compress)} layers; leave it at 1")
        per_stage = elastic_plan_depth(compress)
    return plan_stages(
        teacher_depth,
        stages=None if compress["split"] else compress["stages"],
        split=compress["split"],
        init=compress["init"],
        layers_per_stage=per_stage,
    )


def elastic_space(teacher: torch.nn.Module, plan: StagePlan, compress: dict) -> Optional[ElasticSpace]:
    """The elastic space of a run on ``teacher`` (None for a fixed-shape run)."""
    if not elastic_enabled(compress):
        return None
    adapter = adapter_for(teacher)
    (weight, axis), *_ = adapter.hidden_tensors(adapter.layers(teacher)[0])
    return space_from_recipe(compress, plan.num_stages, weight.shape[1 - axis], weight.shape[axis])


def output_file(compress: dict) -> str:
    """What a run writes: the student, or an elastic run's supernet (a run that trains one path writes its student)."""
    return SUPERNET_FILE if elastic_enabled(compress) and not fixed_path(compress) else STUDENT_FILE


def fixed_path(compress: dict) -> Optional[ElasticPath]:
    path = compress.get("elastic", {}).get("path")
    return ElasticPath.decode(path) if path and elastic_enabled(compress) else None


@torch.no_grad()
def start_from_supernet(student: torch.nn.Module, plan: StagePlan, space: ElasticSpace, file: str) -> None:
    """Load an elastic run's supernet weights into ``student`` (the same plan and space, or a clear error)."""
    from compresstracker.checkpoints import inspect_checkpoint
    from safetensors.torch import load_file

    if not Path(file).is_file():
        raise CheckpointError(f"compress.supernet {file} does not exist")
    saved = inspect_checkpoint(file).get("plan") or {}
    mine = {**plan.to_dict(), PLAN_KEY: space.to_dict()}
    keys = ("stages", "layers_per_stage", "student_init")
    if PLAN_KEY not in saved or any(saved.get(k) != mine[k] for k in keys) or any(
            saved[PLAN_KEY].get(k) != mine[PLAN_KEY][k] for k in ("stages", "depths", "hidden")):
        raise ConfigError(f"{file} is not a supernet of this run's plan and space (stages, depths and MLP widths must match)")
    student.load_state_dict(load_file(str(file)), strict=True)


def from_search(folder: str | os.PathLike, arch: Optional[str] = None) -> tuple[str, list[str]]:
    """What fine-tuning a search's winner (or ``arch``, another path of its space) needs: the elastic run's
    teacher, and recipe overrides that rebuild its plan and space, start from its supernet and train that path alone."""
    import yaml

    folder = Path(folder)
    best, state = folder / "best.json", folder / "search_state.json"
    if not best.is_file() or not state.is_file():
        raise ConfigError(f"{folder} is not a finished search of an elastic run (no best.json and search_state.json)")
    try:
        arch = arch or json.loads(best.read_text())["arch"]
        supernet = Path(json.loads(state.read_text())["settings"]["supernet"])
        ElasticPath.decode(arch)
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{folder}: best.json or search_state.json is not from a search of an elastic run") from None
    run_config = supernet.parent / "config.yaml"
    if not supernet.is_file() or not run_config.is_file():
        raise ConfigError(f"the search's supernet {supernet} (and its run's config.yaml) is gone; the fine-tuning starts from it")
    run = yaml.safe_load(run_config.read_text())
    c = run["compress"]
    overrides = [f"compress.split=[{','.join(str(len(s)) for s in run['plan']['stages'])}]",
                 f"compress.stages={len(run['plan']['stages'])}", f"compress.init={c['init']}",
                 "compress.elastic.enabled=true", f"compress.elastic.depths={json.dumps(c['elastic']['depths'])}",
                 f"compress.elastic.mlp_ratios={json.dumps(c['elastic']['mlp_ratios'])}", f"compress.elastic.path={arch}",
                 f"compress.supernet={supernet}"]
    return c["teacher"], overrides


def write_student(student: torch.nn.Module, plan: StagePlan, space: Optional[ElasticSpace], compress: dict) -> torch.nn.Module:
    """The network a run writes: the student, or the one path a fine-tuning run trains, cut out."""
    path = fixed_path(compress)
    return extract_student(student, plan, space, path, adapter_for(student)) if path is not None else student


# compress.teacher_precision names -> the dtype of the teacher's guidance pass (None: fp32, no copy).
TEACHER_DTYPES: dict[str, Optional[torch.dtype]] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
PRECISION_KEY = "teacher_precision_resolved"  # where config.yaml and the student's provenance record it


@dataclass(frozen=True)
class TeacherFile:
    """A compression run's teacher, checked: the file exists and is readable, and its sha256."""

    path: Path
    sha256: str


def resolve_teacher(teacher: Optional[str | os.PathLike], recipe: dict, saved: Optional[SavedRun] = None) -> TeacherFile:
    """The teacher of a run, checked once: ``teacher`` if given, else the one the recipe (a resumed
    run's config.yaml) records; it must be a readable file, and on resume the run's own (same sha256)."""
    given = teacher if teacher is not None else recipe["compress"]["teacher"]
    if given is None:
        raise ConfigError("Missing option '--teacher' / '-t': the run in --out records no teacher.")
    path = Path(given)
    if not path.is_file():
        raise CheckpointError(f"teacher {path} does not exist" + ("; pass --teacher PATH" if saved else ""))
    try:
        sha = file_sha256(path)
    except OSError as exc:
        raise CheckpointError(f"cannot read teacher {path}: {exc.strerror or exc}") from None
    if saved is not None and saved.teacher_sha256 and saved.teacher_sha256 != sha:
        raise ConfigError(f"teacher {path.name} has sha256 {sha[:12]} but the run's teacher has "
                          f"{saved.teacher_sha256[:12]}; resume with the run's teacher or choose another --out")
    return TeacherFile(path, sha)


def resolve_teacher_precision(precision: str, device: torch.device, saved: Optional[SavedRun] = None) -> tuple[str, list[str]]:
    """``compress.teacher_precision`` as this run uses it (fp32, bf16 or fp16), with notes.

    ``auto`` picks :func:`~compresstracker.devices.fast_dtype` on this machine (bf16 on CUDA and
    AMX CPUs, fp32 elsewhere). A resumed run keeps the precision it started with, even where this
    machine would pick another (a bf16 run from an AMX CPU continues in bf16, emulated and slower,
    on one without AMX; a note says so), so the resumed run computes what the uninterrupted one would.
    """
    from compresstracker.devices import fast_dtype

    if precision != "auto":
        return precision, []
    here = {torch.bfloat16: "bf16", torch.float16: "fp16", None: "fp32"}[fast_dtype(device)]
    started = (saved.extra.get(PRECISION_KEY) if saved is not None else None) or here
    if started == here:
        return here, []
    return started, [f"the run's teacher pass ran in {started} (teacher_precision auto on the machine it started on); "
                     f"it continues in {started}, although this machine would pick {here}"]


def with_teacher(recipe: dict, teacher: TeacherFile) -> dict:
    """The recipe with ``compress.teacher`` set to the checked file, as config.yaml records it (resume finds it there)."""
    return {**recipe, "compress": {**recipe["compress"], "teacher": str(teacher.path)}}


def describe_run(recipe: dict, teacher: TeacherFile) -> dict:
    """A run's stage plan as ``ctrack plan`` shows it: the teacher is read (not trained, nothing written)."""
    from compresstracker.checkpoints import load_model

    model = load_model(teacher.path)
    plan = plan_from_recipe(adapter_for(model).depth(model), recipe["compress"])
    return describe(model, plan, elastic_space(model, plan, recipe["compress"]), recipe["compress"]["student_ce"])


def describe(teacher: torch.nn.Module, plan: StagePlan, space: Optional[ElasticSpace], student_ce: bool) -> dict:
    """The plan's description; an elastic run's also names its space and its smallest and largest students."""
    description = describe_plan(teacher, plan, student_ce)
    if space is not None:
        adapter = adapter_for(teacher)
        supernet = adapter.build_student(teacher, plan)
        ends = {}
        for name, path in (("largest", space.largest()), ("smallest", space.smallest())):
            net = extract_student(supernet, plan, space, path, adapter)
            ends[name] = {"path": path.encode(), "params": sum(p.numel() for p in net.parameters()), "macs": adapter.macs(net)}
        description[PLAN_KEY] = {**space.to_dict(), "size": space.size(), **ends}
    return description


def compress_tracker(
    recipe: dict, out_dir: Path, device_name: str = "cpu", resume: bool = False, progress: bool | str | None = True,
    threads: Optional[int] = None, teacher: TeacherFile | str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Compress ``teacher`` (default: the one ``recipe['compress']['teacher']`` records) into a student;
    returns a JSON-ready summary.

    ``teacher`` may come checked (:func:`resolve_teacher`); a path is checked here. With
    ``resume``, the run in ``out_dir`` continues only if the recipe and the teacher (sha256) are
    the ones it was started with (more epochs allowed); a finished run is left as it is. The
    teacher precision ``auto`` resolves to is recorded in config.yaml and the student's provenance.
    """
    from compresstracker.checkpoints import load_checkpoint, save_native
    from compresstracker.training.data import build_loader_factory

    out_dir = Path(out_dir)
    with run_context(recipe, out_dir, device_name, resume, threads) as setup:
        dist, device = setup.dist, setup.device
        if not isinstance(teacher, TeacherFile):
            teacher = resolve_teacher(teacher, recipe, setup.saved)
        recipe = with_teacher(recipe, teacher)
        compress = recipe["compress"]
        precision, notes = resolve_teacher_precision(compress["teacher_precision"], device, setup.saved)
        if dist.is_main:
            for line in notes:
                warnings.warn(CTrackWarning(line), stacklevel=2)
        loaded = load_checkpoint(teacher.path)
        teacher_net = loaded.model
        out_file = out_dir / output_file(compress)
        release = {} if elastic_enabled(compress) else release_file(out_dir, teacher_net.config)
        if finished(setup, recipe, out_file, *release.values()):
            return finished_summary(out_dir, recipe, teacher.path, release, out_file)
        plan = plan_from_recipe(adapter_for(teacher_net).depth(teacher_net), compress)
        space = elastic_space(teacher_net, plan, compress)
        seed = int(recipe["train"]["seed"])
        student = init_student(teacher_net, plan, ce=compress["student_ce"], drop_path=recipe["model"]["drop_path"])
        if space is not None and compress["supernet"]:
            start_from_supernet(student, plan, space, compress["supernet"])
        elif space is not None and len(space.hidden) > 1:
            sort_hidden_units(student, adapter_for(student))
        if fixed_path(compress) is not None:
            space.check(fixed_path(compress))
        description = describe(teacher_net, plan, space, compress["student_ce"])
        plan_meta = {**plan.to_dict()}
        if space is not None:
            path = fixed_path(compress)
            plan_meta[PLAN_KEY] = {**space.to_dict(), **({"path": path.encode()} if path is not None else {})}
        choices = {**setup.resolved_choices(), PRECISION_KEY: precision}
        provenance = {
            "teacher_file": teacher.path.name,
            "teacher_sha256": teacher.sha256,
            "teacher_format": loaded.format,
            "teacher_arch": teacher_net.config.name,
            "recipe": recipe.get("source"),
            "seed": seed,
            "world_size": dist.world_size,
            **choices,
            "total_batch_size": recipe["train"]["batch_size"] * dist.world_size,
            "epochs": recipe["train"]["epochs"],
            "lr": recipe["train"]["lr"],
        }
        summary: dict[str, Any] = {"out": str(out_dir), "plan": description, "epochs": recipe["train"]["epochs"]}
        if recipe["train"]["epochs"] > 0:
            # one choice per knob: a fixed-shape run, computed exactly as one
            elastic = space if space is not None and (space.size() > 1 or fixed_path(compress)) else None
            model = ReplacementModel(teacher_net, student, plan, teacher_dtype=TEACHER_DTYPES[precision], elastic=elastic)
            task = CompressionTask(model, recipe)
            loader = build_loader_factory(recipe, student.config, dist, pin_memory=device.type == "cuda")
            val_loader = build_loader_factory(recipe, student.config, dist, pin_memory=device.type == "cuda", section="val")
        if dist.is_main:
            write_if_changed(out_dir / "config.yaml", dump_recipe({
                **applicable(recipe), "teacher": teacher_net.config.to_dict(), "plan": plan.to_dict(), "provenance": provenance,
                "world_size": dist.world_size, **choices}))
            write_if_changed(out_dir / "plan.json", json.dumps(description, indent=2) + "\n")
        if recipe["train"]["epochs"] > 0:

            def export_each_epoch(trainer: Trainer, epoch: int) -> dict:  # marked unfinished until the final save below
                if dist.is_main:
                    written = write_student(student, plan, space, compress)
                    save_native(written, written.config, out_file, plan=plan_meta,
                                provenance={**provenance, "epoch": epoch + 1, "unfinished": True})
                return {"stage_student_share": task.pattern_share()}

            trainer = Trainer(task, recipe, out_dir, device, dist, loader, val_loader, make_progress(progress) if dist.is_main else None,
                              export_each_epoch, run_info={"teacher_sha256": teacher.sha256, "threads": setup.threads})
            if resume:
                trainer.resume()
            summary["training"] = trainer.fit()
            student = task.module.student
        student = student.to("cpu").eval()
        if dist.is_main:
            student = write_student(student, plan, space, compress)
            save_native(student, student.config, out_file, plan=plan_meta, provenance=provenance)
            for path in release.values():
                save_release(student, path)
        summary["supernet" if out_file.name == SUPERNET_FILE else "student"] = str(out_file)
        summary.update({key: str(path) for key, path in release.items()})
        summary["teacher"] = str(teacher.path)
        summary["student_config"] = student.config.to_dict()
        summary[PRECISION_KEY] = precision
        return summary


def release_file(out_dir: Path, config: Any) -> dict[str, Path]:
    """``{"student_<layout>": path}`` of the student in its family's release layout (OSTrack:
    ``student_ostrack`` -> student_ostrack.pth.tar); empty for a family with no layout of its own."""
    layouts = release_layouts()
    family = family_of(config).name
    if family not in layouts:
        return {}
    layout = layouts[family]
    return {f"student_{layout.name}": out_dir / layout.filename}


def finished_summary(out_dir: Path, recipe: dict, teacher_path: Path, release: dict[str, Path], out_file: Path) -> dict[str, Any]:
    """The summary of a run that is already complete, read from its files (nothing is written)."""
    from compresstracker.checkpoints import inspect_checkpoint

    info = inspect_checkpoint(out_file)
    return {
        "out": str(out_dir), "complete": True, "epochs": recipe["train"]["epochs"],
        "plan": json.loads((out_dir / "plan.json").read_text()),
        "supernet" if out_file.name == SUPERNET_FILE else "student": str(out_file), **{key: str(path) for key, path in release.items()},
        "teacher": str(teacher_path), "student_config": info["config"],
    }
