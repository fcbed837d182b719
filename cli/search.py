"""``ctrack search``: evolutionary architecture search in a trained supernet (LightTrack's, or another registered space's)."""
from __future__ import annotations

import click

from compresstracker.cli.common import (
    RegistryChoice, backend_metavar, checked_threads, console, device_option, emit_json, err_console, json_option, precisions,
    registry_option, top_table,
)


def _backend_attributes() -> dict:
    from compresstracker.deploy import default_backend

    return {"default": default_backend(), "metavar": backend_metavar(),
            "help": "Backend the latency table is measured on (each space says which it measures; LightTrack: torch)."}


def _count(what: str):
    def convert(ctx, param, value):
        if value is None:
            return None
        from compresstracker.search.budget import parse_count

        return parse_count(value, what)

    return convert


@click.command("search")
@click.option("--supernet", required=True, type=click.Path(),
              help="A supernet run folder (`ctrack train -r lighttrack_supernet*`: its model.safetensors; "
                   "`ctrack compress --elastic`: its supernet.safetensors) or the file itself.")
@click.option("--data", "data", metavar="NAME=ROOT[:SPLIT]", help="Sequences that score candidates (fitness: (AO + SR0.5) / 2).")
@click.option("--calib", metavar="NAME=ROOT[:SPLIT]", help="Training sequences whose pairs recalibrate BatchNorm (default: the supernet's training data).")
@click.option("--max-macs", callback=_count("--max-macs"), help="MACs budget of the search branch, e.g. 600M.")
@click.option("--max-params", callback=_count("--max-params"), help="Parameter budget, e.g. 2M.")
@click.option("--max-latency-ms", type=click.FloatRange(min=0, min_open=True), help="Latency budget (ms, batch 1, search branch) on --backend with --threads.")
@registry_option("--backend", show_default=True, read=_backend_attributes)
@click.option("--precision", default="fp32", show_default=True, type=RegistryChoice(precisions),
              help="Precision the latency table is measured at (each space says which it measures; LightTrack: fp32).")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1), callback=checked_threads,
              help="Threads for latency measurement.")
@click.option("--latency", "with_latency", is_flag=True, help="Measure the latency table and predict every candidate's latency even without a latency budget.")
@click.option("--population", default=48, show_default=True, type=click.IntRange(1))
@click.option("--generations", default=20, show_default=True, type=click.IntRange(1))
@click.option("--parents", default=10, show_default=True, type=click.IntRange(1), help="Best candidates kept as parents.")
@click.option("--mutation", default=0.1, show_default=True, type=click.FloatRange(0, 1), help="Per-gene mutation probability.")
@click.option("--calib-batches", type=click.IntRange(1), help="Batches that recalibrate BatchNorm per candidate [default: 200, the paper's; 10 for small-input (tiny) supernets].")
@click.option("--calib-batch-size", default=32, show_default=True, type=click.IntRange(1), help="Pairs per calibration batch.")
@click.option("--random", "random_search", is_flag=True, help="Random search (the baseline): every generation sampled at random, same budgets and bookkeeping.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", "-o", type=click.Path(file_okay=False), help="Output folder (not needed with --dry-run).")
@click.option("--resume", is_flag=True, help="Continue the search in --out (same settings) where it stopped.")
@click.option("--dry-run", is_flag=True, help="Print the space size, MACs and params range and the budget's share; evaluate nothing.")
@click.option("--mark", "marks", multiple=True, metavar="NAME=CHECKPOINT",
              help="A student trained apart (e.g. a fixed CT-k run's student.safetensors): scored and timed as candidates are, a star on pareto.png.")
