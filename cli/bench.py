"""``ctrack bench``: params, MACs, model latency, tracking-step latency, FPS and speed-up."""
from __future__ import annotations

from pathlib import Path

import click

from compresstracker.cli.common import console, device_option, emit_json, err_console, json_option, make_table, threads_option


def _table(report: dict):
    compiled = ", torch.compile" if report["compile"] else ""
    columns = ("model", "backend", "precision", "CE", "params (M)", "MACs (G)", "model ms", "track ms", "FPS", "speed-up")
    rows = [
        (Path(row["path"]).name, row["backend"], row["precision"], "on" if row["ce"] else "off", f"{row['params'] / 1e6:.2f}",
         f"{row['macs'] / 1e9:.3f}", f"{row['latency_ms']:.2f}", f"{row['track_ms']:.2f}", f"{row['fps']:.1f}",
         f"{row['speedup']:.2f}x")
        for row in report["models"]
    ]
    # Figures keep their width (header words wrap above them); only the model name folds at 80 columns.
    options = [{"justify": "left"}] + [
        {"justify": "left" if i < 3 else "right",
         "width": max([*(len(word) for word in column.split()), *(len(r[i]) for r in rows)])}
        for i, column in enumerate(columns) if i > 0
    ]
    table = make_table(f"{report['device']}, {report['threads']} thread(s){compiled}, median of {report['runs']} runs",
                       *zip(columns, options), collapse_padding=True)
    for row in rows:
        table.add_row(*row)
    return table


@click.command("bench")
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(dir_okay=False))
@device_option
@click.option(
    "--backend", "backends", multiple=True, default=("torch",), show_default=True, metavar="torch|onnxruntime",
    help="Backend(s) to time; repeat to compare (onnxruntime takes .onnx files or exports checkpoints on the fly).",
)
@threads_option
@click.option("--no-ce", is_flag=True, help="Run every block plain (no candidate elimination).")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the network (CUDA: with CUDA graphs).")
@click.option("--dtype", default="fp32", show_default=True, type=click.Choice(["fp32", "bf16", "fp16"]), help="torch autocast precision.")
@click.option("--runs", default=100, show_default=True, type=click.IntRange(50), help="Timed runs per figure (median; after warm-up).")
@json_option
def bench(checkpoints, device, backends, threads, no_ce, compile_, dtype, runs, as_json):
    """Measure trackers: size, MACs, latency and FPS at batch 1.

    MACs are counted with PyTorch's FlopCounterMode on one forward pass: matrix multiplications
    (linear layers, attention products), convolutions and fused attention; element-wise work
    (LayerNorm, GELU, softmax, BatchNorm, adds) is not counted; CE's smaller token sets are,
    and .onnx files (int8 too) are counted on their architecture. "model ms" times the network
    alone; "track ms" a full tracking step on a synthetic 640x480 frame (crop + resize,
    normalisation, forward, Hann window, decoding); FPS = 1000 / track ms; speed-up is against
    the first row. Each time is the median of --runs calls after warm-up (CUDA synchronised).

    \b
    Examples:
      ctrack bench teacher.safetensors student.safetensors --threads 1
      ctrack bench student.safetensors --backend torch --backend onnxruntime --json
      ctrack bench student.int8.onnx --backend onnxruntime
      ctrack bench OSTrack_ep0300.pth.tar --device cuda --compile --dtype fp16
    """
    from compresstracker.bench.latency import bench_models
    from compresstracker.threads import resolve_threads

    def show(row) -> None:
        if not as_json:
            err_console.print(f"[dim]{Path(row.path).name} ({row.backend}): track {row.track_ms:.2f} ms[/dim]")

    report = bench_models(
        checkpoints, backends, device, resolve_threads(threads), ce=False if no_ce else None, compile=compile_, runs=runs,
        dtype=dtype, on_model=show,
    )
    if as_json:
        emit_json(report)
        return
    console.print(_table(report))
