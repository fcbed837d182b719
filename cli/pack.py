"""``ctrack pack``: a tracker's results in an evaluation server's zip or another toolkit's layout."""
from __future__ import annotations

import click

from compresstracker.cli.common import console, deprecated, emit_json, json_option, prefer
from compresstracker.evaluation.pack import PACK_FORMATS


@click.command("pack")
@click.option("--format", "fmt", required=True, type=click.Choice(PACK_FORMATS), help="got10k, trackingnet: a server's zip; pytracking, pysot, vot: the layout that toolkit reads.")
@click.option("--results", "results_dir", type=click.Path(), help="The tracker's results folder.")
@deprecated("-r", "--results", "old_results", type=click.Path())
@click.option("--out", "-o", required=True, type=click.Path(), help="The zip to write (servers), or the folder (toolkit layouts; a .zip name zips it).")
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    help="Check the results against this dataset root's sequence list (and frame counts).",
)
@deprecated("--dataset-root", "--root", "old_dataset_root", type=click.Path(file_okay=False))
@click.option("--split", default="test", show_default=True, help="Split to check against, with --root.")
@json_option
def pack(fmt, results_dir, old_results, out, root, old_dataset_root, split, as_json):
    """Pack results for the GOT-10k or TrackingNet evaluation server, or for another toolkit.

    pytracking: <seq>.txt tab-separated ints (pytracking's and OSTrack's analysis read it);
    pysot: <seq>.txt comma-separated (pysot's toolkit); vot: <seq>/<seq>_001.txt, the VOT
    toolkit's unsupervised layout (copy it to WORKSPACE/results/TRACKER/baseline/).
    `ctrack score --results` reads all of them back.

    \b
    Examples:
      ctrack pack --format got10k --results results/student -o student_got10k.zip --root /data/got10k
      ctrack pack --format trackingnet --results results/ct4 -o ct4_trackingnet.zip
      ctrack pack --format pysot --results results/ct4 -o pysot_results/ct4
      ctrack pack --format vot --results results/ct4 -o vot-workspace/results/ct4/baseline
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
    console.print(f"{summary['sequences']} sequences packed in the {fmt} layout -> {summary['out']}")
    if summary["not_packed"]:
        console.print(f"not in the {split} split, left out: {', '.join(summary['not_packed'])}")
