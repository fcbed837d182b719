"""``ctrack demo``: compress the built-in teacher on synthetic data and compare (what `make demo` runs)."""
from __future__ import annotations

import click

from compresstracker.cli.common import console, emit_json, json_option, make_table, quiet_option, top_table
from compresstracker.demo import DEFAULT_FAMILY, TEACHER_ASSETS, TEST_FRAMES, TEST_SEQUENCES

SEARCH_OUT = "demo-search-out"  # as `make demo-search`


@click.command("demo")
@click.option("--out", "-o", default="demo-out", show_default=True, type=click.Path(file_okay=False), help=f"Work folder ({SEARCH_OUT} with --search).")
@click.option("--stages", default=4, show_default=True, type=click.IntRange(1, 12), help="Student layers.")
@click.option("--epochs", type=click.IntRange(0), help="Override the recipe's epochs (quicker runs).")
@click.option("--samples-per-epoch", type=click.IntRange(1), help="Override the recipe's pairs per epoch.")
@click.option("--test-sequences", default=TEST_SEQUENCES, show_default=True, type=click.IntRange(1),
              help=f"Clips of {TEST_FRAMES} frames in the test split; fewer is quicker, but 'kept' then moves more between data seeds.")
@click.option("--teacher-family", default=DEFAULT_FAMILY, show_default=True, type=click.Choice(sorted(TEACHER_ASSETS)),
              help="Which built-in teacher to compress: the 12-block OSTrack-style one, or the 8-block MixFormerV2 one.")
@click.option("--search", "search", is_flag=True, help="Instead: train the tiny LightTrack supernet, search it, retrain the winner.")
@json_option
@quiet_option
def demo(out, stages, epochs, samples_per_epoch, test_sequences, teacher_family, search, as_json, quiet):
    """Compress a built-in teacher into a small student and compare them.

    The default teacher is the 12-block OSTrack-style tracker; --teacher-family mixformerv2 takes the
    8-block MixFormerV2 one down the same road (MixFormerV2's network, tracker and guidance).

    With --search: LightTrack's one-shot search on the tiny space (supernet, evolutionary search
    under a MACs budget, retrain of the winner beside a random architecture of the same budget).
    Needs no data or weights: the data are generated, the teacher ships with ctrack.
    Rerunning resumes an interrupted run in --out or reuses a finished one, only when its
    settings are the same (another --stages or --epochs needs another --out). --search works in
    demo-search-out unless --out says otherwise.
    --stages and --test-sequences apply to the compression demo only.

    \b
    Examples:
      ctrack demo
      ctrack demo --out demo-quick --epochs 1 --samples-per-epoch 64 --json
      ctrack demo --teacher-family mixformerv2
    """
    if search:
        ctx = click.get_current_context()
        ignored = [f"--{name.replace('_', '-')}" for name in ("stages", "test_sequences", "teacher_family")
                   if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]
        if ignored:
            raise click.UsageError(f"{' and '.join(ignored)} appl{'y' if len(ignored) > 1 else 'ies'} to the compression demo, not to --search")
        if ctx.get_parameter_source("out") is click.core.ParameterSource.DEFAULT:
            out = SEARCH_OUT  # its own folder: the compression demo's default one holds other runs
        _search_demo(out, epochs, samples_per_epoch, as_json, quiet)
        return
    from compresstracker.evaluation.compare import comparison_table
    from compresstracker.demo import run_demo

    from compresstracker.progress import progress_mode

    summary = run_demo(out, stages, epochs, samples_per_epoch, progress=progress_mode(quiet), test_sequences=test_sequences,
                       family=teacher_family)
    if as_json:
        emit_json(summary)
        return
    console.print(comparison_table(summary["eval"]))
    report, split = summary["eval"][0], summary["test_split"]
    console.print(
        f"test split: {split['sequences']} generated clips x {split['frames']} frames ({split['difficulty']}, seed {split['seed']}); "
        f"a tracker that repeats the first box scores AUC {split['first_box_auc']:.2f}, the teacher "
        f"{split['teacher_over_first_box']:.2f}x that"
    )
    console.print(
        f"student keeps {report['kept']:.1f}% (standard error {split['kept_standard_error']:.2f}) of the teacher's AUC at "
        f"{report['speedup_fps']:.2f}x its CPU speed ({report['speedup_macs']:.2f}x fewer MACs); "
        f"plots in {out}/plots, student in {summary['student']}"
    )


def _search_demo(out, epochs, samples_per_epoch, as_json, quiet=False) -> None:
    from compresstracker.search.demo import run_search_demo

    def progress(report: dict) -> None:
        if not (as_json or quiet):
            console.print(f"search generation {report['generation']}/{report['generations']}: best {report['best_fitness']:.2f}, "
                          f"{report['seconds_per_candidate']:.1f} s/candidate")

    kwargs = {k: v for k, v in (("epochs", epochs), ("samples", samples_per_epoch)) if v is not None}
    summary = run_search_demo(out, progress=not (as_json or quiet), on_generation=progress, **kwargs)
    if as_json:
        emit_json(summary)
        return
    console.print(top_table(summary["search"]["records"][:5]))
    table = make_table(f"retrained at the same budget ({summary['budget'] / 1e6:.2f}M MACs)", "model", "arch",
                       *[(column, {"justify": "right"}) for column in ("MMACs", "params K", "AUC")])
    for row in summary["retrained"]:
        table.add_row(row["model"], row["arch"], f"{row['macs'] / 1e6:.2f}", f"{row['params'] / 1e3:.1f}", f"{row['auc']:.2f}")
    console.print(table)
