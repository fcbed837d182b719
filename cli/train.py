"""``ctrack train`` and ``ctrack recipes``."""
from __future__ import annotations

import os
import sys

import click

from compresstracker.cli.common import console, device_option, emit_json, json_option

data_option = click.option(
    "--data", "data_specs", multiple=True, metavar="NAME=ROOT[:SPLIT]",
    help="Root (and split) of a training dataset named in the recipe; repeatable.",
)


def common_overrides(recipe_overrides: tuple[str, ...], **options) -> list[str]:
    """Turn the convenience flags into recipe overrides (flags win over key=value given earlier)."""
    mapping = {
        "epochs": "train.epochs", "samples_per_epoch": "data.samples_per_epoch",
        "batch_size": "train.batch_size", "workers": "data.workers",
    }
    out = list(recipe_overrides)
    for name, key in mapping.items():
        if options.get(name) is not None:
            out.append(f"{key}={options[name]}")
    return out


def run_options(func):
    for option in reversed([
        click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Output folder."),
        click.option("--resume", is_flag=True, help="Continue the run in --out exactly where it stopped."),
        click.option("--epochs", type=click.IntRange(0), help="Override train.epochs."),
        click.option("--samples-per-epoch", type=click.IntRange(1), help="Override data.samples_per_epoch."),
        click.option("--batch-size", type=click.IntRange(1), help="Override train.batch_size (per process)."),
        click.option("--workers", type=click.IntRange(0), help="Override data.workers (loader processes)."),
        click.option("--nproc", type=click.IntRange(1), help="Launch N processes with torchrun on this machine."),
        data_option,
        device_option,
        json_option,
    ]):
        func = option(func)
    return func


def resolve_recipe(recipe: str, kind: str, overrides: tuple[str, ...], data_specs: tuple[str, ...], extra: list[str] = (), **flags) -> dict:
    """Load a recipe of ``kind`` with the CLI's overrides, flags and --data roots applied."""
    from compresstracker.training.recipe import load_recipe, set_data_roots

    resolved = load_recipe(recipe, common_overrides(overrides, **flags) + list(extra))
    if resolved["kind"] != kind:
        raise click.UsageError(f"recipe {recipe} is a {resolved['kind']} recipe; use `ctrack {resolved['kind']}`")
    set_data_roots(resolved, data_specs)
    return resolved


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
@click.option("--recipe", "-r", required=True, help="A shipped recipe name or a YAML path.")
@click.option("--init", type=click.Path(dir_okay=False), help="Start from this checkpoint's weights (sets model.init), e.g. a search's subnet.safetensors.")
@run_options
@click.argument("overrides", nargs=-1)
def train(recipe, init, overrides, out, resume, epochs, samples_per_epoch, batch_size, workers, nproc, data_specs, device, as_json):
    """Train an OSTrack-style tracker from a recipe; key=value arguments override recipe keys.

    \b
    Examples:
      ctrack train -r ostrack_tiny --data lasot=/tmp/synth:all --out runs/teacher
      ctrack train -r ostrack_vitb_256 --data lasot=/data/lasot --data got10k=/data/got10k \\
          --data coco=/data/coco --data trackingnet=/data/trackingnet --out runs/ostrack --nproc 4 --device cuda
      ctrack train -r ostrack_tiny --out runs/teacher --resume
      ctrack train -r lighttrack_retrain model.arch=runs/search/best.json --init runs/search/subnet.safetensors \\
          --data lasot=/tmp/synth:all --out runs/retrain
    Several machines: run on each
      torchrun --nnodes 2 --node-rank R --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
          -m compresstracker.cli.main train -r ostrack_vitb_256 ... --device cuda
    """
    from compresstracker.training.run import train_tracker

    extra = [f"model.init={init}"] if init else []
    resolved = resolve_recipe(recipe, "train", overrides, data_specs, extra, epochs=epochs, samples_per_epoch=samples_per_epoch,
                              batch_size=batch_size, workers=workers)
    if relaunch_if_asked(nproc):
        return
    summary = train_tracker(resolved, out, device, resume, progress=not as_json)
    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun, rank 0 reports
    if as_json:
        emit_json(summary)
    else:
        console.print(f"trained {summary['epochs']} epochs -> {summary['model']}")


@click.group("recipes")
def recipes() -> None:
    """List, show and validate recipes."""


@recipes.command("list")
@json_option
def recipes_list(as_json):
    """Shipped recipes."""
    from rich.table import Table

    from compresstracker.training.recipe import list_recipes

    rows = list_recipes()
    if as_json:
        emit_json(rows)
        return
    table = Table("name", "kind", "description")
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

    resolved = load_recipe(recipe, overrides)
    if as_json:
        emit_json({"recipe": resolved["source"], "valid": True, "kind": resolved["kind"]})
    else:
        console.print(f"{resolved['source']}: valid ({resolved['kind']} recipe)")
