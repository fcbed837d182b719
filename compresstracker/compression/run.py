"""``ctrack compress``: plan -> replacement training -> export (-> evaluation of teacher and student)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import torch

from compresstracker.compression.adapters import adapter_for
from compresstracker.compression.plan import StagePlan, plan_stages
from compresstracker.compression.replacement import ReplacementModel
from compresstracker.compression.report import describe_plan
from compresstracker.compression.student import init_student
from compresstracker.compression.task import CompressionTask
from compresstracker.errors import ConfigError, CTrackError
from compresstracker.checkpoints.writers import release_layouts, save_release
from compresstracker.fileio import file_sha256
from compresstracker.models import family_of
from compresstracker.training.recipe import dump_recipe
from compresstracker.training.resume import SavedRun, applicable
from compresstracker.training.run import finished, make_progress, run_context, write_if_changed
from compresstracker.training.engine import Trainer

STUDENT_FILE = "student.safetensors"


def plan_from_recipe(teacher_depth: int, compress: dict) -> StagePlan:
    return plan_stages(
        teacher_depth,
        stages=None if compress["split"] else compress["stages"],
        split=compress["split"],
        init=compress["init"],
        layers_per_stage=compress["layers_per_stage"],
    )


def teacher_dtype(precision: str, device: torch.device) -> Optional[torch.dtype]:
    """The dtype of the frozen teacher's guidance pass for ``compress.teacher_precision`` (None: fp32)."""
    from compresstracker.devices import fast_dtype

    if precision == "auto":
        return fast_dtype(device)
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def compress_tracker(
    recipe: dict, out_dir: Path, device_name: str = "cpu", resume: bool = False, progress: bool | str | None = True,
    threads: Optional[int] = None,
) -> dict[str, Any]:
    """Compress ``recipe['compress']['teacher']`` into a student; returns a JSON-ready summary.

    With ``resume``, the run in ``out_dir`` continues only if the recipe and the teacher (sha256)
    are the ones it was started with (more epochs allowed); a finished run is left as it is.
    """
    from compresstracker.checkpoints import load_checkpoint, save_native
    from compresstracker.training.data import build_loader_factory

    compress = recipe["compress"]
    teacher_path = Path(compress["teacher"])
    out_dir = Path(out_dir)
    with run_context(recipe, out_dir, device_name, resume, threads) as setup:
        dist, device = setup.dist, setup.device
        teacher_sha = check_teacher(teacher_path, setup.saved)
        loaded = load_checkpoint(teacher_path)
        teacher = loaded.model
        release = release_file(out_dir, teacher.config)
        if finished(setup, recipe, out_dir / STUDENT_FILE, *release.values()):
            return finished_summary(out_dir, recipe, teacher_path, release)
        plan = plan_from_recipe(adapter_for(teacher).depth(teacher), compress)
        seed = int(recipe["train"]["seed"])
        student = init_student(teacher, plan, ce=compress["student_ce"], drop_path=recipe["model"]["drop_path"])
        description = describe_plan(teacher, plan, compress["student_ce"])
        provenance = {
            "teacher_file": teacher_path.name,
            "teacher_sha256": teacher_sha,
            "teacher_format": loaded.format,
            "teacher_arch": teacher.config.name,
            "recipe": recipe.get("source"),
            "seed": seed,
            "world_size": dist.world_size,
            "threads": setup.threads,
            "total_batch_size": recipe["train"]["batch_size"] * dist.world_size,
            "epochs": recipe["train"]["epochs"],
            "lr": recipe["train"]["lr"],
        }
        summary: dict[str, Any] = {"out": str(out_dir), "plan": description, "epochs": recipe["train"]["epochs"]}
        if recipe["train"]["epochs"] > 0:
            model = ReplacementModel(teacher, student, plan, teacher_dtype=teacher_dtype(recipe["compress"]["teacher_precision"], device))
            task = CompressionTask(model, recipe)
            loader = build_loader_factory(recipe, student.config, dist, pin_memory=device.type == "cuda")
            val_loader = build_loader_factory(recipe, student.config, dist, pin_memory=device.type == "cuda", section="val")
        if dist.is_main:
            write_if_changed(out_dir / "config.yaml", dump_recipe({
                **applicable(recipe), "teacher": teacher.config.to_dict(), "plan": plan.to_dict(), "provenance": provenance,
                "world_size": dist.world_size, "threads": setup.threads}))
            write_if_changed(out_dir / "plan.json", json.dumps(description, indent=2) + "\n")
        if recipe["train"]["epochs"] > 0:

            def export_each_epoch(trainer: Trainer, epoch: int) -> dict:
                if dist.is_main:
                    save_native(student, student.config, out_dir / STUDENT_FILE, plan=plan.to_dict(), provenance={**provenance, "epoch": epoch + 1})
                return {"stage_student_share": task.pattern_share()}

            trainer = Trainer(task, recipe, out_dir, device, dist, loader, val_loader, make_progress(progress) if dist.is_main else None,
                              export_each_epoch, run_info={"teacher_sha256": teacher_sha, "threads": setup.threads})
            if resume:
                trainer.resume()
            summary["training"] = trainer.fit()
            student = task.module.student
        student = student.to("cpu").eval()
        if dist.is_main:
            save_native(student, student.config, out_dir / STUDENT_FILE, plan=plan.to_dict(), provenance=provenance)
            for path in release.values():
                save_release(student, path)
        summary["student"] = str(out_dir / STUDENT_FILE)
        summary.update({key: str(path) for key, path in release.items()})
        summary["teacher"] = str(teacher_path)
        summary["student_config"] = student.config.to_dict()
        return summary


def check_teacher(teacher_path: Path, saved: Optional[SavedRun]) -> str:
    """The teacher's sha256; a resumed run refuses a teacher other than the one it started with."""
    if not teacher_path.is_file():
        raise CTrackError(f"teacher {teacher_path} does not exist" + ("; pass --teacher PATH" if saved else ""))
    sha = file_sha256(teacher_path)
    if saved is not None and saved.teacher_sha256 and saved.teacher_sha256 != sha:
        raise ConfigError(f"teacher {teacher_path.name} has sha256 {sha[:12]} but the run's teacher has "
                          f"{saved.teacher_sha256[:12]}; resume with the run's teacher or choose another --out")
    return sha


def release_file(out_dir: Path, config: Any) -> dict[str, Path]:
    """``{"student_<layout>": path}`` of the student in its family's release layout (OSTrack:
    ``student_ostrack`` -> student_ostrack.pth.tar); empty for a family with no layout of its own."""
    layouts = release_layouts()
    family = family_of(config).name
    if family not in layouts:
        return {}
    layout = layouts[family]
    return {f"student_{layout.name}": out_dir / layout.filename}


def finished_summary(out_dir: Path, recipe: dict, teacher_path: Path, release: dict[str, Path]) -> dict[str, Any]:
    """The summary of a run that is already complete, read from its files (nothing is written)."""
    from compresstracker.checkpoints import inspect_checkpoint

    info = inspect_checkpoint(out_dir / STUDENT_FILE)
    return {
        "out": str(out_dir), "complete": True, "epochs": recipe["train"]["epochs"],
        "plan": json.loads((out_dir / "plan.json").read_text()),
        "student": str(out_dir / STUDENT_FILE), **{key: str(path) for key, path in release.items()},
        "teacher": str(teacher_path), "student_config": info["config"],
    }
