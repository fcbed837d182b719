"""``ctrack train`` and ``ctrack recipes``."""
from __future__ import annotations

import os
import sys

import click

from compresstracker.cli.common import (
    console, deprecated, device_option, emit_json, json_option, note, prefer, quiet_option, threads_option,
)
from compresstracker.errors import ConfigError

data_option = click.option(
    "--data", "data_specs", multiple=True, metavar="NAME=ROOT[:SPLIT]",
    help="A training dataset and its root; repeatable. The datasets given are the training mix "
    "(ratios from the recipe where it names them).",
)

DEFAULT_RECIPES = {"train": None, "compress": "compresstracker"}

# What the user typed for a recipe key, so a refused resume names it ("--stages 3 but the run has 4").
FLAG_LABELS = {
    "compress.stages": "--stages", "compress.split": "--split", "compress.init": "--init",
    "train.epochs": "--epochs", "data.samples_per_epoch": "--samples-per-epoch", "train.batch_size": "--batch-size",
    "data.train": "--data",
}


def common_overrides(recipe_overrides: tuple[str, ...], **options) -> list[str]:
    """Turn the convenience flags into recipe overrides (flags win over key=value given earlier)."""
    mapping = {
        "epochs": "train.epochs", "samples_per_epoch": "data.samples_per_epoch",
        "batch_size": "train.batch_size", "loader_workers": "data.workers",
    }
    out = list(recipe_overrides)
    for name, key in mapping.items():
        if options.get(name) is not None:
            out.append(f"{key}={options[name]}")
    return out


def run_options(func):
    for option in reversed([
        click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Output folder (the run)."),
        click.option("--resume", is_flag=True, help="Continue the run in --out; its settings come from the run itself."),
        click.option("--epochs", type=click.IntRange(0), help="Override train.epochs (on --resume: more epochs continue the run)."),
        click.option("--samples-per-epoch", type=click.IntRange(1), help="Override data.samples_per_epoch."),
        click.option("--batch-size", type=click.IntRange(1), help="Override train.batch_size (per process)."),
        click.option("--loader-workers", type=click.IntRange(0), help="Override data.workers (data loader processes)."),
        deprecated("--workers", "--loader-workers", "old_workers", type=click.IntRange(0)),
        click.option("--nproc", type=click.IntRange(1), help="Launch N processes with torchrun on this machine."),
        data_option,
        threads_option,
        click.option("--dry-run", is_flag=True, help="Check data roots, print the resolved config (and plan); write nothing."),
        device_option,
        json_option,
        quiet_option,
    ]):
        func = option(func)
    return func


def resolve_run(kind: str, recipe: str | None, overrides: tuple[str, ...], data_specs: tuple[str, ...], extra: list[str],
                out: str, resume: bool, **flags) -> tuple[dict, list[str], object]:
    """The recipe a train/compress command runs, with lines to show on stderr, and the saved run (or None).

    A fresh run: the recipe (or the kind's default) with flags, ``key=value`` overrides and
    ``--data`` applied. ``--resume``: the run's own config.yaml with only what the command line
    says applied; anything that would change the result is refused naming the difference.
    """
    from compresstracker.training.recipe import drop_unrooted_val, load_recipe, recipe_from_dict, set_data_roots
    from compresstracker.training.resume import check_resume, saved_run

    requested = common_overrides(overrides, **flags) + list(extra)
    saved = saved_run(out) if resume else None
    if saved is None:
        name = recipe or DEFAULT_RECIPES[kind]
        if name is None:
            raise click.UsageError("Missing option '--recipe' / '-r' (or --resume an existing run).")
        resolved = load_recipe(name, requested)
        if resolved["kind"] != kind:
            raise click.UsageError(f"recipe {name} is a {resolved['kind']} recipe; use `ctrack {resolved['kind']}`")
        notes = set_data_roots(resolved, data_specs)
        if resume:
            notes.append(f"{out} holds no run yet; starting one")
    else:
        source = saved.recipe.get("source", f"{out}/config.yaml")
        if recipe is not None and load_recipe(recipe)["source"] != source:
            raise ConfigError(f"--recipe {recipe} but the run used {source}; resume with the run's recipe or choose another --out")
        resolved = recipe_from_dict(saved.recipe, source, requested)
        set_data_roots(resolved, data_specs)
        notes = check_resume(saved.recipe, resolved, FLAG_LABELS)
    skipped = drop_unrooted_val(resolved)
    return resolved, notes + (skipped if resolved["train"]["epochs"] else []), saved


def preflight(resolved: dict, notes: list[str], dry_run: bool) -> None:
    """Show the notes; refuse (one line) data that cannot be read, before any teacher is loaded or file written."""
    from compresstracker.training.data import data_problems

    problems = data_problems(resolved)
    if problems and not dry_run:
        raise ConfigError("; ".join(problems))
    for line in notes + problems:
        note(line)


def show_dry_run(resolved: dict, plan: dict | None, as_json: bool) -> None:
    """--dry-run: the resolved config (and plan) on stdout; exit 2 when data roots are missing."""
    from compresstracker.training.data import data_problems
    from compresstracker.training.recipe import dump_recipe

    problems = data_problems(resolved)
    if as_json:
        emit_json({"config": resolved, "plan": plan, "problems": problems})
    else:
        click.echo(dump_recipe(resolved), nl=False)
    if plan is not None and not as_json:
        from compresstracker.cli.compress import plan_table, sizes_line

        console.print(plan_table(plan))
        console.print(sizes_line(plan))
    if problems:
        raise click.exceptions.Exit(2)


