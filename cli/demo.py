"""``ctrack demo``: compress the built-in teacher on synthetic data and compare (what `make demo` runs)."""
from __future__ import annotations

import click

from compresstracker.cli.common import console, emit_json, json_option, make_table, quiet_option, top_table
from compresstracker.demo import DEFAULT_FAMILY, TEACHER_ASSETS, TEST_FRAMES, TEST_SEQUENCES

SEARCH_OUT = "demo-search-out"  # as `make demo-search`
ELASTIC_OUT = "demo-elastic-out"  # as `make demo-elastic`


@click.command("demo")
@click.option("--out", "-o", default="demo-out", show_default=True, type=click.Path(file_okay=False), help=f"Work folder ({SEARCH_OUT} with --search).")
@click.option("--stages", default=4, show_default=True, type=click.IntRange(1, 12), help="Student layers.")
@click.option("--epochs", type=click.IntRange(0), help="Override the recipe's epochs (quicker runs).")
@click.option("--samples-per-epoch", type=click.IntRange(1), help="Override the recipe's pairs per epoch.")
@click.option("--test-sequences", default=TEST_SEQUENCES, show_default=True, type=click.IntRange(1),
              help=f"Clips of {TEST_FRAMES} frames in the test split; fewer is quicker, but 'kept' then moves more between data seeds.")
@click.option("--teacher-family", default=DEFAULT_FAMILY, show_default=True, type=click.Choice(sorted(TEACHER_ASSETS)),
              help="Which built-in teacher to compress: the 12-block OSTrack-style one, or the 8-block MixFormerV2 one.")
@click.option("--search", "search", is_flag=True, help="Instead: train the tiny LightTrack supernet, search it, score the winner beside 3 random draws.")
@click.option("--elastic", "elastic", is_flag=True,
              help=f"Instead: one elastic compression run, a search under the latency of each fixed CT-2/3/4 student, the found students beside them ({ELASTIC_OUT}).")
@click.option("--backend", default="torch", show_default=True, help="--elastic: the backend the latency table is measured on.")
@click.option("--precision", default="fp32", show_default=True, help="--elastic: the precision the latency table is measured at.")
@json_option
@quiet_option
def demo(out, stages, epochs, samples_per_epoch, test_sequences, teacher_family, search, elastic, backend, precision, as_json, quiet):
    """Compress a built-in teacher into a small student and compare them.

    The default teacher is the 12-block OSTrack-style tracker; --teacher-family mixformerv2 takes the
    8-block MixFormerV2 one down the same road (MixFormerV2's network, tracker and guidance).
    With --elastic: one elastic compression run of the OSTrack teacher, a search under the latency
    of each fixed CT-2/3/4 student on this CPU (make demo-elastic: OpenVINO fp32), the found
    students beside the fixed runs (demo-elastic-out).

    With --search: LightTrack's one-shot search on the tiny space (supernet with its heads held,
    evolutionary search under a MACs budget; the winner and 3 random architectures of the same
    budget scored on test clips with their supernet weights and retrained, with paired standard
    errors).
    Needs no data or weights: the data are generated, the teacher ships with ctrack.
    Rerunning resumes an interrupted run in --out or reuses a finished one, only when its
    settings are the same (another --stages or --epochs needs another --out). --search works in
    demo-search-out unless --out says otherwise.
    --stages applies to the compression demo only; --test-sequences to it and to --elastic.

    \b
    Examples:
      ctrack demo
      ctrack demo --out demo-quick --epochs 1 --samples-per-epoch 64 --json
      ctrack demo --teacher-family mixformerv2
    """
    ctx = click.get_current_context()
    if not elastic and any(ctx.get_parameter_source(n) is not click.core.ParameterSource.DEFAULT for n in ("backend", "precision")):
        raise click.UsageError("--backend and --precision apply to --elastic")
    if elastic:
        if search or any(ctx.get_parameter_source(n) is not click.core.ParameterSource.DEFAULT for n in ("stages", "teacher_family")):
            raise click.UsageError("--elastic runs its own stages on the OSTrack teacher and is not --search")
        if ctx.get_parameter_source("out") is click.core.ParameterSource.DEFAULT:
            out = ELASTIC_OUT
        _elastic_demo(out, epochs, samples_per_epoch, test_sequences if ctx.get_parameter_source("test_sequences")
                      is not click.core.ParameterSource.DEFAULT else 1000, backend, precision, as_json, quiet)
        return
    if search:
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
    console.print(comparison_table(summary))


