"""``ctrack pack``: zip a tracker's test-split results the way an evaluation server wants them."""
from __future__ import annotations

import click

from compresstracker.cli.common import console, emit_json, json_option
from compresstracker.evaluation.pack import PACK_FORMATS


@click.command("pack")
@click.option("--format", "fmt", required=True, type=click.Choice(PACK_FORMATS), help="Which server's layout.")
@click.option("--results", "-r", "results_dir", required=True, type=click.Path(), help="The tracker's results folder.")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="The zip file to write.")
@click.option(
    "--dataset-root",
    type=click.Path(file_okay=False),
    help="Check the results against this dataset's sequence list (and frame counts).",
)
@click.option("--split", default="test", show_default=True, help="Split to check against, with --dataset-root.")
@json_option
def pack(fmt, results_dir, out, dataset_root, split, as_json):
    """Pack results for the GOT-10k or TrackingNet evaluation server.

    \b
    Examples:
      ctrack pack --format got10k -r results/student -o student_got10k.zip --dataset-root /data/got10k
      ctrack pack --format trackingnet -r results/student -o student_trackingnet.zip
    """
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
