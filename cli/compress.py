"""``ctrack plan`` and ``ctrack compress``."""
from __future__ import annotations

import os

import click

from compresstracker.cli.common import (
    console, emit_json, execute_run, json_option, plan_table, resolve_run_options, run_options, show_dry_run, show_preflight,
    sizes_line,
)


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
      ctrack plan --teacher teacher.safetensors --stages 3
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
    console.print(plan_table(description))
    console.print(sizes_line(description))


@click.command("compress")
@click.option("--teacher", "-t", type=click.Path(dir_okay=False), help="Teacher checkpoint (OSTrack, CompressTracker or ctrack file); with --resume, the run's.")
@click.option("--stages", "-n", type=click.IntRange(1), help="Number of stages (student layers).")
@click.option("--split", help="Explicit stage sizes, e.g. 2,2,6,2.")
@click.option("--init", help="stage-end (default), stage-start, or teacher layer indices a,b,c.")
@click.option("--recipe", "-r", help="A shipped recipe name or a YAML path (default: compresstracker; with --resume, the run's).")
@click.option("--eval", "eval_specs", multiple=True, metavar="NAME=ROOT[:SPLIT]", help="Evaluate teacher and student on this dataset afterwards.")
@click.option("--name", help="The student's name in results and tables (default: the --out folder's name).")
@click.option("--from-search", "from_search_dir", type=click.Path(file_okay=False),
              help="Fine-tune the student a `ctrack search` of an elastic run found (its folder): a short replacement-training run of that path alone.")
@click.option("--elastic", is_flag=True, help="Train a student supernet (depth and MLP width per stage, compress.elastic.*) "
              "to search with `ctrack search --supernet OUT`.")
@run_options
@click.argument("overrides", nargs=-1)
def compress(teacher, stages, split, init, recipe, eval_specs, name, from_search_dir, elastic, overrides, **options):
    """Compress a teacher into a student by replacement training (CompressTracker).

    Writes OUT/student.safetensors (loads with no flags), OUT/student_<family>.pth.tar (e.g. OSTrack's
    layout), config.yaml, plan.json, log.jsonl and training checkpoints. `--resume` continues the
    run from its own config.yaml; a flag that contradicts it is refused, more --epochs continue
    it. The --data datasets are the training mix. `--epochs 0` exports the initialised student.
    With --elastic, one run trains a whole family of students (OUT/supernet.safetensors): per step
    it samples each stage's depth and MLP width (compress.elastic.*); `ctrack search --supernet OUT`
    then picks the best student within a latency, MACs or params budget, and `--from-search DIR`
    fine-tunes that student (the elastic run's teacher, plan and supernet weights) into OUT/student.safetensors.

    \b
    Examples:
      ctrack compress --teacher OSTrack_ep0300.pth.tar --stages 4 --data lasot=/data/lasot --out ct4
      ctrack compress --teacher OSTrack_ep0300.pth.tar --stages 4 --data lasot=/data/lasot \\
          --data got10k=/data/got10k --data coco=/data/coco --data trackingnet=/data/tnet --out ct4 --nproc 8 --device cuda
      ctrack compress --teacher teacher.safetensors --stages 4 -r compresstracker_tiny --data lasot=synth:all --out ct4 --epochs 1 --samples-per-epoch 32
      ctrack compress --out ct4 --resume
      ctrack compress --out ct4 --resume --epochs 2
      ctrack compress --from-search runs/search --data lasot=synth:all -r compresstracker_tiny --epochs 1 --out ct-found
      ctrack compress --teacher teacher.safetensors --stages 2 --elastic -r compresstracker_tiny --data lasot=synth:all --out ct-elastic --epochs 1 --samples-per-epoch 32 compress.elastic.depths=[1,2,3]
    """
    from compresstracker.compression.run import compress_tracker, describe_run, resolve_teacher, with_teacher
    from compresstracker.fileio import check_name

    extra = []
    if from_search_dir is not None:
        from compresstracker.compression.run import from_search

        if elastic or stages is not None or split is not None or init is not None:
            raise click.UsageError("--from-search takes the stages and the space from the search's elastic run; "
                                   "drop --elastic, --stages, --split and --init")
        found_teacher, extra = from_search(from_search_dir)
        teacher = teacher or found_teacher
    if not options["resume"] and teacher is None:
        raise click.UsageError("Missing option '--teacher' / '-t' (or --resume an existing run).")
    if elastic and eval_specs:
        raise click.UsageError("--eval with --elastic: an elastic run writes a supernet, not one student; "
                               "search it (ctrack search --supernet OUT) and evaluate the student it finds.")
    extra += _plan_overrides(stages, split, init) + (["compress.elastic.enabled=true"] if elastic else [])
    request = resolve_run_options("compress", recipe, overrides, extra, options)
    teacher = resolve_teacher(teacher, request.recipe, request.saved)
    request.recipe = with_teacher(request.recipe, teacher)
    if name is not None:  # the student's results folder under OUT/results/<dataset>/
        check_name(name, "--name")
    if eval_specs:  # every --eval root is opened before any training
        from compresstracker.evaluation.compare import eval_datasets

        eval_datasets(eval_specs)
    show_preflight(request, options["dry_run"])
    if options["dry_run"]:
        show_dry_run(request, options["as_json"], describe_run(request.recipe, teacher))
        return
    summary = execute_run(compress_tracker, request, options, teacher=teacher)
    if summary is None:
        return
    if eval_specs:
        from compresstracker.evaluation.compare import compare_on

        summary["eval"] = compare_on(eval_specs, str(teacher.path), summary["student"], options["out"], options["device"],
                                     student_name=name or student_name(options["out"]), threads=request.threads(options["threads"]))
    if options["as_json"]:
        emit_json(summary)
        return
    console.print(plan_table(summary["plan"]))
    console.print(sizes_line(summary["plan"]))
    if "supernet" in summary:
        console.print(f"supernet ({summary['plan']['elastic']['size']} students) -> {summary['supernet']}; "
                      f"next: ctrack search --supernet {options['out']} --data NAME=ROOT --max-latency-ms MS")
        return
    layouts = [str(path) for key, path in summary.items() if key.startswith("student_") and key != "student_config"]
    console.print(f"student -> {' and '.join([summary['student'], *layouts])}")
    if eval_specs:
        from compresstracker.evaluation.compare import comparison_table

        console.print(comparison_table(summary["eval"]))


def _plan_overrides(stages: int | None, split: str | None, init: str | None) -> list[str]:
    """--stages, --split and --init as recipe overrides."""
    stages, sizes = _stages_and_split(stages, split)
    extra = [] if stages is None else [f"compress.stages={stages}"]
    if sizes is not None:
        extra.append(f"compress.split=[{','.join(map(str, sizes))}]")
    if init is not None:
        extra.append(f"compress.init={init}")
    return extra


def student_name(out: str) -> str:
    """A student is named after its run folder (``ct4``), so two runs can be compared side by side."""
    name = os.path.basename(os.path.normpath(out))
    return name if name and name != "teacher" else "student"
