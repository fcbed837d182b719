"""``ctrack train`` and ``ctrack recipes``."""
from __future__ import annotations

import click

from compresstracker.cli.common import (
    console, emit_json, execute_run, json_option, resolve_run_options, run_options, show_dry_run, show_preflight,
)


@click.command("train", context_settings={"ignore_unknown_options": False})
@click.option("--recipe", "-r", help="A shipped recipe name or a YAML path (not needed with --resume).")
@click.option("--init", type=click.Path(dir_okay=False), help="Start from this checkpoint's weights (sets model.init), e.g. a search's subnet.safetensors.")
@run_options
@click.argument("overrides", nargs=-1)
def train(recipe, init, overrides, **options):
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
    from compresstracker.training.run import train_tracker

    request = resolve_run_options("train", recipe, overrides, [f"model.init={init}"] if init else [], options)
    show_preflight(request, options["dry_run"])
    if options["dry_run"]:
        show_dry_run(request, options["as_json"])
        return
    summary = execute_run(train_tracker, request, options)
    if summary is None:
        return
    if options["as_json"]:
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
