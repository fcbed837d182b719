"""Options and output helpers shared by the command modules."""
from __future__ import annotations

import json
from typing import Any

import click

from compresstracker.console import console  # noqa: F401  (re-exported for the command modules)

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
device_option = click.option(
    "--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto (CUDA when present)."
)

# The library checks the names (compresstracker.deploy.backend_names()); no torch import here.
backend_option = click.option(
    "--backend", default="torch", show_default=True, metavar="torch|onnxruntime|openvino",
    help="Run the network with PyTorch, ONNX Runtime or OpenVINO: a file from `ctrack export` for that "
    "backend, or any checkpoint converted on the fly.",
)
precision_option = click.option(
    "--precision", type=click.Choice(["fp32", "bf16", "fp16", "int8"]),
    help="torch: fp32, bf16 (weights cast once; CPUs with bf16 support), fp16 (CUDA); onnxruntime: fp32, int8; "
    "openvino: fp32, bf16, int8. Default fp32 (a deployed file: its own).",
)
calib_option = click.option(
    "--calib", metavar="NAME=ROOT[:SPLIT]",
    help="Static int8 (openvino): calibrate on tracking crops of this dataset (default: generated sequences).",
)


def _parse_params(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{text!r} is not KEY=VALUE")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


# Tracker hyper-parameters; the checkpoint's model family decides which loop (and presets) apply.
preset_option = click.option(
    "--preset", help="Tracker preset (LightTrack: vot2019 or default; OSTrack's loop has none)."
)
param_option = click.option(
    "--param", "params", multiple=True, metavar="KEY=VALUE", callback=_parse_params,
    help="Override one tracker parameter (repeatable), e.g. --param penalty_k=0.01.",
)


def emit_json(obj: Any) -> None:
    """Write one JSON document to stdout."""
    click.echo(json.dumps(obj, indent=2, default=_jsonable))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def parse_box(text: str) -> list[float]:
    """'x,y,w,h' -> four floats; a click error otherwise."""
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not four numbers x,y,w,h") from None
    if len(values) != 4:
        raise click.BadParameter(f"{text!r} has {len(values)} numbers; expected x,y,w,h")
    return values
