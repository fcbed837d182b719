"""``ctrack inspect``: what a checkpoint file holds, without running it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from compresstracker.cli.common import console, emit_json, json_option

# Shown when the family has them (OSTrack: ViT numbers and CE; LightTrack: path, stride).
_SHOWN = (
    "format", "family", "arch", "arch_path", "embed_dim", "depth", "num_heads", "patch_size", "stride", "output_channels",
    "template_size", "search_size", "ce", "ce_layers", "search_factor", "precision", "params", "macs", "macs_counted",
    "dropped_keys", "ignored",
)


def _deployed(path: Path, backend: Any) -> tuple[Any, dict[str, Any]]:
    """(the file's architecture as a checkpoint, its summary) of a file ``ctrack export`` deployed: what its
    metadata says, checked as running it would check it (graph files, inputs and outputs)."""
    from compresstracker.checkpoints import LoadedCheckpoint
    from compresstracker.checkpoints.loader import checkpoint_info
    from compresstracker.deploy.family import deployed_architecture

    backend.require()
    deployed = backend.describe(path)
    loaded = LoadedCheckpoint(model=deployed_architecture(deployed), config=deployed.config, format=backend.formats[0])
    info = checkpoint_info(path, loaded)
    info.update(precision=deployed.precision, ce=deployed.ce, graphs={name: str(p) for name, p in deployed.graphs.items()})
    return loaded, info


@click.command("inspect")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--num-heads", type=click.IntRange(min=1), help="Attention heads, when the width is not a multiple of 64.")
@json_option
def inspect_cmd(checkpoint: str, num_heads: int | None, as_json: bool) -> None:
    """Detect a checkpoint's format, family and architecture, load it strictly, count params and MACs.

    Reads OSTrack and CompressTracker .pth.tar files (training or inference), LightTrack's released
    .pth files, ctrack's own .safetensors and the files `ctrack export` deploys (.onnx, .xml); pickled
    objects in them are never executed. MACs are counted by each family's published convention (the
    output says how).

    \b
    Examples:
      ctrack inspect OSTrack_ep0300.pth.tar
      ctrack inspect CompressTracker_ep0500.pth.tar --json
      ctrack inspect LightTrackM.pth
      ctrack inspect ct4/student.safetensors
      ctrack inspect student.onnx
    """
    from compresstracker.bench.flops import count_family_macs
    from compresstracker.checkpoints import load_checkpoint
    from compresstracker.checkpoints.loader import checkpoint_info
    from compresstracker.deploy import deployed_backend

    backend = deployed_backend(checkpoint)
    if backend is None:
        loaded = load_checkpoint(checkpoint, num_heads=num_heads)
        info = checkpoint_info(checkpoint, loaded)
    else:
        loaded, info = _deployed(Path(checkpoint), backend)
    info["macs"], info["macs_counted"] = count_family_macs(loaded.model)
    if as_json:
        emit_json(info)
        return
    table = Table(title=info["path"], show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key in (k for k in _SHOWN if k in info):
        value = info[key]
        if key == "params":
            value = f"{value:,} ({value / 1e6:.2f}M)"
        elif key == "macs" and value is not None:
            value = f"{value:,} ({value / 1e6:.1f}M)"
        elif isinstance(value, list):
            value = ", ".join(map(str, value)) or "-"
        table.add_row(key, str(value))
    for key in ("plan", "provenance"):
        if key in info:
            table.add_row(key, str(info[key]))
    console.print(table)
