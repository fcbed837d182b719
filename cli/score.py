"""``ctrack score``: score result files on a benchmark with its published protocol."""
from __future__ import annotations

from pathlib import Path

import click

from compresstracker.cli.common import baseline_option, console, dataset_args, dataset_spec_option, deprecated, emit_json, json_option, parse_sequence_names, plot_format_option, prefer


def parse_labelled(value: str) -> tuple[str | None, str]:
    """``LABEL=PATH`` -> (label, path); a bare PATH has no label (its folder name is used)."""
    label, sep, path = value.partition("=")
    if sep and label and path and "/" not in label and "\\" not in label:
        return label, path
    return None, value


@click.command("score")
@dataset_spec_option
@click.option("--dataset", "-d", "dataset_name", help="Dataset registry name (lasot, got10k, uav123, ...; `ctrack datasets list` shows them).")
@click.option("--root", type=click.Path(file_okay=False), help="The dataset's root folder.")
@click.option(
    "--results", "results_dirs", multiple=True, metavar="[LABEL=]PATH",
    help="A tracker's results folder of <seq>.txt files, optionally labelled; repeat to compare trackers.",
)
@deprecated("-r", "--results", "old_results", multiple=True)
@click.option("--split", help="Dataset split (default: the benchmark's test split).")
@click.option("--sequences", help="Only these sequences: a,b,c or a text file with one name per line.")
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Score only the sequences that are on disk and have results in every folder.",
)
@click.option("--attributes", is_flag=True, help="Also break the scores down by sequence attribute.")
@baseline_option
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), help="Write success/precision plots here.")
@plot_format_option
@json_option
def score(data_spec, dataset_name, root, results_dirs, old_results, split, sequences, allow_missing, attributes, baseline, plot_dir,
          plot_formats, as_json):
    """Score trackers' result files exactly as the published numbers were computed.

    LaSOT, UAV123, NfS, OTB, TNL2K, LaSOT_ext, TrackingNet use pytracking's OPE protocol
    (AUC, OP50, OP75, Precision, Norm. precision); GOT-10k uses its toolkit (AO, SR0.5, SR0.75).
    The table goes to stdout (`> scores.txt` keeps it); --json prints one entry per tracker.

    \b
    Examples:
      ctrack score -d lasot --root /data/lasot --results results/ostrack256
      ctrack score --data lasot=/data/lasot --results teacher=results/teacher --results ct4=results/ct4 --plot plots/
      ctrack score -d got10k --root /data/got10k --split val --results results/student --json
      ctrack score --data lasot=synth --results results/ct4 > scores.txt
      ctrack score --data lasot=synth --results results/ct4 --baseline
    """
    dataset_name, root, split = dataset_args(data_spec, dataset_name, root, split)
    results_dirs = prefer(results_dirs, old_results)
    if not results_dirs:
        raise click.UsageError("Missing option '--results'.")
    labelled = [parse_labelled(value) for value in results_dirs]
    from compresstracker.data import get_dataset
    from compresstracker.evaluation.report import attribute_breakdown, attribute_table, score_trackers, scores_table, with_first_box

    dataset = get_dataset(
        dataset_name, root, split=split, sequences=parse_sequence_names(sequences), allow_missing=allow_missing
    )
    scores = score_trackers(dataset, [Path(path) for _, path in labelled], allow_missing=allow_missing,
                            labels=[label for label, _ in labelled])
    if baseline:
        scores = with_first_box(dataset, scores)
    plots = []
    if plot_dir:
        from compresstracker.evaluation.plots import write_plots

        plots = [str(p) for p in write_plots(scores, plot_dir, dataset.sequences, plot_formats)]
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
            document = {"dataset": dataset.name, "protocol": dataset.protocol, "trackers": entries}
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
