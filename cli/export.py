"""``ctrack export``: write a checkpoint as ONNX or OpenVINO (fp32, bf16, int8), OSTrack .pth.tar or safetensors."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from compresstracker.cli.common import calib_option, console, emit_json, json_option

if TYPE_CHECKING:
    from torch import nn

    from compresstracker.checkpoints import LoadedCheckpoint

FORMATS = ("onnx", "openvino", "ostrack", "safetensors")
GRAPH_FORMATS = {"onnx": ("onnxruntime", ("fp32", "int8")), "openvino": ("openvino", ("fp32", "bf16", "int8"))}


@click.command("export")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", required=True, type=click.Choice(FORMATS), help="What to write.")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Output file (written atomically); openvino: NAME.xml.")
# 17 and 14 are deploy.onnx.DEFAULT_OPSET / MIN_OPSET, spelled out so that --help does not import torch.
@click.option("--opset", default=17, show_default=True, type=click.IntRange(14), help="ONNX opset version.")
@click.option("--no-ce", is_flag=True, help="onnx/openvino: export every block plain (no candidate elimination).")
@click.option(
    "--precision", type=click.Choice(["fp32", "bf16", "int8"]),
    help="onnx: fp32 or int8 (ONNX Runtime dynamic); openvino: fp32, bf16 or int8 (NNCF static, calibrated). Default fp32.",
)
@click.option("--quantize", type=click.Choice(["int8"]), help="Same as --precision int8.")
@calib_option
@click.option("--eval-sequences", default=4, show_default=True, type=click.IntRange(1), help="bf16/int8: synthetic sequences for the accuracy check.")
@click.option("--eval-frames", default=40, show_default=True, type=click.IntRange(2), help="bf16/int8: frames per synthetic sequence.")
@click.option("--num-heads", type=click.IntRange(1), help="Attention heads, for a file that does not store its config.")
@click.option("--config", "config_items", multiple=True, metavar="FIELD=VALUE",
              help="A model config value the file does not store (e.g. search_factor=5.0); repeatable.")
@json_option
def export(checkpoint, fmt, out, opset, no_ce, precision, quantize, calib, eval_sequences, eval_frames, num_heads, config_items, as_json):
    """Export a tracker for deployment, teacher or student.

    onnx / openvino: the network (template + search in; score, size and offset maps out) with the
    model config in its metadata, run by --backend onnxruntime / openvino without flags. Every
    file written is compiled as that backend runs it and compared with the checkpoint's PyTorch
    fp32 network: the max abs difference printed is that exact file's (an fp32 ONNX file must stay
    under 1e-4, else an error and no file). bf16 and int8 also report the AUC change against
    PyTorch fp32 on generated sequences. int8 on openvino calibrates on real tracking crops from
    --calib (default: generated sequences). Needs pip install "ctrack[onnx]" / "ctrack[openvino]".
    ostrack / safetensors: the weights in OSTrack's .pth.tar layout or ctrack's native file, with
    the config that builds them.

    \b
    Examples:
      ctrack export student.safetensors --format onnx --out student.onnx
      ctrack export OSTrack_ep0300.pth.tar --format onnx --no-ce --out ostrack_noce.onnx
      ctrack export student.safetensors --format onnx --precision int8 --out student.int8.onnx
      ctrack export student.safetensors --format openvino --precision int8 --calib lasot=/data/lasot:train --out s.xml
      ctrack export CompressTracker_ep0500.pth.tar --format safetensors --out student.safetensors
      ctrack export raw.safetensors --format safetensors --num-heads 2 --config search_factor=4.0 -o fixed.safetensors
    """
    from compresstracker.checkpoints import load_checkpoint
    from compresstracker.deploy import deployed_backend, get_backend
    from compresstracker.errors import CheckpointError, ConfigError

    if deployed_backend(checkpoint) is not None:
        raise CheckpointError(f"{Path(checkpoint).name} is already a deployed model; export from the checkpoint it came from")
    if quantize and precision not in (None, quantize):
        raise ConfigError(f"--quantize {quantize} and --precision {precision} disagree; give one")
    precision = precision or quantize
    if fmt not in GRAPH_FORMATS and (no_ce or precision or calib):
        raise ConfigError(
            "--no-ce, --precision, --quantize and --calib apply to --format onnx or openvino; weights files carry no CE "
            "switch (choose it when running: --no-ce on track, eval, bench)"
        )
    if fmt in GRAPH_FORMATS:
        backend, precisions = GRAPH_FORMATS[fmt]
        suffix = get_backend(backend).suffixes[0]  # the backends pick their deployed files by suffix
        if Path(out).suffix.lower() != suffix:
            raise ConfigError(f"--out {Path(out).name}: --format {fmt} files are named NAME{suffix}")
        precision = precision or "fp32"
        if precision not in precisions:
            raise ConfigError(f"--format {fmt} writes {' or '.join(precisions)}, not {precision}")
        if calib and not (fmt == "openvino" and precision == "int8"):
            raise ConfigError("--calib applies to --format openvino --precision int8 (static quantisation)")
        get_backend(backend).require()  # before a large checkpoint is read
    loaded = load_checkpoint(checkpoint, num_heads=num_heads, config_overrides=_config_items(config_items))
    if fmt in GRAPH_FORMATS:
        info = _export_graphs(loaded.model, fmt, out, opset, False if no_ce else None, precision, calib)
        if precision != "fp32":
            info["accuracy"] = _accuracy(loaded, out, GRAPH_FORMATS[fmt][0], precision, no_ce, eval_sequences, eval_frames)
    else:
        info = _export_weights(loaded, fmt, out)
    info = {"source": str(checkpoint), "source_format": loaded.format, "format": fmt, **info}
    if as_json:
        emit_json(info)
        return
    _print_summary(info)


def _config_items(items: tuple[str, ...]) -> dict:
    """--config FIELD=VALUE pairs, values read as YAML (numbers, lists)."""
    import yaml

    overrides = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not FIELD=VALUE", param_hint="--config")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise click.BadParameter(f"{item!r}: {text!r} is not a value", param_hint="--config") from None
        overrides[key.strip()] = tuple(value) if isinstance(value, list) else value
    return overrides


def _export_graphs(model: nn.Module, fmt: str, out: str, opset: int, ce: Optional[bool], precision: str, calib: Optional[str]) -> dict:
    """The ONNX or OpenVINO file at ``out``, with the max abs difference of that exact file."""
    from compresstracker.deploy import load_network
    from compresstracker.deploy.family import deployed_differences
    from compresstracker.deploy.onnx import export_onnx
    from compresstracker.deploy.openvino import export_openvino
    from compresstracker.deploy.quantize import quantize_onnx_int8

    if fmt == "openvino":
        with console.status(f"converting to OpenVINO {precision}", spinner="dots"):
            return export_openvino(model, out, precision, ce, calib)
    if precision == "fp32":
        return export_onnx(model, out, opset=opset, ce=ce)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ctrack-export-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        info = export_onnx(model, fp32, opset=opset, ce=ce)
        info.update(quantize_onnx_int8(fp32, out))
        info.pop("source")
    diffs = deployed_differences(model, load_network(out, "onnxruntime"))
    info.update(max_abs_diff=max(diffs.values()), max_abs_diff_per_output=diffs, seconds=round(time.perf_counter() - start, 3))
    return info


def _accuracy(loaded: LoadedCheckpoint, out: str, backend: str, precision: str, no_ce: bool, sequences: int, frames: int) -> dict:
    """AUC of the written file against the exported network in PyTorch fp32, same generated frames.

    The reference is the model as loaded (with --num-heads / --config applied), saved natively for
    the evaluation's workers: the checkpoint file alone may not say how to build it.
    """
    from compresstracker.checkpoints import save_native
    from compresstracker.evaluation.accuracy import accuracy_change
    from compresstracker.evaluation.runner import ModelSpec

    ce = False if no_ce else None
    with tempfile.TemporaryDirectory(prefix="ctrack-export-ref-") as tmp, \
            console.status(f"measuring the {precision} accuracy change on generated sequences", spinner="dots"):
        reference = save_native(loaded.model, loaded.config, Path(tmp) / "reference.safetensors")
        return accuracy_change(
            ModelSpec(str(reference), ce=ce), {precision: ModelSpec(str(out), backend=backend)}, sequences=sequences, frames=frames,
        )


def _export_weights(loaded: LoadedCheckpoint, fmt: str, out: str) -> dict:
    """The family's release layout (OSTrack's .pth.tar, ...) or native safetensors (plan and provenance carried over)."""
    from compresstracker.checkpoints import release_layout, save_native, save_release
    from compresstracker.errors import ConfigError

    if fmt != "safetensors":
        layout = release_layout(loaded.config)
        if layout.name != fmt:
            raise ConfigError(f"{loaded.config.name} is written in the {layout.name} layout, not {fmt}; use --format {layout.name}")
        path = save_release(loaded.model, out)
    else:
        extras = {k: loaded.metadata[k] for k in ("plan", "provenance") if k in loaded.metadata}
        path = save_native(loaded.model, loaded.config, out, **extras)
    return {"path": str(path), "arch": loaded.config.name, "size_bytes": path.stat().st_size}


def _print_summary(info: dict) -> None:
    size = f"{info['size_bytes'] / 2**20:.1f} MiB"
    if info["format"] not in GRAPH_FORMATS:
        console.print(f"wrote {info['path']} ({info['format']}, {info['arch']}, {size})")
        return
    precision = info["precision"]
    kind = f"ONNX opset {info['opset']}" if info["format"] == "onnx" else "OpenVINO IR"
    runtime = "ONNX Runtime" if info["format"] == "onnx" else "OpenVINO"
    console.print(f"wrote {info['path']} ({kind}, {info['arch']}, CE {'on' if info['ce'] else 'off'}, {precision}, {size})")
    console.print(f"{runtime} vs PyTorch fp32 on random inputs: max abs diff {info['max_abs_diff']:.2e} (this {precision} file)")
    if "quantization" in info:
        q = info["quantization"]
        console.print(f"calibrated on {q['calibration']}: {', '.join(f'{n} crops for {g}' for g, n in q['samples'].items())}")
    if len(info["graphs"]) > 1 and precision == "fp32":  # e.g. LightTrack: a template graph once, a search graph per frame
        for name, graph in info["graphs"].items():
            diffs = ", ".join(f"{key.split('/')[-1]} {value:.2e}" for key, value in info["max_abs_diff_per_output"].items()
                              if key.startswith(f"{name}/"))
            console.print(f"  graph {name}: {graph['path']} (max abs diff {diffs})")
    if "accuracy" in info:
        acc = info["accuracy"]
        console.print(
            f"{precision} accuracy on {acc['dataset']}: AUC PyTorch fp32 {acc['auc_reference']:.2f} -> {precision} "
            f"{acc['auc'][precision]:.2f} ({acc['auc_change'][precision]:+.2f})"
        )