def relaunch_if_asked(nproc: int | None) -> bool:
    """With --nproc N > 1 (and not already under torchrun), rerun this command under torchrun."""
    if not nproc or nproc <= 1 or "LOCAL_RANK" in os.environ:
        return False
    from compresstracker.training.distributed import launch_torchrun, strip_option

    code = launch_torchrun(nproc, strip_option(sys.argv[1:], "--nproc"))
    if code:
        raise click.exceptions.Exit(code)
    return True


@click.command("train", context_settings={"ignore_unknown_options": False})
@click.option("--recipe", "-r", help="A shipped recipe name or a YAML path (not needed with --resume).")
@click.option("--init", type=click.Path(dir_okay=False), help="Start from this checkpoint's weights (sets model.init), e.g. a search's subnet.safetensors.")
@run_options
@click.argument("overrides", nargs=-1)
def train(recipe, init, overrides, out, resume, epochs, samples_per_epoch, batch_size, loader_workers, old_workers, nproc,
          data_specs, threads, dry_run, device, as_json, quiet):
    """Train a tracker (OSTrack or LightTrack family) from a recipe; key=value arguments override recipe keys.

    model.arch names the network: a registered name, or for LightTrack an official path string
    or a .json architecture file; the model family picks the losses and crops.

    \b
    Examples:
      ctrack train -r ostrack_tiny --data lasot=synth:all --out runs/teacher --epochs 1 --samples-per-epoch 32
      ctrack train -r lighttrack_tiny --data lasot=synth:all --out runs/lighttrack --epochs 1 --samples-per-epoch 16 --batch-size 8
      ctrack train -r lighttrack_mobile model.arch=searched.json --data got10k=/data/got10k --out runs/lt
      ctrack train -r ostrack_vitb_256 --data lasot=/data/lasot --data got10k=/data/got10k \\
          --data coco=/data/coco --data trackingnet=/data/trackingnet --out runs/ostrack --nproc 4 --device cuda
      ctrack train --out runs/teacher --resume
      ctrack train -r ostrack_tiny --data lasot=synth:all --out runs/other --dry-run
    Several machines: run on each
      torchrun --nnodes 2 --node-rank R --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
          -m compresstracker.cli.main train -r ostrack_vitb_256 ... --device cuda
    """
    extra = [f"model.init={init}"] if init else []
    resolved, notes, saved = resolve_run("train", recipe, overrides, data_specs, extra, out, resume, epochs=epochs,
                                         samples_per_epoch=samples_per_epoch, batch_size=batch_size,
                                         loader_workers=prefer(loader_workers, old_workers))
    preflight(resolved, notes, dry_run)
    if dry_run:
        show_dry_run(resolved, None, as_json)
        return
    if relaunch_if_asked(nproc):
        return
    from compresstracker.progress import progress_mode
    from compresstracker.training.run import train_tracker

    threads = threads or (saved.threads if saved else None)
    summary = train_tracker(resolved, out, device, resume, progress=progress_mode(quiet), threads=threads)
    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun, rank 0 reports
    if as_json:
        emit_json(summary)
    else:
        console.print(f"trained {summary['epochs']} epochs -> {summary['model']}")


@click.group("recipes")
def recipes() -> None:
    """List, show and validate recipes.

    \b
    Examples:
      ctrack recipes list
      ctrack recipes show compresstracker_tiny train.epochs=2
      ctrack recipes validate compresstracker --json
    """


@recipes.command("list")
@json_option
def recipes_list(as_json):
    """Shipped recipes."""
    from compresstracker.cli.common import make_table
    from compresstracker.training.recipe import list_recipes

    rows = list_recipes()
    if as_json:
        emit_json(rows)
        return
    table = make_table(None, "name", "kind", "description")
    for row in rows:
        table.add_row(row["name"], row["kind"], row["description"])
    console.print(table)


@recipes.command("show")
@click.argument("recipe")
@click.argument("overrides", nargs=-1)
def recipes_show(recipe, overrides):
    """Print a recipe fully resolved (defaults filled in, overrides applied)."""
    from compresstracker.training.recipe import dump_recipe, load_recipe

    click.echo(dump_recipe(load_recipe(recipe, overrides)), nl=False)


@recipes.command("validate")
@click.argument("recipe")
@click.argument("overrides", nargs=-1)
@json_option
def recipes_validate(recipe, overrides, as_json):
    """Check every key and value of a recipe; all problems are reported at once."""
    from compresstracker.training.recipe import load_recipe

    from compresstracker.training.data import data_problems

    resolved = load_recipe(recipe, overrides)
    needs = data_problems(resolved)
    if as_json:
        emit_json({"recipe": resolved["source"], "valid": True, "kind": resolved["kind"], "data": needs})
        return
    console.print(f"{resolved['source']}: valid ({resolved['kind']} recipe)")
    for line in needs:
        console.print(f"  to run it: {line}")
