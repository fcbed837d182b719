"""``ctrack bench``: params, MACs, model latency, tracking-step latency, FPS, speed-up and difference to torch fp32."""
from __future__ import annotations

from pathlib import Path

import click

from compresstracker.cli.common import console, device_option, emit_json, json_option


def _table(report: dict):
    from rich.table import Table

    compiled = ", torch.compile" if report["compile"] else ""
    quick = " (quick look)" if report["quick_look"] else ""
    table = Table(
        title=f"{report['device']}, {report['threads']} thread(s){compiled}, median (IQR) of {report['runs']} interleaved runs{quick}"
    )
    columns = ("model", "backend", "precision", "CE", "params (M)", "MACs (G)", "model ms", "track ms", "FPS", "speed-up", "max abs diff")
    for column in columns:
        table.add_column(column, justify="left" if column in ("model", "backend", "precision") else "right")
    for row in report["models"]:
        diff = "-" if row["max_abs_diff"] is None else f"{row['max_abs_diff']:.1e}"
        table.add_row(
            Path(row["path"]).name, row["backend"], row["precision"], "on" if row["ce"] else "off", f"{row['params'] / 1e6:.2f}",
            f"{row['macs'] / 1e9:.3f}", f"{row['latency_ms']:.2f} ({row['latency_spread_ms']:.2f})",
            f"{row['track_ms']:.2f} ({row['track_spread_ms']:.2f})", f"{row['fps']:.1f}", f"{row['speedup']:.2f}x", diff,
        )
    return table


@click.command("bench")
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(dir_okay=False))
@device_option
@click.option(
    "--backend", "backends", multiple=True, default=("torch",), show_default=True, metavar="torch|onnxruntime|openvino",
    help="Backend(s) to time; repeat to compare. Graph backends take their deployed files or convert checkpoints on the fly.",
)
@click.option(
    "--precision", "--dtype", "precisions", multiple=True, default=("fp32",), show_default=True,
    type=click.Choice(["fp32", "bf16", "fp16", "int8"]),
    help="Precision(s) to time; repeat to compare. One row per supported (backend, precision); --dtype is an alias.",
)
@click.option("--threads", type=click.IntRange(1), help="Intra-op threads of every backend (default: the cores this process may use).")
@click.option("--no-ce", is_flag=True, help="Run every block plain (no candidate elimination).")
@click.option("--compile", "compile_", is_flag=True, help="torch rows: torch.compile (CPU: Inductor with freezing; CUDA: CUDA graphs).")
@click.option("--calib", help="int8 rows of graph backends: calibrate on NAME=ROOT[:SPLIT] (default: generated sequences).")
@click.option("--runs", default=100, show_default=True, type=click.IntRange(3), help="Timed rounds (median); under 50 is a quick look.")
@json_option
def bench(checkpoints, device, backends, precisions, threads, no_ce, compile_, calib, runs, as_json):
    """Measure trackers: size, MACs, latency, FPS and output difference at batch 1.

    MACs are counted with PyTorch's FlopCounterMode on one forward pass: matrix multiplications
    (linear layers, attention products), convolutions and fused attention; element-wise work
    (LayerNorm, GELU, softmax, BatchNorm, adds) is not counted; CE's smaller token sets are,
    and deployed files (int8 too) are counted on their architecture. "model ms" times the network
    alone; "track ms" a full tracking step on a synthetic 640x480 frame (crop + resize,
    normalisation, forward, Hann window, decoding); FPS = 1000 / track ms; speed-up is against
    the first row; max abs diff compares the maps with the checkpoint's torch fp32 network on the
    same inputs. Rows run interleaved (one call of each per round) so that load on a shared machine
    hits them alike; each time is the median over --runs rounds after warm-up, with its
    interquartile range. A line warns when the load average says other processes competed.

    \b
    Examples:
      ctrack bench teacher.safetensors student4.safetensors --threads 2
      ctrack bench s4.safetensors --backend torch --backend openvino --precision fp32 --precision bf16 --precision int8 --json
      ctrack bench student4.int8.onnx --backend onnxruntime
      ctrack bench OSTrack_ep0300.pth.tar --device cuda --compile --precision fp16
    """
    from compresstracker.bench.latency import bench_models

    def show(message: str) -> None:
        if not as_json:
            console.print(f"[dim]{message}[/dim]")

    report = bench_models(
        checkpoints, backends, precisions, device, threads, ce=False if no_ce else None, compile=compile_, runs=runs,
        calib=calib, on_row=show,
    )
    if report["load"]["warning"]:  # on stderr with --json too
        console.print(f"[yellow]warning: {report['load']['warning']}[/yellow]")
    if as_json:
        emit_json(report)
        return
    console.print(_table(report))
    for skip in report["skipped"]:
        console.print(f"skipped {Path(skip['path']).name} on {skip['backend']} {skip['precision'] or ''}: {skip['reason']}")
    load = report["load"]
    console.print(f"load average {load['load_before']:.2f} before, {load['load_after']:.2f} after, on {load['cores']} core(s)")
