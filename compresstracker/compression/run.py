"""``ctrack compress``: plan -> replacement training -> export (-> evaluation of teacher and student)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch

from compresstracker.compression.adapters import adapter_for
from compresstracker.compression.plan import StagePlan, plan_stages
from compresstracker.compression.replacement import ReplacementModel
from compresstracker.compression.report import describe_plan
from compresstracker.compression.student import init_student
from compresstracker.compression.task import CompressionTask
from compresstracker.fileio import atomic_write_json, atomic_write_text, file_sha256
from compresstracker.training.recipe import dump_recipe
from compresstracker.training.run import progress_bar, run_context
from compresstracker.training.engine import Trainer

STUDENT_FILE = "student.safetensors"
STUDENT_OSTRACK_FILE = "student_ostrack.pth.tar"


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


def compress_tracker(recipe: dict, out_dir: Path, device_name: str = "cpu", resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Compress ``recipe['compress']['teacher']`` into a student; returns a JSON-ready summary."""
    from compresstracker.checkpoints import load_checkpoint, save_native, save_ostrack
    from compresstracker.training.data import build_loader_factory

    compress = recipe["compress"]
    teacher_path = Path(compress["teacher"])
    out_dir = Path(out_dir)
    with run_context(recipe, out_dir, device_name, resume) as (dist, device):
        loaded = load_checkpoint(teacher_path)
        teacher = loaded.model
        plan = plan_from_recipe(adapter_for(teacher).depth(teacher), compress)
        seed = int(recipe["train"]["seed"])
        student = init_student(teacher, plan, ce=compress["student_ce"], drop_path=recipe["model"]["drop_path"])
        description = describe_plan(teacher, plan, compress["student_ce"])
        provenance = {
            "teacher_file": teacher_path.name,
            "teacher_sha256": file_sha256(teacher_path),
            "teacher_format": loaded.format,
            "teacher_arch": teacher.config.arch,
            "recipe": recipe.get("source"),
            "seed": seed,
            "world_size": dist.world_size,
            "total_batch_size": recipe["train"]["batch_size"] * dist.world_size,
            "epochs": recipe["train"]["epochs"],
            "lr": recipe["train"]["lr"],
        }
        if dist.is_main:
            atomic_write_text(out_dir / "config.yaml", dump_recipe({**recipe, "plan": plan.to_dict(), "provenance": provenance}))
            atomic_write_json(out_dir / "plan.json", description)
        summary: dict[str, Any] = {"out": str(out_dir), "plan": description, "epochs": recipe["train"]["epochs"]}
        if recipe["train"]["epochs"] > 0:
            model = ReplacementModel(teacher, student, plan, teacher_dtype=teacher_dtype(recipe["compress"]["teacher_precision"], device))
            task = CompressionTask(model, recipe)
            loader = build_loader_factory(recipe, student.config, dist, pin_memory=device.type == "cuda")
            val_loader = build_loader_factory(recipe, student.config, dist, pin_memory=device.type == "cuda", section="val")

            def export_each_epoch(trainer: Trainer, epoch: int) -> dict:
                if dist.is_main:
                    save_native(student, student.config, out_dir / STUDENT_FILE, plan=plan.to_dict(), provenance={**provenance, "epoch": epoch + 1})
                return {"stage_student_share": task.pattern_share()}

            with progress_bar(progress and dist.is_main) as bar:
                trainer = Trainer(task, recipe, out_dir, device, dist, loader, val_loader, bar, export_each_epoch)
                if resume:
                    trainer.resume()
                summary["training"] = trainer.fit()
            student = task.module.student
        student = student.to("cpu").eval()
        if dist.is_main:
            save_native(student, student.config, out_dir / STUDENT_FILE, plan=plan.to_dict(), provenance=provenance)
            save_ostrack(student, out_dir / STUDENT_OSTRACK_FILE)
        summary["student"] = str(out_dir / STUDENT_FILE)
        summary["student_ostrack"] = str(out_dir / STUDENT_OSTRACK_FILE)
        summary["teacher"] = str(teacher_path)
        summary["student_config"] = student.config.to_dict()
        return summary
