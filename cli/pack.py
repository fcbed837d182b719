"""``ctrack pack``: zip a tracker's test-split results the way an evaluation server wants them."""
from __future__ import annotations

import click

from compresstracker.cli.common import console, deprecated, emit_json, json_option, prefer
from compresstracker.evaluation.pack import PACK_FORMATS


@click.command("pack")
@click.option("--format", "fmt", required=True, type=click.Choice(PACK_FORMATS), help="Which server's layout.")
@click.option("--results", "results_dir", type=click.Path(), help="The tracker's results folder.")
@deprecated("-r", "--results", "old_results", type=click.Path())
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="The zip file to write.")
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    help="Check the results against this dataset root's sequence list (and frame counts).",
)
@deprecated("--dataset-root", "--root", "old_dataset_root", type=click.Path(file_okay=False))
@click.option("--split", default="test", show_default=True, help="Split to check against, with --root.")
@json_option
def pack(fmt, results_dir, old_results, out, root, old_dataset_root, split, as_json):
    """Pack results for the GOT-10k or TrackingNet evaluation server.

    \b
    Examples:
      ctrack pack --format got10k --results results/student -o student_got10k.zip --root /data/got10k
      ctrack pack --format trackingnet --results results/ct4 -o ct4_trackingnet.zip
    """
    results_dir = prefer(results_dir, old_results)
    dataset_root = prefer(root, old_dataset_root)
    if not results_dir:
        raise click.UsageError("Missing option '--results'.")
    from compresstracker.evaluation.pack import pack_results

    sequences = None
    if dataset_root:
        from compresstracker.data import get_dataset

        sequences = get_dataset(fmt, dataset_root, split=split).sequences
    summary = pack_results(fmt, results_dir, out, sequences)
    if as_json:
        emit_json(summary)
        return
    console.print(f"{summary['sequences']} sequences packed for the {fmt} server -> {summary['out']}")
    if summary["not_packed"]:
        console.print(f"not in the {split} split, left out: {', '.join(summary['not_packed'])}")
