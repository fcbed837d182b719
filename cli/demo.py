"""``ctrack demo``: compress the built-in teacher on synthetic data and compare (what `make demo` runs)."""
from __future__ import annotations

import click

from compresstracker.cli.common import console, emit_json, json_option


@click.command("demo")
@click.option("--out", "-o", default="demo-out", show_default=True, type=click.Path(file_okay=False), help="Work folder.")
@click.option("--stages", default=4, show_default=True, type=click.IntRange(1, 12), help="Student layers.")
@click.option("--epochs", type=click.IntRange(0), help="Override the recipe's epochs (quicker runs).")
@click.option("--samples-per-epoch", type=click.IntRange(1), help="Override the recipe's pairs per epoch.")
@click.option("--test-sequences", default=64, show_default=True, type=click.IntRange(1),
              help="Sequences of the test split; fewer is quicker, but then 'kept' moves by points between data seeds.")
@json_option
def demo(out, stages, epochs, samples_per_epoch, test_sequences, as_json):
    """Compress the built-in 12-block teacher into a small student and compare them.

    Needs no data or weights: the data are generated, the teacher ships with ctrack.
    Rerunning resumes or reuses what is already in --out.
    """
    from compresstracker.evaluation.compare import comparison_table
    from compresstracker.demo import run_demo

    summary = run_demo(out, stages, epochs, samples_per_epoch, progress=not as_json, test_sequences=test_sequences)
    if as_json:
        emit_json(summary)
        return
    console.print(comparison_table(summary["eval"]))
    report = summary["eval"][0]
    console.print(
        f"student keeps {report['kept'] * 100:.1f}% of the teacher's AUC at "
        f"{report['speedup_fps']:.2f}x its CPU speed ({report['speedup_macs']:.2f}x fewer MACs); "
        f"plots in {out}/plots, student in {summary['student']}"
    )
