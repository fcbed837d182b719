"""``ctrack plan`` and ``ctrack compress``."""
from __future__ import annotations

import os

import click

from compresstracker.cli.common import console, emit_json, json_option
from compresstracker.cli.train import relaunch_if_asked, resolve_recipe, run_options


def _split(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(p) for p in value.split(",") if p.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of stage sizes") from None


def _stages_and_split(stages: int | None, split: str | None) -> tuple[int | None, list[int] | None]:
    """--stages and --split together: the split's length is the stage count; a different --stages is an error."""
    sizes = _split(split)
    if sizes is not None and not sizes:
        raise click.BadParameter(f"{split!r} names no stage sizes", param_hint="--split")
    if sizes is not None and stages is not None and stages != len(sizes):
        raise click.BadParameter(f"--stages {stages} but --split {split} has {len(sizes)} stages; give one of them", param_hint="--stages")
    return (len(sizes) if sizes is not None else stages), sizes


def _plan_table(plan: dict):
    from rich.table import Table

    table = Table(title=f"{plan['teacher_arch']}: {plan['teacher_depth']} layers -> {plan['student_depth']}")
    table.add_column("stage", justify="right")
    table.add_column("teacher layers")
    table.add_column("student layer(s)")
    table.add_column("initialised from")
    k = plan["layers_per_stage"]
    for i, layers in enumerate(plan["stages"]):
        student = list(range(i * k, (i + 1) * k))
        table.add_row(str(i), ", ".join(map(str, layers)), ", ".join(map(str, student)),
                      ", ".join(f"teacher {plan['student_init'][j]}" for j in student))
    return table


def _sizes_line(plan: dict) -> str:
    return (
        f"params {plan['teacher_params'] / 1e6:.2f} M -> {plan['student_params'] / 1e6:.2f} M, "
        f"MACs {plan['teacher_macs'] / 1e9:.3f} G -> {plan['student_macs'] / 1e9:.3f} G, "
        f"expected speed-up {plan['expected_speedup']:.2f}x (MACs ratio)"
    )


@click.command("plan")
@click.option("--teacher", "-t", required=True, type=click.Path(dir_okay=False), help="Teacher checkpoint (any format ctrack reads).")
@click.option("--stages", "-n", type=click.IntRange(1), help="Number of stages (= student layers at 1 layer per stage).")
@click.option("--split", help="Explicit stage sizes, e.g. 2,2,6,2; must add up to the teacher's depth.")
@click.option("--init", default="stage-end", show_default=True, help="stage-end, stage-start, or teacher layer indices a,b,c.")
@click.option("--layers-per-stage", default=1, show_default=True, type=click.IntRange(1), help="Student layers per stage.")
@json_option
def plan(teacher, stages, split, init, layers_per_stage, as_json):
    """Show how a teacher would be divided into stages and what the student costs.

    \b
    Examples:
      ctrack plan --teacher OSTrack_ep0300.pth.tar --stages 4
      ctrack plan --teacher OSTrack_ep0300.pth.tar --split 2,2,6,2 --json
    """
    from compresstracker.checkpoints import load_model
    from compresstracker.compression.adapters import adapter_for
    from compresstracker.compression.plan import plan_stages
    from compresstracker.compression.report import describe_plan

    stages, sizes = _stages_and_split(stages, split)
    model = load_model(teacher)
    stage_plan = plan_stages(adapter_for(model).depth(model), stages=stages, split=sizes, init=init, layers_per_stage=layers_per_stage)
    description = describe_plan(model, stage_plan)
    if as_json:
        emit_json(description)
        return
    console.print(_plan_table(description))
    console.print(_sizes_line(description))


@click.command("compress")
@click.option("--teacher", "-t", required=True, type=click.Path(dir_okay=False), help="Teacher checkpoint (OSTrack, CompressTracker or ctrack file).")
@click.option("--stages", "-n", type=click.IntRange(1), help="Number of stages (student layers).")
@click.option("--split", help="Explicit stage sizes, e.g. 2,2,6,2.")
@click.option("--init", help="stage-end (default), stage-start, or teacher layer indices a,b,c.")
@click.option("--recipe", "-r", default="compresstracker", show_default=True, help="A shipped recipe name or a YAML path.")
@click.option("--eval", "eval_specs", multiple=True, metavar="NAME=ROOT[:SPLIT]", help="Evaluate teacher and student on this dataset afterwards.")
@run_options
@click.argument("overrides", nargs=-1)
def compress(teacher, stages, split, init, recipe, eval_specs, overrides, out, resume, epochs, samples_per_epoch, batch_size, workers, nproc, data_specs, device, as_json):
    """Compress a teacher into a student by replacement training (CompressTracker).

    Writes OUT/student.safetensors (loads with no flags), OUT/student_ostrack.pth.tar (OSTrack's
    layout), config.yaml, plan.json, log.jsonl and training checkpoints (--resume continues).
    `--epochs 0` exports the initialised, untrained student.

    \b
    Examples:
      ctrack compress --teacher OSTrack_ep0300.pth.tar --stages 4 --data lasot=/data/lasot \\
          --data got10k=/data/got10k --data coco=/data/coco --data trackingnet=/data/tnet --out ct4 --nproc 8 --device cuda
      ctrack compress --teacher teacher.safetensors --stages 4 -r compresstracker_tiny --data lasot=synth:all --out ct4
    """
    from compresstracker.compression.run import compress_tracker

    stages, sizes = _stages_and_split(stages, split)
    extra = [f"compress.teacher={teacher}"]
    if stages is not None:
        extra.append(f"compress.stages={stages}")
    if sizes is not None:
        extra.append(f"compress.split=[{','.join(map(str, sizes))}]")
    if init is not None:
        extra.append(f"compress.init={init}")
    resolved = resolve_recipe(recipe, "compress", overrides, data_specs, extra, epochs=epochs,
                              samples_per_epoch=samples_per_epoch, batch_size=batch_size, workers=workers)
    if relaunch_if_asked(nproc):
        return
    summary = compress_tracker(resolved, out, device, resume, progress=not as_json)
    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun, rank 0 evaluates and reports
    if eval_specs:
        from compresstracker.evaluation.compare import compare_on

        summary["eval"] = compare_on(eval_specs, teacher, summary["student"], out, device)
    if as_json:
        emit_json(summary)
        return
    console.print(_plan_table(summary["plan"]))
    console.print(_sizes_line(summary["plan"]))
    console.print(f"student -> {summary['student']} and {summary['student_ostrack']}")
    if eval_specs:
        from compresstracker.evaluation.compare import comparison_table

        console.print(comparison_table(summary["eval"]))
