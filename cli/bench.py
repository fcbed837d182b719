"""``ctrack bench``: params, MACs, model latency, tracking-step latency, FPS, speed-up and difference to torch fp32."""
from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from compresstracker.cli.common import (
    RegistryChoice, backend_metavar, console, device_option, emit_json, err_console, json_option, make_table, precisions, registry_option,
    threads_option,
)


def _backend_attributes() -> dict:
    from compresstracker.deploy import default_backend

    return {"default": (default_backend(),), "metavar": backend_metavar()}


def _table(report: dict):
    compiled = ", torch.compile" if report["compile"] else ""
    quick = " (quick look)" if report["quick_look"] else ""
    # Sizes (params, MACs, CE) are per model and printed under the table, so the rows fit 80 columns.
    columns = ("model", "backend", "precision", "model ms", "track ms (IQR)", "FPS", "speed-up", "max abs diff")
    rows = [
        (Path(row["path"]).name, row["backend"], row["precision"], f"{row['latency_ms']:.2f}",
         f"{row['track_ms']:.2f} ({row['track_spread_ms']:.2f})", f"{row['fps']:.1f}", f"{row['speedup']:.2f}x",
         "-" if row["max_abs_diff"] is None else f"{row['max_abs_diff']:.1e}")
        for row in report["models"]
    ]
    # Figures keep their width (header words wrap above them); the model name never folds (make_table
    # shortens it from the left, or prints one block per row where the figures leave it too little room).
    options = [{"justify": "left"}] + [
        {"justify": "left" if i < 3 else "right",
         "width": max([*(len(word) for word in column.split()), *(len(r[i]) for r in rows)])}
        for i, column in enumerate(columns) if i > 0
    ]
    table = make_table(
        f"{report['device']}, {report['threads']} thread(s){compiled}, median (IQR) of {report['runs']} interleaved runs{quick}",
        *zip(columns, options), collapse_padding=True,
    )
    for row in rows:
        table.add_row(*row)
    return table


@click.command("bench")
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(dir_okay=False))
@device_option
@registry_option(
    "--backend", "backends", multiple=True, show_default=True, read=_backend_attributes,
    help="Backend(s) to time; repeat to compare. Graph backends take their deployed files or convert checkpoints on the fly.",
)
@click.option(
    "--precision", "--dtype", "precisions", multiple=True, default=("fp32",), show_default=True, type=RegistryChoice(precisions),
    help="Precision(s) to time; repeat to compare. One row per supported (backend, precision); --dtype is an alias.",
)
@threads_option
@click.option("--no-ce", is_flag=True, help="Run every block plain (no candidate elimination).")
@click.option("--compile", "compile_", is_flag=True, help="torch rows: torch.compile (CPU: Inductor with freezing; CUDA: CUDA graphs).")
@click.option("--calib", help="int8 rows of graph backends: calibrate on NAME=ROOT[:SPLIT] (default: generated sequences).")
@click.option("--runs", default=100, show_default=True, type=click.IntRange(3), help="Timed rounds (median); under 50 is a quick look.")
@json_option
def bench(checkpoints, device, backends, precisions, threads, no_ce, compile_, calib, runs, as_json):
    """Measure trackers: size, MACs, latency, FPS and output difference at batch 1.

    MACs are counted by each family's published convention, printed under the table (OSTrack:
    PyTorch's FlopCounterMode, matrix multiplications and convolutions; LightTrack: the search
    branch by thop's rules, Mobile 544.5 M; deployed files, int8 too, on their architecture).
    "model ms" times the network alone; "track ms" a full tracking step on a synthetic 640x480 frame (crop + resize,
    normalisation, forward, Hann window, decoding); FPS = 1000 / track ms; speed-up is against
    the first checkpoint's torch fp32 row (named under the table; the first row when no row is torch
    fp32); max abs diff compares the maps with the checkpoint's torch fp32 network on the
    same inputs. Rows run interleaved (one call of each per round) so that load on a shared machine
    hits them alike; each time is the median over --runs rounds after warm-up, with its
    interquartile range. A line warns when the load average says other processes competed.

    \b
    Examples:
      ctrack bench teacher.safetensors student.safetensors --threads 1
      ctrack bench student.safetensors --backend torch --backend openvino --precision fp32 --precision bf16 --runs 5 --json
      ctrack bench student.int8.onnx --runs 5
      ctrack bench OSTrack_ep0300.pth.tar --device cuda --compile --precision fp16
    """
    from compresstracker.bench.latency import bench_models
    from compresstracker.threads import resolve_threads

    def show(message: str) -> None:
        if not as_json:
            err_console.print(f"[dim]{message}[/dim]")

    if click.get_current_context().get_parameter_source("backends") is ParameterSource.DEFAULT:
        backends = None  # checkpoints on torch, exported files on their own runtime
    report = bench_models(
        checkpoints, backends, precisions, device, resolve_threads(threads), ce=False if no_ce else None, compile=compile_,
        runs=runs, calib=calib, on_row=show,
    )
    if report["load"]["warning"]:  # on stderr with --json too
        err_console.print(f"[yellow]warning: {report['load']['warning']}[/yellow]")
    if as_json:
        emit_json(report)
        return
    console.print(_table(report))
    for row in {r["path"]: r for r in report["models"]}.values():
        console.print(f"{Path(row['path']).name}: {row['params'] / 1e6:.2f} M params, {row['macs'] / 1e9:.3f} GMACs, "
                      f"CE {'on' if row['ce'] else 'off'}")
    for rules in dict.fromkeys(row["macs_counted"] for row in report["models"]):
        names = dict.fromkeys(Path(r["path"]).name for r in report["models"] if r["macs_counted"] == rules)
        console.print(f"MACs of {', '.join(names)}: {rules}")
    base = report["baseline"]
    console.print(f"speed-up against {Path(base['path']).name} on {base['backend']} {base['precision']}")
    for skip in report["skipped"]:
        err_console.print(f"skipped {Path(skip['path']).name} on {skip['backend']} {skip['precision'] or ''}: {skip['reason']}")
    load = report["load"]
    others = "" if load["other_cores"] is None else f"; other processes used {load['other_cores']:.2f} core(s) while timing"
    err_console.print(f"load average {load['load_before']:.2f} before, {load['load_after']:.2f} after, on {load['cores']} core(s){others}")