def _lead(c: dict) -> str:
    """The searched network's lead over the draws' mean (and each draw) with the paired standard errors."""
    draws = c["random_draws"]
    each = "; ".join(f"{d['model']} {d['searched_minus']:+.2f} ({d['standard_error']:.2f})" for d in c["per_draw"])
    return (f"searched - random{f' (mean of {draws} draws)' if draws > 1 else ''}: {c['searched_minus_random']:+.2f} AUC, "
            f"standard error {c['standard_error']:.2f}" + (f"; each draw: {each}" if draws > 1 else ""))


def comparison_table(summary: dict):
    """The searched network and the random draws on the test split, with their supernet weights and retrained,
    beside the first-box floor; the searched one's lead over the draws with its paired standard errors."""
    test = summary["test"]
    table = make_table(
        f"searched vs random architectures of the same budget ({summary['budget'] / 1e6:.2f}M MACs), scored on "
        f"{test['sequences']} generated test clips x {test['frames']} frames ({test['difficulty']})", "model", "arch",
        *[(column, {"justify": "right"}) for column in ("MMACs", "params K", "AUC supernet", "x first box", "AUC retrained", "x first box")],
        caption=f"supernet weights: {_lead(test['supernet'])}. Retrained: {_lead(test['retrained'])}. "
                f"Standard error: std of the per-clip AUC differences / sqrt({test['sequences']}).")
    for row in summary["networks"]:
        table.add_row(row["model"], row["arch"], f"{row['macs'] / 1e6:.2f}", f"{row['params'] / 1e3:.1f}",
                      f"{row['auc_supernet']:.2f}", f"{row['over_first_box_supernet']:.2f}",
                      f"{row['auc_retrained']:.2f}", f"{row['over_first_box_retrained']:.2f}")
    table.add_row("first box", "repeats the first box", "-", "-", f"{test['first_box_auc']:.2f}", "1.00", f"{test['first_box_auc']:.2f}", "1.00")
    return table


def _elastic_demo(out, epochs, samples, test_sequences, backend, precision, as_json, quiet) -> None:
    from compresstracker.demo import FIXED, run_elastic_demo

    def report(name: str) -> None:
        if not (as_json or quiet):
            console.print(f"done: {name}")

    summary = run_elastic_demo(out, epochs, samples, test_sequences, backend, precision, progress=not (as_json or quiet), report=report)
    if as_json:
        emit_json(summary)
        return
    table = make_table(f"students of one elastic run vs fixed CT-k runs (latency: {backend} {precision}, 1 thread)", "student", "path",
                       *[(c, {"justify": "right"}) for c in ("AUC", "kept %", "params K", "MMACs", "latency ms", "budget ms")])
    for name, row in summary["rows"].items():
        table.add_row(name, row.get("arch", "fixed"), f"{row['auc']:.2f}", f"{row['kept']:.1f}", f"{row['params'] / 1e3:.1f}",
                      f"{row['macs'] / 1e6:.2f}", f"{row['latency_ms']:.2f}", f"{row['budget_ms']:.2f}" if row.get("budget_ms") is not None else "-")
    console.print(table)
    for name in summary["unreachable"]:
        budget = summary["budgets_ms"][int(name[3:])]
        console.print(f"{name}: not searched, the latency table does not describe it." if budget is None else
                      f"{name}: not searched, its predicted latency ({budget:.2f} ms) is under the space's fastest student "
                      f"({summary['space_floor_ms']:.2f} ms).")
    for name, c in summary["searched_vs_random"].items():
        console.print(f"found@{name} - random@{name} (a path drawn under the same budget, fine-tuned the same way): "
                      f"{c['searched_minus_random']:+.2f} AUC, standard error {c['standard_error']:.2f} "
                      f"(paired over the {summary['test_split']['sequences']} test clips)")
    for name in summary["only_path"]:
        console.print(f"{name}: the winner is the only path within the budget; no random path to compare with.")
    cost = summary["training_seconds"]
    console.print(
        f"teacher AUC {summary['teacher_auc']:.2f}; repeating the first box scores {summary['first_box_auc']:.2f}. "
        f"Training: elastic run {cost['elastic']:.0f} s vs {'+'.join(f'CT-{k}' for k in FIXED)} {sum(cost[f'CT-{k}'] for k in FIXED):.0f} s "
        f"({100 * summary['elastic_vs_fixed_cost']:.0f}%; with the found students' fine-tuning "
        f"{100 * summary['elastic_and_finetunes_vs_fixed_cost']:.0f}%)."
    )
    if "kendall" in summary:
        console.print(f"Kendall tau, inherited vs fine-tuned fitness over {len(summary['kendall']['architectures'])} students: "
                      f"{summary['kendall']['tau']:.2f}")
