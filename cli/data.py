"""``ctrack data``: make data (synthetic sequences in a benchmark's layout)."""
from __future__ import annotations

import click

from compresstracker.cli.common import console, emit_json, json_option
from compresstracker.data.synthetic import DIFFICULTIES, LAYOUTS, generate


@click.group("data")
def data() -> None:
    """Make data for tests, demos and smoke-training.

    \b
    Examples:
      ctrack data synth --layout lasot --out synth-lasot --sequences 4 --frames 40 --seed 0
      ctrack data synth --layout got10k --out synth-got10k --sequences 4 --frames 20 --size 160x120 --json
    """


MAX_SIDE = 8192


def _parse_size(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    width, sep, height = value.lower().partition("x")
    if not (sep and width.isdigit() and height.isdigit()):
        raise click.BadParameter(f"{value!r} is not WIDTHxHEIGHT, e.g. 320x240")
    if max(int(width), int(height)) > MAX_SIDE:  # 8K frames are the most any benchmark has (the generator sets the least)
        raise click.BadParameter(f"{value!r}: each side must be at most {MAX_SIDE} pixels")
    return int(width), int(height)


@data.command("synth")
@click.option("--layout", required=True, type=click.Choice(list(LAYOUTS)), help="On-disk layout to write.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder (new or empty; rerun the same command to resume).")
@click.option("--sequences", default=8, show_default=True, type=click.IntRange(min=1), help="Number of sequences.")
@click.option("--frames", default=100, show_default=True, type=click.IntRange(min=1), help="Frames per sequence.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Same seed, same bytes.")
@click.option(
    "--difficulty", default="hard", show_default=True, type=click.Choice(DIFFICULTIES),
    help="hard: distractors, full occlusion, out-of-view stretches; fair: a plain tracking task (a larger target drifting steadily over a calm background; the demo's test split).",
)
@click.option("--size", "image_size", default="320x240", show_default=True, callback=_parse_size, help="Frame size WIDTHxHEIGHT.")
@json_option
def synth(layout, out, sequences, frames, seed, difficulty, image_size, as_json) -> None:
    """Write synthetic tracking sequences (textured target, occluders, distractors, out-of-view
    stretches, blur, lighting change, noise) with exact labels, in a benchmark's layout.

    The output also holds synthetic.json and split_<name>.txt; read it back with
    `--dataset synthetic --root OUT`, or with the layout's own reader (`--dataset lasot --root OUT
    --split all`, or `--split OUT/split_test.txt`).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    # Only on a terminal: elsewhere the bar's last frame would be a stray line before an error.
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(f"synth {layout}", total=sequences * frames, rate="")

        def advance(count: int) -> None:
            progress.advance(task, count)
            speed = progress.tasks[0].speed
            progress.update(task, rate=f"{speed:.0f} frames/s" if speed else "")

        summary = generate(layout, out, sequences, frames, seed, image_size=image_size, progress=advance, difficulty=difficulty)
    if as_json:
        emit_json(summary)
        return
    splits = ", ".join(f"{name} {count}" for name, count in summary["splits"].items())
    rate = f", {summary['frames_per_second']:.0f} frames/s" if summary["frames_per_second"] else ""
    console.print(
        f"{summary['written']} sequences written, {summary['skipped']} already there -> {summary['out']} "
        f"({layout} layout; splits: {splits}; {frames} frames of {image_size[0]}x{image_size[1]}{rate})"
    )
