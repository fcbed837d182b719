"""``ctrack score``: score result files on a benchmark with its published protocol."""
from __future__ import annotations

from pathlib import Path

import click

from compresstracker.cli.common import console, emit_json, json_option


def parse_sequence_names(value: str | None) -> list[str] | None:
    """``a,b,c`` or the path of a text file with one sequence name per line (blank lines skipped)."""
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return [name.strip() for name in value.split(",") if name.strip()]


@click.command("score")
@click.option("--dataset", "-d", "dataset_name", required=True, help="Dataset registry name (lasot, got10k, uav, ...).")
@click.option("--root", required=True, type=click.Path(file_okay=False), help="The dataset's root folder.")
@click.option(
    "--results",
    "-r",
    "results_dirs",
    required=True,
    multiple=True,
    type=click.Path(),
    help="A tracker's results folder of <seq>.txt files; repeat to compare trackers.",
)
@click.option("--split", help="Dataset split (default: the benchmark's test split).")
@click.option("--sequences", help="Only these sequences: a,b,c or a text file with one name per line.")
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Score only the sequences that are on disk and have results in every folder.",
)
@click.option("--attributes", is_flag=True, help="Also break the scores down by sequence attribute.")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), help="Write success/precision plots here.")
@json_option
def score(dataset_name, root, results_dirs, split, sequences, allow_missing, attributes, plot_dir, as_json):
    """Score trackers' result files exactly as the published numbers were computed.

    LaSOT, UAV123, NfS, OTB, TNL2K, LaSOT_ext, TrackingNet use pytracking's OPE protocol
    (AUC, OP50, OP75, Precision, Norm. precision); GOT-10k uses its toolkit (AO, SR0.5, SR0.75).

    \b
    Examples:
      ctrack score -d lasot --root /data/lasot -r results/ostrack256
      ctrack score -d lasot --root /data/lasot -r results/teacher -r results/student --plot plots/
      ctrack score -d got10k --root /data/got10k --split val -r results/student --json
    """
    from compresstracker.data import get_dataset
    from compresstracker.evaluation.report import attribute_breakdown, attribute_table, score_trackers, scores_table

    dataset = get_dataset(
        dataset_name, root, split=split, sequences=parse_sequence_names(sequences), allow_missing=allow_missing
    )
    scores = score_trackers(dataset, [Path(d) for d in results_dirs], allow_missing=allow_missing)
    plots = []
    if plot_dir:
        from compresstracker.evaluation.plots import write_plots

        plots = [str(p) for p in write_plots(scores, plot_dir, dataset.sequences)]
    if as_json:
        entries = []
        for tracker_score in scores:
            entry = tracker_score.to_dict()
            if attributes:
                entry["attributes"] = attribute_breakdown(tracker_score, dataset.sequences)
            entries.append(entry)
        if len(entries) == 1:
            document = entries[0]
        else:
            document = {"dataset": dataset.name, "protocol": dataset.protocol, "metrics": entries[0]["metrics"], "trackers": entries}
        if plot_dir:
            document["plots"] = plots
        emit_json(document)
        return
    console.print(scores_table(scores))
    if attributes:
        has_attributes = attribute_breakdown(scores[0], dataset.sequences)
        console.print(attribute_table(scores, dataset.sequences) if has_attributes else "no sequence carries attributes")
    if plots:
        console.print(f"{len(plots)} plots written to {plot_dir}")