@device_option
@click.option("--nproc", type=click.IntRange(1), help="Launch N processes with torchrun on this machine; each evaluates a share of every generation.")
@json_option
def search(supernet, data, calib, max_macs, max_params, max_latency_ms, backend, precision, threads, with_latency, population,
           generations, parents, mutation, calib_batches, calib_batch_size, random_search, seed, out, resume, dry_run, marks, device, nproc,
           as_json):
    """Search a trained supernet for the best tracker within MACs, params or latency budgets.

    \b
    Typical use (see docs/search.md):
      ctrack train -r lighttrack_supernet_tiny --data lasot=synth/train:all --out runs/supernet
      ctrack search --supernet runs/supernet --max-macs 30M --dry-run
      ctrack search --supernet runs/supernet --data got10k=synth/val:val --max-macs 30M --seed 0 --out runs/search
      ctrack search --supernet runs/supernet --data got10k=/data/got10k:val --max-macs 600M --device cuda --nproc 8 --out runs/search
      ctrack train -r lighttrack_retrain model.arch=runs/search/best.json --init runs/search/subnet.safetensors \\
          --data lasot=synth/train:all --out runs/retrain
    An elastic compression run (`ctrack compress --elastic --out ct-elastic`) is searched the same way,
    under the latency of any backend and precision (--backend openvino --precision int8, ...);
    `ctrack compress --from-search DIR` fine-tunes its winner:
      ctrack search --supernet ct-elastic --data lasot=synth:all --max-latency-ms 50 --population 4 --generations 1 \\
          --mark CT-4=ct4/student.safetensors --out ct-elastic-search
    Outputs in --out: search.jsonl, best.json, the winner (LightTrack: subnet.safetensors; elastic: student.safetensors), pareto.png.
    Across nodes run it under torchrun (as `ctrack train`); the result is that of one process for the same seed.
    """
    import os
    import sys

    from compresstracker.deploy import get_backend
    from compresstracker.errors import ConfigError
    from compresstracker.search.evolution import Budget, EvolutionSettings
    from compresstracker.search.run import SearchOptions, check_search, dry_run as run_dry, run_search
    from compresstracker.training.launch import relaunch

    if not dry_run and not out:
        raise ConfigError("give --out DIR for the search's files (or --dry-run)")
    parsed_marks = []
    for mark in marks:
        name, _, path = mark.partition("=")
        if not name or not path:
            raise ConfigError(f"--mark {mark!r}: give NAME=CHECKPOINT")
        if not os.path.isfile(path):
            raise ConfigError(f"--mark {name}: {path} does not exist")
        parsed_marks.append((name, path))
    opts = SearchOptions(
        supernet=supernet, data=data, calib=calib, out=out or "",
        budget=Budget(max_macs=max_macs, max_params=max_params, max_latency_ms=max_latency_ms),
        settings=EvolutionSettings(population=population, generations=generations, parents=parents, mutation=mutation, seed=seed,
                                   strategy="random" if random_search else "evolution"),
        calib_batches=calib_batches, calib_batch_size=calib_batch_size, latency_backend=get_backend(backend).name,
        latency_precision=precision, threads=threads, measure_latency=with_latency, device=device, marks=tuple(parsed_marks),
    )
    if dry_run:
        info = run_dry(opts)
        if as_json:
            emit_json(info)
            return
        console.print(
            f"space {info['space']}: {info['space_size']:.3e} architectures ({info['genes']} genes)\n"
            f"MACs {info['macs_range'][0] / 1e6:.2f}M - {info['macs_range'][1] / 1e6:.2f}M, "
            f"params {info['params_range'][0] / 1e6:.3f}M - {info['params_range'][1] / 1e6:.3f}M\n"
            f"budget keeps {info['budget_share'] * 100:.1f}% of {info['budget_share_samples']} random paths; "
            f"{info['evaluations_planned']} evaluations planned"
        )
        if "latency_check" in info:
            check = info["latency_check"]
            console.print(f"latency predicted within {100 * check['mean_abs_error']:.1f}% on average (worst {100 * check['max_abs_error']:.1f}%) "
                          f"of {len(check['paths'])} random paths timed whole ({check['backend']} {check['precision']}, {check['threads']} thread(s))")
        return

    def progress(report: dict) -> None:
        eta = report["eta_s"]
        err_console.print(  # stderr: with --json, stdout holds the JSON document alone
            f"generation {report['generation']}/{report['generations']}: best {report['best_fitness']:.2f}, "
            f"mean {report['mean_fitness'] if report['mean_fitness'] is not None else float('nan'):.2f}, "
            f"{report['evaluated']} evaluated ({report['evaluated_total']} total, {report['rejected_total']} over budget), "
            f"{report['seconds_per_candidate']:.1f} s/candidate, ETA {eta // 60:.0f}m{eta % 60:02.0f}s"
        )

    if nproc and nproc > 1 and "LOCAL_RANK" not in os.environ:  # the torchrun parent: check here, then start the ranks
        check_search(opts, resume, nproc)  # bad input is one line here, not one per process
        code = relaunch(nproc, sys.argv[1:])
        if code:
            raise click.exceptions.Exit(code)
        return
    summary = run_search(opts, resume=resume, on_generation=progress)
    if summary is None:  # a rank other than 0: rank 0 reports
        return
    if as_json:
        emit_json(summary)
        return
    console.print(top_table(summary["records"][:10]))
    best = summary["best"]
    console.print(f"best {best['arch']} fitness {best['fitness']:.2f}, {best['macs'] / 1e6:.2f}M MACs -> {summary['subnet']}")
